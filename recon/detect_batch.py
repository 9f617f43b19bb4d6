"""Recognise a bank file of daily net deposits and guess its settlement calendar.

Users often reconcile without a `[settlement]` table although the bank file holds one net credit
per merchant and business day (sales minus refunds minus the acquirer's fee) rather than one
credit per sale. `guess_batch` looks at what the one-to-one passes left (free sales and refunds,
free bank credits) and, when the credits look like batch deposits, guesses the calendar:

- **cut-off**: for every candidate (each full hour, 22:30 and 23:30) the sales are grouped by
  merchant, currency and business day (`recon.settle.business_day`) and the credits each group,
  or each run of up to five consecutive groups paid together (a weekend, a holiday), explains
  are counted; the candidate explaining most wins. A credit is explained by a group when its
  stated fee makes up the group's gross exactly, or, without a stated fee, when the shortfall is
  0-5 % of the gross at the merchant's usual rate (within 0.02 percentage point or the rounding
  of the group's sales). The business day is 0-10 days before the deposit day.
- **weekends**: no explained deposit arrived on a Saturday or Sunday (also the default when
  the sales span no weekend).
- **holidays**: weekdays inside the span of deposit days on which no credit that could pay a
  group arrived, within a few business days of deposits, and whose due sales (by a first guess
  of T+N) were paid later.
- **t_plus**: the most common number of business days from the (rolled back) business day to
  the deposit day, counted with the guessed weekends and holidays.

The guess is `sure` when no cut-off that groups the sales differently explains as many credits,
the T+N mode holds for at least 80 % of the pairs, and `recon.settle.expected_date` under the
guessed settings gives the deposit day for at least 80 % of them.

Money is compared in integer minor units and rates as integers in millionths; every step is
joins and group-bys (the loop runs over the 26 candidate cut-offs, not over rows). The sales
are first summed per merchant, currency and half hour, which no candidate cut-off splits.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import polars as pl

from recon.config import SettlementSettings
from recon.settle import business_day, cutoff_shift_minutes, expected_date, week_mask

CUTOFFS = (*(f"{h:02d}:00" for h in range(24)), "22:30", "23:30")
MAX_LAG_DAYS = 10  # a deposit arrives 0-10 calendar days after its business day
MAX_POOL = 5  # consecutive business-day groups one deposit may pay (Thu holiday + Fri..Sun)
POOL_SPAN_DAYS = 6  # ... spanning at most this many days from the first to the last
MAX_FEE_DIVISOR = 20  # an unstated fee is at most 1/20 (5 %) of the gross
E6 = 1_000_000  # rates in millionths
RATE_TOL_E6 = 200  # 0.02 percentage point
RATE_BIN_E6 = 100  # the histogram bin of the merchant's usual rate (0.01 percentage point)
MIN_RATE_PAIRS = 3  # a usual rate fewer candidate pairs share is chance
SIZE_STEP = 1.06  # the ratio of one size bucket of money to the next (> 20/19)
MIN_EXPLAINED = 0.5  # share of credits a batch bank file explains
MIN_SALES_PER_CREDIT = 5
SURE_SHARE = 0.8
MAX_HOLIDAY_RUN = 3  # more missing business days in a row is a gap in the file, not a holiday

_KEYS = ["merchant", "currency"]


@dataclass(frozen=True)
class BatchGuess:
    settings: SettlementSettings  # enabled=True, cutoff, t_plus, weekends, holidays guessed
    deposits: int  # free bank credits looked at
    explained: int  # of them, how many equal a merchant-day group (or a run of them)
    sure: bool  # the calendar is unambiguous
    on_calendar: int = 0  # of the explained, paid on the day the guessed calendar expects


def _slots(sales: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Sales summed per merchant, currency and half hour (every candidate cut-off falls on a half
    hour, so it puts a whole slot on one business day), and the (merchant, currency) keys.

    slots: key, has_clock, time, gross, pos (sales only, refunds left out), n."""
    cols = sales.columns
    amount = pl.col("amount").cast(pl.Int64)
    merchant = pl.col("merchant") if "merchant" in cols else pl.lit(None)
    half_hour = pl.col("time").dt.epoch("s") // 1800
    slots = (
        sales.lazy()
        .group_by(
            merchant.cast(pl.String).alias("merchant"),
            pl.col("currency").cast(pl.String),
            pl.col("has_clock").fill_null(True),
            half_hour.alias("slot"),
        )
        .agg(gross=amount.sum(), pos=amount.clip(lower_bound=0).sum(), n=pl.len().cast(pl.Int64))
        .collect()
    )
    keys = (
        slots.select(_KEYS)
        .unique()
        .sort(_KEYS, nulls_last=True)
        .with_row_index("key")
        .with_columns(pl.col("key").cast(pl.Int64))
    )
    slots = (
        slots.join(keys, on=_KEYS, nulls_equal=True)
        .select(
            "key",
            "has_clock",
            (pl.col("slot") * 1800 * 1_000_000).cast(pl.Datetime("us")).alias("time"),
            "gross",
            "pos",
            "n",
        )
        .sort("key", "time", "has_clock")
    )
    return slots, keys


