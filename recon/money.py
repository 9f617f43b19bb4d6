"""Money: exact parsing into integer minor units and formatting back, as polars expressions.

No float is involved anywhere: text is split into integer and fractional digits, each part is
cast to an integer, and the currency's minor digits say how to combine them. Extra decimals that
are zeros are accepted; non-zero decimals beyond the currency's precision are an error, never
rounded.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

import polars as pl

# ISO 4217 currencies whose minor unit is not 2 digits. Everything else has 2.
_MINOR_DIGITS: dict[str, int] = {
    **dict.fromkeys(
        "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split(), 0
    ),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
    "CLF": 4,
    "UYW": 4,
}
DEFAULT_DIGITS = 2
# More integer digits than this cannot be held in an Int64 of minor units with room to sum.
MAX_INT_DIGITS = 14

CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
# Symbols commonly printed next to amounts; stripped before parsing.
DEFAULT_SYMBOLS = ("¥", "￥", "元", "$", "€", "£", "₩", "HK$", "US$", "RMB", "CNY")


def minor_digits(currency: str | None) -> int:
    return _MINOR_DIGITS.get((currency or "").upper(), DEFAULT_DIGITS)


def digits_expr(currency: pl.Expr) -> pl.Expr:
    """Minor digits of each row's currency (2 for unknown or null)."""
    return (
        currency.str.to_uppercase()
        .replace_strict(_MINOR_DIGITS, default=DEFAULT_DIGITS, return_dtype=pl.Int64)
        .fill_null(DEFAULT_DIGITS)
    )


def parse_amount(text: str, currency: str | None) -> int:
    """Parse one plain decimal string into minor units (for config values and tests)."""
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, AttributeError) as exc:
        raise ValueError(f"not an amount: {text!r}") from exc
    scaled = value.scaleb(minor_digits(currency))
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{text!r} has more decimals than {currency} allows")
    return int(scaled)


def format_minor(minor: int | None, currency: str | None) -> str:
    """Format minor units as a plain decimal string with the currency's digits."""
    if minor is None:
        return ""
    digits = minor_digits(currency)
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 10**digits)
    return f"{sign}{whole}.{frac:0{digits}d}" if digits else f"{sign}{whole}"


def format_expr(minor: pl.Expr, currency: pl.Expr) -> pl.Expr:
    """Vectorised `format_minor`: '1234.50', JPY '1235', KWD '1.250'; null stays null."""
    digits = digits_expr(currency)
    scale = pl.lit(10, dtype=pl.Int64).pow(digits)
    absval = minor.abs()
    whole = (absval // scale).cast(pl.String)
    frac = (absval % scale + scale).cast(pl.String).str.slice(1)  # zero-padded to `digits`
    sign = pl.when(minor < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    body = pl.when(digits > 0).then(pl.concat_str(whole, pl.lit("."), frac)).otherwise(whole)
    return pl.when(minor.is_null()).then(None).otherwise(pl.concat_str(sign, body))


def parse_expr(
    text: pl.Expr,
    currency: pl.Expr,
    *,
    decimal_mark: str = ".",
    thousands_mark: str | None = ",",
    symbols: tuple[str, ...] = DEFAULT_SYMBOLS,
) -> pl.Expr:
    """Parse amount text into a struct {minor: Int64, error: String}.

    Accepts an optional sign in front or behind (`-12.00`, `12.00-`), accounting parentheses
    (`(12.00)`), currency symbols, and the given thousands and decimal marks. `error` is null
    when the value parsed; otherwise it says why, and `minor` is null.
    """
    s = text.cast(pl.String).str.strip_chars()
    for sym in sorted(symbols, key=len, reverse=True):
        s = s.str.replace_all(sym, "", literal=True)
    s = s.str.replace_all(r"\s", "")
    paren = s.str.starts_with("(") & s.str.ends_with(")")
    s = pl.when(paren).then(s.str.slice(1, s.str.len_chars() - 2)).otherwise(s)
    neg = paren | s.str.starts_with("-") | s.str.ends_with("-")
    s = s.str.strip_chars("+-")
    if thousands_mark:
        s = s.str.replace_all(thousands_mark, "", literal=True)
    if decimal_mark != ".":
        s = s.str.replace_all(decimal_mark, ".", literal=True)
    well_formed = s.str.contains(r"^(\d+(\.\d*)?|\.\d+)$")
    int_part = s.str.extract(r"^(\d*)", 1).str.strip_chars_start("0")
    frac_part = s.str.extract(r"\.(\d*)$", 1).fill_null("").str.strip_chars_end("0")
    digits = digits_expr(currency)
    too_precise = frac_part.str.len_chars() > digits
    too_large = int_part.str.len_chars() > MAX_INT_DIGITS
    scale = pl.lit(10, dtype=pl.Int64).pow(digits)
    frac_val = pl.when(frac_part == "").then(pl.lit(0, dtype=pl.Int64)).otherwise(
        frac_part.cast(pl.Int64, strict=False)
    ) * pl.lit(10, dtype=pl.Int64).pow(digits - frac_part.str.len_chars())
    int_val = pl.when(int_part == "").then(0).otherwise(int_part.cast(pl.Int64, strict=False))
    magnitude = int_val * scale + frac_val
    ok = well_formed & ~too_precise & ~too_large
    minor = pl.when(ok).then(pl.when(neg).then(-magnitude).otherwise(magnitude))
    error = (
        pl.when(text.is_null() | (s == ""))
        .then(pl.lit("amount is empty"))
        .when(~well_formed)
        .then(pl.concat_str(pl.lit("amount is not a number: '"), text.cast(pl.String), pl.lit("'")))
        .when(too_large)
        .then(pl.lit("amount is too large"))
        .when(too_precise)
        .then(
            pl.concat_str(
                pl.lit("amount '"),
                text.cast(pl.String),
                pl.lit("' has more decimals than "),
                currency.fill_null("its currency"),
                pl.lit(" allows ("),
                digits.cast(pl.String),
                pl.lit(")"),
            )
        )
    )
    return pl.struct(minor.cast(pl.Int64).alias("minor"), error.alias("error"))
