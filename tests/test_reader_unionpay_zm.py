"""UnionPay ZM (对账单) reader: the format doc's example and a self-made GBK file checked against
figures computed here with plain byte slicing, a malformed line, an empty file, the retrieval
reference number (RRN) as the primary reference, and `recon run` round trips of a canonical POS
CSV against a ZM file."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from conftest import SHARED

from recon.cli import cli
from recon.errors import InputError
from recon.load import load_side

FORMATS = SHARED / "formats"
EXAMPLE = FORMATS / "examples" / "INN25031588ZM_777000000000001"
MADE = Path(__file__).parent / "data" / "unionpay" / "INN25010288ZM_888000000000002"

# Field widths in bytes as the format doc lists them (one blank between fields).
WIDTHS = [3, 11, 11, 6, 10, 19, 12, 4, 2, 21, 2, 32, 2, 6, 10, 13, 13]  # ... up to 结算金额


def _at(index: int) -> slice:
    start = sum(WIDTHS[:index]) + index
    return slice(start, start + WIDTHS[index])


AMOUNT = _at(6)  # 交易金额, 12 digits of fen
QUERY_ID = _at(9)  # 查询流水号
ORDER = _at(11)  # 商户订单号
SETTLE = _at(16)  # 结算金额, C/D + 12 digits
RESERVED = slice(607 - 98, 607)  # 保留使用, the last field


def _expected(path: Path) -> tuple[int, Decimal, list[str]]:
    """(records, signed total in yuan, references) read with plain Python byte slicing."""
    records = [ln for ln in path.read_bytes().split(b"\r\n") if ln.strip()]
    total = Decimal(0)
    for ln in records:
        assert len(ln) == 607
        fen = Decimal(ln[AMOUNT].decode())
        total += -fen if ln[SETTLE][:1] == b"D" else fen
    refs = [ln[ORDER].decode().strip() for ln in records]
    return len(records), total / 100, refs


def _check(path: Path) -> pl.DataFrame:
    loaded = load_side(path, "bank")
    assert loaded.reader == "unionpay_zm"
    assert loaded.profile == "canonical"
    assert loaded.rejected.height == 0
    count, total, refs = _expected(path)
    assert loaded.rows == count == loaded.frame.height
    assert Decimal(loaded.frame["amount"].sum()) / 100 == total
    assert loaded.frame["reference"].to_list() == refs
    # without an RRN: the order number, then the query id (查询流水号) among the references
    query_ids = [ln[QUERY_ID].decode().strip() for ln in path.read_bytes().split(b"\r\n") if ln]
    assert loaded.frame["references"].to_list() == [
        [ref, qid] for ref, qid in zip(refs, query_ids, strict=True)
    ]
    assert loaded.frame["memo"].str.starts_with("交易代码 ").all()
    assert set(loaded.frame["currency"]) == {"CNY"}
    assert loaded.frame["line"].to_list() == list(range(1, count + 1))
    return loaded.frame


@pytest.mark.skipif(not EXAMPLE.is_file(), reason=f"{FORMATS} is absent (format doc)")
def test_doc_example_loads():
    frame = _check(EXAMPLE)
    assert frame["kind"].to_list() == ["credit", "debit", "credit"]
    assert frame["fee"].to_list() == [77, -18, 30]
    assert str(frame["time"][0]) == "2025-03-15 14:30:25"
    assert frame["id"][0] == "512503151430250000001"
    assert frame["terminal"][0] == "00000001"
    assert frame["merchant"][0] == "777000000000001"


def test_self_made_file_loads():
    frame = _check(MADE)
    assert frame["amount"].to_list() == [10000, 2550, -1000, 777]
    assert frame["fee"].to_list() == [60, 15, -6, 5]
    # MMDD after the clearing date (2025-01-02) belongs to the year before
    assert [str(t) for t in frame["time"]] == [
        "2024-12-31 23:50:10",
        "2025-01-02 09:15:00",
        "2025-01-02 10:00:00",
        "2025-01-02 11:00:00",
    ]
    # the GBK 二级商户简称 in record 1 does not shift the fields after it
    assert set(frame["terminal"]) == {"20250001"}
    assert set(frame["merchant"]) == {"888000000000002"}


def _with_rrns(tmp_path: Path, rrns: list[bytes]) -> Path:
    """MADE with a retrieval reference number at the start of each record's 保留使用."""
    lines = MADE.read_bytes().split(b"\r\n")
    for i, rrn in enumerate(rrns):
        line = lines[i]
        lines[i] = line[: RESERVED.start] + rrn.ljust(98) + line[RESERVED.stop :]
    path = tmp_path / MADE.name
    path.write_bytes(b"\r\n".join(lines))
    return path


