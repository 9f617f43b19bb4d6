"""Golden-file tests: the rendered reports of two known days, compared byte for byte.

For the bundled samples (samples/) and the hand-made contract day (tests/data/contract), in
English and Chinese, this renders the terminal summary, summary.md, and the report data
(discrepancies and matches as CSV text), and compares each with its file in tests/golden/.

When a report changes on purpose, regenerate the golden files and review the diff:

    RECON_REGENERATE_GOLDEN=1 python -m pytest tests/test_golden.py
"""

from __future__ import annotations

import difflib
import functools
import io
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import DATA, REPO
from rich.console import Console

from recon.config import Settings
from recon.pipeline import reconcile
from recon.report.summary_md import render_summary_md
from recon.report.terminal import render_summary
from recon.result import RunResult

GOLDEN = Path(__file__).parent / "golden"
REGENERATE = os.environ.get("RECON_REGENERATE_GOLDEN") == "1"
REGENERATE_HINT = "RECON_REGENERATE_GOLDEN=1 python -m pytest tests/test_golden.py"

# A fixed, fake output folder so the "reports written to" lines never change.
FAKE_OUT = Path("OUT")

CASES: dict[str, tuple[Path, Path]] = {
    "samples": (REPO / "samples" / "pos.csv", REPO / "samples" / "bank.csv"),
    "contract": (DATA / "contract" / "pos.csv", DATA / "contract" / "bank.csv"),
}
LANGS = ("en", "zh")

CONTRACT_COLUMNS = [
    "item_id",
    "type",
    "severity",
    "pos_ids",
    "bank_ids",
    "pos_amount",
    "bank_amount",
    "difference",
    "currency",
    "reference",
    "detail",
    "suggested_action",
    "cause",
]
MATCH_COLUMNS = ["pos_id", "bank_id", "rule", "lag_seconds"]


@functools.cache
def _result(case: str, lang: str) -> RunResult:
    pos, bank = CASES[case]
    return reconcile(replace(Settings(pos=str(pos), bank=str(bank)), lang=lang))


def _normalise(text: str, case: str) -> str:
    """Make the text independent of where the checkout lives."""
    for path in CASES[case]:
        text = text.replace(str(path), path.name)
    return text.replace(str(REPO), "<repo>")


def _terminal(result: RunResult) -> str:
    console = Console(width=100, color_system=None, record=True, file=io.StringIO())
    render_summary(result, console, FAKE_OUT)
    return console.export_text()


def _summary_md(result: RunResult) -> str:
    return render_summary_md(result, FAKE_OUT)


def _discrepancies(result: RunResult) -> str:
    return result.discrepancies.select(CONTRACT_COLUMNS).write_csv()


def _matches(result: RunResult) -> str:
    return result.matches.select(MATCH_COLUMNS).write_csv()


RENDERERS: dict[str, tuple[str, Callable[[RunResult], str]]] = {
    "terminal": ("terminal.txt", _terminal),
    "summary_md": ("summary.md", _summary_md),
    "discrepancies": ("discrepancies.csv", _discrepancies),
    "matches": ("matches.csv", _matches),
}


def golden_path(case: str, lang: str, kind: str) -> Path:
    return GOLDEN / f"{case}_{lang}_{RENDERERS[kind][0]}"


def _diff(expected: str, actual: str, path: Path) -> str:
    rel = path.relative_to(REPO)
    lines = difflib.unified_diff(
        expected.splitlines(keepends=True),
        actual.splitlines(keepends=True),
        fromfile=f"{rel} (golden)",
        tofile=f"{rel} (rendered now)",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


@pytest.mark.parametrize("kind", list(RENDERERS))
@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("case", list(CASES))
def test_golden(case: str, lang: str, kind: str) -> None:
    actual = _normalise(RENDERERS[kind][1](_result(case, lang)), case)
    path = golden_path(case, lang, kind)
    if REGENERATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8", newline="\n")
        return
    if not path.exists():
        pytest.fail(
            f"golden file {path.relative_to(REPO)} is missing; create it with:\n"
            f"    {REGENERATE_HINT}",
            pytrace=False,
        )
    expected = path.read_text(encoding="utf-8")
    if actual != expected:
        pytest.fail(
            f"{kind} output for {case}/{lang} differs from {path.relative_to(REPO)}:\n"
            f"{_diff(expected, actual, path)}\n"
            f"If the change is intended, regenerate and review the golden files:\n"
            f"    {REGENERATE_HINT}",
            pytrace=False,
        )


def test_golden_has_no_stray_files() -> None:
    """Every file in tests/golden/ belongs to a case (catches renamed or dropped cases)."""
    expected = {
        golden_path(case, lang, kind).name for case in CASES for lang in LANGS for kind in RENDERERS
    }
    if not GOLDEN.exists():
        pytest.skip(f"no golden files yet; create them with: {REGENERATE_HINT}")
    stray = sorted(p.name for p in GOLDEN.iterdir() if p.name not in expected)
    assert not stray, f"files in tests/golden/ that no test checks: {stray}"
