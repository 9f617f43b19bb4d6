"""Batch settlements: per-type precision and recall, and the time of a large sale day.

    python benchmarks/batch.py --rows 20000 --seeds 3 7 11 --time-rows 1000000

For each seed and each keying (merchant + business day; batch numbers) a day is generated with
`recon.generate_batch` (missing sales, unknown extra money, fee over-charges, split deposits,
sales paid in the neighbouring batch, a holiday, pending sales), reconciled by the installed
`recon run` with the day's settlement.toml, and scored against truth.csv. Then one day of
--time-rows sales is timed (wall seconds, peak RSS of the child) on Parquet inputs.

    python benchmarks/batch.py --month --rows 20000 --seeds 3 7 11

With --month, each seed gives a month of 20 merchants with their own fee rates, refunds,
weekends and holidays (`recon.generate_batch.batch_month`), once with one deposit per merchant
and business day and once pooled (one per merchant and pay date). Each is reconciled by the
installed `recon run` with the calendar-only settlement.toml (`calendar`) and with no config
(`none`), and scored: per type precision, recall and F1; deposits grouped right (truth deposits
whose sales are exactly the sales of the group recon formed with that deposit's ids); lost ids
(in no match, no item and not rejected). A failed run is reported and scored as finding nothing.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import f1_score, id_set, lost_records
from bench import recon_command, run_measured

from recon.generate_batch import batch_day, batch_month, month_settings, write_batch_day

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


def _read_csv(path: Path) -> pl.DataFrame | None:
    return pl.read_csv(path, infer_schema=False).fill_null("") if path.exists() else None


def month_score(truth: pl.DataFrame, paths: dict[str, Path], out: Path) -> dict:
    """Score one month run against truth; a run that wrote nothing finds nothing."""
    disc = _read_csv(out / "discrepancies.csv")
    found = _items(out) if disc is not None else set()
    expected = {(t, "" if b else p, b) for t, p, b in truth.fill_null("").iter_rows() if t in TYPES}
    per_type = {}
    for typ in TYPES:
        f = {x for x in found if x[0] == typ}
        e = {x for x in expected if x[0] == typ}
        per_type[typ] = (len(f & e), len(f), len(e))

    matches = (
        pl.read_parquet(out / "matches.parquet")
        if (out / "matches.parquet").exists()
        else pl.DataFrame(schema={"pos_id": pl.String, "bank_id": pl.String, "rule": pl.String})
    )
    # Deposits grouped right: the group recon formed with exactly the deposit's bank ids pays
    # exactly the deposit's sales (rules batch and batch_extra).
    deposits = _read_csv(out / "deposits.csv")
    group_of: dict[frozenset[str], str] = {}
    if deposits is not None:
        for gid, bids in deposits.select("group_id", "bank_ids").iter_rows():
            group_of[id_set(bids)] = gid
    paid: dict[str, set[str]] = {}
    if "group_id" in matches.columns:
        batch = matches.filter(pl.col("rule").is_in(["batch", "batch_extra"]))
        for gid, pid in batch.select("group_id", "pos_id").iter_rows():
            paid.setdefault(gid, set()).add(pid)
    truth_deposits = truth.filter(pl.col("type") == "deposit").fill_null("")
    right = sum(
        paid.get(group_of.get(id_set(b), ""), set()) == id_set(p)
        for p, b in truth_deposits.select("pos_ids", "bank_ids").iter_rows()
    )

    # Lost: input ids in no match, no item and no rejected row.
    ids = {
        s: pl.read_csv(paths[s], infer_schema=False, columns=["id"])["id"] for s in ("pos", "bank")
    }
    rejected = _read_csv(out / "rejected.csv")
    rejected_ids: dict[str, list[str]] = {}
    for side in ("pos", "bank"):
        if rejected is not None and rejected.height:
            lines = {int(x) for x in rejected.filter(pl.col("side") == side)["line"]}
            rejected_ids[side] = [i for n, i in enumerate(ids[side], start=2) if n in lines]
    if disc is None:
        disc = pl.DataFrame(schema={"pos_ids": pl.String, "bank_ids": pl.String})
    gone = lost_records(ids["pos"], ids["bank"], matches, disc, rejected_ids)
    lost = {side: (len(gone[side]), ids[side].len()) for side in ("pos", "bank")}
    return {
        "per_type": per_type,
        "grouped": (right, truth_deposits.height),
        "lost": lost,
    }


def month(rows: int, seeds: list[int], ways: list[str], work: Path) -> None:
    """Score the month generator's days on the installed recon and print one table each."""
    scenarios: dict[tuple[bool, str], list[dict]] = {}
    cfg = month_settings()
    for pooled in (False, True):
        for seed in seeds:
            pos, bank, truth = batch_month(rows, seed, cfg=cfg, pooled=pooled)
            paths = write_batch_day(
                pos, bank, truth, work / f"month-{pooled}-{seed}" / "in", cfg=cfg
            )
            for way in ways:
                out = work / f"month-{pooled}-{seed}" / way
                cmd = [*recon_command(), "run", "--pos", str(paths["pos"])]
                cmd += ["--bank", str(paths["bank"]), "--out", str(out), "--quiet"]
                if way == "calendar":
                    cmd += ["--config", str(paths["config"])]
                run = run_measured(cmd)
                res = month_score(truth, paths, out)
                res |= {"seed": seed, "rc": run["rc"], "seconds": run["seconds"]}
                if run["rc"] not in (0, 1):
                    tail = run["stderr"].strip().splitlines()
                    res["error"] = tail[-1] if tail else f"exit code {run['rc']}"
                scenarios.setdefault((pooled, way), []).append(res)
                shutil.rmtree(out, ignore_errors=True)

    def pct(a: int, b: int) -> str:
        return f"{a / b:.3f}" if b else "-"

    print(f"\nA month of {rows:,} sales (20 merchants, own rates, refunds), seeds {seeds}")
    overview = []
    for (pooled, way), runs in scenarios.items():
        name = f"{'pooled' if pooled else 'per business day'}, config: {way}"
        print(f"\n### {name}\n")
        print("| type | expected | found | right | precision | recall | F1 |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        f1s = []
        for typ in TYPES:
            hit = sum(r["per_type"][typ][0] for r in runs)
            found = sum(r["per_type"][typ][1] for r in runs)
            expected = sum(r["per_type"][typ][2] for r in runs)
            p = hit / found if found else (1.0 if not expected else 0.0)
            rc = hit / expected if expected else 1.0
            f1 = f1_score(expected, found, hit)
            f1 = 1.0 if f1 is None else f1  # nothing expected, nothing found
            f1s.append(f1)
            print(f"| {typ} | {expected} | {found} | {hit} | {p:.3f} | {rc:.3f} | {f1:.3f} |")
        g_right = sum(r["grouped"][0] for r in runs)
        g_all = sum(r["grouped"][1] for r in runs)
        lp = sum(r["lost"]["pos"][0] for r in runs)
        np_ = sum(r["lost"]["pos"][1] for r in runs)
        lb = sum(r["lost"]["bank"][0] for r in runs)
        nb = sum(r["lost"]["bank"][1] for r in runs)
        secs = sum(r["seconds"] for r in runs) / len(runs)
        print(f"\ndeposits grouped right: {g_right} of {g_all} ({pct(g_right, g_all)})  ")
        print(f"lost: {lp} of {np_} POS ids, {lb} of {nb} bank ids  ")
        print(f"recon run: {secs:.1f} s on average")
        for r in runs:
            if "error" in r:
                print(f"\n**seed {r['seed']}: recon failed (exit {r['rc']}): {r['error']}**")
        overview.append((name, f1s, pct(g_right, g_all), lp, lb, sum("error" in r for r in runs)))
    print("\n### Overview (F1 per type)\n")
    print(
        "| scenario | "
        + " | ".join(TYPES)
        + " | grouped right | lost POS | lost bank | failed runs |"
    )
    print("| --- |" + " ---: |" * (len(TYPES) + 4))
    for name, f1s, grouped, lp, lb, failed in overview:
        cells = " | ".join(f"{f:.3f}" for f in f1s)
        print(f"| {name} | {cells} | {grouped} | {lp} | {lb} | {failed} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[3, 7, 11])
    parser.add_argument("--time-rows", type=int, default=1_000_000)
    parser.add_argument(
        "--month",
        action="store_true",
        help="score generated months (merchant rates, refunds, holidays) instead of days",
    )
    parser.add_argument(
        "--ways",
        nargs="+",
        choices=["calendar", "none"],
        default=["calendar", "none"],
        help="with --month: run with the calendar-only settlement.toml and/or without config",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="recon-batch-"))
    if args.month:
        try:
            month(args.rows, args.seeds, args.ways, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return
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
