"""Profiles: how to read one kind of input file, as validated, immutable settings.

A profile is a TOML file (see `configs/profiles/`). It names the format, the encoding, where the
header is, how columns map onto the canonical schema, and how dates and amounts are written.
Every key is checked when the file is loaded; a mistake is a `ConfigError` naming the file, the
key and what is wrong with it.

Keys for real-world exports (all optional):

* `header_row = "auto"`: the header is the first of the first `HEADER_SCAN_LINES` lines whose
  cells hold every mapped header (see `Profile.fits`); preamble lines above it are skipped.
* `footer_pattern`: a regex searched in each trailing line; trailing lines that match it (or
  are blank) are a summary/footer, not data: they are skipped and not counted as rows.
* `sheet`: for spreadsheets, the sheet name or 1-based index (default: the first sheet).
* `empty_values`: cell values that mean "empty" after trimming (default `-`, `--`, `/`).
* `pad_short_rows = true`: rows with fewer fields than the header are read with the missing
  trailing fields empty (rows with more fields are still rejected).
* `require_headers`: headers that must be present for the layout to be recognised, beyond the
  mapped ones (to tell apart layouts that map the same columns).
* `optional_columns`: mapped canonical columns a file need not have to be recognised.
* `priority`: recognition order among built-in profiles (higher first; default 0).
* `[columns] amount_in` / `amount_out`: separate income/expense columns; amount = in - out.
* `[columns] date` + `time_of_day`: a date column and a clock column, joined into `time`.
* `[debit_credit] neutral`: direction values that leave the amount as written (e.g. 不计收支).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from recon.errors import ConfigError
from recon.money import CURRENCY_RE, DEFAULT_SYMBOLS
from recon.schema import BANK_KINDS, INPUT_COLUMNS, POS_KINDS

FORMATS = ("csv", "parquet", "excel")
HEADER_SCAN_LINES = 30  # header_row = "auto" looks at this many lines from the top
ENCODINGS = ("auto", "utf-8", "utf-8-sig", "gbk", "gb18030", "utf-16", "latin-1", "cp1252")
# Canonical names a [columns] table may map, beyond the input columns of the schema.
EXTRA_COLUMNS = ("debit_credit", "amount_in", "amount_out", "date", "time_of_day")
MAPPABLE = (*INPUT_COLUMNS, *EXTRA_COLUMNS)
ALL_KINDS = (*POS_KINDS, *BANK_KINDS)
# Directives that mean a datetime format carries a clock time.
DEFAULT_EMPTY = ("-", "--", "/")
_CLOCK_DIRECTIVES = ("%H", "%I", "%M", "%S", "%T", "%R", "%X", "%c", "%s", "%r")


@dataclass(frozen=True)
class Profile:
    """Validated settings for reading one layout. Build with `load_profile` or `parse_profile`."""

    name: str
    description: str = ""
    format: str = "csv"
    encoding: str = "auto"
    delimiter: str = ","
    quote_char: str | None = '"'
    header_row: int = 1
    header_auto: bool = False  # header_row = "auto"
    footer_pattern: str | None = None
    sheet: str | int | None = None
    empty_values: tuple[str, ...] = DEFAULT_EMPTY
    pad_short_rows: bool = False
    require_headers: tuple[str, ...] = ()
    optional_columns: tuple[str, ...] = ()
    priority: int = 0
    datetime_format: tuple[str, ...] = ()  # empty: ISO 8601 date/time or plain date
    date_only: bool = False
    timezone: str | None = None
    decimal_mark: str = "."
    thousands_mark: str | None = ","
    currency_symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    default_currency: str | None = None
    skip_footer_lines: int = 0
    # canonical name -> accepted source headers, in order of preference
    columns: dict[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    # "debit"/"credit" -> values of the debit_credit column
    debit_credit: dict[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    # source kind value -> canonical kind
    kinds: dict[str, str] = field(default_factory=dict, hash=False)
    path: str | None = None  # the TOML file it came from

    def headers_for(self, canonical: str) -> tuple[str, ...]:
        """Source headers accepted for a canonical column (the canonical name when unmapped)."""
        return self.columns.get(canonical, (canonical,))

    def needed_columns(self) -> list[str]:
        """Canonical columns a file must have for this profile (mapped and not optional)."""
        needed = [c for c in self.columns if c not in self.optional_columns]
        if not any(c in self.columns for c in ("time", "date")):
            needed.append("time")
        if not any(c in self.columns for c in ("amount", "amount_in", "amount_out")):
            needed.append("amount")
        return needed

    def fits(self, headers: list[str] | tuple[str, ...]) -> bool:
        """True when `headers` hold every needed column (any alternative) and require_headers."""
        keys = {h.replace("\ufeff", "").strip().casefold() for h in headers}
        for canon in self.needed_columns():
            if not any(alt.strip().casefold() in keys for alt in self.headers_for(canon)):
                return False
        return all(h.strip().casefold() in keys for h in self.require_headers)


def clock_in_format(fmt: str) -> bool:
    return any(d in fmt for d in _CLOCK_DIRECTIVES)


def _repo_profiles_dir() -> Path | None:
    pkg = Path(__file__).resolve().parent
    for candidate in (pkg / "builtin_profiles", pkg.parent / "configs" / "profiles"):
        if candidate.is_dir():
            return candidate
    return None


def builtin_profiles() -> dict[str, Path]:
    """Profile name -> TOML path: the built-in folder, then `./configs/profiles` (first wins)."""
    found: dict[str, Path] = {}
    folders = [_repo_profiles_dir(), Path.cwd() / "configs" / "profiles"]
    for folder in folders:
        if folder is None or not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            found.setdefault(path.stem, path)
    return found


def load_profile(name_or_path: str | Path) -> Profile:
    """Load a profile by built-in name (`cn-bank-gbk`) or by path (`my/bank.toml`)."""
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or text.endswith(".toml") or "/" in text or "\\" in text:
        return read_profile(Path(text))
    available = builtin_profiles()
    if text not in available:
        names = ", ".join(sorted(available)) or "none"
        raise ConfigError(f"unknown profile '{text}' (available: {names})")
    return read_profile(available[text])


def read_profile(path: Path) -> Profile:
    where = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("profile file not found", where) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read profile: {exc}", where) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", where) from None
    return parse_profile(data, where, default_name=path.stem)


def parse_profile(data: dict[str, Any], where: str, *, default_name: str = "profile") -> Profile:
    """Validate a profile's TOML table; every problem names the key."""
    v = _Validator(data, where)
    name = v.string("name", default_name)
    fmt = v.choice("format", FORMATS, "csv")
    encoding = v.choice("encoding", ENCODINGS, "auto", lower=True)
    delimiter = v.string("delimiter", ",")
    if delimiter == "\\t":
        delimiter = "\t"
    if len(delimiter) != 1:
        v.fail("delimiter", f"must be one character, got {delimiter!r}")
    quote = v.string("quote_char", '"')
    if len(quote) > 1:
        v.fail("quote_char", f"must be one character or empty, got {quote!r}")
    header_auto = v.data.get("header_row") == "auto"
    if isinstance(v.data.get("header_row"), str) and not header_auto:
        v.fail("header_row", f'must be an integer >= 1 or "auto", got {v.data["header_row"]!r}')
    header_row = 1 if header_auto else v.integer("header_row", 1, minimum=1)
    v.seen.add("header_row")
    footer = v.string("footer_pattern", "") or None
    if footer:
        try:
            re.compile(footer)
        except re.error as exc:
            v.fail("footer_pattern", f"invalid regex: {exc}")
    sheet = v.sheet()
    empty_values = v.string_list("empty_values", list(DEFAULT_EMPTY), allow_empty=True)
    pad_short = v.boolean("pad_short_rows", False)
    require_headers = v.string_list("require_headers", [])
    optional = v.string_list("optional_columns", [])
    for canon in optional:
        if canon not in MAPPABLE:
            v.fail("optional_columns", f"unknown canonical column {canon!r}")
    priority = v.integer("priority", 0, minimum=-1000)
    formats = v.string_list("datetime_format", [])
    for fmt_text in formats:
        if "%" not in fmt_text:
            v.fail("datetime_format", f"{fmt_text!r} has no % directive")
    date_only = v.boolean("date_only", False)
    timezone = v.string("timezone", "") or None
    if timezone:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            v.fail("timezone", f"unknown time zone {timezone!r}")
    decimal_mark = v.string("decimal_mark", ".")
    if decimal_mark not in (".", ","):
        v.fail("decimal_mark", f"must be '.' or ',', got {decimal_mark!r}")
    default_thousands = "," if decimal_mark == "." else ""
    thousands = v.string("thousands_mark", default_thousands)
    if thousands not in ("", ",", ".", " ", "'", "\u00a0", "\u202f"):
        v.fail("thousands_mark", f"unsupported thousands mark {thousands!r}")
    if thousands == decimal_mark:
        v.fail("thousands_mark", f"is the same as decimal_mark ({decimal_mark!r})")
    symbols = v.string_list("currency_symbols", list(DEFAULT_SYMBOLS))
    default_currency = v.string("default_currency", "").upper() or None
    if default_currency and not CURRENCY_RE.match(default_currency):
        v.fail("default_currency", f"{default_currency!r} is not a 3-letter ISO 4217 code")
    skip_footer = v.integer("skip_footer_lines", 0, minimum=0)
    columns = v.columns()
    debit_credit = v.debit_credit()
    if "debit_credit" in columns and not debit_credit:
        v.fail(
            "debit_credit", "columns.debit_credit is set but the [debit_credit] table is missing"
        )
    if "time_of_day" in columns and not ("date" in columns or "time" in columns):
        v.fail("columns.time_of_day", "needs columns.date (or columns.time) for the date")
    if "date" in columns and "time" in columns:
        v.fail("columns.date", "map either columns.date or columns.time, not both")
    if "amount" in columns and ("amount_in" in columns or "amount_out" in columns):
        v.fail("columns.amount", "map either columns.amount or amount_in/amount_out, not both")
    if ("amount_in" in columns) != ("amount_out" in columns):
        v.fail("columns.amount_in", "amount_in and amount_out go together")
    kinds = v.kinds()
    description = v.string("description", "")
    v.finish()
    return Profile(
        name=name,
        description=description,
        format=fmt,
        encoding=encoding,
        delimiter=delimiter,
        quote_char=quote or None,
        header_row=header_row,
        header_auto=header_auto,
        footer_pattern=footer,
        sheet=sheet,
        empty_values=tuple(empty_values),
        pad_short_rows=pad_short,
        require_headers=tuple(require_headers),
        optional_columns=tuple(optional),
        priority=priority,
        datetime_format=tuple(formats),
        date_only=date_only,
        timezone=timezone,
        decimal_mark=decimal_mark,
        thousands_mark=thousands or None,
        currency_symbols=tuple(symbols),
        default_currency=default_currency,
        skip_footer_lines=skip_footer,
        columns=columns,
        debit_credit=debit_credit,
        kinds=kinds,
        path=where,
    )


