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
