"""Does `recon investigate` name the right item, whatever the finance person looks it up by?

    python benchmarks/investigate.py [--rows 3000] [--seed 7] [--kinds refs,norefs,lookalike]
        [--per-type 20] [--format parquet|csv] [--keep DIR] [--json] [--no-check]

For each kind of day: `generate_day(rows, seed, kind=...)`, `write_day`, then `recon run` once
(the output folder is kept for the lookups with --results). Then, for up to `--per-type` injected
cases of every type with a POS record that shows a card, it looks the case's POS record up three
ways through the CLI (`recon investigate ... --json`, in-process with click's CliRunner):

* `reference`: `--reference` of the POS record (when it has one);
* `amount`: `--amount --date --last4` of the POS record, no `--results` (investigate reconciles
  the records it gathers itself);
* `amount+results`: the same with `--results` of the full run.

A lookup names the right item when the case shows the item of the full run
(`discrepancies.csv`) that holds the injected POS record with the injected type: a record of the
case is flagged with that type, and the records of the case flagged with that item are exactly
the item's POS and bank ids (item ids are not compared: they are ranks within a run). Cases the
full run itself did not report as injected are left out (accuracy.py scores those). Prints the
share per kind and lookup, the median number of records a case shows, the time per lookup and
every miss; exits 1 when a lookup misses (unless --no-check).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import id_set

KINDS = ("refs", "norefs", "lookalike")
# Injected types whose case has a POS record with a card (the customer's last 4 digits).
TYPES = (
    "amount_mismatch",
    "account_mismatch",
    "currency_mismatch",
    "late_settlement",
    "orphan_pos",
    "duplicate_pos",
    "voided_but_settled",
)
WAYS = ("reference", "amount", "amount+results")
Item = tuple[str, frozenset[str], frozenset[str]]  # type, POS ids, bank ids


def _cli(args: list[str]) -> tuple[int, str]:
    from recon.cli import cli

    res = CliRunner().invoke(cli, args)
    if res.exception and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res.exit_code, res.stdout


def named_items(case: dict) -> list[Item]:
    """Every item a case names, as (type, POS ids, bank ids) of the case's records it flags."""
    found: dict[str, tuple[str, set[str], set[str]]] = {}
    for r in case["records"]:
        for it in r["items"]:
            _, pids, bids = found.setdefault(it["item_id"], (it["type"], set(), set()))
            (pids if r["side"] == "pos" else bids).add(r["id"])
    return [(t, frozenset(p), frozenset(b)) for t, p, b in found.values()]


def _verdict(case: dict | None, want: set[Item], pid: str) -> str:
    """'' when the case flags the POS record `pid` with exactly the items `want`, else what it
    says about `pid` instead."""
    if case is None:
        return "not found"
    if not any(r["side"] == "pos" and r["id"] == pid for r in case["records"]):
        return f"{pid} not in the case ({len(case['records'])} records)"
    got = {it for it in named_items(case) if pid in it[1]}
    if got == want:
        return ""
    return "; ".join(sorted(_say(it) for it in got)) or "no item"


def _say(item: Item) -> str:
    return f"{item[0]} {';'.join(sorted(item[1]))}/{';'.join(sorted(item[2]))}"


def _lookups(pos_row: dict) -> dict[str, list[str] | None]:
    amount = pos_row["amount"].lstrip("-")
    last4 = (pos_row["account"] or "")[-4:]
    by_amount = ["--amount", amount, "--date", pos_row["time"].date().isoformat()]
    by_amount += ["--last4", last4] if last4 else []
    return {
        "reference": ["--reference", pos_row["reference"]] if pos_row["reference"] else None,
        "amount": by_amount,
        "amount+results": by_amount,  # --results added by the caller
    }


