"""report.html in a real headless Chromium: scripts run without errors, counts and charts show.

Skipped when no `chromium` binary is installed (CI installs Debian's package in .ci/run).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from recon.cli import cli
from recon.config import TYPES

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium binary on PATH (apt-get install chromium)"
)

# How Chromium runs here: as root, headless, with no network and a fresh profile.
_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def _chromium(tmp: Path, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp / f"profile-{name}"
    profile.mkdir()
    cmd = [str(CHROMIUM), *_FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("run")
    res = CliRunner().invoke(
        cli,
        [
            "run",
            "--pos",
            str(SAMPLES / "pos.csv"),
            "--bank",
            str(SAMPLES / "bank.csv"),
            "--out",
            str(out),
            "--quiet",
        ],
    )
    assert res.exit_code in (0, 1), res.output
    page = out / "report.html"
    assert page.is_file()
    return page, json.loads((out / "summary.json").read_text())


@pytest.fixture(scope="module")
def dumped(report: tuple[Path, dict], tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    page, _ = report
    tmp = tmp_path_factory.mktemp("chromium")
    proc = _chromium(
        tmp,
        "dom",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=3000",
        "--dump-dom",
        page.as_uri(),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "</html>" in proc.stdout, proc.stdout[:500]
    return proc.stdout, proc.stderr


def _element(dom: str, pattern: str) -> str:
    m = re.search(pattern, dom, re.S)
    assert m, pattern
    return m.group(0)


def test_scripts_ran_without_errors(dumped: tuple[str, str]) -> None:
    dom, log = dumped
    # The page's own window.onerror hook writes into this hidden element; it must stay empty.
    assert re.search(r'<div id="js-errors" hidden="">\s*</div>', dom), _element(
        dom, r'<div id="js-errors".*?</div>'
    )
    # Chromium logs uncaught page errors as CONSOLE lines on stderr.
    bad = [ln for ln in log.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
    assert not bad, bad
    # The filter box is hidden in the HTML and only the script shows it.
    box = _element(dom, r'<input id="filter"[^>]*>')
    assert "hidden" not in box, box


def test_counts_and_rows_after_scripts(report: tuple[Path, dict], dumped: tuple[str, str]) -> None:
    _, summary = report
    dom, _ = dumped
    total = summary["discrepancies"]["total"]
    assert total > 0
    assert f"<h2>Discrepancies ({total})</h2>" in dom
    assert f"Discrepancies<b>{total}</b>" in dom
    table = _element(dom, r'<table class="items" id="items">.*?</table>')
    body = _element(table, r"<tbody>.*?</tbody>")
    assert body.count("<tr") == total
    by_type = summary["discrepancies"]["by_type"]
    for t in TYPES:
        n = by_type[t]["count"]
        assert re.search(rf"<td>{t}</td><td class=\"num\">{n}</td>", dom), t
        if n:
            assert body.count(f"<td>{t}</td>") == n, t
    rejected = summary["rejected"]["total"]
    assert f"<h2>Rejected rows ({rejected})</h2>" in dom


def test_charts_render(report: tuple[Path, dict], dumped: tuple[str, str]) -> None:
    _, summary = report
    dom, _ = dumped
    for key in ("type", "terminal", "merchant", "hour", "lag"):
        fig = _element(dom, rf'<figure class="chart" id="chart-{key}">.*?</figure>')
        assert "<svg" in fig and f'<title id="t-{key}">' in fig, key
    by_type = _element(dom, r'<figure class="chart" id="chart-type">.*?</figure>')
    for t in TYPES:
        assert f">{t}</text>" in by_type, t
    for cur, amount in summary["money_at_risk"].items():
        merchant = _element(dom, r'<figure class="chart" id="chart-merchant">.*?</figure>')
        assert f"{amount} {cur}" in merchant  # one merchant in the samples: it holds it all
    hours = _element(dom, r'<figure class="chart" id="chart-hour">.*?</figure>')
    assert hours.count("<rect") == 24
    lag = _element(dom, r'<figure class="chart" id="chart-lag">.*?</figure>')
    assert f"Settlement lag of {summary['matched']['pairs']} matched pairs" in lag


def test_screenshot(report: tuple[Path, dict], tmp_path: Path) -> None:
    page, _ = report
    png = tmp_path / "report.png"
    proc = _chromium(
        tmp_path,
        "shot",
        "--virtual-time-budget=3000",
        "--hide-scrollbars",
        f"--screenshot={png}",
        "--window-size=1280,2000",
        page.as_uri(),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert png.is_file()
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 20_000  # a blank 1280x2000 page compresses to a few KB


# --- a batch-settled week: the deposits table is sortable like the items table ---------------

_SETTLEMENT = """\
[settlement]
cutoff = "23:00"
t_plus = 1
holidays = ["2026-11-19"]
[[settlement.fees]]
scheme = "*"
rate = "0.01"
"""


@pytest.fixture(scope="module")
def deposits_dumped(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, dict]:
    from recon.generate_batch import batch_day

    tmp = tmp_path_factory.mktemp("deposits")
    pos, bank, _ = batch_day(sales=600, seed=3)
    pos.write_csv(tmp / "pos.csv")
    bank.write_csv(tmp / "bank.csv")
    (tmp / "settle.toml").write_text(_SETTLEMENT, encoding="utf-8")
    out = tmp / "out"
    args = ["run", "--pos", str(tmp / "pos.csv"), "--bank", str(tmp / "bank.csv")]
    args += ["--config", str(tmp / "settle.toml"), "--out", str(out), "--quiet"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code in (0, 1), res.output
    proc = _chromium(
        tmp,
        "deposits",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=3000",
        "--dump-dom",
        (out / "report.html").as_uri(),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout, proc.stderr, json.loads((out / "summary.json").read_text())


def test_deposits_table_sorts_by_a_number(
    deposits_dumped: tuple[str, str, dict], tmp_path: Path
) -> None:
    dom, _, _ = deposits_dumped
    head = _element(dom, r'<table class="deposits".*?</thead>')
    sales = re.findall(r"<th[^>]*>(.*?)</th>", head).index("Sales") + 1
    page = tmp_path / "sorted.html"
    click = f"<script>document.querySelector('#deposits th:nth-child({sales})').click();</script>"
    page.write_text(dom.replace("</body>", click + "</body>"), encoding="utf-8")
    proc = _chromium(tmp_path, "sort", "--virtual-time-budget=3000", "--dump-dom", page.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    body = _element(proc.stdout, r'<table class="deposits".*?</tbody>')
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr.*?</tr>", body)]
    counts = [int(c[sales - 1]) for c in cells if c]
    assert len(counts) > 3 and counts == sorted(counts), counts


def test_deposits_page_runs_without_errors(deposits_dumped: tuple[str, str, dict]) -> None:
    dom, log, summary = deposits_dumped
    assert re.search(r'<div id="js-errors" hidden="">\s*</div>', dom), _element(
        dom, r'<div id="js-errors".*?</div>'
    )
    bad = [ln for ln in log.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
    assert not bad, bad
    table = _element(dom, r'<table class="deposits" id="deposits">.*?</table>')
    body = _element(table, r"<tbody>.*?</tbody>")
    assert summary["deposits"]["count"] > 0
    assert body.count("<tr") == summary["deposits"]["count"]
    assert body.count("<details>") == summary["deposits"]["count"]
