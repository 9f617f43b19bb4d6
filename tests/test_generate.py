"""The synthetic-day generator (recon.generate, recon.generate_layouts) and the accuracy scoring
of benchmarks/."""

from __future__ import annotations

import importlib.util
from collections import Counter
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from recon.generate import (
    DAY_KINDS,
    FAULTS,
    KINDS,
    MIN_CASES,
    NEGATIVES,
    PLATFORM_FAULTS,
    case_counts,
    generate_day,
    write_day,
)
from recon.generate_layouts import ZM_WIDTHS
from recon.load import load_side
from recon.money import parse_amount

ROOT = Path(__file__).resolve().parents[1]
ROWS = 3000
SMALL = 1500
SHAPES = {  # (POS ids, bank ids) per case
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


@pytest.fixture(scope="module")
def days():
    return {kind: generate_day(SMALL, 5, kind=kind) for kind in KINDS}


@pytest.fixture(scope="module")
def written(days, tmp_path_factory):
    root = tmp_path_factory.mktemp("kinds")
    return {kind: write_day(d, root / kind, "csv") for kind, d in days.items()}


def _ids(text: str | None) -> list[str]:
    return [] if not text else text.split(";")


def _minor(text: str) -> int:
    return parse_amount(text, "CNY")


def _case_rows(day, fault):
    pos = {r["id"]: r for r in day.pos.iter_rows(named=True)}
    bank = {r["id"]: r for r in day.bank.iter_rows(named=True)}
    for _, pos_ids, bank_ids in day.faults.filter(pl.col("fault") == fault).iter_rows():
        yield [pos[i] for i in _ids(pos_ids)], [bank[i] for i in _ids(bank_ids)]


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_same_seed_same_bytes(tmp_path, fmt):
    a = write_day(generate_day(1500, 3), tmp_path / "a", fmt)
    b = write_day(generate_day(1500, 3), tmp_path / "b", fmt)
    assert set(a) == {"pos", "bank", "faults", "truth"}
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
    assert day.truth.columns == ["pos_id", "bank_id"]
    assert day.pos["id"].is_unique().all() and day.bank["id"].is_unique().all()
    assert day.pos["id"].str.contains(r"^P\d+$").all()
    assert day.bank["id"].str.contains(r"^B\d+$").all()


def test_every_fault_and_negative_present_with_id_shapes(day):
    counts = dict(day.faults.group_by("fault").len().iter_rows())
    for name in (*FAULTS, *NEGATIVES):
        assert counts.get(name, 0) >= 5, name
    seen: set[str] = set()
    for fault, pos_ids, bank_ids in day.faults.iter_rows():
        p, b = _ids(pos_ids), _ids(bank_ids)
        assert (len(p), len(b)) == SHAPES[fault], (fault, pos_ids, bank_ids)
        assert all(i.startswith("P") for i in p) and all(i.startswith("B") for i in b)
        assert not (set(p) | set(b)) & seen, "a record belongs to two cases"
        seen |= set(p) | set(b)


def _different_card(p: dict, b: dict) -> bool:
    return sorted(p["account"][-4:]) != sorted(b["account"][-4:]) or (
        p["account"][:6] != b["account"][:6]
    )


def test_fault_semantics(day):
    for (p,), (b,) in _case_rows(day, "amount_mismatch"):
        assert p["amount"] != b["amount"] and p["reference"] == b["reference"]
    variants = Counter()
    for (p,), (b,) in _case_rows(day, "account_mismatch"):
        assert p["account"][-4:] != b["account"][-4:] or p["account"][:6] != b["account"][:6]
        assert p["amount"] == b["amount"] and p["reference"] == b["reference"]
        assert p["terminal"] == b["terminal"]
        variants["other card" if _different_card(p, b) else "swapped"] += 1
        if not _different_card(p, b):
            assert p["account"][:6] == b["account"][:6]
    assert variants["other card"] and variants["swapped"]
    for (p,), (b,) in _case_rows(day, "currency_mismatch"):
        assert (b["currency"], p["currency"]) == ("HKD", "CNY") and p["amount"] == b["amount"]
    retries = 0
    for (sale, copy), (b,) in _case_rows(day, "duplicate_pos"):
        for col in ("account", "amount", "terminal", "merchant"):
            assert sale[col] == copy[col]
        lag = copy["time"] - sale["time"]
        if copy["reference"] is None:  # recorded twice: the bank paid the sale
            assert sale["reference"] == b["reference"]
            assert timedelta(seconds=1) <= lag <= timedelta(seconds=5)
        else:  # a network retry that got a new reference: the bank paid the retry
            retries += 1
            assert copy["reference"] not in (None, sale["reference"])
            assert copy["reference"] == b["reference"]
            assert timedelta(seconds=1) <= lag <= timedelta(seconds=10)
    assert retries >= 1
    for (p,), (b1, b2) in _case_rows(day, "duplicate_bank"):
        assert timedelta(seconds=3) <= b2["time"] - b1["time"] <= timedelta(seconds=300)
        assert b1["reference"] == b2["reference"] == p["reference"] and b1["amount"] == b2["amount"]
    for (sale, void), (b,) in _case_rows(day, "voided_but_settled"):
        assert void["kind"] == "void" and void["reference"] == sale["reference"] == b["reference"]
        assert _minor(void["amount"]) == -_minor(sale["amount"])
        assert timedelta(minutes=1) <= void["time"] - sale["time"] <= timedelta(minutes=5)
    cancels = Counter()
    for (sale, cancel), () in _case_rows(day, "voided"):
        cancels[cancel["kind"]] += 1
        assert cancel["reference"] == sale["reference"]
        assert _minor(cancel["amount"]) == -_minor(sale["amount"])
    assert set(cancels) == {"void", "reversal"}
    for (p,), (b,) in _case_rows(day, "late_settlement"):
        assert timedelta(days=3) < b["time"] - p["time"] <= timedelta(days=11)
    for (a, c), (b1, b2) in _case_rows(day, "repeat_purchase"):
        assert a["reference"] != c["reference"] and a["account"] == c["account"]
        assert timedelta(minutes=10) <= c["time"] - a["time"] <= timedelta(minutes=60)
        # settled in the order of the sales
        assert (b1["reference"], b2["reference"]) == (a["reference"], c["reference"])
    for (p,), (b,) in _case_rows(day, "refund"):
        assert (p["kind"], b["kind"]) == ("refund", "debit") and p["amount"] == b["amount"]
        assert p["amount"].startswith("-") and b["fee"] is None


def test_truth_pairs_every_settled_pos_row(day):
    truth = day.truth
    assert truth["pos_id"].is_unique().all() and truth["bank_id"].is_unique().all()
    # refs: the true pair shares its reference
    pos = day.pos.select("id", "reference")
    bank = day.bank.select("id", "reference")
    joined = truth.join(pos, left_on="pos_id", right_on="id").join(
        bank, left_on="bank_id", right_on="id", suffix="_bank"
    )
    assert joined.height == truth.height
    assert (joined["reference"] == joined["reference_bank"]).all()
    unpaid = set(day.bank["id"]) - set(truth["bank_id"])
    extra = day.faults.filter(pl.col("fault").is_in(["orphan_bank", "duplicate_bank"]))
    expected = {i for _, _, b in extra.iter_rows() for i in _ids(b)[-1:]}  # the copy / orphan
    assert unpaid == expected


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
    negative = day.pos["kind"].is_in(["refund", "void", "reversal"])
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
        day.pos.filter(pl.col("kind") == "sale", pl.col("reference").is_not_null())
        .select("reference", "time")
        .iter_rows()
    )
    checked = 0
    for bid, ref in day.bank.select("id", "reference").iter_rows():
        if ref not in sale_time:
            continue  # orphan_bank, refunds
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


