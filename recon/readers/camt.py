"""ISO 20022 bank-to-customer cash management XML: camt.052 (Rpt), camt.053 (Stmt), camt.054
(Ntfctn), any message version, and a .zip holding several such files.

Parsed with lxml from the file's bytes (so the XML declaration picks the encoding: ISO-8859-1
files read as such). Elements are matched on their local name, so every namespace version works.
The output columns carry canonical names, so the built-in `canonical` profile maps them:

* `id`: statement id + entry number (+ `.n` for the n-th TxDtls of a split entry; a zip member's
  name in front), stable between runs;
* `time`: booking date (else value date) as `YYYY-MM-DD`; a `DtTm` is passed on as ISO date/time;
  a date with an offset (`2017-04-01+02:00`) becomes the date;
* `amount`: the `Amt` text, signed (DBIT negative), never via float; `currency`: `Amt@Ccy`;
* `kind`: `debit` or `credit`; `account`: the counterparty IBAN or other id;
* `references`: every reference of the row, distinct, joined by `|` (null when none), in this
  order: the transaction's EndToEndId and AcctSvcrRef, the entry's AcctSvcrRef, the
  transaction's TxId, InstrId, proprietary references (Refs/Prtry/Ref), ChqNb, ClrSysRef,
  structured creditor references (Strd/CdtrRefInf/Ref), PmtInfId and MsgId, then the entry's
  batch PmtInfId and MsgId; the entry's NtryRef only when there is none of those. Placeholders
  (NOTPROVIDED, NONREF ...) are left out. `reference` is the first of them;
* `memo`: the unstructured remittance (every Ustrd), AddtlRmtInf, AddtlTxInf and AddtlNtryInf,
  joined by ` / `.

An entry with several TxDtls becomes one row per TxDtls when each one has its own amount in the
entry's currency and their signed sum equals the entry amount (a batch booked as its parts);
otherwise it stays one row, so the rows always add up to the statement's balance movement.
LINE is the entry's number in the file (split rows share it). An entry that cannot be read
(no amount, no credit/debit mark, no date) is a row with ERROR set; a file that is not
well-formed XML, or holds no camt statement, raises InputError.
"""

from __future__ import annotations

import re
import zipfile
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
from lxml import etree

from recon.errors import InputError
from recon.readers import ERROR, LINE, RAW, RawTable
from recon.references import clean_references

if TYPE_CHECKING:
    from recon.profiles import Profile

NAME = "camt"
COLUMNS = ("id", "time", "amount", "currency", "kind", "reference", "account", "references", "memo")
_ZIP_MAGIC = b"PK\x03\x04"
_CAMT_NS = re.compile(rb"camt\.05[234]\.", re.IGNORECASE)
_STATEMENTS = ("Stmt", "Rpt", "Ntfctn")
_RAW_LIMIT = 4000  # characters of an entry's XML kept for rejected-row output


def _looks_camt(head: bytes) -> bool:
    if b"BkToCstmr" in head:
        return True
    return b"<Document" in head and _CAMT_NS.search(head) is not None


