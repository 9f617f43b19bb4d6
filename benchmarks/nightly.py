"""A month of nightly `recon run --state` runs of one look-alike shop, scored against the truth.

    python benchmarks/nightly.py [--rows 2000] [--seed 7] [--days 30] [--settle batch|instant]
                                 [--regulars 1.0] [--fault-rate 0.01]
                                 [--engine local|streaming] [--keep DIR] [--json]

The shop (one `shop` seed for the whole month: the same short price list, few regular cards and
terminals every day) sells 08:00-22:00 and is paid by the acquirer in the next night's batch
(02:00-04:00; 15 % a few hours after the sale; late settlements 4-10 days later), with no bank
reference, every fault type injected each day (recon.generate, kind `lookalike` settled in
batches). Each night gets the two files a shop would have that morning: the POS export of the
day's sales and the bank file of what was booked that day. The month has:

* closed days: the shop shut on a single day (no sales, the bank still books the night before)
  and over a two-day closure (no sales and no bookings: the sales before it are paid the night
  after it);
* a three-day outage: nothing runs for three nights, then the three days are run one after the
  other, the last bank file a rolling export that repeats the two before it;
* re-feeds: one day's two files fed again right after it ran, and the last day's.

Every run is `recon run --pos --bank --out --state --quiet` with no --day. Scored:

* closed on the right day: a true (POS, bank) pair whose records came on different days is
  matched on the day its second record came (also reported for same-day pairs);
* carried right: on every run between a record's day and its partner's (to the end of the
  month for orphans), the record is reported open (an orphan item), not paired elsewhere;
* matched twice: a record paired on two days;
* wrong pairs, by rule: pairs that no true pair looks like (see looks);
* re-fed: the run of files fed again gives the same items and matches.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import recon_command

from recon.generate import DAY_KINDS, FAULT_RATE, generate_day
from recon.store import Store

START = date(2026, 11, 1)
# Day numbers (0-based) of the month's events.
SINGLE_CLOSED = (6, 20, 27)  # shop shut, the bank still books the night before
CLOSURE = (13, 14)  # shop and acquirer shut: the sales of day 12 are paid the night after
OUTAGE = (22, 23, 24)  # runs missed, then caught up; day 24's bank file repeats 22 and 23
REFEED = 10
TARGET = 0.99
# What the other side sees of a record (its look), with the day it came.
LOOK_COLUMNS = ("amount", "currency", "account", "terminal", "merchant", "kind")
SETTLE = ("batch", "instant")  # paid in the next night's batch, or minutes after the sale


@dataclass(frozen=True)
class Month:
    days: list[date]
    pos: list[pl.DataFrame]  # per day, the POS file's rows
    bank: list[pl.DataFrame]  # per day, the bank file's rows
    truth: pl.DataFrame  # pos_id, bank_id
    faults: pl.DataFrame  # fault, pos_ids, bank_ids


def month(
    rows: int,
    seed: int,
    n_days: int,
    settle: str = "batch",
    regulars: float = 1.0,
    fault_rate: float = FAULT_RATE,
) -> Month:
    """The month's files: each day generated with its own seed and the shop's, ids prefixed
    with the day, then every row put in the file of the day it happened on. `regulars`: the
    share of sales the regular cards make (the rest: a card seen once); `fault_rate`: the
    share of sales each fault type takes."""
    shop = replace(DAY_KINDS["lookalike"], name="nightly", regulars=regulars, fault_rate=fault_rate)
    pos, bank, truth, faults = [], [], [], []
    for d in range(n_days):
        if d in SINGLE_CLOSED or d in CLOSURE:
            continue
        before_closure = d + 1 == CLOSURE[0]
        kind = replace(shop, settle="closed" if before_closure else settle)
        day = generate_day(rows, seed * 1000 + d, kind=kind, shop=seed, day=START + timedelta(d))
        tag = f"D{d + 1:02d}-"
        pos.append(day.pos.with_columns(id=pl.lit(tag) + pl.col("id")))
        bank.append(day.bank.with_columns(id=pl.lit(tag) + pl.col("id")))
        truth.append(
            day.truth.select((pl.lit(tag) + pl.col(c)).alias(c) for c in ("pos_id", "bank_id"))
        )
        faults.append(
            day.faults.with_columns(
                pl.col(c)
                .str.split(";")
                .list.eval(pl.lit(tag) + pl.element())
                .list.join(";")
                .alias(c)
                for c in ("pos_ids", "bank_ids")
            )
        )
    all_pos, all_bank = pl.concat(pos), pl.concat(bank)
    days = [START + timedelta(d) for d in range(n_days)]
    # Nothing is booked while the acquirer is shut: a late settlement due then comes after.
    shut = pl.col("time").dt.date().is_in([days[d] for d in CLOSURE])
    reopen = pl.duration(
        days=(CLOSURE[-1] + 1) - (pl.col("time").dt.date() - START).dt.total_days()
    )
    all_bank = all_bank.with_columns(
        time=pl.when(shut).then(pl.col("time") + reopen).otherwise(pl.col("time"))
    )

    def on(frame: pl.DataFrame, day: date) -> pl.DataFrame:
        return frame.filter(pl.col("time").dt.date() == day).sort("time", "id")

    pos_files = [on(all_pos, day) for day in days]
    bank_files = [on(all_bank, day) for day in days]
    # The bank file of the outage's last day is a rolling export: the three days' bookings.
    last = OUTAGE[-1]
    bank_files[last] = pl.concat([bank_files[d] for d in OUTAGE])
    return Month(days, pos_files, bank_files, pl.concat(truth), pl.concat(faults))


def write(frame: pl.DataFrame, path: Path) -> Path:
    frame.write_csv(path, datetime_format="%Y-%m-%dT%H:%M:%S")
    return path


def run_day(
    files: Path, out: Path, state: Path, d: int, m: Month, engine: list[str] | None = None
) -> dict:
    pos = write(m.pos[d], files / f"pos-{m.days[d]}.csv")
    bank = write(m.bank[d], files / f"bank-{m.days[d]}.csv")
    cmd = [*recon_command(), "run", "--pos", str(pos), "--bank", str(bank), "--out", str(out)]
    cmd += engine or []
    t = time.perf_counter()
    proc = subprocess.run([*cmd, "--state", str(state), "--quiet"], capture_output=True, text=True)
    seconds = time.perf_counter() - t
    if proc.returncode not in (0, 1):
        raise SystemExit(f"nightly: recon failed on {m.days[d]}:\n{proc.stderr}")
    summary = json.loads((out / "summary.json").read_text())
    return {"day": str(m.days[d]), "seconds": seconds, "state": summary.get("state", {})}


def outputs(out: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A run's pairs (pos_id, bank_id, rule) and its items (type, pos_ids, bank_ids)."""
    pairs = pl.read_parquet(out / "matches.parquet", columns=["pos_id", "bank_id", "rule"]).filter(
        pl.col("pos_id").is_not_null() & pl.col("bank_id").is_not_null()
    )
    items = pl.read_csv(out / "discrepancies.csv", infer_schema=False)
    return pairs, items


