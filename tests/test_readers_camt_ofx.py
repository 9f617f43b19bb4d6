"""camt.05x and OFX/QFX readers: real third-party files and small self-made ones.

Expected figures are read independently of the readers (xml.etree for camt, a regex for OFX).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
import zipfile
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from conftest import DATA, SHARED

from recon.cli import cli
from recon.errors import InputError
from recon.load import load_side

REAL = SHARED / "realdata"
XML_DATA = DATA / "statements_xml"
CAMT = XML_DATA / "statement.camt053.xml"
OFX = XML_DATA / "statement.ofx"
needs_real = pytest.mark.skipif(
    not REAL.is_dir(), reason=f"third-party sample files not present ({REAL})"
)


# Fixtures whose own balances do not add up (checked by hand: the entry sum is what the file
# says, the closing balance is not opening + entries). Their rows and sums are still checked.
UNBALANCED_SOURCES = {
    "genkgo-camt__camt053.v2.five.decimals.xml": "18.150 + 8.850 != CLBD 27.050",
    "oca-bank-statement-import__test-camt053": "15568.27 - 12.99 != CLBD 15121.12",
    "oca-bank-statement-import__test-camt053.zip": "15568.27 + 57.01 != CLBD 15121.12",
}


def _files(kind: str) -> list[Path]:
    return sorted((REAL / kind).iterdir()) if (REAL / kind).is_dir() else []


# --- independent camt figures (xml.etree) -------------------------------------------------------


def _local(el: ET.Element) -> str:
    return el.tag.rsplit("}", 1)[-1]


def _children(el: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in el if _local(c) == name]


def _child(el: ET.Element, name: str) -> ET.Element | None:
    found = _children(el, name)
    return found[0] if found else None


def _signed(el: ET.Element, mark: str) -> tuple[Decimal, str]:
    value = Decimal(el.text.strip())
    return (-value if mark == "DBIT" else value), el.get("Ccy")


def _camt_documents(path: Path) -> list[bytes]:
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return [archive.read(n) for n in archive.namelist() if not n.endswith("/")]
    return [path.read_bytes()]


def _camt_statements(path: Path) -> list[dict]:
    """Per statement: expected rows, signed entry sum, opening and closing balance."""
    out = []
    for doc in _camt_documents(path):
        root = ET.fromstring(doc)
        for stmt in (s for m in root for s in m if _local(s) in ("Stmt", "Rpt", "Ntfctn")):
            rows, total, currencies = 0, Decimal(0), set()
            for entry in _children(stmt, "Ntry"):
                mark = _child(entry, "CdtDbtInd").text.strip()
                amount, ccy = _signed(_child(entry, "Amt"), mark)
                total += amount
                currencies.add(ccy)
                txs = [t for d in _children(entry, "NtryDtls") for t in _children(d, "TxDtls")]
                parts = []
                for tx in txs:
                    amt = _child(tx, "Amt")
                    if amt is None:
                        details = _child(tx, "AmtDtls")
                        tx_amt = _child(details, "TxAmt") if details is not None else None
                        amt = _child(tx_amt, "Amt") if tx_amt is not None else None
                    if amt is None or amt.get("Ccy") != ccy:
                        parts = None
                        break
                    tx_mark = _child(tx, "CdtDbtInd")
                    parts.append(_signed(amt, tx_mark.text if tx_mark is not None else mark)[0])
                split = parts is not None and len(parts) > 1 and sum(parts) == amount
                rows += len(parts) if split else 1
            balances = {}
            for bal in _children(stmt, "Bal"):
                code = "".join(c.text or "" for c in bal.iter() if _local(c) == "Cd").strip()
                value, ccy = _signed(_child(bal, "Amt"), _child(bal, "CdtDbtInd").text.strip())
                balances[code[:4]] = (value, ccy)
            out.append(
                {"rows": rows, "total": total, "currencies": currencies, "balances": balances}
            )
    return out


def _check_camt(path: Path) -> None:
    loaded = load_side(path, "bank")
    statements = _camt_statements(path)
    assert loaded.frame.height + loaded.rejected.height == sum(s["rows"] for s in statements)
    assert loaded.rejected.height == 0, loaded.rejected
    minor = {"JPY": 0}
    total_loaded: dict[str, int] = dict(
        loaded.frame.group_by("currency").agg(pl.col("amount").sum()).iter_rows()
    )
    expected: dict[str, Decimal] = {}
    for stmt in statements:
        for ccy in stmt["currencies"]:
            expected.setdefault(ccy, Decimal(0))
        if len(stmt["currencies"]) == 1:
            (ccy,) = stmt["currencies"]
            expected[ccy] += stmt["total"]
            opening = stmt["balances"].get("OPBD") or stmt["balances"].get("PRCD")
            closing = stmt["balances"].get("CLBD")
            balanced = path.name not in UNBALANCED_SOURCES
            if balanced and opening and closing and opening[1] == closing[1] == ccy:
                assert opening[0] + stmt["total"] == closing[0], f"{path.name}: balances"
    for ccy, value in expected.items():
        if all(len(s["currencies"]) == 1 for s in statements):
            assert total_loaded[ccy] == int(value * 10 ** minor.get(ccy, 2)), ccy


@needs_real
@pytest.mark.parametrize("path", _files("camt"), ids=lambda p: p.name)
def test_real_camt_loads_and_adds_up(path):
    _check_camt(path)


# --- independent OFX figures (regex) ------------------------------------------------------------


def _ofx_amounts(path: Path) -> list[Decimal]:
    text = path.read_bytes().decode("latin-1")
    blocks = re.findall(r"<STMTTRN>(.*?)</STMTTRN>", text, re.S | re.I)
    assert len(blocks) == len(re.findall(r"<STMTTRN>", text, re.I))
    return [
        Decimal(re.search(r"<TRNAMT>\s*([^<\s]+)", b).group(1).replace(",", ".")) for b in blocks
    ]


def _check_ofx(path: Path) -> None:
    loaded = load_side(path, "bank")
    amounts = _ofx_amounts(path)
    assert loaded.rows == len(amounts)
    assert loaded.frame.height == len(amounts), loaded.rejected
    assert loaded.frame["amount"].sum() == int(sum(amounts) * 100)
    assert loaded.frame["id"].null_count() == 0
    assert set(loaded.frame["kind"]) <= {"credit", "debit"}


@needs_real
@pytest.mark.parametrize("path", _files("ofx"), ids=lambda p: p.name)
def test_real_ofx_loads_every_stmttrn(path):
    _check_ofx(path)


# --- self-made files ----------------------------------------------------------------------------


def test_own_camt_rows_balances_and_columns():
    _check_camt(CAMT)
    frame = load_side(CAMT, "bank").frame
    assert frame["id"].to_list() == [
        "STMT-2026-11-20:1",
        "STMT-2026-11-20:2.1",
        "STMT-2026-11-20:2.2",
        "STMT-2026-11-20:3",
    ]
    assert frame["amount"].to_list() == [12800, 3550, 5000, -2000]
    assert frame["kind"].to_list() == ["credit", "credit", "credit", "debit"]
    assert frame["reference"].to_list() == ["POSREF001", "POSREF002", "POSREF003", "REFUND-1"]
    assert frame["account"].to_list() == ["DE89370400440532013000", None, None, "CUST-0042"]
    assert not frame["has_clock"].any()
    assert frame["time"].dt.date().cast(pl.String).unique().to_list() == ["2026-11-20"]


def test_own_ofx_rows_and_ledger_balance():
    _check_ofx(OFX)
    frame = load_side(OFX, "bank").frame
    assert frame["id"].to_list() == ["OFX-1", "OFX-2", "OFX-3"]
    assert frame["reference"].to_list() == ["POSREF001", "OFX-2", "OFX-3"]
    assert frame["has_clock"].to_list() == [False, True, False]  # midnight reads as a date
    assert frame["time"][1].isoformat() == "2026-11-20T13:30:00"  # +1:CET -> UTC
    # LEDGERBAL is the balance after the listed transactions; the opening was 1000.00.
    ledger = Decimal(re.search(r"<BALAMT>([^<\s]+)", OFX.read_text("latin-1")).group(1))
    assert Decimal(1000) + Decimal(frame["amount"].sum()) / 100 == ledger


def test_camt_zip_and_no_extension(tmp_path):
    plain = tmp_path / "statement"  # no extension
    plain.write_bytes(CAMT.read_bytes().split(b"?>", 1)[1])  # and no XML declaration
    archive = tmp_path / "statements.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(CAMT, "a.xml")
        zf.write(CAMT, "b.xml")
    assert load_side(plain, "bank").frame.height == 4
    loaded = load_side(archive, "bank")
    assert loaded.frame.height == 8
    assert loaded.frame["id"].n_unique() == 8
    assert loaded.frame["line"].to_list() == [1, 2, 2, 3, 4, 5, 5, 6]


def test_camt_latin1(tmp_path):
    text = CAMT.read_text().replace('encoding="UTF-8"', 'encoding="ISO-8859-1"')
    path = tmp_path / "latin1.xml"
    path.write_bytes(text.replace("Card sale T01", "Café Grüße").encode("latin-1"))
    assert load_side(path, "bank").frame.height == 4


@pytest.mark.parametrize(
    "mangle",
    [
        lambda b: b[: len(b) // 2],  # truncated
        lambda b: b.replace(b"Card sale T01", "Café".encode("latin-1")),  # bytes not UTF-8
        lambda b: b.replace(b"<Stmt>", b"<Stmt>", 1).replace(b"</Document>", b""),
    ],
    ids=["truncated", "wrong-encoding", "unclosed"],
)
def test_broken_camt_is_an_input_error(tmp_path, mangle):
    path = tmp_path / "broken.xml"
    path.write_bytes(mangle(CAMT.read_bytes()))
    with pytest.raises(InputError) as info:
        load_side(path, "bank")
    assert "not well-formed camt XML" in str(info.value)
    assert "\n" not in str(info.value)


def test_unreadable_camt_entry_is_rejected(tmp_path):
    path = tmp_path / "entry.xml"
    data = CAMT.read_bytes().replace(b"<CdtDbtInd>DBIT</CdtDbtInd>", b"", 1)
    path.write_bytes(data.replace(b'<Amt Ccy="EUR">128.00</Amt>', b'<Amt Ccy="EUR">12x</Amt>'))
    loaded = load_side(path, "bank")
    assert loaded.frame.height == 2
    assert loaded.rejected["line"].to_list() == [1, 3]
    assert "CdtDbtInd" in loaded.rejected["reason"][1]
    assert "REFUND-1" in loaded.rejected["raw"][1]


def test_broken_ofx(tmp_path):
    truncated = tmp_path / "truncated.ofx"
    data = OFX.read_bytes()
    truncated.write_bytes(data[: data.index(b"<TRNAMT>-20.00")])
    loaded = load_side(truncated, "bank")  # two whole transactions, a cut one rejected
    assert loaded.frame["id"].to_list() == ["OFX-1", "OFX-2"]
    assert loaded.rejected.height == 1
    assert "TRNAMT" in loaded.rejected["reason"][0]
    header_only = tmp_path / "header.ofx"
    header_only.write_bytes(data[: data.index(b"<OFX>")] + b"garbage\n")
    with pytest.raises(InputError):
        load_side(header_only, "bank")


def test_ofx_xml_v2(tmp_path):
    path = tmp_path / "v2.ofx"
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<?OFX OFXHEADER="200" VERSION="211" SECURITY="NONE" OLDFILEUID="NONE" '
        'NEWFILEUID="NONE"?>\n'
        "<OFX><CREDITCARDMSGSRSV1><CCSTMTTRNRS><TRNUID>1</TRNUID><STATUS><CODE>0</CODE>"
        "<SEVERITY>INFO</SEVERITY></STATUS><CCSTMTRS><CURDEF>USD</CURDEF><CCACCTFROM>"
        "<ACCTID>9</ACCTID></CCACCTFROM><BANKTRANLIST><DTSTART>20260101</DTSTART>"
        "<DTEND>20260102</DTEND><STMTTRN><TRNTYPE>DEBIT</TRNTYPE>"
        "<DTPOSTED>20260101</DTPOSTED><TRNAMT>-1.5</TRNAMT><FITID>X1</FITID>"
        "<CURRENCY><CURRATE>1.1</CURRATE><CURSYM>EUR</CURSYM></CURRENCY>"
        "</STMTTRN></BANKTRANLIST></CCSTMTRS></CCSTMTTRNRS></CREDITCARDMSGSRSV1></OFX>\n"
    )
    frame = load_side(path, "bank").frame
    assert frame.select("id", "amount", "currency", "kind").row(0) == ("X1", -150, "EUR", "debit")


# --- round trip through the CLI -------------------------------------------------------------------


def test_run_pos_against_camt_finds_the_orphan_sale(tmp_path):
    pos = tmp_path / "pos.csv"
    pos.write_text(
        "id,time,amount,currency,reference,kind\n"
        "P1,2026-11-20T09:15:02,128.00,EUR,POSREF001,sale\n"
        "P2,2026-11-20T10:40:11,35.50,EUR,POSREF002,sale\n"
        "P3,2026-11-20T11:05:00,50.00,EUR,POSREF003,sale\n"
        "P4,2026-11-20T12:30:00,42.00,EUR,POSREF004,sale\n"
        "P5,2026-11-20T13:00:00,20.00,EUR,REFUND-1,refund\n"
    )
    out = tmp_path / "out"
    res = CliRunner().invoke(
        cli, ["run", "--pos", str(pos), "--bank", str(CAMT), "--out", str(out)]
    )
    assert res.exit_code == 1, res.output
    disc = pl.read_csv(out / "discrepancies.csv", infer_schema=False)
    assert disc.select("type", "pos_ids").rows() == [("orphan_pos", "P4")], disc
    rejected = pl.read_csv(out / "rejected.csv", infer_schema=False)
    assert rejected.height == 0


# --- references and memo --------------------------------------------------------------------------

PLACEHOLDER_REFS = {"NOTPROVIDED", "NONREF", ""}
# camt reference elements a reader must keep (local names; Refs/Prtry/Ref and CdtrRefInf/Ref
# below). GrpHdr/MsgId names the statement message, not a transaction: not among them.
CAMT_REF_ELEMENTS = ("EndToEndId", "AcctSvcrRef", "InstrId", "TxId", "PmtInfId")


def _loaded_refs(path: Path) -> tuple[pl.DataFrame, set[str]]:
    frame = load_side(path, "bank").frame
    for row in frame.iter_rows(named=True):
        refs = row["references"] or []
        assert row["reference"] == (refs[0] if refs else None), row
        assert not set(refs) & PLACEHOLDER_REFS, row
    return frame, {r for refs in frame["references"].drop_nulls() for r in refs}


def _camt_expected(path: Path) -> tuple[set[str], set[str]]:
    """(every reference, every free text) the rows of the file should carry: the entry's own,
    and those of its TxDtls when they are rows (a single one, or a split batch)."""
    refs: set[str] = set()
    texts: set[str] = set()
    for doc in _camt_documents(path):
        root = ET.fromstring(doc)
        for entry in (e for e in root.iter() if _local(e) == "Ntry"):
            txs = [t for d in _children(entry, "NtryDtls") for t in _children(d, "TxDtls")]
            for name in ("AcctSvcrRef", "AddtlNtryInf"):
                el = _child(entry, name)
                if el is not None and el.text and el.text.strip() not in PLACEHOLDER_REFS:
                    (refs if name == "AcctSvcrRef" else texts).add(" ".join(el.text.split()))
            for tx in txs if len(txs) == 1 or _split_entry(entry, txs) else []:
                ids = _child(tx, "Refs")
                for name in CAMT_REF_ELEMENTS:
                    el = _child(ids, name) if ids is not None else None
                    if el is not None and el.text and el.text.strip() not in PLACEHOLDER_REFS:
                        refs.add(el.text.strip())
                for el in tx.iter():
                    if _local(el) == "CdtrRefInf" and _child(el, "Ref") is not None:
                        refs.add(_child(el, "Ref").text.strip())
                    if _local(el) in ("Ustrd", "AddtlTxInf") and el.text:
                        texts.add(" ".join(el.text.split()))
    return refs, texts


def _split_entry(entry: ET.Element, txs: list[ET.Element]) -> bool:
    """The reader's rule, restated: every TxDtls has an amount in the entry's currency and
    they add up to the entry."""
    amt = _child(entry, "Amt")
    mark = _child(entry, "CdtDbtInd").text.strip()
    total = Decimal(0)
    for tx in txs:
        tx_amt = _child(tx, "Amt")
        if tx_amt is None or tx_amt.get("Ccy") != amt.get("Ccy"):
            return False
        tx_mark = _child(tx, "CdtDbtInd")
        total += _signed(tx_amt, tx_mark.text.strip() if tx_mark is not None else mark)[0]
    return len(txs) > 1 and total == _signed(amt, mark)[0]


@needs_real
@pytest.mark.parametrize("path", _files("camt"), ids=lambda p: p.name)
def test_real_camt_keeps_every_reference(path):
    """EndToEndId, AcctSvcrRef (entry and transaction), InstrId, TxId, PmtInfId and creditor
    references read with xml.etree are all among the loaded rows' references, the free text
    in their memos. (The TxDtls of a batch booked as one row are not that row's references:
    they name its parts.)"""
    frame, refs = _loaded_refs(path)
    expected, texts = _camt_expected(path)
    assert expected <= refs, expected - refs
    # the free text is kept: every Ustrd, AddtlTxInf and AddtlNtryInf is in some row's memo
    memos = " | ".join(frame["memo"].drop_nulls())
    for text in texts:
        if not re.search(r"\d{12}", text):  # (long digit runs may be masked as card numbers)
            assert text in memos, text


@needs_real
def test_real_camt_reference_order_and_memo():
    frame, _ = _loaded_refs(REAL / "camt" / "genkgo-camt__camt054.v4.xml")
    (row,) = frame.to_dicts()  # three TxDtls in CHF/SEK that do not add up: one row
    # the entry's AcctSvcrRef, then the batch's PmtInfId and MsgId
    assert row["references"] == ["ACSR160617103200001", "UXC06170000006PI00001", "UXC06170000006"]
    frame, _ = _loaded_refs(REAL / "camt" / "oca-bank-statement-import__test-camt054")
    (row,) = frame.to_dicts()
    assert row["reference"] == "ENDTOENDID-01"  # EndToEndId first
    assert "MIB InstrId305-312MM20211231v1" in row["references"]
    assert row["memo"] == "Additional entry info"
    frame, _ = _loaded_refs(REAL / "camt" / "ofxstatement-iso20022__camt052.xml")
    rows = frame.sort("line").to_dicts()
    # AcctSvcrRef NONREF is a placeholder: the bank's proprietary id (Refs/Prtry/Ref) comes first
    assert rows[0]["references"] == ["2021-02-04-21.47.34.635624"]
    assert rows[1]["references"] == ["12345678", "2021-02-05-08.59.18.699015"]
    assert rows[1]["memo"] == "2021-02-03T17:46 Debitk.0 2024-12 / KARTENZAHLUNG"  # Ustrd / Addtl
    frame, _ = _loaded_refs(REAL / "camt" / "ofxstatement-iso20022__davider80.xml")
    first = frame.sort("line").row(0, named=True)
    assert first["references"] == ["210564431020000000024556150000"]  # entry-level only
    assert first["memo"].startswith("Sistema di addebitamento diretto")


@needs_real
@pytest.mark.parametrize("path", _files("ofx"), ids=lambda p: p.name)
def test_real_ofx_keeps_fitid_refnum_checknum(path):
    """Every non-empty FITID, REFNUM and CHECKNUM (a regex here) is among the references."""
    frame, refs = _loaded_refs(path)
    text = path.read_bytes().decode("latin-1")
    expected = {
        v.strip()
        for tag in ("FITID", "REFNUM", "CHECKNUM", "SRVRTID")
        for v in re.findall(rf"<{tag}>\s*([^<\r\n]*)", text, re.I)
        if v.strip() and v.strip() not in ("0", "1")  # '0' is a filler; '1' a bare sequence
    }
    assert expected <= refs, expected - refs
    names = re.findall(r"<NAME>\s*(?:<!\[CDATA\[)?([^<\r\n\]]*)", text, re.I)
    for name in (n.strip() for n in names if n.strip()):
        assert any(name.split()[0] in (m or "") for m in frame["memo"]), name


@needs_real
def test_real_ofx_memo_and_check_number():
    frame, _ = _loaded_refs(REAL / "ofx" / "ofxparse__checking.ofx")
    rows = frame.sort("line").to_dicts()
    assert rows[2]["references"] == ["0000488", "319"]  # FITID, CHECKNUM
    assert rows[2]["memo"].startswith("RETURNED CHECK FEE, CHECK # 319 / RETURNED CHECK FEE")
    frame, _ = _loaded_refs(REAL / "ofx" / "ofxparse__ofx-v102-empty-tags.ofx")
    row = frame.row(0, named=True)  # empty <FITID></FITID>, <REFNUM></REFNUM>: no reference
    assert row["references"] is None and row["memo"] == "CBA:Transfer"


def test_own_files_references_and_memo():
    frame, _ = _loaded_refs(CAMT)
    assert frame["references"].to_list() == [
        ["POSREF001", "BANKREF-1"],  # EndToEndId, the entry's AcctSvcrRef (not NtryRef '1')
        ["POSREF002", "BANKREF-2"],
        ["POSREF003", "BANKREF-2"],
        ["REFUND-1"],  # EndToEndId NOTPROVIDED
    ]
    assert frame["memo"].to_list() == [
        "Card sale T01",
        "Batch part 1",
        "Batch part 2",
        "Refund to customer",
    ]
    frame, _ = _loaded_refs(OFX)
    assert frame["references"].to_list()[0] == ["POSREF001", "OFX-1"]  # REFNUM, FITID


def test_run_matches_a_camt_line_by_its_other_references(tmp_path):
    """POS sales carrying the bank's AcctSvcrRef instead of the end-to-end id are paid by
    reference: the camt reader keeps both."""
    pos = tmp_path / "pos.csv"
    pos.write_text(
        "id,time,amount,currency,reference,kind\n"
        "P1,2026-11-20T09:15:02,128.00,EUR,BANKREF-1,sale\n"
        "P2,2026-11-20T10:40:11,35.50,EUR,POSREF002,sale\n"
        "P3,2026-11-20T11:05:00,50.00,EUR,POSREF003,sale\n"
        "P5,2026-11-20T13:00:00,20.00,EUR,REFUND-1,refund\n"
    )
    out = tmp_path / "out"
    res = CliRunner().invoke(
        cli, ["run", "--pos", str(pos), "--bank", str(CAMT), "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    matches = pl.read_parquet(out / "matches.parquet").sort("pos_id")
    assert matches.select("pos_id", "bank_id").rows() == [
        ("P1", "STMT-2026-11-20:1"),
        ("P2", "STMT-2026-11-20:2.1"),
        ("P3", "STMT-2026-11-20:2.2"),
        ("P5", "STMT-2026-11-20:3"),
    ]
    assert set(matches["rule"]) <= {"reference", "reference_other"}
