"""Precision and recall of `recon run` on synthetic days with known injected faults.

    python benchmarks/accuracy.py --rows 100000 --seed 7 [--format csv|parquet] [--no-check]

For each mode (with references, without), generates a day with `recon.generate`, runs
`recon run --pos --bank --out DIR --quiet` in a subprocess, and scores `DIR/discrepancies.csv`
against `faults.csv` with `score()`. Exits 1 when a type falls below the threshold (0.99 with
references, 0.97 without), 2 when recon itself fails.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

# The side whose ids identify an item of each type (see the brief in benchmarks/README.md).
OWN_SIDE: dict[str, str] = {
    "amount_mismatch": "pos",
    "account_mismatch": "pos",
    "currency_mismatch": "pos",
    "late_settlement": "pos",
    "voided_but_settled": "pos",
    "orphan_pos": "pos",
    "duplicate_pos": "pos",
    "duplicate_bank": "bank",
    "orphan_bank": "bank",
}
DISCREPANCY_TYPES = tuple(OWN_SIDE)
NEGATIVE_CASES = ("voided", "repeat_purchase", "refund", "clean")
THRESHOLDS = {True: 0.99, False: 0.97}

SCORE_SCHEMA = {
    "type": pl.String,
    "injected": pl.Int64,
    "reported": pl.Int64,
    "tp": pl.Int64,
    "negative_hits": pl.Int64,
    "precision": pl.Float64,
    "recall": pl.Float64,
}


def _id_set(text: str | None) -> frozenset[str]:
    if text is None:
        return frozenset()
    return frozenset(part for part in (p.strip() for p in str(text).split(";")) if part)


def score(discrepancies: pl.DataFrame, faults: pl.DataFrame) -> pl.DataFrame:
    """Per-type precision and recall of reported items against injected faults.

    `discrepancies` needs `type, pos_ids, bank_ids`; `faults` needs `fault, pos_ids, bank_ids`
    (ids joined by ';', null or empty for none). A reported item is a true positive when an
    injected fault of its type has the same ids on the type's own side (OWN_SIDE); each fault
    is credited once, so a second report of it is a false positive. Items touching a record of a
    negative case are counted in `negative_hits` (they are false positives anyway). Precision is
    TP / reported (null when nothing was reported), recall TP / injected (null when nothing was
    injected). Rows: every discrepancy type, then any unknown type that was reported.
    """
    injected: dict[str, set[frozenset[str]]] = {t: set() for t in DISCREPANCY_TYPES}
    negative_ids: set[str] = set()
    for fault, pos_ids, bank_ids in faults.select("fault", "pos_ids", "bank_ids").iter_rows():
        if fault in OWN_SIDE:
            own = pos_ids if OWN_SIDE[fault] == "pos" else bank_ids
            injected[fault].add(_id_set(own))
        else:
            negative_ids |= _id_set(pos_ids) | _id_set(bank_ids)

    reported: dict[str, int] = {}
    hits: dict[str, set[frozenset[str]]] = {}
    negative_hits: dict[str, int] = {}
    for kind, pos_ids, bank_ids in discrepancies.select("type", "pos_ids", "bank_ids").iter_rows():
        reported[kind] = reported.get(kind, 0) + 1
        pos, bank = _id_set(pos_ids), _id_set(bank_ids)
        if (pos | bank) & negative_ids:
            negative_hits[kind] = negative_hits.get(kind, 0) + 1
        own = pos if OWN_SIDE.get(kind, "pos") == "pos" else bank
        if own in injected.get(kind, ()):
            hits.setdefault(kind, set()).add(own)

    rows = []
    extra = sorted(k for k in reported if k not in OWN_SIDE)
    for kind in (*DISCREPANCY_TYPES, *extra):
        n_inj = len(injected.get(kind, ()))
        n_rep = reported.get(kind, 0)
        tp = len(hits.get(kind, ()))
        rows.append(
            {
                "type": kind,
                "injected": n_inj,
                "reported": n_rep,
                "tp": tp,
                "negative_hits": negative_hits.get(kind, 0),
                "precision": tp / n_rep if n_rep else None,
                "recall": tp / n_inj if n_inj else None,
            }
        )
    return pl.DataFrame(rows, schema=SCORE_SCHEMA)


def failures(scores: pl.DataFrame, threshold: float) -> list[str]:
    """Types whose precision or recall is below `threshold` (undefined values pass)."""
    bad = []
    for row in scores.iter_rows(named=True):
        for metric in ("precision", "recall"):
            value = row[metric]
            if value is not None and value < threshold:
                bad.append(f"{row['type']}: {metric} {value:.4f} < {threshold}")
        if row["injected"] and not row["reported"]:
            bad.append(f"{row['type']}: {row['injected']} injected, none reported")
    return bad


def markdown(scores: pl.DataFrame) -> str:
    def fmt(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.4f}"

    lines = [
        "| type | injected | reported | TP | neg. hits | precision | recall |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in scores.iter_rows(named=True):
        lines.append(
            f"| {r['type']} | {r['injected']} | {r['reported']} | {r['tp']} | "
            f"{r['negative_hits']} | {fmt(r['precision'])} | {fmt(r['recall'])} |"
        )
    return "\n".join(lines)


def recon_command() -> list[str]:
    """The installed `recon` entry point (next to this interpreter first)."""
    beside = Path(sys.executable).with_name("recon")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("recon")
    if found:
        return [found]
    raise SystemExit("accuracy: the `recon` command is not installed (pip install -e .)")


def run_mode(rows: int, seed: int, with_references: bool, fmt: str, work: Path) -> pl.DataFrame:
    from recon.generate import generate_day, write_day

    t = time.perf_counter()
    day = generate_day(rows, seed, with_references=with_references)
    paths = write_day(day, work / "in", fmt)
    gen_s = time.perf_counter() - t
    out = work / "out"
    cmd = [*recon_command(), "run", "--pos", str(paths["pos"]), "--bank", str(paths["bank"])]
    cmd += ["--out", str(out), "--quiet"]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    run_s = time.perf_counter() - t
    if proc.returncode not in (0, 1):
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"accuracy: recon exited {proc.returncode}: {' '.join(cmd)}")
    print(f"generated in {gen_s:.1f}s, recon ran in {run_s:.1f}s (exit {proc.returncode})")
    found = pl.read_csv(out / "discrepancies.csv", infer_schema=False)
    faults = pl.read_csv(paths["faults"], infer_schema=False)
    return score(found, faults)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv")
    parser.add_argument("--no-check", action="store_true", help="print only, never fail")
    parser.add_argument("--keep", type=Path, help="keep inputs and outputs under this folder")
    args = parser.parse_args(argv)

    failed: list[str] = []
    for with_references in (True, False):
        label = "with references" if with_references else "without references"
        print(f"\n## {label} (rows={args.rows}, seed={args.seed}, {args.format})\n")
        with tempfile.TemporaryDirectory(prefix="recon-accuracy-") as tmp:
            work = (args.keep / label.replace(" ", "-")) if args.keep else Path(tmp)
            scores = run_mode(args.rows, args.seed, with_references, args.format, work)
        print(markdown(scores))
        bad = failures(scores, THRESHOLDS[with_references])
        failed += [f"{label}: {b}" for b in bad]
    if failed:
        print("\nbelow threshold:\n  " + "\n  ".join(failed))
        return 0 if args.no_check else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
