"""The streaming and Spark engines give the same results as a local run, row for row."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from recon.cli import cli
from recon.generate import generate_day, write_day
from recon.generate_batch import batch_day, write_batch_day
from recon.partitioned import buckets_for, expand, parse_size

HAVE_SPARK = importlib.util.find_spec("pyspark") is not None and shutil.which("java") is not None
SPARK_REASON = "Spark engine needs pyspark (pip install 'recon[spark]') and Java 17 on PATH"


def _run(pos: str, bank: str, out: Path, *extra: str) -> dict:
    res = CliRunner().invoke(
        cli, ["run", "--pos", pos, "--bank", bank, "--out", str(out), "--json", *extra]
    )
    assert res.exit_code in (0, 1), res.output
    return json.loads(res.output[res.output.index("{") :])


def _same(a: Path, b: Path) -> None:
    """Same items (ids, order, every column), same matched pairs, same rejected rows."""
    for name in ("discrepancies.csv", "rejected.csv"):
        left = pl.read_csv(a / name, infer_schema=False)
        right = pl.read_csv(b / name, infer_schema=False)
        assert left.equals(right), name
    keys = ["pos_id", "bank_id", "rule", "pos_amount", "bank_amount", "lag_seconds"]
    ma = pl.read_parquet(a / "matches.parquet").select(keys).sort(keys, nulls_last=True)
    mb = pl.read_parquet(b / "matches.parquet").select(keys).sort(keys, nulls_last=True)
    assert ma.equals(mb)


@pytest.fixture(scope="module")
def day(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("day")
    write_day(generate_day(6_000, 21), folder, "parquet")
    return folder


def test_streaming_engine_equals_the_local_run(day, tmp_path):
    pos, bank = str(day / "pos.parquet"), str(day / "bank.parquet")
    local = _run(pos, bank, tmp_path / "local")
    streamed = _run(pos, bank, tmp_path / "stream", "--engine", "streaming", "--partitions", "5")
    _same(tmp_path / "local", tmp_path / "stream")
    assert local["discrepancies"] == streamed["discrepancies"]
    assert local["matched"] == streamed["matched"]
    assert streamed["timings"]["buckets"] == 5

    # Findings name items by id: the buckets' ids are renamed to the day's.
    def by_terminal(summary: dict) -> dict:
        found = summary["findings"]
        return {
            f["terminal"]: sorted(f["items"]) for f in found if f["kind"] == "terminal_currency"
        }

    assert by_terminal(local) and by_terminal(local) == by_terminal(streamed)


def test_streaming_reads_folders_and_globs_of_csv(tmp_path):
    day = generate_day(3_000, 4)
    write_day(day, tmp_path / "one", "csv")
    pos = pl.read_csv(tmp_path / "one" / "pos.csv", infer_schema=False)
    (tmp_path / "parts").mkdir()
    for i, chunk in enumerate(pos.iter_slices(1_000)):
        chunk.write_csv(tmp_path / "parts" / f"pos-{i}.csv")
    bank = str(tmp_path / "one" / "bank.csv")
    _run(str(tmp_path / "one" / "pos.csv"), bank, tmp_path / "local")
    glob_run = _run(
        str(tmp_path / "parts" / "pos-*.csv"), bank, tmp_path / "glob", "--engine", "streaming"
    )
    _run(str(tmp_path / "parts"), bank, tmp_path / "dir", "--engine", "streaming")
    a = pl.read_csv(tmp_path / "local" / "discrepancies.csv", infer_schema=False)
    for name in ("glob", "dir"):
        b = pl.read_csv(tmp_path / name / "discrepancies.csv", infer_schema=False)
        # three files: the same records and items (ids that fall back to file:line differ)
        assert (
            a.select("type", "pos_amount", "bank_ids")
            .sort(pl.all())
            .equals(b.select("type", "pos_amount", "bank_ids").sort(pl.all()))
        )
    assert glob_run["inputs"]["pos"]["rows"] == pos.height


def test_streaming_batch_settlement_day_equals_local(tmp_path):
    pos, bank, truth = batch_day(3_000, 7)
    paths = write_batch_day(pos, bank, truth, tmp_path / "in", "parquet")
    args = (str(paths["pos"]), str(paths["bank"]))
    cfg = ("--config", str(paths["config"]))
    _run(*args, tmp_path / "local", *cfg)
    _run(*args, tmp_path / "stream", *cfg, "--engine", "streaming", "--partitions", "3")
    _same(tmp_path / "local", tmp_path / "stream")
    deposits = [
        pl.read_csv(tmp_path / d / "deposits.csv", infer_schema=False).drop("group_id")
        for d in ("local", "stream")
    ]
    assert deposits[0].sort(pl.all()).equals(deposits[1].sort(pl.all()))


def test_memory_limit_sets_the_bucket_count_and_bad_values_are_one_line(day, tmp_path):
    assert parse_size("8G") == 8 << 30 and parse_size("512m") == 512 << 20
    assert buckets_for(50_000_000, 8 << 30) == 6
    assert buckets_for(1_000, 8 << 30) == 1
    # A --state run's bucket holds more (keys, the items' state): 10M rows at 4G peaked at
    # 4.30 GiB in 3 buckets, 3.73 GiB in the 4 it gets now; a limit under its base still plans.
    assert (buckets_for(10_000_000, 4 << 30), buckets_for(10_000_000, 4 << 30, state=True)) == (
        3,
        4,
    )
    assert buckets_for(1_000_000, 512 << 20, state=True) == 8
    pos, bank = str(day / "pos.parquet"), str(day / "bank.parquet")
    res = CliRunner().invoke(
        cli,
        ["run", "--pos", pos, "--bank", bank, "--engine", "streaming", "--memory-limit", "lots"],
    )
    assert res.exit_code == 2 and "--memory-limit" in res.output
    res = CliRunner().invoke(
        cli, ["run", "--pos", pos, "--bank", bank, "--engine", "spark", "--state", "x.db"]
    )
    assert res.exit_code == 2 and "--engine local or streaming" in res.output
    with pytest.raises(Exception, match="no input files"):
        expand(str(tmp_path / "nothing-*.csv"))


def test_a_state_run_plans_its_buckets_for_the_states_work(day, tmp_path):
    """With --state the streaming engine plans more buckets under the same --memory-limit, and
    the outputs are the same as with the plain run's bucket count."""
    pos, bank = str(day / "pos.parquet"), str(day / "bank.parquet")
    limit = ["--engine", "streaming", "--memory-limit", "4M"]
    counts = {}
    for name, extra in (("plain", []), ("state", ["--state", str(tmp_path / "s.db")])):
        out = tmp_path / name
        args = ["run", "--pos", pos, "--bank", bank, "--out", str(out), "--quiet", *limit, *extra]
        res = CliRunner().invoke(cli, args)
        assert res.exit_code in (0, 1), res.output
        counts[name] = json.loads((out / "summary.json").read_text())["timings"]["buckets"]
    rows = max(pl.scan_parquet(p).select(pl.len()).collect().item() for p in (pos, bank))
    assert counts == {
        "plain": buckets_for(rows, 4 << 20),
        "state": buckets_for(rows, 4 << 20, True),
    }
    assert counts["state"] > counts["plain"]
    same = [
        pl.read_csv(tmp_path / n / "discrepancies.csv", infer_schema=False).select(
            "item_id", "type", "pos_ids", "bank_ids", "difference"
        )
        for n in counts
    ]
    assert same[0].equals(same[1])


