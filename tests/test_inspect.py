"""recon inspect, recon profiles and recon profile new, through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import REPO, SHARED

from recon.cli import cli
from recon.load import load_side
from recon.profiles import load_profile

SAMPLES = REPO / "samples"
CN_BANK = (
    "某某银行商户结算明细 2026-11-20\n"
    "交易时间,交易金额,卡号,参考号,终端号,商户号,借贷标志\n"
    "2026-11-20 09:15:02,128.00,6222021234567890123,605200000101,T01,M001,贷\n"
    '2026-11-20 10:30:00,"1,234.50",6228481234567890,605200000102,T02,M001,贷\n'
    "2026-11-20 11:00:00,40.00,6222021234567890123,605200000103,T01,M001,借\n"
    "2026-11-20 12:00:00,abc,6222021234567890123,605200000104,T01,M001,贷\n"
)
SEMICOLON = (
    "Datum;Betrag;Referenz;Karte;Verwendungszweck\n"
    "20.11.2026;12,50;R001;4111********1111;Kaffee\n"
    "20.11.2026;1.234,00;R002;4111********1111;Miete\n"
    "21.11.2026;-7,90;R003;5500********0004;Erstattung\n"
)


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def cn_bank(tmp_path: Path) -> Path:
    path = tmp_path / "bank-gbk.csv"
    path.write_bytes(CN_BANK.encode("gbk"))
    return path


def test_inspect_samples_pos():
    res = invoke("inspect", str(SAMPLES / "pos.csv"), "--rows", "3", "--json")
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    assert info["format"] == "csv"
    assert info["profile"] == "canonical"
    assert info["profile_reason"] == "canonical header"
    assert info["columns"]["time"] == "time"
    assert info["columns"]["amount"] == "amount"
    assert info["unmapped"] == []
    assert info["rows"] == {"read": 31, "loaded": 30, "rejected": 1}
    assert info["date_range"]["first"] == "2026-11-20 08:05:12"
    assert info["date_range"]["last"].startswith("2026-11-20")
    (cny,) = info["totals"]
    assert cny["currency"] == "CNY"
    # exact text, never floats
    assert isinstance(cny["net"], str) and cny["net"].count(".") == 1
    assert len(cny["net"].split(".")[1]) == 2
    assert cny["rows"] == 30
    assert len(info["first_rows"]) == 3
    first = info["first_rows"][0]
    assert first["id"] == "S001"
    assert first["amount"] == "18.00"
    assert first["time"] == "2026-11-20 08:05:12"
    assert info["first_rejected"][0]["line"] == 30
    assert "1O.00" in info["first_rejected"][0]["reason"]


def test_inspect_samples_pos_text():
    res = invoke("inspect", str(SAMPLES / "pos.csv"))
    assert res.exit_code == 0, res.output
    for text in ("canonical", "Column mapping", "30 loaded", "1 rejected", "CNY", "S001"):
        assert text in res.output


def test_inspect_gbk_bank_with_preamble(tmp_path):
    path = cn_bank(tmp_path)
    res = invoke("inspect", str(path), "--side", "bank", "--json")
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    assert info["profile"] == "cn-bank-gbk"
    assert info["profile_reason"].startswith("recognised")
    assert info["encoding"] == "gb18030"
    assert info["header_row"] == 2
    assert info["columns"]["time"] == "交易时间"
    assert info["columns"]["amount"] == "交易金额"
    assert info["columns"]["debit_credit"] == "借贷标志"
    assert info["rows"] == {"read": 4, "loaded": 3, "rejected": 1}
    (cny,) = info["totals"]
    assert cny == {
        "currency": "CNY",
        "rows": 3,
        "credit_rows": 2,
        "debit_rows": 1,
        "credits": "1362.50",
        "debits": "40.00",
        "net": "1322.50",
    }
    # accounts are masked by the loader, also in the printed rows
    assert all("*" in r["account"] for r in info["first_rows"])
    assert "6222021234567890123" not in res.output
    text = invoke("inspect", str(path), "--side", "bank", "--profile", "cn-bank-gbk")
    assert text.exit_code == 0, text.output
    assert "given" in text.output and "交易金额" in text.output


def test_inspect_unknown_file_exits_2(tmp_path):
    path = tmp_path / "blob.bin"
    path.write_bytes(b"\x00\x01\x02binary\x00\xff" * 50)
    res = CliRunner().invoke(cli, ["inspect", str(path)])
    assert res.exit_code == 2
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1, res.output
    assert "binary" in lines[0] and "Traceback" not in res.output

    odd = tmp_path / "notes.txt"
    odd.write_text("hello world\nnothing here\n", encoding="utf-8")
    res = CliRunner().invoke(cli, ["inspect", str(odd)])
    assert res.exit_code == 2
    assert len([ln for ln in res.output.splitlines() if ln.strip()]) == 1


def test_profiles_lists_builtins():
    res = invoke("profiles", "--json")
    assert res.exit_code == 0, res.output
    found = {p["name"]: p for p in json.loads(res.output)}
    assert {"canonical", "cn-bank-gbk"} <= set(found)
    assert found["cn-bank-gbk"]["encoding"] == "gbk"
    assert found["cn-bank-gbk"]["headers"]["amount"] == ["交易金额"]
    assert "time" in found["canonical"]["headers"]
    text = invoke("profiles")
    assert text.exit_code == 0
    assert "canonical" in text.output and "cn-bank-gbk" in text.output


def test_profile_new_semicolon(tmp_path):
    sample = tmp_path / "export.csv"
    sample.write_text(SEMICOLON, encoding="utf-8")
    out = tmp_path / "configs" / "my-bank.toml"
    res = invoke("profile", "new", str(sample), "-o", str(out), "--side", "bank")
    assert res.exit_code == 0, res.output
    text = out.read_text(encoding="utf-8")
    assert "# guessed from" in text and ": check" in text
    assert "unmapped headers" in text and "Verwendungszweck" in text
    profile = load_profile(out)
    assert profile.delimiter == ";"
    assert profile.columns["time"] == ("Datum",)
    assert profile.columns["amount"] == ("Betrag",)
    assert profile.columns["reference"] == ("Referenz",)
    assert profile.datetime_format == ("%d.%m.%Y",)
    assert profile.decimal_mark == "," and profile.thousands_mark == "."
    loaded = load_side(sample, "bank", profile=out)
    assert loaded.frame.height == 3 and loaded.rejected.height == 0
    assert sorted(loaded.frame["amount"].to_list()) == [-790, 1250, 123400]
    assert "3 loaded" in res.output

    again = CliRunner().invoke(cli, ["profile", "new", str(sample), "-o", str(out)])
    assert again.exit_code == 2
    assert "--force" in again.output
    assert out.read_text(encoding="utf-8") == text
    forced = invoke("profile", "new", str(sample), "-o", str(out), "--force", "--json")
    assert forced.exit_code == 0, forced.output
    assert json.loads(forced.output)["check"]["loaded"] == 3


def test_profile_new_gbk_chinese(tmp_path):
    sample = cn_bank(tmp_path)
    out = tmp_path / "cn.toml"
    res = invoke("profile", "new", str(sample), "-o", str(out), "--json")
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    assert info["encoding"] == "gb18030"
    assert info["header_row"] == 2
    assert info["columns"]["time"] == "交易时间"
    assert info["columns"]["amount"] == "交易金额"
    assert info["columns"]["account"] == "卡号"
    assert info["columns"]["reference"] == "参考号"
    assert info["columns"]["terminal"] == "终端号"
    assert info["columns"]["merchant"] == "商户号"
    assert info["columns"]["debit_credit"] == "借贷标志"
    assert info["datetime_format"] == "%Y-%m-%d %H:%M:%S"
    assert info["check"]["loaded"] == 3 and info["check"]["rejected"] == 1
    loaded = load_side(sample, "bank", profile=out)
    assert loaded.frame["amount"].sum() == 132250


# --- statements: the content-recognised reader is kept (MT940, camt, BAI2, OFX, UnionPay ZM) ---

STATEMENTS = REPO / "tests" / "data" / "statements"
STATEMENTS_XML = REPO / "tests" / "data" / "statements_xml"
OWN_STATEMENTS = [
    (STATEMENTS / "simple.mt940", "mt940"),
    (STATEMENTS / "simple.bai2", "bai2"),
    (STATEMENTS_XML / "statement.camt053.xml", "camt"),
    (STATEMENTS_XML / "statement.ofx", "ofx"),
    (REPO / "tests" / "data" / "unionpay" / "INN25010288ZM_888000000000002", "unionpay_zm"),
]
REALDATA = SHARED / "realdata"
REAL_STATEMENTS = [
    (path, kind)
    for kind in ("mt940", "camt", "bai2", "ofx")
    for path in (sorted((REALDATA / kind).iterdir()) if (REALDATA / kind).is_dir() else [])
]


@pytest.mark.parametrize(("path", "reader"), OWN_STATEMENTS, ids=lambda v: getattr(v, "name", v))
def test_inspect_reads_statements_with_their_own_reader(path, reader):
    res = invoke("inspect", str(path), "--side", "bank", "--json")
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    assert info["format"] == reader
    assert info["profile"] == "canonical"
    loaded = load_side(path, "bank")
    assert info["rows"] == {
        "read": loaded.rows,
        "loaded": loaded.frame.height,
        "rejected": loaded.rejected.height,
    }
    assert info["columns"]["references"] == "references"
    assert info["columns"]["memo"] == "memo"
    first = info["first_rows"][0]
    assert first["references"] == loaded.frame["references"][0].to_list()
    assert first["memo"] == loaded.frame["memo"][0]
    text = invoke("inspect", str(path), "--side", "bank")
    assert text.exit_code == 0, text.output
    assert "references: " + " | ".join(first["references"]) in text.output
    assert "memo: " in text.output


@pytest.mark.skipif(not REAL_STATEMENTS, reason=f"{REALDATA} is absent (real statement files)")
@pytest.mark.parametrize(("path", "reader"), REAL_STATEMENTS, ids=lambda v: getattr(v, "name", v))
def test_inspect_reads_every_real_statement(path, reader):
    res = CliRunner().invoke(cli, ["inspect", str(path), "--side", "bank", "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    assert info["format"] == reader
    assert info["rows"]["rejected"] == 0
    assert info["rows"]["read"] == info["rows"]["loaded"]
    if info["first_rows"]:
        assert any(r["memo"] or r["references"] for r in info["first_rows"])


@pytest.mark.parametrize(("path", "reader"), OWN_STATEMENTS, ids=lambda v: getattr(v, "name", v))
def test_a_given_table_profile_does_not_switch_a_statement_to_csv(path, reader):
    """`--bank-profile canonical` (format csv) on a statement: its own reader still reads it."""
    loaded = load_side(path, "bank", "canonical")
    assert loaded.reader == reader
    assert loaded.frame.height == load_side(path, "bank").frame.height > 0
    res = invoke("inspect", str(path), "--side", "bank", "--profile", "canonical", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["format"] == reader


@pytest.mark.parametrize(
    ("name", "side"),
    [
        ("statements/simple.mt940", "bank"),
        ("statements_xml/statement.camt053.xml", "bank"),
        ("contract/pos.csv", "pos"),
    ],
)
def test_inspect_reads_a_statement_as_the_bank_side_unless_told(name, side):
    path = REPO / "tests" / "data" / name
    res = CliRunner().invoke(cli, ["inspect", str(path), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["side"] == side
    told = CliRunner().invoke(cli, ["inspect", str(path), "--json", "--side", "pos"])
    assert json.loads(told.output)["side"] == "pos"
