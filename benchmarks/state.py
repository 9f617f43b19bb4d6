"""The state store at volume: `recon run --state` against the same run without state, two days.

    python benchmarks/state.py [--rows 1000000] [--repeat 3] [--days 2] [--data state-data]
                               [--engine local|streaming] [--no-profile]

Day 1 (2026-11-20), day 2 (2026-11-21, its ids prefixed `D2-` so that they are other records)
and so on to --days are generated once under --data (reused when present). Each repetition runs
the days one after the other into a fresh state file, each in its own process, and each day
without state; the table gives the median seconds and the store's size after each day. The
generated days' faults are never resolved, so every day's orphans stay open: more days show
how a run's time and the store's growth follow the backlog. Then one run of the first two days
in this process, with timers around the state's steps, says where the state's time goes.
Each run's CPU seconds (user and system) are given beside its wall seconds: on a shared
machine they vary less.
"""

from __future__ import annotations

import argparse
import functools
import resource
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

FIRST_DAY = date(2026, 11, 20)


def day_spec(n: int) -> tuple[date, int, str]:
    """Day n (from 1): its date, its seed and the prefix that makes its ids its own."""
    return FIRST_DAY + timedelta(days=n - 1), 6 + n, "" if n == 1 else f"D{n}-"


def make_day(rows: int, n: int, folder: Path) -> Path:
    import polars as pl

    from recon.generate import generate_day, write_day

    day, seed, prefix = day_spec(n)
    out = folder / f"day{n}"
    if (out / "bank.parquet").exists():
        return out
    paths = write_day(generate_day(rows, seed, day=day), out, "parquet")
    for side in ("pos", "bank"):
        frame = pl.read_parquet(paths[side]).with_columns(id=pl.lit(prefix) + pl.col("id"))
        frame.write_parquet(paths[side])
    return out


ENGINE: list[str] = []  # --engine streaming: its options for every run


def args_for(day: Path, out: Path, state: Path | None) -> list[str]:
    args = ["run", "--pos", str(day / "pos.parquet"), "--bank", str(day / "bank.parquet")]
    args += ["--out", str(out), "--quiet", *ENGINE]
    return args + (["--state", str(state)] if state else [])


def timed_run(args: list[str]) -> tuple[float, float]:
    """The run's wall seconds and CPU seconds (user and system, all its threads): on a shared
    machine the CPU seconds vary less than the wall, so they show a small change better."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(["recon", *args], capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode not in (0, 1):
        raise SystemExit(proc.stderr)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def repetition(days: list[Path], work: Path) -> dict[str, float]:
    state = work / "state.db"
    for leftover in work.glob("state.db*"):
        leftover.unlink()
    got = {}
    for n, day in enumerate(days, 1):
        got[f"day{n} state s"], got[f"day{n} state cpu s"] = timed_run(
            args_for(day, work / f"out-s{n}", state)
        )
        got[f"day{n} store MB"] = state.stat().st_size / 1e6
        if n > 1:
            got[f"day{n} growth MB"] = got[f"day{n} store MB"] - got[f"day{n - 1} store MB"]
        got[f"day{n} plain s"], got[f"day{n} plain cpu s"] = timed_run(
            args_for(day, work / f"out-p{n}", None)
        )
    return got


def profile(days: list[Path], work: Path) -> dict[str, list[float]]:
    """Seconds spent in each step of the state, one in-process run per day."""
    from recon import carry, cli, store
    from recon.report import files

    spent: dict[str, list[float]] = defaultdict(lambda: [0.0] * len(days))
    day_index = [0]

    def timer(owner, name: str, label: str) -> None:
        inner = getattr(owner, name)

        @functools.wraps(inner)
        def wrapped(*a, **k):
            t = time.perf_counter()
            try:
                return inner(*a, **k)
            finally:
                spent[label][day_index[0]] += time.perf_counter() - t

        setattr(owner, name, wrapped)

    def reconcile(settings, on_stage=None, before_match=None):
        def timed_before(*a):
            t = time.perf_counter()
            try:
                return before_match(*a)
            finally:
                spent["before_match (all)"][day_index[0]] += time.perf_counter() - t

        return inner_reconcile(settings, on_stage, before_match=timed_before)

    inner_reconcile = carry.reconcile
    carry.reconcile = reconcile
    timer(carry, "reconcile", "reconcile (load+match+classify)")
    timer(carry, "record_keys", "  record_keys (text, number, hash)")
    timer(store.Store, "consumed_among", "  Store.consumed_among")
    timer(store.Store, "open_records", "  Store.open_records")
    timer(store.Store, "open_items", "  Store.open_items")
    timer(carry, "with_state", "with_state (all)")
    timer(carry, "_ids_to_keys", "  _ids_to_keys")
    timer(carry, "left_open", "left_open")
    timer(carry, "record_run", "record_run (all)")
    timer(files, "write_outputs", "  write_outputs (as without state)")
    timer(store.Store, "write_run", "  Store.write_run (all)")
    timer(store.Store, "_whole", "  Store._whole (a run's items or records)")
    timer(store.Store, "_write_chained", "    keep items or records (change or whole)")
    timer(store, "_insert_consumed", "    insert consumed")
    timer(store, "_insert_texts", "    insert item texts")
    state = work / "profile.db"
    for leftover in work.glob("profile.db*"):
        leftover.unlink()
    for n, day in enumerate(days):
        day_index[0] = n
        try:
            cli.cli.main(args_for(day, work / f"out-prof{n}", state), standalone_mode=False)
        except SystemExit as done:  # the run's exit code: 1 when it found something
            if done.code not in (0, 1):
                raise
    return spent


def report(reps: list[dict[str, float]], n_days: int) -> None:
    print(f"median of {len(reps)} (seconds of each run in brackets)")
    for key in reps[0]:
        values = [r[key] for r in reps]
        each = ", ".join(f"{v:.2f}" for v in values)
        print(f"{key:16} {statistics.median(values):8.2f}   ({each})")
    for n in range(1, n_days + 1):
        ratio = statistics.median(r[f"day{n} state s"] / r[f"day{n} plain s"] for r in reps)
        cpu = statistics.median(r[f"day{n} state cpu s"] / r[f"day{n} plain cpu s"] for r in reps)
        print(f"day{n} state/plain {ratio:.2f}x (CPU seconds {cpu:.2f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--days", type=int, default=2, help="days run one after the other")
    parser.add_argument("--data", type=Path, default=Path("state-data"))
    parser.add_argument("--no-profile", action="store_true", help="only the timed runs")
    parser.add_argument(
        "--engine", choices=("local", "streaming"), default="local", help="the engine of every run"
    )
    opts = parser.parse_args()
    if opts.engine != "local":
        ENGINE[:] = ["--engine", opts.engine]
    folder = opts.data / str(opts.rows)
    if opts.days < 2:
        parser.error("--days must be 2 or more")
    days = [make_day(opts.rows, n, folder) for n in range(1, opts.days + 1)]
    print(f"{opts.rows} POS rows a day")
    work = folder / "work"
    work.mkdir(exist_ok=True)
    reps = [repetition(days, work) for _ in range(opts.repeat)]
    if reps:
        report(reps, opts.days)
    if not opts.no_profile:
        print("\nstep                                   day 1    day 2")
        for label, seconds in profile(days[:2], work).items():
            print(f"{label:38} {seconds[0]:6.2f}   {seconds[1]:6.2f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
