"""SWIFT MT940 / MT942 bank statements, parsed with the `mt-940` library.

Each `:61:` statement line becomes one row of canonical-named STRING columns (id, time,
amount, currency, kind, reference, account) plus `detail` (the `:86:` text), so the built-in
`canonical` profile maps them with no configuration. Amounts are signed exact decimals (debit
and reversal of credit negative); `time` is the value date (date only). LINE is the physical
line of the `:61:` tag. A statement block the library cannot parse is retried after joining
wrapped single-line tags, then entry by entry; an entry that still cannot be read becomes a row
with ERROR set (it lands in rejected.csv) rather than being dropped.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from recon.errors import InputError
from recon.readers import ERROR, LINE, RAW, RawTable

if TYPE_CHECKING:
    from recon.profiles import Profile

NAME = "mt940"
COLUMNS = ("id", "time", "amount", "currency", "kind", "reference", "account", "detail")

_TAG_20 = re.compile(rb"(?m)^\s*:20:")
_TAG_BODY = re.compile(rb"(?m)^\s*:(?:61|60[FM]|62[FM]):")
_STATEMENT = re.compile(r"(?m)^(?=:20:)")
_ENTRY = re.compile(r"(?m)^:61:")
_ANY_TAG = re.compile(r"(?m)^:[0-9]{2}[A-Z]?:|^:NS:")
# Tags whose content is one line: a wrapped line is joined back (seen in ING exports).
_SINGLE_LINE = re.compile(r"(?m)^(:(?:20|25|28C?|6[02][FM]|64|65|90[CD]|34F|13D?):[^\n]*)\n(?!:|-)")
# NONREF, and ING's placeholders that only say which :86: sub-field holds the reference
_NULL_REFS = {"", "NONREF", "EREF", "PREF", "MARF"}


def recognise(path: Path, head: bytes) -> bool:
    """MT940/MT942 content: a `:20:` tag and a `:61:` line or a balance tag."""
    return bool(_TAG_20.search(head) and _TAG_BODY.search(head))


def header(path: Path, head: bytes, profile: Profile) -> list[str]:
    return list(COLUMNS)


def decode(data: bytes, declared: str = "auto") -> str:
    """UTF-8 first, then CP852 (Central European bank exports), never failing."""
    if declared not in ("auto", "", None):
        try:
            return data.decode(declared)
        except (UnicodeDecodeError, LookupError):
            pass
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("cp852", errors="replace")
    text = text.removeprefix("\ufeff")
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x01", "").replace("\x03", "")


def _first_line(exc: BaseException) -> str:
    if isinstance(exc, RuntimeError) and exc.args and isinstance(exc.args[0], str):
        text = exc.args[0]
    else:
        text = str(exc)
    text = re.sub(r"<mt940\.tags\.(\w+) object at 0x[0-9a-fA-F]+>", r"\1 tag", text)
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


def _parse(block: str) -> list[Any]:
    import mt940

    log = logging.getLogger("mt940")
    level = log.level
    log.setLevel(logging.CRITICAL)  # the library logs every failed tag match as an error
    try:
        return list(mt940.parse(block, options=mt940.Options.all()))
    finally:
        log.setLevel(level)


def _join_61(block: str) -> str:
    """Join a :61: tag's wrapped supplementary-detail lines into one (ING wraps them)."""

    def join(m: re.Match[str]) -> str:
        first, _, rest = m.group(0).partition("\n")
        return first + ("\n" + rest.replace("\n", "") if rest else "")

    return re.sub(r"(?m)^:61:[^\n]*(?:\n(?!:|-)[^\n]*)*", join, block)