@pytest.fixture(scope="module")
def look_alike(tmp_path_factory) -> dict[str, Path]:
    from test_match import two_shops

    return two_shops(tmp_path_factory.mktemp("look_alike"))


def test_a_look_alike_day_is_the_same_in_every_engine_and_any_bucket_count(look_alike, tmp_path):
    """Two look-alike shops (a short price list, a few regular cards: many rows tie), one paid
    within minutes and one hours later: what the matcher learns of the day (the bank's usual
    lag among look-alike rows) and how it breaks ties do not depend on which merchants share
    a bucket, nor on the order the engine hands a bucket's rows over in."""
    pos, bank = str(look_alike["pos"]), str(look_alike["bank"])
    _run(pos, bank, tmp_path / "local")
    for n in (2, 3, 5):
        _run(pos, bank, tmp_path / f"stream{n}", "--engine", "streaming", "--partitions", str(n))
        _same(tmp_path / "local", tmp_path / f"stream{n}")
    if HAVE_SPARK:
        args = ("--engine", "spark", "--partitions", "3", "--spark-master", "local[2]")
        _run(pos, bank, tmp_path / "spark", *args)
        _same(tmp_path / "local", tmp_path / "spark")


def test_a_day_with_records_that_name_no_merchant_is_one_bucket(look_alike, tmp_path):
    """A record without a merchant could pair with any merchant's: such a day is reconciled in
    one bucket, the same as a local run (in merchant buckets such records met only the rows of
    their own shard)."""
    bank = pl.read_parquet(look_alike["bank"])
    bank.drop("merchant").write_parquet(tmp_path / "no_merchant.parquet")
    pos = pl.read_parquet(look_alike["pos"])
    pos.with_columns(
        merchant=pl.when(pl.int_range(pl.len()) % 40 != 0).then(pl.col("merchant"))
    ).write_parquet(tmp_path / "some_without.parquet")
    for name, (p, b) in {
        "bank": (look_alike["pos"], tmp_path / "no_merchant.parquet"),
        "pos": (tmp_path / "some_without.parquet", look_alike["bank"]),
    }.items():
        _run(str(p), str(b), tmp_path / f"local-{name}")
        out = _run(str(p), str(b), tmp_path / f"stream-{name}", "--engine", "streaming")
        _same(tmp_path / f"local-{name}", tmp_path / f"stream-{name}")
        assert out["timings"]["buckets"] == 1


