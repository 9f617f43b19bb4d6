"""Before matching: derived keys, void pairs and duplicate groups, all per side.

A sale and its void share a reference and cancel each other; a duplicate group is one sale
recorded more than once (the same reference twice, or a network retry: the same card, amount
and terminal within a few seconds). Each group keeps one primary record; the others are
flagged but still allowed to match a settlement of their own (a double charge settles twice).
"""

from __future__ import annotations

import polars as pl

from recon.schema import CANCEL_KINDS

DAY_US = 86_400_000_000


def derive(lf: pl.LazyFrame, row: str) -> pl.LazyFrame:
    """Add the row index and the keys the matcher compares on."""
    digits = pl.col("account").str.replace_all(r"[^0-9*]", "")
    return lf.with_row_index(row).with_columns(
        dir=pl.when(pl.col("amount") < 0).then(pl.lit(-1, pl.Int8)).otherwise(pl.lit(1, pl.Int8)),
        last4=digits.str.extract(r"(\d{4})$", 1),
        first6=digits.str.extract(r"^(\d{6})", 1),
        # A date-only row sorts at the end of its day, so a booking dated the sale's own day
        # counts as after the sale.
        sweep_time=pl.when(pl.col("has_clock").fill_null(True))
        .then(pl.col("time"))
        .otherwise(pl.col("time").dt.truncate("1d") + pl.duration(microseconds=DAY_US - 1)),
    )


def void_pairs(pos: pl.LazyFrame) -> pl.LazyFrame:
    """Pair each void/reversal with the sale it cancels: (sale_row, void_row).

    With a reference: the n-th cancel of a reference pairs with its n-th sale. Without one: the
    latest earlier sale of the same card, terminal and absolute amount.
    """
    cancels = pos.filter(pl.col("kind").is_in(CANCEL_KINDS))
    sales = pos.filter(pl.col("kind") == "sale")
    occ = pl.int_range(pl.len()).over("reference", order_by=["time", "prow"])
    by_ref = (
        cancels.filter(pl.col("reference").is_not_null())
        .select("reference", void_row="prow", occ=occ)
        .join(
            sales.filter(pl.col("reference").is_not_null()).select(
                "reference", sale_row="prow", occ=occ
            ),
            on=["reference", "occ"],
        )
        .select("sale_row", "void_row")
    )
    keys = ["account", "terminal", "abs_amount"]
    no_ref = (
        cancels.filter(pl.col("reference").is_null() & pl.col("account").is_not_null())
        .with_columns(abs_amount=pl.col("amount").abs())
        .select(*keys, "time", void_row="prow")
        .sort("time")
        .join_asof(
            sales.filter(pl.col("account").is_not_null())
            .with_columns(abs_amount=pl.col("amount").abs())
            .select(*keys, "time", sale_row="prow")
            .sort("time"),
            on="time",
            by=keys,
            strategy="backward",
            check_sortedness=False,
        )
        .filter(pl.col("sale_row").is_not_null())
        .select("sale_row", "void_row")
    )
    pairs = pl.concat([by_ref, no_ref])
    # One void per sale and one sale per void, first come first served.
    return pairs.unique("void_row", keep="first", maintain_order=True).unique(
        "sale_row", keep="first", maintain_order=True
    )


def duplicate_groups(
    lf: pl.LazyFrame, row: str, seconds: int, *, retry_needs_clock: bool
) -> pl.LazyFrame:
    """Return (row, dup_group, dup_how, dup_primary) for records that belong to a duplicate group.

    dup_how is 'retry' (same card, amount, terminal within `seconds`) or 'reference'. Cancels
    are left out: a void shares its sale's reference by design.
    """
    base = lf.filter(~pl.col("kind").is_in(CANCEL_KINDS))
    retry_keys = ["account", "amount", "terminal", "merchant", "currency"]
    cand = base.filter(pl.col("account").is_not_null())
    if retry_needs_clock:
        cand = cand.filter(pl.col("has_clock").fill_null(True) & pl.col("reference").is_null())
    gap = pl.col("time").diff().over(retry_keys, order_by=["time", row])
    retry = (
        cand.select(row, "time", "reference", *retry_keys)
        .with_columns(new=(gap.is_null() | (gap > pl.duration(seconds=seconds))))
        .with_columns(cluster=pl.col("new").cum_sum().over(retry_keys, order_by=["time", row]))
        .with_columns(
            size=pl.len().over([*retry_keys, "cluster"]),
            refs=pl.col("reference").n_unique().over([*retry_keys, "cluster"])
            - pl.col("reference").null_count().over([*retry_keys, "cluster"]).clip(0, 1),
            gid=pl.concat_str(
                pl.lit("R"),
                pl.col(row).min().over([*retry_keys, "cluster"]).cast(pl.String),
            ),
        )
        # Records with two different references are two sales, however close in time.
        .filter((pl.col("size") > 1) & (pl.col("refs") <= 1))
        .select(row, retry_gid="gid")
    )
    by_ref = (
        base.filter(pl.col("reference").is_not_null())
        .with_columns(size=pl.len().over("reference", "dir"))
        .filter(pl.col("size") > 1)
        .select(
            row,
            ref_gid=pl.concat_str(
                pl.lit("F"), pl.col(row).min().over("reference", "dir").cast(pl.String)
            ),
        )
    )
    groups = (
        base.select(row, "time", "reference")
        .join(retry, on=row, how="left")
        .join(by_ref, on=row, how="left")
        .with_columns(
            dup_group=pl.coalesce("retry_gid", "ref_gid"),
            dup_how=pl.when(pl.col("retry_gid").is_not_null())
            .then(pl.lit("retry"))
            .when(pl.col("ref_gid").is_not_null())
            .then(pl.lit("reference")),
        )
        .filter(pl.col("dup_group").is_not_null())
        .with_columns(size=pl.len().over("dup_group"))
        .filter(pl.col("size") > 1)
    )
    # The primary is the record with a reference, then the earliest.
    rank = pl.int_range(pl.len()).over(
        "dup_group",
        order_by=[pl.col("reference").is_null(), pl.col("time"), pl.col(row)],
    )
    return groups.select(row, "dup_group", "dup_how", dup_primary=rank == 0)
