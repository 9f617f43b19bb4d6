"""The matcher: canonical POS and bank frames in, pairs with the rule that made each out.

It knows only the canonical schema (recon.schema). Passes run in order and each sees only
what the earlier ones left:
  reference          same normalised reference and direction (any lag)
  reference_other    a POS reference among a bank row's other references or memo tokens
  amount_time        same amount, currency and every key both files carry (merchant,
                     terminal, card tail), bank within the window after the POS, nearest wins
  amount_time_loose  the same for what is left, keys compared only where both rows have them
  amount_time_refs_differ  the same exact keys where both carry different references: only
                     when each row is the other's only candidate
  card_time          same card and terminal, amounts differ by a keying-error pattern
  residual_*         leftovers that differ in exactly one of card, currency or window, or in
                     the amount by a keying pattern where no card confirms it: only the
                     unambiguous (each row's only candidate), see recon.match.residual
Voids paired with their sale only match by reference; duplicate groups are marked here and
judged by the classifier.

When both files name the merchant of every record, the merchant scopes everything (Day, in
recon.match.prepare): records of two merchants never pair, not even by reference, nor share a
duplicate group or a void, and what the passes learn of the day's own pairs (the bank's usual
lag, whether the files' references meet, which rows have too many candidates to judge them
all) they learn per merchant. A bucket of a few merchants (recon.partitioned) is then matched
as the whole day: the streaming and Spark engines give a local run's result, row for row.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import product

import polars as pl

from recon.config import MatchSettings
from recon.keying import amount_pattern
from recon.match.passes import candidates, nearest_pairs, reference_pass, sweep
from recon.match.prepare import (
    ARRIVAL_BOUND,
    CARRIED,
    COPY_GROUP,
    DAY_US,
    EVIDENCE,
    NO_CARD_RETRY_SECONDS,
    OPTIONAL_KEYS,
    REF_HASH,
    REF_SHARED,
    RETRY_GROUP,
    STATEMENT,
    Day,
    agrees,
    derive,
    duplicate_groups,
    lag_us,
    void_pairs,
    with_reference_keys,
)
from recon.match.residual import (
    other_reference_pass,
    residual_candidates,
    resolve,
    unique_pairs,
)
from recon.match.timing import (
    MINUTE_US,
    bound_of_minutes,
    crowded,
    in_order,
    learn_bounds,
    pair_lags,
)
from recon.schema import CANCEL_KINDS

PAIR_SCHEMA = {"prow": pl.UInt32, "brow": pl.UInt32, "rule": pl.String}


@dataclass(frozen=True)
class MatchOutcome:
    pos: pl.DataFrame  # canonical + prow, dir, keys, void_row/sale_row, dup_group, dup_how...
    bank: pl.DataFrame  # canonical + brow, dir, keys, dup_group, dup_how, dup_primary
    pairs: pl.DataFrame  # prow, brow, rule
    voids: pl.DataFrame  # sale_row, void_row
    # The bank's usual lag as this day's pairs showed it (minutes; 0: no tighter than the
    # window), None where no scope had pairs enough to tell (MatchSettings.lag_bound_minutes).
    lag_bound_minutes: float | None = None


# Above this many candidate pairs a later pass falls back to the sweep (bounded memory).
CANDIDATE_BUDGET = 5_000_000


def _join_size(pos: pl.DataFrame, bank: pl.DataFrame, keys: list[str]) -> int:
    """How many rows joining the two frames on `keys` would produce."""
    a = pos.group_by(keys).len()
    b = bank.group_by(keys).len()
    size = a.join(b, on=keys).select((pl.col("len") * pl.col("len_right")).sum()).item()
    return int(size or 0)


def _shared_keys(pos: pl.DataFrame, bank: pl.DataFrame) -> list[str]:
    """Optional keys that both files actually carry."""
    return [
        c
        for c in OPTIONAL_KEYS
        if pos[c].null_count() < pos.height and bank[c].null_count() < bank.height
    ]


def _day(pos: pl.DataFrame, bank: pl.DataFrame) -> Day:
    """The Day of two derived sides (recon.match.prepare.day_of reads it of canonical ones)."""
    scoped = pos["merchant"].null_count() == 0 and bank["merchant"].null_count() == 0
    return Day(tuple(_shared_keys(pos, bank)), scoped and pos.height + bank.height > 0)


Parts = list[tuple[pl.DataFrame, pl.DataFrame]]


def _split(
    lp: pl.DataFrame, lb: pl.DataFrame, keys: list[str], scope: list[str]
) -> tuple[Parts, tuple[pl.DataFrame, pl.DataFrame] | None]:
    """The rows of a pass that judges every candidate pair, in parts whose candidates (pairs
    that agree on `keys`) fit CANDIDATE_BUDGET, and the rows with too many (None if none).

    Within a scope (a merchant, recon.match.prepare.Day) the budget is the scope's, so a
    merchant's rows take the same way whatever other merchants are matched beside them (the
    streaming and Spark engines match a few at a time); parts hold whole merchants and about
    CANDIDATE_BUDGET candidates each."""
    if not scope:
        if _join_size(lp, lb, keys) > CANDIDATE_BUDGET:
            return [], (lp, lb)
        return [(lp, lb)], None
    keys = [*keys, *(k for k in scope if k not in keys)]
    a, b = lp.group_by(keys).len(), lb.group_by(keys).len()
    size = (pl.col("len") * pl.col("len_right")).sum()
    sizes = a.join(b, on=keys).group_by(scope).agg(size=size)
    if sizes.height == 0:
        return [], None
    big = sizes.filter(pl.col("size") > CANDIDATE_BUDGET)
    if big.height == 0 and sizes["size"].sum() <= CANDIDATE_BUDGET:
        return [(lp, lb)], None
    over = None
    if big.height:
        over = (
            lp.join(big.select(scope), on=scope, how="semi"),
            lb.join(big.select(scope), on=scope, how="semi"),
        )
    small = sizes.filter(pl.col("size") <= CANDIDATE_BUDGET).with_columns(
        part=(pl.col("size").cum_sum() - pl.col("size")) // CANDIDATE_BUDGET
    )
    parts = []
    for _, part in small.group_by("part"):
        which = part.select(scope)
        parts.append((lp.join(which, on=scope, how="semi"), lb.join(which, on=scope, how="semi")))
    return parts, over


def _validate(
    cand: pl.LazyFrame,
    pos: pl.LazyFrame,
    bank: pl.LazyFrame,
    s: MatchSettings,
    *,
    amounts: str,
    with_lag: bool = False,
) -> pl.LazyFrame:
    """Keep candidate pairs inside the window whose known keys agree."""
    cols = ["time", "has_clock", "amount", "reference", "terminal", "merchant", "last4", "first6"]
    j = cand.join(pos.select("prow", *cols), on="prow").join(
        bank.select("brow", *cols), on="brow", suffix="_b"
    )
    lag = lag_us()
    in_window = lag.is_between(0, int(s.window_days * DAY_US))
    ok = in_window & agrees("terminal") & agrees("merchant") & agrees("last4") & agrees("first6")
    if amounts == "keying":
        ok = ok & amount_pattern(pl.col("amount"), pl.col("amount_b")).is_not_null()
    out = j.filter(ok)
    if with_lag:
        return out.select("prow", "brow", lag=lag)
    return out.select("prow", "brow")


def _filled(frame: pl.DataFrame, columns: tuple[str, ...]) -> tuple[str, ...]:
    """The columns of `columns` that hold at least one value in `frame`."""
    return tuple(c for c in columns if c in frame.columns and frame[c].null_count() < frame.height)


def match(
    pos_df: pl.DataFrame, bank_df: pl.DataFrame, s: MatchSettings, day: Day | None = None
) -> MatchOutcome:
    """Pair the two sides' records. `day`: what the matcher reads of the whole day
    (recon.match.prepare.Day), given by an engine that matches a day bucket by bucket;
    without it, the two frames are the day."""
    # Each stage is collected once: later passes read what earlier ones left, and polars would
    # otherwise re-run the earlier plans for every anti-join.
    # One chunk per column: every later pass gathers rows by position, ten times slower from
    # a column of a hundred chunks (what a streamed load or scan hands back on a large day).
    # Collected in memory, which keeps a one-chunk input as it is, so rechunk() copies only
    # when the caller passed a frame in chunks (the pipeline and the buckets pass one chunk,
    # and let theirs go, so the copy is not held beside the original).
    # Both sides in one collect_all: a one-chunk column's text work runs on one core, so the
    # two sides side by side use both.
    # (a deposit's stated fee goes on to the batch settlement pass)
    bank_cols = _filled(bank_df, (*EVIDENCE, *STATEMENT, "fee", ARRIVAL_BOUND, CARRIED))
    pos, bank = pl.collect_all(
        [
            derive(pos_df.lazy(), "prow", _filled(pos_df, (*EVIDENCE, CARRIED))),
            derive(bank_df.lazy(), "brow", bank_cols),
        ],
        engine="in-memory",
    )
    pos, bank = pos.rechunk(), bank.rechunk()
    window_us = int(s.window_days * DAY_US)
    if ARRIVAL_BOUND in bank.columns:
        arrival = bound_of_minutes(pl.col(ARRIVAL_BOUND), window_us).alias(ARRIVAL_BOUND)
        bank = bank.with_columns(arrival)
    day = _day(pos, bank) if day is None else day
    # Records of two merchants never meet when every record names its merchant: references,
    # voids and duplicate groups are then a merchant's, and so is what the day teaches.
    scope = day.scope
    # Which references repeat on a side: read by the duplicate groups and the reference pass.
    with ThreadPoolExecutor(max_workers=1) as pool:  # (the two sides side by side)
        bank_keyed = pool.submit(with_reference_keys, bank, scope)
        pos, bank = with_reference_keys(pos, scope), bank_keyed.result()
        del bank_keyed
    seconds = s.duplicate_seconds
    voids, pos_dups, bank_dups = pl.collect_all(
        [
            void_pairs(pos.lazy(), scope),
            duplicate_groups(pos, "prow", seconds, retry_needs_clock=False, scope=scope),
            duplicate_groups(bank, "brow", seconds, retry_needs_clock=True, scope=scope),
        ]
    )
    pos = annotate(pos, "prow", pos_dups)
    pos = annotate(pos, "prow", voids.select(prow="void_row", cancels_row="sale_row"))
    pos = annotate(pos, "prow", voids.select(prow="sale_row", cancelled_by_row="void_row"))
    bank = annotate(bank, "brow", bank_dups)

    found = [reference_pass(pos, bank, scope).with_columns(rule=pl.lit("reference"))]
    pos, bank = pos.drop(REF_SHARED, REF_HASH), bank.drop(REF_SHARED, REF_HASH)

    # The last rows left: the side frames they came from (a pass that marks rows makes new
    # ones), how many of `found` (which only grows) they account for, and the rows.
    left: tuple[int, int, int, pl.DataFrame, pl.DataFrame] | None = None

    def leftovers() -> tuple[pl.DataFrame, pl.DataFrame]:
        nonlocal left
        key = (id(pos), id(bank))
        if left is not None and left[:2] == key:
            seen, lp, lb = left[2:]
            if seen < len(found):
                # Only what the passes since then paired leaves the rows left: filtering
                # them is far cheaper than filtering the whole side again.
                new = pl.concat(found[seen:])
                lp = lp.filter(~pl.col("prow").is_in(new["prow"].implode()))
                lb = lb.filter(~pl.col("brow").is_in(new["brow"].implode()))
        else:
            # Rows are positions, so "already matched" is a mask scattered from the pairs.
            done = pl.concat(found)
            p_taken = pl.zeros(pos.height, pl.Boolean, eager=True).scatter(done["prow"], True)
            b_taken = pl.zeros(bank.height, pl.Boolean, eager=True).scatter(done["brow"], True)
            lp = pos.filter(~p_taken & pos["cancels_row"].is_null())
            lb = bank.filter(~b_taken)
        left = (*key, len(found), lp, lb)
        return lp, lb

    # References are comparable when the two files' primary references meet (in a scope:
    # recon.match.prepare.Day): then two rows that carry different ones are two transactions.
    # A statement whose own references are another system's (the POS reference only among its
    # other references) says nothing.
    refs_meet = found[0].height > 0
    if scope:
        met = pos.select(pl.col("merchant").gather(found[0]["prow"]).unique()).to_series()
        comparable = pl.col("merchant").is_in(met.implode())
    else:
        comparable = pl.lit(refs_meet)
    if pos["reference"].null_count() < pos.height:
        # A POS reference among a statement line's other references, or in its free text.
        lp, lb = leftovers()
        other, copies = other_reference_pass(lp.lazy(), lb.lazy(), scope)
        found.append(other.with_columns(rule=pl.lit("reference_other")))
        bank = _group_copies(bank, copies, "reference")

    shared = list(day.shared)
    exact = ["dir", "amount", "currency", *shared]

    def split(
        lp: pl.DataFrame, lb: pl.DataFrame, keys: list[str]
    ) -> tuple[Parts, tuple[pl.DataFrame, pl.DataFrame] | None]:
        return _split(lp, lb, keys, scope)

    # The bank's usual lag, learnt per scope from the pairs that are certain; among look-alike
    # rows a slower pairing is not made (recon.match.timing).

    def scopes(pairs: pl.DataFrame) -> pl.Series:
        """The scope of each pair: its merchant's code, or 0 (the whole day)."""
        if not scope:
            return pl.zeros(pairs.height, pl.UInt32, eager=True)
        return pos["merchant"].to_physical().gather(pairs["prow"]).cast(pl.UInt32)

    certain = pl.concat(found)
    bounds = pl.DataFrame(schema={"scope": pl.UInt32, "bound": pl.Int64})
    bounds = learn_bounds(bounds, scopes(certain), pair_lags(certain, pos, bank), window_us)
    del certain

    def limits(of: pl.Series) -> pl.Series | int | None:
        """The bound of each pair's scope (null where none), None where no scope has one."""
        known = bounds.drop_nulls("bound")
        if known.height == 0:
            return None
        if not scope:
            return int(known["bound"][0])
        frame = pl.DataFrame({"scope": of})
        return frame.join(known, on="scope", how="left", maintain_order="left")["bound"]

    def plausible(
        pairs: pl.DataFrame, lags: pl.Series | None = None, *, every: bool = False
    ) -> pl.DataFrame:
        """Drop pairs of look-alike rows (of any rows with `every`: pairs whose amounts differ
        rest on the time alone) slower than the bank's usual lag."""
        nonlocal bounds
        if pairs.height == 0:
            return pairs
        of = scopes(pairs)
        lags = pair_lags(pairs, pos, bank) if lags is None else lags
        # A scope without certain pairs: its first sweep's pairs, nearly all right, show the lag.
        bounds = learn_bounds(bounds, of, lags, window_us)
        bound = limits(of)
        if ARRIVAL_BOUND in bank.columns:
            # A bank record carried from an earlier day: the lag of its own day.
            own = bank[ARRIVAL_BOUND].gather(pairs["brow"])
            bound = pl.select(pl.coalesce(own, pl.lit(bound, pl.Int64))).to_series()
        if bound is None:
            return pairs
        slow = (lags > bound).fill_null(False)
        if not slow.any():
            return pairs
        drop = pairs.filter(slow).select("prow", "brow")
        if not every:
            drop = drop.filter(crowded(drop, pos, bank, exact))
        return pairs.join(drop, on=["prow", "brow"], how="anti", maintain_order="left")

    stages: list[tuple[str, list[str], list[str], str]] = [
        ("amount_time", exact, shared, "equal"),
        # (within a scope the merchant is known on both sides: a pair must share it)
        ("amount_time_loose", ["dir", "amount", "currency", *scope], [], "equal"),
    ]
    # When references are comparable, two rows that both carry one (and differ) are two
    # transactions: sweep POS rows without a reference against every bank row, then POS rows
    # with one against bank rows without, so such a pair never blocks a good one.
    no_ref = pl.col("reference").is_null()
    if refs_meet:
        populations = [(no_ref | ~comparable, pl.lit(True)), (~no_ref & comparable, no_ref)]
    else:
        populations = [(pl.lit(True), pl.lit(True))]
    everything = [(pl.lit(True), pl.lit(True))]

    def run_stage(
        rule: str,
        keys: list[str],
        required: list[str],
        amounts: str,
        bank_rows: pl.Expr | None = None,
    ) -> None:
        """One pass over the leftovers (of the bank's, only `bank_rows` when given)."""
        chosen = pl.lit(True) if bank_rows is None else bank_rows
        subsets = everything
        if rule == "amount_time_loose" and shared:
            # Rows with every key on both sides were judged by the exact pass already: only
            # pairs where one side misses a key are new here.
            partial = pl.any_horizontal(pl.col(k).is_null() for k in shared)
            subsets = [(partial, pl.lit(True)), (~partial, partial)]
        for (pos_cond, bank_cond), (pos_sub, bank_sub) in product(populations, subsets):
            lp, lb = leftovers()
            lp = lp.filter(pos_cond & pos_sub)
            lb = lb.filter(bank_cond & bank_sub & chosen)
            if required:
                lp, lb = lp.drop_nulls(required), lb.drop_nulls(required)
            if lp.height == 0 or lb.height == 0:
                continue
            if rule == "amount_time":
                parts, over = [], (lp, lb)
            else:
                parts, over = split(lp, lb, keys)
            if over is not None:
                # Exact keys (or too many candidates): the sweep scales to millions of rows.
                sp, sb = over
                cand = sweep(sp.lazy(), sb.lazy(), keys)
                pairs = _validate(cand, sp.lazy(), sb.lazy(), s, amounts=amounts).collect()
                pairs = plausible(pairs, every=amounts != "equal")
                if rule == "amount_time":
                    pairs = in_order(pairs, pos, bank, keys)
                found.append(pairs.with_columns(rule=pl.lit(rule)))
            for cp, cb in parts:
                # Leftovers only: judge every candidate, then pick nearest-first.
                cand = candidates(cp.lazy(), cb.lazy(), keys)
                valid = _validate(cand, cp.lazy(), cb.lazy(), s, amounts=amounts, with_lag=True)
                valid = valid.collect()
                valid = plausible(valid, valid["lag"], every=amounts != "equal")
                pairs = nearest_pairs(valid)
                found.append(pairs.with_columns(rule=pl.lit(rule)))

    run_stage(*stages[0])
    run_stage(*stages[1])
    if refs_meet:
        # Two rows that carry different references and agree on everything else are paired
        # when each is the other's only candidate (a reference from another system).
        lp, lb = leftovers()
        lp, lb = lp.drop_nulls(["reference", *shared]), lb.drop_nulls(["reference", *shared])
        lp, lb = lp.filter(comparable), lb.filter(comparable)
        parts = split(lp, lb, exact)[0] if lp.height and lb.height else []
        for cp, cb in parts:
            cand = candidates(cp.lazy(), cb.lazy(), exact)
            valid = plausible(_validate(cand, cp.lazy(), cb.lazy(), s, amounts="equal").collect())
            found.append(unique_pairs(valid).with_columns(rule=pl.lit("amount_time_refs_differ")))
    if s.amount_tolerant_pass and "last4" in shared:
        # A leftover credit of the same card, amount and terminal seconds or minutes after
        # another (a duplicate group's second row, or a copy of a settled one) is that
        # settlement sent twice before it is any other sale's payment with a keyed amount (a
        # regular customer's card meets many of the shop's prices).
        bank = _mark_bank_copies(bank, pl.concat(found), s.bank_duplicate_seconds)
        card_keys = ["dir", "currency", "last4", *[k for k in shared if k != "last4"]]
        first = pl.col("dup_primary").fill_null(True)
        run_stage("card_time", card_keys, card_keys, "keying", bank_rows=first)

    strict = pl.concat(found)
    pos = _mark_pos_copies(pos, strict)
    # Copies of a settled row are duplicates, not candidates of the residual pass; nor are rows
    # of a duplicate group or a sale its void cancelled.
    bank = _mark_bank_copies(bank, strict, s.bank_duplicate_seconds)
    learnt = bounds  # (what the day showed, before any prior)
    if s.residual_pass:
        lp, lb = leftovers()
        lp = lp.filter(pl.col("dup_group").is_null() & pl.col("cancelled_by_row").is_null())
        lb = lb.filter(pl.col("dup_group").is_null())
        if s.lag_bound_minutes and lp.height:
            # A scope whose pairs were too few to tell: the lag earlier days showed.
            unknown = scopes(lp).unique()
            prior = int(s.lag_bound_minutes * MINUTE_US)
            extra = pl.DataFrame({"scope": unknown, "bound": prior}, schema=bounds.schema)
            bounds = pl.concat([bounds, extra.join(bounds, on="scope", how="anti")])
        if lp.height and lb.height:
            cand = residual_candidates(
                lp,
                lb,
                shared,
                s,
                refs_comparable=comparable,
                fits=lambda a, b, keys: split(a, b, keys)[0],
                bound=_windows(bounds, scope, s),
                everyone=pos,
            )
            # (refused candidates are not chosen, but leave their rows open as ambiguous)
            chosen = resolve(cand.filter(~pl.col("refused"))).select("prow", "brow", "rule")
            found.append(chosen)
            # A copy of a row only the residual pass settled (a late settlement sent twice).
            if chosen.height:
                bank = _mark_bank_copies(bank, pl.concat(found), s.bank_duplicate_seconds)
            # Rows left open with candidates: their items say they were ambiguous.
            left = cand.join(chosen.select("prow"), on="prow", how="anti").join(
                chosen.select("brow"), on="brow", how="anti"
            )
            pos = annotate(pos, "prow", _open_candidates(left, "prow", "brow"), overwrite=True)
            bank = annotate(bank, "brow", _open_candidates(left, "brow", "prow"), overwrite=True)

    pos, bank = _with_open_candidates(pos), _with_open_candidates(bank)
    pairs = pl.concat(found).cast(PAIR_SCHEMA).sort("prow")
    return MatchOutcome(pos, bank, pairs, voids, _minutes(learnt))


