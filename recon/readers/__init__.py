"""Reader plug-ins: each turns one file format into a `RawTable` of source columns.

A reader is a module with `NAME`, `recognise(path, head_bytes) -> bool`,
`header(path, head_bytes, profile) -> list[str]` and `scan(path, profile) -> RawTable`.
`REGISTRY` lists them in the order they are tried; a new format is one module and one line here.
Readers know bytes and layouts only; `recon.normalize` turns their output into canonical rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import polars as pl

if TYPE_CHECKING:
    from recon.profiles import Profile

# Helper columns every reader adds beside the source columns.
LINE = "__recon_line"  # Int64: physical line (CSV) or row number (Parquet), 1-based
ERROR = "__recon_error"  # String: why the row cannot be read as a whole (ragged...), else null
RAW = "__recon_raw"  # String: the row's text, when the reader has it


@dataclass(frozen=True)
class RawTable:
    """Source columns as the file names them, plus LINE and ERROR (and RAW for text formats)."""

    frame: pl.LazyFrame
    columns: tuple[str, ...]  # source column names in file order (without helper columns)
    raw: pl.Expr  # the row's text for rejected-row output; evaluated on rejected rows only
    rows: int  # data rows in the file: not header, preamble, footer or blank lines


class Reader(Protocol):
    NAME: str

    def recognise(self, path: Path, head: bytes) -> bool: ...

    def header(self, path: Path, head: bytes, profile: Profile) -> list[str]: ...

    def scan(self, path: Path, profile: Profile) -> RawTable: ...


from recon.readers import (  # noqa: E402  (the registry needs RawTable above)
    bai2,
    camt,
    csv,
    excel,
    mt940,
    ofx,
    parquet,
    unionpay_zm,
)

REGISTRY: list[Reader] = [parquet, mt940, bai2, camt, ofx, unionpay_zm, excel, csv]  # type: ignore[list-item]


def reader_named(name: str) -> Reader:
    for reader in REGISTRY:
        if name == reader.NAME:
            return reader
    raise KeyError(name)


def reader_for(path: Path, head: bytes) -> Reader | None:
    """The first reader that recognises the file, or None."""
    for reader in REGISTRY:
        if reader.recognise(path, head):
            return reader
    return None