def test_a_bucket_is_matched_the_same_in_any_row_order(tmp_path):
    """Spark hands a bucket's rows over in no set order (it reads files largest first, and a
    shuffle fixes none); the core puts them back in file order, so the matcher breaks ties
    (here a batch-settled look-alike day: many rows alike, settled in the same seconds) as
    a local run does."""
    from dataclasses import replace

    from recon.config import Settings
    from recon.core import reconcile_frames
    from recon.generate import DAY_KINDS
    from recon.load import load_side

    kind = replace(DAY_KINDS["lookalike"], settle="batch")
    paths = write_day(generate_day(3_000, 1, kind=kind), tmp_path, "parquet")
    pos, bank = (load_side(paths[side], side).frame for side in ("pos", "bank"))
    settings = Settings()
    ordered = reconcile_frames(pos, bank, settings)
    shuffled = reconcile_frames(
        pos.sample(fraction=1.0, shuffle=True, seed=1),
        bank.sample(fraction=1.0, shuffle=True, seed=2),
        settings,
    )
    assert shuffled.discrepancies.equals(ordered.discrepancies)
    assert shuffled.matches.equals(ordered.matches)


@pytest.mark.skipif(not HAVE_SPARK, reason=SPARK_REASON)
def test_spark_engine_equals_the_local_run(day, tmp_path):
    pos, bank = str(day / "pos.parquet"), str(day / "bank.parquet")
    _run(pos, bank, tmp_path / "local")
    spark = _run(
        pos,
        bank,
        tmp_path / "spark",
        "--engine",
        "spark",
        "--partitions",
        "4",
        "--spark-master",
        "local[2]",
    )
    _same(tmp_path / "local", tmp_path / "spark")
    assert spark["timings"]["buckets"] == 4


@pytest.mark.skipif(not HAVE_SPARK, reason=SPARK_REASON)
def test_spark_engine_from_the_installed_entry_point_uses_its_own_python(day, tmp_path):
    """`recon run --engine spark` started by its entry point, no variable set and no venv on
    PATH (a cron job): Spark would start its workers with the `python3` on PATH, which has no
    polars; in local mode they run this interpreter, and the result is the local run's."""
    exe = Path(sys.executable).parent / "recon"
    if not exe.exists():
        pytest.skip(f"no installed entry point next to {sys.executable}")
    pos, bank = str(day / "pos.parquet"), str(day / "bank.parquet")
    _run(pos, bank, tmp_path / "local")
    java = Path(shutil.which("java") or "java").resolve().parent
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYSPARK", "SPARK_"))}
    env["PATH"] = os.pathsep.join([str(java), "/usr/bin", "/bin"])
    args = ["run", "--pos", pos, "--bank", bank, "--out", str(tmp_path / "spark")]
    args += ["--engine", "spark", "--partitions", "2", "--quiet"]
    done = subprocess.run([str(exe), *args], env=env, capture_output=True, text=True)
    assert done.returncode in (0, 1), done.stderr[-3000:]
    _same(tmp_path / "local", tmp_path / "spark")


def test_spark_engine_without_pyspark_is_a_clear_error(day, tmp_path, monkeypatch):
    import builtins

    real = builtins.__import__

    def no_pyspark(name, *args, **kwargs):
        if name.startswith("pyspark"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyspark)
    res = CliRunner().invoke(
        cli,
        [
            "run",
            "--pos",
            str(day / "pos.parquet"),
            "--bank",
            str(day / "bank.parquet"),
            "--out",
            str(tmp_path),
            "--engine",
            "spark",
        ],
    )
    assert res.exit_code == 2
    assert "pip install 'recon[spark]'" in res.output


def test_the_work_folder_is_emptied_after_a_run(day, tmp_path):
    work = tmp_path / "work"
    _run(
        str(day / "pos.parquet"),
        str(day / "bank.parquet"),
        tmp_path / "out",
        "--engine",
        "streaming",
        "--work-dir",
        str(work),
    )
    assert work.is_dir() and not any(work.iterdir())
    assert (tmp_path / "out" / "matches.parquet").is_file()


