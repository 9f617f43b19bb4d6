"""BAI2 cash-management files, parsed with the `bai2` library's record builder and parsers.

Each `16` transaction detail record (with its `88` continuations) becomes one row of
canonical-named STRING columns (id, time, amount, currency, kind, reference, account,
references, memo). `time` is the group's as-of date (date only); the amount is the record's
integer minor units as an exact decimal, signed by the type code (debit codes negative). LINE
is the physical line where the `16` record starts. `references` holds the record's customer
reference and bank reference joined by `|` (placeholders such as NONREF left out, null when
none); `reference` is the first of them; `memo` is the record's text (with its `88`
continuations), else the type code's description.

Layout quirks seen in real exports are undone before the library sees the records: several
records on one physical line (`.../ 16,...`) are split, and a line that does not start with a
record code continues the record above. A `16` record the library cannot read (unknown type
code, bad amount) or one outside an account becomes a row with ERROR set. Whole-file integrity
totals (`49`/`98`/`99`) are not enforced: the rows are what the reconciliation needs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from recon.errors import InputError
from recon.money import minor_digits
from recon.readers import ERROR, LINE, RAW, RawTable
from recon.readers.mt940 import decode
from recon.references import clean_references

if TYPE_CHECKING:
    from recon.profiles import Profile

NAME = "bai2"
COLUMNS = ("id", "time", "amount", "currency", "kind", "reference", "account", "references", "memo")

_START = re.compile(rb"^(?:\xef\xbb\xbf)?\s*01,")
_GROUP = re.compile(rb"(?m)(?:^|/)\s*0[23],")
_RECORD = re.compile(r"^(\d\d),")
_SPLIT = re.compile(r"(?<=/)\s+(?=(?:0[123]|16|49|88|98|99),)")


def recognise(path: Path, head: bytes) -> bool:
    """A file whose first record is `01,` and which has a `02` group or `03` account record."""
    return bool(_START.match(head) and _GROUP.search(head))


def header(path: Path, head: bytes, profile: Profile) -> list[str]:
    return list(COLUMNS)


def _first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


def _physical_records(text: str, where: str) -> list[tuple[str, str, int, str]]:
    """(code, text after 'NN,', physical line, raw text) per logical row, 88s kept apart."""
    rows: list[list[Any]] = []  # [code, rest, line, raw]
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.strip()
        if not line:
            continue
        for part in _SPLIT.split(line):
            part = part.strip()
            m = _RECORD.match(part)
            if m:
                rows.append([m.group(1), part[3:], number, part])
            elif rows:  # a wrapped line: the record above goes on
                rows[-1][1] += " " + part
                rows[-1][3] += " " + part
            else:
                raise InputError(f"line {number}: not a BAI2 record (no record code)", where)
    return [(code, rest, line, raw) for code, rest, line, raw in rows]


def _records(rows: list[tuple[str, str, int, str]], where: str) -> list[tuple[Any, int, str]]:
    """(library Record, line, raw text) per record, 88 continuations folded in."""
    from bai2.constants import RecordCode
    from bai2.helpers import _build_record

    grouped: list[tuple[list[tuple[Any, str]], int, list[str]]] = []
    for code, rest, line, raw in rows:
        try:
            rc = RecordCode(code)
        except ValueError:
            raise InputError(f"line {line}: unknown BAI2 record code '{code}'", where) from None
        if rc == RecordCode.continuation and grouped:
            grouped[-1][0].append((rc, rest))
            grouped[-1][2].append(raw)
        elif rc == RecordCode.continuation:
            raise InputError(f"line {line}: continuation record before any record", where)
        else:
            grouped.append(([(rc, rest)], line, [raw]))
    out = []
    for parts, line, raws in grouped:
        try:
            record = _build_record(parts)
        except Exception as exc:
            raise InputError(
                f"line {line}: cannot read BAI2 record: {_first_line(exc)}", where
            ) from None
        out.append((record, line, " | ".join(raws)))
    return out


def _transaction(record: Any) -> dict[str, Any]:
    from bai2.parsers import TransactionDetailParser

    parser = TransactionDetailParser(None)
    try:
        return parser._parse_fields(record)
    except ValueError:
        fields = list(record.fields)
        if len(fields) > 5 and fields[2].strip() == "S":  # empty 'S' availability days: zero
            fields[3:6] = [f if f.strip() else "0" for f in fields[3:6]]
            return parser._parse_fields(type(record)(record.code, fields, record.rows))
        raise


def _signed_text(minor: int, currency: str | None, debit: bool) -> str:
    from decimal import Decimal

    value = Decimal(minor).scaleb(-minor_digits(currency))
    if debit:
        value = -abs(value)
    return format(value, "f")


def scan(path: Path, profile: Profile) -> RawTable:
    from bai2.constants import RecordCode, TypeCodeTransaction
    from bai2.utils import parse_date

    where = str(path)
    text = decode(path.read_bytes(), profile.encoding)
    records = _records(_physical_records(text, where), where)
    if not records or records[0][0].code != RecordCode.file_header:
        raise InputError("not a BAI2 file (first record is not 01 file header)", where)
    if records[-1][0].code != RecordCode.file_trailer:
        raise InputError("truncated BAI2 file: it does not end with a 99 file trailer", where)
    head = records[0][0].fields
    file_id = (head[4] if len(head) > 4 else "").strip() or "BAI2"
    cols: dict[str, list[Any]] = {c: [] for c in (*COLUMNS, LINE, ERROR, RAW)}
    group_date: str | None = None
    group_currency: str | None = None
    account: tuple[str, str | None] | None = None  # (account number, currency)
    number = 0
    for record, line, raw in records[1:]:
        code, fields = record.code, record.fields
        if code == RecordCode.group_header:
            account = None
            group_currency = (fields[5].strip() if len(fields) > 5 else "") or None
            try:
                group_date = parse_date(fields[3].strip()).isoformat()
            except (IndexError, ValueError):
                group_date = None
            continue
        if code == RecordCode.account_identifier:
            cur = (fields[1].strip() if len(fields) > 1 else "") or group_currency or "USD"
            account = (fields[0].strip(), cur)
            continue
        if code == RecordCode.account_trailer:
            account = None
            continue
        if code != RecordCode.transaction_detail:
            continue
        number += 1
        row: dict[str, str | None] = {}
        error: str | None = None
        if account is None:
            error = "BAI2 16 record outside an account (no 03 record before it)"
        elif group_date is None:
            error = "BAI2 16 record in a group without a valid as-of date (02 record)"
        else:
            try:
                tx = _transaction(record)
                if tx.get("amount") is None:
                    raise ValueError("amount is empty")
                tc = tx["type_code"]
                debit = tc.transaction == TypeCodeTransaction.debit
                refs = clean_references((tx.get("customer_reference"), tx.get("bank_reference")))
                memo = " ".join((tx.get("text") or "").strip().removesuffix("/").split())
                row = {
                    "id": f"{file_id}-{account[0]}-{number}",
                    "time": group_date,
                    "amount": _signed_text(tx["amount"], account[1], debit),
                    "currency": account[1],
                    "kind": "debit" if debit else "credit",
                    "reference": refs[0] if refs else None,
                    "account": None,
                    "references": "|".join(refs) if refs else None,
                    "memo": memo or tc.description,
                }
            except Exception as exc:  # the library raises ValueError, NotSupportedYet...
                error = f"cannot read BAI2 16 record: {_first_line(exc)}"
        for c in COLUMNS:
            cols[c].append(None if error else row.get(c))
        cols[LINE].append(line)
        cols[ERROR].append(error)
        cols[RAW].append(raw)
    schema = {**dict.fromkeys(COLUMNS, pl.String), LINE: pl.Int64, ERROR: pl.String, RAW: pl.String}
    frame = pl.DataFrame(cols, schema=schema)
    return RawTable(frame=frame.lazy(), columns=COLUMNS, raw=pl.col(RAW), rows=frame.height)
