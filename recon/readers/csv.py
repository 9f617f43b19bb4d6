"""Delimited text (CSV, semicolon, tab): decode to UTF-8 in memory, then read with polars.

The file is read twice by polars, both times as strings: once as one string per physical line
(for line numbers, raw text and field counts) and once by the CSV parser (for the fields). The
two are aligned by record; a quoted field spanning lines makes one record of several lines.
No Python loop touches rows.

Real exports: `header_row = "auto"` finds the header among the first lines (preamble above it is
skipped); trailing lines matching `footer_pattern` (or blank) are cut before parsing and not
counted; padding after a closing quote (`"123"\t,`, WeChat) is dropped when the parser
refuses it; `pad_short_rows` accepts rows with missing (or extra empty) trailing fields.
"""

from __future__ import annotations

import csv as stdcsv
import re
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from recon.errors import InputError
from recon.exprs import formatted
from recon.profiles import HEADER_SCAN_LINES
from recon.readers import ERROR, LINE, RAW, RawTable

if TYPE_CHECKING:
    from recon.profiles import Profile

NAME = "csv"
_BINARY_SUFFIXES = (".parquet", ".pq", ".xlsx", ".xls", ".zip", ".gz", ".pdf")
_CHINESE = ("gb2312", "gbk", "gb18030", "hz", "big5", "cp936")
# Japanese codecs (charset-normalizer names, lower case, no '_' or '-'): an answer kept as is.
_JAPANESE = ("shiftjis", "cp932", "eucj", "iso2022jp")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_LINE_SEP = "\x1f"  # a separator that does not occur in text: one string per physical line


def recognise(path: Path, head: bytes) -> bool:
    """Any text file: no NUL bytes (unless UTF-16) and not a known binary format."""
    if path.suffix.lower() in _BINARY_SUFFIXES:
        return False
    return _is_utf16(head) or b"\x00" not in head


def _is_utf16(head: bytes) -> bool:
    return head.startswith((b"\xff\xfe", b"\xfe\xff"))


def _codec(encoding: str) -> str:
    # GB18030 is a superset of GBK: files declared GBK often hold a few GB18030 characters.
    return "gb18030" if encoding in ("gbk", "gb2312") else encoding


def detect_encoding(data: bytes, declared: str) -> str:
    """The codec to decode `data` with, for a declared profile encoding (maybe 'auto')."""
    if declared != "auto":
        return _codec(declared)
    if _is_utf16(data):
        return "utf-16"
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    sample = data[:200_000]
    cut = sample.rfind(b"\n")
    sample = sample[: cut + 1] if cut > 0 else sample
    best = from_bytes(sample).best()
    name = "" if best is None else best.encoding.lower().replace("_", "").replace("-", "")
    if name in _CHINESE:
        return "gb18030"
    # The detector weighs a mostly-ASCII file by its few non-ASCII bytes and may take GB18030
    # Chinese for a single-byte codepage (ptcp154, cp1251, ...) or, for a few words, for Korean
    # (cp949: the same byte ranges). A Japanese answer is kept.
    if not name.startswith(_JAPANESE) and _looks_gb18030(sample):
        return "gb18030"
    if best is None:
        raise ValueError("cannot tell the text encoding")
    return best.encoding


def _looks_gb18030(sample: bytes) -> bool:
    """Whether `sample` (cut at a line end) is plausibly Chinese text in GB18030.

    It must decode strictly, and its non-ASCII characters must be mostly common Chinese: the
    GB2312 level-1 hanzi (the 3,755 most frequent) and the GB2312 punctuation and full-width
    rows (not kana: EUC-JP Japanese is full of it). Single-byte text read as GB18030 rarely
    decodes at all, and when it does it gives GBK-extension or level-2 (rare) hanzi: an accented
    Latin letter is followed by an ASCII byte, a lower-case Cyrillic pair falls in level 2.
    """
    try:
        text = sample.decode("gb18030")
    except UnicodeDecodeError:
        return False
    wide = Counter(_NON_ASCII.findall(text))
    total = sum(wide.values())
    if total == 0:
        return False
    common = hanzi = 0
    for char, n in wide.items():
        code = char.encode("gb18030")
        if len(code) != 2:
            continue
        lead, trail = code
        if trail < 0xA1:
            continue
        if 0xB0 <= lead <= 0xD7:  # level-1 hanzi
            common += n
            hanzi += n
        elif 0xA1 <= lead <= 0xA3:  # punctuation, numerals, full-width forms
            common += n
    return hanzi >= 2 and common >= 0.8 * total


