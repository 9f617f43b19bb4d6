"""A round trip per input format: a POS export built from a statement's own entries, with three
faults injected, reconciles against the statement in its native format to exactly those faults.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from conftest import DATA

from recon.cli import cli
from recon.exprs import formatted
from recon.load import load_side
from recon.money import format_expr

STATEMENTS = [
    ("mt940", DATA / "statements" / "simple.mt940", None),
    ("bai2", DATA / "statements" / "simple.bai2", None),
    ("camt", DATA / "statements_xml" / "statement.camt053.xml", None),
    ("ofx", DATA / "statements_xml" / "statement.ofx", None),
    ("csv", DATA / "bills" / "bank_income_expense_small.csv", None),
    ("csv", DATA / "bills" / "wechat_bill_small.csv", None),
]


def _pos_from(bank: pl.DataFrame) -> pl.DataFrame:
    """The POS records a shop would hold for these settlements: same reference (or none),
    same amount, sold on the booking day (or just before the booking time)."""
    sale_time = (
        pl.when(pl.col("has_clock"))
        .then(pl.col("time") - pl.duration(minutes=5))
        .otherwise(pl.col("time").dt.truncate("1d") + pl.duration(hours=10))
    )
    return bank.select(
        id=formatted("P-{}", pl.int_range(1, pl.len() + 1)),
        time=sale_time.dt.strftime("%Y-%m-%dT%H:%M:%S"),
        amount=format_expr(pl.col("amount"), pl.col("currency")),
        currency="currency",
        reference="reference",
        kind=pl.when(pl.col("amount") < 0).then(pl.lit("refund")).otherwise(pl.lit("sale")),
    )


@pytest.mark.parametrize(
    ("reader", "path", "profile"), STATEMENTS, ids=[s[1].name for s in STATEMENTS]
)
def test_injected_faults_are_found_against_each_format(tmp_path: Path, reader, path, profile):
    loaded = load_side(path, "bank", profile)
    assert loaded.reader == reader
    bank = loaded.frame
    assert bank.height >= 3, "the sample statement needs at least three entries"
    # Pick entries that are unambiguous: distinct amounts, so matching cannot swap them.
    uniq = bank.filter(pl.col("amount").is_unique()).sort("time", "id")
    assert uniq.height >= 3
    dropped, altered = uniq["id"][0], uniq["id"][1]
    pos = _pos_from(bank).with_columns(bank_id=bank["id"])
    # 1. a settlement with no POS record; 2. a POS amount keyed wrong by 1.00; 3. a POS sale
    # the bank never settled.
    pos = pos.filter(pl.col("bank_id") != dropped).with_columns(
        amount=pl.when(pl.col("bank_id") == altered)
        .then(
            format_expr(
                bank.filter(pl.col("id") == altered)["amount"][0] + 100 * pl.lit(1, pl.Int64),
                pl.col("currency"),
            )
        )
        .otherwise(pl.col("amount"))
    )
    last = pos.row(pos.height - 1, named=True)
    extra = {**last, "id": "P-extra", "amount": "7777.00", "reference": "NOSUCHREF", "kind": "sale"}
    pos = pl.concat([pos, pl.DataFrame([extra], schema=pos.schema)])
    pos.drop("bank_id").write_csv(tmp_path / "pos.csv")
    out = tmp_path / "out"
    res = CliRunner().invoke(
        cli,
        ["run", "--pos", str(tmp_path / "pos.csv"), "--bank", str(path), "--out", str(out)]
        + (["--bank-profile", profile] if profile else [])
        + ["--quiet"],
    )
    assert res.exit_code == 1, res.output
    disc = pl.read_csv(out / "discrepancies.csv", infer_schema=False)
    found = sorted(disc.select("type", "pos_ids", "bank_ids").fill_null("").rows())
    altered_pos = pos.filter(pl.col("bank_id") == altered)["id"][0]
    expected = [("orphan_bank", "", dropped), ("orphan_pos", "P-extra", "")]
    # With no reference and no card, the residual pass still ties the mis-keyed sale to its
    # settlement: the only candidate of the day whose amount differs by a keying pattern.
    expected += [("amount_mismatch", altered_pos, altered)]
    assert found == sorted(expected)
