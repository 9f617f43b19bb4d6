"""Batch deposits in the reports: which statuses need someone to act, the order every report
lists deposits in, and the words for them. Statuses come from recon.settle."""

from __future__ import annotations

import polars as pl

from recon.i18n import TEXT, t

# Deposit statuses that need someone to act, in the order the reports list them; then the rest.
DEPOSIT_PROBLEMS = ("fee_mismatch", "short", "long", "missing")
DEPOSIT_OK = ("matched", "split", "moved", "extra")


def deposits_in_order(df: pl.DataFrame) -> pl.DataFrame:
    """Deposits with problems first (in DEPOSIT_PROBLEMS order), then the rest; by group_id."""
    rank = pl.col("status").replace_strict(
        {s: i for i, s in enumerate(DEPOSIT_PROBLEMS)},
        default=len(DEPOSIT_PROBLEMS),
        return_dtype=pl.Int32,
    )
    return df.sort(rank, pl.col("group_id"))


def deposits_line(df: pl.DataFrame, lang: str) -> str:
    """The one-sentence summary of the deposits (not escaped)."""
    status = df.get_column("status")
    return t(
        "dep.summary",
        lang,
        n=df.height,
        sales=int(df.get_column("n_sales").sum() or 0),
        matched=int(status.is_in(DEPOSIT_OK).sum()),
        flagged=int(status.is_in(DEPOSIT_PROBLEMS).sum()),
    )


def deposit_status(status: str | None, lang: str) -> str:
    """A deposit's status in words (the raw value when the catalog has none)."""
    key = f"dep.s.{status}"
    return t(key, lang) if key in TEXT else str(status or "")