def same_outputs(a: Path, b: Path) -> bool:
    (pa, ia), (pb, ib) = outputs(a), outputs(b)
    return pa.equals(pb) and ia.drop("item_ref", strict=False).equals(
        ib.drop("item_ref", strict=False)
    )


def open_records(state: Path) -> dict[str, pl.DataFrame]:
    """The records each day's live run left open in the state file (side, id), by day."""
    kept = Store(state).kept_records().filter(~pl.col("superseded"))
    return {
        day: part.select("side", "id")
        for (day,), part in kept.partition_by("day", as_dict=True).items()
    }


def looks(m: Month) -> pl.DataFrame:
    """Each record's look (side, id, look, day): what the other side can see of it (amount,
    currency, card, terminal, merchant, kind) and the day it came. Two records of one look
    came the same day and differ only in time, so which of two bank lines of a night batch
    paid which of two such sales is not knowable, and either pairing is as right."""
    parts = []
    for side, files in (("pos", m.pos), ("bank", m.bank)):
        for d, frame in enumerate(files):
            parts.append(
                frame.select(
                    side=pl.lit(side),
                    id="id",
                    look=pl.concat_str(
                        [pl.col(c).fill_null("") for c in LOOK_COLUMNS], separator="|"
                    ),
                    day=pl.lit(d),
                )
            )
    # A rolling export repeats rows: a record's day is the first that brought it.
    return pl.concat(parts).unique(["side", "id"], keep="first", maintain_order=True)


