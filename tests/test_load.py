"""recon.load.load_side: real files in, canonical rows and rejected rows out."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from conftest import SHARED

from recon.errors import InputError
from recon.load import Loaded, load_side
from recon.normalize import account_text, look, normalize_plan
from recon.profiles import load_profile
from recon.schema import CANONICAL, REJECTED, validate

PAN = re.compile(r"(?<!\d)\d{13,19}(?!\d)")  # an unmasked card number
HEADER = "id,time,amount,currency,account,reference,kind,terminal,merchant,fee"


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def check(loaded: Loaded) -> None:
    """Invariants of every load: schema, nothing lost, no PAN anywhere."""
    validate(loaded.frame, "test")
    assert dict(loaded.rejected.schema) == REJECTED
    assert loaded.rows == loaded.frame.height + loaded.rejected.height
    for value in [*loaded.frame["account"].to_list(), *loaded.rejected["raw"].to_list()]:
        assert value is None or not PAN.search(value), value


def rows(loaded: Loaded) -> list[dict]:
    return loaded.frame.to_dicts()


# --- canonical CSV --------------------------------------------------------------------------


def test_canonical_csv_loads_without_profile(tmp_path):
    path = write(
        tmp_path,
        "pos.csv",
        f"{HEADER}\n"
        "P1,2026-11-20T09:15:02,128.00,cny,6222021234567891234,`431000000001,sale,T01,M001,\n"
        "P2,2026-11-20 09:40:11,35.50,CNY,622588******5580,'431000000002,REFUND,T01,M001,0.18\n"
        ",2026-11-20,10,JPY,,,void,,,\n",
    )
    loaded = load_side(path, "pos")
    check(loaded)
    assert loaded.profile == "canonical"
    assert loaded.path == str(path)
    assert len(loaded.sha256) == 64
    assert loaded.rows == 3 and loaded.rejected.height == 0
    p1, p2, p3 = rows(loaded)
    assert p1["amount"] == 12800 and p1["currency"] == "CNY" and p1["kind"] == "sale"
    assert p1["account"] == "622202*********1234"
    assert p1["reference"] == "431000000001"
    assert p1["time"] == datetime(2026, 11, 20, 9, 15, 2) and p1["has_clock"]
    assert p1["fee"] is None and p1["source"] == "pos.csv" and p1["line"] == 2
    assert p2["amount"] == -3550 and p2["kind"] == "refund" and p2["fee"] == 18
    assert p2["reference"] == "431000000002"
    assert p3["id"] == "pos.csv:4"
    assert p3["amount"] == -10 and p3["kind"] == "void"
    assert p3["time"] == datetime(2026, 11, 20) and p3["has_clock"] is False


def test_header_matching_is_case_and_space_insensitive_with_bom_and_any_order(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(
        "\ufeff AMOUNT , Time ,Extra,Currency\r\n12.00,2026-01-02T03:04:05,x,EUR\r\n".encode()
    )
    loaded = load_side(path, "bank")
    check(loaded)
    [row] = rows(loaded)
    assert row["amount"] == 1200 and row["kind"] == "credit" and row["currency"] == "EUR"


def test_signs_never_double_negated_and_kind_inferred(tmp_path):
    path = write(
        tmp_path,
        "signs.csv",
        "time,amount,currency,kind\n"
        "2026-01-01,-5.00,CNY,refund\n"
        "2026-01-01,5.00,CNY,refund\n"
        "2026-01-01,-5.00,CNY,sale\n"
        "2026-01-01,-5.00,CNY,\n"
        "2026-01-01,5.00,CNY,\n"
        "2026-01-01,(5.00),CNY,Reversal\n",
    )
    loaded = load_side(path, "pos")
    check(loaded)
    got = [(r["amount"], r["kind"]) for r in rows(loaded)]
    assert got == [
        (-500, "refund"),
        (-500, "refund"),
        (500, "sale"),
        (-500, "refund"),
        (500, "sale"),
        (-500, "reversal"),
    ]


def test_bank_side_kinds(tmp_path):
    # An acquirer export or platform bill used as the bank side pays sales as credits and takes
    # refunds and voids back as debits; Chinese and English kind names are understood anywhere.
    path = write(
        tmp_path,
        "bank.csv",
        "time,amount,currency,kind\n2026-01-01,5,CNY,DEBIT\n2026-01-01,-7,CNY,\n"
        "2026-01-01,7,CNY,sale\n2026-01-01,8,CNY,退货\n2026-01-01,9,CNY,入账\n"
        "2026-01-01,3,CNY,Void\n2026-01-01,4,CNY,chargeback\n",
    )
    loaded = load_side(path, "bank")
    check(loaded)
    assert [(r["amount"], r["kind"]) for r in rows(loaded)] == [
        (-500, "debit"),
        (-700, "debit"),
        (700, "credit"),
        (-800, "debit"),
        (900, "credit"),
        (-300, "debit"),
    ]
    [rej] = loaded.rejected.to_dicts()
    assert rej["line"] == 8
    assert rej["reason"] == "unknown kind 'chargeback' (expected credit|debit)"


def test_pos_side_kinds_from_chinese_and_bank_names(tmp_path):
    path = write(
        tmp_path,
        "pos.csv",
        "time,amount,currency,kind\n2026-01-01,5,CNY,消费\n2026-01-01,5,CNY,消费撤销\n"
        "2026-01-01,6,CNY,冲正\n2026-01-01,7,CNY,退款\n2026-01-01,8,CNY,预授权完成\n"
        "2026-01-01,9,CNY,credit\n2026-01-01,2,CNY,DEBIT\n",
    )
    loaded = load_side(path, "pos")
    check(loaded)
    assert loaded.rejected.height == 0
    assert [(r["amount"], r["kind"]) for r in rows(loaded)] == [
        (500, "sale"),
        (-500, "void"),
        (-600, "reversal"),
        (-700, "refund"),
        (800, "sale"),
        (900, "sale"),
        (-200, "refund"),
    ]


def test_rejected_rows_have_physical_lines_reasons_and_masked_raw(tmp_path):
    path = write(
        tmp_path,
        "bad.csv",
        "id,time,amount,currency,account,kind\n"  # line 1
        "A,2026-11-20T09:00:00,10.00,CNY,4111111111111111,sale\n"  # 2 good
        "\n"  # 3 blank: skipped
        "B,2026-11-20T09:00:00,12,3x,CNY,4111111111111111,sale\n"  # 4 seven fields
        "C,2026-11-20T09:00:00,12.3x,CNY,4111 1111 1111 1111,sale\n"  # 5 not a number
        "   \n"  # 6 blank (whitespace): skipped
        "D,not-a-time,1.00,CNY,,sale\n"  # 7
        "E,2026-11-20T09:00:00,1.00,CNY,,xyz\n"  # 8
        "F,2026-11-20T09:00:00,1.00,,,sale\n"  # 9 no currency, no default
        "G,2026-11-20T09:00:00,1.00,CNYY,,sale\n"  # 10
        "H,2026-11-20T09:00:00,1.005,CNY,,sale\n"  # 11
        "I,,1.00,CNY,,sale\n"  # 12 time missing
        "J,2026-11-20T09:00:00,,CNY,,sale\n"  # 13 amount missing
        "K,2026-11-20T09:00:00,1.00,CNY\n"  # 14 too few fields
        "L,2026-11-20T09:00:00,2.00,CNY,,sale\n",  # 15 good
    )
    loaded = load_side(path, "pos")
    check(loaded)
    assert loaded.rows == 12
    assert loaded.frame["id"].to_list() == ["A", "L"]
    assert loaded.frame["line"].to_list() == [2, 15]
    rej = {r["line"]: r for r in loaded.rejected.to_dicts()}
    assert sorted(rej) == [4, 5, 7, 8, 9, 10, 11, 12, 13, 14]
    assert all(r["side"] == "pos" for r in rej.values())
    assert rej[4]["reason"] == "expected 6 fields, found 7"
    assert rej[4]["raw"] == "B,2026-11-20T09:00:00,12,3x,CNY,411111******1111,sale"
    assert rej[5]["reason"] == "amount is not a number: '12.3x'"
    assert "4111 1111 1111 1111" not in rej[5]["raw"]
    assert rej[7]["reason"] == "time 'not-a-time' is not an ISO 8601 date or date/time"
    assert rej[8]["reason"] == "unknown kind 'xyz' (expected sale|refund|void|reversal)"
    assert rej[9]["reason"] == "currency missing and no default_currency in profile"
    assert rej[10]["reason"] == "currency 'CNYY' is not an ISO 4217 code"
    assert "more decimals than CNY" in rej[11]["reason"]
    assert rej[12]["reason"] == "time is empty"
    assert rej[13]["reason"] == "amount is empty"
    assert rej[14]["reason"] == "expected 6 fields, found 4"
    assert rej[14]["raw"] == "K,2026-11-20T09:00:00,1.00,CNY"
    assert loaded.frame["account"].to_list() == ["411111******1111", None]


def test_pan_masking_variants(tmp_path):
    """Every card number is masked, bare, grouped, x-masked or inside text; the loader
    normalises only the values that can change (normalize.ACCOUNT_TOUCHED)."""
    path = write(
        tmp_path,
        "pans.csv",
        "time,amount,currency,account\n"
        "2026-01-01,1,CNY,6222021234567891234\n"  # 19 digits
        "2026-01-01,1,CNY,4111-1111-1111-1111\n"
        "2026-01-01,1,CNY,4111 1111 1111 1\n"  # 13 digits
        "2026-01-01,1,CNY,622202xxxxxx1234\n"
        "2026-01-01,1,CNY,******9913\n"
        "2026-01-01,1,CNY,ACME card 4111111111111111 main\n"
        "2026-01-01,1,CNY,123456789012\n"  # 12 digits: not a PAN
        "2026-01-01,1,CNY,12345678901234567890\n"  # 20 digits: not a PAN
        "2026-01-01,1,CNY,4111 1111 1111 1111\n"
        "2026-01-01,1,CNY,411111xxxxxx1111\n"
        "2026-01-01,1,CNY,6222020200112233445\n"
        "2026-01-01,1,CNY,card 4111-1111-1111-1111 (visa)\n"
        "2026-01-01,1,CNY,DE89 3704 0044 0532 0130 00\n"
        "2026-01-01,1,CNY,622202******1234\n"
        "2026-01-01,1,CNY,ACC-001\n",
    )
    loaded = load_side(path, "pos")
    check(loaded)
    assert loaded.frame["account"].to_list() == [
        "622202*********1234",
        "411111******1111",
        "411111***1111",
        "622202******1234",
        "******9913",
        "ACME card 411111******1111 main",
        "123456789012",
        "12345678901234567890",
        "411111******1111",
        "411111******1111",
        "622202*********3445",
        "card 411111******1111 (visa)",
        # four groups of four digits are printed like a card: masked (privacy first)
        "DE89 370400******0130 00",
        "622202******1234",
        "ACC-001",
    ]


def test_adjacent_pans_in_rejected_raw_are_all_masked(tmp_path):
    pan = "4111111111111111"
    path = write(
        tmp_path,
        "raw.csv",
        f"time,amount,currency,account\nbad,1,CNY,{pan} {pan} {pan}\n",
    )
    loaded = load_side(path, "pos")
    check(loaded)
    [raw] = loaded.rejected["raw"].to_list()
    assert raw == "bad,1,CNY,411111******1111 411111******1111 411111******1111"


def test_quoted_fields_and_multiline_records_keep_line_numbers(tmp_path):
    path = write(
        tmp_path,
        "quoted.csv",
        "id,time,amount,currency,merchant\n"
        'A,2026-01-01T10:00:00,"1,234.50",CNY,"Shop, Main St"\n'
        'B,2026-01-01T10:00:00,2.00,CNY,"two\nlines"\n'  # lines 3-4
        "C,2026-01-01T10:00:00,bad,CNY,x\n",  # line 5
    )
    loaded = load_side(path, "pos")
    check(loaded)
    a, b = rows(loaded)
    assert a["amount"] == 123450 and a["merchant"] == "Shop, Main St"
    assert b["merchant"] == "two\nlines" and b["line"] == 3
    assert loaded.rejected["line"].to_list() == [5]


def test_time_zones(tmp_path):
    path = write(
        tmp_path,
        "tz.csv",
        "time,amount,currency\n"
        "2026-11-20T09:15:02Z,1,CNY\n"
        "2026-11-20T09:15:02+08:00,1,CNY\n"
        "2026-11-20T09:15:02.5-0130,1,CNY\n"
        "2026-11-20 09:15:02.123456,1,CNY\n"
        "2026-11-20,1,CNY\n",
    )
    utc = load_side(path, "pos")
    check(utc)
    assert utc.frame["time"].to_list() == [
        datetime(2026, 11, 20, 9, 15, 2),
        datetime(2026, 11, 20, 1, 15, 2),
        datetime(2026, 11, 20, 10, 45, 2, 500000),
        datetime(2026, 11, 20, 9, 15, 2, 123456),
        datetime(2026, 11, 20),
    ]
    assert utc.frame["has_clock"].to_list() == [True, True, True, True, False]
    shanghai = load_side(path, "pos", timezone="Asia/Shanghai")
    got = shanghai.frame["time"].to_list()
    assert got[0] == datetime(2026, 11, 20, 17, 15, 2)
    assert got[1] == datetime(2026, 11, 20, 9, 15, 2)
    assert got[3] == datetime(2026, 11, 20, 9, 15, 2, 123456)  # naive, no source zone: kept
    assert got[4] == datetime(2026, 11, 20)  # a date is never shifted


def test_invalid_dates_are_rejected(tmp_path):
    path = write(
        tmp_path, "d.csv", "time,amount,currency\n2026-02-30,1,CNY\n2026-13-01T10:00:00,1,CNY\n"
    )
    loaded = load_side(path, "pos")
    check(loaded)
    assert loaded.frame.height == 0
    assert loaded.rejected["line"].to_list() == [2, 3]


def test_duplicate_ids_are_kept(tmp_path):
    path = write(
        tmp_path, "dup.csv", "id,time,amount,currency\nX,2026-01-01,1,CNY\nX,2026-01-01,1,CNY\n"
    )
    loaded = load_side(path, "pos")
    check(loaded)
    assert loaded.frame["id"].to_list() == ["X", "X"]


def test_header_only_file_loads_empty(tmp_path):
    loaded = load_side(write(tmp_path, "h.csv", f"{HEADER}\n"), "pos")
    check(loaded)
    assert loaded.rows == 0 and loaded.frame.height == 0


# --- profiles -------------------------------------------------------------------------------

CN_HEADER = "交易时间,交易金额,卡号,参考号,终端号,商户号,借贷标志"


def test_cn_bank_gbk_recognised_by_content(tmp_path):
    text = (
        "某某银行商户结算明细 2026-11-20\r\n"  # preamble, line 1
        f"{CN_HEADER}\r\n"  # header, line 2
        '2026-11-21 02:10:00,"1,128.00",6222021234567891234,431000000001,T01,M001,贷\r\n'
        "\r\n"  # line 4 blank
        "2026-11-21 02:10:00,40.00,6225881234565580,431000000013,T01,M001,借\r\n"
        "2026/11/21 02:11,￥75.00,6217001234563377,431000000016,T02,M001,贷\r\n"
        "2026-11-21 02:10:00,10.00,,431000000017,T02,M001,转\r\n"  # line 7: bad flag
        "昨天,10.00,,431000000018,T02,M001,贷\r\n"  # line 8: bad time
    )
    path = write(tmp_path, "settle.csv", text, encoding="gbk")
    loaded = load_side(path, "bank")
    check(loaded)
    assert loaded.profile == "cn-bank-gbk"
    assert loaded.rows == 5
    first, debit, third = rows(loaded)
    assert first["amount"] == 112800 and first["kind"] == "credit" and first["currency"] == "CNY"
    assert first["account"] == "622202*********1234" and first["line"] == 3
    assert first["time"] == datetime(2026, 11, 21, 2, 10)
    assert debit["amount"] == -4000 and debit["kind"] == "debit" and debit["line"] == 5
    assert third["amount"] == 7500 and third["time"] == datetime(2026, 11, 21, 2, 11)
    rej = {r["line"]: r["reason"] for r in loaded.rejected.to_dicts()}
    assert rej[7].startswith("debit/credit flag '转' is not one of")
    assert rej[8] == "time '昨天' does not match " + " or ".join(
        load_profile("cn-bank-gbk").datetime_format
    )
    # the profile's zone is converted only when the run names a target zone
    utc = load_side(path, "bank", timezone="UTC")
    assert utc.frame["time"][0] == datetime(2026, 11, 20, 18, 10)


def test_cn_bank_gbk_explicit_profile_and_undecodable_bytes(tmp_path):
    good = f"title\n{CN_HEADER}\n2026-11-21 02:10:00,1.00,,1,T,M,贷\n".encode("gbk")
    path = tmp_path / "cn.csv"
    path.write_bytes(good + b"\xff\xff\n")
    with pytest.raises(InputError) as info:
        load_side(path, "bank", "cn-bank-gbk")
    assert str(path) in str(info.value)
    assert "gbk" in str(info.value) and f"offset {len(good)}" in str(info.value)


def test_eu_bank_semicolon(tmp_path):
    text = (
        "Buchungsdatum;Betrag;Währung;Referenz;Karte;Transaktions-ID\n"
        "20.11.2026;1.234,56;EUR;R1;4111111111111111;T1\n"
        "21.11.2026;12,50-;;R2;;T2\n"
        "22.11.2026;(7,00);EUR;R3;;T3\n"
        "31.11.2026;1,00;EUR;R4;;T4\n"
    )
    path = write(tmp_path, "eu.csv", text, encoding="cp1252")  # 'Währung' is not UTF-8 here
    loaded = load_side(path, "bank")
    check(loaded)
    assert loaded.profile == "eu-bank-semicolon"
    got = [(r["id"], r["amount"], r["kind"], r["currency"], r["has_clock"]) for r in rows(loaded)]
    assert got == [
        ("T1", 123456, "credit", "EUR", False),
        ("T2", -1250, "debit", "EUR", False),
        ("T3", -700, "debit", "EUR", False),
    ]
    assert loaded.frame["time"][0] == datetime(2026, 11, 20)
    assert loaded.rejected.to_dicts()[0]["reason"] == "time '31.11.2026' does not match %d.%m.%Y"


def test_custom_profile_kinds_footer_and_formats(tmp_path):
    profile = tmp_path / "shop.toml"
    profile.write_text(
        'name = "shop"\ndescription = "x"\nheader_row = 3\nskip_footer_lines = 1\n'
        'datetime_format = ["%Y%m%d %H%M%S", "%d/%m/%Y"]\ntimezone = "Asia/Shanghai"\n'
        'default_currency = "CNY"\n'
        '[columns]\ntime = "Zeit"\namount = ["Summe", "Betrag"]\nkind = "Typ"\nid = "Nr"\n'
        '[kinds]\n"消费" = "sale"\n"退货" = "refund"\n',
        encoding="utf-8",
    )
    path = write(
        tmp_path,
        "shop.csv",
        "Export\n\nNr,Zeit,Betrag,Typ\n"
        "1,20261120 091500,5.00,消费\n"
        "2,21/11/2026,5.00,退货\n"
        "3,20261120 091500,5.00,Sale\n"
        "Total,,15.00,\n",
    )
    loaded = load_side(path, "pos", profile, timezone="Asia/Shanghai")
    check(loaded)
    assert loaded.profile == "shop" and loaded.rows == 3
    got = [(r["id"], r["amount"], r["kind"], r["has_clock"], r["line"]) for r in rows(loaded)]
    assert got == [
        ("1", 500, "sale", True, 4),
        ("2", -500, "refund", False, 5),
        ("3", 500, "sale", True, 6),
    ]


def test_utf16_and_auto_gb18030(tmp_path):
    text = "time,amount,currency,merchant\n2026-01-01,1.00,CNY,上海店\n"
    p16 = tmp_path / "u16.csv"
    p16.write_bytes(text.encode("utf-16"))
    loaded = load_side(p16, "pos")
    check(loaded)
    assert loaded.frame["merchant"].to_list() == ["上海店"]
    gbk = write(tmp_path, "gbk.csv", text * 1 + "2026-01-02,2.00,CNY,北京朝阳区分店\n", "gbk")
    loaded = load_side(gbk, "pos")
    check(loaded)
    assert loaded.frame["merchant"].to_list() == ["上海店", "北京朝阳区分店"]


# --- Parquet --------------------------------------------------------------------------------


def test_parquet_decimal_float_string_int_amounts(tmp_path):
    base = {
        "time": [datetime(2026, 1, 1, 10), datetime(2026, 1, 1, 11), datetime(2026, 1, 1, 12)],
        "currency": ["CNY", "CNY", "JPY"],
        "kind": ["sale", "refund", None],
        "account": ["4111111111111111", None, None],
    }
    amounts = {
        "decimal": pl.Series([Decimal("12.50"), Decimal("3.10"), Decimal("1235")]),
        "float": pl.Series([12.5, 3.1, 1235.0]),
        "string": pl.Series(["12.50", "-3.10", "1235"]),
        "int": pl.Series([12, 3, 1235]),
    }
    expected = {
        "decimal": [1250, -310, 1235],
        "float": [1250, -310, 1235],
        "string": [1250, -310, 1235],
        "int": [1200, -300, 1235],
    }
    for name, series in amounts.items():
        path = tmp_path / f"{name}.parquet"
        pl.DataFrame({**base, "amount": series, "fee": series}).write_parquet(path)
        loaded = load_side(path, "pos")
        check(loaded)
        assert loaded.frame["amount"].to_list() == expected[name], name
        assert loaded.frame["line"].to_list() == [1, 2, 3]
        assert loaded.frame["account"][0] == "411111******1111"
        assert loaded.frame["id"][0] == f"{name}.parquet:1"


def test_parquet_time_types_and_rejected_raw(tmp_path):
    aware = pl.Series([datetime(2026, 1, 1, 1, 0)]).dt.replace_time_zone("UTC")
    path = tmp_path / "aware.parquet"
    pl.DataFrame({"time": aware, "amount": ["1.00"], "currency": ["CNY"]}).write_parquet(path)
    loaded = load_side(path, "bank", timezone="Asia/Shanghai")
    assert loaded.frame["time"].to_list() == [datetime(2026, 1, 1, 9, 0)]
    assert loaded.frame["time"].dtype == pl.Datetime("us")

    path = tmp_path / "dates.parquet"
    pl.DataFrame(
        {
            "time": [date(2026, 1, 1), date(2026, 1, 2)],
            "amount": [1.005, 2.0],
            "currency": ["CNY", "CNY"],
            "account": ["4111111111111111", "x"],
        }
    ).write_parquet(path)
    loaded = load_side(path, "bank")
    check(loaded)
    assert loaded.frame["has_clock"].to_list() == [False]
    [rej] = loaded.rejected.to_dicts()
    assert rej["line"] == 1 and "more decimals" in rej["reason"]
    assert rej["raw"] == "2026-01-01,1.005,CNY,411111******1111"

    path = tmp_path / "strings.parquet"
    pl.DataFrame({"time": ["2026-01-01T10:00:00+01:00"], "amount": ["1"]}).write_parquet(path)
    loaded = load_side(path, "pos")
    assert loaded.rejected["reason"].to_list() == [
        "currency missing and no default_currency in profile"
    ]


# --- files that cannot be used at all ------------------------------------------------------


def expect_input_error(path: Path, *fragments: str, **kwargs) -> str:
    with pytest.raises(InputError) as info:
        load_side(path, "pos", **kwargs)
    message = str(info.value)
    assert str(path) in message
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message
    return message


def test_unusable_files(tmp_path):
    expect_input_error(tmp_path / "missing.csv", "not found")
    expect_input_error(tmp_path, "directory")
    expect_input_error(write(tmp_path, "empty.csv", ""), "empty")
    expect_input_error(write(tmp_path, "blank.csv", "\n\n  \n"), "empty")
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"time,amount\x00\x01\x02\n")
    expect_input_error(binary, "binary")
    fake = tmp_path / "fake.parquet"
    fake.write_text("time,amount\n2026-01-01,1\n")
    expect_input_error(fake, "not a Parquet file")
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1" + b"\x00" * 50 + b"PAR1")
    expect_input_error(broken, "Parquet")
    xlsx = tmp_path / "book.xlsx"
    xlsx.write_bytes(b"PK\x03\x04" + b"\x00\x14" * 20)
    expect_input_error(xlsx)
    weird = write(tmp_path, "data.bin", "just some words\nand more words\n")
    expect_input_error(weird, "no recognisable header")


def test_no_recognisable_header_names_missing_and_seen_columns(tmp_path):
    path = write(tmp_path, "x.csv", "date,value,note\n2026-01-01,1,x\n")
    message = expect_input_error(path, "no recognisable header", "time, amount")
    assert "found: date, value, note" in message
    assert "--pos-profile" in message


def test_explicit_profile_with_missing_column(tmp_path):
    path = write(tmp_path, "eu.csv", "Buchungsdatum;Summe\n20.11.2026;1,00\n")
    message = expect_input_error(path, "amount (Betrag or Amount)", profile="eu-bank-semicolon")
    assert "found: Buchungsdatum, Summe" in message


def test_canonical_columns_are_exact_schema(tmp_path):
    loaded = load_side(
        write(tmp_path, "min.csv", "time,amount\n2026-01-01,1\n"), "pos", "canonical"
    )
    assert dict(loaded.frame.schema) == CANONICAL
    assert loaded.rejected.height == 1  # no currency column and no default currency


def test_contract_example_files_load_cleanly():
    folder = SHARED / "examples" / "contract"
    if not folder.is_dir():
        pytest.skip("shared contract examples not present")
    for name, side in (("pos.csv", "pos"), ("bank.csv", "bank")):
        loaded = load_side(folder / name, side)
        check(loaded)
        assert loaded.rejected.height == 0 and loaded.frame.height > 10


def test_placeholder_references_of_a_csv_bank_export_are_no_references(tmp_path):
    # NONREF and its kin identify nothing, in a CSV as in a statement: two credits marked
    # NONREF are not one reference seen twice.
    bank = tmp_path / "bank.csv"
    bank.write_text(
        "id,time,amount,currency,reference,references\n"
        "B1,2026-11-20T10:00:00,10.00,CNY,NONREF,NONREF|ABC123\n"
        "B2,2026-11-20T15:00:00,10.00,CNY,NOTPROVIDED,KREF+\n"
        "B3,2026-11-20T16:00:00,12.00,CNY,RRN000123,\n",
        encoding="utf-8",
    )
    frame = load_side(str(bank), "bank").frame
    assert frame["reference"].to_list() == [None, None, "RRN000123"]
    assert frame["references"].to_list() == [["ABC123"], None, None]
    pos = tmp_path / "pos.csv"
    pos.write_text(
        "id,time,amount,currency,reference\nP1,2026-11-20T09:59:00,10.00,CNY,NONREF\n",
        encoding="utf-8",
    )
    # the POS side keeps what the terminal wrote
    assert load_side(str(pos), "pos").frame["reference"].to_list() == ["NONREF"]


def test_a_quote_that_never_closes_rejects_its_row_not_the_file(tmp_path):
    pos = tmp_path / "pos.csv"
    pos.write_text(
        "id,time,amount,currency,reference\n"
        "P1,2026-11-20T10:00:00,12.00,CNY,R1\n"
        'P2,2026-11-20T12:00:00,"7.00,CNY,R2\n'
        "P3,2026-11-20T12:30:00,8.00,CNY,R3\n",
        encoding="utf-8",
    )
    loaded = load_side(str(pos), "pos")
    assert loaded.frame["id"].to_list() == ["P1", "P3"]
    assert loaded.rejected["line"].to_list() == [3]
    assert "not a number" in loaded.rejected["reason"][0]


def test_parquet_decimal_amounts_are_checked_like_text(tmp_path):
    """The typed path (no text parsing) rejects what the text parser rejects, naming the row."""
    path = tmp_path / "typed.parquet"
    pl.DataFrame(
        {
            "time": [datetime(2026, 1, 1, h) for h in (9, 10, 11, 12)],
            "amount": pl.Series(
                [Decimal("12.50"), Decimal("0.10"), Decimal("123456789012345.00"), None],
                dtype=pl.Decimal(18, 2),
            ),
            "currency": ["CNY", "JPY", "CNY", "CNY"],
        }
    ).write_parquet(path)
    loaded = load_side(path, "bank")
    check(loaded)
    assert loaded.frame["amount"].to_list() == [1250]
    reasons = dict(zip(loaded.rejected["line"], loaded.rejected["reason"], strict=True))
    assert reasons[2] == "amount '0.10' has more decimals than JPY allows (0)"
    assert reasons[3] == "amount is too large"
    assert reasons[4] == "amount is empty"


def test_plain_and_marked_amounts_in_one_file_parse_the_same(tmp_path):
    """A file whose amounts are all plain takes the fast path; one marked amount sends the whole
    column through the general parser: both give the same minor units."""
    rows = "time,amount,currency\n2026-01-01T10:00:00,12.50,CNY\n2026-01-01T11:00:00,-3.00,CNY\n"
    plain = tmp_path / "plain.csv"
    plain.write_text(rows)
    marked = tmp_path / "marked.csv"
    marked.write_text(rows + '2026-01-01T12:00:00,"1,234.50",CNY\n')
    assert load_side(plain, "pos").frame["amount"].to_list() == [1250, -300]
    assert load_side(marked, "pos").frame["amount"].to_list() == [1250, -300, 123450]


def _general_path(path: Path, side: str) -> pl.DataFrame:
    """Every row of a file through the general parsers (no look at its columns first)."""
    from recon.readers import parquet

    profile = load_profile("canonical")
    plan, _ = normalize_plan(parquet.scan(path, profile), profile, side, path.name)
    return plan.collect()


def test_what_a_look_finds_parses_as_the_general_path_does(tmp_path):
    """A look at the file (recon.normalize.look) lets Decimal amounts in two-digit currencies
    skip the currency per row, and currencies be looked up instead of parsed: every value,
    reason and masked account is the same as through the general parsers."""
    path = tmp_path / "day.parquet"
    pl.DataFrame(
        {
            "time": [datetime(2026, 1, 1, 10, i) for i in range(7)],
            "amount": pl.Series(
                [
                    Decimal("12.50"),
                    Decimal("-3"),
                    Decimal("123456789012345.00"),
                    None,
                    Decimal("0.10"),
                    Decimal("7.00"),
                    Decimal("8.00"),
                ],
                dtype=pl.Decimal(18, 2),
            ),
            "currency": [" rmb ", "usd", "CNY", "CNY", "US$", None, "`eur"],
            "account": [
                "4111 1111 1111 1111",
                "411111xxxxxx1111",
                "6222020200112233445",
                "card 4111-1111-1111-1111 (visa)",
                None,
                "DE89 3704 0044 0532 0130 00",
                "622202******1234",
            ],
        }
    ).write_parquet(path)
    loaded = load_side(path, "pos")
    check(loaded)
    general = _general_path(path, "pos")
    good = general.filter(pl.col("__n_reason") == "")
    for column in ("amount", "currency", "kind"):
        assert loaded.frame[column].to_list() == good[column].to_list(), column
    bad = general.filter(pl.col("__n_reason") != "")
    assert loaded.rejected["reason"].to_list() == bad["__n_reason"].to_list()
    assert "amount is too large" in loaded.rejected["reason"].to_list()
    assert any("'US$' is not an ISO 4217 code" in r for r in loaded.rejected["reason"])
    assert loaded.frame["currency"].to_list()[:2] == ["CNY", "USD"]
    # The account: the loader normalises the rows that need it, account_text() every row.
    assert loaded.frame["account"].to_list() == good.select(account_text())["account"].to_list()
    accounts = dict(zip(loaded.frame["line"], loaded.frame["account"], strict=True))
    assert accounts[1] == accounts[2] == "411111******1111"
    assert accounts[7] == "622202******1234"


def test_only_text_columns_that_cleaning_leaves_as_they_are_skip_it(tmp_path):
    """A look finds the text columns no value of which cleaning would change (padding, a leading
    quote mark, an empty or `-` value): those are used as they are, the rest still cleaned, and
    every row comes out as through the general parsers."""
    from recon.readers import parquet

    path = tmp_path / "day.parquet"
    pl.DataFrame(
        {
            "time": [datetime(2026, 1, 1, 10, i) for i in range(3)],
            "amount": ["1.00", "2.00", "3.00"],
            "currency": ["CNY", "CNY", "CNY"],
            "id": ["P1", " P2", "P3"],
            "reference": ["R1", "R2\t", "R3"],
            "kind": ["sale", "'refund", "sale"],
            "terminal": ["T1", "", "T3"],
            "merchant": ["M1", "-", "M3"],
            "account": ["622202******1234", "622202******1234", "`622202******1234"],
            "memo": ["a b", "c", "d"],
        }
    ).write_parquet(path)
    profile = load_profile("canonical")
    seen = look(parquet.scan(path, profile), profile)
    assert seen.clean == {"amount", "currency", "memo"}
    loaded = load_side(path, "pos")
    check(loaded)
    general = _general_path(path, "pos")
    for column in ("id", "reference", "kind", "terminal", "merchant", "currency", "memo"):
        assert loaded.frame[column].to_list() == general[column].to_list(), column
    assert loaded.frame["id"].to_list() == ["P1", "P2", "P3"]
    assert loaded.frame["reference"][1] == "R2"
    assert loaded.frame["kind"].to_list() == ["sale", "refund", "sale"]
    assert loaded.frame["terminal"].to_list() == ["T1", None, "T3"]
    assert loaded.frame["merchant"].to_list() == ["M1", None, "M3"]
    assert loaded.frame["account"].to_list() == ["622202******1234"] * 3
    assert loaded.frame["memo"].to_list() == ["a b", "c", "d"]


def test_a_currency_column_of_many_texts_is_parsed_per_row(tmp_path):
    """More than 10,000 distinct currency texts (a wrongly mapped column) are not turned into
    a lookup: every row is still parsed, and each bad one rejected with its own text."""
    n = 10_002
    path = tmp_path / "many.parquet"
    pl.DataFrame(
        {
            "time": [datetime(2026, 1, 1, 10)] * n,
            "amount": ["1.00"] * n,
            "currency": [f"C{i}" for i in range(n - 2)] + ["cny", "usd"],
        }
    ).write_parquet(path)
    loaded = load_side(path, "pos")
    check(loaded)
    assert loaded.frame["currency"].to_list() == ["CNY", "USD"]
    assert loaded.rejected.height == n - 2
    assert loaded.rejected["reason"][0] == "currency 'C0' is not an ISO 4217 code"