def _credits(deposits: pl.DataFrame, keys: pl.DataFrame) -> tuple[int, pl.DataFrame]:
    """The number of free credits, and each credit beside the keys it may pay: its merchant's
    when both files name merchants, else every merchant of its currency."""
    cols = deposits.columns
    kind = pl.col("kind") if "kind" in cols else pl.lit(None, pl.String)
    # merchants are compared when both files name them (as recon.settle does): a credit with
    # no merchant in a file that names them pays no merchant's group
    named = (
        "merchant" in cols
        and keys["merchant"].null_count() < keys.height
        and deposits["merchant"].null_count() < deposits.height
    )
    merchant = pl.col("merchant").cast(pl.String) if named else pl.lit(None, pl.String)
    fee = pl.col("fee").cast(pl.Int64).abs() if "fee" in cols else pl.lit(None)
    credits = deposits.filter(
        ((kind == "credit") | kind.is_null()) & (pl.col("amount") > 0)
    ).select(
        pl.col("brow"),
        pl.col("amount").cast(pl.Int64),
        pl.col("currency").cast(pl.String),
        merchant.cast(pl.String).alias("merchant"),
        fee.cast(pl.Int64).alias("fee"),
        pl.col("time").dt.date().alias("day"),
    )
    if named:
        keyed = credits.join(keys, on=_KEYS)
    else:
        keyed = credits.join(keys.drop("merchant"), on="currency")
    keyed = keyed.drop(_KEYS, strict=False)
    return credits.height, keyed


