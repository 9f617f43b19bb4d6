"""File layouts of generated days (recon.generate): Chinese exports and platform merchant bills.

The generator builds each side as recon should read it (canonical columns, ids included); this
module gives the ids each layout carries and writes a side in its layout, vectorised with polars
string expressions (no loop over rows):

* `canonical`: `pos.<fmt>` / `bank.<fmt>`, canonical column names (plus `references` and `memo`
  for `foreignrefs`, `references` `|`-joined).
* `zh`: CSV with Chinese headers, unsigned amounts and Chinese kinds, as a Chinese POS or acquirer
  export: POS 交易时间,商户号,终端号,卡号,交易类型(消费/退货/撤销/冲正),交易金额,币种,参考号,
  凭证号 in GB18030; bank 流水号,交易时间,商户号,终端号,卡号,交易类型(入账/出账),交易金额,手续费,
  币种,参考号 in UTF-8 with a BOM. The POS id is the 凭证号 (6 digits), the bank id the 流水号
  (yymmdd + 6 digits).
* `wechat`: the WeChat Pay trade bill (交易账单 ALL, 27 columns, backtick-prefixed values, summary
  footer), UTF-8, CRLF, `wechat_tradebill_ALL_{yyyymmdd}.csv`. The POS reference is the
  商户订单号; a refund is a REFUND row of the original order (应结订单金额 0.00, 退款金额 > 0,
  negative 手续费). The file has no id column, so recon names a row `{file name}:{line}`.
* `alipay`: the Alipay business detail (业务明细, 25 columns, `#` preamble and footer, TAB after
  id-like cells), GB18030, CRLF, `{account}_{yyyymmdd}_业务明细.csv`. The id is the 支付宝交易号,
  the POS reference the 商户订单号; a refund is a 退款 row with the order's 交易号 and 订单号,
  negative amounts, 创建时间 the order's time.
* `unionpay_zm`: the UnionPay ZM detail file (607-byte fixed-width records, no header), CRLF,
  `INN{yymmdd}88ZM_{merchant}`. The id is the 查询流水号; the POS RRN (检索参考号) is in the first
  12 bytes of the reserved tail 保留使用 (the spec leaves its position open); 商户订单号 holds the
  merchant's own order number, which the POS export does not carry.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from recon.exprs import formatted
from recon.money import format_minor, parse_expr

if TYPE_CHECKING:
    from recon.generate import GeneratedDay

_DAY = 86400
ALIPAY_ACCOUNT = "20880000000000012345"
WECHAT_APPID = "wx8a8b8c8d8e8f8a8b"
ZM_INSTITUTION = "48020000"
_POS_ZH = {"sale": "消费", "refund": "退货", "void": "撤销", "reversal": "冲正"}
_BANK_ZH = {"credit": "入账", "debit": "出账"}
_TIME = "%Y-%m-%d %H:%M:%S"
_ROW = pl.int_range(1, pl.len() + 1, dtype=pl.Int64)  # a row's number in the written file

WECHAT_COLUMNS = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,"
    "付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,"
    "退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"
)
WECHAT_SUMMARY = (
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
)
ALIPAY_COLUMNS = (
    "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,"
    "订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,"
    "券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,"
    "分润（元）,备注"
)
# UnionPay ZM record: (field, width); fields are separated by one blank (607 bytes in all).
ZM_WIDTHS = (3, 11, 11, 6, 10, 19, 12, 4, 2, 21, 2, 32, 2, 6, 10, 13, 13, 4, 15, 2, 2, 6, 2, 4)
ZM_WIDTHS += (32, 1, 21, 15, 1, 15, 32, 13, 13, 8, 32, 13, 13, 12, 2, 1, 32, 98)


def bank_file_name(layout: str, day: date, merchant: str = "") -> str:
    """The name the platform gives its bill (the canonical layouts: `bank.<fmt>`)."""
    if layout == "wechat":
        return f"wechat_tradebill_ALL_{day:%Y%m%d}.csv"
    if layout == "alipay":
        return f"{ALIPAY_ACCOUNT}_{day:%Y%m%d}_业务明细.csv"
    if layout == "unionpay_zm":
        return f"INN{day:%y%m%d}88ZM_{merchant}"
    return "bank.csv"


def pos_ids(layout: str) -> pl.Expr:
    """The POS id as the layout prints it (`zh`: the 凭证号)."""
    if layout == "zh":
        return pl.col("seq").cast(pl.String).str.zfill(6)
    return pl.col("id")


def bank_ids(layout: str, day: date) -> pl.Expr:
    """The bank id as recon reads it from the layout."""
    seq = pl.col("seq").cast(pl.String)
    if layout == "zh":  # 流水号
        return pl.concat_str(pl.lit(f"{day:%y%m%d}"), seq.str.zfill(6))
    if layout == "wechat":  # no id column: recon names the row by file and line
        return formatted(f"{bank_file_name(layout, day)}:{{}}", pl.col("seq") + 1)
    if layout == "alipay":  # 支付宝交易号: the order's date and number
        ref = pl.col("reference")
        return pl.concat_str(ref.str.slice(2, 8), pl.lit("220014000000"), ref.str.slice(10, 8))
    if layout == "unionpay_zm":  # 查询流水号: 5 + yymmdd + hhmmss + 8 digits
        return pl.concat_str(
            pl.lit("5"), pl.col("time").dt.strftime("%y%m%d%H%M%S"), seq.str.zfill(8)
        )
    return pl.concat_str(pl.lit(f"{day:%y%m%d}BK"), seq.str.zfill(7))  # foreignrefs


def bank_extra(
    layout: str, bank: pl.DataFrame, orig_day: np.ndarray, day: date, rng: np.random.Generator
) -> pl.DataFrame:
    """Per bank row, what only the platform layout prints: Alipay's 创建时间; UnionPay's trace
    number, order number and, for refunds, the original transaction's fields."""
    n = bank.height
    back = pl.Series(orig_day).gather(bank["case"])  # days back to the refunded order (<0)
    if layout == "alipay":
        before = rng.integers(1, 4, n)  # the order was created a few seconds before it was paid
        hours = rng.integers(0, 8 * 3600, n)
        created = np.where(back.to_numpy() < 0, back.to_numpy() * _DAY - hours, -before)
        return pl.DataFrame(
            {"created": bank["time"] + pl.Series(created * 1_000_000).cast(pl.Duration("us"))}
        )
    orig_t = rng.integers(8 * 3600, 22 * 3600, n)
    start = np.datetime64(day, "us")
    orig_time = pl.Series(start + (back.to_numpy() * _DAY + orig_t).astype("timedelta64[s]")).cast(
        pl.Datetime("us")
    )
    seq = bank["seq"].cast(pl.String).str.zfill(8)
    is_debit = bank["kind"] == "debit"
    return pl.DataFrame(
        {
            "trace": ((bank["seq"] * 7919 + 100_000) % 1_000_000).cast(pl.String).str.zfill(6),
            "order_no": pl.select(
                pl.concat_str(
                    pl.when(is_debit).then(pl.lit("R")).otherwise(pl.lit("T")),
                    pl.lit(f"{day:%Y%m%d}"),
                    seq,
                )
            ).to_series(),
            "orig_trace": pl.Series(rng.integers(0, 1_000_000, n)).cast(pl.String).str.zfill(6),
            "orig_stamp": orig_time.dt.strftime("%m%d%H%M%S"),
            "orig_qid": pl.select(
                pl.concat_str(
                    pl.lit("5"),
                    orig_time.dt.strftime("%y%m%d%H%M%S"),
                    pl.Series(rng.integers(0, 10**8, n)).cast(pl.String).str.zfill(8),
                )
            ).to_series(),
            "orig_order": pl.select(
                pl.concat_str(pl.lit("T"), orig_time.dt.strftime("%Y%m%d"), seq)
            ).to_series(),
        }
    )


