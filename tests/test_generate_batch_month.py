"""The batch month generator: invariants of the generated POS rows, deposits and truth.

Only the generator is checked here (no reconciliation): its calendar and fees are recomputed
by hand, so a bug in the generator does not hide behind the same bug in recon.settle.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from recon.cli import cli
from recon.config import load_settings
from recon.generate_batch import MONTH_HOLIDAYS, MONTH_RATES_E4, batch_month

HOLIDAYS = {dt.date.fromisoformat(d) for d in MONTH_HOLIDAYS}
LAST_DAY = dt.date(2026, 12, 1)  # 30 days from Monday 2 November
SALES = 3_000


def _fen(text: str) -> int:
    sign = -1 if text.startswith("-") else 1
    whole, frac = text.lstrip("-").split(".")
    return sign * (int(whole) * 100 + int(frac))


def _fee(amount: int, rate_e4: int) -> int:
    return (abs(amount) * rate_e4 + 5_000) // 10_000


def _paid_on(business_day: dt.date) -> dt.date:
    """T+1: the next weekday that is not a holiday."""
    day = business_day + dt.timedelta(days=1)
    while day.weekday() >= 5 or day in HOLIDAYS:
        day += dt.timedelta(days=1)
    return day


def _business_day(t: dt.datetime) -> dt.date:
    return t.date() + dt.timedelta(days=1) if t.time() >= dt.time(23, 0) else t.date()


class Month:
    """A generated month with lookups by id."""

    def __init__(self, pooled: bool, refund_fee: str = "returned", seed: int = 5) -> None:
        self.pos, self.bank, self.truth = batch_month(
            SALES, seed, pooled=pooled, refund_fee=refund_fee
        )
        self.p = {r["id"]: r for r in self.pos.iter_rows(named=True)}
        self.b = {r["id"]: r for r in self.bank.iter_rows(named=True)}
        self.rows = list(self.truth.iter_rows())

    def of(self, typ: str) -> list[tuple[str, str]]:
        return [(p, b) for t, p, b in self.rows if t == typ]

    def deposits(self) -> list[tuple[list[str], list[str]]]:
        return [(p.split(";") if p else [], b.split(";")) for p, b in self.of("deposit")]


@pytest.fixture(scope="module", params=[False, True], ids=["per-day", "pooled"])
def month(request) -> Month:
    return Month(request.param)


def test_same_seed_same_month_other_seed_other_month():
    a, b = batch_month(800, 3), batch_month(800, 3)
    for x, y in zip(a, b, strict=True):
        assert x.equals(y)
    assert not batch_month(800, 4)[0].equals(a[0])
    # pooled or not, the same POS file: only the deposits differ
    pooled = batch_month(800, 3, pooled=True)
    assert pooled[0].equals(a[0]) and not pooled[1].equals(a[1])


def test_columns_and_shapes(month):
    assert month.pos.columns == [
        "id",
        "time",
        "amount",
        "currency",
        "account",
        "kind",
        "terminal",
        "merchant",
        "reference",
    ]
    assert month.bank.columns == [
        "id",
        "time",
        "amount",
        "fee",
        "currency",
        "kind",
        "merchant",
        "reference",
        "memo",
    ]
    assert month.pos.filter(pl.col("kind") == "sale").height == SALES
    assert month.pos["id"].n_unique() == month.pos.height
    assert month.pos["reference"].str.contains(r"^\d{12}$").all()
    assert month.pos["reference"].n_unique() == month.pos.height
    assert month.pos["account"].str.contains(r"^\d{6}\*{6}\d{4}$").all()
    assert month.pos["account"].str.slice(0, 6).n_unique() >= 6
    assert month.pos["merchant"].n_unique() == 20
    times = month.pos["time"]
    assert times.min() >= dt.datetime(2026, 11, 2, 8) and times.max() < dt.datetime(2026, 12, 2)
    assert (times.dt.hour() < 8).sum() == 0
    assert (times.dt.hour() == 23).sum() > 0  # after the cut-off
    assert set(month.bank["kind"]) == {"credit"}
    refunds = month.pos.filter(pl.col("kind") == "refund")
    assert 0.03 < refunds.height / month.pos.height < 0.05
    assert refunds["amount"].str.starts_with("-").all()


def test_every_bank_id_in_exactly_one_deposit_and_every_pos_id_accounted_once(month):
    bank_ids = Counter(i for _, b in month.deposits() for i in b)
    assert sorted(bank_ids) == sorted(month.b) and set(bank_ids.values()) == {1}
    paid = [i for p, _ in month.deposits() for i in p]
    missing = [p for p, _ in month.of("orphan_pos")]
    pending = [p for p, b in month.of("late_settlement") if not b]
    assert Counter(paid + missing + pending) == Counter(list(month.p))
    for pos_ids, _ in month.deposits():
        assert pos_ids == sorted(pos_ids)


def test_net_plus_stated_fee_is_gross_except_unexplained_extra_money(month):
    extra = {b for _, b in month.of("amount_mismatch")}
    assert len(extra) == 4
    for pos_ids, bank_ids in month.deposits():
        gross = sum(_fen(month.p[i]["amount"]) for i in pos_ids)
        paid = sum(_fen(month.b[i]["amount"]) + _fen(month.b[i]["fee"]) for i in bank_ids)
        if bank_ids[0] in extra:
            assert paid > gross
        else:
            assert paid == gross, bank_ids
        assert all(_fen(month.b[i]["amount"]) > 0 for i in bank_ids)


@pytest.mark.parametrize("refund_fee", ["returned", "kept"])
def test_each_merchant_has_one_rate_and_fees_round_half_up(refund_fee):
    month = Month(pooled=False, refund_fee=refund_fee)
    over = {b for _, b in month.of("fee_mismatch")}
    assert len(over) == 4

    def fee(pos_ids: list[str], rate: int) -> int:
        total = 0
        for i in pos_ids:
            amount = _fen(month.p[i]["amount"])
            if amount > 0:
                total += _fee(amount, rate)
            elif refund_fee == "returned":
                total -= _fee(amount, rate)
        return total

    rates: dict[str, set[int]] = {}
    for pos_ids, bank_ids in month.deposits():
        merchant = month.b[bank_ids[0]]["merchant"]
        assert {month.p[i]["merchant"] for i in pos_ids} == {merchant}
        if bank_ids[0] in over:
            continue
        stated = sum(_fen(month.b[i]["fee"]) for i in bank_ids)
        fits = {r for r in MONTH_RATES_E4 if fee(pos_ids, r) == stated}
        assert fits, bank_ids
        rates.setdefault(merchant, set(MONTH_RATES_E4)).intersection_update(fits)
    assert all(len(r) == 1 for r in rates.values()), rates
    assert len({next(iter(r)) for r in rates.values()}) >= 3  # merchants differ
    # an over-charge: 20-80 % of the right fee, at least 1.00
    for pos_ids, bank_ids in month.deposits():
        if bank_ids[0] in over:
            (rate,) = rates[month.b[bank_ids[0]]["merchant"]]
            right = fee(pos_ids, rate)
            extra = sum(_fen(month.b[i]["fee"]) for i in bank_ids) - right
            assert max(100, right * 20 // 100) <= extra <= max(100, right * 80 // 100)


def test_refunds_are_of_an_earlier_sale_of_the_same_merchant_netted_on_their_own_day(month):
    links = month.of("refund")
    refunds = month.pos.filter(pl.col("kind") == "refund")["id"].to_list()
    assert sorted(p.split(";")[0] for p, _ in links) == sorted(refunds)
    sales = [p.split(";")[1] for p, _ in links]
    assert len(set(sales)) == len(sales)  # a sale is refunded once at most
    full = 0
    for ids, _ in links:
        refund, sale = (month.p[i] for i in ids.split(";"))
        assert refund["kind"] == "refund" and sale["kind"] == "sale"
        assert refund["merchant"] == sale["merchant"]
        assert refund["account"] == sale["account"]
        assert refund["time"].date() > sale["time"].date()
        assert 0 < -_fen(refund["amount"]) <= _fen(sale["amount"])
        full += -_fen(refund["amount"]) == _fen(sale["amount"])
    assert 0 < full < len(links)  # full and partial refunds
    # a refund is netted in the deposit of its own business day
    for pos_ids, bank_ids in month.deposits():
        for i in pos_ids:
            if month.p[i]["kind"] == "refund":
                assert month.b[bank_ids[0]]["time"].date() >= _paid_on(
                    _business_day(month.p[i]["time"])
                )


def test_deposits_follow_the_calendar(month):
    late = {b: None for _, b in month.of("late_settlement") if b}
    assert len(late) == 4
    for pos_ids, bank_ids in month.deposits():
        days = {month.b[i]["time"].date() for i in bank_ids}
        assert len(days) == 1
        (paid,) = days
        assert paid.weekday() < 5 and paid not in HOLIDAYS and paid <= LAST_DAY
        due = {_paid_on(_business_day(month.p[i]["time"])) for i in pos_ids}
        assert len(due) == 1, bank_ids  # one deposit, one pay date
        if bank_ids[0] in late:
            assert paid > due.pop()
        else:
            assert paid == due.pop()
    # sales not paid by the end of the month are the ones whose pay date is after it
    for p, b in month.of("late_settlement"):
        if not b:
            assert _paid_on(_business_day(month.p[p]["time"])) > LAST_DAY


def test_pooled_pays_the_weekend_and_the_days_before_a_holiday_in_one_deposit():
    per_day, pooled = Month(pooled=False), Month(pooled=True)

    def business_days(m: Month) -> list[set[dt.date]]:
        return [{_business_day(m.p[i]["time"]) for i in p} for p, _ in m.deposits()]

    assert max(len(d) for d in business_days(per_day)) == 1
    many = [d for d in business_days(pooled) if len(d) > 1]
    assert any(
        {dt.date(2026, 11, 6), dt.date(2026, 11, 7), dt.date(2026, 11, 8)} <= d for d in many
    )
    assert any({dt.date(2026, 11, 10), dt.date(2026, 11, 11)} <= d for d in many)
    # per day: Friday, Saturday and Sunday give three credits on Monday for one merchant
    monday = per_day.bank.filter(pl.col("time").dt.date() == dt.date(2026, 11, 9))
    assert monday.group_by("merchant").len()["len"].max() >= 3


def test_faults(month):
    splits = [b.split(";") for _, b in month.of("split")]
    assert len(splits) == 4 and max(len(s) for s in splits) == 3
    deposits = {tuple(b) for _, b in month.deposits()}
    for parts in splits:
        assert tuple(parts) in deposits
        assert [p[-1] for p in parts] == list("abc"[: len(parts)])
        assert len({month.b[p]["merchant"] for p in parts}) == 1
    assert len(month.of("orphan_pos")) == 4
    faulted = [b for t in ("amount_mismatch", "fee_mismatch", "split") for _, b in month.of(t)]
    faulted += [b for _, b in month.of("late_settlement") if b]
    assert len(faulted) == len(set(faulted)) == 16


def test_written_month_reads_back_without_rejected_rows(tmp_path: Path):
    out = tmp_path / "month"
    res = CliRunner().invoke(
        cli, ["sample", "--settlement", "month", "--rows", "1500", "--out", str(out), "-q"]
    )
    assert res.exit_code == 0, res.output
    assert {p.name for p in out.iterdir()} == {
        "pos.csv",
        "bank.csv",
        "truth.csv",
        "settlement.toml",
    }
    for side in ("pos", "bank"):
        res = CliRunner().invoke(
            cli, ["inspect", str(out / f"{side}.csv"), "--side", side, "--json"]
        )
        assert res.exit_code == 0, res.output
        info = json.loads(res.output)
        assert info["rows"]["rejected"] == 0 and info["rows"]["loaded"] == info["rows"]["read"] > 0
        assert info["unmapped"] == []
    assert "fee" in json.loads(res.output)["columns"]
    cfg = load_settings(out / "settlement.toml").settlement
    assert cfg.enabled and cfg.fees == ()
    assert (cfg.cutoff, cfg.t_plus, cfg.weekends, cfg.holidays) == (
        "23:00",
        1,
        True,
        MONTH_HOLIDAYS,
    )
    truth = pl.read_csv(out / "truth.csv", infer_schema=False)
    assert truth.columns == ["type", "pos_ids", "bank_ids"]
