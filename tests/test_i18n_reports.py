"""--lang zh in report.html's charts and in report.xlsx: Chinese words, the same values."""

from __future__ import annotations

import io
import re
from dataclasses import replace
from pathlib import Path

import fastexcel
import polars as pl
import pytest
from rich.console import Console

from recon.config import TYPES, Settings
from recon.pipeline import reconcile
from recon.report import html as html_report
from recon.report.html import render_html
from recon.report.terminal import render_summary
from recon.report.xlsx import write_xlsx
from recon.result import RunResult

SAMPLES = Path(__file__).parent.parent / "samples"
EN_TITLES = (
    "Items and money at risk by type",
    "Items and money at risk by terminal",
    "Items and money at risk by merchant",
    "Items by hour of POS time",
    "Settlement lag of ",
)
ZH_TITLES = (
    "按类型统计的差异项与涉及金额",
    "按终端统计的差异项与涉及金额",
    "按商户统计的差异项与涉及金额",
    "按 POS 时间（小时）统计的差异项",
    "对已匹配记录的结算延迟",
)


def _settings(lang: str) -> Settings:
    base = Settings(pos=str(SAMPLES / "pos.csv"), bank=str(SAMPLES / "bank.csv"))
    return replace(base, lang=lang)


@pytest.fixture(scope="module")
def en() -> RunResult:
    return reconcile(_settings("en"))


@pytest.fixture(scope="module")
def zh() -> RunResult:
    return reconcile(_settings("zh"))


def _charts(page: str) -> str:
    start = page.index('<div class="charts">')
    return page[start : page.index("</div>\n", start)]


def test_zh_chart_words_are_chinese(zh: RunResult) -> None:
    page = render_html(zh)
    charts = _charts(page)
    for title in ZH_TITLES:
        assert title in charts, title
    for title in EN_TITLES:
        assert title not in page, title
    # Bar labels, tooltips, axis heads and lag buckets: no English words left in the charts
    # (ids, terminals, merchants, currencies and type names are values and stay as they are).
    text = re.sub(r"<[^>]+>", " ", charts)
    for word in (" at risk", " items", " item,", "matched pair", "before sale", "(none)", "Top "):
        assert word not in text, word
    assert not re.search(r"\d [hd]\b", text)
    assert "涉及金额" in text and "对已匹配记录" in text and "小时" in text
    # The machine values stay: type names label the type chart's bars.
    assert all(typ in charts for typ in TYPES)
    assert "fail on" not in page and "exit code" not in page
    assert "失败阈值" in page and "退出码" in page


def test_en_render_is_unchanged_by_zh(en: RunResult, zh: RunResult) -> None:
    page = render_html(en)
    # The words of advice are written at reconcile time; the charts are drawn at render time.
    as_en = render_html(replace(zh, settings=replace(zh.settings, lang="en")))
    assert _charts(page) == _charts(as_en)
    charts = _charts(page)
    for title in EN_TITLES:
        assert title in charts, title
    for title in ZH_TITLES:
        assert title not in page
    assert "&lt; 1 h" in charts and "money at risk" in charts and "fail on" in page
    assert not re.search(r"[\u4e00-\u9fff]", page)


