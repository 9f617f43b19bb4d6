"""Guessing the settlement calendar of a bank file of daily net deposits (recon.detect_batch)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from recon.config import SettlementSettings
from recon.detect_batch import guess_batch
from recon.settle import business_day, expected_date

START = dt.date(2026, 3, 2)  # a Monday
# Each merchant's fee rate in millionths: 0.38 %, 0.5 %, 0.6 %.
RATES = {"M1": 3_800, "M2": 5_000, "M3": 6_000}
HOLIDAYS = ("2026-03-12", "2026-03-25")  # a Thursday and a Wednesday


def month(
    seed: int = 1,
    *,
    sales: int = 700,
    weeks: int = 5,
    rates: dict[str, int] | None = None,
    cutoff: str = "23:00",
    t_plus: int = 1,
    weekends: bool = True,
    holidays: tuple[str, ...] = HOLIDAYS,
    fee_stated: bool = True,
    pooled: bool = True,
    noise: int = 2,
    late_share: float = 0.08,
    refund_share: float = 0.05,
    fee_on_refunds: bool = False,
    t_plus_by_merchant: dict[str, int] | None = None,
    cutoff_by_merchant: dict[str, str] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """POS sales and refunds of `weeks` weeks and the acquirer's net deposits for them.

    The acquirer pays each merchant's business day (by `cutoff`) `t_plus` business days later,
    net of round-half-up(amount x rate) (refunds carry no fee unless `fee_on_refunds`, which
    gives the fee of a refunded amount back): one deposit per merchant and pay
    date when `pooled` (Friday to Sunday on Monday), else one per business day. Deposits due
    after the last sale day have not arrived. `noise` unrelated credits are added.
    """
    rates = rates or RATES
    rng = np.random.default_rng(seed)
    days = weeks * 7
    merchant = np.array(sorted(rates))[rng.integers(0, len(rates), sales)]
    minute = rng.integers(9 * 60, 23 * 60, sales)
    late = rng.random(sales) < late_share
    minute[late] = rng.integers(23 * 60, 24 * 60, int(late.sum()))
    secs = rng.integers(0, days, sales) * 86_400 + minute * 60 + rng.integers(0, 60, sales)
    secs.sort()
    amount = rng.integers(500, 80_000, sales)
    refund = rng.random(sales) < refund_share
    amount[refund] = -rng.integers(100, 5_000, int(refund.sum()))
    pos = pl.DataFrame(
        {
            "prow": pl.int_range(sales, eager=True).cast(pl.UInt32),
            "time": pl.Series(secs * 1_000_000).cast(pl.Duration("us"))
            + dt.datetime.combine(START, dt.time()),
            "has_clock": True,
            "amount": amount,
            "currency": "CNY",
            "merchant": merchant,
            "terminal": np.char.add(merchant, "-T1"),
            "kind": np.where(refund, "refund", "sale"),
        }
    ).with_columns(pl.col("time").cast(pl.Datetime("us")))

    def calendar(cut: str, t: int) -> SettlementSettings:
        return SettlementSettings(
            enabled=True, cutoff=cut, t_plus=t, weekends=weekends, holidays=holidays
        )

    parts = []
    for m in sorted(rates):
        cfg = calendar(
            (cutoff_by_merchant or {}).get(m, cutoff), (t_plus_by_merchant or {}).get(m, t_plus)
        )
        parts.append(
            pos.filter(pl.col("merchant") == m)
            .with_columns(
                bday=business_day(cfg.cutoff),
                fee=pl.when((pl.col("amount") > 0) | fee_on_refunds)
                .then(
                    pl.col("amount").sign()
                    * ((pl.col("amount").abs() * rates[m] + 500_000) // 1_000_000)
                )
                .otherwise(0),
            )
            .with_columns(pay=expected_date(pl.col("bday"), cfg))
        )
    paid = pl.concat(parts)
    last_day = START + dt.timedelta(days=days - 1)
    deposits = (
        paid.group_by("merchant", pl.col("pay" if pooled else "bday").alias("key"))
        .agg(gross=pl.col("amount").sum(), fee=pl.col("fee").sum(), pay=pl.col("pay").max())
        .filter(pl.col("pay") <= last_day)
        .sort("pay", "merchant", "gross")
        .select(
            time=pl.col("pay").cast(pl.Datetime("us")),
            amount=pl.col("gross") - pl.col("fee"),
            currency=pl.lit("CNY"),
            kind=pl.when(pl.col("gross") >= pl.col("fee"))
            .then(pl.lit("credit"))
            .otherwise(pl.lit("debit")),
            merchant=pl.col("merchant"),
            fee=(-pl.col("fee") if fee_stated else pl.lit(None)).cast(pl.Int64),
        )
    )
    stray = pl.DataFrame(
        {
            "time": [
                dt.datetime.combine(START, dt.time()) + dt.timedelta(days=1 + 7 * i)
                for i in range(noise)
            ],
            "amount": rng.integers(1_000, 100_000, noise),
            "currency": "CNY",
            "kind": "credit",
            "merchant": None,
            "fee": None,
        },
        schema_overrides={"merchant": pl.String, "fee": pl.Int64, "time": pl.Datetime("us")},
    )
    bank = pl.concat([deposits, stray], how="vertical_relaxed").with_row_index("brow")
    return pos, bank


def _credits(bank: pl.DataFrame) -> int:
    return bank.filter(pl.col("kind") == "credit").height


def _expect(guess, **kw) -> None:
    assert guess is not None
    want = {"cutoff": "23:00", "t_plus": 1, "weekends": True, "holidays": HOLIDAYS} | kw
    got = {k: getattr(guess.settings, k) for k in want}
    assert got == want
    assert guess.settings.enabled


@pytest.mark.parametrize("fee_stated", [True, False])
@pytest.mark.parametrize("pooled", [True, False])
def test_guesses_cutoff_t_plus_weekends_and_holidays(fee_stated, pooled):
    pos, bank = month(seed=3, fee_stated=fee_stated, pooled=pooled)
    guess = guess_batch(pos, bank)
    _expect(guess)
    assert guess.sure
    assert guess.deposits == _credits(bank)
    # every deposit but the two stray credits is explained, and paid on the guessed calendar
    assert guess.explained == _credits(bank) - 2
    assert guess.on_calendar == guess.explained


def test_guess_over_several_months():
    # without stated fees the deposits are told apart by each merchant's usual rate only, of
    # the sales alone or of sales net of refunds
    for seed in range(10, 18):
        pos, bank = month(
            seed=seed,
            fee_stated=seed % 2 == 0,
            pooled=seed % 3 != 0,
            fee_on_refunds=seed % 4 == 1,
        )
        guess = guess_batch(pos, bank)
        _expect(guess)
        assert guess.sure
        assert guess.explained >= 0.95 * (_credits(bank) - 2)


def test_seven_day_acquirer_paying_t_plus_two_at_midnight():
    pos, bank = month(seed=5, cutoff="00:00", t_plus=2, weekends=False, holidays=())
    guess = guess_batch(pos, bank)
    _expect(guess, cutoff="00:00", t_plus=2, weekends=False, holidays=())
    assert guess.sure


def test_merchant_names_missing_on_the_bank_side():
    pos, bank = month(seed=7, fee_stated=True)
    # and the fee written as a positive number
    unnamed = bank.with_columns(merchant=pl.lit(None, pl.String), fee=-pl.col("fee"))
    guess = guess_batch(pos, unnamed)
    _expect(guess)
    assert guess.sure


def test_one_shop_naming_no_merchant():
    pos, bank = month(seed=8, rates={"M1": 4_500}, fee_stated=False, pooled=False, sales=400)
    guess = guess_batch(
        pos.with_columns(merchant=pl.lit(None, pl.String)),
        bank.with_columns(merchant=pl.lit(None, pl.String)),
    )
    _expect(guess)
    assert guess.sure


def test_a_day_of_missing_deposits_is_no_holiday():
    # nothing arrived on Tuesday 17 March and the sales due that day were never paid: the file
    # misses them, the acquirer was not closed
    pos, bank = month(seed=3, fee_stated=False)
    gap = bank.filter(pl.col("time").dt.date() != dt.date(2026, 3, 17))
    guess = guess_batch(pos, gap)
    _expect(guess)
    assert guess.explained == _credits(gap) - 2


def test_one_credit_per_sale_is_not_batch():
    pos, _ = month(seed=3)
    # paid sale by sale, net of the fee (fee stated, and not)
    per_sale = pos.filter(pl.col("kind") == "sale").select(
        brow=pl.int_range(pl.len()).cast(pl.UInt32),
        time=(pl.col("time") + pl.duration(days=1)).dt.truncate("1d"),
        amount=pl.col("amount") - (pl.col("amount") * 6 + 500) // 1000,
        currency=pl.col("currency"),
        kind=pl.lit("credit"),
        merchant=pl.col("merchant"),
        fee=((pl.col("amount") * 6 + 500) // 1000).cast(pl.Int64),
    )
    assert guess_batch(pos, per_sale) is None
    assert guess_batch(pos, per_sale.with_columns(fee=pl.lit(None, pl.Int64))) is None
    # what the one-to-one passes leave of such a file: a few sales and their credits
    assert guess_batch(pos.head(30), per_sale.head(25)) is None


def test_a_single_credit_is_not_enough():
    pos, bank = month(seed=3)
    assert guess_batch(pos, bank.head(1)) is None
    assert guess_batch(pos, bank.head(0)) is None
    assert guess_batch(pos.head(0), bank) is None


def test_unrelated_credits_are_not_batch():
    pos, bank = month(seed=3)
    shuffled = bank.with_columns(amount=pl.col("amount").shuffle(seed=1) + 7)
    assert guess_batch(pos, shuffled) is None


def test_cutoffs_explaining_as_many_deposits_are_ambiguous():
    # two merchants whose acquirers cut off at 22:00 and 23:00, each with a sale at 22:15 every
    # day: either cut-off explains one merchant's deposits, the same count
    pos, bank = month(
        seed=9,
        rates={"M1": 3_800, "M2": 6_000},
        noise=0,
        cutoff_by_merchant={"M1": "22:00", "M2": "23:00"},
        late_share=0.0,
    )
    dates = [START + dt.timedelta(days=i) for i in range(35)]
    extra = pl.DataFrame(
        {
            "time": [dt.datetime.combine(d, dt.time(22, 15)) for d in dates for _ in (1, 2)],
            "merchant": ["M1", "M2"] * len(dates),
        }
    )
    pos2 = pl.concat(
        [
            pos.filter(pl.col("time").dt.hour() < 22),
            extra.with_columns(
                prow=pl.int_range(pl.len()).cast(pl.UInt32) + 10_000,
                has_clock=True,
                amount=(pl.int_range(pl.len()) * 7_919 % 50_000 + 1_000).cast(pl.Int64),
                currency=pl.lit("CNY"),
                terminal=pl.col("merchant") + "-T1",
                kind=pl.lit("sale"),
            ),
        ],
        how="diagonal_relaxed",
    )
    # rebuild the deposits for these sales with the same calendars
    parts = []
    for m, cut, rate in (("M1", "22:00", 3_800), ("M2", "23:00", 6_000)):
        cfg = SettlementSettings(enabled=True, cutoff=cut, holidays=HOLIDAYS)
        parts.append(
            pos2.filter(pl.col("merchant") == m)
            .with_columns(
                fee=pl.when(pl.col("amount") > 0)
                .then((pl.col("amount") * rate + 500_000) // 1_000_000)
                .otherwise(0),
                pay=expected_date(business_day(cut), cfg),
            )
            .group_by("merchant", "pay")
            .agg(gross=pl.col("amount").sum(), fee=pl.col("fee").sum())
        )
    bank = (
        pl.concat(parts)
        .filter(pl.col("pay") <= START + dt.timedelta(days=34))
        .sort("pay", "merchant")
        .select(
            brow=pl.int_range(pl.len()).cast(pl.UInt32),
            time=pl.col("pay").cast(pl.Datetime("us")),
            amount=pl.col("gross") - pl.col("fee"),
            currency=pl.lit("CNY"),
            kind=pl.lit("credit"),
            merchant=pl.col("merchant"),
            fee=pl.col("fee"),
        )
    )
    guess = guess_batch(pos2, bank)
    assert guess is not None
    assert guess.explained * 2 == bank.height
    assert not guess.sure


def test_paid_t_plus_one_or_two_is_ambiguous():
    pos, bank = month(seed=4, t_plus_by_merchant={"M1": 1, "M2": 2, "M3": 2})
    guess = guess_batch(pos, bank)
    assert guess is not None
    assert guess.explained == _credits(bank) - 2
    assert not guess.sure