def run_kind(
    kind: str, rows: int, seed: int, per_type: int, fmt: str, root: Path, ways=WAYS
) -> dict:
    from recon.generate import generate_day, write_day

    day = generate_day(rows, seed, kind=kind)
    paths = write_day(day, root / kind, fmt)
    out = root / kind / "out"
    t0 = time.perf_counter()
    sides = ["--pos", str(paths["pos"]), "--bank", str(paths["bank"])]
    code, _ = _cli(["run", *sides, "--out", str(out), "--quiet"])
    run_s = time.perf_counter() - t0
    if code not in (0, 1):
        raise SystemExit(f"investigate: recon run exited {code} on the {kind} day")
    disc = pl.read_csv(out / "discrepancies.csv", infer_schema=False)
    by_pos: dict[str, set[Item]] = {}  # POS id -> the full run's items that hold it
    for typ, pids, bids in disc.select("type", "pos_ids", "bank_ids").iter_rows():
        item = (typ, id_set(pids), id_set(bids))
        for p in item[1]:
            by_pos.setdefault(p, set()).add(item)
    pos = {r["id"]: r for r in day.pos.iter_rows(named=True)}
    base = ["investigate", *sides, "--json"]

    results: dict[str, dict] = {w: {"cases": 0, "right": 0, "records": []} for w in ways}
    misses, skipped, seconds = [], [], dict.fromkeys(ways, 0.0)
    for typ in TYPES:
        taken = 0
        for pids in day.faults.filter(pl.col("fault") == typ)["pos_ids"].to_list():
            if taken >= per_type:
                break
            pid = min(id_set(pids), key=lambda i: int(i.lstrip("P")))  # the sale
            row = pos[pid]
            if not row["account"]:
                continue
            taken += 1
            want = by_pos.get(pid, set())
            if not any(it[0] == typ for it in want):  # the full run missed it
                skipped.append({"type": typ, "pos_id": pid, "full_run": sorted(map(_say, want))})
                continue
            lookups = _lookups(row)
            for way in ways:
                args = lookups[way]
                if args is None:
                    continue
                extra = ["--results", str(out)] if way == "amount+results" else []
                t0 = time.perf_counter()
                code, text = _cli([*base, *args, *extra])
                seconds[way] += time.perf_counter() - t0
                case = json.loads(text) if code == 0 else None
                verdict = _verdict(case, want, pid)
                results[way]["cases"] += 1
                results[way]["records"].append(len(case["records"]) if case else 0)
                if not verdict:
                    results[way]["right"] += 1
                    continue
                misses.append(
                    {
                        "kind": kind,
                        "way": way,
                        "type": typ,
                        "pos_id": pid,
                        "lookup": " ".join(args),
                        "want": "; ".join(sorted(map(_say, want))),
                        "got": verdict,
                    }
                )
    for way in ways:
        r = results[way]
        n = r["cases"]
        r["share"] = r["right"] / n if n else None
        r["seconds_per_lookup"] = round(seconds[way] / n, 3) if n else None
        sizes = sorted(r.pop("records"))
        r["median_records"] = sizes[len(sizes) // 2] if sizes else None
    return {
        "kind": kind,
        "rows": rows,
        "seed": seed,
        "run_s": round(run_s, 2),
        "ways": results,
        "misses": misses,
        "full_run_missed": skipped,
    }


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def print_table(reports: list[dict]) -> None:
    ways = list(reports[0]["ways"]) if reports else []
    print(
        "| kind | rows | seed | way | right | share | records (median) | s/lookup |\n"
        "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |"
    )
    for r in reports:
        for way in ways:
            w = r["ways"][way]
            print(
                f"| {r['kind']} | {r['rows']} | {r['seed']} | {way} | {w['right']}/{w['cases']} "
                f"| {_pct(w['share'])} | {w['median_records']} | {w['seconds_per_lookup']} |"
            )
    for r in reports:
        for m in r["full_run_missed"]:
            said = "; ".join(m["full_run"]) or "nothing"
            print(f"{r['kind']}: left out {m['type']} {m['pos_id']}: the full run says {said}")
        for m in r["misses"]:
            print(
                f"{m['kind']} {m['way']}: {m['type']} {m['pos_id']} ({m['lookup']}): "
                f"want {m['want']}; got {m['got']}"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated kinds of day")
    parser.add_argument("--ways", default=",".join(WAYS), help="comma-separated lookups")
    parser.add_argument("--per-type", type=int, default=20, help="cases per injected type")
    parser.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    parser.add_argument(
        "--full-day-rows",
        type=int,
        help="override recon.investigate.FULL_DAY_ROWS (0: never reconcile the whole day, as "
        "on a large day)",
    )
    parser.add_argument("--keep", type=Path, help="keep the days and run outputs here")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--no-check", action="store_true", help="print only, never fail")
    args = parser.parse_args(argv)
    kinds = [k for k in args.kinds.split(",") if k]
    ways = tuple(w for w in args.ways.split(",") if w)
    if args.full_day_rows is not None:
        import recon.investigate

        recon.investigate.FULL_DAY_ROWS = args.full_day_rows
    if set(ways) - set(WAYS):
        parser.error(f"--ways: one or more of {', '.join(WAYS)}")

    def go(root: Path) -> list[dict]:
        return [
            run_kind(k, args.rows, args.seed, args.per_type, args.format, root, ways) for k in kinds
        ]

    if args.keep:
        reports = go(args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="recon-investigate-") as tmp:
            reports = go(Path(tmp))
    if args.json:
        print(json.dumps(reports, indent=2))
    else:
        print_table(reports)
    # A lookup by amount is as reliable as the reference lookup, and every lookup names the
    # full run's item.
    failed = [
        f"{r['kind']} {way} ({_pct(w['share'])})"
        for r in reports
        for way, w in r["ways"].items()
        if w["share"] is not None and w["share"] < 1.0
    ]
    if failed and not args.no_check:
        print(f"\nnot every lookup names the full run's item: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
