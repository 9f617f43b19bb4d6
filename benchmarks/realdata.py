"""Matching accuracy on real bank statements: a shop ledger built from each statement's entries.

    python benchmarks/realdata.py [--realdata DIR] [--seed 7] [--json] [--keep DIR] [--no-check]

For every MT940, camt, BAI2 and OFX file under `--realdata` (default: the team's shared folder,
../shared/realdata, or $RECON_SHARED/realdata), the statement is loaded with recon's loader as the
bank side and a shop ledger (a canonical POS CSV) is built from its entries: one sale per
credit, one refund per debit, at the entry's own time or, for a booking date, on that date at a
plausible hour (08:00-20:59), carrying the reference a shop's accounting would copy from the
bank: the MT940 bank reference after `//` or the customer reference, the camt AcctSvcrRef or
EndToEndId, the BAI2 bank reference, the OFX FITID (one of them chosen at random where there
are two), else the entry's primary reference, else none. Then faults with known ids are
injected, each on its own entry, as many as the statement has entries to spare (one entry at
least stays clean):

| fault | what the ledger gets | found when |
| --- | --- | --- |
| missing | the entry is left out | an `orphan_bank` item names the bank row |
| extra | a sale the bank never paid | an `orphan_pos` item names it |
| amount | the amount keyed wrong (digits swapped, or x10) | an `amount_mismatch` item names it |
| no_reference | the entry without its reference | it is matched to its bank row all the same |
| duplicate | the entry recorded twice, 1-5 s apart | a `duplicate_pos` item names the copy |

`recon run --pos ledger.csv --bank FILE --out DIR --quiet` runs in a subprocess; the script
reports per file and in total the share of clean entries matched to their own bank row, or to
one the ledger cannot tell from it (same amount, day and references), in matches.parquet, and
the share of faults found, by type. Files with no entry are listed and
not scored. Deterministic: the same seed and files give the same ledgers and figures. Exit 1
when the total is below the targets (95% of clean entries matched, 90% of faults found) unless
`--no-check`, 2 when recon fails on a file.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

from recon import readers
from recon.load import HEAD_BYTES, load_side
from recon.money import format_minor
from recon.profiles import load_profile

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import id_set
from bench import recon_command

REPO = Path(__file__).resolve().parent.parent
FORMATS = ("mt940", "camt", "bai2", "ofx")
FAULTS = ("missing", "extra", "amount", "no_reference", "duplicate")
TARGET_CLEAN = 0.95
TARGET_FAULTS = 0.90


def default_realdata() -> Path:
    shared = Path(os.environ.get("RECON_SHARED", REPO.parent / "shared"))
    return shared / "realdata"


# --- the reference a shop would copy -------------------------------------------------------------


def _raw_by_line(path: Path) -> dict[int, str]:
    """The reader's raw text of each entry (for the references it names), by LINE."""
    head = path.read_bytes()[:HEAD_BYTES]
    reader = readers.reader_for(path, head)
    if reader is None:
        return {}
    raw = reader.scan(path, load_profile("canonical")).frame.select(readers.LINE, readers.RAW)
    out: dict[int, str] = {}
    for line, text in raw.collect().iter_rows():
        out.setdefault(line, text or "")
    return out


def own_references(fmt: str, raw: str, refs: list[str]) -> list[str]:
    """The bank's own transaction references of one entry, as its statement writes them."""
    found: list[str] = []
    if fmt == "mt940":
        line_61 = raw.split(" | ", 1)[0]
        before, _, after = line_61.partition("//")
        found = [after.strip()] if after.strip() else []
        found += [r for r in refs if r in before[4:]]  # the customer reference
    elif fmt == "camt":
        for tag in ("AcctSvcrRef", "EndToEndId"):
            found += re.findall(rf"<{tag}>([^<]+)</{tag}>", raw)
    elif fmt == "bai2":
        fields = [f.strip() for f in raw.split(" | ", 1)[0].split(",")]
        at = {r: fields.index(r) for r in refs if r in fields}
        found = sorted(at, key=at.get)[:1]  # the bank reference comes before the customer's
    elif fmt == "ofx":
        fitid = re.search(r"(?:^|; )FITID=([^;]+)", raw)
        found = [fitid.group(1).strip()] if fitid else []
    return [r for r in dict.fromkeys(found) if r in refs]


