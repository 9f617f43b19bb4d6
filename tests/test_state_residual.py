"""Another card altogether in a scheduled run (--state): paired only where chance would not
leave such a credit over, and never between two records carried from earlier runs.

Night 1 has two sales of 50.00 on one till (cards A and B) and one credit of 50.00 of a third
card: either sale could be its payment (another card), so all three stay open. Night 2 brings
sale B's own payment. Only sale A and the credit are left, each the other's only candidate, but
they met the night before and were left open: nothing new speaks for the pair, so they stay
open as orphans that say a look-alike record could be theirs. The same records in one run (no
state) are an account mismatch: there the pair is made the first time the two meet.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from conftest import write_rows

from recon.cli import cli

A, B, C, D = (
    f"{p}******{n}"
    for p, n in (("622202", "1111"), ("622202", "2222"), ("625808", "3333"), ("622848", "4444"))
)
POS = {
    1: [
        f"S1,2026-11-20T10:00:00,50.00,CNY,{A},,sale,T1,M1",
        f"S2,2026-11-20T10:30:00,50.00,CNY,{B},,sale,T1,M1",
    ],
    2: [f"S9,2026-11-21T12:00:00,7.00,CNY,{D},,sale,T1,M1"],
}
BANK = {
    1: [f"O1,2026-11-20T11:00:00,50.00,CNY,{C},,credit,T1,M1"],
    2: [
        f"P2,2026-11-21T02:30:00,50.00,CNY,{B},,credit,T1,M1",
        f"B9,2026-11-21T12:02:00,7.00,CNY,{D},,credit,T1,M1",
    ],
}


def _run(tmp: Path, pos: list[str], bank: list[str], out: str, *extra: str) -> pl.DataFrame:
    args = ["run", "--pos", str(write_rows(tmp / f"{out}-pos.csv", pos))]
    args += ["--bank", str(write_rows(tmp / f"{out}-bank.csv", bank)), "--out", str(tmp / out)]
    res = CliRunner().invoke(cli, [*args, "--json", *extra])
    assert res.exit_code in (0, 1), res.output
    json.loads(res.output)
    return pl.read_csv(tmp / out / "discrepancies.csv", infer_schema=False)


@pytest.mark.parametrize("engine", ["local", "streaming"])
def test_carried_sale_and_credit_of_another_card_stay_open(tmp_path, engine):
    state = str(tmp_path / "state.db")
    extra = ["--state", state] + ([] if engine == "local" else ["--engine", engine])
    first = _run(tmp_path, POS[1], BANK[1], "night1", *extra)
    assert sorted(first["type"]) == ["orphan_bank", "orphan_pos", "orphan_pos"]
    second = _run(tmp_path, POS[2], BANK[2], "night2", *extra)
    assert "account_mismatch" not in set(second["type"])
    assert sorted(second["type"]) == ["orphan_bank", "orphan_pos"]
    row = second.filter(pl.col("type") == "orphan_pos").row(0, named=True)
    assert row["pos_ids"] == "S1" and row["status"] == "carried"
    # the item says a look-alike record could be its settlement
    assert "look-alike" in json.dumps(row)
    credit = second.filter(pl.col("type") == "orphan_bank").row(0, named=True)
    assert credit["bank_ids"] == "O1" and "look-alike" in json.dumps(credit)
    pairs = pl.read_parquet(tmp_path / "night2" / "matches.parquet")
    assert ("S2", "P2") in set(pairs.select("pos_id", "bank_id").iter_rows())


def test_the_same_records_in_one_run_are_an_account_mismatch(tmp_path):
    found = _run(tmp_path, POS[1] + POS[2], BANK[1] + BANK[2], "one")
    mismatch = found.filter(pl.col("type") == "account_mismatch")
    assert mismatch.select("pos_ids", "bank_ids").rows() == [("S1", "O1")]
    assert found.height == 1


def _regulars_day() -> tuple[list[str], list[str]]:
    """A till that rings 50.00 up all morning, each sale paid with its card two minutes later;
    then a sale of 50.00 (card A) and one of 123.45 (card E) each paid three minutes later by a
    credit of another card."""
    pos, bank = [], []
    for i in range(1, 6):
        card = f"622202******10{i:02d}"
        pos.append(f"K{i},2026-11-20T09:{i * 5:02d}:00,50.00,CNY,{card},,sale,T1,M1")
        bank.append(f"Q{i},2026-11-20T09:{i * 5 + 2:02d}:00,50.00,CNY,{card},,credit,T1,M1")
    pos += [
        f"S1,2026-11-20T11:00:00,50.00,CNY,{A},,sale,T1,M1",
        f"S3,2026-11-20T15:00:00,123.45,CNY,{A[:-4]}5555,,sale,T1,M1",
    ]
    bank += [
        f"O1,2026-11-20T11:03:00,50.00,CNY,{C},,credit,T1,M1",
        f"O3,2026-11-20T15:03:00,123.45,CNY,{D},,credit,T1,M1",
    ]
    return pos, bank


def test_a_scheduled_run_pairs_another_card_only_where_chance_would_not(tmp_path):
    """With --state, the credit of another card for the 50.00 sale is left open (the till
    rings 50.00 up all day: a stray credit of it is no sign), the one for 123.45 (rung up
    once) is an account mismatch. A run without state pairs both, as it always has."""
    pos, bank = _regulars_day()
    stated = _run(tmp_path, pos, bank, "state", "--state", str(tmp_path / "s.db"))
    plain = _run(tmp_path, pos, bank, "plain")

    def items(found: pl.DataFrame) -> set[tuple[str, str, str]]:
        rows = found.select("type", "pos_ids", "bank_ids").fill_null("").iter_rows()
        return set(rows)

    assert items(plain) == {("account_mismatch", "S1", "O1"), ("account_mismatch", "S3", "O3")}
    assert items(stated) == {
        ("orphan_pos", "S1", ""),
        ("orphan_bank", "", "O1"),
        ("account_mismatch", "S3", "O3"),
    }
    lone = stated.filter(pl.col("type") == "orphan_pos").row(0, named=True)
    assert "look-alike" in json.dumps(lone)


@pytest.mark.parametrize("engine", ["local", "streaming"])
def test_a_small_shops_only_sale_meets_its_credit_of_another_card(tmp_path, engine):
    """A day of one sale and one credit of another card, same amount and till, minutes apart:
    no other sale could own the credit, so the scheduled run reports the account mismatch as a
    one-off run does, not two orphans."""
    pos = [f"S1,2026-11-20T11:00:00,50.00,CNY,{A},,sale,T1,M1"]
    bank = [f"O1,2026-11-20T11:03:00,50.00,CNY,{C},,credit,T1,M1"]
    state = ("--state", str(tmp_path / "s.db"), "--engine", engine)
    for found in (_run(tmp_path, pos, bank, "plain"), _run(tmp_path, pos, bank, "state", *state)):
        rows = found.select("type", "pos_ids", "bank_ids").rows()
        assert rows == [("account_mismatch", "S1", "O1")]


def test_chance_partners_counts_the_credits_of_the_merchant_inside_the_lag():
    """Leftover credits from the sale's time to its usual lag, times the share of the run's
    other sales at its amount on its till, within its merchant (and over all without
    merchants). M2's only sale has no other sale its credit could be: no chance partner."""
    from datetime import datetime, timedelta

    from recon.match.residual import _chance_partners

    def at(hours: float) -> datetime:
        return datetime(2026, 1, 1) + timedelta(hours=hours)

    sales = pl.DataFrame(
        {
            "prow": [0, 1, 2, 3],
            "time": [at(1), at(2), at(3), at(4)],
            "amount": [5, 5, 5, 7],
            "terminal": ["T1"] * 4,
            "merchant": ["M1", "M1", "M1", "M2"],
        }
    )
    left = sales.filter(pl.col("prow").is_in([0, 3]))
    credits = pl.DataFrame(
        {"time": [at(5), at(6), at(40), at(4.5)], "merchant": ["M1"] * 3 + ["M2"]}
    )
    day = pl.lit(24 * 3600 * 10**6)
    found = _chance_partners(sales, left, credits, ["amount", "terminal", "merchant"], day)
    assert found.sort("prow").rows() == [(0, 2.0), (3, 0.0)]
    found = _chance_partners(
        *(f.drop("merchant") for f in (sales, left, credits)), ["amount", "terminal"], day
    )
    assert found.sort("prow").rows() == [(0, 2.0), (3, 0.0)]


