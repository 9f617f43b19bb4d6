"""`recon run --state` on the streaming engine: night after night, the same outputs and the same
state as the local engine's, with the day's records in several buckets."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner

from recon.cli import cli
from recon.store import ITEM_COLUMNS, Store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import nightly

NIGHTS = 10  # day 6 the shop is shut; items age past medium (3 days) and high (7 days)
ENGINES = {"local": [], "streaming": ["--engine", "streaming", "--partitions", "3"]}
RECORDS = ("day", "side", "rec_key", "first_day", "id")
# (every item column, texts included, but run_id)
ITEMS = ("day", *ITEM_COLUMNS)
STORE_ROWS = (
    "SELECT r.day, c.side, c.rec_keys FROM consumed c JOIN runs r ON r.run_id = c.run_id "
    "ORDER BY 1, 2",
)


def _two_shops(rows: int) -> nightly.Month:
    """The nightly benchmark's look-alike shop paid in the night's batch (merchant M001) and
    another paid minutes after each sale (M002) in the same files."""
    batch = nightly.month(rows, 7, 30, "batch")
    instant = nightly.month(rows, 8, 30, "instant")

    def both(a: pl.DataFrame, b: pl.DataFrame) -> pl.DataFrame:
        b = b.with_columns(id=pl.lit("S2-") + pl.col("id"), merchant=pl.lit("M002"))
        return pl.concat([a, b]).sort("time", "id")

    return nightly.Month(
        batch.days,
        [both(a, b) for a, b in zip(batch.pos, instant.pos, strict=True)],
        [both(a, b) for a, b in zip(batch.bank, instant.bank, strict=True)],
        batch.truth,
        batch.faults,
    )


def _run(pos: Path, bank: Path, out: Path, state: Path, engine: list[str]) -> dict:
    args = ["run", "--pos", str(pos), "--bank", str(bank), "--out", str(out)]
    res = CliRunner().invoke(cli, [*args, "--state", str(state), "--json", *engine])
    assert res.exit_code in (0, 1), res.output
    return json.loads(res.output)


def _store(state: Path) -> list[list[tuple]]:
    """Every run's rows of the state; consumed keys as a sorted list (the streaming engine
    packs them bucket after bucket)."""
    with sqlite3.connect(state) as db:
        rows = [db.execute(q).fetchall() for q in STORE_ROWS]
    rows[-1] = [(*r[:-1], sorted(np.frombuffer(r[-1], dtype="<i8").tolist())) for r in rows[-1]]
    store = Store(state)
    records = store.kept_records().select(RECORDS).sort(RECORDS[:3])
    items = store.kept_items().select(ITEMS).sort("day", "item_key")
    return [records.rows(), items.rows(), *rows]


@pytest.fixture(scope="module")
def nights(tmp_path_factory) -> Path:
    """Both engines' outputs and state files, night after night."""
    root = tmp_path_factory.mktemp("nights")
    m = _two_shops(300)
    for d in range(NIGHTS):
        pos = nightly.write(m.pos[d], root / f"pos-{d}.csv")
        bank = nightly.write(m.bank[d], root / f"bank-{d}.csv")
        for name, engine in ENGINES.items():
            _run(pos, bank, root / name / str(d), root / f"{name}.db", engine)
    return root


def test_streaming_state_runs_give_the_local_outputs_night_after_night(nights):
    statuses: set[str] = set()
    for d in range(NIGHTS):
        local, streamed = (nights / name / str(d) for name in ENGINES)
        text = (local / "discrepancies.csv").read_text()
        assert (streamed / "discrepancies.csv").read_text() == text, f"night {d}"
        # (matches come bucket after bucket: the same rows, in another order)
        a, b = (
            pl.read_parquet(o / "matches.parquet").drop("group_id").sort(pl.all(), nulls_last=True)
            for o in (local, streamed)
        )
        assert a.equals(b), f"night {d}"
        states = [json.loads((o / "summary.json").read_text())["state"] for o in (local, streamed)]
        for s in states:
            s.pop("store")
        assert states[0] == states[1], f"night {d}"
        statuses |= set(pl.read_csv(local / "discrepancies.csv")["status"].to_list())
    # the nights exercised what the state does: items carried, escalated with age, closed
    assert {"new", "carried", "escalated"} <= statuses
    assert states[0]["carried_in"]["pos"] > 0 and states[0]["closed"] > 0


