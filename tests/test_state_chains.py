"""A run keeps its items and open records as their change since the run it built on (state
schema 7), a whole copy every CHAIN_RUNS runs: read back, every run's items and records are
what a store that keeps them whole gives, through a closed day, a re-fed day, a resolution by
hand and chains cut and restarted."""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta
from pathlib import Path

import polars as pl
from click.testing import CliRunner

from recon import store as store_module
from recon.carry import item_refs
from recon.cli import cli
from recon.generate import generate_day, write_day
from recon.store import CHAIN_RUNS, Store

DAYS = CHAIN_RUNS + 5  # two chains at least
CLOSED = 6  # the shop shut: no sales, the bank books a few late payments
RESOLVE_AFTER = 3
REFEED = 9


def _files(folder: Path) -> list[tuple[Path, Path]]:
    """DAYS days of one shop's files, each day's ids its own (its faults never resolved, so
    the backlog grows as at a real shop nobody tends)."""
    days = []
    for d in range(DAYS):
        out = folder / f"day{d}"
        paths = write_day(
            generate_day(300, 11 + d, day=date(2026, 11, 2) + timedelta(d)), out, "csv"
        )
        for side in ("pos", "bank"):
            frame = pl.read_csv(paths[side], infer_schema=False)
            frame = frame.with_columns(id=pl.lit(f"D{d}-") + pl.col("id"))
            if d == CLOSED:
                frame = frame.head(0) if side == "pos" else frame.head(5)
            frame.write_csv(paths[side])
        days.append((paths["pos"], paths["bank"]))
    return days


def _month_into(state: Path, days: list[tuple[Path, Path]], tmp: Path) -> None:
    """The days into `state` (day REFEED fed twice), and one open item resolved by hand after
    day RESOLVE_AFTER."""
    runner = CliRunner()
    for d, (pos, bank) in enumerate(days):
        args = ["run", "--pos", str(pos), "--bank", str(bank), "--state", str(state), "--quiet"]
        for again in range(2 if d == REFEED else 1):
            res = runner.invoke(cli, [*args, "--out", str(tmp / f"out-{d}-{again}")])
            assert res.exit_code in (0, 1), res.output
        if d == RESOLVE_AFTER:
            store = Store(state)
            keys = store.open_items(store.latest(), texts=False).sort("item_key")["item_key"]
            ref = keys.head(1).to_frame().select(item_refs(pl.col("item_key"))).item()
            res = runner.invoke(cli, ["resolve", ref, "--note", "refunded", "--state", str(state)])
            assert res.exit_code == 0, res.output


def test_chained_runs_read_back_as_whole_ones(tmp_path, monkeypatch):
    days = _files(tmp_path / "files")
    chained = tmp_path / "chained.db"
    _month_into(chained, days, tmp_path / "a")
    monkeypatch.setattr(store_module, "CHAIN_RUNS", 1)  # every run keeps its rows whole
    whole = tmp_path / "whole.db"
    _month_into(whole, days, tmp_path / "b")
    monkeypatch.undo()
    # Every run's items and records read back the same, and the rows each run read.
    a, b = Store(chained), Store(whole)
    assert a.kept_items().equals(b.kept_items())
    assert a.kept_records().equals(b.kept_records())
    assert a.kept_items().height > 0 and a.kept_records().height > 0
    latest = a.latest()
    assert latest == b.latest()
    assert a.open_items(latest).equals(b.open_items(latest))
    for side in ("pos", "bank"):
        assert a.open_records(latest, side).equals(b.open_records(latest, side))
    # A resolution read back from the chain: the resolved item is no longer open.
    assert a.resolved_keys() == b.resolved_keys() and len(a.resolved_keys()) == 1
    assert not a.open_items(latest)["item_key"].is_in(list(a.resolved_keys())).any()
    # What a fresh process reads (nothing rebuilt before) is the same as well.
    assert Store(chained).kept_items().equals(b.kept_items())
    assert chained.stat().st_size < whole.stat().st_size

    # Runs that kept only their change, and chains cut by a whole copy.
    for table in ("item_runs", "records"):
        bases = [b for (b,) in sqlite3.connect(chained).execute(f"SELECT base FROM {table}")]
        assert sum(b is not None for b in bases) >= DAYS // 2, table
        assert sum(b is None for b in bases) >= 2, table
        kept_whole = sqlite3.connect(whole).execute(f"SELECT count(base) FROM {table}")
        assert kept_whole.fetchone()[0] == 0