def test_investigate_with_the_state_decides_as_the_scheduled_run(tmp_path):
    """`recon investigate --state` reconciles the files as the scheduled run did (S1 open, its
    credit a look-alike); without a state file, as a one-off run (an account mismatch)."""
    pos, bank = _regulars_day()
    _run(tmp_path, pos, bank, "night", "--state", str(tmp_path / "s.db"))
    files = ["--pos", str(tmp_path / "night-pos.csv"), "--bank", str(tmp_path / "night-bank.csv")]

    def types_of_s1(*extra: str) -> list[str]:
        res = CliRunner().invoke(cli, ["investigate", *files, "--id", "S1", "--json", *extra])
        assert res.exit_code == 0, res.output
        (s1,) = (r for r in json.loads(res.output)["records"] if r["id"] == "S1")
        return [item["type"] for item in s1["items"]]

    assert types_of_s1("--state", str(tmp_path / "s.db")) == ["orphan_pos"]
    assert types_of_s1() == ["account_mismatch"]


def test_a_price_the_till_rang_once_more_in_ten_sales_is_too_common_to_pair_another_card(tmp_path):
    """The sale of 50.00 (card A) and a credit of 50.00 of another card three minutes later,
    the only credit left over; the till rang 50.00 up once more among its nine other sales.
    Chance alone would give such a credit 1 x 1/9 = 0.11 times: more than CHANCE_LIMIT, so the
    scheduled run leaves both open. With no other sale at that price it pairs them."""
    from recon.match.residual import CHANCE_LIMIT

    assert CHANCE_LIMIT < 1 / 9
    pos, bank = [], []
    for i, price in enumerate(["50.00", *(f"{10 + i}.00" for i in range(8))], start=1):
        card = f"622202******20{i:02d}"
        pos.append(f"K{i},2026-11-20T{12 + i}:00:00,{price},CNY,{card},,sale,T1,M1")
        bank.append(f"Q{i},2026-11-20T{12 + i}:02:00,{price},CNY,{card},,credit,T1,M1")
    pos.append(f"S1,2026-11-20T11:00:00,50.00,CNY,{A},,sale,T1,M1")
    bank.append(f"O1,2026-11-20T11:03:00,50.00,CNY,{C},,credit,T1,M1")

    def items(pos: list[str], out: str) -> set[tuple]:
        found = _run(tmp_path, pos, bank, out, "--state", str(tmp_path / f"{out}.db"))
        return set(found.select("type", "pos_ids", "bank_ids").fill_null("").iter_rows())

    assert items(pos, "once-more") == {("orphan_pos", "S1", ""), ("orphan_bank", "", "O1")}
    # The other sale of 50.00 and its credit at 9.00 instead: nothing else at that price.
    pos[0], bank[0] = (row.replace(",50.00,", ",9.00,") for row in (pos[0], bank[0]))
    assert items(pos, "alone") == {("account_mismatch", "S1", "O1")}