# --- the ledger ---------------------------------------------------------------------------------


@dataclass
class Ledger:
    rows: list[dict]  # id, time, amount, currency, reference, kind (text)
    own: dict[str, str] = field(default_factory=dict)  # POS id -> its bank row's id
    clean: list[str] = field(default_factory=list)  # POS ids of untouched entries
    faults: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # type -> (pos, bank)


def _keyed(minor: int) -> int:
    """A keying error: the last two different adjacent digits swapped, else a decimal slip."""
    digits = list(str(abs(minor)))
    for i in range(len(digits) - 1, 0, -1):
        if digits[i] != digits[i - 1]:
            digits[i], digits[i - 1] = digits[i - 1], digits[i]
            value = int("".join(digits))
            if value and value != abs(minor):
                return value if minor > 0 else -value
    return minor * 10


def _pos_time(rng: random.Random, when: datetime, has_clock: bool) -> datetime:
    if has_clock:
        return when - timedelta(minutes=rng.randint(5, 90), seconds=rng.randint(0, 59))
    return datetime(when.year, when.month, when.day, rng.randint(8, 20), rng.randint(0, 59))


def build_ledger(fmt: str, bank: pl.DataFrame, raw: dict[int, str], seed: int) -> Ledger:
    rng = random.Random(seed)
    entries = [r for r in bank.sort("line", "id").to_dicts() if r["amount"]]
    ledger = Ledger(rows=[], faults={f: [] for f in FAULTS})
    if not entries:
        return ledger
    spare = max(len(entries) - 1, 0)  # one entry at least stays clean
    order = list(range(len(entries)))
    rng.shuffle(order)
    roles = dict.fromkeys(range(len(entries)), "clean")
    kinds = ("missing", "amount", "no_reference", "duplicate")
    for fault, index in zip(kinds[:spare], order[: min(spare, len(kinds))], strict=True):
        roles[index] = fault
    for i, entry in enumerate(entries):
        refs = list(entry["references"] or [])
        own = own_references(fmt, raw.get(entry["line"], ""), refs)
        ref = rng.choice(own) if own else entry["reference"]
        pid = f"L{i + 1:04d}"
        row = {
            "id": pid,
            "time": _pos_time(rng, entry["time"], entry["has_clock"]),
            "amount": entry["amount"],
            "currency": entry["currency"],
            "reference": ref,
            "kind": "sale" if entry["amount"] > 0 else "refund",
        }
        role = roles[i]
        if role != "missing":
            ledger.own[pid] = entry["id"]
        if role == "clean":
            ledger.clean.append(pid)
        elif role == "missing":
            ledger.faults["missing"].append(("", entry["id"]))
            continue
        elif role == "amount":
            row["amount"] = _keyed(entry["amount"])
            ledger.faults["amount"].append((pid, entry["id"]))
        elif role == "no_reference":
            row["reference"] = None
            ledger.faults["no_reference"].append((pid, entry["id"]))
        ledger.rows.append(row)
        if role == "duplicate":
            copy = {
                **row,
                "id": pid + "D",
                "time": row["time"] + timedelta(seconds=rng.randint(1, 5)),
            }
            ledger.rows.append(copy)
            ledger.faults["duplicate"].append((copy["id"], entry["id"]))
    # a sale the bank never paid, on a day of the statement, an amount no entry has
    amounts = {abs(e["amount"]) for e in entries}
    extra_amount = next(a for a in iter(lambda: rng.randint(100, 50_000), None) if a not in amounts)
    day = rng.choice(entries)
    ledger.rows.append(
        {
            "id": "X0001",
            "time": _pos_time(rng, day["time"], False),
            "amount": extra_amount,
            "currency": day["currency"],
            "reference": f"SHOP-{rng.randrange(10**8):08d}",
            "kind": "sale",
        }
    )
    ledger.faults["extra"].append(("X0001", ""))
    return ledger