def write_side(day: GeneratedDay, side: str, layout: str, out_dir: Path, fmt: str) -> Path:
    """Write one side of the day in `layout` into `out_dir`; return its path."""
    df = day.pos if side == "pos" else day.bank
    if layout == "canonical":
        path = out_dir / f"{side}.{fmt}"
        if fmt == "csv":
            df.write_csv(path, datetime_format="%Y-%m-%dT%H:%M:%S")
        else:
            df.write_parquet(path)
        return path
    if layout == "zh":
        path = out_dir / f"{side}.csv"
        text = _zh(df, side).write_csv(datetime_format=_TIME)
        path.write_bytes(
            text.encode("gb18030") if side == "pos" else "\ufeff".encode() + text.encode()
        )
        return path
    path = out_dir / bank_file_name(layout, day.day, df["merchant"][0] if df.height else "")
    if layout == "wechat":
        lines = _wechat(df)
        path.write_bytes("\r\n".join(lines).encode() + b"\r\n")
    elif layout == "alipay":
        lines = _alipay(df, day.bank_extra, day.day)
        path.write_bytes("\r\n".join(lines).encode("gb18030") + b"\r\n")
    elif layout == "unionpay_zm":
        lines = _zm(df, day.bank_extra)
        path.write_bytes("\r\n".join(lines).encode("gb18030") + b"\r\n")
    else:
        raise ValueError(f"unknown layout {layout!r}")
    return path


# ---- layouts -------------------------------------------------------------------------------


def _unsigned(col: str) -> pl.Expr:
    return pl.col(col).str.strip_chars_start("-")


