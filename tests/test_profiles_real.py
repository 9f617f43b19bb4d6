"""Real-world exports load with no profile given: the right built-in profile, every row, every cent.

Expected figures are read independently of recon: the csv module and Decimal sums in this file,
and the file's own summary/footer lines where it has them (WeChat's 收入：N笔 X元, a trade bill's
总交易单数 line, Alipay's #交易合计 lines). Files under ../shared are the team's samples and are
skipped with a reason on a plain clone; tests/data/bills holds small self-made files.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import DATA, SHARED

from recon.errors import InputError
from recon.load import load_side

REALDATA = SHARED / "realdata"
CN = REALDATA / "cn_bills"
POS = REALDATA / "pos_exports"
EXAMPLES = SHARED / "formats" / "examples"
BILLS = DATA / "bills"

Row = dict[str, str]


def dec(text: str, *, comma: bool = False) -> Decimal:
    """A cell as a Decimal: padding, ` and ' marks, ¥ and thousands separators removed."""
    s = text.strip().strip("`'").strip().replace("¥", "").replace("￥", "")
    if s in ("", "-", "/"):
        return Decimal(0)
    s = s.replace(".", "").replace(",", ".") if comma else s.replace(",", "")
    return Decimal(s)


def table(path: Path, encoding: str, first_header: str, footer: str | None = None) -> list[Row]:
    """Data rows under the first line starting with `first_header`, trailing footer removed."""
    text = path.read_bytes().decode(encoding).lstrip("\ufeff")
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(first_header))
    body = lines[start:]
    while body and (not body[-1].strip(" \t,") or (footer and re.search(footer, body[-1]))):
        body.pop()
    rows = list(csv.reader(io.StringIO("\n".join(body))))
    names = [h.strip() for h in rows[0]]
    out = []
    for cells in rows[1:]:
        if not any(c.strip() for c in cells):
            continue
        out.append({n: (cells[i] if i < len(cells) else "") for i, n in enumerate(names)})
    return out


def directed(amount: str, direction: str) -> Callable[[Row], Decimal]:
    """收/支-style sign: 支出 negative, 收入 positive, anything else as written."""

    def fn(row: Row) -> Decimal:
        value = dec(row[amount])
        way = row[direction].strip()
        return -abs(value) if way in ("支出", "支", "借 Dr") else value

    return fn


def in_out(income: str, expense: str) -> Callable[[Row], Decimal]:
    return lambda row: dec(row[income]) - dec(row[expense])


def plain(amount: str, comma: bool = False) -> Callable[[Row], Decimal]:
    return lambda row: dec(row[amount], comma=comma)


def allinpay(row: Row) -> Decimal:
    value = dec(row["交易金额"])
    return value if row["交易类型"].strip() == "消费" else -value


def wechat_tradebill(row: Row) -> Decimal:
    return dec(row["应结订单金额"]) - dec(row["退款金额"])