def write_ledger(ledger: Ledger, path: Path) -> None:
    rows = sorted(ledger.rows, key=lambda r: (r["time"], r["id"]))
    frame = pl.DataFrame(
        {
            "id": [r["id"] for r in rows],
            "time": [r["time"].isoformat(timespec="seconds") for r in rows],
            "amount": [format_minor(r["amount"], r["currency"]) for r in rows],
            "currency": [r["currency"] for r in rows],
            "reference": [r["reference"] for r in rows],
            "kind": [r["kind"] for r in rows],
        },
        schema=dict.fromkeys(("id", "time", "amount", "currency", "reference", "kind"), pl.String),
    )
    frame.write_csv(path)


# --- scoring --------------------------------------------------------------------------------------


def _twins(bank: pl.DataFrame) -> dict[str, set[str]]:
    """Bank id -> the ids of the rows a ledger cannot tell from it: same amount, currency, day
    and references (two -25.00 debits of one day without a reference are interchangeable)."""
    groups: dict[tuple, set[str]] = {}
    keys: dict[str, tuple] = {}
    for row in bank.to_dicts():
        key = (
            row["amount"],
            row["currency"],
            row["time"].date(),
            row["reference"],
            tuple(row["references"] or ()),
        )
        keys[row["id"]] = key
        groups.setdefault(key, set()).add(row["id"])
    return {bid: groups[key] for bid, key in keys.items()}


def score(
    ledger: Ledger, bank: pl.DataFrame, matches: pl.DataFrame, discrepancies: pl.DataFrame
) -> dict:
    """Clean entries matched to their own bank row (or one it cannot be told from), and faults
    found, per type."""
    twins = _twins(bank)
    paired = {p: b for p, b in matches.select("pos_id", "bank_id").iter_rows() if p and b}
    items = [
        (kind, id_set(pos), id_set(bank_ids))
        for kind, pos, bank_ids in discrepancies.select("type", "pos_ids", "bank_ids").iter_rows()
    ]

    def same(bank_id: str | None, own: str) -> bool:
        return bank_id is not None and bank_id in twins.get(own, {own})

    def reported(kind: str, pos: str, own: str) -> bool:
        return any(
            k == kind and (not pos or pos in p) and (not own or any(same(b, own) for b in bs))
            for k, p, bs in items
        )

    found: dict[str, list[int]] = {}
    for fault, cases in ledger.faults.items():
        hits = 0
        for pos, own in cases:
            if fault == "missing":
                hits += reported("orphan_bank", "", own)
            elif fault == "extra":
                hits += reported("orphan_pos", pos, "")
            elif fault == "amount":
                hits += reported("amount_mismatch", pos, own)
            elif fault == "no_reference":
                hits += same(paired.get(pos), own)
            elif fault == "duplicate":
                hits += reported("duplicate_pos", pos, "")
        found[fault] = [hits, len(cases)]
    clean = sum(same(paired.get(p), ledger.own[p]) for p in ledger.clean)
    return {"clean": [clean, len(ledger.clean)], "faults": found}


# --- running --------------------------------------------------------------------------------------