def decode(data: bytes, declared: str, where: str) -> bytes:
    """The file as UTF-8 bytes, or InputError naming the encoding and the first bad byte."""
    if not _is_utf16(data) and declared != "utf-16" and b"\x00" in data:
        offset = data.index(b"\x00")
        raise InputError(
            f"binary file (NUL byte at offset {offset}); expected delimited text", where
        )
    if declared in ("auto", "utf-8", "utf-8-sig") and not _is_utf16(data):
        try:
            data.decode("utf-8")
            return data.removeprefix(b"\xef\xbb\xbf")
        except UnicodeDecodeError as exc:
            if declared != "auto":
                raise InputError(
                    f"cannot decode as {declared}: invalid byte at offset {exc.start}", where
                ) from None
    try:
        codec = detect_encoding(data, declared)
    except ValueError:
        raise InputError(
            "cannot tell the text encoding (not UTF-8); set `encoding` in a profile", where
        ) from None
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as exc:
        name = declared if declared != "auto" else codec
        raise InputError(
            f"cannot decode as {name}: invalid byte at offset {exc.start}", where
        ) from None
    except LookupError:
        raise InputError(f"unknown encoding '{codec}'", where) from None
    if codec in ("utf-8", "utf-8-sig"):
        return data.removeprefix(b"\xef\xbb\xbf")  # already valid UTF-8: no re-encoding
    return text.removeprefix("\ufeff").encode("utf-8")


def find_header_row(lines: list[str], profile: Profile) -> int | None:
    """1-based number of the first line (of the first HEADER_SCAN_LINES) the profile fits."""
    for i, line in enumerate(lines[:HEADER_SCAN_LINES]):
        cells = _parse_header_line(line, profile)
        if cells and profile.fits(cells):
            return i + 1
    return None


def _header_row(data: bytes, profile: Profile, where: str) -> int:
    if not profile.header_auto:
        return profile.header_row
    head = data[: 256 * 1024].decode("utf-8", errors="replace").splitlines()
    found = find_header_row(head, profile)
    if found is None:
        wanted = ", ".join(" or ".join(profile.headers_for(c)) for c in profile.needed_columns())
        raise InputError(
            f"no header found in the first {HEADER_SCAN_LINES} lines: expected columns {wanted}",
            where,
        )
    return found


def _split_header(data: bytes, profile: Profile, where: str = "") -> tuple[int, bytes]:
    """(offset of the header line, bytes from the header to the end minus footer lines)."""
    start = 0
    for _ in range(_header_row(data, profile, where) - 1):
        nl = data.find(b"\n", start)
        if nl < 0:
            return len(data), b""
        start = nl + 1
    end = len(data)
    for _ in range(profile.skip_footer_lines):
        end = start + len(data[start:end].rstrip(b"\r\n \t"))
        nl = data.rfind(b"\n", start, end)
        end = start if nl < 0 else nl + 1
    if profile.footer_pattern:
        end = _strip_footer(data, start, end, re.compile(profile.footer_pattern))
    return start, data[start:end]


def _strip_footer(data: bytes, start: int, end: int, pattern: re.Pattern[str]) -> int:
    """End offset without the trailing lines that are blank or match the footer pattern.

    The header line itself (the first line from `start`) is never a footer.
    """
    first_nl = data.find(b"\n", start, end)
    if first_nl < 0:
        return end
    floor = first_nl + 1
    while end > floor:
        nl = data.rfind(b"\n", floor, end - 1)
        line_start = floor if nl < 0 else nl + 1
        line = data[line_start:end].decode("utf-8", errors="replace").strip("\r\n")
        if line.strip(" \t,") and not pattern.search(line):
            break
        end = line_start
    return end


def _parse_header_line(line: str, profile: Profile) -> list[str]:
    if not line.strip():
        return []
    quote = profile.quote_char or ""
    reader = stdcsv.reader(
        [line],
        delimiter=profile.delimiter,
        quotechar=quote or None,
        quoting=stdcsv.QUOTE_MINIMAL if quote else stdcsv.QUOTE_NONE,
    )
    return [h.strip() for h in next(reader, [])]


def header(path: Path, head: bytes, profile: Profile) -> list[str]:
    """Column names of the header row, read from the first bytes only (for recognising)."""
    try:
        codec = detect_encoding(head, profile.encoding)
        text = head.decode(codec, errors="replace").removeprefix("\ufeff")
    except (ValueError, LookupError):
        return []
    lines = text.splitlines()
    row = find_header_row(lines, profile) if profile.header_auto else profile.header_row
    if row is None or len(lines) < row:
        return []
    return _parse_header_line(lines[row - 1], profile)


