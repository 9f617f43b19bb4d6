"""The passes that run after the strict ones, on what they left, and pair only the unambiguous.

`other_reference_pass`: a POS reference found among a bank row's other references (a
statement's end-to-end id, bank reference, ...) or as a whole token of its free text.

`unique_pairs`: the pairs in which each row has exactly one candidate. Used where a pairing
rests on weaker evidence than the strict passes (references that differ, or one key that
differs): a row with two candidates stays open, so precision never drops for recall.

`residual_candidates`: leftover pairs that agree on everything but exactly one of card,
currency or the settlement window (a second, longer window for late settlements), or that
differ in the amount by a keying pattern where no card can confirm the pair. Each candidate
carries the rule that names what differs; the classifier reports the difference.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from recon.config import MatchSettings
from recon.keying import amount_pattern, digits_pattern
from recon.match.prepare import ARRIVAL_BOUND, CARRIED, DAY_US, agrees, lag_us
from recon.match.timing import MIN_BOUND_US

# Whole tokens of a statement's free text that can be a reference: letters and digits, possibly
# joined by - _ . / (ORD-2026-0042), at least this long (short tokens are words and numbers).
_TOKEN = r"[0-9A-Za-z]+(?:[-_./][0-9A-Za-z]+)*"
MIN_TOKEN = 4

RESIDUAL_RULES = ("residual_card", "residual_currency", "residual_late", "residual_keying")


def _bank_keys(bank: pl.LazyFrame, scope: list[str] | None = None) -> pl.LazyFrame:
    """(brow, dir, *scope, key): every reference a bank row carries, upper-cased, once each.
    Words of the memo count only from MIN_TOKEN characters; references count whatever their
    length."""
    names = bank.collect_schema().names()
    row = ["brow", "dir", *(scope or [])]
    parts = [bank.select(*row, key=pl.col("reference"), word=pl.lit(False))]
    if "references" in names:
        refs = bank.select(*row, key=pl.col("references"), word=pl.lit(False))
        parts.append(refs.explode("key"))
    if "memo" in names:
        for pattern in (_TOKEN, r"[0-9A-Za-z]+"):
            tokens = pl.col("memo").str.extract_all(pattern)
            parts.append(bank.select(*row, key=tokens, word=pl.lit(True)).explode("key"))
    keys = pl.concat(parts).filter(pl.col("key").is_not_null())
    keys = keys.filter(~pl.col("word") | (pl.col("key").str.len_chars() >= MIN_TOKEN))
    return (
        keys.select(*row, key=pl.col("key").str.to_uppercase().str.strip_chars())
        .filter(pl.col("key") != "")
        .unique(maintain_order=True)
    )


def other_reference_pass(
    pos: pl.LazyFrame, bank: pl.LazyFrame, scope: list[str] | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Pairs (prow, brow) of leftover POS rows whose reference a leftover bank row carries
    among its other references or in its memo, and copies (brow, of): further bank rows that
    carry a paired POS reference (the sale settled twice). Within `scope` (Day.scope).

    A candidate with the same amount beats one without; a row with two equally good
    candidates stays open, except a POS reference found on several bank rows that carry no
    other POS reference: the earliest pays the sale, the others are copies of it."""
    scope = scope or []
    p = pos.filter(pl.col("reference").is_not_null()).select(
        "prow",
        "dir",
        *scope,
        "amount",
        key=pl.col("reference").str.to_uppercase().str.strip_chars(),
    )
    cand = (
        p.join(_bank_keys(bank, scope), on=["key", "dir", *scope])
        .join(bank.select("brow", "time", amount_b="amount"), on="brow")
        .select(
            "prow",
            "brow",
            "time",
            score=(pl.col("amount") != pl.col("amount_b")).cast(pl.Int8),
        )
        .unique(["prow", "brow"])
        .collect()
    )
    pairs = unique_rounds(cand)
    rest = cand.join(pairs.select("prow"), on="prow", how="anti").join(
        pairs.select("brow"), on="brow", how="anti"
    )
    settled_twice = (
        rest.filter(pl.len().over("brow") == 1)
        .filter(pl.col("score") == pl.col("score").min().over("prow"))
        .filter(pl.len().over("prow") > 1)
        .sort("prow", "time", "brow")
        .with_columns(first=pl.col("brow").first().over("prow"))
    )
    pairs = pl.concat(
        [
            pairs.select("prow", "brow"),
            settled_twice.filter(pl.col("brow") == pl.col("first")).select("prow", "brow"),
        ]
    )
    copies = settled_twice.filter(pl.col("brow") != pl.col("first")).select(
        "brow", of=pl.col("first")
    )
    return pairs, copies


