"""Findings (recon.findings): terminal- and pattern-level conclusions, each reported once."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
from click.testing import CliRunner
from conftest import REPO

from recon.cli import cli

HEAD = "id,time,amount,currency,account,reference,kind,terminal,merchant\n"
CARD = "622202******1234"
CARD2 = "622588******5580"

POS = HEAD + "\n".join(
    [
        # T03 settles in HKD: three currency mismatches -> one terminal_currency finding.
        f"C1,2026-11-20T09:00:00,10.00,CNY,{CARD},900001,sale,T03,M1",
        f"C2,2026-11-20T09:10:00,11.00,CNY,{CARD},900002,sale,T03,M1",
        f"C3,2026-11-20T09:20:00,12.00,CNY,{CARD},900003,sale,T03,M1",
        # T02: a single currency mismatch is an item, not a terminal finding.
        f"C4,2026-11-20T09:30:00,13.00,CNY,{CARD},900004,sale,T02,M1",
        # T05's clock runs 2 h 05 min ahead: the bank's time is before the POS time.
        f"K1,2026-11-20T12:00:00,20.00,CNY,{CARD2},900011,sale,T05,M1",
        f"K2,2026-11-20T13:00:00,21.00,CNY,{CARD2},900012,sale,T05,M1",
        f"K3,2026-11-20T14:00:00,22.00,CNY,{CARD2},900013,sale,T05,M1",
        f"K4,2026-11-20T15:00:00,23.00,CNY,{CARD2},900014,sale,T05,M1",
        # T01: a refund of 50.00 (no reference) after the 30.00 sale of the same card.
        f"S1,2026-11-20T10:00:00,30.00,CNY,{CARD2},900021,sale,T01,M1",
        f"R1,2026-11-20T11:00:00,-50.00,CNY,{CARD2},,refund,T01,M1",
        # ... while a refund smaller than its sale is ordinary.
        f"S2,2026-11-20T10:30:00,40.00,CNY,{CARD},900023,sale,T01,M1",
        f"R2,2026-11-20T11:30:00,-15.00,CNY,{CARD},900024,refund,T01,M1",
    ]
)
BANK = HEAD + "\n".join(
    [
        f"B1,2026-11-20T09:00:30,10.00,HKD,{CARD},900001,credit,T03,M1",
        f"B2,2026-11-20T09:10:30,11.00,HKD,{CARD},900002,credit,T03,M1",
        f"B3,2026-11-20T09:20:30,12.00,HKD,{CARD},900003,credit,T03,M1",
        f"B4,2026-11-20T09:30:30,13.00,HKD,{CARD},900004,credit,T02,M1",
        f"BK1,2026-11-20T09:55:00,20.00,CNY,{CARD2},900011,credit,T05,M1",
        f"BK2,2026-11-20T10:55:10,21.00,CNY,{CARD2},900012,credit,T05,M1",
        f"BK3,2026-11-20T11:54:50,22.00,CNY,{CARD2},900013,credit,T05,M1",
        f"BK4,2026-11-20T12:55:00,23.00,CNY,{CARD2},900014,credit,T05,M1",
        f"BS1,2026-11-20T10:00:30,30.00,CNY,{CARD2},900021,credit,T01,M1",
        f"BR1,2026-11-20T11:00:30,-50.00,CNY,{CARD2},900022,debit,T01,M1",
        f"BS2,2026-11-20T10:30:30,40.00,CNY,{CARD},900023,credit,T01,M1",
        f"BR2,2026-11-20T11:30:30,-15.00,CNY,{CARD},900024,debit,T01,M1",
    ]
)


def _run(tmp_path: Path, pos: str, bank: str, *extra: str) -> tuple[dict, str]:
    (tmp_path / "pos.csv").write_text(pos + "\n", encoding="utf-8")
    (tmp_path / "bank.csv").write_text(bank + "\n", encoding="utf-8")
    out = tmp_path / "out"
    res = CliRunner().invoke(
        cli,
        [
            "run",
            "--pos",
            str(tmp_path / "pos.csv"),
            "--bank",
            str(tmp_path / "bank.csv"),
            "--out",
            str(out),
            *extra,
        ],
        catch_exceptions=False,
    )
    assert res.exit_code in (0, 1), res.output
    return json.loads((out / "summary.json").read_text(encoding="utf-8")), res.output


def _by_kind(summary: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for f in summary["findings"]:
        out.setdefault(f["kind"], []).append(f)
    return out


def test_each_finding_once_with_its_items(tmp_path):
    summary, output = _run(tmp_path, POS, BANK, "--lang", "en")
    found = _by_kind(summary)
    assert set(found) == {"terminal_currency", "terminal_clock", "refund_exceeds_sale"}

    [cur] = found["terminal_currency"]
    assert cur["terminal"] == "T03" and cur["severity"] == "high"
    assert len(cur["items"]) == 3 and all(i.startswith("D") for i in cur["items"])
    assert cur["message"] == (
        "Terminal T03 settles in HKD while the POS records CNY (3 items): "
        "check the terminal's currency setting with the POS vendor"
    )

    [clock] = found["terminal_clock"]
    assert clock["terminal"] == "T05"
    assert clock["items"] == ["K1", "K2", "K3", "K4"]
    assert clock["message"] == (
        "Terminal T05's clock runs about 2 h 05 min ahead of the bank's (4 pairs): "
        "set the terminal's date and time"
    )

    [refund] = found["refund_exceeds_sale"]
    assert refund["items"] == ["R1", "S1"] and refund["terminal"] == "T01"
    assert "suspected fraud" in refund["message"]

    # Existing sections are untouched; the terminal summary adds a Findings section after them.
    assert summary["discrepancies"]["by_type"]["currency_mismatch"]["count"] == 4
    assert "Findings" in output
    assert output.index("Findings") > output.index("currency_mismatch")
    assert output.count("Terminal T03 settles in HKD") == 1
    md = (tmp_path / "out" / "summary.md").read_text(encoding="utf-8")
    assert "**Findings**" in md and "`terminal_clock`" in md
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "<h2>Findings</h2>" in html and html.count("refund_exceeds_sale") == 1


def test_terminal_lists_the_first_ids_of_a_large_finding_and_the_files_all(tmp_path):
    """25 currency mismatches on one terminal: the terminal names 20 items and how many more;
    summary.json names all 25."""
    pos = HEAD + "\n".join(
        f"L{i},2026-11-20T09:{i:02d}:00,{10 + i}.00,CNY,{CARD},9100{i:02d},sale,T09,M1"
        for i in range(25)
    )
    bank = HEAD + "\n".join(
        f"LB{i},2026-11-20T09:{i:02d}:30,{10 + i}.00,HKD,{CARD},9100{i:02d},credit,T09,M1"
        for i in range(25)
    )
    summary, output = _run(tmp_path, pos, bank, "--lang", "en")
    [cur] = _by_kind(summary)["terminal_currency"]
    assert len(cur["items"]) == 25
    shown = ", ".join(cur["items"][:20])
    assert f"{shown} … and 5 more" in " ".join(output.split())
    assert cur["items"][20] not in output


def test_currency_items_are_the_mismatch_items(tmp_path):
    summary, _ = _run(tmp_path, POS, BANK)
    disc = pl.read_csv(tmp_path / "out" / "discrepancies.csv", infer_schema=False)
    t03 = disc.filter((pl.col("type") == "currency_mismatch") & (pl.col("terminal") == "T03"))
    [cur] = _by_kind(summary)["terminal_currency"]
    assert cur["items"] == sorted(t03["item_id"].to_list())


def test_zh_messages_are_chinese(tmp_path):
    summary, output = _run(tmp_path, POS, BANK, "--lang", "zh")
    found = _by_kind(summary)
    assert found["terminal_currency"][0]["message"].startswith("终端 T03 按 HKD 结算")
    assert "2 小时 05 分" in found["terminal_clock"][0]["message"]
    assert "疑似欺诈" in found["refund_exceeds_sale"][0]["message"]
    assert "结论" in output
    # Machine-readable values stay the same in every language.
    assert found["terminal_clock"][0]["items"] == ["K1", "K2", "K3", "K4"]


def test_outside_hours_only_when_configured(tmp_path):
    pos = HEAD + "\n".join(
        [
            f"N1,2026-11-20T07:59:00,10.00,CNY,{CARD},910001,sale,T01,M1",
            f"N2,2026-11-20T12:00:00,11.00,CNY,{CARD},910002,sale,T01,M1",
            f"N3,2026-11-20T23:30:00,12.00,CNY,{CARD},910003,sale,T01,M1",
            f"N4,2026-11-20T21:59:00,13.00,CNY,{CARD},910004,sale,T01,M1",
        ]
    )
    bank = HEAD + "\n".join(
        [
            f"BN1,2026-11-20T08:00:30,10.00,CNY,{CARD},910001,credit,T01,M1",
            f"BN2,2026-11-20T12:00:30,11.00,CNY,{CARD},910002,credit,T01,M1",
            f"BN3,2026-11-20T23:30:30,12.00,CNY,{CARD},910003,credit,T01,M1",
            f"BN4,2026-11-20T21:59:30,13.00,CNY,{CARD},910004,credit,T01,M1",
            # A debit no POS record explains, at 03:00.
            f"BX,2026-11-21T03:00:00,-99.00,CNY,{CARD},,debit,T01,M1",
        ]
    )
    summary, _ = _run(tmp_path, pos, bank)
    assert not any(f["kind"] == "outside_hours" for f in summary["findings"])

    cfg = tmp_path / "recon.toml"
    cfg.write_text('[shop]\nhours = "08:00-22:00"\n', encoding="utf-8")
    summary, output = _run(tmp_path, pos, bank, "--config", str(cfg), "--lang", "en")
    hours = [f for f in summary["findings"] if f["kind"] == "outside_hours"]
    assert [(f["side"], f["count"], f["items"]) for f in hours] == [
        ("pos", 2, ["N1", "N3"]),
        ("bank", 1, ["BX"]),
    ]
    assert hours[0]["message"].startswith("2 POS sales outside the shop's hours 08:00-22:00")
    assert output.count("outside the shop's hours") == 2

    # On a plain bank statement a night-time debit is the shop's own payment (a standing order).
    cfg.write_text('bank_is_statement = true\n[shop]\nhours = "08:00-22:00"\n', encoding="utf-8")
    summary, _ = _run(tmp_path, pos, bank, "--config", str(cfg), "--lang", "en")
    hours = [f for f in summary["findings"] if f["kind"] == "outside_hours"]
    assert [(f["side"], f["items"]) for f in hours] == [("pos", ["N1", "N3"])]


def test_shop_hours_are_validated(tmp_path):
    cfg = tmp_path / "recon.toml"
    cfg.write_text('[shop]\nhours = "8 to 10"\n', encoding="utf-8")
    res = CliRunner().invoke(
        cli,
        [
            "run",
            "--pos",
            str(REPO / "samples" / "pos.csv"),
            "--bank",
            str(REPO / "samples" / "bank.csv"),
            "--config",
            str(cfg),
        ],
    )
    assert res.exit_code not in (0, 1)
    assert "shop.hours" in res.output


def test_samples_show_no_findings(tmp_path):
    pos = (REPO / "samples" / "pos.csv").read_text(encoding="utf-8").rstrip("\n")
    bank = (REPO / "samples" / "bank.csv").read_text(encoding="utf-8").rstrip("\n")
    summary, _ = _run(tmp_path, pos, bank)
    # One currency mismatch (no terminal pattern), a next-day batch (no bank time before a POS
    # time), and refund S017 carries its own reference that no sale has: a refund of an earlier
    # purchase, not a refund larger than its sale.
    assert summary["findings"] == []
