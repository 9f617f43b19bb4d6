"""UnionPay online (全渠道) merchant reconciliation detail files, "ZM" (对账单).

`INN{yymmdd}88ZM_{merchant id}`: GBK text, CRLF, no header or trailer, one fixed-width record
of 607 bytes per line: 42 space-padded fields with one space between them (layout below, from
the UnionPay SDK's ZM parser and the interface spec's 文件接口 §6.1). The fields are cut with
polars string slicing on the line decoded as Latin-1 (one character per byte, so byte positions
are character positions); the line shown for a rejected row is decoded as GB18030.

Each record becomes one row of canonical-named STRING columns, so the built-in `canonical`
profile maps them with no configuration:

* id        查询流水号 (unique per transaction)
* time      交易传输时间 `MMDDhhmmss`, the year taken from the clearing date in the file name
            (`{yymmdd}88ZM`; a month-day after the clearing date belongs to the year before);
            without a date in the name the file's modification date stands in. Naive, Beijing time.
* amount    交易金额 (fen) as an exact yuan decimal, negative when 结算金额 carries `D`
* kind      `credit` / `debit` from 结算金额's C/D mark
* currency  `CNY` (the file has no currency field)
* reference the retrieval reference number (检索参考号, RRN: what the POS receipt prints as
            参考号) when the record carries one, else 商户订单号 (the order number the terminal or
            cashier app sent), else 查询流水号. The published layout has no RRN field; newer
            files put it in the reserved tail (保留使用), at a position no source documents:
            the reader takes a 12-character alphanumeric token that opens 保留使用 as the RRN.
* references the RRN, 商户订单号, 查询流水号 and 账单号码, distinct, joined by `|` (blank and
            placeholder values left out). The original transaction's ids of a refund or void
            (原交易查询流水号, 原始交易订单号) are not among them: they name another record.
* account   帐号 (masked card), terminal 终端号, merchant 商户代码
* fee       商户手续费 in yuan, positive when charged (`D`), negative when returned (`C`)
* memo      `label value` pairs joined by ` / `: 交易代码, 交易类型, 清算净额, 系统跟踪号 and,
            where present, 原交易查询流水号, 原始交易订单号, 商户自定义域 and 二级商户简称 (GBK
            text re-decoded)

A non-blank line that does not fit the layout (longer than 607 bytes, separators not blank,
a field not of its shape, an impossible date) becomes a row with ERROR set; blank lines are
skipped. A file with no record at all is an InputError.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from recon.errors import InputError
from recon.readers import ERROR, LINE, RAW, RawTable
from recon.references import PLACEHOLDER_PATTERN

if TYPE_CHECKING:
    from recon.profiles import Profile

NAME = "unionpay_zm"
COLUMNS = (
    "id",
    "time",
    "amount",
    "currency",
    "kind",
    "reference",
    "account",
    "terminal",
    "merchant",
    "fee",
    "references",
    "memo",
)

# (field, width in bytes) in record order; one blank byte separates neighbouring fields.
FIELDS: tuple[tuple[str, int], ...] = (
    ("交易代码", 3),
    ("代理机构标识码", 11),
    ("发送机构标识码", 11),
    ("系统跟踪号", 6),
    ("交易传输时间", 10),
    ("帐号", 19),
    ("交易金额", 12),
    ("商户类别", 4),
    ("终端类型", 2),
    ("查询流水号", 21),
    ("支付方式（旧）", 2),
    ("商户订单号", 32),
    ("支付卡类型", 2),
    ("原始交易的系统跟踪号", 6),
    ("原始交易日期时间", 10),
    ("商户手续费", 13),
    ("结算金额", 13),
    ("支付方式", 4),
    ("集团商户代码", 15),
    ("交易类型", 2),
    ("交易子类", 2),
    ("业务类型", 6),
    ("帐号类型", 2),
    ("账单类型", 4),
    ("账单号码", 32),
    ("交互方式", 1),
    ("原交易查询流水号", 21),
    ("商户代码", 15),
    ("分账入账方式", 1),
    ("二级商户代码", 15),
    ("二级商户简称", 32),
    ("二级商户分账入账金额", 13),
    ("清算净额", 13),
    ("终端号", 8),
    ("商户自定义域", 32),
    ("优惠金额", 13),
    ("发票金额", 13),
    ("分期付款附加手续费", 12),
    ("分期付款期数", 2),
    ("交易介质", 1),
    ("原始交易订单号", 32),
    ("保留使用", 98),
)


def _offsets() -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    pos = 0
    for name, width in FIELDS:
        out[name] = (pos, width)
        pos += width + 1
    return out


OFFSET = _offsets()
RECORD_BYTES = sum(w for _, w in FIELDS) + len(FIELDS) - 1  # 607
SEPARATORS = tuple(start + width for start, width in list(OFFSET.values())[:-1])

# Shape of the fields the row is built from; a record failing one is rejected.
_SHAPES = {
    "交易代码": r"^[A-Z0-9]{3}$",
    "交易传输时间": r"^[0-9]{10}$",
    "交易金额": r"^[0-9]{12}$",
    "查询流水号": r"^[0-9A-Za-z]+ *$",
    "商户手续费": r"^[CD][0-9]{12}$",
    "结算金额": r"^[CD][0-9]{12}$",
    "清算净额": r"^[CD][0-9]{12}$",
}
_NAME_DATE = re.compile(r"(\d{6})88ZM")
_RRN = r"^([0-9A-Za-z]{12})(?:\s|$)"  # a retrieval reference number opening 保留使用


def _record_regex() -> re.Pattern[bytes]:
    """The leading fields of a record up to 结算金额, by width and shape, then the line end."""
    fixed = rb"[A-Z0-9]{3} [ -~]{11} [ -~]{11} [0-9]{6} [0-9]{10} [ -~*]{19} [0-9]{12} "
    rest_start = OFFSET["商户类别"][0]
    fee_start = OFFSET["商户手续费"][0]
    middle = rb"[\x20-\xfe]{%d}" % (fee_start - rest_start)
    cd = rb"[CD][0-9]{12} [CD][0-9]{12} "
    tail = rb"[\x20-\xfe]{%d}(?:\r?\n|$)" % (RECORD_BYTES - (fee_start + 28))
    return re.compile(fixed + middle + cd + tail)


_RECORD = _record_regex()


def recognise(path: Path, head: bytes) -> bool:
    """The first line is one 607-byte ZM record: fields of the documented widths and shapes."""
    return bool(_RECORD.match(head.removeprefix(b"\xef\xbb\xbf")))


def header(path: Path, head: bytes, profile: Profile) -> list[str]:
    return list(COLUMNS)


def _clearing_date(path: Path) -> date:
    m = _NAME_DATE.search(path.name)
    if m:
        yy, mm, dd = (int(m.group(1)[i : i + 2]) for i in (0, 2, 4))
        try:
            return date(2000 + yy, mm, dd)
        except ValueError:
            pass
    return date.fromtimestamp(path.stat().st_mtime)


def _field(name: str) -> pl.Expr:
    start, width = OFFSET[name]
    return pl.col("_line").str.slice(start, width)


def _yuan(fen: pl.Expr) -> pl.Expr:
    """12 digits of fen -> exact yuan text: '000000012800' -> '128.00'."""
    units = fen.str.slice(0, 10).str.strip_chars_start("0").replace("", "0")
    return pl.concat_str(units, pl.lit("."), fen.str.slice(10, 2))


def _signed(marked: pl.Expr, negative_mark: str) -> pl.Expr:
    """'C000000012800' -> '128.00', the `negative_mark` side with a minus sign."""
    value = _yuan(marked.str.slice(1, 12))
    return (
        pl.when(marked.str.slice(0, 1) == negative_mark)
        .then(pl.concat_str(pl.lit("-"), value))
        .otherwise(value)
    )


def _blank_to_null(expr: pl.Expr) -> pl.Expr:
    text = expr.str.strip_chars(" ")
    return pl.when(text == "").then(None).otherwise(text)


def _gbk_fix(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    """Re-decode the few values of a Latin-1 sliced column that hold GBK bytes."""
    odd = frame.filter(pl.col(column).str.contains(r"[^\x00-\x7f]"))[column].unique()
    if odd.len() == 0:
        return frame
    mapping = {v: v.encode("latin-1").decode("gb18030", errors="replace") for v in odd}
    return frame.with_columns(pl.col(column).replace(mapping))


def scan(path: Path, profile: Profile) -> RawTable:
    where = str(path)
    data = path.read_bytes().removeprefix(b"\xef\xbb\xbf")
    if not data.strip():
        raise InputError("empty UnionPay ZM file", where)
    # Latin-1 keeps byte positions; GB18030 multi-byte sequences never contain CR or LF, so the
    # two decodings split into the same lines.
    lines = data.decode("latin-1").split("\n")
    shown = data.decode("gb18030", errors="replace").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
        shown.pop()
    base = pl.DataFrame(
        {
            "_line": lines,
            RAW: shown,
            LINE: pl.int_range(1, len(lines) + 1, eager=True, dtype=pl.Int64),
        },
        schema={"_line": pl.String, RAW: pl.String, LINE: pl.Int64},
    )
    base = base.with_columns(
        pl.col("_line").str.strip_chars_end("\r"), pl.col(RAW).str.strip_chars_end("\r")
    ).filter(pl.col("_line").str.strip_chars() != "")
    if base.height == 0:
        raise InputError("empty UnionPay ZM file", where)

    cleared = _clearing_date(path)
    length = pl.col("_line").str.len_chars()
    # Lines whose trailing blanks were trimmed are padded back to the record length.
    padded = base.with_columns(length.alias("_len"), pl.col("_line").str.pad_end(RECORD_BYTES, " "))
    seps = pl.concat_str([pl.col("_line").str.slice(p, 1) for p in SEPARATORS])
    checks: list[tuple[pl.Expr, pl.Expr]] = [
        (
            pl.col("_len") > RECORD_BYTES,
            pl.concat_str(
                pl.lit("UnionPay ZM record is "),
                pl.col("_len").cast(pl.String),
                pl.lit(f" bytes, expected {RECORD_BYTES}"),
            ),
        ),
        (
            seps != " " * len(SEPARATORS),
            pl.lit("not a UnionPay ZM record: fields not at their fixed positions"),
        ),
    ]
    for name, shape in _SHAPES.items():
        checks.append(
            (
                ~_field(name).str.contains(shape),
                pl.lit(f"UnionPay ZM field {name} is not of its shape"),
            )
        )

    stamp = _field("交易传输时间")
    mmdd = stamp.str.slice(0, 4)
    year = (
        pl.when(mmdd > cleared.strftime("%m%d"))
        .then(pl.lit(str(cleared.year - 1)))
        .otherwise(pl.lit(str(cleared.year)))
    )
    iso = pl.concat_str(
        year,
        pl.lit("-"),
        stamp.str.slice(0, 2),
        pl.lit("-"),
        stamp.str.slice(2, 2),
        pl.lit("T"),
        stamp.str.slice(4, 2),
        pl.lit(":"),
        stamp.str.slice(6, 2),
        pl.lit(":"),
        stamp.str.slice(8, 2),
    )
    valid_time = iso.str.strptime(pl.Datetime("us"), "%Y-%m-%dT%H:%M:%S", strict=False)
    checks.append(
        (
            valid_time.is_null(),
            pl.concat_str(pl.lit("UnionPay ZM 交易传输时间 '"), stamp, pl.lit("' is not a date")),
        )
    )
    error = pl.when(checks[0][0]).then(checks[0][1])
    for cond, message in checks[1:]:
        error = error.when(cond).then(message)
    error = error.otherwise(pl.lit(None, dtype=pl.String))

    settle = _field("结算金额")
    negative = settle.str.slice(0, 1) == "D"
    fen = _field("交易金额")
    amount = pl.when(negative).then(pl.concat_str(pl.lit("-"), _yuan(fen))).otherwise(_yuan(fen))
    # Free-text fields may hold GBK bytes: cut them out and re-decode them first.
    texts = {"_order": "商户订单号", "_bill": "账单号码", "_custom": "商户自定义域"}
    texts |= {"_sub": "二级商户简称", "_orig_order": "原始交易订单号"}
    padded = padded.with_columns(_blank_to_null(_field(f)).alias(c) for c, f in texts.items())
    for column in texts:
        padded = _gbk_fix(padded, column)
    rrn = _field("保留使用").str.extract(_RRN, 1)
    ids = (
        pl.concat_list(rrn, "_order", _blank_to_null(_field("查询流水号")), "_bill")
        .list.eval(
            pl.element().filter(
                pl.element().is_not_null() & ~pl.element().str.contains(PLACEHOLDER_PATTERN)
            )
        )
        .list.unique(maintain_order=True)
    )
    references = pl.when(ids.list.len() > 0).then(ids.list.join("|"))

    def optional(label: str, value: pl.Expr) -> pl.Expr:
        return pl.concat_str(pl.lit(f" / {label} "), value).fill_null("")

    memo = pl.concat_str(
        pl.lit("交易代码 "),
        _field("交易代码"),
        pl.lit(" / 交易类型 "),
        _field("交易类型"),
        pl.lit(" / 清算净额 "),
        _signed(_field("清算净额"), "D"),
        pl.lit(" / 系统跟踪号 "),
        _field("系统跟踪号"),
        optional("原交易查询流水号", _blank_to_null(_field("原交易查询流水号"))),
        optional("原始交易订单号", pl.col("_orig_order")),
        optional("商户自定义域", pl.col("_custom")),
        optional("二级商户简称", pl.col("_sub")),
    )
    values = {
        "id": _blank_to_null(_field("查询流水号")),
        "time": iso,
        "amount": amount,
        "currency": pl.lit("CNY"),
        "kind": pl.when(negative).then(pl.lit("debit")).otherwise(pl.lit("credit")),
        "reference": ids.list.first(),
        "account": _blank_to_null(_field("帐号")),
        "terminal": _blank_to_null(_field("终端号")),
        "merchant": _blank_to_null(_field("商户代码")),
        "fee": _signed(_field("商户手续费"), "C"),
        "references": references,
        "memo": memo,
    }
    frame = padded.with_columns(error.alias(ERROR)).with_columns(
        pl.when(pl.col(ERROR).is_null())
        .then(expr)
        .otherwise(pl.lit(None, dtype=pl.String))
        .cast(pl.String)
        .alias(name)
        for name, expr in values.items()
    )
    frame = frame.select(*COLUMNS, LINE, ERROR, RAW)
    return RawTable(frame=frame.lazy(), columns=COLUMNS, raw=pl.col(RAW), rows=frame.height)