def test_without_references_is_norefs_with_every_fault(day_noref):
    assert day_noref.kind == "norefs"
    assert day_noref.bank["reference"].null_count() == day_noref.bank.height
    assert day_noref.pos["reference"].null_count() < day_noref.pos.height
    assert set(day_noref.faults["fault"]) == {*FAULTS, *NEGATIVES}
    assert generate_day(1000, 1, with_references=True, kind="refs").kind == "refs"
    with pytest.raises(ValueError):
        generate_day(1000, 1, with_references=True, kind="norefs")
    with pytest.raises(ValueError):
        generate_day(1000, 1, kind="nonsense")


def test_norefs_faults_look_as_named(day_noref):
    d = day_noref
    variants = Counter()
    for (p,), (b,) in _case_rows(d, "account_mismatch"):
        assert (p["amount"], p["terminal"], p["merchant"]) == (
            b["amount"],
            b["terminal"],
            b["merchant"],
        )
        assert p["account"][:6] + p["account"][-4:] != b["account"][:6] + b["account"][-4:]
        variants[_different_card(p, b)] += 1
        assert timedelta(0) < b["time"] - p["time"] <= timedelta(days=3)
    assert variants[True] and variants[False]
    for (p,), (b,) in _case_rows(d, "currency_mismatch"):
        assert (p["amount"], p["account"][-4:]) == (b["amount"], b["account"][-4:])
        assert b["currency"] == "HKD"
    for (p,), (b,) in _case_rows(d, "late_settlement"):
        assert timedelta(days=3) < b["time"] - p["time"] <= timedelta(days=11)
    for (_p,), (b1, b2) in _case_rows(d, "duplicate_bank"):
        assert (b1["amount"], b1["account"], b1["terminal"]) == (
            b2["amount"],
            b2["account"],
            b2["terminal"],
        )
        assert timedelta(seconds=3) <= b2["time"] - b1["time"] <= timedelta(seconds=300)