# (folder, file, expected profile, encoding, first header cell, footer regex, amount of a row)
CASES = [
    (CN, "china-beancount-importers__微信支付账单(20200830-20200906).csv", "wechat-pay", "utf-8",
     "交易时间", None, directed("金额(元)", "收/支")),
    (CN, "double-entry-generator__example-wechat-records.csv", "wechat-pay", "utf-8",
     "交易时间", None, directed("金额(元)", "收/支")),
    (CN, "double-entry-generator__example-alipay-records.csv", "alipay", "gb18030",
     "交易时间", None, directed("金额", "收/支")),
    (CN, "double-entry-generator__example-icbc-debit-v2-records.csv", "icbc", "utf-8",
     "交易日期", r"合计", in_out("记账金额(收入)", "记账金额(支出)")),
    (CN, "double-entry-generator__example-icbc-credit-records.csv", "icbc", "utf-8",
     "交易日期", r"合计", in_out("记账金额(收入)", "记账金额(支出)")),
    (CN, "double-entry-generator__example-cmb-records.csv", "cmb", "utf-8",
     "记账日期", None, plain("交易金额")),
    (CN, "double-entry-generator__example-abc_debit-records.csv", "abc", "utf-8",
     "交易日期", None, plain("交易金额")),
    (CN, "double-entry-generator__example-bocom_debit-records.csv", "bocom", "utf-8",
     "序号", None, directed("交易金额", "借贷")),
    (CN, "double-entry-generator__example-mt-records.csv", "meituan", "utf-8",
     "交易创建时间", None, directed("实付金额", "收/支")),
    (POS, "hledger__stripe.csv", "stripe", "utf-8", '"balance_transaction_id"', None,
     plain("gross")),
    (POS, "oca-bank-statement-import__statement_en.csv", "paypal", "utf-8", '"Date"', None,
     plain("Gross")),
    (POS, "oca-bank-statement-import__activity_en.csv", "paypal-activity", "utf-8", '"Date"',
     None, plain("Gross")),
    (POS, "oca-bank-statement-import__statement_es.csv", "paypal-es", "utf-8", '"Fecha"', None,
     plain("Bruto", comma=True)),
    (POS, "adyen-settlement__settlement_detail_report_batch_89.csv", "adyen-settlement",
     "utf-8", "Company Account", None, in_out("Net Credit (NC)", "Net Debit (NC)")),
    (EXAMPLES, "wechat_tradebill_ALL_20250315.csv", "wechat-pay-tradebill", "utf-8",
     "交易时间", r"^(总交易单数|`\d+,`)", wechat_tradebill),
    (EXAMPLES, "20880000000000010156_20250315_业务明细.csv", "alipay-business", "gb18030",
     "支付宝交易号", r"^#", plain("商家实收（元）")),
    (EXAMPLES, "allinpay_pos_statement_20250315.csv", "allinpay", "utf-8", "商户号", None,
     allinpay),
    (BILLS, "wechat_bill_small.csv", "wechat-pay", "utf-8", "交易时间", None,
     directed("金额(元)", "收/支")),
    (BILLS, "bank_income_expense_small.csv", "icbc", "utf-8", "交易日期", r"合计",
     in_out("记账金额(收入)", "记账金额(支出)")),
    (BILLS, "alipay_business_gbk.csv", "alipay-business", "gbk", "支付宝交易号", r"^#",
     plain("商家实收（元）")),
]  # fmt: skip


def minor(total: Decimal) -> int:
    return int((total * 100).to_integral_value())


@pytest.mark.parametrize(
    ("folder", "name", "profile", "encoding", "first", "footer", "amount"),
    CASES,
    ids=[c[1][:40] for c in CASES],
)
def test_export_is_recognised_and_loads_every_row_and_cent(
    folder, name, profile, encoding, first, footer, amount
):
    path = folder / name
    if not path.is_file():
        pytest.skip(f"{path} is absent (the team's shared sample files)")
    rows = table(path, encoding, first, footer)
    # Every layout reads on both sides: sales and refunds become credits and debits on the bank
    # side (a platform bill or acquirer export there), and back on the POS side.
    for side in ("pos", "bank"):
        loaded = load_side(path, side)
        assert loaded.profile == profile
        assert loaded.rejected.height == 0, loaded.rejected.to_dicts()
        assert loaded.rows == loaded.frame.height == len(rows)
        assert loaded.frame["amount"].sum() == minor(sum(map(amount, rows), Decimal(0)))


def test_every_sample_file_is_covered():
    """A new file in the shared folders must get a case here (or be listed as unsupported)."""
    unsupported = {"INN25031588ZM_777000000000001"}  # fixed-width ZM: no reader yet
    elsewhere = {"double-entry-generator__example-wechat-records.xlsx"}  # test_wechat_xlsx_...
    unsupported |= elsewhere
    covered = {c[1] for c in CASES}
    present = [f for d in (CN, POS, EXAMPLES) if d.is_dir() for f in d.iterdir()]
    if not present:
        pytest.skip(f"{SHARED} sample folders are absent")
    assert sorted(f.name for f in present if f.name not in covered | unsupported) == []


def summary_line(path: Path, encoding: str, pattern: str) -> re.Match[str]:
    text = path.read_bytes().decode(encoding)
    found = re.search(pattern, text, re.MULTILINE)
    assert found, pattern
    return found


def test_wechat_income_matches_the_bills_own_summary():
    path = CN / "china-beancount-importers__微信支付账单(20200830-20200906).csv"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    m = summary_line(path, "utf-8", r"^收入：(\d+)笔 ([\d.]+)元")
    frame = load_side(path, "pos").frame
    income = frame.filter(frame["amount"] > 0)
    assert income.height == int(m[1])
    assert income["amount"].sum() == minor(Decimal(m[2]))


def test_trade_bill_matches_its_summary_line():
    path = EXAMPLES / "wechat_tradebill_ALL_20250315.csv"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    m = summary_line(path, "utf-8", r"^`(\d+),`([\d.]+),`([\d.]+),")
    loaded = load_side(path, "pos")
    assert loaded.rows == int(m[1])
    assert loaded.frame["amount"].sum() == minor(Decimal(m[2]) - Decimal(m[3]))
    assert sorted(loaded.frame["kind"]) == ["refund", "sale", "sale"]