def test_shards_are_packed_into_buckets_of_about_equal_size(tmp_path):
    from recon.partitioned import SideParts, plan_buckets
    from recon.result import SideInfo

    info = SideInfo("pos", "x", "", 0, 0, 0, "", "")
    sides = []
    for side, sizes in (("pos", [900, 500, 400, 300, 300, 100]), ("bank", [0, 0, 0, 0, 0, 0])):
        root = tmp_path / side / "f00000"
        for shard, n in enumerate(sizes):
            if n:
                (root / f"shard={shard}").mkdir(parents=True)
                pl.DataFrame({"x": range(n)}).write_parquet(root / f"shard={shard}" / "0.parquet")
        sides.append(SideParts(side, info, pl.DataFrame(), [root]))
    plan = plan_buckets(sides[0], sides[1], 2)
    sizes = {0: 900, 1: 500, 2: 400, 3: 300, 4: 300, 5: 100}
    loads = sorted(sum(sizes[s] for s in shards) for shards in plan)
    assert loads == [1200, 1300]
    assert sorted(s for shards in plan for s in shards) == list(range(6))
    assert plan_buckets(sides[0], sides[1], 10) == [[0], [1], [2], [3], [4], [5]]


def test_streamed_items_stay_on_disk_and_the_reports_say_the_same(day, tmp_path, monkeypatch):
    """The streaming engine keeps a day's items on disk: each bucket's items are written as
    the bucket finishes and rewritten in the day's order slice by slice; in memory stay the
    columns the counts read and the items the reports list. Small caps and slices here, so
    several slices and every cap are crossed: the files equal a local run's, and every report
    equals the one written from every item in memory."""
    from dataclasses import replace

    from rich.console import Console

    from recon import partitioned
    from recon.config import Settings
    from recon.report import html, xlsx
    from recon.report.files import write_outputs
    from recon.report.summary_md import render_summary_md
    from recon.report.terminal import render_summary

    monkeypatch.setattr(partitioned, "ITEMS_PER_SLICE", 37)
    monkeypatch.setattr(html, "MAX_ROWS", 25)
    monkeypatch.setattr(xlsx, "MAX_ROWS", 4)
    pos, bank = str(day / "pos.parquet"), str(day / "bank.parquet")
    _run(pos, bank, tmp_path / "local")
    result, matches, work = partitioned.reconcile_partitioned(
        Settings(pos=pos, bank=bank), buckets=4, work_dir=tmp_path / "work"
    )
    try:
        assert result.all_items is not None and result.shown is not None
        items = result.all_items.collect()
        assert result.discrepancies.columns == list(partitioned.COUNTED)
        assert result.discrepancies.height == items.height > 200
        assert 25 <= result.shown.height < items.height
        write_outputs(result, tmp_path / "stream", matches=matches)
        # the reports as written from every item in memory
        full = replace(result, discrepancies=items, shown=None, all_items=None)
        write_outputs(full, tmp_path / "full", matches=matches)
        terminal = []
        for r in (result, full):
            console = Console(record=True, width=120, force_terminal=False)
            render_summary(r, console, None, top=8)
            terminal.append(console.export_text())
    finally:
        partitioned.cleanup(work)
    assert terminal[0] == terminal[1]
    assert render_summary_md(result, None) == render_summary_md(full, None)
    for name in ("discrepancies.csv", "discrepancies.parquet", "report.html", "report.xlsx"):
        assert (tmp_path / "stream" / name).read_bytes() == (tmp_path / "full" / name).read_bytes()
    local = (tmp_path / "local" / "discrepancies.csv").read_bytes()
    assert (tmp_path / "stream" / "discrepancies.csv").read_bytes() == local


def test_a_day_without_matches_writes_the_local_columns_of_matches_on_every_engine(tmp_path):
    """A shut shop's day (nothing on either side): matches.parquet has the columns of a local
    run's, no rows."""
    pos, bank = tmp_path / "pos.csv", tmp_path / "bank.csv"
    for f in (pos, bank):
        f.write_text("id,time,amount,currency\n")
    for name, engine in (("local", []), ("stream", ["--engine", "streaming"])):
        _run(str(pos), str(bank), tmp_path / name, *engine)
    local, streamed = (
        pl.read_parquet(tmp_path / n / "matches.parquet") for n in ("local", "stream")
    )
    assert streamed.height == 0 and streamed.schema == local.schema
    assert "pos_time" in local.columns
