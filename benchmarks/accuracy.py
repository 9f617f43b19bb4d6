"""Precision, recall, F1 and pair accuracy of `recon run` on synthetic days with known faults.

    python benchmarks/accuracy.py --rows 20000 --seed 7 [--kinds refs,norefs,...]
        [--format csv|parquet] [--keep DIR] [--json] [--no-check]

For each kind of day (recon.generate.KINDS), generates the day, writes it (the bank side in
that kind's layout), runs `recon run --pos --bank --out DIR --quiet` in a subprocess and scores
`DIR/discrepancies.csv` against `faults.csv` (`score()`, per type) and `DIR/matches.parquet`
against `truth.csv` (`pair_scores()`). Prints one table per kind, what each injected fault came
out as, and a summary line per kind; exits 1 when a kind falls below its threshold (F1 of every
type, and pair accuracy where THRESHOLDS names one), 2 when recon could not run a day at all
(the other kinds are still scored).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import recon_command

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
# Least F1 of every type, and least pair accuracy, per kind of day.
THRESHOLDS: dict[str, float] = {
    "refs": 0.99,
    "norefs": 0.97,
    "lookalike": 0.95,
    "foreignrefs": 0.97,
    "zh": 0.98,
    "wechat": 0.95,
    "alipay": 0.95,
    "unionpay_zm": 0.95,
    "closed": 0.97,
}
PAIR_THRESHOLDS: dict[str, float] = {"lookalike": 0.98}

SCORE_SCHEMA = {
    "type": pl.String,
    "injected": pl.Int64,
    "reported": pl.Int64,
    "tp": pl.Int64,
    "negative_hits": pl.Int64,
    "precision": pl.Float64,
    "recall": pl.Float64,
    "f1": pl.Float64,
}


def id_set(text: str | None) -> frozenset[str]:
    """The ids of a `;`-joined list (null or empty: none)."""
    if text is None:
        return frozenset()
    return frozenset(part for part in (p.strip() for p in str(text).split(";")) if part)


def f1_score(n_inj: int, n_rep: int, tp: int) -> float | None:
    """F1 of one type; 0 when only one of injected/reported is non-zero, None when neither."""
    if not n_inj and not n_rep:
        return None
    if not tp:
        return 0.0
    return 2 * tp / (n_inj + n_rep)


_id_set, _f1 = id_set, f1_score  # the old names


def score(discrepancies: pl.DataFrame, faults: pl.DataFrame) -> pl.DataFrame:
    """Per-type precision, recall and F1 of reported items against injected faults.

    `discrepancies` needs `type, pos_ids, bank_ids`; `faults` needs `fault, pos_ids, bank_ids`
    (ids joined by ';', null or empty for none). A reported item is a true positive when an
    injected fault of its type has the same ids on the type's own side (OWN_SIDE); each fault
    is credited once, so a second report of it is a false positive. Items touching a record of a
    negative case are counted in `negative_hits` (they are false positives anyway). Precision is
    TP / reported (null when nothing was reported), recall TP / injected (null when nothing was
    injected), F1 their harmonic mean (0 when one side is zero, null when both are). Rows: every
    discrepancy type, then any unknown type that was reported.
    """
    injected: dict[str, set[frozenset[str]]] = {t: set() for t in DISCREPANCY_TYPES}
    negative_ids: set[str] = set()
    for fault, pos_ids, bank_ids in faults.select("fault", "pos_ids", "bank_ids").iter_rows():
        if fault in OWN_SIDE:
            own = pos_ids if OWN_SIDE[fault] == "pos" else bank_ids
            injected[fault].add(id_set(own))
        else:
            negative_ids |= id_set(pos_ids) | id_set(bank_ids)

    reported: dict[str, int] = {}
    hits: dict[str, set[frozenset[str]]] = {}
    negative_hits: dict[str, int] = {}
    for kind, pos_ids, bank_ids in discrepancies.select("type", "pos_ids", "bank_ids").iter_rows():
        reported[kind] = reported.get(kind, 0) + 1
        pos, bank = id_set(pos_ids), id_set(bank_ids)
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
                "f1": f1_score(n_inj, n_rep, tp),
            }
        )
    return pl.DataFrame(rows, schema=SCORE_SCHEMA)


def pair_scores(
    matches: pl.DataFrame, truth: pl.DataFrame, faults: pl.DataFrame | None = None
) -> dict[str, float | int | None]:
    """Pair accuracy: of the (pos_id, bank_id) pairs in `matches` with a bank row, the share that
    is in `truth`; pair recall: the share of true pairs that recon matched.

    With `faults`, the POS records of one `duplicate_pos` case count as one sale: which of two
    identical records the bank paid cannot be told without a reference, and the item names both.
    """
    found = matches.select(pl.col("pos_id").cast(pl.String), pl.col("bank_id").cast(pl.String))
    found = found.filter(
        pl.col("pos_id").is_not_null(), pl.col("bank_id").is_not_null(), pl.col("bank_id") != ""
    )
    true = truth.select(pl.col("pos_id").cast(pl.String), pl.col("bank_id").cast(pl.String))
    alias: dict[str, str] = {}
    if faults is not None:
        for (pos_ids,) in (
            faults.filter(pl.col("fault") == "duplicate_pos").select("pos_ids").iter_rows()
        ):
            ids = sorted(id_set(pos_ids))
            alias.update(dict.fromkeys(ids, ids[0]) if ids else {})
    if alias:
        same = pl.col("pos_id").replace(alias)
        found, true = found.with_columns(same), true.with_columns(same)
    correct = found.join(true, on=["pos_id", "bank_id"], how="semi").height
    return {
        "pairs": found.height,
        "correct": correct,
        "true_pairs": true.height,
        "pair_accuracy": correct / found.height if found.height else None,
        "pair_recall": correct / true.height if true.height else None,
    }


def outcomes(discrepancies: pl.DataFrame, faults: pl.DataFrame, top: int = 4) -> pl.DataFrame:
    """What each injected case came out as: the types of the items touching any of its records
    (`+`-joined, `-` when none), counted per case type, the most common first."""
    item_types: dict[str, set[str]] = {}
    for kind, pos_ids, bank_ids in discrepancies.select("type", "pos_ids", "bank_ids").iter_rows():
        for rid in id_set(pos_ids) | id_set(bank_ids):
            item_types.setdefault(rid, set()).add(kind)
    counts: dict[str, Counter[str]] = {}
    for fault, pos_ids, bank_ids in faults.select("fault", "pos_ids", "bank_ids").iter_rows():
        seen: set[str] = set()
        for rid in id_set(pos_ids) | id_set(bank_ids):
            seen |= item_types.get(rid, set())
        counts.setdefault(fault, Counter())["+".join(sorted(seen)) or "-"] += 1
    rows = []
    for fault, counter in counts.items():
        total = sum(counter.values())
        shown = ", ".join(f"{sig} {n}" for sig, n in counter.most_common(top))
        rest = total - sum(n for _, n in counter.most_common(top))
        rows.append(
            {
                "case": fault,
                "cases": total,
                "came out as": shown + (f", other {rest}" if rest else ""),
            }
        )
    return pl.DataFrame(
        rows, schema={"case": pl.String, "cases": pl.Int64, "came out as": pl.String}
    )


def clean_hits(discrepancies: pl.DataFrame, faults: pl.DataFrame) -> dict[str, int]:
    """Items per type that touch only records of no listed case (clean sales and settlements)."""
    listed: set[str] = set()
    for _, pos_ids, bank_ids in faults.select("fault", "pos_ids", "bank_ids").iter_rows():
        listed |= id_set(pos_ids) | id_set(bank_ids)
    out: Counter[str] = Counter()
    for kind, pos_ids, bank_ids in discrepancies.select("type", "pos_ids", "bank_ids").iter_rows():
        if not (id_set(pos_ids) | id_set(bank_ids)) & listed:
            out[kind] += 1
    return dict(sorted(out.items()))


def lost_records(
    pos_ids: pl.Series,
    bank_ids: pl.Series,
    matches: pl.DataFrame,
    discrepancies: pl.DataFrame,
    rejected: dict[str, Iterable[str]] | None = None,
) -> dict[str, list[str]]:
    """Input records that are neither matched, nor in an item, nor among the `rejected` ids of
    their side: the output contract says every row ends in exactly one of matched, a
    discrepancy, rejected."""
    rejected = rejected or {}
    seen = {
        side: set(matches[f"{side}_id"].drop_nulls().cast(pl.String))
        | {i for text in discrepancies[f"{side}_ids"].drop_nulls() for i in id_set(text)}
        | set(rejected.get(side, ()))
        for side in ("pos", "bank")
    }
    return {
        "pos": sorted(set(pos_ids) - seen["pos"]),
        "bank": sorted(set(bank_ids) - seen["bank"]),
    }


def failures(scores: pl.DataFrame, threshold: float) -> list[str]:
    """Types whose F1 is below `threshold` (types neither injected nor reported pass)."""
    bad = []
    for row in scores.iter_rows(named=True):
        f1 = row["f1"]
        if f1 is not None and f1 < threshold:
            p, r = row["precision"], row["recall"]
            bad.append(
                f"{row['type']}: F1 {f1:.4f} < {threshold} (precision {_fmt(p)}, recall {_fmt(r)})"
            )
    return bad


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.4f}"


def markdown(scores: pl.DataFrame) -> str:
    lines = [
        "| type | injected | reported | TP | neg. hits | precision | recall | F1 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in scores.iter_rows(named=True):
        lines.append(
            f"| {r['type']} | {r['injected']} | {r['reported']} | {r['tp']} | "
            f"{r['negative_hits']} | {_fmt(r['precision'])} | {_fmt(r['recall'])} | "
            f"{_fmt(r['f1'])} |"
        )
    return "\n".join(lines)


def run_kind(kind: str, rows: int, seed: int, fmt: str, work: Path) -> dict:
    """Generate, write and reconcile one kind of day; score it."""
    from recon.generate import generate_day, write_day

    t = time.perf_counter()
    day = generate_day(rows, seed, kind=kind)
    paths = write_day(day, work / "in", fmt)
    gen_s = time.perf_counter() - t
    out = work / "out"
    cmd = [*recon_command(), "run", "--pos", str(paths["pos"]), "--bank", str(paths["bank"])]
    cmd += ["--out", str(out), "--quiet"]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    run_s = time.perf_counter() - t
    head = {
        "kind": kind,
        "rows": rows,
        "seed": seed,
        "format": fmt,
        "generate_s": round(gen_s, 2),
        "recon_s": round(run_s, 2),
        "exit": proc.returncode,
        "threshold": THRESHOLDS[kind],
        "pair_threshold": PAIR_THRESHOLDS.get(kind),
    }
    if proc.returncode not in (0, 1):  # recon could not run this day: say why, go on
        message = (proc.stderr.strip().splitlines() or [""])[0]
        return {
            **head,
            "error": message,
            "min_f1": None,
            "pairs": {"pair_accuracy": None},
            "failures": [f"recon exited {proc.returncode}: {message}"],
        }
    found = pl.read_csv(out / "discrepancies.csv", infer_schema=False)
    faults = pl.read_csv(paths["faults"], infer_schema=False)
    truth = pl.read_csv(paths["truth"], infer_schema=False)
    matches = pl.read_parquet(out / "matches.parquet")
    summary = json.loads((out / "summary.json").read_text())
    rejected = {
        side: summary.get("inputs", {}).get(side, {}).get("rejected") for side in ("pos", "bank")
    }
    scores = score(found, faults)
    threshold = THRESHOLDS[kind]
    bad = failures(scores, threshold)
    pairs = pair_scores(matches, truth, faults)
    lost = lost_records(day.pos["id"], day.bank["id"], matches, found)
    if any(rejected.values()):
        lost = {"pos": [], "bank": []}  # rejected rows are not named by id: not checked
    for side, ids in lost.items():
        if ids:
            bad.append(f"{len(ids)} {side} records neither matched nor reported, e.g. {ids[:3]}")
    pair_min = PAIR_THRESHOLDS.get(kind)
    if pair_min is not None and (pairs["pair_accuracy"] or 0.0) < pair_min:
        bad.append(f"pair accuracy {_fmt(pairs['pair_accuracy'])} < {pair_min}")
    f1s = [(r["f1"], r["type"]) for r in scores.iter_rows(named=True) if r["f1"] is not None]
    return {
        **head,
        "rejected": rejected,
        "scores": scores.to_dicts(),
        "min_f1": min(f1s) if f1s else None,
        "pairs": pairs,
        "outcomes": outcomes(found, faults).to_dicts(),
        "clean_hits": clean_hits(found, faults),
        "lost": {side: len(ids) for side, ids in lost.items()},
        "lost_examples": {side: ids[:5] for side, ids in lost.items()},
        "failures": bad,
    }


def report(result: dict) -> str:
    """One kind's tables as markdown."""
    r = result
    if "error" in r:
        return f"## {r['kind']} (rows={r['rows']}, seed={r['seed']}, {r['format']})\n\n" + (
            f"recon exited {r['exit']}: {r['error']}"
        )
    p = r["pairs"]
    lines = [
        f"## {r['kind']} (rows={r['rows']}, seed={r['seed']}, {r['format']})",
        "",
        f"generated in {r['generate_s']}s, recon ran in {r['recon_s']}s (exit {r['exit']}); "
        f"rejected rows: POS {r['rejected']['pos']}, bank {r['rejected']['bank']}",
        "",
        markdown(pl.DataFrame(r["scores"], schema=SCORE_SCHEMA)),
        "",
        f"pair accuracy {_fmt(p['pair_accuracy'])} ({p['correct']} of {p['pairs']} matched pairs "
        f"true); pair recall {_fmt(p['pair_recall'])} (of {p['true_pairs']} true pairs)",
        "",
        "| injected case | cases | came out as (item types touching its records) |",
        "| --- | ---: | --- |",
        *(f"| {o['case']} | {o['cases']} | {o['came out as']} |" for o in r["outcomes"]),
        "",
        "items on clean records only: "
        + (", ".join(f"{k} {v}" for k, v in r["clean_hits"].items()) or "none"),
        f"records neither matched nor reported: POS {r['lost']['pos']}, bank {r['lost']['bank']}",
    ]
    return "\n".join(lines)