# ---- every kind of day -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_kind_injects_its_cases_with_ids_in_the_files(kind, days):
    d = days[kind]
    spec = DAY_KINDS[kind]
    assert d.kind == kind and d.pos.height == SMALL
    counts = Counter(d.faults["fault"])
    assert set(counts) == {*spec.faults, *NEGATIVES}
    assert all(n >= 5 for n in counts.values()), counts
    pos_ids, bank_ids = set(d.pos["id"]), set(d.bank["id"])
    assert len(pos_ids) == d.pos.height and len(bank_ids) == d.bank.height
    seen: set[str] = set()
    for fault, p, b in d.faults.iter_rows():
        p, b = _ids(p), _ids(b)
        assert (len(p), len(b)) == SHAPES[fault], (fault, p, b)
        assert set(p) <= pos_ids and set(b) <= bank_ids
        assert not (set(p) | set(b)) & seen
        seen |= set(p) | set(b)
    assert set(d.truth["pos_id"]) <= pos_ids and set(d.truth["bank_id"]) <= bank_ids
    assert d.truth["pos_id"].is_unique().all() and d.truth["bank_id"].is_unique().all()
    # every POS row of a clean sale has its true bank row, with the same amount
    clean = pos_ids - seen
    assert clean <= set(d.truth["pos_id"])
    pairs = d.truth.join(d.pos.select("id", "amount"), left_on="pos_id", right_on="id").join(
        d.bank.select("id", "amount"), left_on="bank_id", right_on="id", suffix="_bank"
    )
    assert (pairs["amount"] == pairs["amount_bank"]).mean() > 0.97


@pytest.mark.parametrize(
    "kind", ["lookalike", "foreignrefs", "zh", "wechat", "alipay", "unionpay_zm"]
)
def test_kind_is_deterministic_per_seed(kind, tmp_path):
    a = write_day(generate_day(1200, 9, kind=kind), tmp_path / "a", "csv")
    b = write_day(generate_day(1200, 9, kind=kind), tmp_path / "b", "csv")
    for key in a:
        assert a[key].read_bytes() == b[key].read_bytes(), (kind, key)
    c = write_day(generate_day(1200, 10, kind=kind), tmp_path / "c", "csv")
    assert c["bank"].read_bytes() != a["bank"].read_bytes()


EXPECTED_PROFILE = {
    "zh": ("auto-synonyms", "auto-synonyms"),
    "wechat": ("canonical", "wechat-pay-tradebill"),
    "alipay": ("canonical", "alipay-business"),
    "unionpay_zm": ("canonical", "canonical"),  # the ZM reader hands canonical names over
}


@pytest.mark.parametrize("kind", KINDS)
def test_written_files_load_as_generated(kind, days, written):
    """Read with no profile: zero rejected rows, and what recon loads is the day as generated."""
    d = days[kind]
    for side, expected in (("pos", d.pos), ("bank", d.bank)):
        loaded = load_side(written[kind][side], side)
        assert loaded.rejected.height == 0, loaded.rejected.head(3)
        profiles = EXPECTED_PROFILE.get(kind, ("canonical", "canonical"))
        assert loaded.profile == profiles[side == "bank"]
        if kind == "unionpay_zm" and side == "bank":
            assert loaded.reader == "unionpay_zm"
        got = loaded.frame.sort("id")
        want = expected.sort("id").with_columns(
            pl.col("amount").map_elements(_minor, return_dtype=pl.Int64)
        )
        assert got["id"].to_list() == want["id"].to_list()
        for col in ("amount", "kind", "reference", "terminal", "merchant", "currency", "time"):
            assert got[col].to_list() == want[col].to_list(), (kind, side, col)
        masked = want["account"].str.slice(0, 6) + want["account"].str.slice(-4)
        assert (got["account"].str.slice(0, 6) + got["account"].str.slice(-4)).to_list() == (
            masked.to_list()
        )