def agreed(found: pl.DataFrame, expected: pl.DataFrame, keys: list[str]) -> int:
    """How many of `expected` `found` holds, counting rows of one key as interchangeable."""
    f = found.group_by(keys).len()
    e = expected.group_by(keys).len()
    # (a key `found` lacks holds none of `expected`'s: min_horizontal would skip the null)
    both = e.join(f, on=keys, how="left").select(
        pl.min_horizontal("len", pl.col("len_right").fill_null(0))
    )
    return int(both.to_series().sum())


def score(m: Month, outs: list[Path], state: Path) -> dict:
    """Closed on the right day, carried right and matched twice, from the runs' outputs and
    the records each run left open in the state file."""
    look = looks(m)
    pos_look = look.filter(side="pos").select("id", "look", "day")
    bank_look = look.filter(side="bank").select("id", "look", "day")
    last = len(m.days) - 1
    # Every true pair: the day of each record, and the day it is due to close (its second).
    truth = (
        m.truth.join(pos_look.rename({"id": "pos_id", "look": "pl", "day": "pd"}), on="pos_id")
        .join(bank_look.rename({"id": "bank_id", "look": "bl", "day": "bd"}), on="bank_id")
        .filter(pl.col("bd") >= pl.col("pd"))
    )
    unpaid = m.truth.join(bank_look.rename({"id": "bank_id"}), on="bank_id", how="anti")
    waiting = pl.concat(  # records that stay open until their partner comes (or for good)
        [
            truth.select("pos_id", first="pd", until="bd"),
            unpaid.join(pos_look.rename({"id": "pos_id"}), on="pos_id").select(
                "pos_id", first="day", until=pl.lit(last + 1)
            ),
        ]
    ).rename({"pos_id": "id"})
    orphans = []
    for fault, side, table in (("orphan_pos", "pos", pos_look), ("orphan_bank", "bank", bank_look)):
        ids = m.faults.filter(fault=fault).select(id=pl.col(f"{side}_ids").str.split(";"))
        orphans.append(
            ids.explode("id")
            .join(table, on="id")
            .select("id", first="day", until=pl.lit(last + 1), side=pl.lit(side))
        )
    waiting = pl.concat([waiting.with_columns(side=pl.lit("pos")), *orphans], how="diagonal")
    waiting = waiting.join(look.drop("day"), on=["side", "id"])

    kept = open_records(state)
    closed = {"same_day": [0, 0], "carried": [0, 0]}
    carried = [0, 0]
    seen, made = [], []
    for d, out in enumerate(outs):
        pairs = outputs(out)[0]
        seen.append(pairs)
        found = pairs.join(
            pos_look.rename({"id": "pos_id", "look": "pl", "day": "pd"}), on="pos_id"
        )
        found = found.join(
            bank_look.rename({"id": "bank_id", "look": "bl", "day": "bd"}), on="bank_id"
        )
        made.append(found.select("rule", "pl", "pd", "bl", "bd"))
        due = truth.filter(bd=d)
        for which, cross in (("same_day", False), ("carried", True)):
            exp = due.filter((pl.col("pd") < pl.col("bd")) == cross)
            closed[which][0] += agreed(found, exp, ["pl", "pd", "bl", "bd"])
            closed[which][1] += exp.height
        still = waiting.filter((pl.col("first") <= d) & (pl.col("until") > d))
        empty = pl.DataFrame(schema={"side": pl.String, "id": pl.String})
        shown = kept.get(str(m.days[d]), empty).join(look.drop("day"), on=["side", "id"])
        carried[0] += agreed(shown, still, ["side", "look"])
        carried[1] += still.height
    every = pl.concat(seen)
    twice = sum(every[c].is_duplicated().sum() for c in ("pos_id", "bank_id"))
    # Pairs that no true pair looks like (the POS record's look and day, the bank record's), by
    # rule: where the matcher paired what it should have left open.
    true_looks = truth.select("pl", "pd", "bl", "bd").unique()
    wrong = pl.concat(made).join(true_looks, on=["pl", "pd", "bl", "bd"], how="anti")
    wrong = wrong.group_by("rule").len().sort("len", "rule", descending=[True, False])
    return {
        "closed_right_day": closed["carried"][0] / max(closed["carried"][1], 1),
        "carried_pairs": closed["carried"][1],
        "same_day_right": closed["same_day"][0] / max(closed["same_day"][1], 1),
        "same_day_pairs": closed["same_day"][1],
        "carried_right": carried[0] / max(carried[1], 1),
        "carried_checks": carried[1],
        "matched_twice": int(twice),
        "wrong_pairs": dict(wrong.iter_rows()),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=2000, help="POS rows per trading day")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--settle", choices=SETTLE, default="batch", help="how the acquirer pays")
    ap.add_argument("--keep", type=Path, help="keep the files and outputs in this folder")
    ap.add_argument(
        "--engine",
        choices=("local", "streaming"),
        default="local",
        help="the engine of every run (streaming: in two buckets)",
    )
    ap.add_argument(
        "--regulars",
        type=float,
        default=1.0,
        help="the share of sales by the shop's 20-40 regular cards (default all; the rest "
        "are cards seen once)",
    )
    ap.add_argument(
        "--fault-rate",
        type=float,
        default=FAULT_RATE,
        help="the share of sales each of the ten fault types takes (default 0.01; at least "
        "five cases a type a day)",
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if not 0 < args.fault_rate <= 0.05:
        ap.error("--fault-rate must be above 0 and at most 0.05")
    if args.days <= OUTAGE[-1] + 1:
        ap.error(f"--days must be more than {OUTAGE[-1] + 1} (the month's events)")
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        files, state = work / "files", work / "state.db"
        files.mkdir(parents=True, exist_ok=True)
        state.unlink(missing_ok=True)
        m = month(args.rows, args.seed, args.days, args.settle, args.regulars, args.fault_rate)
        outs, log, refed = [], [], []
        engine = [] if args.engine == "local" else ["--engine", args.engine, "--partitions", "2"]
        for d in range(args.days):
            out = work / "out" / str(m.days[d])
            log.append(run_day(files, out, state, d, m, engine))
            outs.append(out)
            if d in (REFEED, args.days - 1):
                again = work / "out" / f"{m.days[d]}-again"
                run_day(files, again, state, d, m, engine)
                refed.append(same_outputs(out, again))
        result = {
            "rows_per_day": args.rows,
            "seed": args.seed,
            "days": args.days,
            "settle": args.settle,
            "regulars": args.regulars,
            "fault_rate": args.fault_rate,
            "engine": args.engine,
            **score(m, outs, state),
            "refeed_unchanged": all(refed),
            "seconds_per_run": sorted(r["seconds"] for r in log)[len(log) // 2],
        }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for k, v in result.items():
            print(f"{k:>20}: {v:.4f}" if isinstance(v, float) else f"{k:>20}: {v}")
    ok = (
        result["closed_right_day"] >= TARGET
        and result["carried_right"] >= TARGET
        and result["matched_twice"] == 0
        and result["refeed_unchanged"]
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
