"""What the day's own settlements say about time: how long this bank takes, and the order in
which it pays look-alike sales.

A shop that sells from a short price list to regular cards has many rows that agree on every
key (card, amount, terminal). Among those, the settlement window alone lets a stray credit or a
copy pair with a sale hours away that was never settled. The settlements that are certain (by
reference, or the only candidate of their keys) show the bank's usual lag; among look-alike
rows a pairing much slower than that is not made. Where the bank is slow anyway (a night batch),
the bound is as wide as the window and changes nothing.

The lag is learnt per scope (recon.match.prepare.Day): per merchant when every record names
one (two shops of a day may be paid by different banks, and a merchant bucket of the streaming
and Spark engines then learns what the whole day would), else over the whole day.
"""

from __future__ import annotations

import polars as pl

from recon.match.prepare import lag_us, sweep_time

# The bound is this many times the 95th percentile of the certain pairs' lags...
LAG_FACTOR = 3
# ... and never tighter than this (clocks of two systems drift by a minute or two).
MIN_BOUND_US = 10 * 60 * 1_000_000
# Fewer certain pairs than this say nothing about the bank: no bound.
MIN_PAIRS = 30
# A bound is kept in minutes between runs (MatchSettings.lag_bound_minutes, a run's state).
MINUTE_US = 60_000_000


def pair_lags(pairs: pl.DataFrame, pos: pl.DataFrame, bank: pl.DataFrame) -> pl.Series:
    """Bank time minus POS time of each pair (microseconds); by day where a side has no clock."""
    p = pos.select(pl.col("time", "has_clock").gather(pairs["prow"]))
    b = bank.select(pl.col("time", "has_clock").gather(pairs["brow"]).name.suffix("_b"))
    return pl.concat([p, b], how="horizontal").select(lag_us()).to_series()


def bound_expr(window_us: int, lag: str = "lag") -> pl.Expr:
    """Per group of pairs' lags, the slowest plausible settlement among look-alike rows: null
    where fewer than MIN_PAIRS lags tell, or where it would not be tighter than the window."""
    lags = pl.col(lag).filter(pl.col(lag) >= 0)
    q95 = lags.quantile(0.95, interpolation="higher").cast(pl.Int64)
    bound = pl.max_horizontal(q95 * LAG_FACTOR, pl.lit(MIN_BOUND_US, pl.Int64))
    return pl.when((lags.len() >= MIN_PAIRS) & (bound < window_us)).then(bound)


def bound_of_minutes(minutes: pl.Expr, window_us: int) -> pl.Expr:
    """A bound kept in minutes as the matcher compares it (microseconds, no wider than the
    window); 0, a bank slower than the window, is the window; null stays null (none known)."""
    us = (minutes * MINUTE_US).cast(pl.Int64)
    return (
        pl.when(minutes > 0)
        .then(pl.min_horizontal(us, window_us))
        .when(minutes == 0)
        .then(window_us)
    )


def learn_bounds(
    known: pl.DataFrame, scopes: pl.Series, lags: pl.Series, window_us: int
) -> pl.DataFrame:
    """`known` (scope, bound: the scopes learnt so far, bound null where the lags set none)
    with the scopes not learnt yet that have MIN_PAIRS pairs among these (their `scopes` and
    `lags`, one per pair). A scope is a merchant, or the whole day (recon.match.prepare.Day);
    as for the day, fewer pairs than MIN_PAIRS say nothing and the scope learns later."""
    pairs = pl.DataFrame({"scope": scopes, "lag": lags})
    if known.height:
        pairs = pairs.join(known.select("scope"), on="scope", how="anti", nulls_equal=True)
    new = (
        pairs.group_by("scope")
        .agg(n=pl.len(), bound=bound_expr(window_us))
        .filter(pl.col("n") >= MIN_PAIRS)
        .select("scope", "bound")
    )
    return pl.concat([known, new.cast(known.schema)]) if new.height else known


def crowded(
    pairs: pl.DataFrame, pos: pl.DataFrame, bank: pl.DataFrame, keys: list[str]
) -> pl.Series:
    """Per pair: whether another row of either side shares the keys of its POS row or of its
    bank row (look-alike rows). Called for the few slow pairs only: the day's rows are probed
    against their keys, not grouped."""
    mine = pl.concat(
        [
            pos.select(pl.col(keys).gather(pairs["prow"])),
            bank.select(pl.col(keys).gather(pairs["brow"])),
        ]
    ).unique()

    def count(frame: pl.DataFrame, name: str) -> pl.DataFrame:
        return (
            frame.lazy()
            .select(keys)
            .join(mine.lazy(), on=keys, how="semi", nulls_equal=True)
            .group_by(keys)
            .agg(pl.len().alias(name))
            .collect()
        )

    counts = mine.join(count(pos, "n_pos"), on=keys, how="left", nulls_equal=True).join(
        count(bank, "n_bank"), on=keys, how="left", nulls_equal=True
    )
    many = counts.filter(
        (pl.col("n_pos").fill_null(0) > 1) | (pl.col("n_bank").fill_null(0) > 1)
    ).select(keys)

    def flagged(frame: pl.DataFrame, rows: pl.Series) -> pl.Series:
        side = frame.select(pl.col(keys).gather(rows)).with_row_index("i")
        hit = side.join(many, on=keys, how="semi", nulls_equal=True)["i"]
        return pl.zeros(len(rows), pl.Boolean, eager=True).scatter(hit, True)

    return flagged(pos, pairs["prow"]) | flagged(bank, pairs["brow"])


def in_order(
    pairs: pl.DataFrame, pos: pl.DataFrame, bank: pl.DataFrame, keys: list[str]
) -> pl.DataFrame:
    """Pairs of rows that agree on `keys` given first-with-first: within each group of look-alike
    pairs, the k-th sale in time with the k-th settlement in time.

    The sweep decides which rows pair (each settlement takes the most recent open sale, which
    leaves the right sale open when one was never settled); among the rows it paired, a bank
    pays look-alike sales in the order they were made. Both ends of the window rise with the
    sale's time, so the ordered pairing is inside the window wherever the sweep's was."""
    if pairs.height < 2:
        return pairs
    frame = pl.concat(
        [
            pairs.select("prow", "brow"),
            pos.select(pl.col(keys).gather(pairs["prow"])),
            pos.select(pt=sweep_time().gather(pairs["prow"])),
            bank.select(bt=sweep_time().gather(pairs["brow"])),
        ],
        how="horizontal",
    ).with_columns(g=pl.struct(keys).hash(seed=13))
    many = frame.filter(pl.len().over("g") > 1)
    if many.height == 0:
        return pairs
    rank_p = pl.int_range(pl.len()).over("g", order_by=["pt", "prow"])
    rank_b = pl.int_range(pl.len()).over("g", order_by=["bt", "brow"])
    reordered = many.select("g", "prow", k=rank_p).join(
        many.select("g", "brow", k=rank_b), on=["g", "k"]
    )
    single = frame.filter(pl.len().over("g") == 1).select("prow", "brow")
    return pl.concat([single, reordered.select("prow", "brow")]).cast(pairs.schema)
