"""MT940/MT942 and BAI2 statement readers: real files checked against figures read independently
of the readers (a few regexes here), self-made files in tests/data/statements, malformed variants
and one `recon run` round trip of a POS CSV against an MT940 statement."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from conftest import SHARED

from recon.cli import cli
from recon.errors import InputError
from recon.load import load_side
from recon.money import minor_digits

REALDATA = SHARED / "realdata"
HERE = Path(__file__).parent / "data" / "statements"
needs_realdata = pytest.mark.skipif(
    not REALDATA.is_dir(), reason=f"{REALDATA} is absent (real statement files)"
)


# Library test samples whose balances do not add up in the file itself (checked by hand):
# the per-file sum of entries is still compared with the reader's total below.
KNOWN_UNBALANCED = {
    "wolph-mt940__abnamro.sta",
    "wolph-mt940__knab.sta",  # 3058.98 - 7260 + 500 != 798.98
    "wolph-mt940__postfinance.sta",  # 229.2 - 79.9 + 10.1 = 159.4, file says 159.6
    "wolph-mt940__raiffeisen-cmi.sta",  # opening + entries = 24158423.60, file 25281687.60
}


def _files(kind: str) -> list[Path]:
    folder = REALDATA / kind
    return sorted(folder.iterdir()) if folder.is_dir() else []


def _text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp852")


def _minor(value: Decimal, currency: str) -> int:
    return int(value.scaleb(minor_digits(currency)))


# --- MT940, figures read with regexes ------------------------------------------------------

_BAL = re.compile(r"^:6([02])[FM]:(C|D)\d{6}([A-Z]{3})([\d,]+)", re.M)
_ENTRY = re.compile(r"^:61:\d{6}(?:\d{4})?(RC|RD|C|D)[A-Z]?\n?([\d,]+)", re.M)


def _dec(text: str) -> Decimal:
    return Decimal(text.replace(",", ".") or "0")


def mt940_figures(text: str) -> tuple[int, list[tuple[Decimal, Decimal, Decimal]]]:
    """(:61: lines, [(opening, sum of entries, closing)] per statement with both balances)."""
    text = text.replace("\r\n", "\n")
    entries = len(re.findall(r"^:61:", text, re.M))
    checks = []
    for block in re.split(r"(?m)^(?=:20:)", text):
        bals = {m.group(1): m for m in _BAL.finditer(block)}
        if "0" not in bals or "2" not in bals:
            continue
        opening, closing = (
            _dec(bals[k].group(4)) * (-1 if bals[k].group(2) == "D" else 1) for k in "02"
        )
        total = Decimal(0)
        for mark, amount in _ENTRY.findall(block):
            total += _dec(amount) * (-1 if mark in ("D", "RC") else 1)
        checks.append((opening, total, closing))
    return entries, checks


@needs_realdata
@pytest.mark.parametrize("path", _files("mt940"), ids=lambda p: p.name)
def test_real_mt940_counts_and_balances(path):
    loaded = load_side(path, "bank")
    entries, checks = mt940_figures(_text(path))
    assert loaded.frame.height + loaded.rejected.height == entries
    assert loaded.rows == entries
    assert loaded.rejected.height == 0, loaded.rejected.rows()
    off = [(o, t, c) for o, t, c in checks if o + t != c]
    assert not off or path.name in KNOWN_UNBALANCED, off
    # the reader's amounts add up to the same total as the regexes' (all entries loaded)
    if loaded.frame.height:
        currency = loaded.frame["currency"][0]
        text = _text(path).replace("\r\n", "\n")
        expected = sum(_dec(a) * (-1 if m in ("D", "RC") else 1) for m, a in _ENTRY.findall(text))
        assert loaded.frame["amount"].sum() == _minor(expected, currency)
        assert set(loaded.frame["kind"]) <= {"credit", "debit"}
        assert not loaded.frame["has_clock"].any()


def test_real_mt940_files_have_balance_checks_somewhere():
    if not REALDATA.is_dir():
        pytest.skip(f"{REALDATA} is absent (real statement files)")
    assert sum(len(mt940_figures(_text(p))[1]) for p in _files("mt940")) > 10


# --- BAI2, figures read with regexes -------------------------------------------------------


def bai2_records(text: str) -> list[str]:
    """Logical records: several per line are split at '/ NN,', wrapped lines are joined."""
    out: list[str] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        for part in re.split(r"(?<=/)\s+(?=\d\d,)", line.strip()):
            if re.match(r"\d\d,", part):
                out.append(part)
            elif part and out:
                out[-1] += " " + part
    return out


@needs_realdata
@pytest.mark.parametrize("path", _files("bai2"), ids=lambda p: p.name)
def test_real_bai2_counts_and_trailers(path):
    loaded = load_side(path, "bank")
    records = bai2_records(_text(path))
    details = [r for r in records if r.startswith("16,")]
    assert loaded.frame.height + loaded.rejected.height == len(details)
    assert loaded.rejected.height == 0, loaded.rejected.rows()
    # 49 account trailers: the record count covers 03 + 88s + 16s + 49 of the account
    accounts: list[list[str]] = []
    for r in records:
        if r.startswith("03,"):
            accounts.append([r])
        elif accounts and accounts[-1][-1][:3] != "49,":
            accounts[-1].append(r)
    for acc in accounts:
        trailer = acc[-1]
        assert trailer.startswith("49,")
        # (the 49 record counts are not compared: sample4/5 count physical lines, others not)
    assert records[-1].startswith("99,")
    # every loaded amount is the 16 record's amount, signed by debit/credit
    if details:
        magnitudes = sorted(int(r.split(",")[2]) for r in details if r.split(",")[2].strip())
        assert sorted(loaded.frame["amount"].abs().to_list()) == magnitudes


# --- self-made files ------------------------------------------------------------------------


def test_simple_mt940():
    loaded = load_side(HERE / "simple.mt940", "bank")
    f = loaded.frame
    assert f["amount"].to_list() == [2550, 1000, -525]
    assert f["kind"].to_list() == ["credit", "credit", "debit"]
    assert f["reference"].to_list() == ["POS-1001", "POS-1002", "B3"]
    assert f["currency"].unique().to_list() == ["EUR"]
    assert f["id"].to_list() == ["RECONTEST1-1", "RECONTEST1-2", "RECONTEST1-3"]
    assert not f["has_clock"].any()
    assert f["line"].to_list() == [5, 7, 9]
    entries, checks = mt940_figures((HERE / "simple.mt940").read_text())
    assert entries == 3 and checks == [(Decimal("100.00"), Decimal("30.25"), Decimal("130.25"))]


def test_simple_bai2():
    loaded = load_side(HERE / "simple.bai2", "bank")
    f = loaded.frame
    assert f["amount"].to_list() == [2550, 1000, -525]
    assert f["kind"].to_list() == ["credit", "credit", "debit"]
    assert f["reference"].to_list() == ["POS-1001", "POS-1002", "BR3"]
    assert f["currency"].unique().to_list() == ["USD"]
    assert f["line"].to_list() == [4, 5, 6]
    assert str(f["time"][0]) == "2024-03-01 00:00:00"


@pytest.mark.parametrize("name", ["bad_entry.mt940", "bad_entry.bai2"])
def test_bad_entry_is_rejected_not_dropped(name):
    loaded = load_side(HERE / name, "bank")
    assert loaded.frame.height == 2
    assert loaded.rejected.height == 1
    row = loaded.rejected.row(0, named=True)
    assert row["reason"].startswith("cannot read")
    assert "\n" not in row["reason"]
    assert "1002" in row["raw"]


@pytest.mark.parametrize("name", ["truncated.mt940", "truncated.bai2"])
def test_truncated_file_is_an_input_error(name):
    with pytest.raises(InputError, match="truncated") as info:
        load_side(HERE / name, "bank")
    assert "\n" not in str(info.value)


def test_unparseable_mt940_is_one_line_input_error(tmp_path):
    bad = tmp_path / "bad.sta"
    bad.write_text(":20:X\n:25:1\n:28C:1\n:60F:CXXXXXXEUR1,00\n:62F:C240101EUR1,00\n")
    with pytest.raises(InputError) as info:
        load_side(bad, "bank")
    assert "\n" not in str(info.value)


def test_recognised_by_content_not_extension(tmp_path):
    for name in ("simple.mt940", "simple.bai2"):
        copy = tmp_path / (name + ".txt")
        copy.write_bytes((HERE / name).read_bytes())
        assert load_side(copy, "bank").frame.height == 3


# --- round trip -----------------------------------------------------------------------------


def test_run_pos_csv_against_mt940(tmp_path):
    pos = tmp_path / "pos.csv"
    pos.write_text(
        "id,time,amount,currency,reference,kind\n"
        "S1,2024-03-01T10:15:00,25.50,EUR,POS-1001,sale\n"
        "S2,2024-03-01T11:40:00,10.00,EUR,POS-1002,sale\n"
        "S3,2024-03-01T12:05:00,7.77,EUR,POS-1003,sale\n"
    )
    out = tmp_path / "out"
    res = CliRunner().invoke(
        cli,
        ["run", "--pos", str(pos), "--bank", str(HERE / "simple.mt940"), "--out", str(out)],
        catch_exceptions=False,
    )
    assert res.exit_code in (0, 1), res.output
    disc = pl.read_csv(out / "discrepancies.csv", infer_schema=False)
    orphans = disc.filter(pl.col("type") == "orphan_pos")
    assert orphans.height == 1
    assert "S3" in " ".join(str(v) for v in orphans.row(0))
    text = " ".join(str(v) for row in disc.rows() for v in row)
    assert "S1" not in text.split() and "S2" not in text.split()
    assert set(disc["type"]) <= {"orphan_pos", "orphan_bank"}  # the fee debit has no POS sale


# --- references and memo ----------------------------------------------------------------------

# What a reader must never offer as a reference (the placeholders of real files).
PLACEHOLDER_REFS = {"NONREF", "NOTPROVIDED", "EREF", "PREF", "MARF", "KREF+", "X", "N", ""}


def _rows(path: Path) -> list[dict]:
    return load_side(path, "bank").frame.sort("line").to_dicts()


def _all_refs(rows: list[dict]) -> set[str]:
    return {r for row in rows for r in (row["references"] or [])}


def _check_references(rows: list[dict]) -> None:
    """`reference` is the first of `references`; no placeholder is among them."""
    for row in rows:
        refs = row["references"] or []
        assert row["reference"] == (refs[0] if refs else None), row
        assert not set(refs) & PLACEHOLDER_REFS, row
        assert len(refs) == len(set(refs)), row


@needs_realdata
@pytest.mark.parametrize("path", _files("mt940"), ids=lambda p: p.name)
def test_real_mt940_keeps_every_bank_reference_and_the_86_text(path):
    """Every bank reference after `//` of a :61: line (read here with a regex) is among the
    references of the loaded rows; every entry with a :86: text has a memo."""
    rows = _rows(path)
    _check_references(rows)
    text = _text(path).replace("\r\n", "\n")
    bank_refs = {
        m.group(1).strip()
        for m in re.finditer(r"(?m)^:61:[^\n]*?//([^\n]+)$", text)
        if m.group(1).strip().upper() not in PLACEHOLDER_REFS
    }
    assert bank_refs <= _all_refs(rows), bank_refs - _all_refs(rows)
    with_86 = len(re.findall(r"(?m)^:86:", text))
    assert sum(1 for row in rows if row["memo"]) >= min(with_86, len(rows))


@needs_realdata
def test_real_ing_mt940_references_from_61_and_86():
    rows = _rows(REALDATA / "mt940" / "oca-bank-statement-import__test-ing.940")
    # :61: `EREF//00000000001`: EREF only says where the reference is (the :86: /EREF/ part)
    assert rows[0]["references"] == ["EV12341REP1231456T1234", "00000000001"]
    assert rows[0]["reference"] == "EV12341REP1231456T1234"
    assert "/REMI/USTD//EV10001REP1000000T1000/" in rows[0]["memo"]
    assert "INGBNL2A/ING BANK NV" in rows[0]["memo"]  # a line wrapped at 65 is glued back
    # PREF (batch) and MARF (mandate) parts, the EREF broken over three lines with a lone '-'
    assert rows[1]["references"] == ["00000000001006", "M000000003333333"]
    assert rows[3]["references"] == ["EV123REP123412T1234", "00000000001009", "MNDEV01"]
    # a structured creditor reference (/REMI/STRD/CUR/...)
    assert "9001123412341234" in rows[6]["references"]


@needs_realdata
def test_real_german_structured_86_references():
    rows = _rows(REALDATA / "mt940" / "wolph-mt940__sepa_mt9401.sta")
    _check_references(rows)
    first = rows[0]  # ?20EREF+TFNR 40005 00005 ?21MTLG:...: the EREF ends with its sub-field
    assert first["references"] == ["TFNR 40005 00005", "TFNr 40005 MSGID", "0724710345313905"]
    assert first["memo"] == (
        "RETOURE EREF+TFNR 40005 00005 MTLG:Grund nicht spezifiziert Reject aus "
        "SEPA-Ueberweisungsauftrag"
    )
    by_bank = {r for row in rows for r in row["references"] or []}
    # an EREF that fills ?20 (27 characters) goes on in ?21
    assert "EndToEndIdTFNR2000400001" in by_bank
    # :61: `KREF+//BD7CFA74485E7E69`: the marker is not a reference, the KREF+ part of :86: is
    kref = next(row for row in rows if "BD7CFA74485E7E69" in (row["references"] or []))
    assert kref["references"] == ["BD7CFA74485E7E69", "TFNr 01005 PayId CTSc-01 EBB"]
    # SAMMLER entries carry no reference at all: null, not a placeholder
    assert rows[3]["reference"] is None and rows[3]["references"] is None
    assert rows[3]["memo"] == "SAMMLER 0904059001"


@needs_realdata
def test_real_mt940_bank_and_customer_references():
    knab = _rows(REALDATA / "mt940" / "wolph-mt940__knab.sta")
    assert [r["references"] for r in knab] == [
        ["B4E07XM00J000023"],  # NONREF//B4E07XM00J000023
        ["B4G29PGCVO7Q06US"],
        ["29-07-2014 10:05", "B4G29PGDCK1QFV3E"],
    ]
    # two :86: lines that are not full are joined with a space
    assert knab[0]["memo"].startswith("HIER EEN MOOIE OMSCHRIJVING IN HOOFDLETTERS WANT DAT")
    mbank = _rows(REALDATA / "mt940" / "wolph-mt940__mt942.sta")
    assert mbank[0]["references"] == ["MB170119012058", "179171073864111.010001"]  # TNR:
    post = _rows(REALDATA / "mt940" / "wolph-mt940__postfinance.sta")
    assert post[0]["references"] == ["01916"]  # 01916//NONREF
    rabo = _rows(REALDATA / "mt940" / "oca-bank-statement-import__test-rabo.swi")
    assert [r["references"] for r in rabo] == [None, None]  # NONREF, no EREF
    assert rabo[0]["memo"].startswith("/ORDP//NAME/R. SMITH/ADDR/Green market 74 3311BE")


@needs_realdata
def test_real_bai2_references_and_text():
    citi = _rows(REALDATA / "bai2" / "moj-bai2__citi_example.bai2")
    # 16,191,001,V,150715,,1234567890,RP12312312312312/: bank ref, customer ref
    assert citi[0]["references"] == ["RP12312312312312", "1234567890"]
    assert citi[0]["memo"].startswith("FR:FP SIP INCOMING")  # the 88 continuations
    sample2 = _rows(REALDATA / "bai2" / "moov-bai2__sample2.txt")
    assert sample2[2]["references"] == ["YRC065321", "SP4738"]
    assert sample2[0]["references"] is None and sample2[0]["memo"] == "Lockbox Deposit"
    for name in ("moov-bai2__sample4-continuations-newline-delimited.txt",):
        rows = _rows(REALDATA / "bai2" / name)
        _check_references(rows)
        assert rows[0]["references"] == ["1111", "SPB2322984714570"]
        assert all(row["references"] for row in rows)  # every detail carries both references


def test_simple_files_references_and_memo():
    mt = _rows(HERE / "simple.mt940")
    assert [r["references"] for r in mt] == [["POS-1001", "B1"], ["POS-1002", "B2"], ["B3"]]
    assert [r["memo"] for r in mt] == [
        "Card settlement batch 1001",
        "Card settlement batch 1002",
        "Terminal fee March",
    ]
    bai = _rows(HERE / "simple.bai2")
    assert [r["references"] for r in bai] == [["POS-1001", "BR1"], ["POS-1002", "BR2"], ["BR3"]]
    assert bai[2]["memo"].startswith("Terminal fee")  # and its 88 continuation


REFERENCE_RULES = {"reference", "reference_other"}


def test_run_matches_any_reference_of_an_mt940_line(tmp_path):
    """POS sales carrying the bank's own reference (after //), or the EREF of the :86: text,
    are paid by those lines by reference: the reader keeps every reference, not one."""
    bank = tmp_path / "statement.sta"
    bank.write_text(
        ":20:RECONTEST2\n:25:NL00TEST0123456789\n:28C:1/1\n:60F:C240301EUR100,00\n"
        ":61:2403010301C25,50NMSCPOS-1001//BANKREF0001\n:86:Card settlement 1001\n"
        ":61:2403010301C10,00NMSCNONREF//BANKREF0002\n"
        ":86:166?00GUTSCHRIFT?20EREF+E2E-SALE-2002?21SVWZ+Card sale\n"
        ":61:2403010301C10,00NMSCNONREF//BANKREF0003\n:86:Card settlement\n"
        ":62F:C240301EUR145,50\n-\n"
    )
    pos = tmp_path / "pos.csv"
    pos.write_text(
        "id,time,amount,currency,reference,kind\n"
        "S1,2024-03-01T10:15:00,25.50,EUR,BANKREF0001,sale\n"
        "S2,2024-03-01T11:40:00,10.00,EUR,E2E-SALE-2002,sale\n"
        "S3,2024-03-01T11:41:00,10.00,EUR,BANKREF0003,sale\n"
    )
    out = tmp_path / "out"
    res = CliRunner().invoke(
        cli,
        ["run", "--pos", str(pos), "--bank", str(bank), "--out", str(out)],
        catch_exceptions=False,
    )
    assert res.exit_code in (0, 1), res.output
    matches = pl.read_parquet(out / "matches.parquet")
    pairs = {p: (b, rule) for p, b, rule in matches.select("pos_id", "bank_id", "rule").rows()}
    assert {p: b for p, (b, _) in pairs.items()} == {
        "S1": "RECONTEST2-1",
        "S2": "RECONTEST2-2",
        "S3": "RECONTEST2-3",
    }
    assert {rule for _, rule in pairs.values()} <= REFERENCE_RULES, pairs
