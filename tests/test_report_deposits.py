"""Batch deposits in the reports: report.html, the terminal summary, report.xlsx, summary.md and
deposits.csv, from real runs of a generated batch-settled week (recon.generate_batch)."""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

import fastexcel
import polars as pl
import pytest
from click.testing import CliRunner
from rich.console import Console

from recon.cli import cli
from recon.config import load_settings
from recon.exprs import formatted
from recon.generate_batch import batch_day
from recon.i18n import t
from recon.pipeline import reconcile
from recon.report.deposits import DEPOSIT_OK, DEPOSIT_PROBLEMS, deposits_in_order
from recon.report.files import FILES, write_outputs
from recon.report.html import MAX_DEPOSITS, render_html
from recon.report.summary_md import render_summary_md
from recon.report.terminal import render_summary
from recon.result import RunResult

SAMPLES = Path(__file__).parent.parent / "samples"
CONFIG = """\
[settlement]
cutoff = "23:00"
t_plus = 1
holidays = ["2026-11-19"]
[[settlement.fees]]
scheme = "unionpay"
rate = "0.006"
cap = "20.00"
[[settlement.fees]]
scheme = "visa"
rate = "0.012"
fixed = "0.10"
[[settlement.fees]]
scheme = "*"
rate = "0.01"
"""
COLUMNS = [
    "group_id",
    "status",
    "currency",
    "merchant",
    "batch",
    "business_day",
    "expected",
    "bank_time",
    "bank_ids",
    "n_sales",
    "gross",
    "fee_expected",
    "fee_charged",
    "deposit",
    "pos_ids",
]
MONEY = ("gross", "fee_expected", "fee_charged", "deposit")
_EN_ENV = {"LC_ALL": "", "LC_MESSAGES": "", "LANG": "C.UTF-8"}


@dataclass(frozen=True)
class Run:
    out: Path
    output: str  # what `recon run` printed
    result: RunResult  # the same run through the pipeline, for the expected values


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("batch")
    pos, bank, _ = batch_day(sales=2000, seed=7)
    pos.write_csv(d / "pos.csv")
    bank.write_csv(d / "bank.csv")
    (d / "settle.toml").write_text(CONFIG, encoding="utf-8")
    return d


def _run(inputs: Path, lang: str, columns: int) -> Run:
    out = inputs / f"out-{lang}"
    args = ["run", "--pos", str(inputs / "pos.csv"), "--bank", str(inputs / "bank.csv")]
    args += ["--config", str(inputs / "settle.toml"), "--out", str(out), "--lang", lang]
    res = CliRunner().invoke(cli, args, env={**_EN_ENV, "COLUMNS": str(columns)})
    assert res.exit_code == 1, res.output  # the generated week has problems
    settings = replace(
        load_settings(inputs / "settle.toml"),
        pos=str(inputs / "pos.csv"),
        bank=str(inputs / "bank.csv"),
        lang=lang,
    )
    return Run(out, res.output, reconcile(settings))


@pytest.fixture(scope="module")
def en(inputs: Path) -> Run:
    return _run(inputs, "en", 160)  # wide enough for the deposits table


