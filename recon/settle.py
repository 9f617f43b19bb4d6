"""Batch settlements: one bank deposit pays many POS sales, net of the acquirer's fees.

Runs on what the one-to-one passes left: free POS sales and refunds, free bank rows. Sales are
grouped the way an acquirer batches them (the batch number when both sides carry one, else the
configured keys and the business day by the cut-off time), each group's expected fee and net are
computed from the fee rules, and groups are paired with deposits:

1. exact: the deposit equals gross - expected fee (within the tolerance), on the expected
   settlement date or up to `slack_days` later;
2. split: two deposits of the same key together equal one group's net;
3. explained: a deposit paired with a group by key and date that differs: one or two sales of
   the group whose nets make up a short deposit are named as missing from it; a free sale of
   the same key whose net makes up a long one is named as paid in it; otherwise a shortfall
   within `max_fee_rate` of the gross is a fee_mismatch, anything else an amount_mismatch.

Every step is joins, group-bys and rounds of mutual best choices: no loop over rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from decimal import Decimal

import polars as pl

from recon.config import SettlementSettings
from recon.match.passes import nearest_pairs
from recon.money import digits_expr

_DIGITS = range(0, 5)
_E8 = 100_000_000
# The most chance matches (expected count) a named set of missing sales may have.
CHANCE = 0.05


@dataclass(frozen=True)
class Settled:
    members: pl.DataFrame  # prow, brow, group_id, rule: POS rows paid by a deposit
    deposit_rows: pl.DataFrame  # brow, group_id: bank rows that are deposits of a group
    groups: pl.DataFrame  # one row per deposit group (see _GROUP_SCHEMA)
    missing: pl.DataFrame  # prow, group_id: sales named as missing from a deposit
    pending: pl.DataFrame  # prow, expected: unsettled sales whose settlement is not yet due


_GROUP_SCHEMA: dict[str, pl.DataType] = {
    "group_id": pl.String(),
    "status": pl.String(),  # matched split missing moved extra fee_mismatch short long
    "brows": pl.List(pl.UInt32()),
    "prows": pl.List(pl.UInt32()),
    "gross": pl.Int64(),
    "fee_expected": pl.Int64(),
    "deposit": pl.Int64(),
    "currency": pl.String(),
    "merchant": pl.String(),
    "batch": pl.String(),
    "business_day": pl.Date(),
    "expected": pl.Date(),
    "deposit_day": pl.Date(),
}


def scheme_expr(first6: pl.Expr) -> pl.Expr:
    """The card scheme from the card's first digits (BIN ranges); 'unknown' without a card."""
    s = first6.cast(pl.String)
    two, four = s.str.slice(0, 2).cast(pl.Int32), s.str.slice(0, 4).cast(pl.Int32)
    return (
        pl.when(s.str.starts_with("4"))
        .then(pl.lit("visa"))
        .when(two.is_between(51, 55) | four.is_between(2221, 2720))
        .then(pl.lit("mastercard"))
        .when(two == 62)
        .then(pl.lit("unionpay"))
        .when(two.is_in([34, 37]))
        .then(pl.lit("amex"))
        .when(two == 35)
        .then(pl.lit("jcb"))
        .when(s.str.starts_with("6011") | (two == 65) | four.is_between(6440, 6499))
        .then(pl.lit("discover"))
        .when(two.is_in([30, 36, 38]))
        .then(pl.lit("diners"))
        .otherwise(pl.lit("unknown"))
    )


def _minor(value: Decimal, digits: int) -> int:
    return int((value * 10**digits).to_integral_value())


def _fee_table(cfg: SettlementSettings) -> pl.DataFrame:
    """One row per rule and currency precision: scheme, kind, digits, rate_e8, fixed, cap."""
    rows = [
        {
            "f_scheme": r.scheme,
            "f_kind": r.kind,
            "digits": d,
            "rate_e8": int(r.rate * _E8),
            "fixed": _minor(r.fixed, d),
            "cap": None if r.cap is None else _minor(r.cap, d),
        }
        for r in cfg.fees
        for d in _DIGITS
    ]
    schema = {
        "f_scheme": pl.String,
        "f_kind": pl.String,
        "digits": pl.Int32,
        "rate_e8": pl.Int64,
        "fixed": pl.Int64,
        "cap": pl.Int64,
    }
    return pl.DataFrame(rows, schema=schema)