def test_streaming_state_runs_leave_the_local_state(nights):
    local, streamed = (_store(nights / f"{name}.db") for name in ENGINES)
    for query, a, b in zip(("records", "items", *STORE_ROWS), local, streamed, strict=True):
        assert a, query
        assert a == b, query


def test_a_night_fed_again_to_the_installed_recon_on_the_streaming_engine_changes_nothing(
    nights, tmp_path
):
    state = tmp_path / "state.db"
    shutil.copy(nights / "streaming.db", state)
    last = NIGHTS - 1
    pos, bank = nights / f"pos-{last}.csv", nights / f"bank-{last}.csv"
    out = tmp_path / "again"
    cmd = ["recon", "run", "--pos", str(pos), "--bank", str(bank), "--out", str(out)]
    proc = subprocess.run(
        [*cmd, "--state", str(state), "--quiet", *ENGINES["streaming"]],
        capture_output=True,
        text=True,
    )
    assert proc.returncode in (0, 1), proc.stderr
    first = nights / "streaming" / str(last)
    assert (out / "discrepancies.csv").read_text() == (first / "discrepancies.csv").read_text()
    summary = json.loads((out / "summary.json").read_text())["state"]
    assert summary["day"] == str(nightly.START.replace(day=nightly.START.day + last))
    # the re-run replaced the night's run: the live history is as before
    live = "SELECT day FROM runs WHERE superseded_by IS NULL ORDER BY day"
    with sqlite3.connect(state) as db, sqlite3.connect(nights / "streaming.db") as old:
        assert db.execute(live).fetchall() == old.execute(live).fetchall()


def test_spark_runs_refuse_the_state(tmp_path):
    pos = tmp_path / "pos.csv"
    pos.write_text("id,time,amount,currency\nP1,2026-11-01T10:00:00,1.00,CNY\n")
    res = CliRunner().invoke(
        cli,
        ["run", "--pos", str(pos), "--bank", str(pos), "--engine", "spark", "--state", "x.db"],
    )
    assert res.exit_code == 2 and "--engine local or streaming" in res.output


def test_an_empty_day_and_a_closed_day_on_the_streaming_engine_are_the_local_ones(tmp_path):
    """A first day with nothing in either file (no bucket at all), a day with one unpaid
    sale, then a closed day that carries it: the same items and state in both engines."""
    header = "id,time,amount,currency,account\n"
    days = {
        "empty": header,
        "sale": header + "P1,2026-11-02T10:00:00,5.00,CNY,6222021234567890\n",
        "closed": header,
    }
    for name, text in days.items():
        (tmp_path / f"pos-{name}.csv").write_text(text)
    bank = tmp_path / "bank.csv"
    bank.write_text(header)
    seen = {}
    for engine, extra in ENGINES.items():
        runs = []
        for name in days:
            day = ["--day", "2026-11-01"] if name == "empty" else []
            out = tmp_path / engine / name
            state = tmp_path / f"{engine}.db"
            summary = _run(tmp_path / f"pos-{name}.csv", bank, out, state, [*extra, *day])
            items = (out / "discrepancies.csv").read_text()
            runs.append((summary["state"]["day"], summary["state"]["open_total"], items))
        seen[engine] = runs
    assert seen["local"] == seen["streaming"]
    assert [(d, n) for d, n, _ in seen["local"]] == [
        ("2026-11-01", 0),
        ("2026-11-02", 1),
        ("2026-11-03", 1),
    ]
