"""Write the output contract's files from a RunResult.

Each file is written to a temporary name in the output folder and renamed into place, so a
reader (or a cron job that is killed) never sees half a file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import polars as pl

from recon.report.html import render_html
from recon.report.summary_md import render_summary_md
from recon.report.xlsx import write_xlsx
from recon.result import RunResult

# The contract's columns, in order; evidence columns follow them.
DISCREPANCY_COLUMNS = (
    "item_id",
    "type",
    "severity",
    "pos_ids",
    "bank_ids",
    "pos_amount",
    "bank_amount",
    "difference",
    "currency",
    "reference",
    "detail",
    "suggested_action",
    "cause",
    "amount_at_risk",
    "bank_currency",
    "pos_time",
    "bank_time",
    "terminal",
    "merchant",
    "pos_account",
    "bank_account",
    "batch",
    "trace",
)

FILES = (
    "discrepancies.csv",
    "discrepancies.parquet",
    "matches.parquet",
    "rejected.csv",
    "summary.json",
    "report.html",
    "report.xlsx",
    "summary.md",
)


# deposits.csv (written beside the contract's files when [settlement] is on): one row per batch
# deposit, the columns of RunResult.deposits in this order.
DEPOSIT_SCHEMA: dict[str, pl.DataType] = {
    "group_id": pl.String(),
    "status": pl.String(),
    "currency": pl.String(),
    "merchant": pl.String(),
    "batch": pl.String(),
    "business_day": pl.Date(),
    "expected": pl.Date(),
    "bank_time": pl.Datetime("us"),
    "bank_ids": pl.String(),
    "n_sales": pl.UInt32(),
    "gross": pl.String(),
    "fee_expected": pl.String(),
    "fee_charged": pl.String(),
    "deposit": pl.String(),
    "pos_ids": pl.String(),
}


def deposit_table(result: RunResult) -> pl.DataFrame:
    """The deposits as deposits.csv holds them (a header only when there are none)."""
    deposits = result.deposits
    if not deposits.columns:
        return pl.DataFrame(schema=DEPOSIT_SCHEMA)
    return deposits


def _atomic(path: Path, write: Callable[[Path], None]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# Added by scheduled runs with a state store (recon.carry).
STATE_COLUMNS = ("status", "first_seen", "age_days", "item_ref")


def discrepancy_table(result: RunResult) -> pl.DataFrame:
    """The contract's columns of the items the reports list (every item, unless the run kept
    its items on disk: then result.all_items holds them all)."""
    items = result.item_rows()
    extra = [c for c in STATE_COLUMNS if c in items.columns]
    return items.select(*DISCREPANCY_COLUMNS, *extra)


def _all_items_table(result: RunResult) -> pl.DataFrame | pl.LazyFrame:
    """Every item, the contract's columns: in memory, or streamed from the run's files."""
    if result.all_items is None:
        if result.shown is not None:
            raise ValueError("the result holds only some items' columns and no items files")
        return discrepancy_table(result)
    names = result.all_items.collect_schema().names()
    extra = [c for c in STATE_COLUMNS if c in names]
    return result.all_items.select(*DISCREPANCY_COLUMNS, *extra)


FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)

# Columns that hold numbers as text: they may start with '-' and must stay as they are.
_NUMERIC = {
    "pos_amount",
    "bank_amount",
    "difference",
    "amount_at_risk",
    "line",
    "age_days",
    # deposits.csv
    "n_sales",
    "gross",
    "fee_expected",
    "fee_charged",
    "deposit",
}


def neutralise_formulas(frame: FrameT) -> FrameT:
    """Prefix text that a spreadsheet would run as a formula (=, +, -, @, tab, CR) with a quote.

    Text in these files comes from the inputs (references, ids, remittance text), so a crafted
    value could otherwise execute when finance staff open the CSV in Excel."""
    risky = r"^[=+\-@\t\r]"
    texts = [c for c, t in frame.collect_schema().items() if t == pl.String and c not in _NUMERIC]
    if isinstance(frame, pl.DataFrame) and texts:
        # Only the columns that hold such text are rewritten (nearly always none): the
        # rewrite would build every value of a column again.
        found = frame.select(pl.col(c).str.contains(risky).any() for c in texts).row(0)
        texts = [c for c, hit in zip(texts, found, strict=True) if hit]
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(risky))
        .then(pl.lit("'") + pl.col(c))
        .otherwise(pl.col(c))
        .alias(c)
        for c in texts
    )


def write_outputs(
    result: RunResult, out_dir: Path, *, matches: pl.LazyFrame | None = None
) -> dict[str, Path]:
    """Write every report file. `matches` (the partitioned engines) streams matches.parquet
    from the buckets' files instead of result.matches, which then holds only a few columns;
    likewise result.all_items, when set, streams discrepancies.csv and .parquet from disk."""
    out_dir.mkdir(parents=True, exist_ok=True)
    table = _all_items_table(result)
    paths = {name: out_dir / name for name in FILES}
    iso = "%Y-%m-%dT%H:%M:%S"
    # The CSV and Parquet files are written by polars on two more threads (it releases the
    # GIL while it writes: the items' files on one, matches.parquet on the other); the pages
    # and the workbook, written in Python, one after the other on this one: two Python writers
    # side by side would only queue for the GIL.
    # The Parquet files at zstd level 1: the size of the default level in three quarters of
    # the time.
    zstd1 = {"compression": "zstd", "compression_level": 1}

    def tables() -> None:
        _atomic(
            paths["discrepancies.csv"],
            # streamed: a large day's items are not copied to be written
            lambda p: neutralise_formulas(table).lazy().sink_csv(p, datetime_format=iso),
        )
        if isinstance(table, pl.LazyFrame):
            _atomic(paths["discrepancies.parquet"], lambda p: table.sink_parquet(p, **zstd1))
        else:
            _atomic(paths["discrepancies.parquet"], lambda p: table.write_parquet(p, **zstd1))

    def matches_file() -> None:
        if matches is None:
            _atomic(paths["matches.parquet"], lambda p: result.matches.write_parquet(p, **zstd1))
        else:
            _atomic(paths["matches.parquet"], lambda p: matches.sink_parquet(p, **zstd1))

    with ThreadPoolExecutor(max_workers=2) as pool:
        written = [pool.submit(tables), pool.submit(matches_file)]
        _atomic(paths["rejected.csv"], lambda p: neutralise_formulas(result.rejected).write_csv(p))
        _atomic(
            paths["summary.json"],
            lambda p: p.write_text(
                json.dumps(result.summary, indent=2, ensure_ascii=False, sort_keys=False) + "\n",
                encoding="utf-8",
            ),
        )
        _atomic(
            paths["report.html"],
            lambda p: p.write_text(render_html(result), encoding="utf-8"),
        )
        _atomic(
            paths["summary.md"],
            lambda p: p.write_text(render_summary_md(result, out_dir), encoding="utf-8"),
        )
        if result.settings.settlement.enabled:
            paths["deposits.csv"] = out_dir / "deposits.csv"
            _atomic(
                paths["deposits.csv"],
                lambda p: neutralise_formulas(deposit_table(result)).write_csv(
                    p, datetime_format=iso
                ),
            )
        _atomic(paths["report.xlsx"], lambda p: write_xlsx(result, p))
        for job in written:
            job.result()  # re-raises an error from a table's writer
    return paths
