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
from dataclasses import dataclass, field, replace
from decimal import Decimal

import polars as pl

from recon.config import SettlementSettings
from recon.exprs import formatted
from recon.match.passes import nearest_pairs
from recon.match.prepare import as_text
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
    # What the data taught: the refund fee policy, merchants' usual rates, pooled pay dates.
    learned: dict = field(default_factory=dict)


_GROUP_SCHEMA: dict[str, pl.DataType] = {
    "group_id": pl.String(),
    "status": pl.String(),  # matched split late missing moved extra fee_mismatch short long
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
    "fee_stated": pl.Int64(),  # the fee the deposit states (null: it states none)
    "fee_basis": pl.String(),  # fee_expected is by the fee rules ("rules") or usual rate ("usual")
    "maybe": pl.List(pl.UInt32()),  # a short deposit: the sales of the gap's amount, one missing
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


def _fees(sales: pl.DataFrame, cfg: SettlementSettings, kind: pl.Expr) -> pl.DataFrame:
    """fee, pct (its percentage part) and named (a rule names the row) of each row, in minor
    units, with the row's kind taken from `kind`.

    fee = round-half-up(|amount| x rate) + fixed, at most cap; the most specific rule wins:
    scheme and kind, then scheme, then kind, then `*`."""
    table = _fee_table(cfg).with_row_index("rid")
    if table.height == 0:
        zero = pl.repeat(0, sales.height, dtype=pl.Int64, eager=True)
        return pl.DataFrame({"fee": zero, "pct": zero, "named": zero.cast(pl.Boolean)})
    base = sales.select(
        pl.col("scheme"),
        kind.alias("kind"),
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
    pct = (sales["amount"].abs() * rule["rate_e8"] + _E8 // 2) // _E8
    raw = pct + rule["fixed"]
    cap = rule["cap"]
    return pl.DataFrame({"rid": rid, "pct": pct, "raw": raw, "cap": cap}).select(
        # A row no rule names (refunds, unless a rule says otherwise) carries no fee.
        fee=pl.when(pl.col("rid").is_null())
        .then(0)
        .otherwise(pl.min_horizontal("raw", pl.col("cap").fill_null(pl.col("raw")))),
        pct=pl.when(pl.col("rid").is_null())
        .then(0)
        .otherwise(pl.min_horizontal("pct", pl.col("cap").fill_null(pl.col("pct")))),
        named=pl.col("rid").is_not_null(),
    )


def expected_fee(sales: pl.DataFrame, cfg: SettlementSettings) -> pl.Series:
    """Each row's fee in minor units by the fee rules (see _fees)."""
    return _fees(sales, cfg, pl.col("kind"))["fee"].alias("fee")


POLICIES = ("returned", "proportional", "kept")


def policy_fees(sales: pl.DataFrame, cfg: SettlementSettings) -> pl.DataFrame:
    """fee_returned, fee_proportional, fee_kept: each row's fee under each refund policy.

    A sale pays its fee by the rules. A refund no rule names gives back the fee a sale of its
    size pays (returned), only its percentage part (proportional), or nothing (kept); a rule
    written for refunds wins over the policy."""
    own = _fees(sales, cfg, pl.col("kind"))
    as_sale = _fees(sales, cfg, pl.lit("sale"))
    frame = pl.DataFrame(
        {
            "refund": (sales["kind"] == "refund") & ~own["named"],
            "own": own["fee"],
            "back": as_sale["fee"],
            "back_pct": as_sale["pct"],
        }
    )
    return frame.select(
        fee_returned=pl.when("refund").then(-pl.col("back")).otherwise("own"),
        fee_proportional=pl.when("refund").then(-pl.col("back_pct")).otherwise("own"),
        fee_kept=pl.when("refund").then(0).otherwise("own"),
    )


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


def cutoff_shift_minutes(cutoff: str) -> int:
    """Minutes that move a sale at the cut-off ("23:00") to midnight of the next day."""
    h, m = (int(x) for x in cutoff.split(":")[:2])
    return (24 * 60 - (h * 60 + m)) % (24 * 60)


def week_mask(weekends: bool) -> tuple[bool, ...]:
    """Monday to Sunday: the days an acquirer pays (no Saturdays and Sundays with weekends)."""
    return (True,) * 5 + ((False, False) if weekends else (True, True))


def business_day(cutoff: str) -> pl.Expr:
    """The acquirer's business day of a sale: sales at or after the cut-off count to the next
    day. Date-only rows keep their date."""
    shifted = pl.col("time") + pl.duration(minutes=cutoff_shift_minutes(cutoff))
    return (
        pl.when(pl.col("has_clock").fill_null(True))
        .then(shifted)
        .otherwise(pl.col("time"))
        .dt.date()
    )


def _calendar(cfg: SettlementSettings) -> tuple[tuple[bool, ...], list[dt.date]]:
    """The week mask and the holidays of the acquirer's calendar."""
    return week_mask(cfg.weekends), [dt.date.fromisoformat(d) for d in cfg.holidays]


def expected_date(day: pl.Expr, cfg: SettlementSettings) -> pl.Expr:
    """T+N business days; a sale on a weekend or holiday counts from the business day before
    it, so Saturday's sales are paid with Friday's batch on T+1."""
    week, holidays = _calendar(cfg)
    return day.dt.add_business_days(cfg.t_plus, week_mask=week, holidays=holidays, roll="backward")


def _tolerance(cfg: SettlementSettings) -> pl.Expr:
    e8 = int(cfg.tolerance * _E8)
    return pl.lit(e8, pl.Int64) * pl.lit(10, pl.Int64).pow(digits_expr(pl.col("currency"))) // _E8


def _gap() -> pl.Expr:
    """A deposit against its sales: net + fee (the fee it states, else the one the fee rules
    expect) less the gross. Zero (within the tolerance) when the deposit adds up."""
    return pl.col("amount") + pl.coalesce("stated", "fee_expected") - pl.col("gross")


# A deposit that adds up to the cent is recognised up to this many business days after its
# expected date (and reported late); pairings that do not add up stay within slack_days.
EXACT_LATE_DAYS = 10
_SUMS = ("gross", "refunds", "n", *(f"fee_{p}" for p in POLICIES))


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
    # (the few free rows, as text: the fee rules and calendars are text tables)
    sales = as_text(pos.filter(p_free & pos["kind"].is_in(["sale", "refund"])))
    deps = as_text(bank.filter(b_free))
    if sales.height == 0 or bank.height == 0:
        return _empty()
    as_of = bank["time"].max().date()  # type: ignore[union-attr]

    sales = sales.with_columns(
        scheme=scheme_expr(pl.col("first6")), business_day=business_day(cfg.cutoff)
    )
    sales = pl.concat([sales, policy_fees(sales, cfg)], how="horizontal").with_columns(
        expected=expected_date(pl.col("business_day"), cfg)
    )
    if deps.height == 0:
        # nothing to pair: only the sales that are not due yet are told apart
        return replace(_empty(), pending=_pending(sales, [], as_of))
    dep_batch = pl.col("reference").str.extract(cfg.batch_pattern, 1)
    if "batch" in deps.columns:
        dep_batch = pl.coalesce(pl.col("batch"), dep_batch)
    # The fee a deposit states (a fee column, 手续费): its sales add up to net + fee.
    stated = pl.col("fee").abs() if "fee" in deps.columns else pl.lit(None)
    deps = deps.with_columns(
        dbatch=dep_batch, deposit_day=pl.col("time").dt.date(), stated=stated.cast(pl.Int64)
    )

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
    pay_keys = [*join_keys, *pos_only, "expected"]  # the business days one payment date pays

    groups = (
        sales.group_by(group_keys)
        .agg(
            *([pl.col("business_day").min()] if batch_mode else []),
            *(pl.col(f"fee_{p}").sum() for p in POLICIES),
            prows=pl.col("prow").sort(),
            gross=pl.col("amount").sum(),
            refunds=-pl.col("amount").filter(pl.col("amount") < 0).sum(),
            n=pl.len().cast(pl.Int64),
            expected=pl.col("expected").max(),
        )
        .sort(pl.col("prows").list.first())
        .with_row_index("gi")
        .with_columns(parts=pl.concat_list("gi"), tol=_tolerance(cfg))
    )
    if batch_mode:
        groups = groups.with_columns(batch=pl.col("gkey"))
    sales = sales.join(
        groups.select("gi", "prows").explode("prows").rename({"prows": "prow"}),
        on="prow",
        how="left",
        maintain_order="left",
    )

    week, holidays = _calendar(cfg)
    low = pl.col("business_day") if batch_mode else pl.col("expected")

    def in_window(day: str = "deposit_day", late: int = cfg.slack_days) -> pl.Expr:
        until = pl.col("expected").dt.add_business_days(
            late, week_mask=week, holidays=holidays, roll="forward"
        )
        return pl.col(day).is_between(low, until)

    def days_late(day: str = "deposit_day") -> pl.Expr:
        return (pl.col(day) - pl.col("expected")).dt.total_days().abs()

    dep_cols = ["brow", "amount", "stated", "deposit_day", *join_keys]

    def candidates(units: pl.DataFrame, free: pl.DataFrame, late: int) -> pl.DataFrame:
        # net + fee (stated, else expected by the rules) against the gross
        return (
            units.join(free.select(dep_cols), on=join_keys)
            .filter(in_window(late=late))
            .with_columns(diff=_gap())
        )

    policy, policy_from = _rules_policy(groups, deps, candidates, cfg)
    groups = groups.with_columns(fee_expected=pl.col(f"fee_{policy}"))
    sales = sales.with_columns(fee=pl.col(f"fee_{policy}")).with_columns(
        net=pl.col("amount") - pl.col("fee")
    )

    def pooled(left: pl.DataFrame, offset: int) -> pl.DataFrame:
        """The business days one payment date pays, as one unit (a deposit after a weekend
        or holiday that pays them all at once)."""
        return (
            left.group_by(pay_keys)
            .agg(
                *(pl.col(c).sum() for c in (*_SUMS, "fee_expected")),
                parts=pl.col("gi").sort(),
                business_day=pl.col("business_day").min(),
                prows=pl.col("prows").list.explode(keep_nulls=False, empty_as_null=False).sort(),
                tol=pl.col("tol").first(),
            )
            .filter(pl.col("parts").list.len() >= 2)
            .sort(pl.col("parts").list.first())
            .with_row_index("gi", offset=offset)
            .select(groups.columns)
        )

    def match_units(units: pl.DataFrame, free: pl.DataFrame, parts: bool = True) -> pl.DataFrame:
        """gi, brow, status: units paid to the cent by one deposit, by two deposits (a payment
        in two parts), or by every free deposit of their key on one day (in several parts)."""
        cand = candidates(units, free, EXACT_LATE_DAYS)
        exact = nearest_pairs(
            cand.filter(pl.col("diff").abs() <= pl.col("tol")).select(
                prow="gi", brow="brow", lag=days_late() * 10**15 + pl.col("diff").abs()
            )
        ).select(gi="prow", brow="brow", status=pl.lit("matched"))
        if not parts:
            return exact
        units = units.filter(~pl.col("gi").is_in(exact["gi"].implode()))
        rest = free.filter(~pl.col("brow").is_in(exact["brow"].implode()))
        halves = (
            rest.select(dep_cols)
            .join(rest.select(dep_cols), on=join_keys, suffix="_2")
            .filter(pl.col("brow") < pl.col("brow_2"))
            .with_columns(
                amount=pl.col("amount") + pl.col("amount_2"),
                stated=pl.col("stated") + pl.col("stated_2"),
            )
        )
        split = (
            units.join(halves, on=join_keys)
            .filter(in_window(), in_window("deposit_day_2"))
            .with_columns(diff=_gap())
            .filter(pl.col("diff").abs() <= pl.col("tol"))
            .with_columns(pair=pl.col("brow").cast(pl.UInt64) * (1 << 32) + pl.col("brow_2"))
        )
        two = nearest_pairs(
            split.select(prow="gi", brow="pair", lag=days_late() + days_late("deposit_day_2"))
        ).with_columns(
            b1=(pl.col("brow") // (1 << 32)).cast(pl.UInt32),
            b2=(pl.col("brow") % (1 << 32)).cast(pl.UInt32),
        )
        # a deposit in two chosen pairs keeps the first
        two = two.filter(~pl.col("b1").is_in(two["b2"].implode())).unique("b1", keep="first")
        two = pl.concat([two.select(gi="prow", brow=b) for b in ("b1", "b2")]).with_columns(
            status=pl.lit("split")
        )
        units = units.filter(~pl.col("gi").is_in(two["gi"].implode()))
        rest = rest.filter(~pl.col("brow").is_in(two["brow"].implode()))
        # every free deposit of a key on one day together (three parts or more)
        days = (
            rest.group_by([*join_keys, "deposit_day"])
            .agg(
                brows=pl.col("brow").sort(),
                amount=pl.col("amount").sum(),
                stated=pl.when(pl.col("stated").null_count() == 0).then(pl.col("stated").sum()),
            )
            .filter(pl.col("brows").list.len() >= 3)
            .with_row_index("di")
        )
        many = (
            units.join(days, on=join_keys)
            .filter(in_window())
            .with_columns(diff=_gap())
            .filter(pl.col("diff").abs() <= pl.col("tol"))
        )
        chosen = nearest_pairs(many.select(prow="gi", brow="di", lag=days_late()))
        several = (
            chosen.join(days.select("di", "brows"), left_on="brow", right_on="di")
            .select(gi="prow", brow="brows")
            .explode("brow")
            .with_columns(status=pl.lit("split"))
        )
        return pl.concat([exact, two, several])

    # 1. each business day (or batch) paid to the cent
    paid = match_units(groups, deps)
    units = [groups]
    left = groups.filter(~pl.col("gi").is_in(paid["gi"].implode()))
    rest = deps.filter(~pl.col("brow").is_in(paid["brow"].implode()))
    # 2. the business days of one payment date paid together
    pooled_mode = False
    if not batch_mode:
        merged = pooled(left, groups.height)
        # (one deposit each: two deposits of a payment date are its business days' own)
        by_day = match_units(merged, rest, parts=False)
        units.append(merged)
        # The acquirer pools when more pay dates matched as a whole than as separate days.
        several = groups.filter(pl.len().over(pay_keys) >= 2)["gi"]
        pooled_mode = by_day["gi"].n_unique() > paid["gi"].is_in(several.implode()).sum()
        if pooled_mode:
            # then a pay date's payment may come in parts too
            rest = rest.filter(~pl.col("brow").is_in(by_day["brow"].implode()))
            parts = match_units(merged.filter(~pl.col("gi").is_in(by_day["gi"].implode())), rest)
            by_day = pl.concat([by_day, parts.filter(pl.col("status") == "split")])
        paid = pl.concat([paid, by_day])
        done = merged.filter(pl.col("gi").is_in(by_day["gi"].implode()))["parts"].explode()
        left = left.filter(~pl.col("gi").is_in(done.implode()))
        rest = rest.filter(~pl.col("brow").is_in(by_day["brow"].implode()))

    # 3. paired by key and date only; the difference is explained below
    if pooled_mode:
        offset = groups.height + units[-1].height
        lone = left.filter(pl.len().over(pay_keys) == 1)
        left = pl.concat([lone, pooled(left, offset)])
        units.append(left)
    cand = candidates(left, rest, cfg.slack_days)
    loose = nearest_pairs(
        cand.select(prow="gi", brow="brow", lag=days_late() * 10**15 + pl.col("diff").abs())
    ).select(gi="prow", brow="brow")
    loose = loose.join(
        cand.select("gi", "brow", "diff", "gross", "tol", "stated", *join_keys),
        on=["gi", "brow"],
    ).with_columns(stated=pl.col("stated").is_not_null())

    # Each sale's unit: the unit (one business day or a whole payment date) a deposit took.
    every = pl.concat(units, how="vertical_relaxed").unique("gi", keep="first")
    taken = pl.concat([paid.select("gi"), loose.select("gi")]).unique()
    unit_of = (
        every.filter(pl.col("gi").is_in(taken["gi"].implode()))
        .select(ui="gi", gi="parts")
        .explode("gi")
    )
    sales = sales.join(unit_of, on="gi", how="left", maintain_order="left")
    in_units = sales.filter(pl.col("ui").is_not_null()).with_columns(gi=pl.col("ui"))

    missing, alike = _missing_sales(loose, in_units)
    loners = sales.filter(
        pl.col("ui").is_null() | pl.col("prow").is_in(missing["prow"].implode())
    ).with_columns(gi=pl.coalesce("ui", "gi"))
    extra = _paid_elsewhere(loose, cand, loners, join_keys, cfg)
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
        # a deposit that states its fee is short of money, not of a fee
        .when(
            (pl.col("diff") < 0)
            & ~pl.col("stated")
            & (-pl.col("diff") * _E8 <= pl.col("gross") * max_rate_e8)
        )
        .then(pl.lit("fee_mismatch"))
        .when(pl.col("diff") < 0)
        .then(pl.lit("short"))
        .otherwise(pl.lit("long"))
    )
    pairs = pl.concat([paid, loose.select("gi", "brow", "status")])

    # Group ids follow the deposit's position, so they are stable for one input.
    ids = (
        pairs.group_by("gi")
        .agg(brows=pl.col("brow").sort(), status=pl.col("status").first())
        .sort(pl.col("brows").list.first())
        .with_columns(
            group_id=formatted(
                "G{}", (pl.int_range(1, pl.len() + 1) + 1_000_000).cast(pl.String).str.slice(1)
            )
        )
    )
    missing = missing.join(ids.select("gi", "group_id"), on="gi").select("prow", "group_id")
    members = (
        in_units.select("prow", "gi")
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
        deposit_rows.join(deps.select("brow", "amount", "stated", "deposit_day"), on="brow")
        .group_by("group_id")
        .agg(
            deposit=pl.col("amount").sum(),
            fee_stated=pl.when(pl.col("stated").null_count() == 0).then(pl.col("stated").sum()),
            deposit_day=pl.col("deposit_day").min(),
        )
    )
    paid_sales = (
        members.join(sales.select("prow", "amount", "fee"), on="prow")
        .group_by("group_id")
        .agg(
            prows=pl.col("prow").sort(),
            gross=pl.col("amount").sum(),
            refunds=-pl.col("amount").filter(pl.col("amount") < 0).sum(),
            n=pl.len().cast(pl.Int64),
            fee_expected=pl.col("fee").sum(),
        )
    )
    meta = every.select(
        "gi",
        "currency",
        "business_day",
        "expected",
        "tol",
        merchant=pl.col("merchant") if "merchant" in every.columns else pl.lit(None, pl.String),
        batch=pl.col("batch") if batch_mode else pl.lit(None, pl.String),
    )
    summary = (
        ids.join(meta, on="gi")
        .join(alike, on="gi", how="left")
        .join(paid_sales, on="group_id", how="left")
        .join(dep_amount, on="group_id", how="left")
    )
    summary, learned = _check_fees(summary, cfg, policy, policy_from)
    # A deposit that does not add up is judged against the fee it states: the gap is money.
    summary = summary.with_columns(
        fee_expected=pl.when(
            pl.col("status").is_in(["matched", "split", "fee_mismatch"]).not_()
            & pl.col("fee_stated").is_not_null()
        )
        .then(pl.col("fee_stated"))
        .otherwise(pl.col("fee_expected"))
    )
    late = pl.col("status").is_in(["matched", "split"]) & (
        pl.col("deposit_day") > pl.col("expected")
    )
    summary = (
        summary.with_columns(status=pl.when(late).then(pl.lit("late")).otherwise("status"))
        .select(pl.col(c).cast(dtype) for c, dtype in _GROUP_SCHEMA.items())
        .sort("group_id")
    )
    learned["pooled"] = pooled_mode

    # Unsettled sales whose settlement is not yet due are pending, not orphans.
    return Settled(
        members=members,
        deposit_rows=deposit_rows,
        groups=summary,
        missing=missing,
        pending=_pending(sales, [members["prow"], missing["prow"]], as_of),
        learned=learned,
    )


def _rules_policy(
    groups: pl.DataFrame, deps: pl.DataFrame, candidates, cfg: SettlementSettings
) -> tuple[str, str]:
    """The refund fee policy and where it came from (config, data, default).

    With fee rules and refunds, each policy prices the groups that hold refunds; the one under
    which most of them add up to a deposit (net, or net + stated fee with the stated fee as the
    policy prices it) is learned, when it is the only best."""
    if cfg.refund_fee != "auto":
        return cfg.refund_fee, "config"
    with_refunds = groups.filter(pl.col("refunds") > 0)
    if not cfg.fees or with_refunds.height == 0:
        return "returned", "default"
    fits = {}
    for p in POLICIES:
        cand = candidates(
            with_refunds.with_columns(fee_expected=pl.col(f"fee_{p}")), deps, cfg.slack_days
        ).filter(pl.col("diff").abs() <= pl.col("tol"))
        agree = pl.col("stated").is_null() | (
            (pl.col("stated") - pl.col("fee_expected")).abs() <= _rounding()
        )
        fits[p] = cand.filter(agree)["gi"].n_unique()
    best = max(fits.values())
    winners = [p for p in POLICIES if fits[p] == best]
    # returned and proportional price alike where no rule has a fixed part
    if best > 0 and (len(winners) == 1 or winners == ["returned", "proportional"]):
        return winners[0], "data"
    return "returned", "default"


def _rounding() -> pl.Expr:
    """How far a deposit's fee may honestly be from the sum of its sales' fees: each sale's fee
    is rounded to the minor unit, so an acquirer that rounds the total instead differs by up
    to half a unit per sale."""
    return pl.max_horizontal(pl.col("tol"), pl.col("n") // 2 + 1)


# A merchant's usual rate is learnt from at least this many of its deposits.
MIN_DEPOSITS = 3


def _check_fees(
    summary: pl.DataFrame, cfg: SettlementSettings, policy: str, policy_from: str
) -> tuple[pl.DataFrame, dict]:
    """Check the fee each deposit states against the contract, or the merchant's usual rate.

    A deposit whose sales add up to net + stated fee is paid; its fee is then compared with the
    fee rules where there are rules, else with the merchant's usual effective rate: the median
    of stated fee / base over its deposits that add up (base is the gross, or the sales alone
    when the acquirer keeps the fee of refunds). A fee above that by more than rounding and the
    merchant's own spread is a fee_mismatch; fee_expected then holds the fee at the usual rate
    and fee_basis says which it is."""
    learned: dict = {"refund_fee": policy, "refund_fee_from": policy_from}
    adds_up = pl.col("status").is_in(["matched", "split"]) & pl.col("fee_stated").is_not_null()
    summary = summary.with_columns(fee_basis=pl.lit("rules" if cfg.fees else None, pl.String))
    if cfg.fees:
        over = pl.col("fee_stated") - pl.col("fee_expected") > _rounding()
        summary = summary.with_columns(
            status=pl.when(adds_up & over).then(pl.lit("fee_mismatch")).otherwise("status")
        )
        return summary, learned
    clean = summary.filter(adds_up, pl.col("gross") > 0)
    if clean.height == 0:
        return summary.with_columns(fee_expected=pl.coalesce("fee_stated", "fee_expected")), {
            **learned,
            "rates": {},
        }
    who = "merchant"
    bases = {"returned": pl.col("gross"), "kept": pl.col("gross") + pl.col("refunds")}

    def rates(base: pl.Expr) -> pl.DataFrame:
        rate = (pl.col("fee_stated") * _E8 // base).alias("rate")
        return (
            clean.with_columns(rate)
            .group_by(who)
            .agg(
                med=pl.col("rate").median().round().cast(pl.Int64),
                mad=(pl.col("rate") - pl.col("rate").median()).abs().median().cast(pl.Int64),
                k=pl.len(),
            )
            .filter(pl.col("k") >= MIN_DEPOSITS)
        )

    usual = {p: rates(b) for p, b in bases.items()}
    if policy_from == "default" and clean["refunds"].sum() > 0:
        # The policy that prices a merchant's deposits alike is the acquirer's: under the
        # wrong one the effective rate moves with each day's refunds.
        spread = {p: int(f["mad"].sum()) for p, f in usual.items()}
        ret, kept = spread["returned"], spread["kept"]
        if min(ret, kept) * 2 < max(ret, kept):
            policy, policy_from = ("returned", "data") if ret < kept else ("kept", "data")
    if policy == "proportional":
        policy = "returned"  # without fixed fees the two are one
    learned.update(refund_fee=policy, refund_fee_from=policy_from)
    table = usual["kept" if policy == "kept" else "returned"]
    base = bases["kept" if policy == "kept" else "returned"]
    summary = summary.join(table.select(who, "med", "mad"), on=who, how="left")
    fee_usual = (pl.col("med") * base + _E8 // 2) // _E8
    allowed = _rounding() + 3 * pl.col("mad") * base // _E8
    over = pl.col("fee_stated") - fee_usual > allowed
    summary = summary.with_columns(
        status=pl.when(adds_up & over.fill_null(False))
        .then(pl.lit("fee_mismatch"))
        .otherwise("status"),
        fee_expected=pl.coalesce(fee_usual, "fee_stated", "fee_expected"),
        fee_basis=pl.when(pl.col("med").is_not_null()).then(pl.lit("usual")),
    ).drop("med", "mad")
    learned["rates"] = {
        str(m): f"{Decimal(med) / 10**6:.4f}%" for m, med in table.select(who, "med").iter_rows()
    }
    return summary, learned


def _pending(sales: pl.DataFrame, taken: list[pl.Series], as_of: dt.date) -> pl.DataFrame:
    """prow, expected: sales no deposit took whose settlement is not due yet (its expected
    date is after the last date of the bank file) are pending, not orphans."""
    done = pl.concat(taken) if taken else pl.Series([], dtype=pl.UInt32)
    return sales.filter(
        ~pl.col("prow").is_in(done.implode()), pl.col("expected") > pl.lit(as_of)
    ).select("prow", "expected")


def _missing_sales(loose: pl.DataFrame, sales: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """gi, prow: for each short deposit, the one sale (or else the two sales) of its group
    whose nets make up the gap, when unique; and gi, maybe: the sales of the very amount when
    several are. Against a deposit that states its fee the gap is
    in gross amounts (the acquirer priced what it paid).

    In a large group some set of sales adds up to almost any gap by chance, so a set is only
    named when chance alone would rarely produce one: the expected number of chance sets
    (sets of that size / distinct sums they can take) must stay under CHANCE."""
    short = loose.filter(pl.col("diff") < -pl.col("tol")).select(
        "gi", "stated", need=-pl.col("diff")
    )
    in_group = (
        sales.select("prow", "gi", "net", "amount")
        .join(short.select("gi", "stated"), on="gi")
        .select("prow", "gi", val=pl.when("stated").then(pl.col("amount")).otherwise(pl.col("net")))
    )
    spread = (
        in_group.group_by("gi")
        .agg(n=pl.len().cast(pl.Float64), span=(pl.col("val").max() - pl.col("val").min() + 1))
        .with_columns(
            chance1=pl.col("n") / pl.col("span"),
            chance2=pl.col("n") * (pl.col("n") - 1) / 2 / (2 * pl.col("span")),
        )
    )
    short = short.join(spread, on="gi")
    one = in_group.join(
        short.filter(pl.col("chance1") <= CHANCE), left_on=["gi", "val"], right_on=["gi", "need"]
    )
    # several sales of the very amount: one of them is missing, which one the data cannot say
    alike = one.filter(pl.len().over("gi") > 1).group_by("gi").agg(maybe=pl.col("prow").sort())
    one = one.filter(pl.len().over("gi") == 1).select("gi", "prow")
    two_cand = (
        in_group.join(
            short.filter(~pl.col("gi").is_in(one["gi"].implode()), pl.col("chance2") <= CHANCE),
            on="gi",
        )
        .with_columns(other=pl.col("need") - pl.col("val"))
        .join(in_group, left_on=["gi", "other"], right_on=["gi", "val"], suffix="_2")
        .filter(pl.col("prow") < pl.col("prow_2"))
    )
    two = two_cand.filter(pl.len().over("gi") == 1)
    named = pl.concat([one, two.select("gi", "prow"), two.select("gi", prow="prow_2")])
    return named.sort("prow"), alike


def _paid_elsewhere(
    loose: pl.DataFrame,
    cand: pl.DataFrame,
    loners: pl.DataFrame,
    join_keys: list[str],
    cfg: SettlementSettings,
) -> pl.DataFrame:
    """gi, prow: for each long deposit, the one free sale of the same merchant whose net (its
    amount, against a deposit that states its fee) is the excess: a sale no deposit took, or
    one named missing from another deposit (the acquirer put it in the batch before or after
    the one its time says: cut-off or terminal settings), due around the deposit's day."""
    long_ = loose.join(cand.select("gi", "brow", "deposit_day"), on=["gi", "brow"]).filter(
        pl.col("diff") > pl.col("tol")
    )
    # (by merchant and currency: a sale in the wrong batch carries the other batch's number)
    near = [k for k in join_keys if k != "gkey"]
    long_ = long_.select(*near, "gi", "deposit_day", "stated", need="diff")
    loners = loners.select("prow", "net", "amount", "expected", *near)
    extra = pl.concat(
        [
            loners.join(
                long_.filter(pl.col("stated") == stated),
                left_on=[*near, value],
                right_on=[*near, "need"],
            ).select("gi", "prow", "expected", "deposit_day")
            for stated, value in ((True, "amount"), (False, "net"))
        ]
    )
    slack = pl.duration(days=cfg.slack_days)
    extra = extra.filter(
        pl.col("deposit_day").is_between(pl.col("expected") - slack, pl.col("expected") + slack)
    )
    return extra.filter(pl.len().over("gi") == 1, pl.len().over("prow") == 1).select("gi", "prow")
