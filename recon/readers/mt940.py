"""SWIFT MT940 / MT942 bank statements, parsed with the `mt-940` library.

Each `:61:` statement line becomes one row of canonical-named STRING columns (id, time,
amount, currency, kind, reference, account, references, memo), so the built-in `canonical`
profile maps them with no configuration. Amounts are signed exact decimals (debit and reversal
of credit negative); `time` is the value date (date only). LINE is the physical line of the
`:61:` tag. A statement block the library cannot parse is retried after joining wrapped
single-line tags, then entry by entry; an entry that still cannot be read becomes a row with
ERROR set (it lands in rejected.csv) rather than being dropped.

References: every identifier the entry carries, in order of preference, joined by `|` in
`references` (null when none): the end-to-end reference of the `:86:` text (`/EREF/...` in ING
and Rabobank style, `EREF+...` in the German `?20`... sub-fields), the `:61:` customer reference,
the bank reference after `//`, then the `:86:` KREF, MREF, PREF, MARF, TFNR and TNR parts and a
structured creditor reference (`/REMI/STRD/CUR/...`). Placeholders are left out: NONREF,
NOTPROVIDED, ING's `EREF`/`PREF`/`MARF` (they only name the `:86:` sub-field that holds the
reference), `KREF+` style markers and fillers such as `X`, `N` or `0000`. `reference` is the
first of them. `memo` is the `:86:` text (or the `:NS:` text) with wrapped lines joined (glued
where the line was full, 65 characters, or where the text is structured, else with a space; of
German `?NN` sub-fields, the posting text, the purpose and the name), then the `:61:`
supplementary details.

Placeholders (NONREF, KREF+ ...) are dropped by recon.references, as in every reader.
"""

from __future__ import annotations

import functools
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from recon.errors import InputError
from recon.readers import ERROR, LINE, RAW, RawTable
from recon.references import clean_references, is_placeholder

if TYPE_CHECKING:
    from recon.profiles import Profile

NAME = "mt940"
COLUMNS = ("id", "time", "amount", "currency", "kind", "reference", "account", "references", "memo")

_TAG_20 = re.compile(rb"(?m)^\s*:20:")
_TAG_BODY = re.compile(rb"(?m)^\s*:(?:61|60[FM]|62[FM]):")
_STATEMENT = re.compile(r"(?m)^(?=:20:)")
_ENTRY = re.compile(r"(?m)^:61:")
_ANY_TAG = re.compile(r"(?m)^:[0-9]{2}[A-Z]?:|^:NS:")
# Tags whose content is one line: a wrapped line is joined back (seen in ING exports).
_SINGLE_LINE = re.compile(r"(?m)^(:(?:20|25|28C?|6[02][FM]|64|65|90[CD]|34F|13D?):[^\n]*)\n(?!:|-)")
# :86: parts that hold a reference, in order of preference (EREF first, then after the :61: refs)
_FIRST_KEYS = ("EREF",)
_LATER_KEYS = ("KREF", "MREF", "PREF", "MARF", "TFNR", "TNR")
_SUBFIELD = re.compile(r"\?(\d{2})")
_SEPA_ITEM = re.compile(r"^([A-Z]{4})\+")
_PLAIN_REF = re.compile(r"(?<![A-Za-z])(EREF|KREF|MREF|PREF|TFNR|TNR)\s*[+:]\s*([^\s;,]+)", re.I)
_WIDTH = 65  # an MT940 :86: line holds at most 65 characters (6*65x)
_SUBFIELD_WIDTH = 27  # a German ?20..?29 purpose sub-field holds at most 27


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
    text = " ".join(str(value).split())
    return None if is_placeholder(text) else text


def _unwrap(text: str, glue: bool) -> str:
    """Join the :86: text's lines: glued when the line was full (or `glue`), else a space."""
    lines = text.split("\n")
    out = lines[0]
    for i, line in enumerate(lines[1:]):
        width = len(lines[i]) + (4 if i == 0 else 0)  # the first line follows ':86:'
        out += ("" if glue or width >= _WIDTH else " ") + line
    return out


def _subfield_items(text: str) -> tuple[str | None, list[str], list[str]]:
    """German structured :86: (`GVC?00posting?20purpose...?32name`): (posting text, purpose
    items, name parts). A purpose sub-field that starts with a SEPA keyword (`EREF+`) starts an
    item; a full sub-field (27 characters) goes on in the next one."""
    parts = _SUBFIELD.split(text)
    fields = list(zip(parts[1::2], parts[2::2], strict=True))
    posting = next((v.strip() for k, v in fields if k == "00" and v.strip()), None)
    items: list[str] = []
    full = False
    for key, value in fields:
        if not ("20" <= key <= "29" or "60" <= key <= "63"):
            continue
        if items and full and not _SEPA_ITEM.match(value):
            items[-1] += value
        else:
            items.append(value)
        full = len(value) >= _SUBFIELD_WIDTH
    names = [v.strip() for k, v in fields if k in ("32", "33") and v.strip()]
    return posting, [" ".join(i.split()) for i in items if i.strip()], names