def _minutes(bounds: pl.DataFrame) -> float | None:
    """One day's lag bound for the next runs: the widest a scope learnt, 0 where a scope's
    bank is slower than the window, None where no scope learnt."""
    if bounds.height == 0:
        return None
    if bounds["bound"].null_count():
        return 0.0
    return int(bounds["bound"].max()) / MINUTE_US


def _windows(bounds: pl.DataFrame, scope: list[str], s: MatchSettings) -> pl.Expr | None:
    """The residual window of each POS row where its scope's lag set a bound (None where no
    scope has one): the configured window, no wider than the bank's usual lag."""
    known = bounds.drop_nulls("bound")
    if known.height == 0:
        return None
    # (in days and back, as the window is configured)
    windows = [int(min(s.window_days, b / DAY_US) * DAY_US) for b in known["bound"]]
    if not scope:
        return pl.lit(windows[0], pl.Int64)
    return (
        pl.col("merchant")
        .to_physical()
        .cast(pl.UInt32)
        .replace_strict(known["scope"], pl.Series(windows, dtype=pl.Int64), default=None)
    )


def _with_open_candidates(frame: pl.DataFrame) -> pl.DataFrame:
    """The column every outcome has, null where no residual pass ran (a Null column is free)."""
    if "open_candidates" in frame.columns:
        return frame
    return frame.hstack(
        [pl.Series("open_candidates", dtype=pl.Null).extend_constant(None, frame.height)]
    )