@pytest.fixture(scope="module")
def zh(inputs: Path) -> Run:
    return _run(inputs, "zh", 80)  # too narrow: two lines per deposit


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run without [settlement]."""
    out = tmp_path_factory.mktemp("plain")
    args = ["run", "--pos", str(SAMPLES / "pos.csv"), "--bank", str(SAMPLES / "bank.csv")]
    res = CliRunner().invoke(cli, [*args, "--out", str(out), "--quiet"], env=_EN_ENV)
    assert res.exit_code in (0, 1), res.output
    return out


def _expected_order(deposits: pl.DataFrame) -> list[str]:
    problems = {s: i for i, s in enumerate(DEPOSIT_PROBLEMS)}
    rows = deposits.select("group_id", "status").rows()
    return [g for g, _ in sorted(rows, key=lambda r: (problems.get(r[1], len(problems)), r[0]))]


def _line(dep: pl.DataFrame, lang: str) -> str:
    """The dep.summary sentence, counted here from the statuses."""
    return t(
        "dep.summary",
        lang,
        n=dep.height,
        sales=dep["n_sales"].sum(),
        matched=dep.filter(pl.col("status").is_in(DEPOSIT_OK)).height,
        flagged=dep.filter(pl.col("status").is_in(DEPOSIT_PROBLEMS)).height,
    )


def _deposits_table(page: str) -> str:
    m = re.search(r'<table class="deposits" id="deposits">.*?</table>', page, re.S)
    assert m, "no deposits table"
    return m.group(0)


def _statuses(table: str) -> list[str]:
    return re.findall(r'<td data-sort="\d+" title="([a-z_]+)">', table)


def test_generated_week_has_every_kind_of_deposit(en: Run) -> None:
    dep = en.result.deposits
    assert dep.columns == COLUMNS
    statuses = set(dep["status"])
    assert {"matched", "split", "fee_mismatch", "missing"} <= statuses
    assert statuses & set(DEPOSIT_PROBLEMS) and statuses & set(DEPOSIT_OK)


# --- report.html ----------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_html_section_lists_every_deposit_problems_first(lang: str, en: Run, zh: Run) -> None:
    run = en if lang == "en" else zh
    page = (run.out / "report.html").read_text(encoding="utf-8")
    dep = run.result.deposits
    # After the counts (and findings), before the charts.
    title = f'<h2 id="batch-deposits">{t("dep.title", lang)}</h2>'
    assert page.count(title) == 1
    assert page.index(t("html.h_by_sev", lang)) < page.index(title)
    assert page.index(title) < page.index(f"<h2>{t('html.h_charts', lang)}</h2>")
    flagged = dep.filter(pl.col("status").is_in(DEPOSIT_PROBLEMS)).height
    line = _line(dep, lang)
    assert f"<p>{line}</p>" in page
    table = _deposits_table(page)
    body = table[table.index("<tbody>") :]
    assert body.count("<tr") == dep.height
    assert body.count('<tr class="flag">') == flagged
    # Problems first, in their order, then by group.
    ids = re.findall(r"<tr[^>]*><td>(G\d+)</td>", body)
    assert ids == _expected_order(dep)
    statuses = _statuses(body)
    assert set(statuses[:flagged]) <= set(DEPOSIT_PROBLEMS)
    assert not set(statuses[flagged:]) & set(DEPOSIT_PROBLEMS)
    rank = [DEPOSIT_PROBLEMS.index(s) for s in statuses[:flagged]]
    assert rank == sorted(rank)
    # Statuses in words of the page's language; money right-aligned as the text it is.
    for status in set(statuses):
        assert f'title="{status}">{t("dep.s." + status, lang)}</td>' in body
    first = deposits_in_order(dep).row(0, named=True)
    for col in MONEY:
        assert f'<td class="num">{first[col]}</td>' in body
    for head in ("group_id", "status", "bank_ids", "deposit_day", "n_sales", "deposit", "pos_ids"):
        assert f'<th title="sort">{t("dep.c." + head, lang)}</th>' in table


def test_html_sales_cell_shows_fifty_ids_then_a_count(en: Run) -> None:
    page = (en.out / "report.html").read_text(encoding="utf-8")
    body = _deposits_table(page)
    first = deposits_in_order(en.result.deposits).row(0, named=True)
    ids = first["pos_ids"].split(";")
    assert len(ids) > 50
    cell = re.search(r"<details><summary>.*?</details>", body, re.S)
    assert cell
    assert f"<summary>{len(ids)} sales</summary>" in cell.group(0)
    assert f"<code>{', '.join(ids[:50])}</code>" in cell.group(0)
    assert f"… and {len(ids) - 50} more" in cell.group(0)


def test_html_caps_the_table_and_escapes_values(en: Run) -> None:
    dep = en.result.deposits
    many = pl.concat([dep] * 30).with_columns(
        group_id=formatted("G{}", pl.int_range(pl.len()).cast(pl.String).str.zfill(6)),
        merchant=pl.lit("<script>alert(1)</script>"),
    )
    assert many.height > MAX_DEPOSITS
    page = render_html(replace(en.result, deposits=many))
    body = _deposits_table(page)
    assert body.count("<tr") == MAX_DEPOSITS + 1  # + the header row
    assert f"the first {MAX_DEPOSITS} of {many.height} deposits" in page
    assert "<code>deposits.csv</code>" in page
    assert "<script>alert" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_no_section_without_deposits(plain: Path, en: Run) -> None:
    page = (plain / "report.html").read_text(encoding="utf-8")
    assert 'id="batch-deposits"' not in page and 'id="deposits"' not in page
    empty = replace(en.result, deposits=pl.DataFrame())
    assert 'id="deposits"' not in render_html(empty)


# --- terminal -------------------------------------------------------------------------------


def test_terminal_lists_deposits_problems_first(en: Run) -> None:
    dep = en.result.deposits
    out = en.output
    assert "Batch deposits" in out
    n_flagged = dep.filter(pl.col("status").is_in(DEPOSIT_PROBLEMS)).height
    assert _line(dep, "en") in out
    assert n_flagged > 0
    head = re.search(r"Group +Status +Deposit +Paid on +Sales +Gross +Expected fee", out)
    assert head, out
    order = _expected_order(dep)
    shown = re.findall(r"^(G\d{6}) ", out, re.M)
    assert shown == order[:10]
    for r in deposits_in_order(dep).head(10).iter_rows(named=True):
        row = next(ln for ln in out.splitlines() if ln.startswith(r["group_id"]))
        for col in ("bank_ids", *MONEY, "currency"):
            assert f" {r[col]}" in row, (col, row)
        assert t("dep.s." + r["status"], "en") in row
    assert f"... and {dep.height - 10} more in deposits.csv" in out
    assert "deposits.csv" in out.split("Reports written to")[1]


def test_terminal_zh_narrow_console_keeps_every_value(zh: Run) -> None:
    out = zh.output
    dep = zh.result.deposits
    assert "批量到账" in out
    assert _line(dep, "zh") in out
    for r in deposits_in_order(dep).head(10).iter_rows(named=True):
        assert f"{r['group_id']}  {t('dep.s.' + r['status'], 'zh')}  {r['bank_ids']}" in out
        for col in MONEY:
            assert r[col] in out
    assert "…" not in "".join(ln for ln in out.splitlines() if ln.startswith("  G"))


def test_terminal_quiet_prints_nothing(inputs: Path) -> None:
    args = ["run", "--pos", str(inputs / "pos.csv"), "--bank", str(inputs / "bank.csv")]
    args += ["--config", str(inputs / "settle.toml"), "--out", str(inputs / "q"), "--quiet"]
    res = CliRunner().invoke(cli, args, env=_EN_ENV)
    assert res.exit_code == 1
    assert res.output == ""


def test_terminal_without_deposits_has_no_block(en: Run) -> None:
    buf = io.StringIO()
    empty = replace(en.result, deposits=pl.DataFrame())
    render_summary(empty, Console(file=buf, width=120), None)
    assert "Batch deposits" not in buf.getvalue()


# --- report.xlsx ----------------------------------------------------------------------------


def _sheet(path: Path, name: str) -> pl.DataFrame:
    return pl.read_excel(path, sheet_name=name, engine="calamine")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_xlsx_deposits_sheet(lang: str, en: Run, zh: Run) -> None:
    run = en if lang == "en" else zh
    path = run.out / "report.xlsx"
    names = fastexcel.read_excel(path).sheet_names
    assert names[0] == "Summary" and names[-2:] == ["Deposits", "Rejected"]
    sheet = _sheet(path, "Deposits")
    want = deposits_in_order(run.result.deposits)
    assert sheet.height == want.height
    if lang == "zh":
        assert sheet.columns[:2] == ["组号", "状态"]
        assert "到账净额" in sheet.columns
        sheet.columns = COLUMNS
    assert sheet.columns == COLUMNS
    assert sheet["group_id"].to_list() == want["group_id"].to_list()
    assert sheet["status"].to_list() == want["status"].to_list()  # the stored values
    for col in MONEY:
        assert sheet[col].dtype.is_numeric(), col
        for got, text in zip(sheet[col].to_list(), want[col].to_list(), strict=True):
            assert Decimal(str(got)).quantize(Decimal("0.01")) == Decimal(text), (col, got, text)
    assert sheet["n_sales"].dtype.is_numeric()
    assert sheet["n_sales"].cast(pl.Int64).to_list() == want["n_sales"].cast(pl.Int64).to_list()
    for col in ("business_day", "expected", "bank_time"):
        assert sheet[col].dtype in (pl.Date, pl.Datetime("ms"), pl.Datetime("us")), col


def test_xlsx_money_cells_are_typed_numbers(en: Run) -> None:
    """In the sheet's XML, money cells are number cells with a number format, not text."""
    with zipfile.ZipFile(en.out / "report.xlsx") as z:
        sheets = sorted(
            (n for n in z.namelist() if re.fullmatch(r"xl/worksheets/sheet\d+\.xml", n)),
            key=lambda n: int(re.sub(r"\D", "", n)),
        )
        names = fastexcel.read_excel(en.out / "report.xlsx").sheet_names
        xml = z.read(sheets[names.index("Deposits")]).decode()
    gross = COLUMNS.index("gross")
    letter = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[gross]
    cell = re.search(rf'<c r="{letter}2"([^>]*)><v>([^<]*)</v></c>', xml)
    assert cell, xml[:2000]
    assert 't="s"' not in cell.group(1) and 's="' in cell.group(1)
    first = deposits_in_order(en.result.deposits).row(0, named=True)
    assert Decimal(cell.group(2)) == Decimal(first["gross"])


