"""The real CLI, through click's CliRunner and through the installed `recon` entry point."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from conftest import DATA, REPO

from recon.cli import cli

SAMPLES = REPO / "samples"
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
]


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def run_samples(out: Path, *extra: str):
    return invoke(
        "run",
        "--pos",
        str(SAMPLES / "pos.csv"),
        "--bank",
        str(SAMPLES / "bank.csv"),
        "--out",
        str(out),
        *extra,
    )


def test_samples_run_writes_every_contract_file_and_exits_1(tmp_path):
    res = run_samples(tmp_path / "out")
    assert res.exit_code == 1, res.output
    out = tmp_path / "out"
    for name in (
        "discrepancies.csv",
        "discrepancies.parquet",
        "matches.parquet",
        "rejected.csv",
        "summary.json",
        "report.html",
    ):
        assert (out / name).stat().st_size > 0, name
    disc = pl.read_csv(out / "discrepancies.csv", infer_schema=False)
    assert disc.columns[: len(CONTRACT_COLUMNS)] == CONTRACT_COLUMNS
    # The samples hold every discrepancy type at least once.
    assert set(disc["type"]) == {
        "amount_mismatch",
        "account_mismatch",
        "currency_mismatch",
        "duplicate_pos",
        "duplicate_bank",
        "orphan_pos",
        "orphan_bank",
        "voided_but_settled",
        "late_settlement",
    }
    parquet = pl.read_parquet(out / "discrepancies.parquet")
    assert parquet.columns == disc.columns
    text_cols = [c for c in CONTRACT_COLUMNS if c in parquet.columns]
    assert parquet.select(text_cols).equals(disc.select(text_cols))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["discrepancies"]["total"] == disc.height
    assert summary["inputs"]["pos"]["rows"] == 31
    assert summary["rejected"]["total"] == 1
    assert len(summary["inputs"]["bank"]["sha256"]) == 64
    # The terminal summary names the counts and where the files went.
    assert "Matched pairs" in res.output
    assert str(out) in res.output


def test_negative_cases_in_the_samples_are_not_reported(tmp_path):
    run_samples(tmp_path / "out")
    disc = pl.read_csv(tmp_path / "out" / "discrepancies.csv", infer_schema=False)
    reported = set(";".join(disc["pos_ids"].fill_null("")).split(";"))
    # S015/S016 repeat purchase, S017 refund settled as a debit, S018/S019 void never settled.
    assert not reported & {"S015", "S016", "S017", "S018", "S019"}
    matches = pl.read_parquet(tmp_path / "out" / "matches.parquet")
    voided = matches.filter(pl.col("rule") == "voided")
    assert sorted(voided["pos_id"]) == ["S018", "S019"]
    assert voided["bank_id"].null_count() == 2
    refund = matches.filter(pl.col("pos_id") == "S017").row(0, named=True)
    assert (refund["bank_id"], refund["pos_amount"]) == ("B017", "-40.00")


def test_rejected_row_names_its_physical_line_and_the_rest_is_reconciled(tmp_path):
    run_samples(tmp_path / "out")
    rej = pl.read_csv(tmp_path / "out" / "rejected.csv", infer_schema=False)
    assert rej.columns == ["side", "line", "reason", "raw"]
    row = rej.row(0, named=True)
    assert (row["side"], row["line"]) == ("pos", "30")
    assert "1O.00" in row["reason"]
    assert row["raw"].startswith("S029,")


def test_nothing_is_lost_every_row_is_matched_flagged_or_rejected(tmp_path):
    run_samples(tmp_path / "out")
    out = tmp_path / "out"
    disc = pl.read_csv(out / "discrepancies.csv", infer_schema=False)
    matches = pl.read_parquet(out / "matches.parquet")
    rej = pl.read_csv(out / "rejected.csv", infer_schema=False)
    pos = pl.read_csv(SAMPLES / "pos.csv", infer_schema=False)
    bank = pl.read_csv(SAMPLES / "bank.csv", infer_schema=False)

    def ids(col: pl.Series) -> set[str]:
        return {i for v in col.drop_nulls() for i in v.split(";") if i}

    rejected_pos = {pos["id"][int(line) - 2] for line in rej["line"]}
    seen_pos = ids(disc["pos_ids"]) | set(matches["pos_id"]) | rejected_pos
    seen_bank = ids(disc["bank_ids"]) | set(matches["bank_id"].drop_nulls())
    assert seen_pos == set(pos["id"])
    assert seen_bank == set(bank["id"])


def test_same_inputs_give_byte_identical_outputs(tmp_path):
    run_samples(tmp_path / "a")
    run_samples(tmp_path / "b")
    for name in (
        "discrepancies.csv",
        "discrepancies.parquet",
        "matches.parquet",
        "rejected.csv",
        "report.html",
    ):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


@pytest.mark.parametrize(("fail_on", "code"), [("low", 1), ("medium", 1), ("high", 1)])
def test_fail_on_with_rejected_rows_is_always_1(tmp_path, fail_on, code):
    assert run_samples(tmp_path / "o", "--fail-on", fail_on, "--quiet").exit_code == code


def test_exit_codes_follow_fail_on(tmp_path):
    pos = tmp_path / "pos.csv"
    bank = tmp_path / "bank.csv"
    pos.write_text(
        "id,time,amount,currency,reference\n"
        "P1,2026-11-20T10:00:00,66.00,CNY,R1\n"
        "P2,2026-11-20T11:00:00,10.00,CNY,R2\n"
    )
    bank.write_text(
        "id,time,amount,currency,reference\n"
        "B1,2026-11-27T02:00:00,66.00,CNY,R1\n"
        "B2,2026-11-21T02:00:00,10.00,CNY,R2\n"
    )
    base = ["run", "--pos", str(pos), "--bank", str(bank), "--quiet"]
    # Only a late settlement (low): fails at low, passes at medium and high.
    assert invoke(*base, "--out", str(tmp_path / "a"), "--fail-on", "low").exit_code == 1
    assert invoke(*base, "--out", str(tmp_path / "b"), "--fail-on", "medium").exit_code == 0
    res = invoke(*base, "--out", str(tmp_path / "c"), "--fail-on", "high")
    assert res.exit_code == 0
    assert res.output == ""  # --quiet prints nothing


def test_clean_day_exits_0_and_says_so(tmp_path):
    d = DATA / "contract"
    pos = pl.read_csv(d / "pos.csv", infer_schema=False).filter(pl.col("id") == "P1")
    bank = pl.read_csv(d / "bank.csv", infer_schema=False).filter(pl.col("id") == "B1")
    pos.write_csv(tmp_path / "pos.csv")
    bank.write_csv(tmp_path / "bank.csv")
    res = invoke(
        "run",
        "--pos",
        str(tmp_path / "pos.csv"),
        "--bank",
        str(tmp_path / "bank.csv"),
        "--out",
        str(tmp_path / "o"),
    )
    assert res.exit_code == 0, res.output
    assert "No discrepancies" in res.output
    assert (tmp_path / "o" / "rejected.csv").read_text().strip() == "side,line,reason,raw"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "file not found"),
        (b"", "empty"),
        (b"\x00\x01\x02\x03binary\x00\xff" * 50, "binary"),
        (b"foo,bar\n1,2\n", "time"),
    ],
)
def test_unusable_input_is_exit_2_with_one_line_naming_the_file(tmp_path, content, message):
    bad = tmp_path / "bad.csv"
    if content is not None:
        bad.write_bytes(content)
    res = CliRunner().invoke(
        cli,
        ["run", "--pos", str(bad), "--bank", str(SAMPLES / "bank.csv"), "--out", str(tmp_path)],
    )
    assert res.exit_code == 2
    assert "Traceback" not in res.output
    assert str(bad) in res.output
    assert message in res.output.lower()


def test_missing_inputs_and_bad_config_are_exit_2(tmp_path):
    res = CliRunner().invoke(cli, ["run", "--pos", str(SAMPLES / "pos.csv")])
    assert res.exit_code == 2
    assert "--bank" in res.output
    cfg = tmp_path / "c.toml"
    cfg.write_text("[match]\nwindow_dayz = 3\n")
    res = CliRunner().invoke(cli, ["run", "--config", str(cfg)])
    assert res.exit_code == 2
    assert "window_dayz" in res.output


def test_config_file_supplies_inputs_and_settings(tmp_path):
    shutil.copy(SAMPLES / "pos.csv", tmp_path / "pos.csv")
    shutil.copy(SAMPLES / "bank.csv", tmp_path / "bank.csv")
    cfg = tmp_path / "shop.toml"
    cfg.write_text(
        'fail_on = "high"\n'
        '[inputs]\npos = "pos.csv"\nbank = "bank.csv"\n'
        '[output]\ndir = "out"\n'
        "[match]\nlate_after_days = 10\n"
        '[severity]\norphan_bank = "low"\n'
    )
    res = invoke("run", "--config", str(cfg), "--quiet")
    assert res.exit_code == 1  # the sample has a rejected row
    disc = pl.read_csv(tmp_path / "out" / "discrepancies.csv", infer_schema=False)
    assert "late_settlement" not in set(disc["type"])  # 5.6 days < 10
    credit = disc.filter((pl.col("type") == "orphan_bank") & (pl.col("bank_amount") == "999.00"))
    assert credit["severity"].to_list() == ["low"]


def test_no_full_card_number_reaches_any_output(tmp_path):
    pos = tmp_path / "pos.csv"
    pos.write_text(
        "id,time,amount,currency,account,reference\n"
        "P1,2026-11-20T10:00:00,10.00,CNY,6222021234567891234,R1\n"
        "P2,2026-11-20T10:05:00,oops,CNY,4111 1111 1111 1111,R2\n"
    )
    bank = tmp_path / "bank.csv"
    bank.write_text("id,time,amount,currency,account,reference\n")
    res = invoke("run", "--pos", str(pos), "--bank", str(bank), "--out", str(tmp_path / "o"))
    assert res.exit_code == 1
    blobs = [res.output] + [
        p.read_bytes().decode("utf-8", "replace") for p in (tmp_path / "o").iterdir()
    ]
    parquet_text = pl.read_parquet(tmp_path / "o" / "discrepancies.parquet").write_csv()
    for text in [*blobs, parquet_text]:
        assert "6222021234567891234" not in text
        assert "4111111111111111" not in re.sub(r"\s", "", text)
    assert "622202*********1234" in parquet_text


def test_sample_command_writes_a_day_that_reconciles(tmp_path):
    res = invoke("sample", "--rows", "300", "--seed", "5", "--out", str(tmp_path / "day"))
    assert res.exit_code == 0, res.output
    faults = pl.read_csv(tmp_path / "day" / "faults.csv")
    assert faults.height > 0
    res = invoke(
        "run",
        "--pos",
        str(tmp_path / "day" / "pos.csv"),
        "--bank",
        str(tmp_path / "day" / "bank.csv"),
        "--out",
        str(tmp_path / "o"),
        "--quiet",
    )
    assert res.exit_code == 1


def _recon_exe() -> str:
    exe = Path(sys.executable).parent / "recon"
    if exe.exists():
        return str(exe)
    found = shutil.which("recon")
    if not found:
        pytest.skip("the recon entry point is not installed (pip install -e '.[test]')")
    return found


def test_installed_entry_point_runs_the_samples(tmp_path):
    proc = subprocess.run(
        [
            _recon_exe(),
            "run",
            "--pos",
            str(SAMPLES / "pos.csv"),
            "--bank",
            str(SAMPLES / "bank.csv"),
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    assert "Reports written to" in proc.stdout
    assert proc.stderr == ""
    assert (tmp_path / "o" / "summary.json").exists()


def test_installed_entry_point_reports_bad_input_without_traceback(tmp_path):
    proc = subprocess.run(
        [
            _recon_exe(),
            "run",
            "--pos",
            str(tmp_path / "nope.csv"),
            "--bank",
            str(SAMPLES / "bank.csv"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "nope.csv" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert proc.stdout == ""


def test_every_command_has_help():
    for cmd in ([], ["run"], ["sample"]):
        res = invoke(*cmd, "--help")
        assert res.exit_code == 0
        assert "Usage:" in res.output


def test_every_config_in_configs_loads():
    from recon.config import load_settings

    for path in (REPO / "configs").glob("*.toml"):
        settings = load_settings(path)
        assert settings.source == str(path)
    shop = load_settings(REPO / "configs" / "shop.toml")
    assert Path(shop.pos).resolve() == (SAMPLES / "pos.csv").resolve()
    assert shop.match.bank_duplicate_seconds == 300


def test_csv_outputs_neutralise_spreadsheet_formulas_but_keep_negative_amounts(tmp_path):
    pos = tmp_path / "pos.csv"
    pos.write_text(
        "id,time,amount,currency,reference,terminal\n"
        '=HYPERLINK("http://x"),2026-11-20T10:00:00,-40.00,CNY,@SUM(A1),+T1\n'
        "P2,2026-11-20T10:00:00,oops,CNY,=cmd,T1\n"
    )
    bank = tmp_path / "bank.csv"
    bank.write_text("id,time,amount,currency,reference\n")
    invoke("run", "--pos", str(pos), "--bank", str(bank), "--out", str(tmp_path / "o"), "--quiet")
    disc = pl.read_csv(tmp_path / "o" / "discrepancies.csv", infer_schema=False)
    row = disc.row(0, named=True)
    assert row["pos_ids"].startswith("'=HYPERLINK")
    assert row["reference"] == "'@SUM(A1)"
    assert row["terminal"] == "'+T1"
    assert row["pos_amount"] == "-40.00"  # numbers are left alone
    rej = pl.read_csv(tmp_path / "o" / "rejected.csv", infer_schema=False)
    assert rej["raw"][0].startswith("P2,")  # not risky: unchanged
    parquet = pl.read_parquet(tmp_path / "o" / "discrepancies.parquet")
    assert parquet["reference"][0] == "@SUM(A1)"  # machine-readable output keeps the value


def test_contacts_from_the_config_appear_in_the_actions_that_need_them(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        '[contacts]\nacquirer = "95516"\npos_vendor = "400-000-0000"\nresponsible = "Li Na"\n'
    )
    run_samples(tmp_path / "o", "--config", str(cfg), "--quiet")
    disc = pl.read_csv(tmp_path / "o" / "discrepancies.csv", infer_schema=False)
    action = dict(zip(disc["type"], disc["suggested_action"], strict=False))
    assert action["currency_mismatch"].endswith("Acquiring bank: 95516. POS vendor: 400-000-0000.")
    assert "Responsible: Li Na." in action["voided_but_settled"]
    assert "95516" not in action["duplicate_pos"] and "400-000-0000" in action["duplicate_pos"]