def test_zh_pos_export_in_gb18030_is_read_whatever_its_content(tmp_path):
    paths = write_day(generate_day(1500, 3, kind="zh"), tmp_path, "csv")
    loaded = load_side(paths["pos"], "pos")
    assert loaded.profile == "auto-synonyms" and loaded.rejected.height == 0


def test_lookalike_day_looks_alike(days):
    d = days["lookalike"]
    sales = d.pos.filter(pl.col("kind") == "sale")
    assert 12 <= sales["amount"].n_unique() <= 20
    assert 20 <= sales["account"].n_unique() <= 40
    assert 2 <= d.pos["terminal"].n_unique() <= 4 and d.pos["merchant"].n_unique() == 1
    assert d.bank["reference"].null_count() == d.bank.height
    # instant settlement: 1-5 min after the sale, except the late ones
    lag = d.truth.join(d.pos.select("id", "time"), left_on="pos_id", right_on="id").join(
        d.bank.select("id", "time"), left_on="bank_id", right_on="id", suffix="_bank"
    )
    lag = (lag["time_bank"] - lag["time"]).dt.total_seconds()
    assert ((lag >= 60) & (lag <= 300)).mean() > 0.98
    # nothing but injected cases puts two sales of one card, terminal and amount minutes apart
    same_case = {}
    for i, (_, p, _b) in enumerate(d.faults.iter_rows()):
        same_case.update(dict.fromkeys(_ids(p), i))
    events = (
        d.pos.filter(pl.col("kind").is_in(["sale", "refund"]))
        .with_columns(
            group=pl.col("id").replace_strict(same_case, default=None, return_dtype=pl.Int64)
        )
        .sort("account", "terminal", "amount", "time")
    )
    close = events.with_columns(
        gap=(pl.col("time") - pl.col("time").shift()).dt.total_seconds(),
        same=(pl.col("group") == pl.col("group").shift()).fill_null(False),
    ).filter(
        (pl.col("account") == pl.col("account").shift())
        & (pl.col("terminal") == pl.col("terminal").shift())
        & (pl.col("amount") == pl.col("amount").shift())
    )
    assert close.filter(pl.col("gap") < 900, ~pl.col("same")).height == 0


def test_foreignrefs_hide_the_rrn(days):
    d = days["foreignrefs"]
    pos_refs = set(d.pos["reference"].drop_nulls())
    assert not set(d.bank["reference"]) & pos_refs
    assert (d.bank["reference"] == d.bank["id"]).all()
    where = Counter()
    for pair in (
        d.truth.join(d.pos, left_on="pos_id", right_on="id")
        .join(d.bank, left_on="bank_id", right_on="id", suffix="_bank")
        .iter_rows(named=True)
    ):
        rrn = pair["reference"]
        in_list = rrn in pair["references"].split("|")
        in_memo = rrn in pair["memo"].split(" ")
        assert not (in_list and in_memo)
        where["list" if in_list else "memo" if in_memo else "nowhere"] += 1
        if in_memo:
            what = "SALE" if pair["kind"] == "sale" else "REFUND"
            assert pair["memo"] == f"POS {what} RRN {rrn} {pair['terminal']}"
    total = sum(where.values())
    assert 0.3 < where["list"] / total < 0.5 and 0.25 < where["memo"] / total < 0.45
    assert 0.15 < where["nowhere"] / total < 0.35


def test_zh_files_are_chinese_exports(days, written):
    pos_bytes = written["zh"]["pos"].read_bytes()
    pos = pos_bytes.decode("gb18030").splitlines()
    assert pos[0] == "交易时间,商户号,终端号,卡号,交易类型,交易金额,币种,参考号,凭证号"
    bank = written["zh"]["bank"].read_bytes()
    assert bank.startswith("\ufeff".encode())
    lines = bank.decode("utf-8-sig").splitlines()
    assert lines[0] == "流水号,交易时间,商户号,终端号,卡号,交易类型,交易金额,手续费,币种,参考号"
    pos_kinds = {line.split(",")[4] for line in pos[1:]}
    assert pos_kinds == {"消费", "退货", "撤销", "冲正"}
    assert {line.split(",")[5] for line in lines[1:]} == {"入账", "出账"}
    assert not any(line.split(",")[5].startswith("-") for line in pos[1:])  # unsigned amounts


