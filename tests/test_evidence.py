"""Batch and trace numbers: loaded, carried to every item as evidence, kept by the state store."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import polars as pl
from click.testing import CliRunner

from recon import store as store_module
from recon.cli import cli
from recon.store import SCHEMA_VERSION, Store

POS = """id,time,amount,currency,account,reference,kind,terminal,merchant,batch,trace
P1,2026-11-20T09:00:00,10.00,CNY,622202******1234,R1,sale,T1,M1,000012,000101
P2,2026-11-20T09:05:00,20.00,CNY,622202******1234,R2,sale,T1,M1,000012,000102
P3,2026-11-20T09:10:00,30.00,CNY,622202******1234,R3,sale,T1,M1,000012,000103
"""
BANK = """id,time,amount,currency,account,reference,kind,terminal,merchant,batch,trace
B1,2026-11-20T23:00:00,10.00,CNY,622202******1234,R1,credit,T1,M1,000012,000101
B2,2026-11-20T23:00:00,25.00,CNY,622202******1234,R2,credit,T1,M1,000012,000102
B9,2026-11-20T23:00:00,99.00,CNY,622202******1234,R9,credit,T1,M1,000013,000909
"""


def _run(tmp: Path, pos: str, bank: str, *extra: str) -> Path:
    (tmp / "pos.csv").write_text(pos)
    (tmp / "bank.csv").write_text(bank)
    out = tmp / "out"
    args = ["run", "--pos", str(tmp / "pos.csv"), "--bank", str(tmp / "bank.csv")]
    res = CliRunner().invoke(cli, [*args, "--out", str(out), *extra])
    assert res.exit_code == 1, res.output
    return out


def test_batch_and_trace_reach_every_item_and_the_html(tmp_path):
    out = _run(tmp_path, POS, BANK)
    items = pl.read_csv(out / "discrepancies.csv", infer_schema=False)
    got = {
        r["type"]: (r["batch"], r["trace"])
        for r in items.select("type", "batch", "trace").iter_rows(named=True)
    }
    assert got == {
        "amount_mismatch": ("000012", "000102"),
        "orphan_pos": ("000012", "000103"),
        "orphan_bank": ("000013", "000909"),
    }
    html = (out / "report.html").read_text(encoding="utf-8")
    assert '<th title="sort">Batch</th>' in html and "000909" in html


def test_without_batch_columns_the_evidence_is_empty_and_hidden(tmp_path):
    strip = lambda text: "\n".join(",".join(line.split(",")[:9]) for line in text.splitlines())  # noqa: E731
    out = _run(tmp_path, strip(POS) + "\n", strip(BANK) + "\n")
    items = pl.read_csv(out / "discrepancies.csv", infer_schema=False)
    assert items.columns[-2:] == ["batch", "trace"]
    assert items["batch"].null_count() == items.height
    assert '<th title="sort">Batch</th>' not in (out / "report.html").read_text(encoding="utf-8")


def test_a_version_1_state_file_is_migrated_and_keeps_working(tmp_path):
    path = tmp_path / "state.db"
    db = sqlite3.connect(path)
    db.executescript(store_module._MIGRATIONS[0])
    db.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    db.commit()
    db.close()

    Store(path)  # migrates
    db = sqlite3.connect(path)
    version = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0]
    db.close()
    assert int(version) == SCHEMA_VERSION == 7
    assert Store(path).kept_records().columns[-4:] == ["batch", "trace", "references", "memo"]

    _run(tmp_path, POS, BANK, "--state", str(path))
    kept = Store(path).kept_records().filter(side="pos")
    stored = kept.select("id", "batch", "trace").rows()
    assert ("P3", "000012", "000103") in stored


def test_allinpay_statement_maps_batch_and_voucher_numbers(tmp_path):
    header = (
        "商户号,门店名称,终端号,交易时间,交易类型,交易批次号,凭证号,参考号,卡号,交易金额,"
        "手续费,交易日期,交易单号"
    )
    row = "M1,店,T1,09:00:00,消费,000012,000101,R1,622202******1234,10.00,0.06,2026-11-20,A1"
    (tmp_path / "allinpay.csv").write_text(header + "\n" + row + "\n", encoding="utf-8")
    from recon.load import load_side

    frame = load_side(tmp_path / "allinpay.csv", "pos", "allinpay").frame
    assert frame.select("batch", "trace").row(0) == ("000012", "000101")