def _clean(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return None if text.upper() in _NULL_REFS else text


def _row(tx: Any, statement_ref: str | None, number: int) -> dict[str, str | None]:
    data = tx.data
    amount = data.get("amount")
    value = getattr(amount, "amount", None)
    date = data.get("date")
    if value is None or date is None:
        missing = "amount" if value is None else "value date"
        return {"__error": f"MT940 :61: line without {missing}"}
    currency = getattr(amount, "currency", None) or data.get("currency")
    reference = None
    for key in ("end_to_end_reference", "customer_reference", "bank_reference"):
        reference = _clean(data.get(key))
        if reference:
            break
    detail = data.get("transaction_details") or data.get("non_swift_text")
    ref = (statement_ref or "MT940").strip()
    return {
        "id": f"{ref}-{number}",
        "time": date.isoformat()[:10],
        "amount": format(value, "f"),
        "currency": str(currency).strip() if currency else None,
        "kind": "debit" if value < 0 else "credit",
        "reference": reference,
        "account": _clean(data.get("applicant_iban")),
        "detail": str(detail).replace("\n", "").strip() if detail else None,
    }


def _entry_chunks(block: str) -> tuple[str, list[str]]:
    """(the block's text before its first :61:, one text per :61: entry up to the next tag)."""
    starts = [m.start() for m in _ENTRY.finditer(block)]
    if not starts:
        return block, []
    head = block[: starts[0]]
    chunks = []
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(block)
        text = block[start:end]
        # stop at the first tag after the entry's own :86:
        for m in _ANY_TAG.finditer(text, 4):
            if not text.startswith(":86:", m.start()):
                text = text[: m.start()]
                break
        chunks.append(text)
    return head, chunks


def _parse_block(block: str) -> list[tuple[Any | None, str | None]]:
    """(transaction or None, error or None) per :61: entry of one statement block."""
    _, chunks = _entry_chunks(block)
    error: str | None = None
    joined = _SINGLE_LINE.sub(r"\1", block)
    for candidate in (block, joined, _join_61(joined)):
        try:
            txs = _parse(candidate)
        except Exception as exc:  # the library raises RuntimeError, ValueError, KeyError...
            error = _first_line(exc)
            continue
        if len(txs) == len(chunks):
            return [(tx, None) for tx in txs]
        error = f"parsed {len(txs)} entries from {len(chunks)} :61: lines"
    # Entry by entry, under the block's header (or a bare one when the header itself is bad).
    head, _ = _entry_chunks(joined)
    ref = re.match(r"\s*:20:([^\n]*)", head)
    bare = f":20:{ref.group(1) if ref else 'X'}\n"
    out: list[tuple[Any | None, str | None]] = []
    for chunk in chunks:
        result: tuple[Any | None, str | None] = (None, f"cannot read MT940 entry: {error}")
        for prefix, body in ((head, chunk), (head, _join_61(chunk)), (bare, _join_61(chunk))):
            try:
                txs = _parse(prefix + body)
            except Exception as exc:
                result = (None, f"cannot read MT940 entry: {_first_line(exc)}")
                continue
            if len(txs) == 1:
                result = (txs[0], None)
                break
        out.append(result)
    return out


def scan(path: Path, profile: Profile) -> RawTable:
    where = str(path)
    text = decode(path.read_bytes(), profile.encoding)
    if not re.search(r"(?m)^:20:", text):
        raise InputError("not an MT940 statement (no :20: tag)", where)
    # physical line of every :61: tag in the file, in order
    line_of = [text.count("\n", 0, m.start()) + 1 for m in _ENTRY.finditer(text)]
    records: dict[str, list[Any]] = {c: [] for c in (*COLUMNS, LINE, ERROR, RAW)}
    number = 0
    blocks = [b for b in _STATEMENT.split(text) if b.startswith(":20:")]
    for block in blocks:
        ref_match = re.match(r":20:([^\n]*)", block)
        statement_ref = ref_match.group(1).strip() if ref_match else None
        _, chunks = _entry_chunks(block)
        for (tx, error), chunk in zip(_parse_block(block), chunks, strict=True):
            number += 1
            row: dict[str, str | None] = {}
            if tx is not None:
                try:
                    row = _row(tx, statement_ref, number)
                except Exception as exc:  # a value the library gave in an unexpected shape
                    row = {"__error": f"cannot read MT940 entry: {_first_line(exc)}"}
                error = row.pop("__error", None)
            for c in COLUMNS:
                records[c].append(None if error else row.get(c))
            records[LINE].append(line_of[number - 1] if number <= len(line_of) else number)
            records[ERROR].append(error)
            records[RAW].append(chunk.rstrip("\n").replace("\n", " | "))
    if number == 0 and not re.search(r"(?m)^:6[02][FM]:", text):
        raise InputError("MT940 file has no :61: entries and no balances", where)
    last = blocks[-1] if blocks else ""
    if re.search(r"(?m)^:60[FM]:", last) and not re.search(r"(?m)^:62[FM]:", last):
        raise InputError("truncated MT940: the last statement has no closing balance", where)
    if number == 0:
        for block in blocks:
            try:
                _parse(_SINGLE_LINE.sub(r"\1", block))
            except Exception as exc:
                raise InputError(
                    f"cannot read MT940 statement: {_first_line(exc)}", where
                ) from None
    schema = {**dict.fromkeys(COLUMNS, pl.String), LINE: pl.Int64, ERROR: pl.String, RAW: pl.String}
    frame = pl.DataFrame(records, schema=schema)
    return RawTable(frame=frame.lazy(), columns=COLUMNS, raw=pl.col(RAW), rows=frame.height)
