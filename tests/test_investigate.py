"""recon investigate: one disputed transfer, its records, decisions and the evidence file."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from conftest import REPO

from recon.cli import cli

SAMPLES = REPO / "samples"
HEADER = "id,time,amount,currency,account,reference,kind,terminal,merchant\n"


def _files(tmp: Path, pos: list[str], bank: list[str]) -> tuple[Path, Path]:
    p, b = tmp / "pos.csv", tmp / "bank.csv"
    p.write_text(HEADER + "".join(r + "\n" for r in pos))
    b.write_text(HEADER + "".join(r + "\n" for r in bank))
    return p, b


def investigate(pos: Path, bank: Path, *args: str):
    res = CliRunner().invoke(
        cli, ["investigate", "--pos", str(pos), "--bank", str(bank), *args, "--json"]
    )
    return res.exit_code, (json.loads(res.output) if res.exit_code == 0 else res.output)


def _types(case: dict) -> set[str]:
    return {f["type"] for f in case["what_went_wrong"]}


def test_you_charged_me_twice(tmp_path):
    card = "622202******1234"
    pos, bank = _files(
        tmp_path,
        [
            f"P1,2026-11-20T15:10:00,25.00,CNY,{card},R1,sale,T1,M1",
            f"P2,2026-11-20T15:10:03,25.00,CNY,{card},,sale,T1,M1",
        ],
        [
            f"B1,2026-11-21T02:00:00,25.00,CNY,{card},R1,credit,T1,M1",
            f"B2,2026-11-21T02:00:00,25.00,CNY,{card},,credit,T1,M1",
        ],
    )
    code, case = investigate(
        pos, bank, "--amount", "25.00", "--date", "2026-11-20", "--last4", "1234"
    )
    assert code == 0
    assert [r["id"] for r in case["records"]] == ["P1", "P2", "B1", "B2"]
    (finding,) = case["what_went_wrong"]
    assert (finding["type"], finding["severity"]) == ("duplicate_pos", "high")
    assert "charged more than once" in finding["suggested_action"]


def test_my_transfer_never_arrived(tmp_path):
    pos, bank = _files(
        tmp_path,
        ["P7,2026-11-20T12:20:00,19.90,CNY,622202******7788,R7,sale,T1,M1"],
        ["B8,2026-11-21T02:00:00,55.00,CNY,622202******7788,R8,credit,T1,M1"],
    )
    code, case = investigate(pos, bank, "--reference", "R7")
    assert code == 0
    # The other settlement of that card is shown too: money of its own, not this sale's.
    assert _types(case) == {"orphan_pos", "orphan_bank"}
    (cand,) = [c for c in case["candidates"] if c["record"] == "P7"]
    assert cand["candidate"] == "B8"
    assert "amount off by 35.10 CNY (bank minus POS)" in cand["why_not"]
    assert "reference R8 vs R7" in cand["why_not"]


def test_wrong_amount_names_the_keying_error(tmp_path):
    pos, bank = _files(
        tmp_path,
        ["P2,2026-11-20T09:40:11,35.50,CNY,622588******5580,R2,sale,T1,M1"],
        ["B2,2026-11-21T02:10:00,53.50,CNY,622588******5580,R2,credit,T1,M1"],
    )
    _code, case = investigate(pos, bank, "--reference", "R2")
    (finding,) = case["what_went_wrong"]
    assert finding["type"] == "amount_mismatch"
    assert finding["cause"] == "keying error: digits transposed"
    assert case["records"][0]["decision"].startswith("matched to B2 by rule reference")


def test_wrong_account(tmp_path):
    pos, bank = _files(
        tmp_path,
        ["P3,2026-11-20T10:02:45,560.00,CNY,621700******9931,R3,sale,T2,M1"],
        ["B3,2026-11-21T02:10:00,560.00,CNY,621700******9913,R3,credit,T2,M1"],
    )
    _code, case = investigate(pos, bank, "--id", "B3")
    assert _types(case) == {"account_mismatch"}


def test_refund_never_arrived_and_candidates_say_why(tmp_path):
    card = "622588******5580"
    pos, bank = _files(
        tmp_path,
        [
            f"P1,2026-11-20T09:00:00,40.00,CNY,{card},R1,sale,T1,M1",
            f"P2,2026-11-20T16:00:00,-40.00,CNY,{card},R2,refund,T1,M1",
        ],
        [
            f"B1,2026-11-21T02:00:00,40.00,CNY,{card},R1,credit,T1,M1",
            f"B9,2026-11-27T02:00:00,-40.00,CNY,{card},,debit,T1,M1",
        ],
    )
    code, case = investigate(pos, bank, "--reference", "R2")
    assert code == 0
    refund = next(r for r in case["records"] if r["id"] == "P2")
    assert refund["kind"] == "refund"
    assert "orphan_pos" in refund["decision"]
    why = {c["candidate"]: c["why_not"] for c in case["candidates"] if c["record"] == "P2"}
    assert any("outside the 3-day window by" in w for w in why["B9"])


def test_nothing_found_is_exit_1_with_a_clear_message(tmp_path):
    res = CliRunner().invoke(
        cli,
        [
            "investigate",
            "--pos",
            str(SAMPLES / "pos.csv"),
            "--bank",
            str(SAMPLES / "bank.csv"),
            "--reference",
            "000000000000",
        ],
    )
    assert res.exit_code == 1
    assert "no record matches reference 000000000000" in res.output


def test_needs_a_selector(tmp_path):
    res = CliRunner().invoke(cli, ["investigate", "--pos", str(SAMPLES / "pos.csv")])
    assert res.exit_code == 2
    assert "--reference, --id, or --amount" in res.output
    res = CliRunner().invoke(
        cli, ["investigate", "--pos", str(SAMPLES / "pos.csv"), "--amount", "1.00"]
    )
    assert res.exit_code == 2 and "--amount needs --date" in res.output


def test_stored_results_give_the_days_decisions_without_reconciling(tmp_path):
    out = tmp_path / "run"
    CliRunner().invoke(
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
    code, case = investigate(
        SAMPLES / "pos.csv",
        SAMPLES / "bank.csv",
        "--reference",
        "605200000120",
        "--results",
        str(out),
    )
    assert code == 0
    assert str(out) in case["decided_by"]
    disc = pl.read_csv(out / "discrepancies.csv", infer_schema=False)
    item = disc.filter(pl.col("type") == "duplicate_bank").row(0, named=True)
    assert case["what_went_wrong"][0]["item_id"] == item["item_id"]
    assert {r["id"] for r in case["records"]} >= {"S020", "B020", "B032"}


@pytest.mark.parametrize("suffix", [".md", ".html", ".json"])
def test_evidence_file_holds_what_the_bank_needs(tmp_path, suffix):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[contacts]\nacquirer = "UnionPay hotline 95516"\nresponsible = "Li Na"\n')
    target = tmp_path / f"case{suffix}"
    res = CliRunner().invoke(
        cli,
        [
            "investigate",
            "--pos",
            str(SAMPLES / "pos.csv"),
            "--bank",
            str(SAMPLES / "bank.csv"),
            "--config",
            str(cfg),
            "--reference",
            "605200000112",
            "--export",
            str(target),
        ],
    )
    assert res.exit_code == 0, res.output
    text = target.read_text()
    for needed in (
        "S012",
        "S013",
        "B012",
        "voided_but_settled",
        "605200000112",
        "T02",
        "622202******4455",
        "UnionPay hotline 95516",
        "Li Na",
    ):
        assert needed in text, needed
    assert hashlib.sha256((SAMPLES / "pos.csv").read_bytes()).hexdigest() in text


def test_parquet_lookup_by_amount_and_date(tmp_path):
    for side in ("pos", "bank"):
        df = pl.read_csv(SAMPLES / f"{side}.csv", infer_schema=False)
        df = df.filter(~pl.col("amount").str.contains("O")).with_columns(
            time=pl.col("time").str.to_datetime()
        )
        df.write_parquet(tmp_path / f"{side}.parquet")
    code, case = investigate(
        tmp_path / "pos.parquet",
        tmp_path / "bank.parquet",
        "--amount",
        "12.00",
        "--date",
        "2026-11-20",
        "--time",
        "15:00",
    )
    assert code == 0
    assert _types(case) == {"amount_mismatch"}
    assert case["records"][0]["id"] == "S021"


def test_state_history_appears_in_the_case(tmp_path):
    state = tmp_path / "state.db"
    CliRunner().invoke(
        cli,
        [
            "run",
            "--pos",
            str(SAMPLES / "pos.csv"),
            "--bank",
            str(SAMPLES / "bank.csv"),
            "--state",
            str(state),
            "--out",
            str(tmp_path / "o"),
            "--quiet",
        ],
    )
    code, case = investigate(
        SAMPLES / "pos.csv",
        SAMPLES / "bank.csv",
        "--reference",
        "605200000111",
        "--state",
        str(state),
    )
    assert code == 0
    assert [h["type"] for h in case["history"]] == ["orphan_pos"]
    assert case["history"][0]["day"] == "2026-11-20"