def test_alipay_business_matches_its_footer_totals():
    for path in (EXAMPLES / "20880000000000010156_20250315_业务明细.csv",
                 BILLS / "alipay_business_gbk.csv"):  # fmt: skip
        if not path.is_file():
            continue
        sale = summary_line(path, "gb18030", r"^#交易合计：(\d+)笔，商家实收共(-?[\d.]+)元")
        refund = summary_line(path, "gb18030", r"^#退款合计：(\d+)笔，商家实收退款共(-?[\d.]+)元")
        loaded = load_side(path, "pos")
        assert loaded.rows == int(sale[1]) + int(refund[1])
        assert loaded.frame["amount"].sum() == minor(Decimal(sale[2]) + Decimal(refund[2]))


def test_meituan_matches_its_summary():
    path = CN / "double-entry-generator__example-mt-records.csv"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    count = summary_line(path, "utf-8-sig", r"^共：(\d+)笔记录")
    loaded = load_side(path, "pos")
    assert loaded.rows == int(count[1])


def test_wechat_xlsx_loads_like_the_csv():
    xlsx = CN / "double-entry-generator__example-wechat-records.xlsx"
    if not xlsx.is_file():
        pytest.skip(f"{xlsx} is absent")
    from_csv = load_side(CN / "double-entry-generator__example-wechat-records.csv", "pos")
    loaded = load_side(xlsx, "pos")
    assert loaded.profile == "wechat-pay"
    assert loaded.rejected.height == 0
    assert loaded.rows == from_csv.rows == 27
    assert loaded.frame["amount"].sum() == from_csv.frame["amount"].sum()
    assert loaded.frame["id"].to_list() == from_csv.frame["id"].to_list()


_OOXML = "http://schemas.openxmlformats.org"
_REL = f"{_OOXML}/officeDocument/2006/relationships"
_PKG = f"{_OOXML}/package/2006"
_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml"


def _write_xlsx(path: Path, sheets: dict[str, list[list[str]]]) -> None:
    """A minimal .xlsx (inline strings) written with zipfile: no spreadsheet library needed."""
    head = '<?xml version="1.0"?>'

    def cell(ref: str, value: str) -> str:
        value = value.replace("&", "&amp;").replace("<", "&lt;")
        return f'<c r="{ref}" t="inlineStr"><is><t>{value}</t></is></c>'

    def sheet_xml(rows: list[list[str]]) -> str:
        body = "".join(
            f'<row r="{r}">'
            + "".join(cell(f"{chr(65 + c)}{r}", v) for c, v in enumerate(row) if v)
            + "</row>"
            for r, row in enumerate(rows, 1)
        )
        ns = f"{_OOXML}/spreadsheetml/2006/main"
        return f'{head}<worksheet xmlns="{ns}"><sheetData>{body}</sheetData></worksheet>'

    names = list(sheets)
    numbers = range(1, len(names) + 1)
    types = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="{_MIME}.worksheet+xml"/>'
        for i in numbers
    )
    content_types = (
        f'{head}<Types xmlns="{_PKG}/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{_MIME}.sheet.main+xml"/>'
        f"{types}</Types>"
    )
    root_rels = (
        f'{head}<Relationships xmlns="{_PKG}/relationships">'
        f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/>'
        "</Relationships>"
    )
    sheet_list = "".join(
        f'<sheet name="{n}" sheetId="{i}" r:id="rId{i}"/>'
        for i, n in zip(numbers, names, strict=True)
    )
    workbook = (
        f'{head}<workbook xmlns="{_OOXML}/spreadsheetml/2006/main" xmlns:r="{_REL}">'
        f"<sheets>{sheet_list}</sheets></workbook>"
    )
    rels = "".join(
        f'<Relationship Id="rId{i}" Type="{_REL}/worksheet" Target="worksheets/sheet{i}.xml"/>'
        for i in numbers
    )
    workbook_rels = f'{head}<Relationships xmlns="{_PKG}/relationships">{rels}</Relationships>'
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("[Content_Types].xml", content_types)
        zf.writestr("_rels/.rels", root_rels)
        zf.writestr("xl/workbook.xml", workbook)
        zf.writestr("xl/_rels/workbook.xml.rels", workbook_rels)
        for i, n in zip(numbers, names, strict=True):
            zf.writestr(f"xl/worksheets/sheet{i}.xml", sheet_xml(sheets[n]))