def _groups(slots: pl.DataFrame, order: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Business days of the slots under each candidate cut-off c (its position in `order`), and
    the groups: c, key, bday, gross, pos, n."""
    n_keys = int(slots["key"].max()) + 1  # type: ignore[arg-type]
    days = pl.concat(
        [
            slots.select(pl.lit(i, pl.Int64).alias("c"), "key", bday=business_day(cut))
            for i, cut in enumerate(order)
        ]
    )
    money = pl.concat([slots.select("gross", "pos", "n")] * len(order))
    groups = (
        pl.concat([days, money], how="horizontal")
        .lazy()
        # one integer key for candidate and merchant groups much faster than two
        .group_by(ck=pl.col("c") * n_keys + pl.col("key"), bday=pl.col("bday"))
        .agg(pl.col("gross").sum(), pl.col("pos").sum(), pl.col("n").sum())
        .select(
            c=pl.col("ck") // n_keys,
            key=pl.col("ck") % n_keys,
            bday=pl.col("bday"),
            gross=pl.col("gross"),
            pos=pl.col("pos"),
            n=pl.col("n"),
        )
        .collect()
    )
    return days, groups


def _windows(groups: pl.DataFrame) -> pl.DataFrame:
    """Each group alone (k=1) and each run of k consecutive groups of a key ending on it."""
    g = groups.sort("c", "key", "bday").with_columns(
        cg=pl.col("gross").cum_sum(), cp=pl.col("pos").cum_sum(), cn=pl.col("n").cum_sum()
    )
    parts = []
    for k in range(1, MAX_POOL + 1):

        def before(col: str, k: int = k) -> pl.Expr:
            return pl.col(col).shift(k).fill_null(0)

        # the run's first group is the same candidate's and key's as its last
        same = (pl.col("c").shift(k - 1) == pl.col("c")) & (
            pl.col("key").shift(k - 1) == pl.col("key")
        )
        parts.append(
            g.select(
                "c",
                "key",
                same=same,
                first=pl.col("bday").shift(k - 1),
                last=pl.col("bday"),
                gross=pl.col("cg") - before("cg"),
                pos=pl.col("cp") - before("cp"),
                n=pl.col("cn") - before("cn"),
                k=pl.lit(k, pl.Int32),
            ).filter(pl.col("same"))
        )
    w = pl.concat(parts).drop("same")
    return w.filter((pl.col("last") - pl.col("first")).dt.total_days() <= POOL_SPAN_DAYS)


def _size(money: pl.Expr) -> pl.Expr:
    """A positive amount's size bucket: buckets 6 % wide, wider than the 20/19 an unstated fee
    can make a gross of its deposit (a prefilter only; money is compared as integers)."""
    return (money.cast(pl.Float64).log() / math.log(SIZE_STEP)).floor().cast(pl.Int64)


def _pairs(windows: pl.DataFrame, credits: pl.DataFrame) -> pl.DataFrame:
    """The best explanation of each credit that has one, per candidate cut-off: c, brow, day,
    first, last, k."""
    gaps = pl.DataFrame({"gap": pl.int_range(0, MAX_LAG_DAYS + 1, eager=True).cast(pl.Int64)})
    near = pl.DataFrame({"near": [-1, 0, 1]}, schema={"near": pl.Int64})
    # A group's gross is the deposit plus its stated fee, or up to 20/19 of the deposit: in the
    # deposit's size bucket or the next (the one before too, against float rounding at the
    # edge), so only groups of about the right size are compared.
    target = pl.col("amount") + pl.col("fee").fill_null(0)
    d = (
        credits.join(gaps, how="cross")
        .join(near, how="cross")
        .with_columns(
            last=pl.col("day") - pl.duration(days=pl.col("gap")),
            size=_size(target) + pl.col("near"),
        )
        .drop("near")
    )
    dfee = pl.col("gross") - pl.col("amount")
    stated = pl.col("fee").is_not_null()
    cand = (
        d.lazy()
        .join(
            windows.lazy().filter(pl.col("gross") > 0).with_columns(size=_size(pl.col("gross"))),
            on=["key", "last", "size"],
        )
        .with_columns(
            dfee=dfee,
            ok_stated=stated & (pl.col("amount") + pl.col("fee") == pl.col("gross")),
            in_range=~stated
            & (pl.col("gross") > 0)
            & (dfee >= 0)
            & (dfee * MAX_FEE_DIVISOR <= pl.col("gross")),
        )
        .filter(pl.col("ok_stated") | pl.col("in_range"))
        .with_columns(ck=pl.col("c") * (1 << 24) + pl.col("key"))
        .collect()
    )
    # the fee as a share of the gross (the acquirer charges refunds back) and of the sales alone
    # (it keeps the fee of refunded sales)
    ranged = cand.filter("in_range")
    for base in ("gross", "pos"):
        usual = _usual_rate(ranged, base)
        cand = cand.join(usual, on="ck", how="left")

    def dev(base: str) -> pl.Expr:
        return (pl.col("dfee") * E6 - pl.col(f"rate6_{base}") * pl.col(base)).abs()

    # at most half a minor unit of rounding per sale's fee (and the usual rate's own rounding),
    # or 0.02 pp of the gross; typically the roundings add up to about sqrt(n/12) minor units
    rate_rounding = 2 * pl.col("gross")
    rounding = pl.col("n") * (E6 // 2) + E6 + rate_rounding
    typical = (pl.col("n").sqrt() * 2 + 1).ceil().cast(pl.Int64) * E6 + rate_rounding
    slack = pl.max_horizontal(pl.col("gross") * RATE_TOL_E6, rounding)
    cand = cand.with_columns(
        dev=pl.when("ok_stated")
        .then(0)
        .when("in_range")
        .then(pl.min_horizontal(dev("gross"), dev("pos")))
        .otherwise(None)
    )
    ok = pl.col("ok_stated") | (pl.col("dev") <= slack)
    # a fee within the typical rounding of the usual rate first, then within the worst, then
    # within 0.02 pp; then the nearest business day
    return (
        cand.filter(ok)
        .with_columns(loose=(pl.col("dev") > typical).cast(pl.Int8) + (pl.col("dev") > rounding))
        .sort(["c", "brow", "loose", "gap", "k", "dev", "key", "first"])
        .unique(["c", "brow"], keep="first", maintain_order=True)
        .select("c", "brow", "day", "first", "last", "k")
    )


def _usual_rate(ranged: pl.DataFrame, base: str) -> pl.DataFrame:
    """Each merchant's usual rate of the fee to `base` (millionths, rate6_<base>) per candidate
    cut-off (ck): the median of its candidate pairs' implied rates near the most common one (a
    plain median drifts with the chance candidates, which spread over the whole 0-5 %)."""
    name = f"rate6_{base}"
    if ranged.height == 0:
        return pl.DataFrame(schema={"ck": pl.Int64, name: pl.Int64})
    # one integer key for merchant, candidate and bin: group-bys on one key are much faster
    bins = 1 << 16  # bin + 1 of a rate up to 5 %, and its neighbours
    binned = ranged.select("ck", r6=pl.col("dfee") * E6 // pl.col(base)).with_columns(
        b=pl.col("ck") * bins + pl.col("r6") // RATE_BIN_E6 + 1
    )
    counts = binned.group_by("b").agg(count=pl.len())
    smooth = (
        pl.concat([counts.with_columns(b=pl.col("b") + o) for o in (-1, 0, 1)])
        .group_by("b")
        .agg(pl.col("count").sum())
        .with_columns(ck=pl.col("b") // bins)
    )
    # the fullest bin (the lower on a tie), if enough pairs share it
    mode = (
        smooth.filter(
            pl.col("count") == pl.col("count").max().over("ck"),
            pl.col("count") >= MIN_RATE_PAIRS,
        )
        .group_by("ck")
        .agg(mode=pl.col("b").min())
    )
    return (
        binned.join(mode, on="ck")
        .filter((pl.col("b") - pl.col("mode")).abs() <= 1)
        .group_by("ck")
        .agg(pl.col("r6").median().round().cast(pl.Int64).alias(name))
    )


def _lags(pairs: pl.DataFrame, weekends: bool, holidays: list[dt.date]) -> pl.Series:
    week = week_mask(weekends)
    start = pl.col("last").dt.add_business_days(
        0, week_mask=week, holidays=holidays, roll="backward"
    )
    return pairs.select(
        pl.business_day_count(start, pl.col("day"), week_mask=week, holidays=holidays)
    ).to_series()


def _mode(lags: pl.Series) -> tuple[int, int]:
    """The most common lag (the smaller on a tie) and how many pairs have it."""
    top = lags.value_counts(name="c").sort(["c", lags.name], descending=[True, False]).row(0)
    return int(top[0]), int(top[1])


def _holidays(
    pairs: pl.DataFrame, credits: pl.DataFrame, t_plus: int, weekends: bool
) -> list[dt.date]:
    """Business days inside the span of deposit days on which no credit that could pay a group
    arrived (explained or not: a deposit that differs still shows the acquirer paid that day),
    in a short run of such days, whose due sales were paid later: a deposit explained by groups
    due on the day (by T+N without holidays) arrived after it. Deposits that are merely
    missing are not paid later."""
    span = pairs["day"]
    paid = credits["day"].unique()
    week = week_mask(weekends)
    days = pl.DataFrame(
        {"d": pl.date_range(span.min(), span.max(), "1d", eager=True)}  # type: ignore[arg-type]
    ).filter(pl.col("d").dt.is_business_day(week_mask=week))
    days = days.with_row_index("i").filter(~pl.col("d").is_in(paid.implode()))
    if days.height == 0:
        return []
    # a run of missing business days in a row: consecutive indexes
    days = days.with_columns(run=pl.col("i").cast(pl.Int64) - pl.int_range(pl.len()))
    days = days.filter(pl.len().over("run") <= MAX_HOLIDAY_RUN)
    plain = SettlementSettings(enabled=True, t_plus=t_plus, weekends=weekends)
    late = pairs.select(
        "day",
        due_from=expected_date(pl.col("first"), plain),
        due_to=expected_date(pl.col("last"), plain),
    )
    return (
        days.join_where(
            late,
            pl.col("due_from") <= pl.col("d"),
            pl.col("due_to") >= pl.col("d"),
            pl.col("day") > pl.col("d"),
        )
        .select("d")
        .unique()
        .sort("d")["d"]
        .to_list()
    )


def _same_partition(slots: pl.DataFrame, a: pl.Series, b: pl.Series) -> bool:
    """Whether two business-day labellings group the sales alike (01:00 labels every sale of a
    shop open 09:00-22:00 a day later than 00:00 does, and groups them alike)."""
    keyed = slots.select("key", a=a, b=b)
    distinct = [keyed.select("key", x).n_unique() for x in ("a", "b")]
    return distinct[0] == distinct[1] == keyed.n_unique()


def guess_batch(sales: pl.DataFrame, deposits: pl.DataFrame) -> BatchGuess | None:
    """Guess the settlement calendar when the free bank credits look like batch deposits of the
    free sales; None when they do not (see the module docstring)."""
    slots, keys = _slots(sales)
    n_sales = int(slots["n"].sum()) if slots.height else 0
    n_credits, credits = _credits(deposits, keys)
    if n_credits < 2 or n_sales < MIN_SALES_PER_CREDIT * n_credits:
        return None

    # every candidate at once: the latest first (00:00, 23:30, 23:00, 22:30, 22:00, ...)
    order = sorted(CUTOFFS, key=cutoff_shift_minutes)
    days, groups = _groups(slots, order)
    pairs = _pairs(_windows(groups), credits)
    counts = pairs.group_by("c").agg(count=pl.len()).sort(["count", "c"], descending=[True, False])
    if counts.height == 0 or counts["count"][0] < MIN_EXPLAINED * n_credits:
        return None
    # the latest cut-off among those explaining most; another that groups the sales differently
    # and explains as many makes the guess unsure
    top = counts.filter(pl.col("count") == counts["count"][0])["c"].to_list()
    labels = [days.filter(pl.col("c") == c)["bday"] for c in top]
    tied = any(not _same_partition(slots, labels[0], b) for b in labels[1:])
    cutoff = order[top[0]]
    pairs = pairs.filter(pl.col("c") == top[0])

    weekends = not bool((pairs["day"].dt.weekday() >= 6).any())
    t0, _ = _mode(_lags(pairs, weekends, []))
    holidays = _holidays(pairs, credits, t0, weekends)
    t_plus, at_mode = _mode(_lags(pairs, weekends, holidays))
    settings = SettlementSettings(
        enabled=True,
        cutoff=cutoff,
        t_plus=t_plus,
        weekends=weekends,
        holidays=tuple(d.isoformat() for d in holidays),
    )
    on_calendar = pairs.filter(
        expected_date(pl.col("first"), settings) == pl.col("day"),
        expected_date(pl.col("last"), settings) == pl.col("day"),
    ).height
    sure = (
        not tied
        and at_mode >= SURE_SHARE * pairs.height
        and on_calendar >= SURE_SHARE * pairs.height
    )
    return BatchGuess(
        settings=settings,
        deposits=n_credits,
        explained=pairs.height,
        sure=sure,
        on_calendar=on_calendar,
    )
