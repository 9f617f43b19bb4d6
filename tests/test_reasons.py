"""Rejection reasons in Chinese (recon.reasons): real reasons of bad files, every template.

The reasons are produced by loading small bad files, so a change of the loader's wording shows
here (and the template must follow it); rejected.csv itself keeps the English.
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest
from conftest import DATA

from recon.i18n import t
from recon.load import load_side
from recon.reasons import _TEMPLATES, SEP, TEMPLATE_KEYS, translate_reason, translate_reasons

STATEMENTS = DATA / "statements"
XML_DATA = DATA / "statements_xml"
ZM = DATA / "unionpay" / "INN25010288ZM_888000000000002"
_ZM_WIDTHS = [3, 11, 11, 6, 10, 19, 12, 4, 2, 21, 2, 32, 2, 6, 10, 13, 13]


def _cjk(text: str) -> bool:
    return re.search(r"[\u4e00-\u9fff]", text) is not None


def _reasons(path: Path, side: str = "pos", profile: Path | None = None) -> list[str]:
    loaded = load_side(path, side, profile)
    return loaded.rejected.sort("line")["reason"].to_list()


def _template(part: str) -> tuple[str, dict[str, str]] | None:
    for key, pattern in _TEMPLATES:
        m = pattern.fullmatch(part)
        if m:
            return key, m.groupdict()
    return None


# --- real reasons, by the file that produces them -------------------------------------------

CANONICAL_CSV = """id,time,amount,currency,account,reference,kind,terminal,merchant,fee
P1,,10.00,CNY,,,sale,T1,M1,
P2,2026-11-20 10:00,abc,CNY,,,sale,T1,M1,
P3,2026-11-20 10:00,1.234,CNY,,,sale,T1,M1,
P4,2026-11-20 10:00,1.00,CNY,,,bogus,T1,M1,
P5,2026-11-20 10:00,1.00,XXXX,,,sale,T1,M1,
P6,yesterday,99999999999999999,CNY,,,,T1,M1,x
P7,2026-11-20 10:00,1.00,CNY,,,sale,T1
P8,2026-11-20 10:00,¥,CNY,,,sale,T1,M1,¥
P9,2026-11-20 10:00,1.234,,,,sale,T1,M1,
"""

SPLIT_PROFILE = """name = "test-split"
datetime_format = ["%Y-%m-%d %H:%M:%S", "%Y/%m/%d"]
[columns]
time = "when"
amount_in = "in"
amount_out = "out"
debit_credit = "dir"
currency = "cur"
fee = "fee"
[debit_credit]
debit = ["D"]
credit = ["C"]
"""

SPLIT_CSV = """when,in,out,dir,cur,fee
2026-11-20 10:00:00,,,C,CNY,
20.11.2026,1.00,,C,CNY,
2026-11-20 10:00:00,x1,,C,CNY,
2026-11-20 10:00:00,,2.555,D,CNY,
2026-11-20 10:00:00,1.00,,Z,CNY,
2026-11-20 10:00:00,1.00,,C,CNY,0.001
2026-11-20 10:00:00,1.00,,C,,
2026-11-20 10:00:00,123456789012345,,C,CNY,
2026-11-20 10:00:00,¥,,C,CNY,
2026-11-20 10:00:00,,expense?,D,CNY,
"""


@pytest.fixture(scope="module")
def csv_reasons(tmp_path_factory) -> list[str]:
    path = tmp_path_factory.mktemp("csv") / "pos.csv"
    path.write_text(CANONICAL_CSV, encoding="utf-8")
    return _reasons(path)


@pytest.fixture(scope="module")
def split_reasons(tmp_path_factory) -> list[str]:
    folder = tmp_path_factory.mktemp("split")
    (folder / "split.toml").write_text(SPLIT_PROFILE)
    (folder / "bank.csv").write_text(SPLIT_CSV, encoding="utf-8")
    return _reasons(folder / "bank.csv", "bank", folder / "split.toml")


def _zm_reasons(folder: Path) -> list[str]:
    def at(index: int) -> slice:
        start = sum(_ZM_WIDTHS[:index]) + index
        return slice(start, start + _ZM_WIDTHS[index])

    amount, stamp = at(6), at(4)
    lines = ZM.read_bytes().split(b"\r\n")
    good = lines[0]  # the first line stays good: the format is known by it
    lines[1] = good[: amount.start] + b"00000000X550" + good[amount.stop :]
    lines[2] = good.replace(b" ", b"", 1)  # every field after the first shifted
    lines[3] = good + b"XYZ"
    lines[4] = good[: stamp.start] + b"1399999999" + good[stamp.stop :]
    path = folder / ZM.name
    path.write_bytes(b"\r\n".join(lines))
    return _reasons(path, "bank")


def _reader_reasons(folder: Path) -> list[str]:
    """Reasons the statement readers write (BAI2, MT940, camt, OFX, UnionPay ZM)."""
    out = _reasons(STATEMENTS / "bad_entry.mt940", "bank")
    out += _reasons(STATEMENTS / "bad_entry.bai2", "bank")
    bai2 = (STATEMENTS / "simple.bai2").read_text()
    (folder / "noacct.bai2").write_text(
        "\n".join(line for line in bai2.split("\n") if not line.startswith("03,"))
    )
    out += _reasons(folder / "noacct.bai2", "bank")[:1]
    (folder / "nodate.bai2").write_text(
        bai2.replace("02,TEST,BANK,1,240301", "02,TEST,BANK,1,2403XX")
    )
    out += _reasons(folder / "nodate.bai2", "bank")[:1]

    camt = (XML_DATA / "statement.camt053.xml").read_bytes()
    first = camt.index(b"<Ntry>")
    head, entries = camt[:first], camt[first:]
    end = entries.index(b"</Ntry>")
    entry, rest = entries[:end], entries[end:]
    no_amt = re.sub(rb'<Amt Ccy="[A-Z]+">[^<]*</Amt>', b"", entry, count=1)
    (folder / "noamt.xml").write_bytes(head + no_amt + rest)
    out += _reasons(folder / "noamt.xml", "bank")
    no_date = re.sub(rb"<(BookgDt|ValDt)>.*?</\1>", b"", entry, flags=re.S)
    (folder / "nodate.xml").write_bytes(head + no_date + rest)
    out += _reasons(folder / "nodate.xml", "bank")
    for name, mark in (("nomark.xml", b""), ("badmark.xml", b"<CdtDbtInd>XX</CdtDbtInd>")):
        (folder / name).write_bytes(camt.replace(b"<CdtDbtInd>DBIT</CdtDbtInd>", mark, 1))
        out += _reasons(folder / name, "bank")

    ofx = (XML_DATA / "statement.ofx").read_bytes()
    (folder / "cut.ofx").write_bytes(ofx[: ofx.index(b"<TRNAMT>-20.00")])
    out += _reasons(folder / "cut.ofx", "bank")
    (folder / "amount.ofx").write_bytes(ofx.replace(b"<TRNAMT>-20.00", b"<TRNAMT>abc", 1))
    out += _reasons(folder / "amount.ofx", "bank")
    (folder / "nodate.ofx").write_bytes(
        re.sub(rb"<DTPOSTED>[^<\n]*(</DTPOSTED>)?", b"", ofx, count=1)
    )
    out += _reasons(folder / "nodate.ofx", "bank")
    return out + _zm_reasons(folder)


@pytest.fixture(scope="module")
def reader_reasons(tmp_path_factory) -> list[str]:
    return _reader_reasons(tmp_path_factory.mktemp("readers"))


def test_canonical_csv_reasons(csv_reasons: list[str]) -> None:
    assert csv_reasons == [
        "time is empty",
        "amount is not a number: 'abc'",
        "amount '1.234' has more decimals than CNY allows (2)",
        "unknown kind 'bogus' (expected sale|refund|void|reversal)",
        "currency 'XXXX' is not an ISO 4217 code",
        "time 'yesterday' is not an ISO 8601 date or date/time; amount is too large; "
        "fee is not a number: 'x'",
        "expected 10 fields, found 8",
        "amount is empty; fee is empty",
        "amount '1.234' has more decimals than its currency allows (2); "
        "currency missing and no default_currency in profile",
    ]
    zh = [translate_reason(r, "zh") for r in csv_reasons]
    assert zh[0] == "时间为空"
    assert zh[1] == "金额不是数字：'abc'"
    assert zh[2] == "金额 '1.234' 的小数位超过 CNY 允许的位数（2 位）"
    assert zh[3] == "未知的交易类型 'bogus'（应为 sale|refund|void|reversal）"
    assert zh[4] == "币种 'XXXX' 不是 ISO 4217 币种代码"
    assert zh[5] == (
        "时间 'yesterday' 不是 ISO 8601 格式的日期或日期时间；金额过大，超出可处理的范围；"
        "手续费不是数字：'x'"
    )
    assert zh[6] == "字段数不符：应为 10 个，实际为 8 个"
    assert zh[7] == "金额为空；手续费为空"
    assert zh[8].startswith("金额 '1.234' 的小数位超过 其币种 允许的位数（2 位）；缺少币种")
    assert "default_currency" in zh[8]


def test_split_amount_profile_reasons(split_reasons: list[str]) -> None:
    assert split_reasons == [
        "amount is empty (both income and expense columns are empty)",
        "time '20.11.2026' does not match %Y-%m-%d %H:%M:%S or %Y/%m/%d",
        "income amount is not a number: 'x1'",
        "expense amount '2.555' has more decimals than CNY allows (2)",
        "debit/credit flag 'Z' is not one of D/C",
        "fee '0.001' has more decimals than CNY allows (2)",
        "currency missing and no default_currency in profile",
        "income amount is too large",
        "income amount is empty",
        "expense amount is not a number: 'expense?'",
    ]
    zh = [translate_reason(r, "zh") for r in split_reasons]
    assert zh == [
        "金额为空（收入列和支出列都为空）",
        "时间 '20.11.2026' 不符合格式 %Y-%m-%d %H:%M:%S 或 %Y/%m/%d",
        "收入金额不是数字：'x1'",
        "支出金额 '2.555' 的小数位超过 CNY 允许的位数（2 位）",
        "借贷标志 'Z' 不是 D/C 之一",
        "手续费 '0.001' 的小数位超过 CNY 允许的位数（2 位）",
        "缺少币种，且格式配置中没有设置默认币种（default_currency）",
        "收入金额过大，超出可处理的范围",
        "收入金额为空",
        "支出金额不是数字：'expense?'",
    ]


def test_reader_reasons(reader_reasons: list[str]) -> None:
    expected = {
        "cannot read MT940 entry: Unable to parse": "无法读取 MT940 条目：Unable to parse",
        "cannot read BAI2 16 record: invalid literal": "无法读取 BAI2 16 记录：invalid literal",
        "BAI2 16 record outside an account": "BAI2 16 记录不属于任何账户（前面没有 03 记录）",
        "BAI2 16 record in a group without": "BAI2 16 记录所在的组没有有效的日期（02 记录）",
        "entry has no Amt": "条目缺少金额（Amt）",
        "entry has no booking or value date": "条目缺少记账日期和起息日",
        "no CdtDbtInd": "缺少借贷标记（CdtDbtInd）",
        "CdtDbtInd 'XX' is not CRDT or DBIT": "借贷标记 CdtDbtInd 'XX' 不是 CRDT 或 DBIT",
        "transaction has no TRNAMT": "交易缺少金额（TRNAMT）",
        "TRNAMT 'abc' is not a decimal number": "金额 TRNAMT 'abc' 不是十进制数字",
        "transaction has no DTPOSTED": "交易缺少记账日期（DTPOSTED）",
        "UnionPay ZM field 交易金额": "银联 ZM 字段 交易金额 的格式不正确",
        "not a UnionPay ZM record": "不是银联 ZM 记录：字段不在固定位置上",
        "UnionPay ZM record is 610 bytes": "银联 ZM 记录长 610 字节，应为 607 字节",
        "UnionPay ZM 交易传输时间 '1399999999'": "银联 ZM 交易传输时间 '1399999999' 不是有效的日期",
    }
    for start, zh_start in expected.items():
        found = [r for r in reader_reasons if r.startswith(start)]
        assert found, start
        for reason in found:
            assert translate_reason(reason, "zh").startswith(zh_start), reason
    # The parser's own message inside a reader's reason stays as it is.
    mt940 = next(r for r in reader_reasons if r.startswith("cannot read MT940"))
    assert translate_reason(mt940, "zh").endswith(mt940.split(": ", 1)[1])
    assert "'1O00'" in translate_reason(
        next(r for r in reader_reasons if r.startswith("cannot read BAI2")), "zh"
    )


def test_reasons_no_small_file_gives() -> None:
    """Reasons of files too broken to make here, written the way the readers write them."""
    cases = {
        "MT940 :61: line without amount": "MT940 :61: 行缺少金额",
        "MT940 :61: line without value date": "MT940 :61: 行缺少起息日",
        "cannot read MT940 entry: parsed 2 entries from 3 :61: lines": (
            "无法读取 MT940 条目：解析出 2 个条目，但有 3 个 :61: 行"
        ),
        "cannot read BAI2 16 record: amount is empty": "无法读取 BAI2 16 记录：金额为空",
        "entry has no Amt; no CdtDbtInd; entry has no booking or value date": (
            "条目缺少金额（Amt）；缺少借贷标记（CdtDbtInd）；条目缺少记账日期和起息日"
        ),
        "TRNAMT '1,2,3' is not a decimal number; transaction has no DTPOSTED": (
            "金额 TRNAMT '1,2,3' 不是十进制数字；交易缺少记账日期（DTPOSTED）"
        ),
    }
    for english, chinese in cases.items():
        assert translate_reason(english, "zh") == chinese


def test_every_template_is_met_and_its_english_is_the_loaders(
    csv_reasons: list[str], split_reasons: list[str], reader_reasons: list[str]
) -> None:
    """Each real reason part is known, and the catalog's English rebuilds it exactly."""
    made = [
        "MT940 :61: line without amount",
        "cannot read MT940 entry: parsed 2 entries from 3 :61: lines",
    ]
    met = set()
    for reason in [*csv_reasons, *split_reasons, *reader_reasons, *made]:
        for part in reason.split(SEP):
            found = _template(part)
            assert found is not None, part
            key, groups = found
            met.add(key)
            assert t(key, "en", **groups) == part
            if "error" in groups and _template(groups["error"]):
                met.add(_template(groups["error"])[0])
    assert met == set(TEMPLATE_KEYS)


