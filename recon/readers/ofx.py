"""OFX / QFX bank and credit-card statements: OFX 1.x (SGML) and 2.x (XML).

ofxtools' parser reads the header (OFX 1 `KEY:VALUE` lines or the OFX 2 processing instruction)
and the body into an element tree of raw text. Its `convert()` step is not used: it validates
against the OFX spec and rejects common real files (a BANKID longer than 9 characters, several
BANKTRANLISTs, a missing element), while a reconciliation only needs the transactions. Values are
read as text, so amounts stay exact.

Before ofxtools reads the file, blank lines before the header are dropped, and a body that is
valid UTF-8 under a `CHARSET:1252` header (a common export bug) is read as UTF-8. When ofxtools
still rejects the file (a header it does not accept, a broken nesting), a small regex tokenizer
over the body (`_sgml_tree`) builds the same tree: a tag followed by text is a leaf, closed or
not; a closing tag closes everything up to its opening tag. The <STMTTRN> blocks are read from
that tree the same way.

Output columns carry canonical names: `id` (FITID, else account + number), `time` (DTPOSTED as
`YYYY-MM-DD`, or ISO date/time with the offset in brackets when it has a time that is not
midnight), `amount` (TRNAMT text, signed as written), `currency` (the transaction's
CURRENCY/CURSYM, else the statement's CURDEF), `kind` (debit when negative, else credit),
`references` (REFNUM, FITID, CHECKNUM and SRVRTID, distinct, joined by `|`; placeholders left
out; null when none), `reference` (the first of them: REFNUM, else FITID ...), `account`
(BANKACCTTO/CCACCTTO ACCTID) and `memo` (NAME / MEMO). Bank (STMTRS) and credit-card
(CCSTMTRS) statements are read; investment statements (INVSTMTRS) are not. LINE is the
transaction's number in the file.
"""

from __future__ import annotations

import io
import re
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from recon.errors import InputError
from recon.readers import ERROR, LINE, RAW, RawTable
from recon.references import clean_references

if TYPE_CHECKING:
    from recon.profiles import Profile

NAME = "ofx"
COLUMNS = ("id", "time", "amount", "currency", "kind", "reference", "account", "references", "memo")
_STATEMENTS = ("STMTRS", "CCSTMTRS")
_TOKEN = re.compile(r"<(/?)([A-Za-z0-9_.]+)[^>]*>([^<]*)")
_DATE = re.compile(
    r"^(\d{4})(\d{2})(\d{2})"
    r"(?:(\d{2})(\d{2})(?:(\d{2})(?:\.(\d{1,6}))?)?)?"
    r"\s*(?:\[\s*([+-]?)(\d{1,2})(?:\.(\d{1,2}))?\s*(?::[^\]]*)?\])?\s*$"
)
_AMOUNT = re.compile(r"^-?(\d+\.?\d*|\.\d+)$")
_CHARSETS = {"1252": "cp1252", "ISO-8859-1": "latin-1", "NONE": "utf-8", "UTF-8": "utf-8"}


def recognise(path: Path, head: bytes) -> bool:
    upper = head.upper()
    return b"OFXHEADER" in upper or b"<OFX>" in upper


def header(path: Path, head: bytes, profile: Profile) -> list[str]:
    return list(COLUMNS)


# --- reading the tree --------------------------------------------------------------------------


def _prepare(data: bytes) -> bytes:
    """Drop blank lines before the header; read UTF-8 bodies declared as CHARSET:1252 as UTF-8."""
    data = data.lstrip(b"\r\n\t \xef\xbb\xbf")
    if re.search(rb"CHARSET:\s*(1252|ISO-8859-1)", data[:1000]) and re.search(
        rb"[\x80-\xff]", data
    ):
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return data
        return re.sub(rb"CHARSET:\s*(1252|ISO-8859-1)", b"CHARSET:NONE", data, count=1)
    return data


def _ofxtools_tree(data: bytes) -> ET.Element:
    from ofxtools.Parser import OFXTree

    tree = OFXTree()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # private tags (INTU.BID...) warn; they are harmless
        return tree.parse(io.BytesIO(data))


def _decode_body(data: bytes) -> str:
    start = data.upper().find(b"<OFX")
    body = data[start:]
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    charset = re.search(rb"CHARSET:\s*([\w-]+)", data[: max(start, 0)])
    codec = _CHARSETS.get(charset.group(1).decode().upper(), "cp1252") if charset else "cp1252"
    return body.decode(codec, errors="replace")


def _sgml_tree(text: str) -> ET.Element:
    """Fallback when ofxtools rejects a file: tokenise tags and text with a regex.

    `<TAG>text` is a leaf (its `</TAG>`, if any, is skipped); `<TAG>` followed by a tag opens an
    aggregate; `</TAG>` closes the innermost open TAG and everything opened inside it.
    """
    root = ET.Element("ROOT")
    stack = [root]
    tokens = list(_TOKEN.finditer(text))
    skip_close: str | None = None
    for match in tokens:
        closing, tag, after = match.group(1), match.group(2).upper(), match.group(3)
        if closing:
            if tag == skip_close:
                skip_close = None
                continue
            skip_close = None
            names = [el.tag for el in stack]
            if tag in names[1:]:
                del stack[len(names) - 1 - names[::-1].index(tag) :]
            continue
        skip_close = None
        element = ET.SubElement(stack[-1], tag)
        value = after.strip()
        if value:
            element.text = value
            skip_close = tag
        else:
            end = match.end()
            if text.startswith(f"</{tag}>", end) or text.upper().startswith(f"</{tag}>", end):
                skip_close = tag  # an empty, closed leaf: <FITID></FITID>
            else:
                stack.append(element)
    return root


