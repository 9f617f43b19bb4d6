"""Spreadsheets (.xlsx, .xls): one sheet read as strings, then a header row and data rows.

Read with polars' calamine engine, every cell as text (`has_header=False`), so the header row
can be anywhere: the profile's `header_row` (a number, or "auto": the first of the first rows
that holds the mapped headers) and `sheet` (name or 1-based number; default the first sheet)
say where. Trailing rows matching `footer_pattern`, and blank rows, are not data. LINE is the
sheet's 1-based row number; RAW is the row's cells joined by commas.
Recognised by content: a ZIP with an `xl/` member (xlsx) or the OLE2 magic (xls).
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from recon.errors import InputError
from recon.profiles import HEADER_SCAN_LINES
from recon.readers import ERROR, LINE, RAW, RawTable

if TYPE_CHECKING:
    from recon.profiles import Profile

NAME = "excel"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
# Every cell as text; empty rows and columns kept so row numbers and positions stay true.
_OPTIONS = {
    "has_header": False,
    "infer_schema_length": 0,
    "drop_empty_rows": False,
    "drop_empty_cols": False,
    "raise_if_empty": False,
}


def recognise(path: Path, head: bytes) -> bool:
    if head.startswith(OLE_MAGIC):
        return True
    if not head.startswith(ZIP_MAGIC):
        return False
    try:
        with zipfile.ZipFile(path) as zf:
            return any(name.startswith("xl/") for name in zf.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


_CACHE: dict[tuple, pl.DataFrame] = {}  # the last sheet read: recognition reads it per profile


def _read_sheet(path: Path, profile: Profile) -> pl.DataFrame:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size, profile.sheet)
    if key not in _CACHE:
        df = _read_sheet_uncached(path, profile)
        _CACHE.clear()
        _CACHE[key] = df
    return _CACHE[key]


def _read_sheet_uncached(path: Path, profile: Profile) -> pl.DataFrame:
    where = str(path)
    sheet = profile.sheet
    try:
        if isinstance(sheet, str):
            df = pl.read_excel(path, engine="calamine", sheet_name=sheet, **_OPTIONS)
        else:
            df = pl.read_excel(
                path,
                engine="calamine",
                sheet_id=sheet or 1,
                **_OPTIONS,
            )
    except Exception as exc:  # calamine/fastexcel raise their own kinds for bad workbooks
        message = _first_line(exc)
        if sheet is not None and ("sheet" in message.lower() or "index" in message.lower()):
            raise InputError(f"no sheet {sheet!r} in the workbook ({message})", where) from None
        raise InputError(f"cannot read spreadsheet: {message}", where) from None
    if df.width == 0:
        return df
    return df.select(pl.all().cast(pl.String))


def _cells(row: tuple) -> list[str]:
    return ["" if v is None else str(v).strip() for v in row]


def _header_index(rows: list[list[str]], profile: Profile, where: str) -> int:
    """0-based index of the header row."""
    if not profile.header_auto:
        if profile.header_row > len(rows):
            raise InputError(f"no header: the sheet has only {len(rows)} rows", where)
        return profile.header_row - 1
    for i, cells in enumerate(rows[:HEADER_SCAN_LINES]):
        if profile.fits(cells):
            return i
    wanted = ", ".join(" or ".join(profile.headers_for(c)) for c in profile.needed_columns())
    raise InputError(
        f"no header found in the first {HEADER_SCAN_LINES} rows: expected columns {wanted}",
        where,
    )


def header(path: Path, head: bytes, profile: Profile) -> list[str]:
    try:
        df = _read_sheet(path, profile)
        rows = [_cells(r) for r in df.head(HEADER_SCAN_LINES + profile.header_row).iter_rows()]
        return [c for c in rows[_header_index(rows, profile, str(path))]]
    except InputError:
        return []


def _names(cells: list[str]) -> list[str]:
    """Header cells as unique column names (empty ones get column_N)."""
    names: list[str] = []
    for i, cell in enumerate(cells):
        name = cell or f"column_{i + 1}"
        while name in names:
            name += "_"
        names.append(name)
    return names


def scan(path: Path, profile: Profile) -> RawTable:
    where = str(path)
    df = _read_sheet(path, profile)
    if df.height == 0:
        raise InputError("the sheet is empty", where)
    first = df.head(HEADER_SCAN_LINES + profile.header_row)
    rows = [_cells(r) for r in first.iter_rows()]
    idx = _header_index(rows, profile, where)
    names = _names(rows[idx])
    text = pl.concat_str(
        [pl.col(c).fill_null("").str.strip_chars() for c in df.columns], separator=","
    )
    body = df.with_columns(
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias(LINE), text.alias(RAW)
    ).slice(idx + 1)
    blank = pl.col(RAW).str.replace_all(",", "").str.strip_chars() == ""
    end = body.height
    if profile.footer_pattern:
        pattern = re.compile(profile.footer_pattern)
        raws = body[RAW].to_list()
        while end > 0:
            line = raws[end - 1].strip(" \t,")
            if line and not pattern.search(raws[end - 1]):
                break
            end -= 1
    body = body.slice(0, end).filter(~blank)
    body = body.rename(dict(zip(df.columns, names, strict=True)))
    body = body.with_columns(pl.lit(None, dtype=pl.String).alias(ERROR))
    return RawTable(frame=body.lazy(), columns=tuple(names), raw=pl.col(RAW), rows=body.height)