def _zip_is_camt(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            return bool(members) and any(_looks_camt(archive.open(m).read(4096)) for m in members)
    except (zipfile.BadZipFile, OSError, RuntimeError, ValueError):
        return False


def recognise(path: Path, head: bytes) -> bool:
    if head.startswith(_ZIP_MAGIC):
        return _zip_is_camt(path)
    return _looks_camt(head)


def header(path: Path, head: bytes, profile: Profile) -> list[str]:
    return list(COLUMNS)


# --- element helpers (local names, any namespace) ---------------------------------------------


def _local(el: etree._Element) -> str:
    tag = el.tag
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _kids(el: etree._Element | None, name: str) -> list[etree._Element]:
    if el is None:
        return []
    return [c for c in el if _local(c) == name]


def _kid(el: etree._Element | None, *names: str) -> etree._Element | None:
    """The first element down the path of local names, or None."""
    for name in names:
        found = _kids(el, name)
        if not found:
            return None
        el = found[0]
    return el


def _text(el: etree._Element | None, *names: str) -> str | None:
    node = _kid(el, *names) if names else el
    if node is None or node.text is None:
        return None
    text = " ".join(node.text.split())
    return text or None


def _date(el: etree._Element | None) -> str | None:
    """`Dt` (date, maybe with an offset: the date) or `DtTm` (ISO date/time as written)."""
    day = _text(el, "Dt")
    if day:
        return day[:10]
    return _text(el, "DtTm")


def _account(party_acct: etree._Element | None) -> str | None:
    ident = _kid(party_acct, "Id")
    return _text(ident, "IBAN") or _text(ident, "Othr", "Id")


def _sign(amount: str, mark: str) -> str:
    amount = amount.strip().lstrip("+")
    if mark == "DBIT" and not amount.startswith("-"):
        return "-" + amount
    return amount


def _decimal(text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


# --- entries -----------------------------------------------------------------------------------


def _tx_amount(tx: etree._Element) -> etree._Element | None:
    amt = _kid(tx, "Amt")  # (an lxml element without children is falsy: no `or` here)
    return amt if amt is not None else _kid(tx, "AmtDtls", "TxAmt", "Amt")


def _split(entry: etree._Element, txs: list[etree._Element], ccy: str | None, mark: str) -> bool:
    """True when the entry is booked as its TxDtls: each has an amount, all add up exactly."""
    if len(txs) < 2:
        return False
    entry_amount = _decimal(_text(entry, "Amt"))
    total = Decimal(0)
    for tx in txs:
        amt = _tx_amount(tx)
        value = _decimal(_text(amt))
        if amt is None or value is None or amt.get("Ccy") != ccy:
            return False
        tx_mark = _text(tx, "CdtDbtInd") or mark
        total += -value if tx_mark == "DBIT" else value
    if entry_amount is None:
        return False
    return total == (-entry_amount if mark == "DBIT" else entry_amount)


def _tx_refs(tx: etree._Element | None, entry: etree._Element) -> list[str | None]:
    """A row's references in order of preference (placeholders still in): the transaction's
    EndToEndId and AcctSvcrRef, the entry's AcctSvcrRef, the transaction's TxId, InstrId,
    proprietary references, cheque number, clearing reference, structured creditor references,
    PmtInfId and MsgId, then the entry's batch PmtInfId and MsgId; NtryRef when none is there."""
    refs = _kid(tx, "Refs")
    out = [_text(refs, "EndToEndId"), _text(refs, "AcctSvcrRef"), _text(entry, "AcctSvcrRef")]
    out += [_text(refs, name) for name in ("TxId", "InstrId")]
    out += [_text(p, "Ref") for p in _kids(refs, "Prtry")]
    out += [_text(refs, name) for name in ("ChqNb", "ClrSysRef")]
    for strd in _kids(_kid(tx, "RmtInf"), "Strd"):
        out += [_text(c, "Ref") for c in _kids(strd, "CdtrRefInf")]
    out += [_text(refs, "PmtInfId"), _text(refs, "MsgId")]
    batches = [b for d in _kids(entry, "NtryDtls") for b in _kids(d, "Btch")]
    out += [_text(b, name) for b in batches for name in ("PmtInfId", "MsgId")]
    if not clean_references(out):  # the entry's number in the statement: only as a last resort
        out.append(_text(entry, "NtryRef"))
    return out


def _tx_texts(tx: etree._Element | None) -> list[str]:
    """A TxDtls' free text: every Ustrd, AddtlRmtInf, then AddtlTxInf."""
    remit = _kid(tx, "RmtInf")
    texts = [_text(u) for u in _kids(remit, "Ustrd")]
    texts += [_text(a) for s in _kids(remit, "Strd") for a in _kids(s, "AddtlRmtInf")]
    texts.append(_text(tx, "AddtlTxInf"))
    return [t for t in texts if t]


def _counterparty(tx: etree._Element | None, mark: str) -> str | None:
    """Who paid us on a credit, whom we paid on a debit: that party's account."""
    role = "Cdtr" if mark == "DBIT" else "Dbtr"
    return _account(_kid(_kid(tx, "RltdPties"), role + "Acct"))


def _fields(
    tx: etree._Element | None, mark: str, entry: etree._Element, info: str | None
) -> dict[str, str | None]:
    """reference, account, references and memo of one row (a TxDtls, or the entry alone)."""
    refs = clean_references(_tx_refs(tx, entry))
    memo = " / ".join(dict.fromkeys([*_tx_texts(tx), *([info] if info else [])])) or None
    return {
        "reference": refs[0] if refs else None,
        "account": _counterparty(tx, mark),
        "references": "|".join(refs) if refs else None,
        "memo": memo,
    }


def _raw(entry: etree._Element) -> str:
    text = etree.tostring(entry, encoding="unicode", with_tail=False)
    text = re.sub(r"\s*\n\s*", "", text)
    text = re.sub(r' xmlns(:\w+)?="[^"]*"', "", text)
    return text[:_RAW_LIMIT]


def _entry_rows(entry: etree._Element, stmt_id: str, number: int) -> list[dict[str, object]]:
    """One row (or one per TxDtls of a split entry) for one Ntry."""
    raw = _raw(entry)
    base: dict[str, object] = {c: None for c in COLUMNS}
    base.update({"id": f"{stmt_id}:{number}", RAW: raw, ERROR: None})
    amt = _kid(entry, "Amt")
    mark = _text(entry, "CdtDbtInd") or ""
    amount = _text(amt)
    ccy = amt.get("Ccy") if amt is not None else None
    when = _date(_kid(entry, "BookgDt")) or _date(_kid(entry, "ValDt"))
    problems = []
    if amount is None:
        problems.append("entry has no Amt")
    if mark not in ("CRDT", "DBIT"):
        problems.append(f"CdtDbtInd '{mark}' is not CRDT or DBIT" if mark else "no CdtDbtInd")
    if when is None:
        problems.append("entry has no booking or value date")
    txs = [tx for d in _kids(entry, "NtryDtls") for tx in _kids(d, "TxDtls")]
    info = _text(entry, "AddtlNtryInf")
    base.update({"time": when, "currency": ccy})
    if problems:
        base[ERROR] = "; ".join(problems)
        base["amount"] = amount
        return [base]
    base["kind"] = "debit" if mark == "DBIT" else "credit"
    if not _split(entry, txs, ccy, mark):
        base.update(
            amount=_sign(amount or "", mark),
            **_fields(txs[0] if len(txs) == 1 else None, mark, entry, info),
        )
        return [base]
    rows = []
    for i, tx in enumerate(txs, 1):
        tx_mark = _text(tx, "CdtDbtInd") or mark
        row = dict(base)
        row.update(
            id=f"{stmt_id}:{number}.{i}",
            amount=_sign(_text(_tx_amount(tx)) or "", tx_mark),
            kind="debit" if tx_mark == "DBIT" else "credit",
            **_fields(tx, tx_mark, entry, info),
        )
        rows.append(row)
    return rows


def _document_rows(data: bytes, where: str, prefix: str, first: int) -> list[dict[str, object]]:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise InputError(f"not well-formed camt XML: {exc.msg or exc}", where) from None
    except ValueError as exc:
        raise InputError(f"cannot read camt XML: {exc}", where) from None
    messages = [m for m in root if _local(m).startswith("BkToCstmr")]
    if _local(root).startswith("BkToCstmr"):
        messages = [root]
    statements = [s for m in messages for s in m if _local(s) in _STATEMENTS]
    if not messages:
        raise InputError("no camt.052/053/054 message (BkToCstmr...) in the XML", where)
    rows: list[dict[str, object]] = []
    number = first
    for index, stmt in enumerate(statements, 1):
        stmt_id = prefix + (_text(stmt, "Id") or f"statement{index}")
        for entry in _kids(stmt, "Ntry"):
            number += 1
            for row in _entry_rows(entry, stmt_id, number - first):
                row[LINE] = number
                rows.append(row)
    return rows


def _zip_documents(path: Path, where: str) -> list[tuple[str, bytes]]:
    try:
        with zipfile.ZipFile(path) as archive:
            docs = []
            for member in sorted(archive.infolist(), key=lambda m: m.filename):
                if member.is_dir():
                    continue
                data = archive.read(member)
                if _looks_camt(data[:4096]):
                    docs.append((Path(member.filename).stem + ":", data))
    except (zipfile.BadZipFile, OSError, RuntimeError, ValueError) as exc:
        raise InputError(f"cannot read zip archive: {exc}", where) from None
    if not docs:
        raise InputError("zip archive holds no camt XML file", where)
    return docs


def scan(path: Path, profile: Profile) -> RawTable:
    where = str(path)
    data = path.read_bytes()
    zipped = data.startswith(_ZIP_MAGIC)
    documents = _zip_documents(path, where) if zipped else [("", data)]
    rows: list[dict[str, object]] = []
    for prefix, doc in documents:
        rows += _document_rows(doc, where, prefix, rows[-1][LINE] if rows else 0)  # type: ignore[arg-type]
    schema = {c: pl.String for c in COLUMNS} | {LINE: pl.Int64, ERROR: pl.String, RAW: pl.String}
    frame = pl.DataFrame(
        {name: [row[name] for row in rows] for name in schema}, schema=schema
    ).select(*COLUMNS, LINE, ERROR, RAW)
    return RawTable(frame=frame.lazy(), columns=COLUMNS, raw=pl.col(RAW), rows=frame.height)