def unique_pairs(cand: pl.DataFrame) -> pl.DataFrame:
    """The candidates whose POS row and bank row have no other candidate."""
    return cand.filter((pl.len().over("prow") == 1) & (pl.len().over("brow") == 1)).sort(
        "prow", "brow"
    )


def unique_rounds(cand: pl.DataFrame, max_rounds: int = 8) -> pl.DataFrame:
    """One-to-one pairs from candidates (prow, brow, score): a pair is taken when each row's
    best candidate (lowest score) is the other and no other candidate of either row scores as
    well. Then again on what is left once the rows they paired are taken: a row whose better
    candidates were taken has a clear best left. Rounds, not rows, are the loop."""
    if "score" not in cand.columns:
        cand = cand.with_columns(score=pl.lit(0, pl.Int8))
    chosen = []
    for _ in range(max_rounds):
        best = pl.col("score") == pl.col("score").min()
        pairs = cand.filter(
            best.over("prow")
            & best.over("brow")
            & (best.sum().over("prow") == 1)
            & (best.sum().over("brow") == 1)
        )
        if pairs.height == 0:
            break
        chosen.append(pairs)
        cand = cand.join(pairs.select("prow"), on="prow", how="anti").join(
            pairs.select("brow"), on="brow", how="anti"
        )
    return pl.concat(chosen).sort("prow") if chosen else cand.clear()


def _carried(frame: pl.DataFrame) -> pl.Expr:
    """Whether each row was carried from an earlier run (CARRIED; none is in a run without
    state)."""
    return pl.col(CARRIED).fill_null(False) if CARRIED in frame.columns else pl.lit(False)


# The most chance partners (_chance_partners) another card may have in a scheduled run and
# still be paired. On nightly months of look-alike shops (benchmarks/nightly.py) 0.3 let a
# third of such pairs be wrong where faults are rare (each type 0.25 % of sales: 16 wrong of
# 42, every sale by a regular); at 0.1 none were, and the months at the generator's 1 % are
# unchanged. Applied in runs without state too, it would cost days with prices from a wide
# catalogue their account mismatches, where such pairs are right (benchmarks/accuracy.py
# norefs F1 0.970 -> 0.907): it is not.
CHANCE_LIMIT = 0.1


def _chance_partners(
    everyone: pl.DataFrame,
    pos: pl.DataFrame,
    bank: pl.DataFrame,
    keys: list[str],
    span: pl.Expr,
) -> pl.DataFrame:
    """(prow, chance) of each leftover POS row (`pos`): how many of the leftover credits
    (`bank`) inside its usual lag (`span`, microseconds, of the POS row) would share its amount
    and till (`keys`) by chance, were they credits of the run's other sales at large: their
    count times the share of the run's other sales (`everyone` but the row) at that amount on
    that till. Counted within the row's merchant where `keys` has it (merchants never meet,
    and an engine that matches a day merchant by merchant counts the same)."""
    scope = [k for k in ("merchant",) if k in keys]
    # (only the sales of a leftover's amount are counted: a filter on one integer column)
    amounts = pos["amount"].unique().implode()
    freq = everyone.lazy().select(keys).filter(pl.col("amount").is_in(amounts)).group_by(keys).len()
    total = everyone.lazy().group_by(scope).len("_total") if scope else None
    rows = pos.lazy().select(
        "prow", "time", *keys, end=pl.col("time") + pl.duration(microseconds=span)
    )
    rows = rows.join(freq, on=keys, how="left", nulls_equal=True, maintain_order="left")
    if total is not None:
        rows = rows.join(total, on=scope, how="left", nulls_equal=True, maintain_order="left")
    else:
        rows = rows.with_columns(_total=pl.lit(everyone.height, pl.UInt32))
    # (collected once: both as-of joins below read it)
    # The share of the other sales (the row's own left out): a credit of another sale needs
    # another sale at that amount. (A one-sale day's only credit is its own, not a chance one.)
    others = (pl.col("len").fill_null(1) - 1) / pl.max_horizontal(pl.col("_total") - 1, 1)
    rows = rows.select("prow", *scope, "time", "end", share=others).collect()
    # How many credits of its merchant came up to a time: the rank in time of the last one, by an
    # as-of join (the credits ranked within their merchant, then ordered by time for the join).
    ranked = (
        bank.select(*scope, "time")
        .drop_nulls("time")
        .sort(*scope, "time")
        .with_columns(_rank=_within(pl.int_range(1, pl.len() + 1, dtype=pl.Int64), scope))
        .sort("time")
        .rename({"time": "_at"})
    )

    def credits_to(at: pl.Expr) -> pl.Series:
        """Each row's count of credits up to `at` (of the row), in the rows' order."""
        marks = rows.select("prow", *scope, _at=at).sort("_at")
        # (both sorted by time just above; with `by` polars cannot check it)
        found = marks.join_asof(
            ranked, on="_at", by=scope or None, strategy="backward", check_sortedness=False
        )
        found = rows.select("prow").join(found, on="prow", how="left", maintain_order="left")
        return found["_rank"].fill_null(0)

    # (from the row's time on: the credits up to just before it are not counted)
    before = credits_to(pl.col("time") - pl.duration(microseconds=1))
    credits = (credits_to(pl.col("end")) - before).alias("_credits")
    return rows.with_columns(credits).select("prow", chance=pl.col("_credits") * pl.col("share"))