def bench_file(path: Path, fmt: str, seed: int, work: Path) -> dict:
    loaded = load_side(path, "bank")
    result: dict = {"file": f"{fmt}/{path.name}", "format": fmt, "entries": loaded.frame.height}
    file_seed = seed * 1_000_003 + zlib.crc32(path.name.encode())
    ledger = build_ledger(fmt, loaded.frame, _raw_by_line(path), file_seed)
    if not ledger.rows or not ledger.clean:
        result["skipped"] = "no entry to build a ledger from"
        return result
    work.mkdir(parents=True, exist_ok=True)
    pos = work / "ledger.csv"
    write_ledger(ledger, pos)
    pl.DataFrame(
        [(f, p, b) for f, cases in ledger.faults.items() for p, b in cases],
        schema={"fault": pl.String, "pos_id": pl.String, "bank_id": pl.String},
        orient="row",
    ).write_csv(work / "faults.csv")
    out = work / "out"
    cmd = [*recon_command(), "run", "--pos", str(pos), "--bank", str(path)]
    cmd += ["--out", str(out), "--quiet"]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, "LANG": "C.UTF-8"}
    )
    if proc.returncode not in (0, 1):
        result["error"] = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        return result
    result.update(
        score(
            ledger,
            loaded.frame,
            pl.read_parquet(out / "matches.parquet"),
            pl.read_csv(out / "discrepancies.csv", infer_schema=False),
        )
    )
    return result


def totals(results: list[dict]) -> dict:
    scored = [r for r in results if "clean" in r]
    clean = [sum(r["clean"][i] for r in scored) for i in (0, 1)]
    faults = {f: [sum(r["faults"][f][i] for r in scored) for i in (0, 1)] for f in FAULTS}
    all_faults = [sum(v[i] for v in faults.values()) for i in (0, 1)]
    return {"files": len(scored), "clean": clean, "faults": faults, "all_faults": all_faults}


def _pct(pair: list[int]) -> str:
    hit, n = pair
    return f"{hit}/{n} ({100 * hit / n:.0f}%)" if n else "-"


def render(results: list[dict], total: dict) -> str:
    head = ["file", "entries", "clean matched", *FAULTS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        if "clean" not in r:
            note = r.get("skipped") or f"recon failed: {r.get('error')}"
            lines.append(f"| {r['file']} | {r['entries']} | {note} |" + " |" * len(FAULTS))
            continue
        cells = [r["file"], str(r["entries"]), _pct(r["clean"])]
        cells += [_pct(r["faults"][f]) for f in FAULTS]
        lines.append("| " + " | ".join(cells) + " |")
    cells = [f"**total** ({total['files']} files)", "", _pct(total["clean"])]
    cells += [_pct(total["faults"][f]) for f in FAULTS]
    lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        f"clean entries matched: {_pct(total['clean'])} (target {TARGET_CLEAN:.0%}); "
        f"faults found: {_pct(total['all_faults'])} (target {TARGET_FAULTS:.0%})"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realdata", type=Path, default=default_realdata())
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--keep", type=Path, help="keep ledgers and outputs under this folder")
    parser.add_argument("--no-check", action="store_true", help="print only, never fail")
    args = parser.parse_args(argv)
    files = [
        (path, fmt)
        for fmt in FORMATS
        for path in (
            sorted((args.realdata / fmt).iterdir()) if (args.realdata / fmt).is_dir() else []
        )
        if path.is_file()
    ]
    if not files:
        print(f"no statement files under {args.realdata}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="recon-realdata-")) if args.keep is None else args.keep
    try:
        results = [bench_file(p, fmt, args.seed, work / fmt / p.name) for p, fmt in files]
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    total = totals(results)
    if args.json:
        print(json.dumps({"seed": args.seed, "files": results, "total": total}, indent=2))
    else:
        print(render(results, total))
    if any("error" in r for r in results):
        return 2
    clean_ok = not total["clean"][1] or total["clean"][0] / total["clean"][1] >= TARGET_CLEAN
    hit, n = total["all_faults"]
    faults_ok = not n or hit / n >= TARGET_FAULTS
    return 0 if args.no_check or (clean_ok and faults_ok) else 1


if __name__ == "__main__":
    sys.exit(main())
