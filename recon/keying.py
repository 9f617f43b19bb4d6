"""Recognise the keying-error patterns the seed names, as polars expressions over integers.

Each check walks the digit positions (at most `_POSITIONS`), not the rows: for every position
one vectorised comparison is added, so a million amounts cost a few dozen column operations.
"""

from __future__ import annotations

from functools import reduce

import polars as pl

_POSITIONS = 16


def _pow10(k: int) -> pl.Expr:
    return pl.lit(10**k, dtype=pl.Int64)


def _digit(x: pl.Expr, k: int) -> pl.Expr:
    return (x // _pow10(k)) % 10


def _any(parts: list[pl.Expr]) -> pl.Expr:
    return reduce(lambda a, b: a | b, parts)


def transposed(a: pl.Expr, b: pl.Expr) -> pl.Expr:
    """b is a with two adjacent digits swapped."""
    parts = []
    for k in range(_POSITIONS - 1):
        lo, hi = _digit(a, k), _digit(a, k + 1)
        swapped = a + (hi - lo) * _pow10(k) + (lo - hi) * _pow10(k + 1)
        parts.append((lo != hi) & (swapped == b))
    return _any(parts)


def _drop_digit(x: pl.Expr, k: int) -> pl.Expr:
    return (x // _pow10(k + 1)) * _pow10(k) + x % _pow10(k)


def dropped(a: pl.Expr, b: pl.Expr) -> pl.Expr:
    """b is a with one digit left out."""
    return _any([(a >= _pow10(k)) & (_drop_digit(a, k) == b) for k in range(_POSITIONS)]) & (a != b)


def one_digit(a: pl.Expr, b: pl.Expr) -> pl.Expr:
    """a and b differ in exactly one digit position."""
    parts = [
        (a // _pow10(k + 1) == b // _pow10(k + 1)) & (a % _pow10(k) == b % _pow10(k))
        for k in range(_POSITIONS)
    ]
    return _any(parts) & (a != b)


def decimal_slip(a: pl.Expr, b: pl.Expr) -> pl.Expr:
    """One is the other times 10, 100 or 1000 (the decimal point keyed in the wrong place)."""
    nonzero = (a != 0) & (b != 0)
    parts = [(a * _pow10(k) == b) | (b * _pow10(k) == a) for k in (1, 2, 3)]
    return nonzero & _any(parts)


def amount_pattern(pos: pl.Expr, bank: pl.Expr) -> pl.Expr:
    """Name the keying pattern that turns the POS amount into the bank amount, or null."""
    a, b = pos.abs(), bank.abs()
    return (
        pl.when(a == b)
        .then(None)
        .when(decimal_slip(a, b))
        .then(pl.lit("decimal slip"))
        .when(transposed(a, b))
        .then(pl.lit("digits transposed"))
        .when(dropped(a, b))
        .then(pl.lit("digit dropped"))
        .when(dropped(b, a))
        .then(pl.lit("digit added"))
        .when(one_digit(a, b))
        .then(pl.lit("one digit mistyped"))
    )


def digits_pattern(a: pl.Expr, b: pl.Expr) -> pl.Expr:
    """The pattern between two fixed-width digit groups held as integers (card tails)."""
    ai = a.cast(pl.Int64)
    bi = b.cast(pl.Int64)
    return (
        pl.when(ai.is_null() | bi.is_null() | (ai == bi))
        .then(None)
        .when(transposed(ai, bi))
        .then(pl.lit("digits transposed"))
        .when(one_digit(ai, bi))
        .then(pl.lit("one digit wrong"))
    )
