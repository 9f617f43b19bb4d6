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
        [
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ],
        0,
    ),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
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
        currency.cast(pl.String)
        .str.to_uppercase()
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
    """Vectorised `format_minor`: '1234.50', JPY '1235', KWD '1.250'; null stays null.

    Currencies of 2 minor digits (nearly every row) are formatted by polars' own Decimal text:
    minor units as Decimal(38, 2) divided by 100 is exact (the quotient has at most two
    decimals). The other rows take the general formatter, which then sees only them."""
    digits = digits_expr(currency)
    other = _format_digits(pl.when(digits != 2).then(minor), currency)
    return pl.when(digits == 2).then(format_two(minor)).otherwise(other)


def format_two(minor: pl.Expr) -> pl.Expr:
    """format_expr for amounts known to be in currencies of 2 minor digits (two_digits())."""
    return (minor.cast(pl.Decimal(38, 2)) / 100).cast(pl.String)


def two_digits(*currencies: pl.Series) -> bool:
    """Whether every value of these currency columns has 2 minor digits (nulls count as 2, as
    in digits_expr): then format_two formats their amounts."""
    for cur in currencies:
        values = cur.drop_nulls().unique()
        if (
            values.len()
            and not (values.to_frame("c").select(digits_expr(pl.col("c")) == 2)).to_series().all()
        ):
            return False
    return True