def expected_fee(sales: pl.DataFrame, cfg: SettlementSettings) -> pl.Series:
    """Each row's fee in minor units: round-half-up(|amount| x rate) + fixed, at most cap.

    The most specific rule wins: scheme and kind, then scheme, then kind, then `*`."""
    table = _fee_table(cfg).with_row_index("rid")
    if table.height == 0:
        return pl.Series("fee", [0] * sales.height, dtype=pl.Int64)
    base = sales.select(
        pl.col("scheme"),
        pl.col("kind"),
        digits_expr(pl.col("currency")).cast(pl.Int32).alias("digits"),
    )
    levels = []
    for by_scheme, by_kind in ((True, True), (True, False), (False, True), (False, False)):
        level = table.filter(
            (pl.col("f_scheme") != "*") == by_scheme, (pl.col("f_kind") != "*") == by_kind
        )
        left, right = ["digits"], ["digits"]
        if by_scheme:
            left, right = [*left, "scheme"], [*right, "f_scheme"]
        if by_kind:
            left, right = [*left, "kind"], [*right, "f_kind"]
        levels.append(
            base.join(
                level.unique(right, keep="first", maintain_order=True).select(*right, "rid"),
                left_on=left,
                right_on=right,
                how="left",
                maintain_order="left",
            )["rid"]
        )
    rid = pl.select(pl.coalesce(levels)).to_series()
    rule = table.select(pl.all().gather(rid.fill_null(0)))
    raw = (sales["amount"].abs() * rule["rate_e8"] + _E8 // 2) // _E8 + rule["fixed"]
    capped = pl.select(pl.min_horizontal(raw, rule["cap"].fill_null(raw))).to_series()
    # A row no rule names (refunds, unless a rule says otherwise) carries no fee.
    return pl.select(pl.when(rid.is_null()).then(0).otherwise(capped)).to_series().alias("fee")


def _empty() -> Settled:
    return Settled(
        members=pl.DataFrame(
            schema={"prow": pl.UInt32, "brow": pl.UInt32, "group_id": pl.String, "rule": pl.String}
        ),
        deposit_rows=pl.DataFrame(schema={"brow": pl.UInt32, "group_id": pl.String}),
        groups=pl.DataFrame(schema=_GROUP_SCHEMA),
        missing=pl.DataFrame(schema={"prow": pl.UInt32, "group_id": pl.String}),
        pending=pl.DataFrame(schema={"prow": pl.UInt32, "expected": pl.Date}),
    )


def _filled(frame: pl.DataFrame, col: str) -> bool:
    return col in frame.columns and frame[col].null_count() < frame.height


def business_day(cutoff: str) -> pl.Expr:
    """The acquirer's business day of a sale: sales at or after the cut-off count to the next
    day. Date-only rows keep their date."""
    h, m = (int(x) for x in cutoff.split(":")[:2])
    shift = (24 * 60 - (h * 60 + m)) % (24 * 60)
    shifted = pl.col("time") + pl.duration(minutes=shift)
    return (
        pl.when(pl.col("has_clock").fill_null(True))
        .then(shifted)
        .otherwise(pl.col("time"))
        .dt.date()
    )


def expected_date(day: pl.Expr, cfg: SettlementSettings) -> pl.Expr:
    """T+N business days; a sale on a weekend or holiday counts from the business day before
    it, so Saturday's sales are paid with Friday's batch on T+1."""
    week = (True,) * 5 + ((False, False) if cfg.weekends else (True, True))
    holidays = [pl.Series([d]).str.to_date().item() for d in cfg.holidays]
    return day.dt.add_business_days(cfg.t_plus, week_mask=week, holidays=holidays, roll="backward")


def _tolerance(cfg: SettlementSettings) -> pl.Expr:
    e8 = int(cfg.tolerance * _E8)
    return pl.lit(e8, pl.Int64) * pl.lit(10, pl.Int64).pow(digits_expr(pl.col("currency"))) // _E8


def settle(
    pos: pl.DataFrame,
    bank: pl.DataFrame,
    p_free: pl.Series,
    b_free: pl.Series,
    cfg: SettlementSettings,
) -> Settled:
    """Pair groups of free POS sales with free bank deposits (see the module docstring)."""
    if not cfg.enabled:
        return _empty()
    sales = pos.filter(p_free & pos["kind"].is_in(["sale", "refund"]))
    deps = bank.filter(b_free)
    if sales.height == 0 or bank.height == 0:
        return _empty()
    as_of = bank["time"].max().date()  # type: ignore[union-attr]

    sales = sales.with_columns(
        scheme=scheme_expr(pl.col("first6")), business_day=business_day(cfg.cutoff)
    )
    sales = sales.with_columns(fee=expected_fee(sales, cfg)).with_columns(
        net=pl.col("amount") - pl.col("fee"),
        expected=expected_date(pl.col("business_day"), cfg),
    )
    if deps.height == 0:
        # nothing to pair: only the sales that are not due yet are told apart
        return replace(_empty(), pending=_pending(sales, [], as_of))
    dep_batch = pl.col("reference").str.extract(cfg.batch_pattern, 1)
    if "batch" in deps.columns:
        dep_batch = pl.coalesce(pl.col("batch"), dep_batch)
    deps = deps.with_columns(dbatch=dep_batch, deposit_day=pl.col("time").dt.date())

    batch_mode = _filled(sales, "batch") and deps["dbatch"].null_count() < deps.height
    shared = [k for k in ("merchant", "terminal") if _filled(sales, k) and _filled(deps, k)]
    shared = [k for k in shared if k == "merchant" or k in cfg.group_by]
    pos_only = [k for k in cfg.group_by if k not in shared and (k == "scheme" or _filled(sales, k))]
    join_keys = [*shared, "currency"]
    if batch_mode:
        sales = sales.with_columns(gkey=pl.col("batch"))
        deps = deps.with_columns(gkey=pl.col("dbatch"))
        join_keys.append("gkey")
        pos_only = []
    group_keys = [*join_keys, *pos_only] + ([] if batch_mode else ["business_day"])

    groups = (
        sales.group_by(group_keys)
        .agg(
            *([pl.col("business_day").min()] if batch_mode else []),
            prows=pl.col("prow").sort(),
            gross=pl.col("amount").sum(),
            fee_expected=pl.col("fee").sum(),
            expected=pl.col("expected").max(),
        )
        .sort(pl.col("prows").list.first())
        .with_row_index("gi")
        .with_columns(net=pl.col("gross") - pl.col("fee_expected"), tol=_tolerance(cfg))
    )
    if batch_mode:
        groups = groups.with_columns(batch=pl.col("gkey"))
    sales = sales.join(
        groups.select("gi", "prows").explode("prows").rename({"prows": "prow"}),
        on="prow",
        how="left",
        maintain_order="left",
    )

    def in_window(day: str = "deposit_day") -> pl.Expr:
        lo = pl.col("business_day") if batch_mode else pl.col("expected")
        return pl.col(day).is_between(lo, pl.col("expected") + pl.duration(days=cfg.slack_days))

    def days_late(day: str = "deposit_day") -> pl.Expr:
        return (pl.col(day) - pl.col("expected")).dt.total_days().abs()

    dep_cols = ["brow", "amount", "deposit_day", *join_keys]
    cand = groups.join(deps.select(dep_cols), on=join_keys).filter(in_window())
    cand = cand.with_columns(diff=pl.col("amount") - pl.col("net"))

    # 1. exact
    exact = nearest_pairs(
        cand.filter(pl.col("diff").abs() <= pl.col("tol")).select(
            prow="gi", brow="brow", lag=days_late() * 10**15 + pl.col("diff").abs()
        )
    )
    paired = [exact.select(gi="prow", brow="brow").with_columns(status=pl.lit("matched"))]

    # 2. one group, two deposits
    used_g = exact["prow"]
    used_b = exact["brow"]
    rest = deps.filter(~pl.col("brow").is_in(used_b.implode()))
    halves = (
        rest.select(dep_cols)
        .join(rest.select(dep_cols), on=join_keys, suffix="_2")
        .filter(pl.col("brow") < pl.col("brow_2"))
        .with_columns(total=pl.col("amount") + pl.col("amount_2"))
    )
    split = (
        groups.filter(~pl.col("gi").is_in(used_g.implode()))
        .join(halves, on=join_keys)
        .filter(
            in_window(),
            in_window("deposit_day_2"),
            (pl.col("total") - pl.col("net")).abs() <= pl.col("tol"),
        )
        .with_columns(pair=pl.col("brow").cast(pl.UInt64) * (1 << 32) + pl.col("brow_2"))
    )
    chosen = nearest_pairs(
        split.select(prow="gi", brow="pair", lag=days_late() + days_late("deposit_day_2"))
    )
    chosen = (
        chosen.with_columns(
            b1=(pl.col("brow") // (1 << 32)).cast(pl.UInt32),
            b2=(pl.col("brow") % (1 << 32)).cast(pl.UInt32),
        )
        # a deposit in two chosen pairs keeps the first
        .filter(~pl.col("b1").is_duplicated() | (pl.col("b1").cum_count().over("b1") == 1))
    )
    for b in ("b1", "b2"):
        paired.append(chosen.select(gi="prow", brow=b).with_columns(status=pl.lit("split")))
    used_g = pl.concat([used_g, chosen["prow"]])
    used_b = pl.concat([used_b, chosen["b1"], chosen["b2"]])

    # 3. paired by key and date only; the difference is explained below
    loose = nearest_pairs(
        cand.filter(
            ~pl.col("gi").is_in(used_g.implode()), ~pl.col("brow").is_in(used_b.implode())
        ).select(prow="gi", brow="brow", lag=days_late() * 10**15 + pl.col("diff").abs())
    ).select(gi="prow", brow="brow")
    loose = loose.join(
        cand.select("gi", "brow", "diff", "gross", "tol", *join_keys), on=["gi", "brow"]
    )
    used_g = pl.concat([used_g, loose["gi"]])

    missing = _missing_sales(loose, sales)
    extra = _paid_elsewhere(loose, cand, sales, missing, used_g, join_keys, cfg)
    # a sale paid in another deposit is not missing from its own
    moved = missing.filter(pl.col("prow").is_in(extra["prow"].implode()))
    missing = missing.filter(~pl.col("prow").is_in(extra["prow"].implode()))

    max_rate_e8 = int(cfg.max_fee_rate * _E8)
    loose = loose.with_columns(
        status=pl.when(pl.col("gi").is_in(missing["gi"].implode()))
        .then(pl.lit("missing"))
        .when(pl.col("gi").is_in(moved["gi"].implode()))
        .then(pl.lit("moved"))
        .when(pl.col("gi").is_in(extra["gi"].implode()))
        .then(pl.lit("extra"))
        .when((pl.col("diff") < 0) & (-pl.col("diff") * _E8 <= pl.col("gross") * max_rate_e8))
        .then(pl.lit("fee_mismatch"))
        .when(pl.col("diff") < 0)
        .then(pl.lit("short"))
        .otherwise(pl.lit("long"))
    )
    paired.append(loose.select("gi", "brow", "status"))
    pairs = pl.concat(paired)

    # Group ids follow the deposit's position, so they are stable for one input.
    ids = (
        pairs.group_by("gi")
        .agg(brows=pl.col("brow").sort(), status=pl.col("status").first())
        .sort(pl.col("brows").list.first())
        .with_columns(
            group_id=pl.format(
                "G{}", (pl.int_range(1, pl.len() + 1) + 1_000_000).cast(pl.String).str.slice(1)
            )
        )
    )
    missing = missing.join(ids.select("gi", "group_id"), on="gi").select("prow", "group_id")
    members = (
        sales.filter(pl.col("gi").is_in(ids["gi"].implode()))
        .select("prow", "gi")
        .filter(
            ~pl.col("prow").is_in(missing["prow"].implode()),
            ~pl.col("prow").is_in(extra["prow"].implode()),
        )
        .with_columns(rule=pl.lit("batch"))
    )
    members = pl.concat(
        [members, extra.select("prow", "gi").with_columns(rule=pl.lit("batch_extra"))]
    )
    members = (
        members.join(ids.select("gi", "group_id", brow=pl.col("brows").list.first()), on="gi")
        .select("prow", "brow", "group_id", "rule")
        .sort("prow")
    )
    deposit_rows = ids.select("group_id", brow="brows").explode("brow").select("brow", "group_id")

    # Deposits summed per group; the group's sales as paid (members, without the missing).
    dep_amount = (
        deposit_rows.join(deps.select("brow", "amount", "deposit_day"), on="brow")
        .group_by("group_id")
        .agg(deposit=pl.col("amount").sum(), deposit_day=pl.col("deposit_day").min())
    )
    paid = (
        members.join(sales.select("prow", "amount", "fee"), on="prow")
        .group_by("group_id")
        .agg(
            prows=pl.col("prow").sort(),
            gross=pl.col("amount").sum(),
            fee_expected=pl.col("fee").sum(),
        )
    )
    meta = groups.select(
        "gi",
        "currency",
        "business_day",
        "expected",
        merchant=pl.col("merchant") if "merchant" in groups.columns else pl.lit(None, pl.String),
        batch=pl.col("batch") if batch_mode else pl.lit(None, pl.String),
    )
    summary = (
        ids.join(meta, on="gi")
        .join(paid, on="group_id", how="left")
        .join(dep_amount, on="group_id", how="left")
        .select(pl.col(c).cast(dtype) for c, dtype in _GROUP_SCHEMA.items())
        .sort("group_id")
    )

    # Unsettled sales whose settlement is not yet due are pending, not orphans.
    return Settled(
        members=members,
        deposit_rows=deposit_rows,
        groups=summary,
        missing=missing,
        pending=_pending(sales, [members["prow"], missing["prow"]], as_of),
    )


def _pending(sales: pl.DataFrame, taken: list[pl.Series], as_of: dt.date) -> pl.DataFrame:
    """prow, expected: sales no deposit took whose settlement is not due yet (its expected
    date is after the last date of the bank file) are pending, not orphans."""
    done = pl.concat(taken) if taken else pl.Series([], dtype=pl.UInt32)
    return sales.filter(
        ~pl.col("prow").is_in(done.implode()), pl.col("expected") > pl.lit(as_of)
    ).select("prow", "expected")


def _missing_sales(loose: pl.DataFrame, sales: pl.DataFrame) -> pl.DataFrame:
    """gi, prow: for each short deposit, the one sale (or else the two sales) of its group
    whose nets make up the gap, when unique.

    In a large group some set of sales adds up to almost any gap by chance, so a set is only
    named when chance alone would rarely produce one: the expected number of chance sets
    (sets of that size / distinct sums they can take) must stay under CHANCE."""
    short = loose.filter(pl.col("diff") < -pl.col("tol")).select("gi", need=-pl.col("diff"))
    in_group = sales.select("prow", "gi", "net")
    spread = (
        in_group.group_by("gi")
        .agg(n=pl.len().cast(pl.Float64), span=(pl.col("net").max() - pl.col("net").min() + 1))
        .with_columns(
            chance1=pl.col("n") / pl.col("span"),
            chance2=pl.col("n") * (pl.col("n") - 1) / 2 / (2 * pl.col("span")),
        )
    )
    short = short.join(spread, on="gi")
    one = in_group.join(
        short.filter(pl.col("chance1") <= CHANCE), left_on=["gi", "net"], right_on=["gi", "need"]
    )
    one = one.filter(pl.len().over("gi") == 1).select("gi", "prow")
    two_cand = (
        in_group.join(
            short.filter(~pl.col("gi").is_in(one["gi"].implode()), pl.col("chance2") <= CHANCE),
            on="gi",
        )
        .with_columns(other=pl.col("need") - pl.col("net"))
        .join(in_group, left_on=["gi", "other"], right_on=["gi", "net"], suffix="_2")
        .filter(pl.col("prow") < pl.col("prow_2"))
    )
    two = two_cand.filter(pl.len().over("gi") == 1)
    return pl.concat([one, two.select("gi", "prow"), two.select("gi", prow="prow_2")]).sort("prow")


def _paid_elsewhere(
    loose: pl.DataFrame,
    cand: pl.DataFrame,
    sales: pl.DataFrame,
    missing: pl.DataFrame,
    used_g: pl.Series,
    join_keys: list[str],
    cfg: SettlementSettings,
) -> pl.DataFrame:
    """gi, prow: for each long deposit, the one free sale of the same merchant whose net is the
    excess: a sale of an unpaired group, or one named missing from another deposit (the
    acquirer put it in the batch before or after the one its time says: cut-off or terminal
    settings), due around the deposit's day."""
    long_ = loose.join(cand.select("gi", "brow", "deposit_day"), on=["gi", "brow"]).filter(
        pl.col("diff") > pl.col("tol")
    )
    # (by merchant and currency: a sale in the wrong batch carries the other batch's number)
    near = [k for k in join_keys if k != "gkey"]
    long_ = long_.select(*near, "gi", "deposit_day", need="diff")
    loners = sales.filter(
        ~pl.col("gi").is_in(used_g.implode()) | pl.col("prow").is_in(missing["prow"].implode())
    ).select("prow", "net", "expected", *near)
    extra = loners.join(long_, left_on=[*near, "net"], right_on=[*near, "need"])
    slack = pl.duration(days=cfg.slack_days)
    extra = extra.filter(
        pl.col("deposit_day").is_between(pl.col("expected") - slack, pl.col("expected") + slack)
    )
    return extra.filter(pl.len().over("gi") == 1, pl.len().over("prow") == 1).select("gi", "prow")