def _usual_lag(bound: pl.Expr, s: MatchSettings) -> pl.Expr:
    """The lag (microseconds) a pair must keep when only the amount, till and time speak for
    it: half the bank's bound (one and a half times the certain pairs' 95th percentile, see
    recon.match.timing), a lag the day's settlements showed and not only a plausible one; the
    window where no bound is known."""
    typical = pl.when(bound.is_not_null()).then(pl.max_horizontal(bound // 2, MIN_BOUND_US))
    return typical.otherwise(int(s.window_days * DAY_US))


def _within(expr: pl.Expr, scope: list[str]) -> pl.Expr:
    """`expr` over the groups of `scope`, or the whole frame where it is empty."""
    return expr.over(scope) if scope else expr


def _judged(
    pos: pl.DataFrame,
    bank: pl.DataFrame,
    join_keys: list[str],
    s: MatchSettings,
    comparable: pl.Expr,
    bound: pl.Expr,
) -> pl.LazyFrame:
    """Candidate pairs joined on `join_keys`, with what each pair agrees on. `comparable` and
    `bound` are read of the POS row (see residual_candidates)."""
    cols = ["dir", "time", "has_clock", "amount", "currency", "reference", "terminal"]
    cols += ["merchant", "last4", "first6"]
    p = pos.lazy().select("prow", *cols, comparable=comparable, bound=bound, carried=_carried(pos))
    # (a bank record carried from an earlier day: that day's lag, see ARRIVAL_BOUND)
    own = pl.col(ARRIVAL_BOUND) if ARRIVAL_BOUND in bank.columns else pl.lit(None, pl.Int64)
    b = bank.lazy().select("brow", *cols, own_bound=own, carried_b=_carried(bank))
    b = b.rename({c: f"{c}_b" for c in cols})
    j = p.join(b, left_on=join_keys, right_on=[f"{k}_b" for k in join_keys])
    # the join keys are equal: keep both names for the checks below
    j = j.with_columns(pl.col(k).alias(f"{k}_b") for k in join_keys)
    lag = lag_us()

    def differs(c: str) -> pl.Expr:
        return pl.col(c).is_not_null() & pl.col(f"{c}_b").is_not_null() & ~agrees(c)

    window = int(s.window_days * DAY_US)
    late = int(max(s.late_window_days, s.window_days) * DAY_US)
    bound = pl.coalesce("own_bound", "bound")
    typical = _usual_lag(bound, s)
    return j.with_columns(lag=lag).with_columns(
        keys_agree=agrees("terminal") & agrees("merchant"),
        card_agree=agrees("last4") & agrees("first6"),
        card_differs=differs("last4") | differs("first6"),
        same_currency=pl.col("currency") == pl.col("currency_b"),
        same_amount=pl.col("amount") == pl.col("amount_b"),
        # (inside the bank's usual lag where the day taught one, see recon.match.timing)
        in_window=(pl.col("lag") >= 0) & (pl.col("lag") <= pl.coalesce(bound, window)),
        in_typical=(pl.col("lag") >= 0) & (pl.col("lag") <= typical),
        in_late=(pl.col("lag") > window) & (pl.col("lag") <= late),
        refs_differ=pl.col("reference").is_not_null()
        & pl.col("reference_b").is_not_null()
        & pl.col("comparable"),
        # How much the cards say against the pair: the same card 0; unknown on a side, or a
        # card keyed wrong (digits of the last four transposed or one mistyped) 2; another
        # card 4 (a late settlement adds 3, see residual_candidates).
        score=pl.when(agrees("last4") & agrees("first6") & pl.col("last4").is_not_null())
        .then(pl.lit(0, pl.Int8))
        .when(agrees("last4") & agrees("first6"))
        .then(pl.lit(2, pl.Int8))
        .when(agrees("first6") & digits_pattern(pl.col("last4"), pl.col("last4_b")).is_not_null())
        .then(pl.lit(2, pl.Int8))
        .otherwise(pl.lit(4, pl.Int8)),
    )


def residual_candidates(
    pos: pl.DataFrame,
    bank: pl.DataFrame,
    shared: list[str],
    s: MatchSettings,
    *,
    refs_comparable: pl.Expr,
    fits: Callable[
        [pl.DataFrame, pl.DataFrame, list[str]], list[tuple[pl.DataFrame, pl.DataFrame]]
    ],
    bound: pl.Expr | None = None,
    everyone: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """(prow, brow, rule, lag) of every residual candidate, each named by what differs.

    `shared` are the optional keys both files carry; terminal and merchant are never relaxed.
    Where references are comparable (`refs_comparable`, of the POS row), two rows that both
    carry one (they differ: equal ones paired already) are never a residual candidate: two
    signals against one pairing. `bound` (of the POS row, microseconds; null for none) is the
    bank's usual lag (recon.match.timing), the window of a pair that differs. `fits` splits
    the rows of a variant into parts whose candidates fit in memory (rows it leaves out have
    too many: that variant is not tried for them). `refused`: a candidate that is not to be
    chosen, only to leave its rows open as ambiguous (see residual_card). `everyone`: every
    POS row of the run, for how often its till rings an amount up.
    """
    fixed = [k for k in ("terminal", "merchant") if k in shared]
    bound = pl.lit(None, pl.Int64) if bound is None else bound
    card = [k for k in ("last4", "first6") if k in shared]
    # (rule, keys, condition, refused: see above)
    variants: list[tuple[str, list[str], pl.Expr, pl.Expr]] = []
    c = pl.col
    no = pl.lit(False)
    chance: pl.DataFrame | None = None  # (prow, chance) in a scheduled run
    if card:
        # A wrong card on the right amount, terminal and time. Another card altogether (not
        # the same card keyed wrong) leaves the amount, terminal and time as the only signs
        # for the pair: among look-alike sales (a price list, regular cards) a stray credit
        # meets them by chance within a generous bound, so the lag must be a usual one.
        usual = pl.when(c("score") >= 4).then(c("in_typical")).otherwise(c("in_window"))
        cond = c("same_currency") & usual & c("card_differs")
        # Two records carried from earlier runs met in the run before this one and were left
        # open (ambiguous, or the lag was not a usual one): what has changed since is only that
        # other records were taken, which makes such a pair look rarer than it was. Another card
        # altogether is then not paired (only shown as a candidate); a card keyed wrong still is.
        refused = c("carried") & c("carried_b") & (c("score") >= 4)
        if everyone is not None and CARRIED in pos.columns:
            # A scheduled run (the state's: its records carry CARRIED) leaves open what it cannot
            # tell from chance: the records meet tomorrow's files, where the sale's own payment
            # or the credit's own sale may come, and a pair made today would keep them from it.
            # Another card is paired there only where a credit of its amount on its till would
            # rarely be left over by chance (see _chance_partners). A run without state has
            # no tomorrow and pairs as before.
            look = ["dir", "amount", "currency", *fixed]
            chance = _chance_partners(everyone, pos, bank, look, _usual_lag(bound, s))
            refused = refused | ((c("score") >= 4) & (c("chance") > CHANCE_LIMIT))
        variants.append(("residual_card", ["dir", "amount", "currency", *fixed], cond, refused))
    # The right sale settled in another currency (the terminal's currency setting).
    cond = ~c("same_currency") & c("in_window") & c("card_agree")
    variants.append(("residual_currency", ["dir", "amount", *fixed, *card], cond, no))
    if s.late_window_days > s.window_days:
        cond = c("same_currency") & c("in_late") & c("card_agree")
        variants.append(("residual_late", ["dir", "amount", "currency", *fixed, *card], cond, no))
    if s.amount_tolerant_pass and "last4" not in shared:
        # No card to confirm a keying error: the terminal and the window must, uniquely.
        cond = c("same_currency") & c("in_window") & ~c("same_amount")
        cond = cond & amount_pattern(c("amount"), c("amount_b")).is_not_null()
        variants.append(("residual_keying", ["dir", "currency", *fixed], cond, no))
    found = []
    row_keys = ["amount", "currency", "terminal", "merchant", "last4", "first6"]
    for rule, keys, cond, refused in variants:
        lp, lb = pos.drop_nulls(keys), bank.drop_nulls(keys)
        if lp.height == 0 or lb.height == 0:
            continue
        for part_p, part_b in fits(lp, lb, keys):
            judged = _judged(part_p, part_b, keys, s, refs_comparable, bound)
            judged = judged.filter(cond & c("keys_agree") & ~c("refs_differ"))
            if rule == "residual_card" and chance is not None:
                judged = judged.join(chance.lazy(), on="prow", how="left")
            judged = judged.with_columns(refused=refused)
            if rule == "residual_late":
                # Settled days late is less likely than a card keyed wrong inside the usual
                # lag, more likely than another card.
                judged = judged.with_columns(score=c("score") + 3)
            found.append(
                judged.select(
                    "prow",
                    "brow",
                    "lag",
                    "score",
                    "time",
                    "time_b",
                    "refused",
                    rule=pl.lit(rule),
                    pkey=pl.struct(row_keys).hash(seed=17),
                    bkey=pl.struct([f"{k}_b" for k in row_keys]).hash(seed=17),
                ).collect()
            )
    if not found:
        return pl.DataFrame(
            schema={
                "prow": pl.UInt32,
                "brow": pl.UInt32,
                "lag": pl.Int64,
                "score": pl.Int8,
                "time": pl.Datetime("us"),
                "time_b": pl.Datetime("us"),
                "refused": pl.Boolean,
                "rule": pl.String,
                "pkey": pl.UInt64,
                "bkey": pl.UInt64,
            }
        )
    return pl.concat(found).unique(["prow", "brow"], keep="first", maintain_order=True)


def resolve(cand: pl.DataFrame) -> pl.DataFrame:
    """Residual pairs: the clear bests (unique_rounds), then groups of interchangeable rows.

    Rows that agree on every key (card, amount, terminal...) and differ only in time cannot be
    told apart: when n such sales and n such settlements are all each other's candidates under
    one rule, whichever way they pair the items say the same, so they pair first with first.
    Groups whose sizes differ stay open: which sale the bank left out is not known."""
    chosen = unique_rounds(cand)
    rest = cand.join(chosen.select("prow"), on="prow", how="anti").join(
        chosen.select("brow"), on="brow", how="anti"
    )
    groups = ["rule", "pkey", "bkey"]
    # Only each row's best candidates; a row with them in two groups could belong to either.
    best = pl.col("score") == pl.col("score").min()
    rest = rest.filter(best.over("prow") & best.over("brow"))
    rest = rest.filter(pl.len().over("prow") == pl.len().over(["prow", *groups]))
    rest = rest.filter(pl.len().over("brow") == pl.len().over(["brow", *groups]))
    size = rest.with_columns(
        n_p=pl.col("prow").n_unique().over(groups),
        n_b=pl.col("brow").n_unique().over(groups),
        n=pl.len().over(groups),
    )
    full = size.filter((pl.col("n_p") == pl.col("n_b")) & (pl.col("n") == pl.col("n_p") ** 2))
    if full.height == 0:
        return chosen
    p_rank = full.unique("prow").select(
        *groups, "prow", k=pl.int_range(pl.len()).over(groups, order_by=["time", "prow"])
    )
    b_rank = full.unique("brow").select(
        *groups, "brow", k=pl.int_range(pl.len()).over(groups, order_by=["time_b", "brow"])
    )
    ordered = p_rank.join(b_rank, on=[*groups, "k"]).select("prow", "brow", "rule")
    return pl.concat([chosen.select("prow", "brow", "rule"), ordered])