def test_rrn_in_the_reserved_tail_is_the_primary_reference(tmp_path):
    rrns = [b"412312345601", b"500209150002", b"", b"500211000004"]
    path = _with_rrns(tmp_path, rrns)
    loaded = load_side(path, "bank")
    assert loaded.rejected.height == 0
    frame = loaded.frame
    assert frame["reference"].to_list() == [
        "412312345601",
        "500209150002",
        "ORD-1003R",
        "500211000004",
    ]
    assert frame["references"][0].to_list() == [
        "412312345601",  # the RRN the POS printed
        "ORD-1001",  # 商户订单号
        "812412312350100000001",  # 查询流水号
    ]
    assert frame["references"][2].to_list() == ["ORD-1003R", "812501021000000000003"]
    # the refund names its original in the memo, not among its own references
    assert "原始交易订单号 ORD-1001" in frame["memo"][2]
    assert "ORD-1001" not in frame["references"][2].to_list()
    # a GBK 二级商户简称 is decoded in the memo
    assert "二级商户简称 测试二级商户" in frame["memo"][0]


def test_run_pos_with_rrns_against_zm(tmp_path):
    """A POS export knows the RRN the terminal printed, or the order number: both match."""
    path = _with_rrns(tmp_path, [b"412312345601", b"500209150002", b"", b"500211000004"])
    pos = tmp_path / "pos.csv"
    pos.write_text(
        "id,time,amount,currency,reference,kind\n"
        "P1,2024-12-31T23:50:10,100.00,CNY,412312345601,sale\n"
        "P2,2025-01-02T09:15:00,25.50,CNY,ORD-1002,sale\n"
        "P3,2025-01-02T10:00:00,-10.00,CNY,ORD-1003R,refund\n"
        "P4,2025-01-02T11:00:00,7.77,CNY,500211000004,sale\n"
    )
    out = tmp_path / "out"
    res = CliRunner().invoke(
        cli, ["run", "--pos", str(pos), "--bank", str(path), "--out", str(out)]
    )
    assert res.exit_code in (0, 1), res.output
    matches = pl.read_parquet(out / "matches.parquet").sort("pos_id")
    assert matches["pos_id"].to_list() == ["P1", "P2", "P3", "P4"]
    assert set(matches["rule"]) <= {"reference", "reference_other"}, matches


def test_malformed_line_is_rejected_with_its_line_number(tmp_path):
    lines = MADE.read_bytes().split(b"\r\n")
    lines[1] = lines[1][: AMOUNT.start] + b"00000000X550" + lines[1][AMOUNT.stop :]  # bad 交易金额
    lines[2] = lines[2].replace(b" ", b"", 1)  # every field after the first shifted
    bad = tmp_path / "INN25010288ZM_888000000000002"
    bad.write_bytes(b"\r\n".join([*lines[:3], b"", b"garbage line", *lines[3:]]))
    loaded = load_side(bad, "bank")
    assert loaded.reader == "unionpay_zm"
    assert loaded.rows == 5  # the blank line is not a row
    assert loaded.frame["line"].to_list() == [1, 6]
    rejected = loaded.rejected.sort("line")
    assert rejected["line"].to_list() == [2, 3, 5]
    assert "交易金额" in rejected["reason"][0]
    assert rejected["raw"][2] == "garbage line"


def test_empty_file_is_an_input_error(tmp_path):
    from recon.readers import unionpay_zm

    empty = tmp_path / "INN25010288ZM_1"
    empty.write_bytes(b"\r\n  \r\n")
    with pytest.raises(InputError):
        unionpay_zm.scan(empty, None)  # type: ignore[arg-type]


def test_run_pos_csv_against_zm(tmp_path):
    pos = tmp_path / "pos.csv"
    pos.write_text(
        "id,time,amount,currency,reference,kind\n"
        "P1,2024-12-31T23:50:10,100.00,CNY,ORD-1001,sale\n"
        "P2,2025-01-02T09:15:00,25.50,CNY,ORD-1002,sale\n"
        "P3,2025-01-02T10:00:00,-10.00,CNY,ORD-1003R,refund\n"
        "P4,2025-01-02T11:00:00,7.77,CNY,ORD-1004,sale\n"
        "P5,2025-01-02T12:30:00,5.00,CNY,ORD-1005,sale\n"
    )
    out = tmp_path / "out"
    res = CliRunner().invoke(
        cli, ["run", "--pos", str(pos), "--bank", str(MADE), "--out", str(out)]
    )
    assert res.exit_code in (0, 1), res.output
    disc = pl.read_csv(out / "discrepancies.csv", infer_schema=False)
    assert disc["type"].to_list() == ["orphan_pos"], disc
    words = " ".join(str(v) for v in disc.row(0)).split()
    assert "P5" in words
    assert not {"P1", "P2", "P3", "P4"} & set(words)
