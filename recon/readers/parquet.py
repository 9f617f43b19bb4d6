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
        df = pl.read_parquet(path)
    except Exception as exc:  # polars and pyarrow raise many kinds for a damaged file
        raise InputError(f"cannot read Parquet: {_first_line(exc)}", where) from None
    columns = tuple(df.columns)
    text_cols = [
        pl.col(c).cast(pl.String).fill_null("")
        for c, dtype in df.schema.items()
        if not dtype.is_nested() and dtype != pl.Binary
    ]
    raw = pl.concat_str(text_cols, separator=",") if text_cols else pl.lit("")
    frame = df.lazy().with_columns(
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias(LINE),
        pl.lit(None, dtype=pl.String).alias(ERROR),
    )
    return RawTable(frame=frame, columns=columns, raw=raw, rows=df.height)
