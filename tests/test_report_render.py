"""The HTML report and the terminal summary, rendered from a real RunResult of the contract day."""

from __future__ import annotations

import io
import re
from pathlib import Path

import polars as pl
import pytest
from conftest import SHARED
from rich.console import Console

from recon.classify import classify
from recon.config import TYPES, Settings
from recon.match import match
from recon.money import parse_expr
from recon.report.html import render_html
from recon.report.terminal import render_summary
from recon.result import RunResult, SideInfo, build_summary
from recon.schema import REJECTED, conform

DATA = Path(__file__).parent / "data" / "contract"
if not (DATA / "pos.csv").exists():  # pragma: no cover - the shared copy, before tests/data exists
    DATA = SHARED / "examples" / "contract"

XSS = "<script>alert(1)</script>"


def _load(p: Path) -> pl.DataFrame:
    # A minimal canonical-CSV reader, so these tests do not depend on recon.load.
    df = pl.read_csv(p, infer_schema=False)
    df = df.with_columns(
        time=pl.col("time").str.to_datetime(),
        has_clock=pl.lit(True),
        amount=parse_expr(pl.col("amount"), pl.col("currency")).struct.field("minor"),
        fee=parse_expr(pl.col("fee"), pl.col("currency")).struct.field("minor"),
        source=pl.lit(str(p)),
        line=pl.int_range(2, pl.len() + 2),
    )
    return conform(df.lazy()).collect()


def _result(rejected: pl.DataFrame, *, empty: bool = False) -> RunResult:
    settings = Settings()
    pos, bank = _load(DATA / "pos.csv"), _load(DATA / "bank.csv")
    discrepancies, matches = classify(match(pos, bank, settings.match), settings)
    if empty:
        discrepancies = discrepancies.clear()
    n_rej = {s: rejected.filter(pl.col("side") == s).height for s in ("pos", "bank")}
    infos = [
        SideInfo(
            side=side,
            path=str(DATA / f"{side}.csv"),
            sha256=f"{side[0]}" * 64,
            rows=frame.height + n_rej[side],
            loaded=frame.height,
            rejected=n_rej[side],
            profile="canonical",
        )
        for side, frame in (("pos", pos), ("bank", bank))
    ]
    summary = build_summary(discrepancies, matches, rejected, *infos, settings, {"total_s": 0.123})
    return RunResult(discrepancies, matches, rejected, *infos, settings, summary)


def _rejected(n_bank: int = 1) -> pl.DataFrame:
    rows = [{"side": "pos", "line": 7, "reason": "bad amount '1,2,3'", "raw": f"P99,{XSS},[b]x"}]
    rows += [
        {"side": "bank", "line": 10 + i, "reason": f"bad date [red]{i}[/red]", "raw": f"B{i},31/02"}
        for i in range(n_bank)
    ]
    return pl.DataFrame(rows, schema=REJECTED)


@pytest.fixture(scope="module")
def result() -> RunResult:
    return _result(_rejected())


@pytest.fixture(scope="module")
def clean() -> RunResult:
    return _result(pl.DataFrame(schema=REJECTED), empty=True)


def _terminal(result: RunResult, out_dir: Path | None = Path("out/day1"), **kw: int) -> str:
    console = Console(width=100, color_system=None, record=True, file=io.StringIO())
    render_summary(result, console, out_dir, **kw)
    return console.export_text()


# --- HTML ---------------------------------------------------------------------------------


def test_html_shows_every_item_and_count(result: RunResult) -> None:
    page = render_html(result)
    assert page.startswith("<!DOCTYPE html>")
    assert "<title>recon: pos.csv vs bank.csv</title>" in page
    for item_id in result.discrepancies["item_id"]:
        assert f"<td>{item_id}</td>" in page
    by_type = result.summary["discrepancies"]["by_type"]
    assert set(by_type) == set(TYPES)
    for t, info in by_type.items():
        assert re.search(rf"<td>{t}</td><td class=\"num\">{info['count']}</td>", page), t
    for cur, amount in result.summary["money_at_risk"].items():
        assert f"{amount} {cur}" in page
    # The amount mismatch of the contract day, as the classifier wrote it.
    assert '<td class="num">35.50</td><td class="num">53.50</td>' in page
    assert "18.00 CNY" in page
    for side in (result.pos, result.bank):
        assert side.sha256 in page


def test_html_escapes_data_and_is_self_contained(result: RunResult) -> None:
    page = render_html(result)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert" not in page
    assert page.count("<script>") == 1  # only the page's own small script
    assert "http://" not in page and "https://" not in page
    assert "<link" not in page and "src=" not in page


def test_html_is_deterministic(result: RunResult) -> None:
    assert render_html(result) == render_html(result)
    # Timings are not part of the page: a rerun with other timings renders the same bytes.
    other = RunResult(
        result.discrepancies,
        result.matches,
        result.rejected,
        result.pos,
        result.bank,
        result.settings,
        {**result.summary, "timings": {"total_s": 9.9}},
    )
    assert render_html(other) == render_html(result)


def test_html_without_items_or_rejected_rows(clean: RunResult) -> None:
    page = render_html(clean)
    assert "No discrepancies." in page
    assert "No rejected rows." in page
    assert 'id="items"' not in page


# --- terminal -----------------------------------------------------------------------------


def test_terminal_summary(result: RunResult) -> None:
    text = _terminal(result)
    assert "recon 0.1.0" in text
    assert "pos.csv (canonical)" in text and "bank.csv (canonical)" in text
    assert "Matched pairs: 11" in text and "voided (cancelled, never settled): 2" in text
    by_type = result.summary["discrepancies"]["by_type"]
    for t, info in by_type.items():
        if info["count"]:
            assert re.search(rf"{t}\s+{info['count']}\s", text), t
    assert re.search(r"total\s+9\s+5 high, 3 medium, 1 low", text)
    assert result.summary["money_at_risk"]["CNY"] + " CNY" in text
    # Top items, ten by default: all nine here, high first, with what to do.
    assert "All 9 items" in text
    assert "D000001  high    amount_mismatch  POS P2 / bank B2" in text
    assert "Do: Check the POS record" in text
    assert "D000009" in text
    assert all(line == line.rstrip() for line in text.splitlines())
    assert all(len(line) <= 100 for line in text.splitlines())
    # Rejected rows and where the files are.
    assert "Rejected rows: 2 (POS 1, bank 1)" in text
    assert "pos line 7: bad amount '1,2,3'" in text
    assert "out/day1" in text and "report.html" in text and "discrepancies.csv" in text


def test_terminal_top_and_rejected_overflow() -> None:
    res = _result(_rejected(n_bank=7))
    text = _terminal(res, top=3)
    assert "Top 3 of 9 items" in text
    assert "... and 6 more in discrepancies.csv" in text
    assert "D000003" in text and "D000004" not in text
    assert "Rejected rows: 8 (POS 1, bank 7)" in text
    assert "bank line 13: bad date [red]3[/red]" in text and "bank line 14" not in text
    assert "... and 3 more in rejected.csv" in text


def test_terminal_without_discrepancies(clean: RunResult) -> None:
    text = _terminal(clean, out_dir=None)
    assert "No discrepancies." in text
    assert "Rejected" not in text
    assert "Reports written" not in text


def test_terminal_colours_severity(result: RunResult) -> None:
    console = Console(width=100, color_system="standard", file=io.StringIO(), record=True)
    render_summary(result, console, None)
    styled = console.export_text(styles=True)
    assert "\x1b[1;31mhigh" in styled
