"""Each item names its records as what they are (sale, refund, void, reversal; credit, debit),
with amounts as magnitudes, in English and Chinese; a debit with no POS record is suspected fraud
on an acquirer file but a payment of the shop's own on a plain bank statement.

Everything runs through the real CLI on small files written here.
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from conftest import SHARED

from recon.cli import cli

POS = """id,time,amount,currency,account,reference,kind,terminal,merchant
R1,2026-11-20T11:00:00,-57.34,EUR,,R200,refund,T03,M1
V1,2026-11-20T12:00:00,-12.00,EUR,,R300,void,T02,M1
X1,2026-11-20T13:00:00,-8.00,EUR,,R400,reversal,T02,M1
"""
# An acquirer's settlement file in the canonical layout: one credit and one debit nobody recorded.
BANK = """id,time,amount,currency,reference,kind
B2,2026-11-21T02:00:00,99.00,EUR,R900,credit
B3,2026-11-21T02:00:00,-41.50,EUR,R901,debit
"""
# The same debit on the shop's own bank statement (SWIFT MT940).
MT940 = (
    ":20:STATEMENT1\r\n"
    ":25:NL12BANK0123456789\r\n"
    ":28C:00001/001\r\n"
    ":60F:C261120EUR1000,00\r\n"
    ":61:2611211121D41,50NTRFNONREF//R901\r\n"
    ":86:Rent November\r\n"
    ":62F:C261121EUR958,50\r\n"
)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


def _run(tmp_path: Path, bank: Path, lang: str, *extra: str, pos: str = POS) -> pl.DataFrame:
    out = tmp_path / f"out-{bank.stem}-{lang}-{len(extra)}"
    args = ["run", "--pos", str(_write(tmp_path, "pos.csv", pos)), "--bank", str(bank)]
    args += ["--out", str(out), "--lang", lang, "--quiet", *extra]
    result = CliRunner().invoke(cli, args, env={"LC_ALL": "C.UTF-8"})
    assert result.exit_code == 1, result.output
    return pl.read_csv(out / "discrepancies.csv", infer_schema=False)


def _by_id(disc: pl.DataFrame) -> dict[str, dict[str, str]]:
    return {(r["pos_ids"] or r["bank_ids"]): r for r in disc.iter_rows(named=True)}


LONE_POS = {
    "en": {
        "R1": (
            "Refund of 57.34 EUR at terminal T03 on 2026-11-20 11:00:00 was never debited by "
            "the bank: the customer may not have been paid back.",
            "Check with the acquiring bank whether the customer was refunded",
        ),
        "V1": (
            "Void of 12.00 EUR at terminal T02 on 2026-11-20 12:00:00 has no sale to cancel "
            "and no settlement.",
            "Find the sale this void cancels",
        ),
        "X1": (
            "Reversal of 8.00 EUR at terminal T02 on 2026-11-20 13:00:00 has no sale to cancel "
            "and no settlement.",
            "Find the sale this reversal cancels",
        ),
    },
    "zh": {
        "R1": (
            "终端 T03 于 2026-11-20 11:00:00 的退货 57.34 EUR："
            "银行从未出账，顾客可能没有收到退款。",
            "向收单银行确认顾客是否已收到退款",
        ),
        "V1": (
            "终端 T02 于 2026-11-20 12:00:00 的撤销 12.00 EUR："
            "找不到它所取消的原消费，也没有结算。",
            "查找这笔撤销所取消的原消费",
        ),
        "X1": (
            "终端 T02 于 2026-11-20 13:00:00 的冲正 8.00 EUR：找不到它所取消的原消费，也没有结算。",
            "查找这笔冲正所取消的原消费",
        ),
    },
}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_lone_refund_void_and_reversal_are_named_as_what_they_are(tmp_path, lang):
    disc = _run(tmp_path, _write(tmp_path, "bank.csv", BANK), lang)
    items = _by_id(disc)
    for pos_id, (detail, action) in LONE_POS[lang].items():
        row = items[pos_id]
        assert (row["type"], row["severity"]) == ("orphan_pos", "high")
        assert row["detail"] == detail
        assert action in row["suggested_action"]
        # never worded as a sale, amounts never with a minus sign
        for text in (row["detail"], row["suggested_action"], row["cause"]):
            assert "Sale of" not in text and "never settled" not in text
            assert "销售" not in text and "的消费" not in text
            assert not re.search(r"-\d+\.\d\d", text)
    redo = {"en": "if not, redo the refund once", "zh": "如果没有，重新办理一次退货"}[lang]
    assert redo in items["R1"]["suggested_action"]


@pytest.mark.parametrize(
    ("lang", "detail", "action"),
    [
        (
            "en",
            "Bank credit of 99.00 EUR on 2026-11-21 02:00:00 (reference R900) has no POS record.",
            "Confirm with the acquiring bank which terminal and sale this is",
        ),
        (
            "zh",
            "2026-11-21 02:00:00 的银行入账 99.00 EUR（参考号 R900）没有对应的POS记录。",
            "向收单银行确认这是哪台终端、哪笔消费",
        ),
    ],
)
def test_lone_credit(tmp_path, lang, detail, action):
    row = _by_id(_run(tmp_path, _write(tmp_path, "bank.csv", BANK), lang))["B2"]
    assert (row["type"], row["severity"]) == ("orphan_bank", "medium")
    assert row["detail"] == detail
    assert row["suggested_action"].startswith(action)


ACQUIRER_DEBIT = {
    "en": (
        "Bank debit of 41.50 EUR on 2026-11-21 02:00:00 (reference R901) has no POS record.",
        "suspected fraud",
        "Escalate as suspected fraud",
    ),
    "zh": (
        "2026-11-21 02:00:00 的银行出账 41.50 EUR（参考号 R901）没有对应的POS记录。",
        "疑似欺诈",
        "按疑似欺诈上报",
    ),
}
STATEMENT_DEBIT = {
    "en": (
        "Payment of 41.50 EUR from the account on 2026-11-21 00:00:00 (reference R901) has no "
        "POS record.",
        "a payment from the shop's own account (supplier, rent, fees), not a card transaction",
        "A payment from the account with no POS record: check it is one of yours (supplier, "
        "rent, fees); if not, contact the bank.",
    ),
    "zh": (
        "2026-11-21 00:00:00 从账户出账 41.50 EUR（参考号 R901），没有对应的POS记录。",
        "店铺账户自己的付款（供应商、房租、费用），不是刷卡交易",
        "这是一笔没有POS记录的账户付款：请确认是否是您自己的付款（供应商、房租、费用）；"
        "如果不是，请联系银行。",
    ),
}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_debit_on_an_acquirer_file_is_high_and_suspected_fraud(tmp_path, lang):
    row = _by_id(_run(tmp_path, _write(tmp_path, "bank.csv", BANK), lang))["B3"]
    detail, cause, action = ACQUIRER_DEBIT[lang]
    assert (row["type"], row["severity"]) == ("orphan_bank", "high")
    assert row["detail"] == detail
    assert row["cause"].startswith(cause)
    assert row["suggested_action"].startswith(action)


@pytest.mark.parametrize("engine", ["local", "streaming"])
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_same_debit_on_a_bank_statement_is_a_payment_of_the_shop(tmp_path, lang, engine):
    disc = _run(tmp_path, _write(tmp_path, "stmt.940", MT940), lang, "--engine", engine)
    row = disc.filter(pl.col("type") == "orphan_bank").row(0, named=True)
    detail, cause, action = STATEMENT_DEBIT[lang]
    assert row["severity"] == "medium"
    assert (row["detail"], row["cause"], row["suggested_action"]) == (detail, cause, action)
    for text in (row["detail"], row["cause"], row["suggested_action"]):
        assert "fraud" not in text and "欺诈" not in text


def test_a_statement_debit_keeps_the_configured_orphan_bank_severity(tmp_path):
    cfg = _write(tmp_path, "c.toml", '[severity]\norphan_bank = "low"\n')
    disc = _run(tmp_path, _write(tmp_path, "stmt.940", MT940), "en", "--config", str(cfg))
    assert disc.filter(pl.col("type") == "orphan_bank")["severity"].to_list() == ["low"]


def test_the_config_can_say_what_the_bank_file_is(tmp_path):
    no = _write(tmp_path, "no.toml", "bank_is_statement = false\n")
    disc = _run(tmp_path, _write(tmp_path, "stmt.940", MT940), "en", "--config", str(no))
    row = disc.filter(pl.col("type") == "orphan_bank").row(0, named=True)
    assert row["severity"] == "high" and row["cause"].startswith("suspected fraud")

    yes = _write(tmp_path, "yes.toml", "bank_is_statement = true\n")
    disc = _run(tmp_path, _write(tmp_path, "bank.csv", BANK), "en", "--config", str(yes))
    row = _by_id(disc)["B3"]
    assert row["severity"] == "medium" and row["detail"].startswith("Payment of 41.50 EUR")

    bad = _write(tmp_path, "bad.toml", 'bank_is_statement = "yes"\n')
    args = ["run", "--pos", str(tmp_path / "pos.csv"), "--bank", str(tmp_path / "bank.csv")]
    result = CliRunner().invoke(cli, [*args, "--config", str(bad), "--quiet"])
    assert result.exit_code == 2 and "bank_is_statement must be true or false" in result.output


REFUND_PAIR_POS = """id,time,amount,currency,reference,kind,terminal
R1,2026-11-20T11:00:00,-27.50,EUR,R1,refund,T03
"""
REFUND_PAIR_BANK = """id,time,amount,currency,reference,kind
B1,2026-11-21T02:00:00,-72.50,EUR,R1,debit
"""


@pytest.mark.parametrize(
    ("lang", "detail", "action"),
    [
        (
            "en",
            "POS 27.50 EUR, bank 72.50 EUR: the bank debited 45.00 EUR more for this refund.",
            "the customer got 45.00 EUR more back than the POS refund",
        ),
        (
            "zh",
            "POS 27.50 EUR，银行 72.50 EUR：这笔退货银行多出账 45.00 EUR。",
            "顾客多收到了 45.00 EUR 退款",
        ),
    ],
)
def test_a_refund_debited_for_more_is_not_worded_as_a_sale(tmp_path, lang, detail, action):
    bank = _write(tmp_path, "bank.csv", REFUND_PAIR_BANK)
    row = _run(tmp_path, bank, lang, pos=REFUND_PAIR_POS).row(0, named=True)
    assert (row["type"], row["difference"]) == ("amount_mismatch", "-45.00")
    assert row["detail"] == detail
    assert action in row["suggested_action"]


MT940_DIR = SHARED / "realdata" / "mt940"


@pytest.mark.skipif(not MT940_DIR.is_dir(), reason="no shared real MT940 statements")
def test_debits_of_a_real_statement_are_not_suspected_fraud(tmp_path):
    statement = MT940_DIR / "wolph-mt940__abnamro.sta"
    disc = _run(tmp_path, statement, "en")
    debit = pl.col("bank_amount").str.starts_with("-")
    debits = disc.filter(pl.col("type") == "orphan_bank", debit)
    assert debits.height > 0
    assert set(debits["severity"]) == {"medium"}
    assert debits["detail"].str.starts_with("Payment of ").all()
    assert not debits["cause"].str.contains("fraud").any()
