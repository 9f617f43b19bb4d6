"""The Excel workbook and the Markdown summary, from real runs of the sample day."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import fastexcel
import polars as pl
import pytest

from recon.config import TYPES, Settings
from recon.pipeline import reconcile
from recon.report import xlsx
from recon.report.summary_md import WIDTH, render_summary_md
from recon.report.xlsx import write_xlsx
from recon.result import RunResult

SAMPLES = Path(__file__).parent.parent / "samples"
MONEY = ("pos_amount", "bank_amount", "difference", "amount_at_risk")
HYPERLINK = '=HYPERLINK("http://evil.example/x","click")'
HEADER = "id,time,amount,currency,account,reference,kind,terminal,merchant,fee\n"


@pytest.fixture(scope="module")
def sample() -> RunResult:
    return reconcile(Settings(pos=str(SAMPLES / "pos.csv"), bank=str(SAMPLES / "bank.csv")))


def _sheet(path: Path, name: str, **kw) -> pl.DataFrame:
    return pl.read_excel(path, sheet_name=name, engine="calamine", **kw)


def test_sheets_and_counts(sample: RunResult, tmp_path: Path) -> None:
    path = tmp_path / "report.xlsx"
    write_xlsx(sample, path)
    by_type = sample.summary["discrepancies"]["by_type"]
    present = [t for t in TYPES if by_type[t]["count"]]
    assert fastexcel.read_excel(path).sheet_names == ["Summary", *present, "Rejected"]
    for t in present:
        assert _sheet(path, t).height == by_type[t]["count"]
    rejected = _sheet(path, "Rejected")
    assert rejected.height == sample.rejected.height
    assert rejected["raw"].to_list() == sample.rejected["raw"].to_list()


def test_money_cells_are_numbers_equal_to_the_decimal_text(
    sample: RunResult, tmp_path: Path
) -> None:
    path = tmp_path / "report.xlsx"
    write_xlsx(sample, path)
    for t in sample.discrepancies["type"].unique(maintain_order=True):
        sheet = _sheet(path, t)
        want = sample.discrepancies.filter(pl.col("type") == t)
        assert sheet["item_id"].to_list() == want["item_id"].to_list()
        for col in MONEY:
            got = sheet[col]
            assert got.dtype.is_numeric() or got.null_count() == got.len(), (t, col)
            for g, w in zip(got.to_list(), want[col].to_list(), strict=True):
                if w is None:
                    assert g is None
                else:
                    assert Decimal(str(g)) == Decimal(w), (t, col, g, w)
        # Dates are real datetimes.
        assert sheet["pos_time"].dtype == pl.Datetime or sheet["pos_time"].null_count() == len(
            sheet
        )


def test_summary_sheet(sample: RunResult, tmp_path: Path) -> None:
    path = tmp_path / "report.xlsx"
    write_xlsx(sample, path)
    summary = _sheet(path, "Summary", has_header=False)
    cells = {v for col in summary.iter_columns() for v in col.cast(pl.String).to_list() if v}
    assert sample.pos.sha256 in cells and sample.bank.sha256 in cells
    assert {"matched pairs", "exit code", "total", *TYPES} <= cells
    first = summary.columns[0]
    total = summary.filter(pl.col(first) == "total").row(0)
    assert total[1] == str(sample.discrepancies.height)
    assert Decimal(total[2]) == Decimal(sample.summary["money_at_risk"]["CNY"])


def test_same_result_gives_the_same_bytes(sample: RunResult, tmp_path: Path) -> None:
    a, b = tmp_path / "a.xlsx", tmp_path / "b.xlsx"
    write_xlsx(sample, a)
    write_xlsx(sample, b)
    assert a.read_bytes() == b.read_bytes()


def test_formula_text_stays_literal(tmp_path: Path) -> None:
    pos = tmp_path / "pos.csv"
    bank = tmp_path / "bank.csv"
    ref = '"' + HYPERLINK.replace('"', '""') + '"'
    pos.write_text(
        HEADER
        + f"S1,2026-11-20T08:00:00,10.00,CNY,,{ref},sale,@SUM(A1),+M1,\n"
        + "S2,2026-11-20T09:00:00,20.00,CNY,,R2,sale,T1,-M2,\n"
    )
    bank.write_text(HEADER + "B2,2026-11-21T02:00:00,20.00,CNY,,R2,credit,T1,-M2,\n")
    result = reconcile(Settings(pos=str(pos), bank=str(bank)))
    path = tmp_path / "report.xlsx"
    write_xlsx(result, path)
    sheet = _sheet(path, "orphan_pos", schema_overrides={"reference": pl.String})
    assert sheet["reference"].to_list() == [HYPERLINK]
    assert sheet["terminal"].to_list() == ["@SUM(A1)"]
    assert sheet["merchant"].to_list() == ["+M1"]
    # No formula anywhere in the package.
    import zipfile

    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            assert b"<f>" not in z.read(name), name
    md = render_summary_md(result, None)
    assert "S1" in md


def test_capped_sheet_says_so(sample: RunResult, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(xlsx, "MAX_ROWS", 1)
    path = tmp_path / "report.xlsx"
    write_xlsx(sample, path)
    sheet = _sheet(path, "orphan_bank", has_header=False)
    text = [v for col in sheet.iter_columns() for v in col.cast(pl.String).to_list() if v]
    assert any(v.startswith("Capped: this sheet shows the first 1 of 2 rows") for v in text)
    summary = _sheet(path, "Summary", has_header=False)
    notes = summary[summary.columns[0]].cast(pl.String).to_list()
    assert any(v and v.startswith("Sheet orphan_bank: Capped") for v in notes)


def test_summary_md(sample: RunResult, tmp_path: Path) -> None:
    out = tmp_path / "out"
    md = render_summary_md(sample, out)
    assert md == render_summary_md(sample, out)
    lines = md.splitlines()
    assert lines[0] == (
        "**11 discrepancies, 2,416.90 CNY at risk, 1 rejected row — files: pos.csv vs bank.csv**"
    )
    assert all(len(line) <= WIDTH for line in lines), max(lines, key=len)
    by_type = sample.summary["discrepancies"]["by_type"]
    for t in TYPES:
        row = [line for line in lines if line.startswith(f"| {t} |")]
        assert len(row) == (1 if by_type[t]["count"] else 0), t
    for item_id, pos_ids in sample.discrepancies.head(5).select("item_id", "pos_ids").iter_rows():
        assert item_id in md
        assert pos_ids.split(";")[0] in md
    assert sample.discrepancies["item_id"][5] not in md
    assert "… and 6 more in discrepancies.csv." in lines
    assert "Rejected rows: 1 (POS 1, bank 0); see rejected.csv." in lines
    assert f"Reports in `{out}`:" in lines
    assert "summary.json" in md


def test_summary_md_long_values_wrap(sample: RunResult) -> None:
    long = "x" * 300 + " [link](http://a) <b>|</b>"
    items = sample.discrepancies.with_columns(detail=pl.lit(long))
    res = RunResult(
        items,
        sample.matches,
        sample.rejected,
        sample.pos,
        sample.bank,
        sample.settings,
        sample.summary,
    )
    md = render_summary_md(res, None)
    assert all(len(line) <= WIDTH for line in md.splitlines())
    assert "[link]" not in md and "<b>" not in md
    assert "\\[link\\]" in md
