"""The synthetic-day generator (recon.generate) and the accuracy scoring of benchmarks/."""

from __future__ import annotations

import importlib.util
from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from recon.generate import FAULTS, NEGATIVES, REFERENCE_ONLY, generate_day, write_day
from recon.money import parse_amount

ROOT = Path(__file__).resolve().parents[1]
ROWS = 3000


def _load_accuracy():
    spec = importlib.util.spec_from_file_location("accuracy", ROOT / "benchmarks" / "accuracy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def day():
    return generate_day(ROWS, 11)


@pytest.fixture(scope="module")
def day_noref():
    return generate_day(ROWS, 11, with_references=False)


def _ids(text: str | None) -> list[str]:
    return [] if not text else text.split(";")


def _minor(text: str) -> int:
    return parse_amount(text, "CNY")


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_same_seed_same_bytes(tmp_path, fmt):
    a = write_day(generate_day(1500, 3), tmp_path / "a", fmt)
    b = write_day(generate_day(1500, 3), tmp_path / "b", fmt)
    assert set(a) == {"pos", "bank", "faults"}
    for key in a:
        assert a[key].read_bytes() == b[key].read_bytes(), key
    c = write_day(generate_day(1500, 4), tmp_path / "c", fmt)
    assert c["pos"].read_bytes() != a["pos"].read_bytes()


def test_row_counts_and_columns(day):
    cols = ["id", "time", "amount", "currency", "account", "reference", "kind"]
    cols += ["terminal", "merchant", "fee"]
    assert day.pos.height == ROWS
    assert 0.9 * ROWS < day.bank.height < 1.05 * ROWS
    assert day.pos.columns == cols and day.bank.columns == cols
    assert day.faults.columns == ["fault", "pos_ids", "bank_ids"]
    assert day.pos["id"].is_unique().all() and day.bank["id"].is_unique().all()
    assert day.pos["id"].str.contains(r"^P\d+$").all()
    assert day.bank["id"].str.contains(r"^B\d+$").all()


def test_every_fault_and_negative_present_with_id_shapes(day):
    counts = dict(day.faults.group_by("fault").len().iter_rows())
    for name in (*FAULTS, *NEGATIVES):
        assert counts.get(name, 0) >= 5, name
    shapes = {  # (POS ids, bank ids) per case
        "amount_mismatch": (1, 1),
        "account_mismatch": (1, 1),
        "currency_mismatch": (1, 1),
        "duplicate_pos": (2, 1),
        "duplicate_bank": (1, 2),
        "orphan_pos": (1, 0),
        "orphan_bank": (0, 1),
        "voided_but_settled": (2, 1),
        "late_settlement": (1, 1),
        "voided": (2, 0),
        "repeat_purchase": (2, 2),
        "refund": (1, 1),
    }
    seen: set[str] = set()
    for fault, pos_ids, bank_ids in day.faults.iter_rows():
        p, b = _ids(pos_ids), _ids(bank_ids)
        assert (len(p), len(b)) == shapes[fault], (fault, pos_ids, bank_ids)
        assert all(i.startswith("P") for i in p) and all(i.startswith("B") for i in b)
        assert not (set(p) | set(b)) & seen, "a record belongs to two cases"
        seen |= set(p) | set(b)


def _case_rows(day, fault):
    pos = {r["id"]: r for r in day.pos.iter_rows(named=True)}
    bank = {r["id"]: r for r in day.bank.iter_rows(named=True)}
    for _, pos_ids, bank_ids in day.faults.filter(pl.col("fault") == fault).iter_rows():
        yield [pos[i] for i in _ids(pos_ids)], [bank[i] for i in _ids(bank_ids)]


def test_fault_semantics(day):
    for (p,), (b,) in _case_rows(day, "amount_mismatch"):
        assert p["amount"] != b["amount"] and p["reference"] == b["reference"]
    for (p,), (b,) in _case_rows(day, "account_mismatch"):
        assert p["account"][:6] == b["account"][:6] and p["account"][-4:] != b["account"][-4:]
        assert sorted(p["account"][-4:]) == sorted(b["account"][-4:])
        assert p["amount"] == b["amount"] and p["reference"] == b["reference"]
    for (p,), (b,) in _case_rows(day, "currency_mismatch"):
        assert (b["currency"], p["currency"]) == ("HKD", "CNY") and p["amount"] == b["amount"]
    for (sale, copy), (b,) in _case_rows(day, "duplicate_pos"):
        assert copy["reference"] is None and sale["reference"] == b["reference"]
        assert timedelta(seconds=1) <= copy["time"] - sale["time"] <= timedelta(seconds=5)
        for col in ("account", "amount", "terminal", "merchant"):
            assert sale[col] == copy[col]
    for (p,), (b1, b2) in _case_rows(day, "duplicate_bank"):
        assert timedelta(seconds=30) <= b2["time"] - b1["time"] <= timedelta(seconds=120)
        assert b1["reference"] == b2["reference"] == p["reference"] and b1["amount"] == b2["amount"]
    for (sale, void), (b,) in _case_rows(day, "voided_but_settled"):
        assert void["kind"] == "void" and void["reference"] == sale["reference"] == b["reference"]
        assert _minor(void["amount"]) == -_minor(sale["amount"])
        assert timedelta(minutes=1) <= void["time"] - sale["time"] <= timedelta(minutes=5)
    for (p,), (b,) in _case_rows(day, "late_settlement"):
        assert timedelta(days=3) < b["time"] - p["time"] <= timedelta(days=11)
    for (a, c), (b1, b2) in _case_rows(day, "repeat_purchase"):
        assert a["reference"] != c["reference"] and a["account"] == c["account"]
        assert timedelta(minutes=10) <= c["time"] - a["time"] <= timedelta(minutes=60)
        assert {b1["reference"], b2["reference"]} == {a["reference"], c["reference"]}
    for (p,), (b,) in _case_rows(day, "refund"):
        assert (p["kind"], b["kind"]) == ("refund", "debit") and p["amount"] == b["amount"]
        assert p["amount"].startswith("-") and b["fee"] is None


def test_sales_have_unique_references(day):
    sales = day.pos.filter(pl.col("kind") == "sale", pl.col("reference").is_not_null())
    assert sales["reference"].is_unique().all()
    assert sales["reference"].str.contains(r"^\d{12}$").all()


def test_money_is_text_never_float(tmp_path, day):
    for fmt in ("parquet", "csv"):
        paths = write_day(day, tmp_path / fmt, fmt)
        for side in ("pos", "bank"):
            if fmt == "parquet":
                df = pl.read_parquet(paths[side])
            else:
                df = pl.read_csv(paths[side], infer_schema=False)
            for col in ("amount", "fee"):
                assert df.schema[col] in (pl.String, pl.Null), (fmt, side, col)
            assert df.schema["time"] == (pl.Datetime("us") if fmt == "parquet" else pl.String)
            assert df["amount"].str.contains(r"^-?\d+\.\d\d$").all()
            assert df["fee"].drop_nulls().str.contains(r"^\d+\.\d\d$").all()
    csv = (tmp_path / "csv" / "pos.csv").read_text().splitlines()
    assert csv[0] == "id,time,amount,currency,account,reference,kind,terminal,merchant,fee"
    assert ",2026-11-20T" in csv[1]


def test_amounts_signs_and_fees(day):
    pos_minor = day.pos["amount"].map_elements(_minor, return_dtype=pl.Int64)
    negative = day.pos["kind"].is_in(["refund", "void"])
    assert ((pos_minor < 0) == negative).all()
    sales = pos_minor.filter(~negative)
    assert sales.min() >= 100 and sales.max() <= 200_000
    assert sales.n_unique() < 0.5 * len(sales), "amounts should repeat"
    bank = day.bank.with_columns(
        m=pl.col("amount").map_elements(_minor, return_dtype=pl.Int64),
        f=pl.col("fee").map_elements(_minor, return_dtype=pl.Int64),
    )
    assert ((bank["m"] < 0) == (bank["kind"] == "debit")).all()
    credits = bank.filter(pl.col("kind") == "credit")
    assert (credits["f"] == (credits["m"] * 5 + 500) // 1000).all()


def test_times(day):
    d0 = datetime(2026, 11, 20)
    assert day.pos["time"].min() >= d0 + timedelta(hours=8)
    assert day.pos["time"].max() <= d0 + timedelta(hours=22)
    bank_time = {r[0]: r[1] for r in day.bank.select("id", "time").iter_rows()}
    late = set()
    for fault, _pos_ids, bank_ids in day.faults.iter_rows():
        if fault == "late_settlement":
            late |= set(_ids(bank_ids))
    # Pair every bank row with its sale by reference; it is always later, within 3 days unless
    # it is a late-settlement fault.
    sale_time = dict(
        day.pos.filter(pl.col("kind") != "void", pl.col("reference").is_not_null())
        .select("reference", "time")
        .iter_rows()
    )
    checked = 0
    for bid, ref in day.bank.select("id", "reference").iter_rows():
        if ref not in sale_time:
            continue  # orphan_bank
        lag = bank_time[bid] - sale_time[ref]
        assert lag > timedelta(0)
        assert (lag > timedelta(days=3)) == (bid in late), bid
        checked += 1
    assert checked > 0.9 * day.bank.height


def test_accounts_full_on_pos_masked_on_bank(day):
    assert day.pos["account"].str.contains(r"^\d{16}$").all()
    assert day.bank["account"].str.contains(r"^\d{6}\*{6}\d{4}$").all()

    def luhn(pan: str) -> bool:
        total = 0
        for i, ch in enumerate(reversed(pan)):
            d = int(ch) * (2 if i % 2 else 1)
            total += d - 9 if d > 9 else d
        return total % 10 == 0

    assert all(luhn(pan) for pan in day.pos["account"].head(500))


def test_without_references(day_noref):
    assert day_noref.bank["reference"].null_count() == day_noref.bank.height
    assert day_noref.pos["reference"].null_count() < day_noref.pos.height
    present = set(day_noref.faults["fault"])
    assert not present & set(REFERENCE_ONLY)
    assert {"duplicate_pos", "duplicate_bank", "orphan_pos", "orphan_bank"} <= present


def test_other_day_and_too_small():
    other = generate_day(1000, 1, day=date(2027, 1, 5))
    assert other.pos["time"].dt.date().unique().to_list() == [date(2027, 1, 5)]
    assert other.pos["reference"].drop_nulls().str.starts_with("7005").all()
    with pytest.raises(ValueError):
        generate_day(50, 1)


# ---- benchmarks/accuracy.py scoring ---------------------------------------------------------


def test_score_counts_true_and_false_positives():
    acc = _load_accuracy()
    faults = pl.DataFrame(
        {
            "fault": [
                "amount_mismatch",
                "duplicate_pos",
                "duplicate_bank",
                "orphan_pos",
                "orphan_bank",
                "voided_but_settled",
                "repeat_purchase",
                "voided",
            ],
            "pos_ids": ["P1", "P2;P3", "P4", "P5", None, "P6;P7", "P8;P9", "P10;P11"],
            "bank_ids": ["B1", "B2", "B3;B4", None, "B9", "B6", "B7;B8", None],
        }
    )
    found = pl.DataFrame(
        {
            "type": [
                "amount_mismatch",  # TP
                "amount_mismatch",  # the same item again: FP
                "duplicate_pos",  # TP (own side is POS; bank side ignored)
                "duplicate_bank",  # TP (own side is bank; order does not matter)
                "orphan_bank",  # touches a negative case: FP
                "voided_but_settled",  # only the sale: not the injected id set, FP
                "duplicate_pos",  # a repeat purchase reported as duplicate: FP, negative hit
                "mystery",  # not a contract type
            ],
            "pos_ids": ["P1", "P1", "P3;P2", "P4", "", "P6", "P8;P9", "P5"],
            "bank_ids": ["B1", "B1", "", "B4;B3", "B8", "B6", "B7", ""],
        }
    )
    s = {r["type"]: r for r in acc.score(found, faults).iter_rows(named=True)}
    assert s["amount_mismatch"] | {} == {
        "type": "amount_mismatch",
        "injected": 1,
        "reported": 2,
        "tp": 1,
        "negative_hits": 0,
        "precision": 0.5,
        "recall": 1.0,
    }
    assert (s["duplicate_pos"]["tp"], s["duplicate_pos"]["reported"]) == (1, 2)
    assert s["duplicate_pos"]["negative_hits"] == 1
    assert s["duplicate_bank"]["precision"] == 1.0 and s["duplicate_bank"]["recall"] == 1.0
    assert s["orphan_bank"]["tp"] == 0 and s["orphan_bank"]["negative_hits"] == 1
    assert s["orphan_bank"]["precision"] == 0.0 and s["orphan_bank"]["recall"] == 0.0
    assert s["voided_but_settled"]["tp"] == 0
    assert s["orphan_pos"]["reported"] == 0 and s["orphan_pos"]["precision"] is None
    assert s["orphan_pos"]["recall"] == 0.0
    assert s["account_mismatch"]["precision"] is None and s["account_mismatch"]["recall"] is None
    assert s["mystery"]["precision"] == 0.0
    bad = acc.failures(acc.score(found, faults), 0.99)
    assert any(b.startswith("orphan_pos") for b in bad)
    assert any(b.startswith("mystery") for b in bad)
    assert not any(b.startswith("duplicate_bank") for b in bad)


def test_score_perfect_on_generated_faults(day):
    acc = _load_accuracy()
    # A perfect recon reports exactly the injected faults (with ids in any order).
    found = day.faults.filter(pl.col("fault").is_in(list(FAULTS))).select(
        type="fault",
        pos_ids=pl.col("pos_ids").str.split(";").list.reverse().list.join(";"),
        bank_ids="bank_ids",
    )
    scores = acc.score(found, day.faults)
    assert acc.failures(scores, 0.99) == []
    assert (scores["precision"] == 1.0).all() and (scores["recall"] == 1.0).all()


def test_floor_script(tmp_path):
    spec = importlib.util.spec_from_file_location("bench", ROOT / "benchmarks" / "bench.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    paths = write_day(generate_day(1000, 2), tmp_path / "in")
    bench.floor(paths["pos"], paths["bank"], tmp_path / "out")
    matched = pl.read_parquet(tmp_path / "out" / "matched.parquet")
    pos_only = pl.read_parquet(tmp_path / "out" / "pos_only.parquet")
    bank_only = pl.read_parquet(tmp_path / "out" / "bank_only.parquet")
    assert matched.height > 900 and pos_only.height > 0 and bank_only.height > 0
    r = bench.measure(["python", "-c", "x = bytearray(50 * 2**20)"])
    assert r["rc"] == 0 and r["peak_mib"] >= 50


def test_sample_with_too_few_rows_is_a_usage_error(tmp_path):
    from click.testing import CliRunner

    from recon.cli import cli

    res = CliRunner().invoke(cli, ["sample", "--rows", "50", "--out", str(tmp_path)])
    assert res.exit_code == 2
    assert "--rows" in res.output and "internal error" not in res.output
