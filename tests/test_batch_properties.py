"""Nothing lost on random batch days: every POS and bank id of a batch run ends in the matches
or in an item, whatever the faults (sales left out, unexplained money, fee over-charges, late
deposits, deposits in parts, pooled pay dates, deposits that never came), with the calendar
configured and with none (the calendar then guessed, or no batches at all)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
from conftest import canonical
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recon.classify import classify_all
from recon.config import Settings, SettlementSettings
from recon.match import match

START = dt.date(2026, 11, 16)  # a Monday
AMOUNTS = [990, 2500, 2500, 4200, 12800, 1, 199999, 36000]
RATES = [38, 45, 60]  # per ten thousand
CALENDAR = SettlementSettings(enabled=True, cutoff="23:00", t_plus=1)


def _money(minor: int) -> str:
    sign = "-" if minor < 0 else ""
    return f"{sign}{abs(minor) // 100}.{abs(minor) % 100:02d}"


def _paid(day: dt.date) -> dt.date:
    """T+1 business day; a weekend's sales are paid with Friday's."""
    while day.weekday() >= 5:
        day -= dt.timedelta(days=1)
    day += dt.timedelta(days=1)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return day


@st.composite
def batch_days(draw):
    merchants = draw(st.integers(1, 3))
    days = draw(st.integers(1, 8))
    stated = draw(st.booleans())
    pooled = draw(st.booleans())
    pos, bank, groups = [], [], {}
    for m in range(merchants):
        rate = draw(st.sampled_from(RATES))
        for d in range(days):
            day = START + dt.timedelta(days=d)
            for i in range(draw(st.integers(0, 5))):
                minute = draw(st.integers(8 * 60, 24 * 60 - 1))
                amount = draw(st.sampled_from(AMOUNTS))
                refund = draw(st.integers(0, 9)) == 0
                when = dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=minute)
                signed = -amount if refund else amount
                pid = f"P{m}-{d}-{i}"
                pos.append(
                    {
                        "id": pid,
                        "time": when.isoformat(),
                        "amount": _money(signed),
                        "merchant": f"M{m}",
                        "terminal": f"T{m}",
                        "account": "622202******1234",
                    }
                )
                business = (when + dt.timedelta(hours=1)).date()
                key = (m, _paid(business) if pooled else business)
                fee = (amount * rate + 5_000) // 10_000 * (-1 if refund else 1)
                groups.setdefault(key, []).append((signed, fee, rate))
    for (m, key_day), rows in sorted(groups.items()):
        gross = sum(a for a, _, _ in rows)
        fee = sum(f for _, f, _ in rows)
        fault = draw(
            st.sampled_from(["none", "none", "drop", "extra", "fee", "late", "split", "never"])
        )
        if fault == "never":
            continue
        if fault == "drop" and len(rows) > 1:
            gross -= rows[0][0]
            fee -= rows[0][1]
        elif fault == "fee":
            fee += max(100, fee // 2)
        net = gross - fee + (draw(st.sampled_from(AMOUNTS)) if fault == "extra" else 0)
        paid = key_day if pooled else _paid(key_day)
        if fault == "late":
            paid += dt.timedelta(days=draw(st.integers(1, 4)))
        parts = draw(st.integers(2, 3)) if fault == "split" else 1
        for k in range(parts):
            share, fee_share = net // parts, fee // parts
            if k == parts - 1:
                share, fee_share = net - share * (parts - 1), fee - fee_share * (parts - 1)
            row = {
                "id": f"D{m}-{key_day:%m%d}-{k}",
                "time": f"{paid.isoformat()}T06:{10 + k:02d}:00",
                "amount": _money(share),
                "merchant": f"M{m}",
                "reference": f"POS SETTLEMENT M{m} {key_day:%Y%m%d}",
            }
            if stated:
                row["fee"] = _money(fee_share)
            bank.append(row)
    for j in range(draw(st.integers(0, 2))):
        bank.append(
            {
                "id": f"X{j}",
                "time": f"{START + dt.timedelta(days=draw(st.integers(1, 9)))}T09:00:00",
                "amount": _money(draw(st.sampled_from(AMOUNTS))),
                "merchant": "M0",
            }
        )
    return pos, bank


def _ids(col: pl.Series) -> list[str]:
    return [i for v in col.drop_nulls() for i in v.split(";") if i]


def _check(pos_rows: list[dict], bank_rows: list[dict], cfg: SettlementSettings) -> None:
    pos, bank = canonical(pos_rows, "pos"), canonical(bank_rows, "bank")
    run = Settings(settlement=cfg)
    out = classify_all(match(pos, bank, run.match), run)
    disc, matches = out.discrepancies, out.matches

    # Nothing lost: every input id is in a match or an item.
    seen_pos = set(matches["pos_id"].drop_nulls()) | set(_ids(disc["pos_ids"]))
    seen_bank = set(matches["bank_id"].drop_nulls()) | set(_ids(disc["bank_ids"]))
    assert seen_pos == set(pos["id"])
    assert seen_bank == set(bank["id"])
    # A sale is paid once: by one deposit group or one bank row, never two.
    paid = matches.filter(pl.col("pos_id").is_not_null(), pl.col("bank_id").is_not_null())
    assert paid["pos_id"].n_unique() == paid.height
    # A sale a deposit paid is not also an orphan.
    orphans = set(_ids(disc.filter(pl.col("type") == "orphan_pos")["pos_ids"]))
    assert orphans.isdisjoint(set(paid["pos_id"]))
    # A deposit row belongs to one group.
    groups = matches.filter(pl.col("group_id").is_not_null())
    per_row = groups.group_by("bank_id").agg(pl.col("group_id").n_unique())
    assert per_row["group_id"].max() in (None, 1)

    # Money exact: every amount written is its record's input amount.
    src = {r["id"]: Decimal(r["amount"]) for r in [*pos_rows, *bank_rows]}
    for r in matches.iter_rows(named=True):
        if r["pos_id"] is not None:
            assert Decimal(r["pos_amount"]) == src[r["pos_id"]]
        if r["bank_id"] is not None:
            assert Decimal(r["bank_amount"]) == src[r["bank_id"]]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch_days())
def test_batch_days_lose_nothing_with_the_calendar(day):
    _check(*day, CALENDAR)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch_days())
def test_batch_days_lose_nothing_without_settlement(day):
    # no [settlement]: the calendar is guessed when the bank side looks like daily deposits
    _check(*day, SettlementSettings())
