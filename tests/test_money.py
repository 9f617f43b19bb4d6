"""recon.money: exact parsing into minor units and formatting back."""

from __future__ import annotations

import polars as pl
import pytest

from recon import money


def parse(values, currencies, **opts) -> list[tuple[int | None, str | None]]:
    df = pl.DataFrame({"t": values, "c": currencies}, schema={"t": pl.String, "c": pl.String})
    out = df.select(money.parse_expr(pl.col("t"), pl.col("c"), **opts).alias("p")).unnest("p")
    return list(zip(out["minor"].to_list(), out["error"].to_list(), strict=True))


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("12.34", "CNY", 1234),
        ("-12.34", "CNY", -1234),
        ("12.34-", "CNY", -1234),
        ("(12.34)", "CNY", -1234),
        ("+5", "CNY", 500),
        ("1,234.50", "USD", 123450),
        ("12.3", "EUR", 1230),
        (".5", "EUR", 50),
        ("12.", "EUR", 1200),
        ("12.500", "CNY", 1250),  # trailing zeros are fine
        ("12.00000", "CNY", 1200),
        ("1235", "JPY", 1235),
        ("1235.0", "JPY", 1235),
        ("1.250", "KWD", 1250),
        ("0.005", "KWD", 5),
        ("¥128.00", "CNY", 12800),
        ("￥ 128.00", "CNY", 12800),
        ("128.00元", "CNY", 12800),
        ("0", "CNY", 0),
        ("00012.10", "CNY", 1210),
    ],
)
def test_parse_values(text, currency, minor):
    [(got, error)] = parse([text], [currency])
    assert got == minor
    assert (error is None) == (minor is not None)


def test_decimal_comma_and_dot_thousands():
    got = parse(
        ["1.234,56", "1.234,56-", "(7,50)", "12", "0,5"],
        ["EUR"] * 5,
        decimal_mark=",",
        thousands_mark=".",
    )
    assert [m for m, _ in got] == [123456, -123456, -750, 1200, 50]


def test_too_many_decimals_is_rejected_not_rounded():
    got = parse(["12.345", "1235.5", "1.2345", "12.341"], ["CNY", "JPY", "KWD", None])
    for minor, error in got:
        assert minor is None
        assert "more decimals" in error
    assert "JPY allows (0)" in got[1][1]
    assert "its currency" in got[3][1]


@pytest.mark.parametrize("text", ["12,3x", "abc", "1.2.3", "12 34 x", "1e5"])
def test_not_a_number(text):
    [(minor, error)] = parse([text], ["CNY"])
    assert minor is None
    assert error == f"amount is not a number: '{text}'"


def test_empty_and_null():
    got = parse(["", "   ", None], ["CNY"] * 3)
    assert got == [(None, "amount is empty")] * 3


def test_too_large():
    [(minor, error)] = parse(["123456789012345.00"], ["CNY"])
    assert minor is None
    assert error == "amount is too large"


def test_parse_amount_and_format_roundtrip():
    assert money.parse_amount("12.50", "CNY") == 1250
    assert money.parse_amount("1235", "JPY") == 1235
    with pytest.raises(ValueError):
        money.parse_amount("12.345", "CNY")
    assert money.format_minor(-123450, "CNY") == "-1234.50"
    assert money.format_minor(1235, "JPY") == "1235"
    assert money.format_minor(1250, "KWD") == "1.250"
    df = pl.DataFrame({"m": [123450, -5, None], "c": ["CNY", "CNY", "CNY"]})
    got = df.select(money.format_expr(pl.col("m"), pl.col("c"))).to_series().to_list()
    assert got == ["1234.50", "-0.05", None]


def test_minor_digits():
    assert money.minor_digits("jpy") == 0
    assert money.minor_digits("KWD") == 3
    assert money.minor_digits("CNY") == 2
    assert money.minor_digits(None) == 2


def test_thousands_mark_must_group_by_three():
    df = pl.DataFrame({"t": ["12,50", "1,234.50", "12,3456"], "c": ["CNY"] * 3})
    out = df.select(money.parse_expr(pl.col("t"), pl.col("c")).alias("p")).unnest("p")
    assert out["minor"].to_list() == [None, 123450, None]
    assert "not a number" in out["error"][0]


