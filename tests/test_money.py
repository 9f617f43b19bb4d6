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