def test_wechat_bill_layout(days, written):
    d = days["wechat"]
    lines = written["wechat"]["bank"].read_bytes().decode("utf-8").split("\r\n")
    assert lines[-1] == "" and lines[0].startswith("交易时间,公众账号ID,商户号")
    header, rows, sum_head, sums = lines[0], lines[1:-3], lines[-3], lines[-2]
    assert len(header.split(",")) == 27 and "`" not in header
    assert len(rows) == d.bank.height
    assert all(r.startswith("`") and r.count(",`") == 26 for r in rows)
    assert sum_head.startswith("总交易单数,") and sums.startswith(f"`{d.bank.height},`")
    refunds = [r.split(",`") for r in rows if ",`REFUND," in r]
    assert refunds and all(r[12] == "0.00" and float(r[16]) > 0 for r in refunds)
    assert all(r[22].startswith("-") for r in refunds)  # the fee comes back
    # a POS refund carries the order number of an earlier day's order, as the bill does
    for (p,), (b,) in _case_rows(d, "refund"):
        assert p["reference"] == b["reference"] and p["reference"] < "SO20261120"
    assert d.pos["account"].null_count() == d.pos.height  # no card on a WeChat payment


def test_alipay_bill_layout(days, written):
    lines = written["alipay"]["bank"].read_bytes().decode("gb18030").split("\r\n")
    assert lines[0] == "#支付宝业务明细查询" and lines[1].startswith("#账号：[")
    assert lines[4].startswith("支付宝交易号,商户订单号,业务类型")
    assert len(lines[4].split(",")) == 25
    assert lines[-2].startswith("#导出时间：") and lines[-4].startswith("#交易合计：")
    rows = [line for line in lines[5:] if line and not line.startswith("#")]
    assert len(rows) == days["alipay"].bank.height
    first = rows[0].split(",")
    assert len(first) == 25 and first[0].endswith("\t") and first[1].endswith("\t")
    assert any(",退款\t," in r for r in rows)


def test_unionpay_zm_layout(days, written):
    d = days["unionpay_zm"]
    path = written["unionpay_zm"]["bank"]
    assert path.name == "INN26112088ZM_777290058110001"
    lines = path.read_bytes().split(b"\r\n")
    assert lines[-1] == b"" and all(len(line) == 607 for line in lines[:-1])
    assert sum(ZM_WIDTHS) + len(ZM_WIDTHS) - 1 == 607
    start = sum(ZM_WIDTHS[:-1]) + len(ZM_WIDTHS) - 1  # 保留使用: the RRN first
    rrns = [line[start : start + 12].decode() for line in lines[:-1]]
    assert rrns == d.bank["reference"].to_list()
    assert {line[:3] for line in lines[:-1]} == {b"S22", b"S30"}


def test_closed_day_settles_three_days_later(days):
    d = days["closed"]
    pairs = d.truth.join(d.pos.select("id", "time"), left_on="pos_id", right_on="id").join(
        d.bank.select("id", "time"), left_on="bank_id", right_on="id", suffix="_bank"
    )
    late = {
        i
        for _, _, b in d.faults.filter(pl.col("fault") == "late_settlement").iter_rows()
        for i in _ids(b)
    }
    lag = pairs.with_columns(lag=pl.col("time_bank") - pl.col("time"))
    on_time = lag.filter(~pl.col("bank_id").is_in(list(late)))
    assert on_time["lag"].min() >= timedelta(days=2) and on_time["lag"].max() < timedelta(days=3)
    assert (on_time["time_bank"].dt.date() == date(2026, 11, 23)).all()
    assert lag.filter(pl.col("bank_id").is_in(list(late)))["lag"].min() > timedelta(days=3)


