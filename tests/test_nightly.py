"""Nightly --state runs where a day's records wait for the next night's settlement batch: a
sale voided on its day but paid that night, and a sale recorded twice and paid once."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from conftest import write_rows

from recon.cli import cli
from recon.generate import FAULTS, NEGATIVES

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import nightly

CARD = "622202******1234"


def _night(
    tmp: Path, state: Path, name: str, pos: list[str], bank: list[str], *extra: str
) -> pl.DataFrame:
    """Run one night's two files with the state (and `extra` options); return its
    discrepancies."""
    files = [str(write_rows(tmp / f"{s}-{name}.csv", r)) for s, r in (("pos", pos), ("bank", bank))]
    out = tmp / name
    res = CliRunner().invoke(
        cli,
        [
            *("run", "--pos", files[0], "--bank", files[1], "--out", str(out)),
            *("--state", str(state), "--json", *extra),
        ],
    )
    assert res.exit_code in (0, 1), res.output
    assert json.loads(res.output)["state"]["day"] == name
    return pl.read_csv(out / "discrepancies.csv", infer_schema=False)


def _items(disc: pl.DataFrame) -> set[tuple[str, str, str, str]]:
    rows = disc.select("type", "status", "pos_ids", "bank_ids").fill_null("").iter_rows()
    return set(rows)


def test_a_sale_voided_on_its_day_and_paid_that_night_is_voided_but_settled(tmp_path):
    """Day 1: a sale and its void, nothing paid yet: a voided sale, no item. Night: the acquirer
    pays the sale anyway (the void never reached it). Day 2's run pairs the payment with the
    voided sale: voided_but_settled, not a bank credit nobody recognises."""
    state = tmp_path / "state.db"
    day1 = _night(
        tmp_path,
        state,
        "2026-11-20",
        [
            f"P1,2026-11-20T10:00:00,50.00,CNY,{CARD},R1,sale,T1,M1",
            f"P2,2026-11-20T10:03:00,-50.00,CNY,{CARD},R1,void,T1,M1",
            f"P3,2026-11-20T11:00:00,20.00,CNY,{CARD},R3,sale,T1,M1",
        ],
        [f"B3,2026-11-20T13:00:00,20.00,CNY,{CARD},,credit,T1,M1"],
    )
    assert day1.height == 0
    day2 = _night(
        tmp_path,
        state,
        "2026-11-21",
        [f"P4,2026-11-21T09:00:00,30.00,CNY,{CARD},R4,sale,T1,M1"],
        [
            f"B1,2026-11-21T02:30:00,50.00,CNY,{CARD},,credit,T1,M1",
            f"B4,2026-11-21T11:00:00,30.00,CNY,{CARD},,credit,T1,M1",
        ],
    )
    assert _items(day2) == {("voided_but_settled", "new", "P1;P2", "B1")}
    # The voided pair was reported on day 1; day 2 does not list it again as a match.
    matches = pl.read_parquet(tmp_path / "2026-11-21" / "matches.parquet")
    assert sorted(matches["pos_id"].drop_nulls()) == ["P1", "P4"]


def test_a_voided_sale_stops_waiting_for_a_payment_after_the_window(tmp_path):
    """A voided sale waits for a late payment only within the settlement window (3 days): a
    credit of the same amount a week later is a bank credit nobody recognises."""
    state = tmp_path / "state.db"
    sale = f"P1,2026-11-20T10:00:00,50.00,CNY,{CARD},R1,sale,T1,M1"
    void = f"P2,2026-11-20T10:03:00,-50.00,CNY,{CARD},R1,void,T1,M1"
    _night(tmp_path, state, "2026-11-20", [sale, void], [])
    for day in ("2026-11-21", "2026-11-22", "2026-11-23", "2026-11-24"):
        other = f"Q{day[-2:]},{day}T09:00:00,10.00,CNY,{CARD},Q{day[-2:]},sale,T1,M1"
        paid = f"C{day[-2:]},{day}T12:00:00,10.00,CNY,{CARD},,credit,T1,M1"
        assert _night(tmp_path, state, day, [other], [paid]).height == 0
    late = _night(
        tmp_path,
        state,
        "2026-11-27",
        [f"P9,2026-11-27T09:00:00,10.00,CNY,{CARD},R9,sale,T1,M1"],
        [
            f"B1,2026-11-27T02:30:00,50.00,CNY,{CARD},,credit,T1,M1",
            f"B9,2026-11-27T12:00:00,10.00,CNY,{CARD},,credit,T1,M1",
        ],
    )
    assert _items(late) == {("orphan_bank", "new", "", "B1")}


def test_a_sale_recorded_twice_and_paid_that_night_is_one_item_all_along(tmp_path):
    """Day 1: the terminal recorded a sale twice (a retry seconds later), nothing paid yet: a
    duplicate_pos item. Day 2: the acquirer pays it once. The item is the same one, now with
    its payment: carried, not new, and the payment is not a bank credit nobody recognises."""
    state = tmp_path / "state.db"
    day1 = _night(
        tmp_path,
        state,
        "2026-11-20",
        [
            f"P1,2026-11-20T10:00:00,50.00,CNY,{CARD},,sale,T1,M1",
            f"P2,2026-11-20T10:00:04,50.00,CNY,{CARD},,sale,T1,M1",
        ],
        [],
    )
    assert _items(day1) == {("duplicate_pos", "new", "P1;P2", "")}
    day2 = _night(
        tmp_path,
        state,
        "2026-11-21",
        [f"P4,2026-11-21T09:00:00,30.00,CNY,{CARD},,sale,T1,M1"],
        [
            f"B1,2026-11-21T02:30:00,50.00,CNY,{CARD},,credit,T1,M1",
            f"B4,2026-11-21T11:00:00,30.00,CNY,{CARD},,credit,T1,M1",
        ],
    )
    assert _items(day2) == {("duplicate_pos", "carried", "P1;P2", "B1")}


def test_a_closed_day_pairs_no_slower_than_the_bank_showed_on_the_days_before(tmp_path):
    """Day 1: forty sales paid by reference two minutes later (the bank's lag shows: well
    under the 3-day window) and one sale nobody paid. Day 2 the shop is shut: its only bank row
    is a credit of another card, same amount and terminal, thirteen hours after that sale. A
    day has too few pairs to show the lag by itself, so the run takes day 1's: the credit is
    not that sale keyed with the wrong card, and both stay open."""
    state = tmp_path / "state.db"
    pos, bank = [], []
    for i in range(40):
        t = f"2026-11-20T{9 + i // 6:02d}:{i % 6 * 10:02d}"
        pos.append(f"P{i},{t}:00,{10 + i}.00,CNY,{CARD},R{i},sale,T1,M1")
        bank.append(f"B{i},{t}:02,{10 + i}.00,CNY,{CARD},R{i},credit,T1,M1")
    pos.append(f"PX,2026-11-20T20:00:00,99.00,CNY,{CARD},RX,sale,T1,M1")
    day1 = _night(tmp_path, state, "2026-11-20", pos, bank)
    assert _items(day1) == {("orphan_pos", "new", "PX", "")}
    other = "622202******9876"
    day2 = _night(
        tmp_path,
        state,
        "2026-11-21",
        [],
        [f"BX,2026-11-21T09:00:00,99.00,CNY,{other},,credit,T1,M1"],
    )
    assert _items(day2) == {("orphan_pos", "carried", "PX", ""), ("orphan_bank", "new", "", "BX")}


@pytest.mark.parametrize("engine", [[], ["--engine", "streaming", "--partitions", "2"]])
def test_a_slow_day_does_not_pair_records_of_a_fast_one_hours_apart(tmp_path, engine):
    """Day 1: forty sales paid by reference seconds later (the bank's lag shows), forty sales
    the bank has not paid yet, a sale nobody pays and, eleven hours after it, a credit of
    another card, same amount and terminal: too slow for that bank to be its payment, both stay
    open. Day 2: the bank pays the forty waiting sales a day and a half late, so this day's lag
    is no tighter than the window. Day 1's two records are still judged by day 1's lag: the
    credit is not that sale keyed with the wrong card, and both stay open."""
    state = tmp_path / "state.db"
    pos, bank, late = [], [], []
    for i in range(40):
        t = f"2026-11-20T{9 + i // 6:02d}:{i % 6 * 10:02d}"
        pos.append(f"P{i},{t}:00,{10 + i}.00,CNY,{CARD},R{i},sale,T1,M1")
        bank.append(f"B{i},{t}:02,{10 + i}.00,CNY,{CARD},R{i},credit,T1,M1")
        pos.append(f"Q{i},{t}:30,{60 + i}.00,CNY,{CARD},S{i},sale,T1,M1")
        late.append(f"C{i},2026-11-21T21:{i:02d}:00,{60 + i}.00,CNY,{CARD},S{i},credit,T1,M1")
    other = "622202******9876"
    pos.append(f"PX,2026-11-20T08:30:00,99.00,CNY,{CARD},,sale,T1,M1")
    bank.append(f"BX,2026-11-20T19:30:00,99.00,CNY,{other},,credit,T1,M1")
    day1 = _night(tmp_path, state, "2026-11-20", pos, bank, *engine)
    assert {("orphan_pos", "new", "PX", ""), ("orphan_bank", "new", "", "BX")} <= _items(day1)
    day2 = _night(tmp_path, state, "2026-11-21", [], late, *engine)
    summary = json.loads((tmp_path / "2026-11-21" / "summary.json").read_text())
    assert summary["state"]["lag_bound_minutes"] == 0.0  # (no tighter than the window)
    waiting = {("late_settlement", "new", f"Q{i}", f"C{i}") for i in range(40)}
    assert _items(day2) - waiting == {
        ("orphan_pos", "carried", "PX", ""),
        ("orphan_bank", "carried", "", "BX"),
    }


def _nightly_month(*args: str) -> tuple[int, dict]:
    """benchmarks/nightly.py run as a script (each night a run of the installed `recon`): its
    exit status and its figures."""
    script = nightly.__file__
    proc = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def test_a_month_of_nightly_runs_matches_nothing_twice_and_refeeds_change_nothing(tmp_path):
    """benchmarks/nightly.py end to end on a small shop: 26 nights of the installed `recon`
    with closed days, a two-day closure, a three-day outage caught up with a rolling bank
    export, and two re-fed nights."""
    _, result = _nightly_month("--rows", "300", "--days", "26", "--keep", str(tmp_path), "--json")
    assert result["matched_twice"] == 0
    assert result["refeed_unchanged"] is True
    # Regression floors under what this month measures (0.989, 0.993, 0.956 on 2026-11-28):
    # the look-alike shop's injected orphans are exact copies of other records' looks.
    assert result["same_day_right"] >= 0.98
    assert result["closed_right_day"] >= 0.98
    assert result["carried_right"] >= 0.95
    # Pairs no true pair looks like, by rule (27 on 2026-11-28, 19 of them residual_card).
    assert sum(result["wrong_pairs"].values()) <= 40
    # Every night ran, the closed ones included, each as its own day.
    history = sqlite3.connect(tmp_path / "state.db").execute(
        "SELECT count(*), count(DISTINCT day) FROM runs WHERE superseded_by IS NULL"
    )
    assert history.fetchone() == (26, 26)


def test_a_month_of_a_shop_whose_regulars_make_30_percent_of_the_sales_meets_the_target(tmp_path):
    """The month the issue's target is met on (benchmarks/README.md, nightly figures): 2,000
    sales a night, 30 % of them by the shop's regular cards, paid in the next night's batch,
    each fault type 1 % of the sales. Every share at 0.99 or more (0.9941 / 0.9946 / 0.9975
    on 2026-11-29), nothing matched twice, re-feeds unchanged: the script exits 0."""
    code, result = _nightly_month("--regulars", "0.3", "--keep", str(tmp_path), "--json")
    assert code == 0, result
    for share in ("closed_right_day", "same_day_right", "carried_right"):
        assert result[share] >= 0.99, share
    assert result["matched_twice"] == 0 and result["refeed_unchanged"] is True


def test_the_nightly_score_counts_a_look_no_run_showed_as_missed():
    """A waiting record whose look no run left open is missed (the score once counted it as
    carried: a minimum over a missing count skipped the null)."""
    expected = pl.DataFrame({"side": ["pos", "pos", "bank"], "look": ["a", "a", "b"]})
    found = pl.DataFrame({"side": ["pos"], "look": ["a"]})
    assert nightly.agreed(found, expected, ["side", "look"]) == 1
    assert nightly.agreed(found.clear(), expected, ["side", "look"]) == 0
    assert nightly.agreed(expected, expected, ["side", "look"]) == 3


@pytest.mark.parametrize("rate", ["0", "-0.01", "0.2"])
def test_the_nightly_benchmark_refuses_a_fault_rate_out_of_range(rate, capsys):
    with pytest.raises(SystemExit) as exit_:
        nightly.main(["--fault-rate", rate])
    assert exit_.value.code == 2
    assert "--fault-rate must be above 0 and at most 0.05" in capsys.readouterr().err


def test_the_nightly_month_takes_its_fault_rate():
    """--fault-rate 0.0025: each fault type a quarter as often as by default, every day; the
    cases that look suspicious but are fine as often as before."""
    days = nightly.OUTAGE[-1] + 2
    usual = nightly.month(2000, 7, days).faults.group_by("fault").len()
    fewer = nightly.month(2000, 7, days, fault_rate=0.0025).faults.group_by("fault").len()
    both = usual.join(fewer, on="fault", suffix="_fewer")
    assert both.height == usual.height == len(FAULTS) + len(NEGATIVES)
    faults = both.filter(pl.col("fault").is_in(FAULTS))
    assert faults.height == len(FAULTS)
    assert (faults["len"] == 4 * faults["len_fewer"]).all()
    negatives = both.filter(pl.col("fault").is_in(NEGATIVES))
    assert (negatives["len"] == negatives["len_fewer"]).all()