def _tree(data: bytes, where: str) -> ET.Element:
    if b"<OFX" not in data.upper():
        raise InputError("no <OFX> element: not an OFX/QFX statement", where)
    try:
        return _ofxtools_tree(data)
    except Exception:  # ofxtools raises many kinds for real-world files: use the tokenizer
        return _sgml_tree(_decode_body(data))


# --- transactions ------------------------------------------------------------------------------


def _text(el: ET.Element | None, path: str) -> str | None:
    if el is None:
        return None
    node = el.find(path)
    if node is None:
        node = el.find(".//" + path)
    if node is None or node.text is None:
        return None
    text = " ".join(node.text.split())
    return text or None


def _time(text: str | None) -> str | None:
    """OFX date -> ISO date, or ISO date/time (+offset) when a non-midnight time is given."""
    if text is None:
        return None
    m = _DATE.match(text)
    if not m:
        return text  # passed on as written: normalize rejects it with the text in the reason
    y, mo, d, hh, mi, ss, frac, sign, oh, om = m.groups()
    day = f"{y}-{mo}-{d}"
    if hh is None or (hh == mi == (ss or "00") == "00" and not (frac or "").strip("0")):
        return day  # no clock, or midnight (how most banks write a posting date)
    stamp = f"{day}T{hh}:{mi}:{ss or '00'}" + (f".{frac}" if frac else "")
    if oh is not None:
        minutes = om.ljust(2, "0") if om else "00"
        stamp += f"{sign or '+'}{int(oh):02d}:{minutes}"
    return stamp


def _amount(text: str | None) -> tuple[str | None, str | None]:
    """(plain signed decimal text, error)."""
    if text is None:
        return None, "transaction has no TRNAMT"
    value = text.replace(" ", "").lstrip("+")
    if "," in value and "." not in value:
        value = value.replace(",", ".")  # OFX allows a comma as the decimal mark
    if not _AMOUNT.match(value):
        return text, f"TRNAMT '{text}' is not a decimal number"
    return value, None


def _raw(trn: ET.Element) -> str:
    parts = [
        f"{el.tag}={' '.join(el.text.split())}" for el in trn.iter() if el.text and el.text.strip()
    ]
    return "; ".join(parts)


def _rows(root: ET.Element) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    statements = [el for el in root.iter() if el.tag in _STATEMENTS]
    for stmt in statements:
        curdef = _text(stmt, "CURDEF")
        acct_from = stmt.find("BANKACCTFROM")
        if acct_from is None:
            acct_from = stmt.find("CCACCTFROM")
        acct_id = _text(acct_from, "ACCTID") or "account"
        for trn in stmt.iter("STMTTRN"):
            number = len(rows) + 1
            amount, error = _amount(_text(trn, "TRNAMT"))
            when = _time(_text(trn, "DTPOSTED"))
            if when is None:
                error = "; ".join(e for e in (error, "transaction has no DTPOSTED") if e)
            fitid = _text(trn, "FITID")
            currency = None
            for agg in trn.findall("CURRENCY"):  # amounts in this currency (ORIGCURRENCY: not)
                currency = _text(agg, "CURSYM")
            texts = (_text(trn, "NAME"), _text(trn, "MEMO"))  # NAME: also PAYEE's
            memo = " / ".join(dict.fromkeys(t for t in texts if t)) or None
            refs = clean_references(
                _text(trn, tag) for tag in ("REFNUM", "FITID", "CHECKNUM", "SRVRTID")
            )
            to = trn.find("BANKACCTTO")
            if to is None:
                to = trn.find("CCACCTTO")
            rows.append(
                {
                    "id": fitid or f"{acct_id}:{number}",
                    "time": when,
                    "amount": amount,
                    "currency": currency or curdef,
                    "kind": None
                    if error or amount is None
                    else ("debit" if amount.startswith("-") else "credit"),
                    "reference": refs[0] if refs else None,
                    "account": _text(to, "ACCTID"),
                    "references": "|".join(refs) if refs else None,
                    "memo": memo,
                    LINE: number,
                    ERROR: error,
                    RAW: _raw(trn),
                }
            )
    return rows


def scan(path: Path, profile: Profile) -> RawTable:
    where = str(path)
    rows = _rows(_tree(_prepare(path.read_bytes()), where))
    schema = {c: pl.String for c in COLUMNS} | {LINE: pl.Int64, ERROR: pl.String, RAW: pl.String}
    frame = pl.DataFrame({name: [row[name] for row in rows] for name in schema}, schema=schema)
    return RawTable(frame=frame.lazy(), columns=COLUMNS, raw=pl.col(RAW), rows=frame.height)