def _open_candidates(left: pl.DataFrame, row: str, other: str) -> pl.DataFrame:
    """(row, open_candidates): how many residual candidates a row left open still has."""
    return left.group_by(row).agg(open_candidates=pl.col(other).n_unique().cast(pl.UInt32))


def _mark_pos_copies(pos: pl.DataFrame, pairs: pl.DataFrame) -> pl.DataFrame:
    """Without a card, a record left unsettled seconds after a settled one of the same amount on
    the same till (or in a ledger that names no till) is that sale recorded twice: a cashier
    system's double entry, a retry with a new order number. Two customers paying at one till
    are never that close, and each of them has a settlement of their own."""
    keys = ["amount", "currency", "terminal", "merchant", "dir"]
    taken = pl.zeros(pos.height, pl.Boolean, eager=True).scatter(pairs["prow"], True)
    rows = pos.lazy().select("prow", *keys, "time", "account", "kind", "dup_group", taken=taken)
    no_card = (
        pl.col("account").is_null()
        & pl.col("dup_group").is_null()
        & ~pl.col("kind").is_in(CANCEL_KINDS)
    )
    lone = rows.filter(no_card & ~pl.col("taken")).select("prow", *keys, "time")
    settled = rows.filter(no_card & pl.col("taken")).select(*keys, "time", of="prow")
    copies = (
        lone.join(settled, on=keys, nulls_equal=True)
        .with_columns(gap=(pl.col("time") - pl.col("time_right")).abs())
        .filter(pl.col("gap") <= pl.duration(seconds=NO_CARD_RETRY_SECONDS))
        .sort("gap", "of")
        .unique("prow", keep="first")
        .select("prow", "of")
        .collect()
    )
    return _group_copies(pos, copies, "retry", row="prow", offset=RETRY_GROUP)