class _Validator:
    """Reads typed keys from a TOML table and remembers which keys were used."""

    def __init__(self, data: dict[str, Any], where: str):
        self.data = data
        self.where = where
        self.seen: set[str] = set()

    def fail(self, key: str, reason: str) -> None:
        raise ConfigError(f"key '{key}': {reason}", self.where)

    def _get(self, key: str, default: Any) -> Any:
        self.seen.add(key)
        return self.data.get(key, default)

    def string(self, key: str, default: str) -> str:
        value = self._get(key, default)
        if not isinstance(value, str):
            self.fail(key, f"must be a string, got {type(value).__name__}")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            self.fail(key, f"must be true or false, got {value!r}")
        return value

    def integer(self, key: str, default: int, *, minimum: int) -> int:
        value = self._get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            self.fail(key, f"must be an integer >= {minimum}, got {value!r}")
        return value

    def choice(self, key: str, options: tuple[str, ...], default: str, lower: bool = False) -> str:
        value = self.string(key, default)
        if lower:
            value = value.lower().replace("_", "-")
        if value not in options:
            self.fail(key, f"must be one of {', '.join(options)}, got {value!r}")
        return value

    def string_list(self, key: str, default: list[str], *, allow_empty: bool = False) -> list[str]:
        value = self._get(key, default)
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(
            isinstance(x, str) and (x or allow_empty) for x in value
        ):
            self.fail(key, "must be a string or a list of non-empty strings")
        return value

    def sheet(self) -> str | int | None:
        value = self._get("sheet", None)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int):
            self.fail("sheet", "must be a sheet name or a 1-based sheet number")
        if isinstance(value, int) and value < 1:
            self.fail("sheet", f"sheet numbers start at 1, got {value}")
        if isinstance(value, str) and not value.strip():
            self.fail("sheet", "must not be empty")
        return value

    def _table(self, key: str) -> dict[str, Any]:
        value = self._get(key, {})
        if not isinstance(value, dict):
            self.fail(key, "must be a table")
        return value

    def columns(self) -> dict[str, tuple[str, ...]]:
        out: dict[str, tuple[str, ...]] = {}
        for canon, headers in self._table("columns").items():
            key = f"columns.{canon}"
            if canon not in MAPPABLE:
                self.fail(key, f"unknown canonical column (expected one of {', '.join(MAPPABLE)})")
            if isinstance(headers, str):
                headers = [headers]
            if not isinstance(headers, list) or not headers:
                self.fail(key, "must be a header name or a non-empty list of header names")
            if not all(isinstance(h, str) and h.strip() for h in headers):
                self.fail(key, "header names must be non-empty strings")
            out[canon] = tuple(h.strip() for h in headers)
        return out

    def debit_credit(self) -> dict[str, tuple[str, ...]]:
        out: dict[str, tuple[str, ...]] = {}
        for side, values in self._table("debit_credit").items():
            key = f"debit_credit.{side}"
            if side not in ("debit", "credit", "neutral"):
                self.fail(key, "expected 'debit' or 'credit' (or 'neutral')")
            if isinstance(values, str):
                values = [values]
            if not isinstance(values, list) or not all(isinstance(x, str) for x in values):
                self.fail(key, "must be a string or a list of strings")
            out[side] = tuple(values)
        return out

    def kinds(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for source, kind in self._table("kinds").items():
            if not isinstance(kind, str) or kind.lower() not in ALL_KINDS:
                self.fail(f"kinds.{source}", f"must be one of {'|'.join(ALL_KINDS)}, got {kind!r}")
            out[source] = kind.lower()
        return out

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            self.fail(unknown[0], "unknown key")
