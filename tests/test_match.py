"""The matcher and classifier on tiny canonical frames, one rule per test."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from conftest import DATA, canonical
from hypothesis import given, settings
from hypothesis import strategies as st

from recon.classify import classify
from recon.config import MatchSettings, Settings
from recon.match import match
from recon.match.passes import sweep
from recon.match.prepare import derive


def run(pos_rows, bank_rows, s: Settings | None = None):
    s = s or Settings()
    pos = canonical(pos_rows, "pos")
    bank = canonical(bank_rows, "bank")
    outcome = match(pos, bank, s.match)
    disc, matches = classify(outcome, s)
    return disc, matches


def items(disc: pl.DataFrame) -> set[tuple[str, str, str]]:
    return {(r["type"], r["pos_ids"], r["bank_ids"]) for r in disc.iter_rows(named=True)}


def pairs(matches: pl.DataFrame) -> set[tuple[str, str | None, str]]:
    return {(r["pos_id"], r["bank_id"], r["rule"]) for r in matches.iter_rows(named=True)}


def _csv_frame(path, side):
    df = pl.read_csv(path, infer_schema=False)
    return canonical(df.to_dicts(), side)


def test_contract_day_gives_exactly_the_expected_items_and_pairs():
    d = DATA / "contract"
    outcome = match(
        _csv_frame(d / "pos.csv", "pos"), _csv_frame(d / "bank.csv", "bank"), MatchSettings()
    )
    disc, matches = classify(outcome, Settings())
    expected = pl.read_csv(d / "expected_discrepancies.csv", infer_schema=False).fill_null("")
    assert items(disc) == {tuple(r) for r in expected.iter_rows()}
    exp_m = pl.read_csv(d / "expected_matches.csv", infer_schema=False)
    assert {(p, b) for p, b, _ in pairs(matches)} == {
        (r["pos_id"], r["bank_id"]) for r in exp_m.iter_rows(named=True)
    }
    voided = matches.filter(pl.col("rule") == "voided")["pos_id"].to_list()
    assert sorted(voided) == ["P14", "P15"]


def test_nearest_in_time_wins_without_references():
    disc, matches = run(
        [
            {
                "id": "P1",
                "time": "2026-11-20T15:10:00",
                "amount": "25.00",
                "account": "622202******1234",
                "terminal": "T1",
            },
            {
                "id": "P2",
                "time": "2026-11-20T15:40:00",
                "amount": "25.00",
                "account": "622202******1234",
                "terminal": "T1",
            },
        ],
        [
            {
                "id": "B1",
                "time": "2026-11-21T02:10:00",
                "amount": "25.00",
                "account": "622202******1234",
                "terminal": "T1",
            }
        ],
    )
    assert pairs(matches) == {("P2", "B1", "amount_time")}
    assert items(disc) == {("orphan_pos", "P1", "")}


def test_bank_row_before_the_sale_or_past_the_window_does_not_pair_by_amount():
    disc, matches = run(
        [
            {"id": "P1", "time": "2026-11-20T10:00:00", "amount": "10.00"},
            {"id": "P2", "time": "2026-11-20T10:00:00", "amount": "20.00"},
        ],
        [
            {"id": "B1", "time": "2026-11-20T09:00:00", "amount": "10.00"},
            {"id": "B2", "time": "2026-12-04T10:00:01", "amount": "20.00"},
        ],
    )
    assert matches.height == 0
    assert {t for t, _, _ in items(disc)} == {"orphan_pos", "orphan_bank"}
    assert len(items(disc)) == 4


def test_a_lone_settlement_past_the_window_but_inside_the_late_window_is_late():
    pos = [
        {"id": "P1", "time": "2026-11-20T10:00:00", "amount": "20.00", "terminal": "T1"},
        {"id": "P2", "time": "2026-11-20T11:00:00", "amount": "30.00", "terminal": "T1"},
        {"id": "P3", "time": "2026-11-20T12:00:00", "amount": "30.00", "terminal": "T1"},
    ]
    bank = [
        {"id": "B1", "time": "2026-11-26T03:00:00", "amount": "20.00", "terminal": "T1"},
        {"id": "B2", "time": "2026-11-27T03:00:00", "amount": "30.00", "terminal": "T1"},
    ]
    disc, matches = run(pos, bank)
    # B1 is P1's only candidate: late. B2 could be P2's or P3's: both stay open.
    assert pairs(matches) == {("P1", "B1", "residual_late")}
    assert ("late_settlement", "P1", "B1") in items(disc)
    assert {("orphan_pos", "P2", ""), ("orphan_pos", "P3", ""), ("orphan_bank", "", "B2")} <= (
        items(disc)
    )
    # ... and their items say why they stay open.
    details = dict(zip(disc["pos_ids"].fill_null(""), disc["detail"], strict=True))
    assert "1 look-alike bank record(s) left over could be its settlement" in details["P2"]
    bank_detail = disc.filter(pl.col("bank_ids") == "B2")["detail"][0]
    assert "2 look-alike POS record(s) left over could be its sale" in bank_detail
    assert "open_candidates" not in disc.columns and "candidates" not in disc.columns


def test_a_reference_match_holds_whatever_the_lag_and_is_late():
    disc, matches = run(
        [{"id": "P1", "time": "2026-11-20T10:00:00", "amount": "66.00", "reference": "R1"}],
        [{"id": "B1", "time": "2026-11-30T10:00:00", "amount": "66.00", "reference": "R1"}],
    )
    assert pairs(matches) == {("P1", "B1", "reference")}
    assert matches["lag_seconds"].to_list() == [10 * 86400]
    assert items(disc) == {("late_settlement", "P1", "B1")}
    assert disc["severity"].to_list() == ["low"]


def test_late_allowance_comes_from_the_settings():
    s = Settings(match=MatchSettings(late_after_days=14))
    disc, _ = run(
        [{"id": "P1", "time": "2026-11-20T10:00:00", "amount": "66.00", "reference": "R1"}],
        [{"id": "B1", "time": "2026-11-30T10:00:00", "amount": "66.00", "reference": "R1"}],
        s,
    )
    assert disc.height == 0


def test_date_only_bank_booking_on_the_sale_day_counts_as_after_it():
    disc, matches = run(
        [{"id": "P1", "time": "2026-11-20T18:30:00", "amount": "12.00"}],
        [{"id": "B1", "time": "2026-11-20T00:00:00", "amount": "12.00", "has_clock": False}],
    )
    assert pairs(matches) == {("P1", "B1", "amount_time")}
    assert disc.height == 0


def test_one_bank_row_pays_at_most_one_pos_row():
    pos = [
        {"id": f"P{i}", "time": f"2026-11-20T1{i}:00:00", "amount": "9.90", "terminal": "T1"}
        for i in range(3)
    ]
    bank = [
        {"id": f"B{i}", "time": "2026-11-21T02:00:00", "amount": "9.90", "terminal": "T1"}
        for i in range(2)
    ]
    disc, matches = run(pos, bank)
    assert matches.height == 2
    assert matches["bank_id"].n_unique() == 2
    assert items(disc) == {("orphan_pos", "P0", "")}  # the farthest from the settlement


def test_refund_matches_a_debit_not_a_credit():
    disc, matches = run(
        [{"id": "P1", "time": "2026-11-20T10:00:00", "amount": "-40.00", "kind": "refund"}],
        [
            {"id": "B1", "time": "2026-11-21T02:00:00", "amount": "40.00"},
            {"id": "B2", "time": "2026-11-21T02:00:00", "amount": "-40.00"},
        ],
    )
    assert pairs(matches) == {("P1", "B2", "amount_time")}
    assert items(disc) == {("orphan_bank", "", "B1")}


def _repeat_day(gap: str) -> tuple[list[dict], list[dict]]:
    card = "622202******1234"
    common = {"amount": "25.00", "account": card, "terminal": "T1"}
    pos = [
        {"id": "P1", "time": "2026-11-20T15:10:00", "reference": "R1", **common},
        {"id": "P2", "time": f"2026-11-20T15:{gap}", "reference": "R2", **common},
    ]
    bank = [
        {"id": "B1", "time": "2026-11-21T02:00:00", "reference": "R1", **common},
        {"id": "B2", "time": "2026-11-21T02:00:00", "reference": "R2", **common},
    ]
    return pos, bank


def test_repeat_purchase_minutes_later_with_own_reference_is_not_a_duplicate():
    disc, _ = run(*_repeat_day("13:00"))
    assert disc.height == 0


def test_retry_seconds_later_with_a_new_reference_is_a_duplicate_whatever_its_reference():
    # A POS network retry gets a new reference; both settled means the card was charged twice.
    disc, _ = run(*_repeat_day("10:07"))
    [row] = disc.to_dicts()
    assert (row["type"], row["severity"], row["pos_ids"]) == ("duplicate_pos", "high", "P1;P2")


def test_double_charge_settled_twice_is_a_high_duplicate():
    card = "622202******1234"
    disc, matches = run(
        [
            {
                "id": "P1",
                "time": "2026-11-20T15:10:00",
                "amount": "25.00",
                "account": card,
                "reference": "R1",
                "terminal": "T1",
            },
            {
                "id": "P2",
                "time": "2026-11-20T15:10:03",
                "amount": "25.00",
                "account": card,
                "terminal": "T1",
            },
        ],
        [
            {
                "id": "B1",
                "time": "2026-11-21T02:00:00",
                "amount": "25.00",
                "account": card,
                "reference": "R1",
                "terminal": "T1",
            },
            {
                "id": "B2",
                "time": "2026-11-21T02:00:00",
                "amount": "25.00",
                "account": card,
                "terminal": "T1",
            },
        ],
    )
    assert items(disc) == {("duplicate_pos", "P1;P2", "B1;B2")}
    assert disc["severity"].to_list() == ["high"]
    assert "charged more than once" in disc["suggested_action"][0]
    assert matches.height == 2


def test_void_without_reference_cancels_the_earlier_sale_of_the_same_card():
    card = "403391******2481"
    disc, matches = run(
        [
            {
                "id": "P1",
                "time": "2026-11-20T16:30:00",
                "amount": "50.00",
                "account": card,
                "terminal": "T2",
            },
            {
                "id": "P2",
                "time": "2026-11-20T16:31:00",
                "amount": "-50.00",
                "account": card,
                "terminal": "T2",
                "kind": "void",
            },
        ],
        [],
    )
    assert disc.height == 0
    assert pairs(matches) == {("P1", None, "voided"), ("P2", None, "voided")}


def test_keying_error_without_references_pairs_by_card_and_names_the_pattern():
    card = "622588******1902"
    disc, matches = run(
        [
            {
                "id": "P1",
                "time": "2026-11-20T09:15:02",
                "amount": "27.50",
                "account": card,
                "terminal": "T1",
            }
        ],
        [
            {
                "id": "B1",
                "time": "2026-11-21T02:10:00",
                "amount": "72.50",
                "account": card,
                "terminal": "T1",
            }
        ],
    )
    assert pairs(matches) == {("P1", "B1", "card_time")}
    row = disc.row(0, named=True)
    assert (row["type"], row["difference"]) == ("amount_mismatch", "45.00")
    assert row["cause"] == "keying error: digits transposed"


def test_amounts_that_differ_without_a_keying_pattern_are_not_paired_by_card():
    card = "622588******1902"
    disc, matches = run(
        [
            {
                "id": "P1",
                "time": "2026-11-20T09:15:02",
                "amount": "27.50",
                "account": card,
                "terminal": "T1",
            }
        ],
        [
            {
                "id": "B1",
                "time": "2026-11-21T02:10:00",
                "amount": "301.17",
                "account": card,
                "terminal": "T1",
            }
        ],
    )
    assert matches.height == 0
    assert {t for t, _, _ in items(disc)} == {"orphan_pos", "orphan_bank"}


@pytest.mark.parametrize(
    ("pos_amount", "bank_amount", "currency", "cause", "difference"),
    [
        ("35.50", "53.50", "CNY", "keying error: digits transposed", "18.00"),
        ("1250.00", "125.00", "CNY", "keying error: decimal slip", "-1125.00"),
        ("1234", "124", "JPY", "keying error: digit dropped", "-1110"),
        ("1.250", "1.205", "KWD", "keying error: digits transposed", "-0.045"),
        ("40.00", "47.00", "CNY", "keying error: one digit mistyped", "7.00"),
    ],
)
def test_amount_mismatch_wording(pos_amount, bank_amount, currency, cause, difference):
    disc, _ = run(
        [
            {
                "id": "P1",
                "time": "2026-11-20T10:00:00",
                "amount": pos_amount,
                "currency": currency,
                "reference": "R",
            }
        ],
        [
            {
                "id": "B1",
                "time": "2026-11-21T10:00:00",
                "amount": bank_amount,
                "currency": currency,
                "reference": "R",
            }
        ],
    )
    row = disc.row(0, named=True)
    assert row["type"] == "amount_mismatch"
    assert row["cause"] == cause
    assert row["difference"] == difference
    assert f"POS {pos_amount} {currency}, bank {bank_amount} {currency}" in row["detail"]


def _greedy_nearest(pos, bank, window_s):
    """Reference implementation: take candidate pairs in order of lag, one use each."""
    edges = sorted((b - p, p, b) for p in pos for b in bank if 0 <= b - p <= window_s)
    used_p, used_b, out = set(), set(), set()
    for _, p, b in edges:
        if p not in used_p and b not in used_b:
            used_p.add(p)
            used_b.add(b)
            out.add((p, b))
    return out


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 5000), min_size=0, max_size=12, unique=True),
    st.lists(st.integers(0, 5000), min_size=0, max_size=12, unique=True),
    st.integers(0, 3000),
)
def test_sweep_equals_greedy_nearest_in_time(pos_t, bank_t, window_s):
    # Distinct times on each side and across sides keep the greedy order free of ties.
    bank_t = [b * 2 + 1 for b in bank_t]
    pos_t = [p * 2 for p in pos_t]
    t0 = pl.datetime(2026, 11, 20)

    def frame(ts, side):
        rows = [{"id": f"{side}{t}", "time": "2026-11-20T00:00:00", "amount": "1.00"} for t in ts]
        df = canonical(rows, "pos" if side == "P" else "bank")
        return df.with_columns(time=t0 + pl.duration(seconds=pl.Series(ts, dtype=pl.Int64)))

    if not pos_t or not bank_t:
        return
    p = derive(frame(pos_t, "P").lazy(), "prow").collect()
    b = derive(frame(bank_t, "B").lazy(), "brow").collect()
    cand = sweep(p.lazy(), b.lazy(), ["amount"]).collect()
    got = {
        (pos_t[r], bank_t[c]) for r, c in cand.iter_rows() if 0 <= bank_t[c] - pos_t[r] <= window_s
    }
    assert got == _greedy_nearest(pos_t, bank_t, window_s)


def test_sweep_handles_many_identical_settlement_times_in_one_pass():
    rng = random.Random(3)
    n = 2000
    pos = [
        {
            "id": f"P{i}",
            # a sale every 21 s or so (never two within a cashier's double-entry window)
            "time": (
                datetime(2026, 11, 20, 8) + timedelta(seconds=21 * i + rng.randrange(5))
            ).isoformat(),
            "amount": "25.00",
            "terminal": "T1",
        }
        for i in range(n)
    ]
    bank = [
        {"id": f"B{i}", "time": "2026-11-21T02:10:00", "amount": "25.00", "terminal": "T1"}
        for i in range(n - 5)
    ]
    disc, matches = run(pos, bank)
    assert matches.height == n - 5
    assert disc["type"].to_list() == ["orphan_pos"] * 5


def test_bank_copy_minutes_later_without_reference_is_a_duplicate_not_an_orphan():
    card = "538114******0865"
    row = {"amount": "22.00", "account": card, "terminal": "T45", "merchant": "M9"}
    disc, matches = run(
        [{"id": "P1", "time": "2026-11-20T08:18:52", **row}],
        [
            {"id": "B1", "time": "2026-11-20T09:27:16", **row},
            {"id": "B2", "time": "2026-11-20T09:28:21", **row},
        ],
    )
    assert pairs(matches) == {("P1", "B1", "amount_time")}
    assert items(disc) == {("duplicate_bank", "P1", "B1;B2")}


def test_cards_sharing_last_digits_do_not_block_the_right_pair():
    row = {"amount": "22.00", "terminal": "T40"}
    disc, matches = run(
        [{"id": "P1", "time": "2026-11-20T08:14:56", "account": "6200833884572008", **row}],
        [
            {"id": "B1", "time": "2026-11-21T03:29:48", "account": "452978******2008", **row},
            {"id": "B2", "time": "2026-11-21T03:43:59", "account": "620083******2008", **row},
        ],
    )
    assert pairs(matches) == {("P1", "B2", "amount_time")}
    assert items(disc) == {("orphan_bank", "", "B1")}


def test_account_mismatch_names_the_transposed_card_digits():
    disc, _ = run(
        [
            {
                "id": "P1",
                "time": "2026-11-20T10:00:00",
                "amount": "560.00",
                "account": "621700******9931",
                "reference": "R",
            }
        ],
        [
            {
                "id": "B1",
                "time": "2026-11-21T02:00:00",
                "amount": "560.00",
                "account": "******9913",
                "reference": "R",
            }
        ],
    )
    row = disc.row(0, named=True)
    assert (row["type"], row["severity"]) == ("account_mismatch", "medium")
    assert row["cause"] == "keying error: account digits transposed"
    assert row["difference"] == "0.00"


def test_currency_mismatch_blames_the_terminal_setting_and_has_no_difference():
    disc, _ = run(
        [
            {
                "id": "P1",
                "time": "2026-11-20T10:00:00",
                "amount": "88.00",
                "currency": "CNY",
                "reference": "R",
            }
        ],
        [
            {
                "id": "B1",
                "time": "2026-11-21T02:00:00",
                "amount": "88.00",
                "currency": "HKD",
                "reference": "R",
            }
        ],
    )
    row = disc.row(0, named=True)
    assert (row["type"], row["currency"], row["bank_currency"]) == (
        "currency_mismatch",
        "CNY",
        "HKD",
    )
    assert row["difference"] is None
    assert row["cause"].startswith("terminal settings")


def test_voided_sale_that_settled_anyway_lists_sale_void_and_settlement():
    disc, matches = run(
        [
            {"id": "P1", "time": "2026-11-20T13:00:00", "amount": "300.00", "reference": "R8"},
            {
                "id": "P2",
                "time": "2026-11-20T13:02:30",
                "amount": "-300.00",
                "reference": "R8",
                "kind": "void",
            },
        ],
        [{"id": "B1", "time": "2026-11-21T02:00:00", "amount": "300.00", "reference": "R8"}],
    )
    assert items(disc) == {("voided_but_settled", "P1;P2", "B1")}
    row = disc.row(0, named=True)
    assert (row["difference"], row["amount_at_risk"], row["severity"]) == (
        "300.00",
        "300.00",
        "high",
    )
    assert pairs(matches) == {("P1", "B1", "reference")}


def test_same_reference_settled_twice_is_one_duplicate_bank_item():
    disc, matches = run(
        [{"id": "P1", "time": "2026-11-20T17:45:00", "amount": "75.00", "reference": "R16"}],
        [
            {"id": "B1", "time": "2026-11-21T02:10:00", "amount": "75.00", "reference": "R16"},
            {"id": "B2", "time": "2026-11-21T02:11:30", "amount": "75.00", "reference": "R16"},
        ],
    )
    assert items(disc) == {("duplicate_bank", "P1", "B1;B2")}
    assert disc["amount_at_risk"].to_list() == ["75.00"]
    assert pairs(matches) == {("P1", "B1", "reference")}


def test_orphan_bank_debit_is_high_and_suspected_fraud():
    disc, _ = run([], [{"id": "B1", "time": "2026-11-21T02:14:00", "amount": "-180.00"}])
    row = disc.row(0, named=True)
    assert (row["type"], row["severity"]) == ("orphan_bank", "high")
    assert row["cause"].startswith("suspected fraud")
    assert "Bank debit of 180.00 CNY" in row["detail"]


def test_item_ids_stay_unique_past_a_million():
    """D000001 ... D999999, then one digit more: a day of a million items or more (the streaming
    engine at 50M rows has several) never repeats an id."""
    from recon.classify import order_items

    n = 1_000_001
    items = pl.DataFrame(
        {
            "severity": ["high"] * n,
            "type": ["orphan_pos"] * n,
            "pos_time": pl.Series([None] * n, dtype=pl.Datetime("us")),
            "bank_time": pl.Series([None] * n, dtype=pl.Datetime("us")),
            "pos_ids": pl.int_range(n, eager=True).cast(pl.String),
            "bank_ids": [""] * n,
        }
    )
    ids = order_items(items)["item_id"]
    assert ids.n_unique() == n
    assert ids[0] == "D0000001" and ids[-1] == "D1000001"
    small = order_items(items.head(3))["item_id"].to_list()
    assert small == ["D000001", "D000002", "D000003"]


def test_shared_keys_flags_exactly_the_rows_whose_keys_repeat():
    """The sorted-hash test finds the same rows as a group count, nulls equal to nulls, and
    only among the rows `where` keeps."""
    from recon.match.prepare import shared_keys

    rng = random.Random(5)
    frame = pl.DataFrame(
        {
            "reference": [
                rng.choice(["A", "B", "C", None, *map(str, range(40))]) for _ in range(300)
            ],
            "dir": [rng.choice([1, -1]) for _ in range(300)],
        }
    )
    keys = ["reference", "dir"]
    expected = frame.select(pl.len().over(keys) > 1).to_series()
    assert shared_keys(frame, keys).to_list() == expected.to_list()
    where = pl.col("reference").is_not_null()
    kept = frame.with_row_index("i").filter(where)
    repeat = kept.filter(pl.len().over(keys) > 1)["i"].to_list()
    got = shared_keys(frame, keys, where)
    assert got.arg_true().to_list() == repeat
    assert not shared_keys(frame.head(0), keys).len()


def test_matches_built_in_slices_equal_matches_built_at_once(monkeypatch, tmp_path):
    """matches.parquet is built a slice of rows at a time (memory on a large day): the rows,
    their order and every column are the same as in one piece."""
    import recon.classify as classify_module
    from recon.generate import generate_day, write_day
    from recon.load import load_side

    write_day(generate_day(2_000, 9), tmp_path, "parquet")
    pos = load_side(tmp_path / "pos.parquet", "pos").frame
    bank = load_side(tmp_path / "bank.parquet", "bank").frame
    whole = classify(match(pos, bank, MatchSettings()), Settings())[1]
    monkeypatch.setattr(classify_module, "_MATCHES_SLICE", 97)
    sliced = classify(match(pos, bank, MatchSettings()), Settings())[1]
    assert whole.height > 97 * 10
    assert sliced.equals(whole)


def test_reference_pass_is_exact_when_hashes_collide():
    """The reference pass joins on a 64-bit hash: rows of two references that share a hash
    (forced here: every row has hash 1) still pair only with their own reference, the n-th
    with the n-th by time."""
    from recon.match.passes import reference_pass
    from recon.match.prepare import REF_HASH, REF_SHARED

    def side(row: str, refs: list[str], minutes: list[int]) -> pl.DataFrame:
        return pl.DataFrame(
            {
                row: pl.Series(range(len(refs)), dtype=pl.UInt32),
                "reference": refs,
                "dir": pl.Series([1] * len(refs), dtype=pl.Int8),
                "time": [datetime(2026, 1, 1, 10, m) for m in minutes],
                REF_HASH: pl.Series([1] * len(refs), dtype=pl.UInt64),
                REF_SHARED: [True] * len(refs),
            }
        )

    pos = side("prow", ["A", "B", "A", "C"], [0, 1, 2, 3])
    bank = side("brow", ["B", "A", "A", "D"], [5, 9, 6, 7])
    pairs = reference_pass(pos, bank)
    assert sorted(pairs.iter_rows()) == [(0, 2), (1, 0), (2, 1)]


def test_records_of_two_merchants_never_pair_when_every_record_names_its_merchant():
    """A reference is a merchant's when both files name the merchant of every record: the
    streaming and Spark engines then match merchants apart, and a local run agrees. With a
    record that names none, the day is one and the reference pairs as it always has."""
    sale = {"id": "P1", "time": "2026-11-20T10:00:00", "amount": "66.00", "reference": "R1"}
    other = {"id": "P2", "time": "2026-11-20T11:00:00", "amount": "9.00", "merchant": "M2"}
    paid = {"id": "B1", "time": "2026-11-20T12:00:00", "amount": "66.00", "reference": "R1"}
    _, matches = run([{**sale, "merchant": "M1"}, other], [{**paid, "merchant": "M2"}])
    assert ("P1", "B1", "reference") not in pairs(matches)
    _, matches = run([{**sale, "merchant": "M1"}, other], [paid])
    assert ("P1", "B1", "reference") in pairs(matches)


def two_shops(folder, rows=(1500, 1000), seeds=(3, 4)) -> dict[str, Path]:
    """Two look-alike shops in one day (a short price list, a few regular cards: many rows
    tie), the second paid three hours after its sales; written to `folder` as Parquet."""
    from recon.generate import generate_day

    frames: dict[str, list[pl.DataFrame]] = {"pos": [], "bank": []}
    for shop, n, seed, hours in zip("AB", rows, seeds, (0, 3), strict=True):
        day = generate_day(n, seed, kind="lookalike")
        for side, frame in (("pos", day.pos), ("bank", day.bank)):
            frame = frame.with_columns(
                id=pl.lit(shop) + pl.col("id"),
                merchant=pl.lit(f"M{shop}"),
                terminal=pl.lit(shop) + pl.col("terminal"),
            )
            if side == "bank":
                frame = frame.with_columns(time=pl.col("time") + pl.duration(hours=hours))
            frames[side].append(frame)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for side, parts in frames.items():
        paths[side] = folder / f"{side}.parquet"
        pl.concat(parts).sort("time", maintain_order=True).write_parquet(paths[side])
    return paths


def _pairs_by_id(outcome) -> set[tuple[str, str, str]]:
    p = outcome.pos["id"].gather(outcome.pairs["prow"])
    b = outcome.bank["id"].gather(outcome.pairs["brow"])
    return set(zip(p, b, outcome.pairs["rule"], strict=True))


def test_a_day_of_merchants_is_matched_as_each_merchant_alone(tmp_path, monkeypatch):
    """When every record names its merchant, what the matcher learns of the day (the bank's
    usual lag, here minutes for one shop and hours for the other) and how it bounds its
    candidates it decides per merchant: the day's pairs are each merchant's own, so a bucket
    of a few merchants (the streaming and Spark engines) is matched as the whole day."""
    import recon.match as matcher
    from recon.load import load_side

    paths = two_shops(tmp_path)
    pos, bank = (load_side(paths[s], s, None).frame for s in ("pos", "bank"))
    s = MatchSettings()
    whole = match(pos, bank, s)
    day = matcher._day(whole.pos, whole.bank)
    assert day.scoped and day.scope == ["merchant"]
    alone = set()
    for shop in ("MA", "MB"):
        mine = pl.col("merchant") == shop
        alone |= _pairs_by_id(match(pos.filter(mine), bank.filter(mine), s, day))
    assert _pairs_by_id(whole) == alone
    rules = {rule for _, _, rule in alone}
    assert {"amount_time", "residual_card"} <= rules
    # Candidates over budget: a merchant's rows take the same way whatever merchants are
    # matched beside it.
    monkeypatch.setattr(matcher, "CANDIDATE_BUDGET", 60)
    whole = match(pos, bank, s)
    alone = set()
    for shop in ("MA", "MB"):
        mine = pl.col("merchant") == shop
        alone |= _pairs_by_id(match(pos.filter(mine), bank.filter(mine), s, day))
    assert _pairs_by_id(whole) == alone


def _paid_day(lag_minutes: int) -> tuple[list[dict], list[dict]]:
    """Forty sales of one card, each paid `lag_minutes` later: the day shows the bank's lag
    (bound three times it, see recon.match.timing)."""
    pos, bank = [], []
    start = datetime(2026, 11, 20, 8)
    for i in range(40):
        t = start + timedelta(minutes=10 * i)
        row = {"amount": f"{100 + i}.00", "account": "621700******1111", "terminal": "T1"}
        pos.append({"id": f"P{i}", "time": t.isoformat(), **row})
        bank.append(
            {"id": f"B{i}", "time": (t + timedelta(minutes=lag_minutes)).isoformat(), **row}
        )
    return pos, bank


@pytest.mark.parametrize(
    ("account", "lag_minutes", "paired"),
    [
        ("452978******7777", 60, True),  # another card, as fast as the day's payments
        ("452978******7777", 150, False),  # another card, inside the bound but slower than usual
        ("621700******9931", 150, True),  # the sale's card keyed wrong: the bound is enough
    ],
)
def test_another_cards_credit_pairs_only_as_fast_as_the_day_pays(account, lag_minutes, paired):
    """A day paid an hour after each sale (bound three hours): a leftover credit of the same
    amount and terminal is that sale's payment with the wrong card when it came as fast as the
    day's payments; another card altogether two and a half hours later is a stray credit that
    met the sale by chance (look-alike shops), and both stay open. A card keyed wrong says more
    for the pair and keeps the bound."""
    pos, bank = _paid_day(60)
    sale = datetime(2026, 11, 20, 16)
    pos.append(
        {
            "id": "PX",
            "time": sale.isoformat(),
            "amount": "9.90",
            "terminal": "T1",
            "account": "621700******9913",
        }
    )
    credit = sale + timedelta(minutes=lag_minutes)
    bank.append(
        {
            "id": "BX",
            "time": credit.isoformat(),
            "amount": "9.90",
            "terminal": "T1",
            "account": account,
        }
    )
    disc, _ = run(pos, bank)
    expected = (
        {("account_mismatch", "PX", "BX")}
        if paired
        else {("orphan_pos", "PX", ""), ("orphan_bank", "", "BX")}
    )
    assert items(disc) == expected


def test_a_settlements_copy_is_a_duplicate_not_another_sales_keyed_payment():
    """A regular's card buys 12.90 (paid that night, and the payment sent again a minute
    later) and 21.90 (never paid). The copy is the same card, amount and terminal a minute
    after the payment: a duplicate settlement, not the 21.90 sale's payment with its digits
    transposed."""
    card = {"account": "621700******4321", "terminal": "T1"}
    disc, matches = run(
        [
            {"id": "P1", "time": "2026-11-20T10:00:00", "amount": "12.90", **card},
            {"id": "P2", "time": "2026-11-20T11:00:00", "amount": "21.90", **card},
        ],
        [
            {"id": "B1", "time": "2026-11-21T02:10:00", "amount": "12.90", **card},
            {"id": "B2", "time": "2026-11-21T02:11:00", "amount": "12.90", **card},
        ],
    )
    assert pairs(matches) == {("P1", "B1", "amount_time")}
    assert {t for t, _, _ in items(disc)} == {"duplicate_bank", "orphan_pos"}
    assert ("orphan_pos", "P2", "") in items(disc)
