"""Batch settlements: per-type precision and recall, and the time of a large sale day.

    python benchmarks/batch.py --rows 20000 --seeds 3 7 11 --time-rows 1000000

For each seed and each keying (merchant + business day; batch numbers) a day is generated with
`recon.generate_batch` (missing sales, unknown extra money, fee over-charges, split deposits,
sales paid in the neighbouring batch, a holiday, pending sales), reconciled by the installed
`recon run` with the day's settlement.toml, and scored against truth.csv. Then one day of
--time-rows sales is timed (wall seconds, peak RSS of the child) on Parquet inputs.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import recon_command, run_measured

from recon.generate_batch import batch_day, write_batch_day

TYPES = ("orphan_pos", "amount_mismatch", "fee_mismatch", "late_settlement")


def _items(out: Path) -> set[tuple[str, str, str]]:
    items = pl.read_csv(out / "discrepancies.csv", infer_schema=False).fill_null("")
    return {
        (typ, "" if bank_ids else pos_ids, bank_ids)
        for typ, pos_ids, bank_ids in items.select("type", "pos_ids", "bank_ids").iter_rows()
    }


def score(rows: int, seed: int, batches: bool, work: Path, fmt: str = "csv") -> dict:
    pos, bank, truth = batch_day(rows, seed, batches=batches)
    paths = write_batch_day(pos, bank, truth, work / "in", fmt)
    out = work / "out"
    cmd = [*recon_command(), "run", "--pos", str(paths["pos"]), "--bank", str(paths["bank"])]
    cmd += ["--config", str(paths["config"]), "--out", str(out), "--quiet"]
    run = run_measured(cmd)
    if run["rc"] not in (0, 1):
        raise SystemExit(f"recon failed: {run['stderr']}")
    found = _items(out)
    expected = {(t, p, b) for t, p, b in truth.fill_null("").iter_rows() if t in TYPES}
    per_type = {}
    for typ in TYPES:
        f = {x for x in found if x[0] == typ}
        e = {x for x in expected if x[0] == typ}
        hit = len(f & e)
        per_type[typ] = (hit, len(f), len(e))
    matches = pl.read_parquet(out / "matches.parquet")
    moved = truth.filter(pl.col("type") == "moved")
    extra = matches.filter(pl.col("rule") == "batch_extra")
    per_type["moved (batch_extra)"] = (
        len(set(extra["pos_id"]) & set(moved["pos_ids"])),
        extra.height,
        moved.height,
    )
    return {"per_type": per_type, "seconds": run["seconds"], "peak_mib": run["peak_mib"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[3, 7, 11])
    parser.add_argument("--time-rows", type=int, default=1_000_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="recon-batch-"))
    try:
        totals: dict[str, list[int]] = {}
        for batches in (False, True):
            for seed in args.seeds:
                res = score(args.rows, seed, batches, work / f"{batches}-{seed}")
                for typ, (hit, found, expected) in res["per_type"].items():
                    t = totals.setdefault(typ, [0, 0, 0])
                    t[0] += hit
                    t[1] += found
                    t[2] += expected
        print(f"\n{args.rows:,} sales a day, seeds {args.seeds}, both keyings\n")
        print(
            "| type | expected | found | precision | recall |\n| --- | ---: | ---: | ---: | ---: |"
        )
        for typ, (hit, found, expected) in totals.items():
            p = hit / found if found else 1.0
            r = hit / expected if expected else 1.0
            print(f"| {typ} | {expected} | {found} | {p:.3f} | {r:.3f} |")
        if args.time_rows:
            res = score(args.time_rows, 7, False, work / "timed", fmt="parquet")
            print(
                f"\n{args.time_rows:,} sales (merchant + day keying, Parquet): "
                f"{res['seconds']:.1f} s, peak {res['peak_mib']:.0f} MiB"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
