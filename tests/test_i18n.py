"""--lang zh: Chinese words for people, the same machine-readable values as English."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
from click.testing import CliRunner

from recon.cli import cli
from recon.i18n import LANGS, TEXT, env_lang

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
_EN_ENV = {"LC_ALL": "C.UTF-8", "LC_MESSAGES": "", "LANG": "C.UTF-8"}


def _run(out: Path, *extra: str, env: dict[str, str] | None = None):
    args = ["run", "--pos", str(SAMPLES / "pos.csv"), "--bank", str(SAMPLES / "bank.csv")]
    args += ["--out", str(out), *extra]
    return CliRunner().invoke(cli, args, env=env or _EN_ENV)


def _cjk(text: str) -> bool:
    return re.search(r"[\u4e00-\u9fff]", text) is not None


def test_zh_run_translates_words_not_values(tmp_path: Path) -> None:
    en = _run(tmp_path / "en", "--lang", "en")
    zh = _run(tmp_path / "zh", "--lang", "zh")
    assert en.exit_code == zh.exit_code
    den = pl.read_csv(tmp_path / "en" / "discrepancies.csv", infer_schema_length=0)
    dzh = pl.read_csv(tmp_path / "zh" / "discrepancies.csv", infer_schema_length=0)
    assert den.columns == dzh.columns
    for col in ("item_id", "type", "severity"):
        assert den[col].to_list() == dzh[col].to_list()
    for col in ("detail", "cause", "suggested_action"):
        assert all(_cjk(v) for v in dzh[col].drop_nulls()), col
        assert not any(_cjk(v) for v in den[col].drop_nulls()), col
    causes = " ".join(dzh["cause"].drop_nulls())
    assert "输入错误" in causes
    assert "欺诈" in causes
    assert "CNY" in " ".join(dzh["detail"].drop_nulls())

    assert "差异类型" in zh.output and "discrepancy type" in en.output
    page = (tmp_path / "zh" / "report.html").read_text(encoding="utf-8")
    assert '<html lang="zh">' in page and "按类型" in page
    assert '<html lang="en">' in (tmp_path / "en" / "report.html").read_text(encoding="utf-8")
    md = (tmp_path / "zh" / "summary.md").read_text(encoding="utf-8")
    assert "涉及金额" in md and "金额不符" in md


def test_zh_run_shows_rejected_reasons_in_chinese_and_keeps_rejected_csv(tmp_path: Path) -> None:
    en = _run(tmp_path / "en", "--lang", "en")
    zh = _run(tmp_path / "zh", "--lang", "zh")
    # rejected.csv is read by other tools: the same English in both languages.
    ren = (tmp_path / "en" / "rejected.csv").read_bytes()
    assert (tmp_path / "zh" / "rejected.csv").read_bytes() == ren
    reasons = pl.read_csv(tmp_path / "zh" / "rejected.csv")["reason"].to_list()
    assert reasons == ["amount is not a number: '1O.00'"]
    # The terminal summary and report.html are for people.
    assert "第 30 行：金额不是数字：'1O.00'" in zh.output
    assert "line 30: amount is not a number: '1O.00'" in en.output
    page = (tmp_path / "zh" / "report.html").read_text(encoding="utf-8")
    assert "金额不是数字：&#x27;1O.00&#x27;" in page and "amount is not a number" not in page


def test_default_is_english_and_unchanged(tmp_path: Path) -> None:
    plain = _run(tmp_path / "a")
    en = _run(tmp_path / "b", "--lang", "en")
    assert plain.output.replace(str(tmp_path / "a"), "X") == en.output.replace(
        str(tmp_path / "b"), "X"
    )
    for name in ("discrepancies.csv", "summary.md"):
        a = (tmp_path / "a" / name).read_text(encoding="utf-8")
        b = (tmp_path / "b" / name).read_text(encoding="utf-8")
        assert a.replace(str(tmp_path / "a"), "X") == b.replace(str(tmp_path / "b"), "X")
    assert not _cjk(plain.output)


def test_zh_locale_picks_zh(tmp_path: Path) -> None:
    res = _run(tmp_path / "z", env={"LC_ALL": "", "LC_MESSAGES": "", "LANG": "zh_CN.UTF-8"})
    assert "差异类型" in res.output
    assert env_lang({"LANG": "zh_CN.UTF-8"}) == "zh"
    assert env_lang({"LC_ALL": "en_US.UTF-8", "LANG": "zh_CN.UTF-8"}) == "en"
    assert env_lang({}) == "en"


def test_catalog_complete_and_keys_exist() -> None:
    for key, entry in TEXT.items():
        assert set(entry) == set(LANGS), key
        assert all(entry.values()), key
    used = set()
    for path in (ROOT / "recon").rglob("*.py"):
        used |= set(re.findall(r"\b_?tx?\(\s*[\"']([a-z_.]+)[\"']", path.read_text("utf-8")))
    assert used, "no catalog keys found"
    prefixes = {k for k in used if k.endswith(".")}  # built in code: "html.c." + column
    assert all(any(k.startswith(p) for k in TEXT) for p in prefixes)
    assert used - prefixes - set(TEXT) == set()


def test_config_language_beats_the_locale_and_the_flag_beats_both(tmp_path):
    from click.testing import CliRunner as _Runner

    from recon.cli import cli as _cli

    cfg = tmp_path / "c.toml"
    cfg.write_text('lang = "en"\n')
    from conftest import REPO

    samples = REPO / "samples"
    base = ["run", "--pos", str(samples / "pos.csv"), "--bank", str(samples / "bank.csv")]
    zh_env = {"LANG": "zh_CN.UTF-8"}
    res = _Runner().invoke(
        _cli, [*base, "--config", str(cfg), "--out", str(tmp_path / "a")], env=zh_env
    )
    assert "Matched pairs" in res.output
    res = _Runner().invoke(
        _cli,
        [*base, "--config", str(cfg), "--lang", "zh", "--out", str(tmp_path / "b")],
        env=zh_env,
    )
    assert "Matched pairs" not in res.output