def test_platform_kinds_inject_what_the_layout_can_show():
    assert set(DAY_KINDS["wechat"].faults) == set(PLATFORM_FAULTS)
    assert "account_mismatch" in DAY_KINDS["unionpay_zm"].faults
    assert "late_settlement" not in DAY_KINDS["alipay"].faults


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
    assert s["amount_mismatch"] == {
        "type": "amount_mismatch",
        "injected": 1,
        "reported": 2,
        "tp": 1,
        "negative_hits": 0,
        "precision": 0.5,
        "recall": 1.0,
        "f1": pytest.approx(2 / 3),
    }
    assert (s["duplicate_pos"]["tp"], s["duplicate_pos"]["reported"]) == (1, 2)
    assert s["duplicate_pos"]["negative_hits"] == 1
    assert s["duplicate_bank"]["f1"] == 1.0
    assert s["orphan_bank"]["tp"] == 0 and s["orphan_bank"]["negative_hits"] == 1
    assert s["orphan_bank"]["f1"] == 0.0
    assert s["voided_but_settled"]["tp"] == 0
    assert s["orphan_pos"]["reported"] == 0 and s["orphan_pos"]["precision"] is None
    assert s["orphan_pos"]["recall"] == 0.0 and s["orphan_pos"]["f1"] == 0.0
    assert s["account_mismatch"]["f1"] is None
    assert s["mystery"]["precision"] == 0.0 and s["mystery"]["f1"] == 0.0
    bad = acc.failures(acc.score(found, faults), 0.99)
    assert any(b.startswith("orphan_pos") for b in bad)
    assert any(b.startswith("mystery") for b in bad)
    assert not any(b.startswith("duplicate_bank") for b in bad)
    assert not any(b.startswith("account_mismatch") for b in bad)
    outcome = {
        r["case"]: r["came out as"] for r in acc.outcomes(found, faults).iter_rows(named=True)
    }
    assert outcome["orphan_pos"] == "mystery 1" and outcome["voided"] == "- 1"
    assert outcome["repeat_purchase"] == "duplicate_pos+orphan_bank 1"


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
    assert (scores["f1"] == 1.0).all()
    assert acc.clean_hits(found, day.faults) == {}


def test_pair_scores():
    acc = _load_accuracy()
    truth = pl.DataFrame({"pos_id": ["P1", "P2", "P3", "P5"], "bank_id": ["B1", "B2", "B3", "B5"]})
    faults = pl.DataFrame({"fault": ["duplicate_pos"], "pos_ids": ["P5;P6"], "bank_ids": ["B5"]})
    matches = pl.DataFrame(
        {
            "pos_id": ["P1", "P2", "P3", "P4", "P6"],
            "bank_id": ["B1", "B3", "B2", None, "B5"],  # P2/P3 crossed; P4 voided; P6 the copy
            "rule": ["reference", "amount_time", "amount_time", "voided", "amount_time"],
        }
    )
    strict = acc.pair_scores(matches, truth)
    assert (strict["pairs"], strict["correct"], strict["true_pairs"]) == (4, 1, 4)
    same_sale = acc.pair_scores(matches, truth, faults)
    assert same_sale["correct"] == 2 and same_sale["pair_accuracy"] == 0.5
    assert same_sale["pair_recall"] == 0.5


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


def test_lookalike_regulars_make_their_share_of_the_sales():
    """`regulars` < 1: the shop's regular cards make about that share of the sales, every other
    sale is by a card seen once; the price list and the truth are as on any look-alike day."""
    kind = replace(DAY_KINDS["lookalike"], regulars=0.3)
    d = generate_day(4000, 5, kind=kind, shop=11)
    whole = generate_day(4000, 5, kind="lookalike", shop=11)
    sales = d.pos.filter(pl.col("kind") == "sale")
    per_card = sales.group_by("account").len()
    # a regular card buys many times a day; a walk-in's once (twice for a repeat purchase)
    regular = per_card.filter(pl.col("len") > 2)["account"]
    assert 20 <= regular.len() <= 40
    assert set(regular) <= set(whole.pos["account"])
    share = sales["account"].is_in(regular.implode()).mean()
    assert 0.25 < share < 0.35
    assert 12 <= sales["amount"].n_unique() <= 20
    assert d.truth.height == whole.truth.height


def test_fault_rate_sets_each_fault_types_share_and_leaves_the_rest():
    """`fault_rate`: each injected fault type takes that share of the sales (at least
    MIN_CASES), the negatives keep theirs, clean fills the rest; the faults are still found
    in faults.csv and the files."""
    kind = replace(DAY_KINDS["lookalike"], fault_rate=0.0025)
    counts = case_counts(4000, kind=kind)
    usual = case_counts(4000, kind="lookalike")
    assert usual == case_counts(4000, kind=replace(kind, fault_rate=0.01))
    for name in FAULTS:
        assert counts[name] == 10, name
        assert usual[name] == 40, name
    for name in NEGATIVES:
        assert counts[name] == usual[name]
    assert counts["clean"] > usual["clean"]
    assert case_counts(1000, kind=replace(kind, fault_rate=0.001))["orphan_pos"] == MIN_CASES
    d = generate_day(4000, 5, kind=kind, shop=11)
    assert d.faults.group_by("fault").len().filter(pl.col("fault") == "orphan_bank")["len"][0] == 10
    assert d.pos.height == 4000