def summary_line(result: dict) -> str:
    r = result
    min_f1 = r["min_f1"]
    worst = "n/a" if min_f1 is None else f"{min_f1[0]:.4f} ({min_f1[1]})"
    verdict = "FAIL" if r["failures"] else "pass"
    return (
        f"{r['kind']:<12} {verdict}  min F1 {worst}, pair accuracy "
        f"{_fmt(r['pairs']['pair_accuracy'])}, threshold {r['threshold']}"
        + (f" / pairs {r['pair_threshold']}" if r["pair_threshold"] else "")
    )


def main(argv: list[str] | None = None) -> int:
    from recon.generate import KINDS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated kinds of day")
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv")
    parser.add_argument("--no-check", action="store_true", help="print only, never fail")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--keep", type=Path, help="keep inputs and outputs under this folder")
    args = parser.parse_args(argv)
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        parser.error(f"unknown kinds {', '.join(unknown)}: choose from {', '.join(KINDS)}")

    results = []
    for kind in kinds:
        with tempfile.TemporaryDirectory(prefix="recon-accuracy-") as tmp:
            work = (args.keep / kind) if args.keep else Path(tmp)
            result = run_kind(kind, args.rows, args.seed, args.format, work)
        results.append(result)
        if not args.json:
            print(report(result) + "\n", flush=True)
    failed = [f"{r['kind']}: {b}" for r in results for b in r["failures"]]
    if args.json:
        print(json.dumps(results, indent=1, ensure_ascii=False))
    else:
        print("## summary\n")
        print("\n".join(summary_line(r) for r in results))
        if failed:
            print("\nbelow threshold:\n  " + "\n  ".join(failed))
    if any("error" in r for r in results):
        return 2
    if failed and not args.no_check:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