BANK_ROWS = [
    ["明细查询文件下载"],
    [""],
    ["交易日期", "摘要", "记账金额(收入)", "记账金额(支出)", "记账币种", "对方户名"],
    ["2025-03-01", "POS入账", "1,280.00", "", "人民币", "银联商务"],
    ["2025-03-02", "手续费", "-", "7.68", "人民币", "银联商务"],
    [""],
    ["人民币合计", "", "1,280.00", "7.68"],
]


def test_self_made_xlsx_with_preamble_footer_and_sheet_choice(tmp_path):
    book = tmp_path / "statement.xlsx"
    _write_xlsx(book, {"notes": [["just a note"]], "明细": BANK_ROWS})
    profile = tmp_path / "bank.toml"
    profile.write_text(
        'name = "bank-xlsx"\nformat = "excel"\nsheet = "明细"\nheader_row = "auto"\n'
        "footer_pattern = '合计'\ndate_only = true\ndefault_currency = \"CNY\"\n"
        '[columns]\ntime = "交易日期"\namount_in = "记账金额(收入)"\n'
        'amount_out = "记账金额(支出)"\ncurrency = "记账币种"\n'
    )
    loaded = load_side(book, "bank", str(profile))
    assert loaded.rows == 2 and loaded.rejected.height == 0
    assert loaded.frame["amount"].to_list() == [128000, -768]
    assert loaded.frame["line"].to_list() == [4, 5]
    # by number too; and with no profile the first sheet (a note) has no usable header
    by_number = profile.read_text().replace('sheet = "明细"', "sheet = 2")
    profile.write_text(by_number)
    assert load_side(book, "bank", str(profile)).rows == 2
    with pytest.raises(InputError, match="no recognisable header"):
        load_side(book, "bank")
    single = tmp_path / "single.xlsx"
    _write_xlsx(single, {"Sheet1": BANK_ROWS})
    auto = load_side(single, "bank")
    assert auto.profile == "icbc" and auto.rows == 2


def test_missing_sheet_is_a_clear_error(tmp_path):
    book = tmp_path / "s.xlsx"
    _write_xlsx(book, {"Sheet1": BANK_ROWS})
    profile = tmp_path / "p.toml"
    profile.write_text('format = "excel"\nsheet = "nope"\nheader_row = "auto"\n')
    with pytest.raises(InputError, match="nope"):
        load_side(book, "bank", str(profile))