def test_cap_note_and_lag_words_in_zh(zh: RunResult, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(html_report, "MAX_ROWS", 1)
    page = render_html(zh)
    assert "Showing the first" not in page and "holds them all" not in page
    assert "仅显示" in page and "<code>discrepancies.csv</code>" in page
    en_page = render_html(replace(zh, settings=replace(zh.settings, lang="en")))
    assert "Showing the first 1 of" in en_page
    # A pair settled before its sale's time gets the "before sale" bucket.
    matches = zh.matches.with_columns(lag_seconds=pl.lit(-5, pl.Int64))
    assert "早于销售" in html_report._chart_lag(matches, "zh")
    assert "before sale" in html_report._chart_lag(matches, "en")
    assert "没有可绘制的已结算匹配记录" in html_report._chart_lag(matches.head(0), "zh")


def _cells(frame: pl.DataFrame) -> set[str]:
    return {v for col in frame.iter_columns() for v in col.cast(pl.String).to_list() if v}


def test_zh_xlsx_summary_and_headers(zh: RunResult, en: RunResult, tmp_path: Path) -> None:
    path = tmp_path / "zh.xlsx"
    write_xlsx(zh, path)
    summary = pl.read_excel(path, sheet_name="Summary", engine="calamine", has_header=False)
    cells = _cells(summary)
    for label in ("recon 对账报告", "差异类型", "严重程度", "数量", "已匹配对数", "合计"):
        assert label in cells, label
    assert "失败阈值" in cells and "退出码" in cells and "银行" in cells
    assert any(c.startswith("涉及金额 ") for c in cells)
    for english in ("recon reconciliation report", "discrepancy type", "count", "fail on"):
        assert english not in cells, english
    assert "amount_mismatch 金额不符" in cells and "high 高" in cells
    # Sheet names stay the English type names; headers are Chinese; values do not change.
    names = fastexcel.read_excel(path).sheet_names
    en_path = tmp_path / "en.xlsx"
    write_xlsx(en, en_path)
    assert names == fastexcel.read_excel(en_path).sheet_names
    for name in names[1:]:
        zsheet = pl.read_excel(path, sheet_name=name, engine="calamine")
        esheet = pl.read_excel(en_path, sheet_name=name, engine="calamine")
        assert zsheet.width == esheet.width
        assert all(re.search(r"[\u4e00-\u9fff]", c) for c in zsheet.columns), name
        if name != "Rejected":
            assert "类型" in zsheet.columns and "type" in esheet.columns
            zvals = zsheet.get_column("类型").to_list()
            assert zvals == esheet.get_column("type").to_list() == [name] * esheet.height
            assert zsheet["编号"].to_list() == esheet["item_id"].to_list()
    rej = pl.read_excel(path, sheet_name="Rejected", engine="calamine")
    assert rej.columns == ["来源", "行号", "原因", "原始内容"]


def test_en_xlsx_summary_stays_english(en: RunResult, tmp_path: Path) -> None:
    path = tmp_path / "en.xlsx"
    write_xlsx(en, path)
    summary = pl.read_excel(path, sheet_name="Summary", engine="calamine", has_header=False)
    cells = _cells(summary)
    for label in ("recon reconciliation report", "discrepancy type", "severity", "fail on"):
        assert label in cells
    assert not any(re.search(r"[\u4e00-\u9fff]", c) for c in cells)
    again = tmp_path / "again.xlsx"
    write_xlsx(en, again)
    assert path.read_bytes() == again.read_bytes()


SAMPLE_REASON = "amount is not a number: '1O.00'"  # the bad row of samples/pos.csv


def test_rejected_reasons_for_people_are_chinese(
    zh: RunResult, en: RunResult, tmp_path: Path
) -> None:
    # The data keeps the loader's English (rejected.csv is written from it).
    assert zh.rejected["reason"].to_list() == en.rejected["reason"].to_list() == [SAMPLE_REASON]
    page = render_html(zh)
    assert "金额不是数字：&#x27;1O.00&#x27;" in page
    assert "amount is not a number" not in page
    assert "amount is not a number: &#x27;1O.00&#x27;" in render_html(en)

    write_xlsx(zh, tmp_path / "zh.xlsx")
    write_xlsx(en, tmp_path / "en.xlsx")
    zsheet = pl.read_excel(tmp_path / "zh.xlsx", sheet_name="Rejected", engine="calamine")
    esheet = pl.read_excel(tmp_path / "en.xlsx", sheet_name="Rejected", engine="calamine")
    assert zsheet["原因"].to_list() == ["金额不是数字：'1O.00'"]
    assert esheet["reason"].to_list() == [SAMPLE_REASON]
    assert zsheet["原始内容"].to_list() == esheet["raw"].to_list()

    for result, line in (
        (zh, "pos 第 30 行：金额不是数字：'1O.00'"),
        (en, f"pos line 30: {SAMPLE_REASON}"),
    ):
        out = io.StringIO()
        render_summary(result, Console(file=out, width=200, highlight=False), None)
        assert line in out.getvalue()
