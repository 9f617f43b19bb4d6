"""The canonical schema every reader targets and the matcher relies on.

Money is integer minor units (`amount`, `fee`) beside an ISO 4217 `currency`; the number of
minor digits comes from `recon.money.minor_digits`. `time` is a naive datetime in the run's
time zone; `has_clock` is False when the source only gave a date (bank booking dates), so the
matcher compares that row by day.
"""

from __future__ import annotations

import polars as pl

from recon.errors import InputError

CANONICAL: dict[str, pl.DataType] = {
    "id": pl.String(),
    "time": pl.Datetime("us"),
    "has_clock": pl.Boolean(),
    "amount": pl.Int64(),
    "currency": pl.String(),
    "account": pl.String(),
    "reference": pl.String(),
    "kind": pl.String(),
    "terminal": pl.String(),
    "merchant": pl.String(),
    "fee": pl.Int64(),
    "source": pl.String(),
    "line": pl.Int64(),
    # Evidence the acquirer prints (terminal batch number, trace/voucher number); batch is also
    # a key of batch settlements. Last, so the state store's records table could add them.
    "batch": pl.String(),
    "trace": pl.String(),
    # Every reference a statement line carries (customer, bank, end-to-end ids ...) and its free
    # text: a POS reference found among them, or as a whole token in the memo, is a reference
    # match. `reference` stays the primary one.
    "references": pl.List(pl.String()),
    "memo": pl.String(),
}

# Columns a canonical input file must have; the rest may be absent and default to null.
REQUIRED_INPUT = ("time", "amount")
# The canonical names a user writes in a CSV header (has_clock, source and line are derived).
INPUT_COLUMNS = (
    "id",
    "time",
    "amount",
    "currency",
    "account",
    "reference",
    "kind",
    "terminal",
    "merchant",
    "fee",
    "batch",
    "trace",
    "references",
    "memo",
)

POS_KINDS = ("sale", "refund", "void", "reversal")
BANK_KINDS = ("credit", "debit")
# Kinds that cancel an earlier sale on the POS side.
CANCEL_KINDS = ("void", "reversal")

SIDES = ("pos", "bank")

# The rejected-row record of the output contract.
REJECTED: dict[str, pl.DataType] = {
    "side": pl.String(),
    "line": pl.Int64(),
    "reason": pl.String(),
    "raw": pl.String(),
}


def empty_rejected() -> pl.DataFrame:
    return pl.DataFrame(schema=REJECTED)


def conform(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Select the canonical columns in order with their dtypes, adding absent ones as null."""
    names = lf.collect_schema().names()
    return lf.select(
        [
            (pl.col(c) if c in names else pl.lit(None)).cast(dtype).alias(c)
            for c, dtype in CANONICAL.items()
        ]
    )


def validate(df: pl.DataFrame, what: str) -> None:
    """Raise if a frame does not hold the canonical columns with the canonical dtypes."""
    for col, dtype in CANONICAL.items():
        if col not in df.columns:
            raise InputError(f"{what}: canonical column '{col}' is missing")
        if df.schema[col] != dtype:
            raise InputError(f"{what}: column '{col}' is {df.schema[col]}, expected {dtype}")