def _details(text: str | None) -> tuple[dict[str, list[str]], str | None]:
    """({key: values} of the references in a :86: text, the memo text)."""
    if not text:
        return {}, None
    refs: dict[str, list[str]] = {}
    body = text.strip("\n")
    if re.match(r"^\s*\d{3}\s*\?", body.replace("\n", "")):  # German ?NN sub-fields
        posting, items, names = _subfield_items(_unwrap(body, glue=True))
        for item in items:
            m = _SEPA_ITEM.match(item)
            if m:
                refs.setdefault(m.group(1), []).append(item[m.end() :].strip())
        memo = " ".join(p for p in (posting, *items, " ".join(names)) if p)
        return refs, memo or None
    if re.match(r"^\s*/[A-Z]{4}/", body):  # ING / Rabobank /CODE/value/ fields
        flat = _unwrap(body, glue=True)
        for key in (*_FIRST_KEYS, *_LATER_KEYS):
            for m in re.finditer(rf"(?:^|/)/?{key}/([^/]+)", flat):
                refs.setdefault(key, []).append(m.group(1))
        creditor = re.search(r"/REMI/STRD/CUR/([^/]+)", flat)
        if creditor:
            refs.setdefault("CUR", []).append(creditor.group(1))
        return refs, " ".join(flat.split()) or None
    flat = _unwrap(body, glue=False)
    for m in _PLAIN_REF.finditer(flat):
        refs.setdefault(m.group(1).upper(), []).append(m.group(2))
    return refs, " ".join(flat.split()) or None


def _text_86(chunk: str) -> str | None:
    """The entry's :86: text as written (lines kept; a lone `-` line dropped), or None."""
    m = re.search(r"(?m)^:86:", chunk)
    if not m:
        return None
    lines = [ln.rstrip() for ln in chunk[m.end() :].strip("\n").split("\n") if ln.strip() != "-"]
    return "\n".join(lines) or None


@functools.cache
def _statement_tag() -> Any:
    """The library's :61: tag (its pattern reads the customer and bank references)."""
    from mt940.tags import Statement

    return Statement()


def _refs_61(chunk: str, data: dict[str, Any]) -> tuple[object, object]:
    """(customer reference, bank reference) as the :61: line writes them. The library's values
    are the fallback: its :86: processors overwrite the customer reference with a KREF part."""
    body = re.split(r"(?m)^:86:", chunk[4:], maxsplit=1)[0].rstrip("\n")
    for text in (body, body.split("\n", 1)[0]):
        m = _statement_tag().re.match(text)
        if m:
            return m.group("customer_reference"), m.group("bank_reference")
    return data.get("customer_reference"), data.get("bank_reference")


def _row(tx: Any, statement_ref: str | None, number: int, chunk: str) -> dict[str, str | None]:
    data = tx.data
    amount = data.get("amount")
    value = getattr(amount, "amount", None)
    date = data.get("date")
    if value is None or date is None:
        missing = "amount" if value is None else "value date"
        return {"__error": f"MT940 :61: line without {missing}"}
    currency = getattr(amount, "currency", None) or data.get("currency")
    text = _text_86(chunk)
    found, memo = _details(text)
    if not text and data.get("non_swift_text"):  # :NS: sub-fields instead of :86:
        memo = " ".join(str(data["non_swift_text"]).split()) or None
    extra = " ".join(str(data.get("extra_details") or "").split())
    if extra:
        memo = f"{memo} / {extra}" if memo else extra
    customer, bank = _refs_61(chunk, data)
    refs = clean_references(
        [
            *(v for k in _FIRST_KEYS for v in found.get(k, [])),
            customer,
            bank,
            *(v for k in (*_LATER_KEYS, "CUR") for v in found.get(k, [])),
        ]
    )
    ref = (statement_ref or "MT940").strip()
    return {
        "id": f"{ref}-{number}",
        "time": date.isoformat()[:10],
        "amount": format(value, "f"),
        "currency": str(currency).strip() if currency else None,
        "kind": "debit" if value < 0 else "credit",
        "reference": refs[0] if refs else None,
        "account": _clean(data.get("applicant_iban")),
        "references": "|".join(refs) if refs else None,
        "memo": memo,
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
                    row = _row(tx, statement_ref, number, chunk)
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