# --- summary.md -----------------------------------------------------------------------------


def test_summary_md_line_and_flagged_deposits(en: Run, zh: Run) -> None:
    for run, lang in ((en, "en"), (zh, "zh")):
        lines = (run.out / "summary.md").read_text(encoding="utf-8").splitlines()
        dep = run.result.deposits
        flagged = deposits_in_order(dep.filter(pl.col("status").is_in(DEPOSIT_PROBLEMS)))
        assert lines[0].startswith("**") and lines[1] == ""
        assert lines[2] == _line(dep, lang)
        bullets = [ln for ln in lines[3:] if ln.startswith("- **G")]
        assert len(bullets) == min(5, flagged.height)
        for ln, r in zip(bullets, flagged.iter_rows(named=True), strict=False):
            assert ln.startswith(f"- **{r['group_id']}** {t('dep.s.' + r['status'], lang)}")
            assert r["bank_ids"] in ln
        if lang == "en" and flagged.height > 5:
            assert f"… and {flagged.height - 5} more flagged deposits in deposits.csv." in lines
        assert "deposits.csv" in lines[-1]


def test_summary_md_without_deposits_is_unchanged(en: Run) -> None:
    empty = replace(en.result, deposits=pl.DataFrame())
    text = render_summary_md(empty, None)
    assert "deposits paid" not in text


