"""Real export files from public projects (../shared/realdata), read through a user's profile.

These files are not copied into the repository (several are GPL/AGPL): the tests read them where
the team keeps them and skip with a reason on a clone without that folder.
"""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from conftest import SHARED

from recon.cli import cli
from recon.exprs import formatted
from recon.load import load_side
from recon.money import format_expr

REALDATA = SHARED / "realdata"
PAYPAL = REALDATA / "pos_exports" / "oca-bank-statement-import__statement_en.csv"
STRIPE = REALDATA / "pos_exports" / "hledger__stripe.csv"

needs_realdata = pytest.mark.skipif(
    not REALDATA.is_dir(), reason=f"{REALDATA} is absent (the team's shared sample files)"
)

PAYPAL_PROFILE = """
name = "paypal-activity"
description = "PayPal activity download: US dates, thousands commas, a currency column"
datetime_format = ["%m/%d/%Y"]
date_only = true
thousands_mark = ","
[columns]
id = "Transaction ID"
time = "Date"
amount = "Gross"
currency = "Currency"
fee = "Fee"
reference = "Transaction ID"
"""

STRIPE_PROFILE = """
name = "stripe-balance"
datetime_format = ["%Y-%m-%d %H:%M:%S"]
[columns]
id = "balance_transaction_id"
time = "created_utc"
amount = "gross"
currency = "currency"
fee = "fee"
reference = "balance_transaction_id"
kind = "reporting_category"
[kinds]
charge = "credit"
refund = "debit"
"""


def _independent_totals(path: Path, amount_col: str) -> tuple[int, Decimal]:
    """Row count and total read with the csv module and Decimal: not with recon's parser."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    return len(rows), sum((Decimal(r[amount_col].replace(",", "")) for r in rows), Decimal(0))


@needs_realdata
@pytest.mark.parametrize(
    ("path", "profile", "amount_col"),
    [(PAYPAL, PAYPAL_PROFILE, "Gross"), (STRIPE, STRIPE_PROFILE, "gross")],
)
def test_real_export_loads_through_a_profile_with_every_row_and_cent(
    tmp_path, path, profile, amount_col
):
    prof = tmp_path / "profile.toml"
    prof.write_text(profile)
    loaded = load_side(path, "bank", str(prof))
    count, total = _independent_totals(path, amount_col)
    assert loaded.rejected.height == 0, loaded.rejected.to_dicts()
    assert loaded.frame.height == count
    cents = loaded.frame["amount"].sum()
    assert Decimal(cents) / 100 == total
    # Debits come out negative and credits positive.
    assert (loaded.frame.filter(pl.col("kind") == "debit")["amount"] < 0).all()
    assert (loaded.frame.filter(pl.col("kind") == "credit")["amount"] >= 0).all()


@needs_realdata
def test_real_statement_reconciles_against_the_pos_records_it_settles(tmp_path):
    """A POS file built from the statement's own rows (reference = transaction id) reconciles
    with every pair matched; removing one POS row leaves exactly one orphan_bank."""
    prof = tmp_path / "paypal.toml"
    prof.write_text(PAYPAL_PROFILE)
    bank = load_side(PAYPAL, "bank", str(prof)).frame
    pos = bank.select(
        id=formatted("P-{}", pl.col("id")),
        time=pl.col("time").dt.strftime("%Y-%m-%dT00:00:00"),
        amount=format_expr(pl.col("amount"), pl.col("currency")),
        currency="currency",
        reference="reference",
    )
    pos_csv = tmp_path / "pos.csv"
    pos.write_csv(pos_csv)
    args = ["run", "--bank", str(PAYPAL), "--bank-profile", str(prof), "--quiet"]
    res = CliRunner().invoke(cli, [*args, "--pos", str(pos_csv), "--out", str(tmp_path / "a")])
    assert res.exit_code == 0, res.output
    matches = pl.read_parquet(tmp_path / "a" / "matches.parquet")
    assert matches.height == bank.height
    assert set(matches["rule"]) == {"reference"}

    pos.slice(1).write_csv(pos_csv)
    res = CliRunner().invoke(cli, [*args, "--pos", str(pos_csv), "--out", str(tmp_path / "b")])
    assert res.exit_code == 1
    disc = pl.read_csv(tmp_path / "b" / "discrepancies.csv", infer_schema=False)
    assert disc.select("type", "bank_ids").rows() == [("orphan_bank", bank["id"][0])]
