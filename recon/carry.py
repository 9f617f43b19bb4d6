"""Scheduled runs: reconcile today's files together with what is still open in the state store.

A record is identified by its side and content (its source id too, when the source has one), so
the same file fed twice, or rolling exports that overlap, never count a record twice: records
an earlier run matched or reported are dropped, and open ones are taken once. Unmatched sales and
settlements (orphans) stay open and meet later files; an item is `new` the first time, `carried`
while it stays open, and closed by the run whose files resolve it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

import polars as pl

from recon.config import SEVERITIES, MatchSettings, Settings
from recon.exprs import formatted
from recon.match.prepare import ARRIVAL_BOUND, CARRIED
from recon.pipeline import Stage, reconcile
from recon.result import RunResult, SideInfo, build_summary
from recon.store import (
    ITEM_COLUMNS,
    ITEM_STATE_COLUMNS,
    RECORD_COLUMNS,
    REF_SEP,
    Base,
    Store,
    hashed,
    now,
    texts_hash,
)

CARRIED_TYPES = ("orphan_pos", "orphan_bank")
KEY_FIELDS = (
    "time",
    "amount",
    "currency",
    "account",
    "reference",
    "kind",
    "terminal",
    "merchant",
)


def _carried_item() -> pl.Expr:
    """Items whose records go on to the next run: orphans, sales a batch deposit has not paid
    yet because they are not due (late_settlement with no bank record), and a sale recorded
    twice that nothing paid yet (its payment comes in a later night's batch)."""
    unpaid = pl.col("bank_ids").fill_null("") == ""
    pending = pl.col("type").is_in(("late_settlement", "duplicate_pos")) & unpaid
    return pl.col("type").is_in(CARRIED_TYPES) | pending


def _waiting(
    disc: pl.DataFrame,
    matches: pl.DataFrame,
    pos: pl.DataFrame,
    day: str,
    settings: Settings,
) -> dict[str, pl.Series]:
    """Ids of the records that stay open after a run, per side: those of the items carried on
    (orphans, unpaid duplicates and sales not due), and a voided sale with its void while a
    payment could still come (the window): a void that never reached the acquirer shows up as
    the sale paid in a later night's batch, which must meet the sale to be voided_but_settled."""
    carried = disc.filter(_carried_item())
    is_bank = pl.col("type") == "orphan_bank"
    items_pos = carried.filter(~is_bank).select(id=pl.col("pos_ids").str.split(";"))
    items_bank = carried.filter(is_bank).select(id=pl.col("bank_ids").str.split(";"))
    since = date.fromisoformat(day) - timedelta(days=math.ceil(settings.match.window_days))
    # The few voided sales are looked up among the records, not the records among them.
    voided = matches.filter(pl.col("rule") == "voided").select("pos_id")
    recent = pos.lazy().filter(pl.col("id").is_in(voided["pos_id"].implode()))
    recent = recent.filter(pl.col("first_day") >= since.isoformat()).select("id").collect()
    voided = voided.filter(pl.col("pos_id").is_in(recent["id"].implode()))
    ids = {
        "pos": pl.concat([items_pos.explode("id"), voided.select(id="pos_id")]),
        "bank": items_bank.explode("id"),
    }
    return {side: frame["id"].drop_nulls() for side, frame in ids.items()}


def record_key(side: str) -> pl.Expr:
    """A stable text key of a canonical row: its side, its source id (unless the id was made
    from file and line, which changes between exports) and its content."""
    derived = pl.col("id") == formatted("{}:{}", pl.col("source"), pl.col("line"))
    own_id = pl.when(derived).then(pl.lit("")).otherwise(pl.col("id"))
    parts = [pl.lit(side), own_id.fill_null("")]
    parts += [pl.col(c).cast(pl.String).fill_null("") for c in KEY_FIELDS]
    return pl.concat_str(parts, separator="|")


def record_keys(frame: pl.DataFrame, side: str) -> pl.Series:
    """The stored keys of a file's records: the hash of each key text and its number among the
    identical rows of the file ("#0", "#1" ... in file order), which are distinct records."""
    # On the streaming engine each batch's texts are built, hashed and let go: a million
    # rows' key texts (a few hundred MB, in fresh pages) are never held at once, which took
    # more time faulting the pages in than building the texts.
    first = hashed(formatted("{}#0", record_key(side))).alias("rec_key")
    keys = frame.lazy().select(first).collect(engine="streaming")["rec_key"]
    if keys.n_unique() == keys.len():
        return keys
    # Only the repeated rows are numbered in a window: over a million keys it costs seconds.
    again = keys.is_duplicated()
    text = frame.filter(again).select(key=record_key(side))
    numbered = text.select(hashed(formatted("{}#{}", "key", pl.int_range(pl.len()).over("key"))))
    return keys.scatter(again.arg_true(), numbered.to_series())


def item_refs(key: pl.Expr) -> pl.Expr:
    """Short, stable handles of items for people and scripts: K and the first 12 hex digits of
    the SHA-1 of the item key."""
    return pl.lit("K") + key.nchash.sha1().str.slice(0, 12)


def item_ref(key: str) -> str:
    """item_refs of one key."""
    return pl.select(item_refs(pl.lit(key, pl.String))).item()


def config_hash(settings: Settings) -> str:
    payload = {k: v for k, v in settings.as_dict().items() if k not in ("pos", "bank", "out")}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def run_day(
    pos: pl.DataFrame, bank: pl.DataFrame, store: Store, inputs: tuple[SideInfo, SideInfo]
) -> str:
    """The day a --state run without --day stands for, from both files and the history.

    A day with POS records is the day of its latest one. A day the shop was closed (no POS
    record) is the day of the bank file's latest record, when that is after the last day the
    state holds; else (nothing dated, or dated on a day already run: the settlements of the
    day before) it is the next day after that one. The same two files fed again stand for the
    day they stood for (`inputs`: their paths and SHA-256), so a re-run replaces it. Today's
    date only for a first run with nothing dated: a run for today in the history would make
    every later catch-up run an earlier day, which the state refuses."""
    sale = pos["time"].max() if pos.height else None
    latest = bank["time"].max() if bank.height else None
    return day_for(sale, latest, store, inputs)  # type: ignore[arg-type]


def day_for(
    sale: datetime | None,
    latest: datetime | None,
    store: Store,
    inputs: tuple[SideInfo, SideInfo],
) -> str:
    """run_day of the latest sale and the latest booking (None where a file has none)."""
    if sale is not None:
        return sale.date().isoformat()
    again = store.day_of_inputs(*inputs)
    if again:
        return again
    last = store.latest().day
    if latest is not None and (last is None or latest.date().isoformat() > last):
        return latest.date().isoformat()
    if last is None:
        return date.today().isoformat()
    return (date.fromisoformat(last) + timedelta(days=1)).isoformat()


def _escalate(sev: pl.Expr, age: pl.Expr, settings: Settings) -> pl.Expr:
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    r = sev.replace_strict(rank, return_dtype=pl.Int8)
    floor = (
        pl.when(age >= settings.aging.high_after_days)
        .then(2)
        .when(age >= settings.aging.medium_after_days)
        .then(1)
        .otherwise(0)
    )
    return pl.max_horizontal(r, floor).replace_strict(dict(enumerate(SEVERITIES)))


@dataclass
class Before:
    """What the state holds for a run of `day`: the run it starts from, the items open after it
    (without their texts), the records open after it per side (less those of items closed by
    hand, `dropped`), the keys of every record it holds open, and the bank's lag it kept."""

    day: str
    base: Base
    prev: pl.DataFrame
    carried: dict[str, pl.DataFrame]
    known: dict[str, pl.Series]
    dropped: pl.DataFrame
    lag: float | None

    def settings(self, match: MatchSettings) -> MatchSettings:
        """The match settings of the run: with the bank's lag the runs before showed, for a
        day with too few pairs to show it."""
        return match if self.lag is None else replace(match, lag_bound_minutes=self.lag)


def _with_arrival_bounds(bank: pl.DataFrame, store: Store, base: Base) -> pl.DataFrame:
    """The carried bank records with the lag bound (minutes) the run of the day each came kept
    (ARRIVAL_BOUND: null where it kept none), so their pairs are judged by their own day's lag
    (recon.match.prepare)."""
    since = bank["first_day"].min() or base.day or ""
    bounds = store.lag_bounds(base, since).select(first_day="day", **{ARRIVAL_BOUND: "minutes"})
    return bank.join(bounds, on="first_day", how="left", maintain_order="left")


def before_run(store: Store, day: str) -> Before:
    base = store.base_for(day)
    prev = store.open_items(base, texts=False)
    # Records of items closed by hand are not carried any further.
    resolved = list(store.resolved_record_keys(base))
    carried, known, dropped = {}, {}, []
    for side in ("pos", "bank"):
        stored = store.open_records(base, side)
        known[side] = stored["rec_key"]
        gone = pl.col("rec_key").is_in(resolved)
        dropped.append(stored.filter(gone).select("side", "rec_key"))
        carried[side] = (
            stored.filter(~gone)
            .drop("side")
            .with_columns(
                time=pl.col("time").str.to_datetime(time_unit="us"),
                has_clock=pl.col("has_clock").cast(pl.Boolean),
                references=pl.col("references").str.split(REF_SEP),
            )
        )
    carried["bank"] = _with_arrival_bounds(carried["bank"], store, base)
    return Before(day, base, prev, carried, known, pl.concat(dropped), store.lag_bound(base))


def take_side(
    today: pl.DataFrame,
    side: str,
    keys: pl.Series,
    before: Before,
    store: Store,
    old: pl.DataFrame | None = None,
    seen: pl.Series | None = None,
) -> pl.DataFrame:
    """The records of one side to match: the open ones carried (`old`, all by default), then
    today's (`keys`: their record_keys) not taken before, each with its rec_key and first_day.
    `seen`: those of today's keys consumed before, when read already."""
    old = before.carried[side] if old is None else old
    # Records consumed before, or still (or no longer, when resolved by hand) open, are not
    # taken again.
    if seen is None:
        seen = store.consumed_among(before.base, side, keys)
    taken = keys.is_in(pl.concat([seen, before.known[side]]).implode())
    if taken.any():  # (a nightly file nearly never: a filter copies every column)
        today, keys = today.filter(~taken), keys.filter(~taken)
    # An old record whose id a new one reuses gets its first day appended. (The few old ids
    # are looked up among today's, not today's million hashed for the few.)
    ids = today.get_column("id")
    reused = ids.filter(ids.is_in(old["id"].implode())).implode()
    old = old.with_columns(
        id=pl.when(pl.col("id").is_in(reused))
        .then(formatted("{}@{}", pl.col("id"), pl.col("first_day")))
        .otherwise(pl.col("id"))
    )
    # In one chunk, as the matcher wants them: the copy it would make otherwise would be held
    # beside these (kept for the state's steps after matching) through the whole match. One
    # copy: the state's columns are added to the copy, since a column of another chunking
    # added to the loaded rows makes polars realign (copy) them all at their next step.
    rows = pl.concat([old.select(today.columns), today], how="vertical_relaxed", rechunk=True)
    state = {
        "rec_key": [old["rec_key"], keys],
        "first_day": [old["first_day"], pl.repeat(before.day, today.height, eager=True)],
    }
    if ARRIVAL_BOUND in old.columns:  # (today's records: today's lag)
        none = pl.repeat(None, today.height, dtype=pl.Float64, eager=True)
        state[ARRIVAL_BOUND] = [old[ARRIVAL_BOUND].cast(pl.Float64), none]
    return rows.with_columns(
        pl.concat(parts, rechunk=True).alias(name) for name, parts in state.items()
    )


def match_frame(records: pl.DataFrame, day: str, *drop: str) -> pl.DataFrame:
    """One side's records (take_side) as the matcher takes them: without their key, and with
    whether each was carried from an earlier run (CARRIED) for its first day."""
    carried = (pl.col("first_day") < day).alias(CARRIED)
    return records.with_columns(carried).drop("rec_key", "first_day", *drop)


def reconcile_with_state(
    settings: Settings,
    store: Store,
    day: str | None = None,
    on_stage: Stage | None = None,
    write: Callable[[RunResult], Any] | None = None,
) -> RunResult:
    started = now()
    ctx: dict[str, Any] = {}  # what before_match read and made: `before`, both sides' records

    def before_match(pos: pl.DataFrame, bank: pl.DataFrame, pos_in: SideInfo, bank_in: SideInfo):
        this_day = day or run_day(pos, bank, store, (pos_in, bank_in))
        # Today's keys are worked out (polars, without the GIL) while the store is read, a
        # side a thread: building a key's text runs on one core.
        with ThreadPoolExecutor(max_workers=2) as pool:
            pos_job = pool.submit(record_keys, pos, "pos")
            bank_job = pool.submit(record_keys, bank, "bank")
            before = before_run(store, this_day)
            pos_keys, bank_keys = pos_job.result(), bank_job.result()
        ctx["before"] = before
        ctx["records"] = {
            "pos": take_side(pos, "pos", pos_keys, before, store),
            "bank": take_side(bank, "bank", bank_keys, before, store),
        }
        frames = [match_frame(ctx["records"][side], before.day) for side in ("pos", "bank")]
        return frames[0], frames[1], before.settings(settings.match)

    result = reconcile(settings, on_stage, before_match=before_match)
    before = ctx["before"]
    stated = apply_state(result.discrepancies, result.matches, ctx["records"], before, settings)
    summary = build_summary(
        stated.discrepancies,
        stated.matches,
        result.rejected,
        result.pos,
        result.bank,
        result.settings,
        result.summary["timings"],
        findings=result.summary.get("findings"),
    )
    staged = replace(
        result, discrepancies=stated.discrepancies, matches=stated.matches, summary=summary
    )
    return record_run(store, before, staged, stated, started, settings, write)


class Stated(NamedTuple):
    """A run's result as the state makes it (apply_state): the outputs' items (with status,
    first_seen, age_days, alert, item_ref) and matches, and what the store keeps: the items
    (items_of), the records left open, the keys (side, rec_key) of those consumed."""

    discrepancies: pl.DataFrame
    matches: pl.DataFrame
    items: pl.DataFrame
    records: pl.DataFrame
    consumed: pl.DataFrame


def apply_state(
    disc: pl.DataFrame,
    matches: pl.DataFrame,
    records: dict[str, pl.DataFrame],
    before: Before,
    settings: Settings,
) -> Stated:
    """What the state makes of a run's (or a bucket's) items and matches; `records`: both
    sides' records matched (take_side)."""
    stated = with_state(disc, records, before, settings)
    # A voided sale carried while its payment could come is matched to its void again: that
    # pair was reported on its own day.
    kept = matches.filter(~voided_again(records["pos"], before.day))
    still, consumed = left_open(stated, matches, records, before.day, settings)
    return Stated(stated.drop(*STATE_ONLY), kept, items_of(stated), still, consumed)


def voided_again(pos: pl.DataFrame, day: str) -> pl.Expr:
    """Matches of a voided sale carried from an earlier day to its void (see _waiting)."""
    earlier_ids = pos.filter(pl.col("first_day") < day)["id"].implode()
    return (pl.col("rule") == "voided") & pl.col("pos_id").is_in(earlier_ids)


def _ids_to_keys(items: pl.DataFrame, records: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """item_id -> the sorted record keys of its POS and bank ids."""
    parts = []
    for side in ("pos", "bank"):
        lookup = records[side].select("id", "rec_key")
        parts.append(
            items.select("item_id", id=pl.col(f"{side}_ids").str.split(";"))
            .explode("id")
            .filter(pl.col("id").is_not_null() & (pl.col("id") != ""))
            .join(lookup, on="id", how="inner")
            .select("item_id", "rec_key")
        )
    # (sorted once, keys as text once, rather than a sort and a cast per item)
    keys = (
        pl.concat(parts).sort("item_id", "rec_key").with_columns(pl.col("rec_key").cast(pl.String))
    )
    return keys.group_by("item_id", maintain_order=True).agg(
        rec_keys=pl.col("rec_key").str.join("\n")
    )


# Columns with_state adds that the outputs leave out.
STATE_ONLY = ("prev_first", "prev_severity", "prev_status", "rec_keys", "item_key")


def with_state(
    disc: pl.DataFrame, records: dict[str, pl.DataFrame], before: Before, settings: Settings
) -> pl.DataFrame:
    """A run's items with what the state says of them: their key (type and record keys), the
    day first seen, age, severity escalated with age, status (new, escalated, carried), whether
    to alert, and a stable reference (item_ref). `records`: both sides' (take_side)."""
    day = before.day
    # A duplicate sale is the same item before and after its payment comes: its POS records.
    own = pl.when(pl.col("type") != "duplicate_pos").then(pl.col("bank_ids"))
    keys = _ids_to_keys(disc.with_columns(bank_ids=own), records)
    # (the items keep their order: the streaming engine orders the day on it)
    disc = disc.join(keys, on="item_id", how="left", maintain_order="left").with_columns(
        item_key=pl.concat_str(pl.col("type"), pl.lit("\n"), pl.col("rec_keys").fill_null(""))
    )
    prev_info = before.prev.select(
        "item_key", prev_first="first_day", prev_severity="severity", prev_status="status"
    )
    disc = disc.join(prev_info, on="item_key", how="left", maintain_order="left").with_columns(
        first_seen=pl.coalesce("prev_first", pl.lit(day))
    )
    age = (pl.lit(day).str.to_date() - pl.col("first_seen").str.to_date()).dt.total_days()
    disc = disc.with_columns(age_days=age.cast(pl.Int64)).with_columns(
        severity=_escalate(pl.col("severity"), pl.col("age_days"), settings)
    )
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    escalated = pl.col("prev_severity").is_not_null() & (
        pl.col("severity").replace_strict(rank, return_dtype=pl.Int8)
        > pl.col("prev_severity").replace_strict(rank, default=0, return_dtype=pl.Int8)
    )
    return disc.with_columns(
        status=pl.when(pl.col("prev_first").is_null())
        .then(pl.lit("new"))
        .when(escalated)
        .then(pl.lit("escalated"))
        .otherwise(pl.lit("carried")),
    ).with_columns(
        alert=pl.col("status").is_in(["new", "escalated"]),
        item_ref=item_refs(pl.col("item_key")),
    )


def items_of(disc: pl.DataFrame) -> pl.DataFrame:
    """The store's columns of a run's items (with_state's)."""
    return disc.rename({"first_seen": "first_day"}).select(ITEM_COLUMNS)


def left_open(
    disc: pl.DataFrame,
    matches: pl.DataFrame,
    records: dict[str, pl.DataFrame],
    day: str,
    settings: Settings,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The records that stay open after a run (see _waiting), as the store keeps them, and the
    keys (side, rec_key) of the others: consumed."""
    open_ids = _waiting(disc, matches, records["pos"], day, settings)
    still, consumed = [], []
    for side in ("pos", "bank"):
        union = records[side]
        is_open = pl.col("id").is_in(open_ids[side].implode())
        still.append(
            union.filter(is_open)
            .with_columns(
                side=pl.lit(side),
                time=pl.col("time").dt.strftime("%Y-%m-%dT%H:%M:%S%.f"),
                has_clock=pl.col("has_clock").cast(pl.Int64),
                references=pl.col("references").list.join(REF_SEP),
            )
            .select(RECORD_COLUMNS)
        )
        keys = union.lazy().select("id", "rec_key").filter(~is_open)
        consumed.append(keys.select(side=pl.lit(side), rec_key="rec_key").collect())
    return pl.concat(still), pl.concat(consumed)


def record_run(
    store: Store,
    before: Before,
    result: RunResult,
    stated: Stated,
    started: str,
    settings: Settings,
    write: Callable[[RunResult], Any] | None,
) -> RunResult:
    """Close the earlier items this run resolved, add the state block and the exit code to the
    summary, write the outputs (`write`) and record the run in the store: the run is committed
    once the outputs are written, so a crash in between never marks unreported items as
    reported.

    `result` holds the run's outputs (items with the state's columns), `stated` what the store
    keeps of them (apply_state)."""
    day, prev, items_now = before.day, before.prev, stated.items
    # Earlier items: orphans whose records this run took up are closed; others stay open.
    earlier = prev.filter(~pl.col("item_key").is_in(items_now["item_key"].implode()))
    closed = earlier.filter(_carried_item())
    still_open = earlier.filter(~_carried_item())
    still_open = still_open.with_columns(
        age_days=(pl.lit(day).str.to_date() - pl.col("first_day").str.to_date())
        .dt.total_days()
        .cast(pl.Int64),
        status=pl.lit("open"),
    )
    still_open = still_open.with_columns(
        severity=_escalate(pl.col("severity"), pl.col("age_days"), settings)
    )
    # Texts are stored once per item: only new items' and changed ones (a duplicate sale's
    # payment came, an id got its first day) are written. Earlier items keep theirs: the run
    # that wrote them (texts_run; null: this run's).
    hashed_now = items_now.with_columns(texts_hash()).join(
        prev.select("item_key", "texts_hash", "texts_run"),
        on=["item_key", "texts_hash"],
        how="left",
        maintain_order="left",
    )
    texts = hashed_now.filter(pl.col("texts_run").is_null()).unique(
        "item_key", keep="first", maintain_order=True
    )
    # Earlier items' rows of this run: their texts are stored already.
    columns = list(ITEM_STATE_COLUMNS)
    carried_forward = still_open.select(columns).with_columns(item_id=pl.lit(None))
    closed_now = closed.with_columns(status=pl.lit("closed")).select(columns)
    # (earlier items are one a key and none of this run's: only this run's are made unique,
    # not the whole backlog with them)
    now_rows = hashed_now.select(columns).unique("item_key", keep="first", maintain_order=True)
    all_items = pl.concat([now_rows, carried_forward, closed_now], how="vertical_relaxed")
    status = items_now["status"]
    state = {
        "store": str(store.path),
        "day": day,
        "based_on_run": before.base.run_id,
        "carried_in": {side: before.carried[side].height for side in ("pos", "bank")},
        "new": int((status == "new").sum()),
        "escalated": int((status == "escalated").sum()),
        "carried": int((status == "carried").sum()),
        "closed": closed.height,
        "still_open_from_before": still_open.height,
        "open_total": int(items_now["type"].is_not_null().sum() + still_open.height),
        "lag_bound_minutes": result.settings.match.lag_bound_minutes,
    }
    summary = dict(result.summary, state=state)
    final = replace(result, summary=summary)
    code = final.exit_code()
    summary["exit_code"] = code
    run = {
        "day": day,
        "started_at": started,
        "pos_path": result.pos.path,
        "pos_sha256": result.pos.sha256,
        "bank_path": result.bank.path,
        "bank_sha256": result.bank.sha256,
        "config_hash": config_hash(settings),
        "counts": {
            "discrepancies": summary["discrepancies"]["by_type"],
            "state": state,
            "rejected": summary["rejected"],
        },
        "exit_code": code,
    }
    # The outputs are written while the store takes the run's rows, and the run is committed
    # only once they are: a crash in between leaves the store as it was.
    with ThreadPoolExecutor(max_workers=1) as pool:
        written = pool.submit(write, final) if write is not None else None
        run_id = store.write_run(
            run,
            stated.records,
            pl.concat([stated.consumed, before.dropped]),
            all_items,
            texts,
            before_commit=None if written is None else written.result,
            base=before.base,
        )
    state["run_id"] = run_id
    return final