def _format_digits(minor: pl.Expr, currency: pl.Expr) -> pl.Expr:
    f = pl.field
    return (
        pl.struct(m=minor.cast(pl.Int64), c=currency)
        # Each stage reads the previous one's fields, so no sub-expression is evaluated twice.
        .struct.with_fields(d=digits_expr(f("c")))
        .struct.with_fields(scale=pl.lit(10, dtype=pl.Int64).pow(f("d")), a=f("m").abs())
        .struct.with_fields(
            whole=(f("a") // f("scale")).cast(pl.String),
            frac=(f("a") % f("scale") + f("scale")).cast(pl.String).str.slice(1),
        )
        .struct.with_fields(
            out=pl.when(f("m").is_null())
            .then(None)
            .otherwise(
                pl.concat_str(
                    pl.when(f("m") < 0).then(pl.lit("-")).otherwise(pl.lit("")),
                    f("whole"),
                    pl.when(f("d") > 0).then(pl.lit(".")).otherwise(pl.lit("")),
                    pl.when(f("d") > 0).then(f("frac")).otherwise(pl.lit("")),
                )
            )
        )
        .struct.field("out")
    )


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
    f = pl.field
    noise = "|".join(re.escape(x) for x in sorted(symbols, key=len, reverse=True))
    noise = rf"{noise}|\s" if noise else r"\s"
    # A thousands mark must group digits by three ("12,50" is not 1250), so it is checked
    # before it is removed.
    tm = re.escape(thousands_mark) if thousands_mark else None
    dm = re.escape(decimal_mark)
    grouped = rf"^\d{{1,3}}({tm}\d{{3}})+({dm}\d*)?$" if tm else None
    i64 = pl.Int64
    staged = (
        pl.struct(text=text.cast(pl.String), cur=currency.cast(pl.String))
        # Each stage reads the previous one's fields, so no sub-expression is evaluated twice.
        .struct.with_fields(s=f("text").str.replace_all(noise, ""), d=digits_expr(f("cur")))
        .struct.with_fields(paren=f("s").str.starts_with("(") & f("s").str.ends_with(")"))
        .struct.with_fields(
            s=pl.when(f("paren")).then(f("s").str.strip_chars("()")).otherwise(f("s"))
        )
        .struct.with_fields(
            neg=f("paren") | f("s").str.starts_with("-") | f("s").str.ends_with("-"),
            s=f("s").str.strip_chars("+-"),
        )
        .struct.with_fields(
            grouping_ok=(~f("s").str.contains(tm) | f("s").str.contains(grouped))
            if tm
            else pl.lit(True),
            s=f("s").str.replace_all(thousands_mark, "", literal=True) if tm else f("s"),
        )
        .struct.with_fields(
            s=f("s").str.replace_all(decimal_mark, ".", literal=True)
            if decimal_mark != "."
            else f("s")
        )
        .struct.with_fields(
            ok=f("s").str.contains(r"^(\d+(\.\d*)?|\.\d+)$") & f("grouping_ok"),
            int_part=f("s").str.extract(r"^(\d*)", 1).str.strip_chars_start("0"),
            frac=f("s").str.extract(r"\.(\d*)$", 1).fill_null("").str.strip_chars_end("0"),
        )
        .struct.with_fields(nfrac=f("frac").str.len_chars(), nint=f("int_part").str.len_chars())
        .struct.with_fields(
            too_precise=f("nfrac") > f("d"),
            too_large=f("nint") > MAX_INT_DIGITS,
        )
        .struct.with_fields(
            good=f("ok") & ~f("too_precise") & ~f("too_large"),
        )
        .struct.with_fields(
            magnitude=pl.when(f("good")).then(
                pl.when(f("nint") == 0)
                .then(pl.lit(0, i64))
                .otherwise(f("int_part").cast(i64, strict=False))
                * pl.lit(10, dtype=i64).pow(f("d"))
                + pl.when(f("nfrac") == 0)
                .then(pl.lit(0, i64))
                .otherwise(f("frac").cast(i64, strict=False))
                * pl.lit(10, dtype=i64).pow((f("d") - f("nfrac")).clip(lower_bound=0))
            )
        )
    )
    return staged.struct.with_fields(
        out=pl.struct(
            minor=pl.when(f("neg")).then(-f("magnitude")).otherwise(f("magnitude")).cast(i64),
            error=pl.when(f("text").is_null() | (f("s") == ""))
            .then(pl.lit("amount is empty"))
            .when(~f("ok"))
            .then(pl.concat_str(pl.lit("amount is not a number: '"), f("text"), pl.lit("'")))
            .when(f("too_large"))
            .then(pl.lit("amount is too large"))
            .when(f("too_precise"))
            .then(_too_precise(f("text"))),
        )
    ).struct.field("out")


def _too_precise(shown: pl.Expr) -> pl.Expr:
    """The reason for an amount with more decimals than its currency allows (inside the
    parsers' structs: fields `cur` and `d`)."""
    return pl.concat_str(
        pl.lit("amount '"),
        shown,
        pl.lit("' has more decimals than "),
        pl.field("cur").fill_null("its currency"),
        pl.lit(" allows ("),
        pl.field("d").cast(pl.String),
        pl.lit(")"),
    )


# Amount text that needs none of parse_expr's work when its currency has 2 minor digits: an
# optional minus, at most MAX_INT_DIGITS digits, and no decimals or exactly two.
PLAIN_PATTERN = rf"^-?\d{{1,{MAX_INT_DIGITS}}}(\.\d\d)?$"


def plain_expr(text: pl.Expr) -> pl.Expr:
    """parse_expr for a column known to hold only PLAIN_PATTERN text (or nulls) in currencies of
    2 minor digits: one replace and one cast instead of a dozen string passes."""
    minor = (
        pl.when(text.str.contains(".", literal=True))
        .then(text.str.replace(".", "", literal=True).cast(pl.Int64))
        .otherwise(text.cast(pl.Int64) * 100)
    )
    error = pl.when(text.is_null()).then(pl.lit("amount is empty"))
    return pl.struct(minor=minor, error=error)


def decimal_two_expr(value: pl.Expr, scale: int) -> pl.Expr:
    """decimal_expr for a Decimal column of at most 2 decimals in currencies of 2 minor digits
    (known from a look at the file): no value can have too many decimals, so only the size is
    checked and no currency is read per row."""
    u = (value * 10**scale).cast(pl.Int64, strict=False)
    too_large = value.is_not_null() & (u.is_null() | (u.abs() // 10**scale >= 10**MAX_INT_DIGITS))
    error = (
        pl.when(value.is_null())
        .then(pl.lit("amount is empty"))
        .when(too_large)
        .then(pl.lit("amount is too large"))
    )
    return pl.struct(minor=pl.when(~too_large).then(u * 10 ** (2 - scale)), error=error)


def decimal_expr(value: pl.Expr, scale: int, currency: pl.Expr) -> pl.Expr:
    """parse_expr for a Decimal column of the given scale: exact integer arithmetic on the
    unscaled value, no text. Same errors as parse_expr (too many decimals, too large, empty)."""
    f = pl.field
    i64 = pl.Int64
    staged = (
        pl.struct(v=value, cur=currency.cast(pl.String))
        .struct.with_fields(
            # value * 10^scale is a whole number: the cast to an integer is exact (null when it
            # does not fit 64 bits)
            u=(f("v") * 10**scale).cast(i64, strict=False),
            d=digits_expr(f("cur")),
        )
        .struct.with_fields(
            up=pl.lit(10, i64).pow((f("d") - scale).clip(lower_bound=0)),
            down=pl.lit(10, i64).pow((scale - f("d")).clip(lower_bound=0)),
        )
        .struct.with_fields(
            too_large=f("v").is_not_null()
            & (f("u").is_null() | (f("u").abs() // 10**scale >= 10**MAX_INT_DIGITS)),
        )
        .struct.with_fields(
            too_precise=~f("too_large") & (f("u") % f("down") != 0),
        )
    )
    bad = f("too_large") | f("too_precise").fill_null(False)
    # the text of a value is built only for the rows that need it in a message
    shown = pl.when(f("too_precise")).then(f("v")).cast(pl.String)
    return staged.struct.with_fields(
        out=pl.struct(
            minor=pl.when(~bad).then(f("u") * f("up") // f("down")),
            error=pl.when(f("v").is_null())
            .then(pl.lit("amount is empty"))
            .when(f("too_large"))
            .then(pl.lit("amount is too large"))
            .when(f("too_precise"))
            .then(_too_precise(shown)),
        )
    ).struct.field("out")