def scan(path: Path, profile: Profile) -> RawTable:
    where = str(path)
    utf8 = decode(path.read_bytes(), profile.encoding, where)
    offset, data = _split_header(utf8, profile, where)
    first_line = utf8.count(b"\n", 0, offset) + 1  # physical line number of the header
    header_line = data.split(b"\n", 1)[0].decode("utf-8").rstrip("\r")
    if not _parse_header_line(header_line, profile):
        raise InputError(f"no header on line {first_line} (the line is empty)", where)
    lines = _read_lines(data)
    records = _records(lines, profile, first_line)
    fields: pl.DataFrame | None
    try:
        fields = _read_fields(data, profile, profile.quote_char)
    except pl.exceptions.ComputeError:
        if not profile.quote_char:
            raise
        # Exports that put padding after a closing quote ("123"\t,): drop that padding.
        q = re.escape(profile.quote_char)
        d = re.escape(profile.delimiter)
        unpadded = re.sub(rf"{q}[ \t]+(?={d}|\r?\n|$)".encode(), profile.quote_char.encode(), data)
        try:
            fields = _read_fields(unpadded, profile, profile.quote_char)
            data, lines = unpadded, _read_lines(unpadded)
            records = _records(lines, profile, first_line)
        except pl.exceptions.ComputeError:
            fields = None  # a quote that never closes (it would swallow the rest of the file)
    if fields is None or (fields.height != records.height and profile.quote_char):
        # A stray quote the parser and the line splitter read differently: read quotes
        # literally, so its row is rejected for what it holds and the others are read.
        records = _records(lines, profile, first_line, quoted=False)
        fields = _read_fields(data, profile, None)
    if fields.height != records.height:
        raise InputError(
            f"cannot align {fields.height} parsed rows with {records.height} lines "
            "(unbalanced quotes?)",
            where,
        )
    columns = tuple(fields.columns)
    expected = len(columns)
    count = pl.col("fields")
    bad_count = (count > expected) if profile.pad_short_rows else (count != expected)
    error = (
        pl.when(bad_count)
        .then(formatted("expected {} fields, found {}", pl.lit(expected), count))
        .otherwise(None)
        .cast(pl.String)
    )
    frame = (
        pl.concat(
            [fields, records.select(LINE, RAW, "blank", error.alias(ERROR))], how="horizontal"
        )
        .filter(~pl.col("blank"))
        .drop("blank")
    )
    return RawTable(frame=frame.lazy(), columns=columns, raw=pl.col(RAW), rows=frame.height)


def _read_fields(data: bytes, profile: Profile, quote: str | None) -> pl.DataFrame:
    return pl.read_csv(
        data,
        has_header=True,
        separator=profile.delimiter,
        quote_char=quote,
        infer_schema=False,
        truncate_ragged_lines=True,
        raise_if_empty=False,
    )


def _read_lines(data: bytes) -> pl.Series:
    """One string per physical line from the header on (null for an empty line)."""
    return pl.read_csv(
        data,
        has_header=False,
        separator=_LINE_SEP,
        quote_char=None,
        infer_schema=False,
        truncate_ragged_lines=True,
        new_columns=["raw"],
        raise_if_empty=False,
    ).to_series()


def _records(
    lines: pl.Series, profile: Profile, first_line: int, quoted: bool = True
) -> pl.DataFrame:
    """Data records after the header: physical LINE, RAW text, field count, blank flag."""
    quote = profile.quote_char if quoted else None
    df = pl.DataFrame({"raw": lines}).with_row_index("i").slice(1)
    raw = pl.col("raw").str.strip_chars_end("\r")
    line = (pl.col("i").cast(pl.Int64) + first_line).alias(LINE)
    if quote:
        odd = (raw.fill_null("").str.count_matches(quote, literal=True) % 2 == 1).cast(pl.Int64)
        df = df.with_columns(odd=odd).with_columns(
            start=((pl.col("odd").cum_sum() - pl.col("odd")) % 2 == 0)
        )
        if df["start"].all():
            df = df.select(line, raw.alias(RAW))
        else:
            df = (
                df.with_columns(rec=pl.col("start").cum_sum())
                .group_by("rec", maintain_order=True)
                .agg(line.first(), raw.fill_null("").str.join("\n").alias(RAW))
                .drop("rec")
            )
    else:
        df = df.select(line, raw.alias(RAW))
    text = pl.col(RAW)
    if quote:
        q = _escape(quote)
        text = text.str.replace_all(f"{q}[^{q}]*{q}", "")
    if profile.pad_short_rows:  # trailing empty fields beyond the header are not data either
        text = text.str.strip_chars_end(profile.delimiter + " \t")
    delim_count = text.fill_null("").str.count_matches(profile.delimiter, literal=True)
    return df.with_columns(
        fields=(delim_count + 1).cast(pl.Int64),
        blank=pl.col(RAW).is_null() | (pl.col(RAW).str.strip_chars() == ""),
    )


def _escape(char: str) -> str:
    return "\\" + char if not char.isalnum() else char