def _minor(col: str) -> pl.Expr:
    """A written amount column in integer minor units."""
    return parse_expr(pl.col(col), pl.col("currency")).struct.field("minor")


def _yuan(minor: int) -> str:
    return format_minor(minor, "CNY")


def _zh(df: pl.DataFrame, side: str) -> pl.DataFrame:
    columns = {
        "交易时间": pl.col("time"),
        "商户号": pl.col("merchant"),
        "终端号": pl.col("terminal"),
        "卡号": pl.col("account"),
        "交易类型": pl.col("kind").replace_strict(_POS_ZH if side == "pos" else _BANK_ZH),
        "交易金额": _unsigned("amount"),
        "手续费": pl.col("fee").fill_null("0.00"),  # bank only
        "币种": pl.col("currency"),
        "参考号": pl.col("reference"),
    }
    if side == "pos":
        del columns["手续费"]
        return df.select(**columns, 凭证号=pl.col("id"))
    return df.select(流水号=pl.col("id"), **columns)


def _wechat(df: pl.DataFrame) -> list[str]:
    refund = pl.col("kind") == "debit"
    amount = _unsigned("amount")
    zero = pl.lit("0.00")
    seq = _ROW.cast(pl.String)
    order = pl.col("reference")
    values = [
        pl.col("time").dt.strftime(_TIME),
        pl.lit(WECHAT_APPID),
        pl.col("merchant"),
        pl.lit("0"),
        pl.col("terminal"),
        pl.concat_str(pl.lit("4200001"), order.str.slice(2, 16), pl.lit("77777")),
        order,
        pl.concat_str(pl.lit("oUpF8u"), order.str.slice(6, 12), pl.lit("MuAJO_M2pxb1Q9zNj")),
        pl.lit("MICROPAY"),
        pl.when(refund).then(pl.lit("REFUND")).otherwise(pl.lit("SUCCESS")),
        pl.lit("OTHERS"),
        pl.col("currency"),
        pl.when(refund).then(zero).otherwise(amount),
        zero,
        pl.when(refund)
        .then(pl.concat_str(pl.lit("50300"), seq.str.zfill(24)))
        .otherwise(pl.lit("0")),
        pl.when(refund)
        .then(pl.concat_str(pl.lit("RF"), order.str.slice(2, 8), seq.str.zfill(8)))
        .otherwise(pl.lit("0")),
        pl.when(refund).then(amount).otherwise(zero),
        zero,
        pl.when(refund).then(pl.lit("ORIGINAL")).otherwise(pl.lit("")),
        pl.when(refund).then(pl.lit("SUCCESS")).otherwise(pl.lit("")),
        pl.lit("门店消费"),
        pl.lit(""),
        pl.concat_str(pl.col("fee"), pl.lit("000")),
        pl.lit("0.60%"),
        pl.when(refund).then(zero).otherwise(amount),
        pl.when(refund).then(amount).otherwise(zero),
        pl.lit(""),
    ]
    rows = df.select(
        pl.concat_str(
            [pl.lit("`")]
            + [
                pl.concat_str(v, pl.lit(",`")) if i < len(values) - 1 else v
                for i, v in enumerate(values)
            ]
        )
    )
    minor = df.select(a=_minor("amount"), f=_minor("fee"), r=pl.col("kind") == "debit")
    settled = int(minor.filter(~pl.col("r"))["a"].sum())
    refunded = -int(minor.filter(pl.col("r"))["a"].sum())
    fees = int(minor["f"].sum())
    summary = [df.height, _yuan(settled), _yuan(refunded), "0.00", _yuan(fees) + "000"]
    summary += [_yuan(settled), _yuan(refunded)]
    return [
        WECHAT_COLUMNS,
        *rows.to_series().to_list(),
        WECHAT_SUMMARY,
        ",".join(f"`{v}" for v in summary),
    ]