def _group_copies(
    frame: pl.DataFrame,
    copies: pl.DataFrame,
    how: str,
    *,
    row: str = "brow",
    offset: int = COPY_GROUP,
) -> pl.DataFrame:
    """Put each copy (row, of) in one duplicate group with the row it copies: the `group` of
    `copies` where it has one (the original's own group), else the original's row + offset.
    Rows already in a group keep theirs."""
    if copies.height == 0:
        return frame
    group = pl.col("group") if "group" in copies.columns else pl.col("of") + offset
    group = group.cast(pl.Int64)
    members = pl.concat(
        [
            copies.select(pl.col(row).cast(pl.UInt32), group=group, primary=pl.lit(False)),
            copies.select(
                pl.col("of").cast(pl.UInt32).alias(row), group=group, primary=pl.lit(True)
            ),
        ]
    ).unique(row, keep="first")
    members = members.select(row, dup_group="group", dup_how=pl.lit(how), dup_primary="primary")
    grouped = frame.lazy().filter(pl.col("dup_group").is_not_null()).select(row).collect()
    members = members.join(grouped, on=row, how="anti")
    return annotate(frame, row, members, overwrite=True)


def _mark_bank_copies(bank: pl.DataFrame, pairs: pl.DataFrame, seconds: int) -> pl.DataFrame:
    """Join unmatched bank rows to the matched row they copy (same card, amount, terminal, a few
    minutes apart) into one duplicate group, so they are reported as a duplicate settlement and
    not as money of unknown origin. Needed when the bank side carries no references."""
    keys = ["account", "amount", "currency", "terminal", "merchant", "dir"]
    taken = pl.zeros(bank.height, pl.Boolean, eager=True).scatter(pairs["brow"], True)
    marked = bank.lazy().select(
        "brow", *keys, "time", "has_clock", "reference", "dup_group", taken=taken
    )
    # A row with neither card nor terminal could be anyone's money: never a copy.
    known = pl.col("account").is_not_null() | pl.col("terminal").is_not_null()
    lone = marked.filter(~pl.col("taken") & pl.col("dup_group").is_null() & known).select(
        "brow", *keys, "time", "has_clock", "reference"
    )
    # Only settled rows that share a lone row's keys can be its original.
    originals = marked.filter(pl.col("taken")).join(
        lone.select(keys).unique(), on=keys, how="semi", nulls_equal=True
    )
    both_clock = pl.col("has_clock").fill_null(True) & pl.col("has_clock_right").fill_null(True)
    # A statement dated by day puts a whole day's look-alike rows at one time: there a copy
    # must also carry its original's reference.
    same_ref = pl.col("reference").is_not_null() & (
        pl.col("reference") == pl.col("reference_right")
    )
    copies = (
        lone.join(
            originals.select(
                *keys, "time", "has_clock", "reference", of="brow", of_group="dup_group"
            ),
            on=keys,
            nulls_equal=True,
        )
        .with_columns(gap=(pl.col("time") - pl.col("time_right")).abs())
        .filter(pl.col("gap") <= pl.duration(seconds=seconds), both_clock | same_ref)
        .sort("gap", "of")
        .unique("brow", keep="first")
        .with_columns(group=pl.coalesce("of_group", pl.col("of").cast(pl.Int64) + COPY_GROUP))
        .collect()
    )
    # A copy joins a reference group its original already had.
    return _group_copies(bank, copies.select("brow", "of", "group"), "copy")


def annotate(
    frame: pl.DataFrame, row: str, ann: pl.DataFrame, *, overwrite: bool = False
) -> pl.DataFrame:
    """Add (or fill in) columns for the few rows listed in `ann`, by position.

    Rows are positions, so scattering into full-length columns avoids a join that would copy
    every column of a ten-million-row frame.
    """
    idx = ann[row].cast(pl.UInt32)
    cols = []
    for name in ann.columns:
        if name == row:
            continue
        values = ann[name]
        if overwrite and name in frame.columns:
            base = frame[name]
        else:
            base = pl.repeat(None, frame.height, dtype=values.dtype, eager=True).alias(name)
        cols.append(base.scatter(idx, values) if len(idx) else base)
    return frame.with_columns(cols)
