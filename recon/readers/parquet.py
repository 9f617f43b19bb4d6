"""Parquet files with canonical column names (typed or string columns).

Amounts may be Decimal, string, integer (major units: 12 means 12.00) or float. A float is
converted once, at this boundary, to its shortest decimal text and then parsed exactly like any
other amount text; it is never used for arithmetic. `time` may be a Datetime (any unit, naive or
zoned), a Date (no clock) or a string. LINE is the row number, starting at 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from recon.errors import InputError
from recon.readers import ERROR, LINE, RawTable

if TYPE_CHECKING:
    from recon.profiles import Profile

NAME = "parquet"
MAGIC = b"PAR1"
SUFFIXES = (".parquet", ".pq", ".parq")


def recognise(path: Path, head: bytes) -> bool:
    return head.startswith(MAGIC) or path.suffix.lower() in SUFFIXES


def header(path: Path, head: bytes, profile: Profile) -> list[str]:
    try:
        return list(pl.read_parquet_schema(path))
    except Exception:
        return []


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def scan(path: Path, profile: Profile) -> RawTable:
    where = str(path)
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(4)
        fh.seek(max(size - 4, 0))
        tail = fh.read(4)
    if size < 12 or head != MAGIC or tail != MAGIC:
        raise InputError("not a Parquet file (no PAR1 magic bytes)", where)
    try:
        # Scanned, not read: the streaming engine then parses a large file row group by row
        # group instead of holding all of its text in memory at once.
        lazy = pl.scan_parquet(path)
        schema = lazy.collect_schema()
        rows = lazy.select(pl.len()).collect().item()  # from the footer, no data read
    except Exception as exc:  # polars and pyarrow raise many kinds for a damaged file
        raise InputError(f"cannot read Parquet: {_first_line(exc)}", where) from None
    columns = tuple(schema.names())
    text_cols = [
        pl.col(c).cast(pl.String).fill_null("")
        for c, dtype in schema.items()
        if not dtype.is_nested() and dtype != pl.Binary
    ]
    raw = pl.concat_str(text_cols, separator=",") if text_cols else pl.lit("")
    frame = lazy.with_row_index(LINE, offset=1).with_columns(
        pl.col(LINE).cast(pl.Int64), pl.lit(None, dtype=pl.String).alias(ERROR)
    )
    return RawTable(frame=frame, columns=columns, raw=raw, rows=rows)