def _alipay(df: pl.DataFrame, extra: pl.DataFrame, day: date) -> list[str]:
    refund = pl.col("kind") == "debit"
    tab = pl.lit("\t")
    zero = pl.lit("0.00")
    frame = df.with_columns(created=extra["created"])
    values = [
        pl.concat_str(pl.col("id"), tab),
        pl.concat_str(pl.col("reference"), tab),
        pl.concat_str(pl.when(refund).then(pl.lit("退款")).otherwise(pl.lit("交易")), tab),
        pl.lit("门店消费"),
        pl.col("created").dt.strftime(_TIME),
        pl.col("time").dt.strftime(_TIME),
        pl.concat_str(pl.col("merchant"), tab),
        pl.lit("示例门店\t"),
        pl.concat_str(pl.lit("cashier"), pl.col("terminal").str.slice(1), tab),
        pl.concat_str(pl.col("terminal"), tab),
        pl.lit("*明(138****0000)\t"),
        pl.col("amount"),
        pl.col("amount"),
        zero,
        zero,
        zero,
        zero,
        zero,
        pl.lit(""),
        pl.lit("0.00\t"),
        zero,
        pl.when(refund)
        .then(pl.concat_str(pl.lit("RF"), _ROW.cast(pl.String).str.zfill(12), tab))
        .otherwise(tab),
        # the service fee: charged (negative) on a payment, given back on a refund
        pl.when(pl.col("fee").str.starts_with("-"))
        .then(_unsigned("fee"))
        .otherwise(pl.concat_str(pl.lit("-"), pl.col("fee"))),
        zero,
        pl.lit(""),
    ]
    rows = frame.select(pl.concat_str(values, separator=",")).to_series().to_list()
    minor = df.select(a=_minor("amount"), r=pl.col("kind") == "debit")
    sales, refunds = minor.filter(~pl.col("r")), minor.filter(pl.col("r"))
    next_day = date.fromordinal(day.toordinal() + 1)
    return [
        "#支付宝业务明细查询",
        f"#账号：[{ALIPAY_ACCOUNT}]",
        f"#起始日期：[{day:%Y年%m月%d日} 00:00:00]   终止日期：[{next_day:%Y年%m月%d日} 00:00:00]",
        "#" + "-" * 41 + "业务明细列表" + "-" * 40,
        ALIPAY_COLUMNS,
        *rows,
        "#" + "-" * 41 + "业务明细列表结束" + "-" * 36,
        f"#交易合计：{sales.height}笔，商家实收共{_yuan(int(sales['a'].sum()))}元，商家优惠共0.00元",
        f"#退款合计：{refunds.height}笔，商家实收退款共{_yuan(int(refunds['a'].sum()))}元，"
        "商家优惠退款共0.00元",
        f"#导出时间：[{next_day:%Y年%m月%d日} 05:12:33]",
    ]


def _zm(df: pl.DataFrame, extra: pl.DataFrame) -> list[str]:
    debit = pl.col("kind") == "debit"
    fen = _minor("amount").abs()
    fee = _minor("fee").abs()

    def digits(expr: pl.Expr, width: int) -> pl.Expr:
        return expr.cast(pl.String).str.zfill(width)

    def marked(mark: pl.Expr, expr: pl.Expr) -> pl.Expr:
        return pl.concat_str(mark, digits(expr, 12))

    c_or_d = pl.when(debit).then(pl.lit("D")).otherwise(pl.lit("C"))
    d_or_c = pl.when(debit).then(pl.lit("C")).otherwise(pl.lit("D"))
    frame = pl.concat([df, extra], how="horizontal")
    blank = pl.lit("")
    fields = [
        pl.when(debit).then(pl.lit("S30")).otherwise(pl.lit("S22")),
        pl.lit(ZM_INSTITUTION),
        pl.lit(ZM_INSTITUTION),
        pl.col("trace"),
        pl.col("time").dt.strftime("%m%d%H%M%S"),
        pl.col("account"),
        digits(fen, 12),
        pl.lit("5411"),
        pl.lit("08"),
        pl.col("id"),
        blank,
        pl.col("order_no"),
        pl.lit("01"),
        pl.when(debit).then(pl.col("orig_trace")).otherwise(pl.lit("000000")),
        pl.when(debit).then(pl.col("orig_stamp")).otherwise(pl.lit("0000000000")),
        marked(d_or_c, fee),  # 商户手续费: charged (D) on a payment, given back (C) on a refund
        marked(c_or_d, fen),  # 结算金额
        blank,
        blank,
        pl.when(debit).then(pl.lit("04")).otherwise(pl.lit("01")),
        pl.when(debit).then(pl.lit("00")).otherwise(pl.lit("01")),
        pl.lit("000201"),
        pl.lit("01"),
        blank,
        blank,
        blank,
        pl.when(debit).then(pl.col("orig_qid")).otherwise(blank),
        pl.col("merchant"),
        blank,
        blank,
        blank,
        blank,
        marked(c_or_d, fen - fee),  # 清算净额
        pl.col("terminal"),
        blank,
        pl.lit("C000000000000"),
        pl.lit("C000000000000"),
        pl.lit("C00000000000"),
        pl.lit("00"),
        blank,
        pl.when(debit).then(pl.col("orig_order")).otherwise(blank),
        pl.col("reference"),  # 保留使用: the retrieval reference number (检索参考号) first
    ]
    padded = [
        e.fill_null("").str.pad_end(w, " ").str.slice(0, w)
        for e, w in zip(fields, ZM_WIDTHS, strict=True)
    ]
    return frame.select(pl.concat_str(padded, separator=" ")).to_series().to_list()