def test_values_are_kept_and_chinese_words_are_used(
    csv_reasons: list[str], split_reasons: list[str], reader_reasons: list[str]
) -> None:
    for reason in [*csv_reasons, *split_reasons, *reader_reasons]:
        zh = translate_reason(reason, "zh")
        assert _cjk(zh), reason
        for quoted in re.findall(r"'[^']*'", reason):  # the cell's text, as it was
            assert quoted in zh, (reason, quoted)
        for number in re.findall(r"\b\d+\b", reason):
            assert number in zh, (reason, number)


def test_unknown_parts_stay_english_and_nothing_is_lost() -> None:
    assert translate_reason("something new", "zh") == "something new"
    assert translate_reason("something new; time is empty", "zh") == "something new；时间为空"
    assert translate_reason("time is empty; something new", "zh") == "时间为空；something new"
    # a value holding "; " is one part, not two
    assert translate_reason("amount is not a number: 'a; b'", "zh") == "金额不是数字：'a; b'"
    # a near miss is not half-translated
    assert translate_reason("time is empty!", "zh") == "time is empty!"
    assert translate_reason("", "zh") == ""


def test_english_is_unchanged(csv_reasons: list[str], reader_reasons: list[str]) -> None:
    for reason in [*csv_reasons, *reader_reasons, "something new"]:
        assert translate_reason(reason, "en") == reason
        assert translate_reason(reason, "fr") == reason  # not a language of the catalog


def test_translate_reasons_maps_distinct_values_back() -> None:
    reasons = ["time is empty", "amount is not a number: 'x'", None, "time is empty", "odd"] * 3
    frame = pl.DataFrame(
        {"side": ["pos"] * 15, "line": list(range(15)), "reason": reasons, "raw": ["r"] * 15}
    )
    zh = translate_reasons(frame, "zh")
    assert zh.columns == frame.columns and zh.height == frame.height
    assert zh["reason"].to_list()[:5] == ["时间为空", "金额不是数字：'x'", None, "时间为空", "odd"]
    assert zh["line"].to_list() == frame["line"].to_list()
    assert translate_reasons(frame, "en") is frame
    # Only the rows a report shows: the others are left as they are.
    head = translate_reasons(frame, "zh", rows=4)
    assert head.height == frame.height
    assert head["reason"].to_list()[:4] == zh["reason"].to_list()[:4]
    assert head["reason"].to_list()[4:] == reasons[4:]
    empty = frame.head(0)
    assert translate_reasons(empty, "zh").height == 0