# --- fast paths: the same answers as the general parser ---------------------------------------

_CURRENCIES = ["CNY", "JPY", "KWD", "CLF", None, "usd"]


def _general(texts: list[str | None], currencies: list[str | None]) -> list[tuple]:
    df = pl.DataFrame({"t": texts, "c": currencies}, schema={"t": pl.String, "c": pl.String})
    out = df.select(money.parse_expr(pl.col("t"), pl.col("c")).alias("p")).unnest("p")
    return list(out.iter_rows())


def test_plain_expr_equals_parse_expr_on_plain_text():
    texts = ["0", "-0", "12", "12.50", "-3.10", "007.05", "99999999999999.99", "-1", None]
    assert all(
        t is None or pl.select(pl.lit(t).str.contains(money.PLAIN_PATTERN)).item() for t in texts
    )
    df = pl.DataFrame({"t": texts}, schema={"t": pl.String})
    fast = list(df.select(money.plain_expr(pl.col("t")).alias("p")).unnest("p").iter_rows())
    assert fast == _general(texts, ["CNY"] * len(texts))


@pytest.mark.parametrize(
    "text",
    ["1,234.50", "12.5", "12.500", " 12.50", "12.50-", "(1.00)", "¥1.00", "1e3", "+1.00", "1."],
)
def test_plain_pattern_leaves_everything_else_to_the_parser(text):
    assert not pl.select(pl.lit(text).str.contains(money.PLAIN_PATTERN)).item()


@pytest.mark.parametrize("scale", [0, 2, 3, 4])
def test_decimal_expr_equals_parse_expr(scale):
    import random
    from decimal import Decimal

    rng = random.Random(scale)
    values = [Decimal(rng.randint(-(10**16), 10**16)).scaleb(-scale) for _ in range(300)]
    values += [Decimal(0), Decimal("123456789012345"), Decimal("-99999999999999.99"), None]
    currencies = [rng.choice(_CURRENCIES) for _ in values]
    series = pl.Series("v", values, dtype=pl.Decimal(38, scale))
    df = pl.DataFrame({"v": series, "c": pl.Series(currencies, dtype=pl.String)})
    typed = df.select(money.decimal_expr(pl.col("v"), scale, pl.col("c")).alias("p")).unnest("p")
    # the values as the column holds them, as text for the general parser
    texts = [None if v is None else format(v, "f") for v in series.to_list()]
    for got, want, text in zip(typed.iter_rows(), _general(texts, currencies), texts, strict=True):
        assert got[0] == want[0], text
        # the same reason; the value is quoted as polars writes the Decimal
        assert (got[1] is None) == (want[1] is None), (text, got, want)
        if want[1] is not None:
            assert got[1].split("'")[0] == want[1].split("'")[0], (text, got, want)


def test_format_expr_matches_format_minor_in_every_currency():
    import random

    rng = random.Random(5)
    minors = [rng.randint(-(10**15), 10**15) for _ in range(2000)]
    minors += [0, 1, -1, 5, -5, 99, -99, 100, -100, 2**62, -(2**62), None]
    currencies = [rng.choice(_CURRENCIES) for _ in minors]
    df = pl.DataFrame({"m": minors, "c": currencies}, schema={"m": pl.Int64, "c": pl.String})
    got = df.select(money.format_expr(pl.col("m"), pl.col("c")))["m"].to_list()
    want = [
        None if m is None else money.format_minor(m, c)
        for m, c in zip(minors, currencies, strict=True)
    ]
    assert got == want


def test_two_digits_decides_the_fast_formatter():
    assert money.two_digits(pl.Series(["CNY", "HKD", None]), pl.Series(["usd"]))
    assert money.two_digits(pl.Series([None], dtype=pl.String))
    assert not money.two_digits(pl.Series(["CNY"]), pl.Series(["CNY", "JPY"]))
    minors = pl.Series([12345, -5, 0, None], dtype=pl.Int64)
    got = minors.to_frame("m").select(money.format_two(pl.col("m")))["m"].to_list()
    assert got == ["123.45", "-0.05", "0.00", None]
