"""The loading entry point: one input file of one side -> canonical rows + rejected rows.

`load_side` picks a reader (by content), picks a profile (given, or recognised from the header),
reads the file and normalises it. A file that cannot be used at all raises `InputError` with a
one-line message naming the file; a bad row is data (it lands in `rejected`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

from recon import readers
from recon.errors import ConfigError, InputError, UsageError
from recon.normalize import (
    describe_missing,
    missing_required,
    normalize,
    normalize_plan,
    resolve_columns,
)
from recon.profiles import Profile, builtin_profiles, load_profile, parse_profile
from recon.schema import REJECTED, SIDES, validate

HEAD_BYTES = 64 * 1024
# (canonical name -> the file's column, the file's schema) -> a filter on the raw rows, or None.
Prefilter = Callable[[dict[str, str], pl.Schema], pl.Expr | None]
CANONICAL_PROFILE = "canonical"


@dataclass(frozen=True)
class Loaded:
    frame: pl.DataFrame  # canonical columns and dtypes (recon.schema.CANONICAL)
    rejected: pl.DataFrame  # recon.schema.REJECTED: side, line, reason, raw (PANs masked)
    path: str  # as given
    sha256: str  # of the file bytes
    rows: int  # data rows in the file; == frame.height + rejected.height
    profile: str  # name of the profile used
    reader: str = "csv"  # the reader (format) that read the file


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _canonical_profile() -> Profile:
    try:
        return load_profile(CANONICAL_PROFILE)
    except ConfigError:  # no configs folder at all: the built-in defaults are the canonical layout
        return parse_profile({"name": CANONICAL_PROFILE}, "<built-in>")


def _check_file(path: Path, where: str) -> bytes:
    if not path.exists():
        raise InputError("file not found", where)
    if path.is_dir():
        raise InputError("is a directory, expected a file", where)
    try:
        with path.open("rb") as fh:
            head = fh.read(HEAD_BYTES)
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", where) from None
    if not head.strip():
        raise InputError("file is empty", where)
    return head


def _pick_reader(path: Path, head: bytes, profile: Profile | None, where: str) -> readers.Reader:
    reader = readers.reader_for(path, head)
    if reader is None:
        if b"\x00" in head:
            raise InputError(
                "binary file (contains NUL bytes); expected CSV, Parquet or a spreadsheet", where
            )
        raise InputError("unrecognised file format; expected CSV, Parquet or a spreadsheet", where)
    # Binary formats (Parquet, Excel) and statements (MT940, camt, BAI2, OFX, UnionPay ZM, formats
    # no profile can name) are known by their content, whatever the profile says; only a text
    # table is read as the profile's format says. A profile given for a statement maps the
    # statement reader's columns (`inspect` passes the recognised canonical profile on).
    if profile is not None and reader.NAME == "csv" and profile.format != reader.NAME:
        return readers.reader_named(profile.format)
    return reader


def _usable_with(candidate: Profile, reader: readers.Reader) -> bool:
    """A spreadsheet holds the same layouts as a CSV export: csv profiles read it too."""
    if candidate.format == reader.NAME:
        return True
    return reader.NAME == "excel" and candidate.format == "csv"


def _recognise_profile(path: Path, head: bytes, reader: readers.Reader, where: str) -> Profile:
    """Canonical header -> canonical; else the first built-in profile whose headers all fit.

    Built-in profiles are tried by `priority` (higher first), then by name; the synonym
    profile (`auto-synonyms`, lowest priority) comes last.
    """
    canonical = _canonical_profile()
    seen = reader.header(path, head, canonical)
    if not missing_required(seen, canonical) or reader.NAME not in ("csv", "excel"):
        return canonical
    candidates: list[Profile] = []
    for name, toml in builtin_profiles().items():
        if name == CANONICAL_PROFILE:
            continue
        try:
            candidate = load_profile(toml)
        except ConfigError:
            continue
        if _usable_with(candidate, reader) and candidate.columns:
            candidates.append(candidate)
    candidates.sort(key=lambda p: (-p.priority, p.name))
    for candidate in candidates:
        if candidate.fits(reader.header(path, head, candidate)):
            return candidate
    if reader.NAME == "excel":
        seen = reader.header(path, head, canonical)
    message = describe_missing(missing_required(seen, canonical), seen, canonical)
    raise InputError(f"{message}; pass --pos-profile/--bank-profile", where)


@dataclass(frozen=True)
class Planned:
    """A file read lazily: the canonical plan (recon.normalize.normalize_plan) and what the
    report says about the file. Used by the partitioned engines for inputs larger than memory."""

    plan: pl.LazyFrame  # canonical columns + normalize.REASON
    raw: readers.RawTable  # for the raw text of rejected rows
    path: str
    sha256: str
    rows: int
    profile: str
    reader: str


def plan_side(
    path: str | Path,
    side: str,
    profile: str | Path | Profile | None = None,
    *,
    timezone: str | None = None,
) -> Planned | None:
    """The lazy plan of a file whose reader scans lazily (Parquet); None for other formats,
    which are loaded whole with load_side."""
    where = str(path)
    file = Path(path)
    head = _check_file(file, where)
    chosen = load_profile(profile) if isinstance(profile, str | Path) else profile
    reader = _pick_reader(file, head, chosen, where)
    if reader.NAME != "parquet":
        return None
    if chosen is None:
        chosen = _recognise_profile(file, head, reader, where)
    raw = reader.scan(file, chosen)
    plan, raw = normalize_plan(raw, chosen, side, file.name, target_tz=timezone, where=where)
    return Planned(plan, raw, where, _sha256(file), raw.rows, chosen.name, reader.NAME)


def load_side(
    path: str | Path,
    side: str,
    profile: str | Path | Profile | None = None,
    *,
    timezone: str | None = None,
    prefilter: Prefilter | None = None,
) -> Loaded:
    """Load one input file of `side` ('pos' or 'bank') into canonical and rejected rows.

    `profile` is a Profile, a built-in profile name or a TOML path; None recognises the layout.
    `timezone` is the run's zone: zoned stamps, and naive stamps of a profile with a `timezone`,
    are converted to it; without it zoned stamps become UTC and naive ones stay as they are.
    `prefilter` narrows the rows before they are normalised (a lookup, not a reconciliation):
    given the file's column for each canonical name and its schema, it returns a filter on the
    raw columns, which polars pushes down into a Parquet scan. Rows it drops are not counted.
    """
    if side not in SIDES:
        raise UsageError(f"side must be one of {', '.join(SIDES)}, got {side!r}")
    if timezone:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise UsageError(f"unknown time zone {timezone!r}") from None
    where = str(path)
    file = Path(path)
    head = _check_file(file, where)
    chosen = load_profile(profile) if isinstance(profile, str | Path) else profile
    reader = _pick_reader(file, head, chosen, where)
    if chosen is None:
        chosen = _recognise_profile(file, head, reader, where)
    try:
        raw = reader.scan(file, chosen)
        if prefilter is not None:
            cond = prefilter(resolve_columns(raw.columns, chosen), raw.frame.collect_schema())
            if cond is not None:
                raw = replace(raw, frame=raw.frame.filter(cond))
        frame, rejected = normalize(raw, chosen, side, file.name, target_tz=timezone, where=where)
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        lines = str(exc).strip().splitlines()
        raise InputError(
            f"cannot read: {lines[0] if lines else type(exc).__name__}", where
        ) from None
    rejected = rejected.cast(REJECTED)  # type: ignore[arg-type]
    validate(frame, where)
    if prefilter is None and frame.height + rejected.height != raw.rows:
        raise InputError(  # a bug, not a user error: say so rather than lose rows silently
            f"internal error: {raw.rows} rows read but {frame.height} loaded + "
            f"{rejected.height} rejected",
            where,
        )
    return Loaded(
        frame=frame,
        rejected=rejected,
        path=where,
        sha256=_sha256(file),
        rows=raw.rows,
        profile=chosen.name,
        reader=reader.NAME,
    )


# Bank files that are plain statements of the shop's own account, by the reader that read them
# or (for tables) the profile: their debits are the shop's payments (rent, suppliers, fees).
# Card acquirer settlement files and payment-platform bills are not statements: a debit there
# is money taken back for a card transaction, and one with no POS refund is suspected fraud.
STATEMENT_READERS = frozenset({"mt940", "camt", "bai2", "ofx"})
STATEMENT_PROFILES = frozenset({"cmb", "icbc", "abc", "bocom", "eu-bank-semicolon"})


def is_statement(reader: str, profile: str) -> bool:
    """Whether a bank file read by `reader` through `profile` is a plain bank statement."""
    return reader in STATEMENT_READERS or profile in STATEMENT_PROFILES