# --- deposits.csv ---------------------------------------------------------------------------


def test_deposits_csv_has_every_deposit_and_exactly_the_batch_sales(en: Run) -> None:
    csv = pl.read_csv(en.out / "deposits.csv", infer_schema=False)
    dep = en.result.deposits
    assert csv.columns == COLUMNS
    assert csv.height == dep.height
    assert csv["group_id"].to_list() == dep["group_id"].to_list()
    for col in MONEY:
        assert csv[col].to_list() == dep[col].to_list()  # the exact decimal text
    ids = [i for cell in csv["pos_ids"].to_list() for i in cell.split(";")]
    assert len(ids) == len(set(ids))  # no sale paid by two deposits
    assert [int(n) for n in csv["n_sales"]] == [len(c.split(";")) for c in csv["pos_ids"]]
    matches = pl.read_parquet(en.out / "matches.parquet")
    batch = matches.filter(pl.col("rule").str.starts_with("batch"))["pos_id"].to_list()
    assert batch and set(ids) == set(batch) and len(batch) == len(set(batch))
    # Every batch match names the deposit group that paid it.
    by_group = dict(zip(csv["group_id"], csv["pos_ids"], strict=True))
    for pos_id, group in (
        matches.filter(pl.col("rule").str.starts_with("batch"))
        .select("pos_id", "group_id")
        .iter_rows()
    ):
        assert pos_id in by_group[group].split(";")


def test_deposits_csv_neutralises_formulas_but_not_numbers(en: Run, tmp_path: Path) -> None:
    dep = en.result.deposits.with_columns(
        merchant=pl.lit("=HYPERLINK(1)"),
        fee_charged=pl.lit("-1.50"),
    )
    paths = write_outputs(replace(en.result, deposits=dep), tmp_path)
    assert paths["deposits.csv"] == tmp_path / "deposits.csv"
    assert "deposits.csv" not in FILES
    csv = pl.read_csv(tmp_path / "deposits.csv", infer_schema=False)
    assert set(csv["merchant"]) == {"'=HYPERLINK(1)"}
    assert set(csv["fee_charged"]) == {"-1.50"}
    assert not list(tmp_path.glob(".*.tmp"))


def test_deposits_csv_header_only_when_enabled_but_empty(en: Run, tmp_path: Path) -> None:
    write_outputs(replace(en.result, deposits=pl.DataFrame()), tmp_path)
    assert (tmp_path / "deposits.csv").read_text().splitlines() == [",".join(COLUMNS)]


def test_no_deposits_csv_without_settlement(plain: Path) -> None:
    assert not (plain / "deposits.csv").exists()
    assert sorted(p.name for p in plain.iterdir()) == sorted(FILES)
    assert "Deposits" not in fastexcel.read_excel(plain / "report.xlsx").sheet_names
    assert "deposits" not in (plain / "summary.md").read_text(encoding="utf-8")


def test_outputs_are_deterministic(en: Run, tmp_path: Path) -> None:
    names = ("deposits.csv", "report.html", "report.xlsx", "summary.md")
    write_outputs(en.result, tmp_path)
    first = {name: (tmp_path / name).read_bytes() for name in names}
    write_outputs(en.result, tmp_path)
    for name in names:
        assert (tmp_path / name).read_bytes() == first[name], name