def test_bill_missing_a_column_names_the_header(tmp_path):
    text = (BILLS / "wechat_bill_small.csv").read_text(encoding="utf-8")
    broken = tmp_path / "wechat.csv"
    broken.write_text(text.replace("金额(元)", "合计"), encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_side(broken, "pos", "wechat-pay")
    assert "金额(元)" in str(info.value)
    bank = tmp_path / "bank.csv"
    bank.write_text(
        (BILLS / "bank_income_expense_small.csv")
        .read_text(encoding="utf-8")
        .replace("记账金额(支出)", "其他"),
        encoding="utf-8",
    )
    with pytest.raises(InputError) as info:
        load_side(bank, "bank", "icbc")
    assert "记账金额(支出)" in str(info.value)


def test_wrong_encoding_is_a_clear_error_not_a_traceback(tmp_path):
    profile = tmp_path / "utf8.toml"
    profile.write_text(
        (Path(__file__).parent.parent / "configs/profiles/alipay-business.toml")
        .read_text(encoding="utf-8")
        .replace('encoding = "auto"', 'encoding = "utf-8"')
    )
    with pytest.raises(InputError, match="cannot decode as utf-8"):
        load_side(BILLS / "alipay_business_gbk.csv", "pos", str(profile))


def test_rows_that_do_not_parse_are_rejected_not_dropped(tmp_path):
    text = (BILLS / "wechat_bill_small.csv").read_text(encoding="utf-8")
    bad = tmp_path / "bad.csv"
    bad.write_text(text.replace("¥30.50", "¥abc").replace("收入,¥120.00", "进账,¥120.00"))
    loaded = load_side(bad, "pos")
    assert loaded.rows == 4 and loaded.frame.height == 2
    reasons = " ".join(loaded.rejected["reason"])
    assert "amount" in reasons and "进账" in reasons


def test_footer_lines_must_be_trailing(tmp_path):
    """A data row after a footer-looking line is still data (nothing silently vanishes)."""
    text = (BILLS / "bank_income_expense_small.csv").read_text(encoding="utf-8")
    lines = text.splitlines()
    moved = [*lines[:8], lines[-1], *lines[8:-1]]  # the 合计 line in the middle
    path = tmp_path / "mid.csv"
    path.write_text("\n".join(moved) + "\n", encoding="utf-8")
    loaded = load_side(path, "bank")
    assert loaded.rows == 4  # the 合计 line is counted and rejected, not dropped
    assert loaded.rejected.height == 1


def test_synonym_headers_map_themselves(tmp_path):
    path = tmp_path / "pos.csv"
    path.write_text(
        "交易日期,交易金额,卡号,检索参考号,终端号,商户编号,凭证号,批次号,手续费,币种\n"
        "2025-03-15 10:20:11,128.00,6217001234561234,250315102011,T01,M01,000345,000012,0.77,CNY\n"
        "2025-03-15 11:00:00,30.00,6217001234561234,250315110000,T01,M01,000346,000012,0.18,CNY\n",
        encoding="utf-8",
    )
    loaded = load_side(path, "pos")
    assert loaded.profile == "auto-synonyms"
    row = loaded.frame.row(0, named=True)
    assert row["reference"] == "250315102011" and row["terminal"] == "T01"
    assert row["merchant"] == "M01" and row["id"] == "000345" and row["fee"] == 77
    assert row["account"] == "621700******1234"
    english = tmp_path / "en.csv"
    english.write_text("Date,Amount,Reference,Terminal\n2025-03-15,12.50,R1,T9\n")
    loaded = load_side(english, "bank")
    assert loaded.profile == "auto-synonyms" and loaded.frame["amount"].to_list() == [1250]


def test_new_profile_keys_are_validated(tmp_path):
    from recon.errors import ConfigError
    from recon.profiles import load_profile

    bad = {
        "footer_pattern = '('\n": "footer_pattern",
        "sheet = 0\n": "sheet",
        'header_row = "first"\n': "header_row",
        '[columns]\namount_in = "收入"\n': "columns.amount_in",
        '[columns]\ntime_of_day = "时间"\n': "columns.time_of_day",
        'optional_columns = ["nope"]\n': "optional_columns",
    }
    for body, key in bad.items():
        path = tmp_path / "p.toml"
        path.write_text(body, encoding="utf-8")
        with pytest.raises(ConfigError, match=re.escape(f"key '{key}'")):
            load_profile(path)


# Vendor layouts with no real sample here: headers as the vendors document their exports.
DOCUMENTED = [
    (
        "square",
        "Date,Time,Time Zone,Gross Sales,Total Collected,Fees,Net Total,Transaction ID,"
        "Payment ID,Card Brand,PAN Suffix,Device Name,Event Type,Location\n"
        "2025-03-15,10:20:11,Eastern Time (US & Canada),$12.00,$12.00,($0.36),$11.64,T1,P1,"
        "Visa,1234,Register 1,Payment,Main St\n"
        "2025-03-15,11:00:00,Eastern Time (US & Canada),-$2.00,-$2.00,$0.00,-$2.00,T2,P2,"
        "Visa,1234,Register 1,Refund,Main St\n",
        [1200, -200],
    ),
    (
        "shopify-payouts",
        "Transaction Date,Type,Order,Card Brand,Card Source,Payout Status,Payout Date,"
        "Payout ID,Available On,Amount,Fee,Net,Currency\n"
        "2025-03-15 10:20:11 -0500,charge,#1001,visa,online,paid,2025-03-17,P9,2025-03-17,"
        "25.00,1.03,23.97,USD\n"
        "2025-03-15 12:00:00 -0500,refund,#1001,visa,online,paid,2025-03-17,P9,2025-03-17,"
        "-5.00,0.00,-5.00,USD\n",
        [2500, -500],
    ),
    (
        "sumup",
        "Transaction ID,Date,Transaction Type,Status,Card Type,Last 4 Digits,Total amount,Fee,"
        "Currency\n"
        "TX1,2025-03-15 10:20:11,Sale,Successful,VISA,1234,10.00,0.19,EUR\n",
        [1000],
    ),
]


@pytest.mark.parametrize(("profile", "text", "amounts"), DOCUMENTED, ids=[d[0] for d in DOCUMENTED])
def test_documented_vendor_layouts_are_recognised(tmp_path, profile, text, amounts):
    path = tmp_path / f"{profile}.csv"
    path.write_text(text, encoding="utf-8")
    loaded = load_side(path, "pos")
    assert loaded.profile == profile
    assert loaded.rejected.height == 0, loaded.rejected.to_dicts()
    assert loaded.frame["amount"].to_list() == amounts
