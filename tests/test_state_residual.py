"""Another card altogether between two carried records: left open, not paired a night later.

Night 1 has two sales of 50.00 on one till (cards A and B) and one credit of 50.00 of a third
card: either sale could be its payment (another card), so all three stay open. Night 2 brings
sale B's own payment. Only sale A and the credit are left, each the other's only candidate, but
they met the night before and were left open: nothing new speaks for the pair, so they stay
open as orphans that say a look-alike record could be theirs. The same records in one run (no
state) are an account mismatch: there the pair is made the first time the two meet.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from recon.cli import cli

HEADER = "id,time,amount,currency,account,reference,kind,terminal,merchant\n"
A, B, C, D = (
    f"{p}******{n}"
    for p, n in (("622202", "1111"), ("622202", "2222"), ("625808", "3333"), ("622848", "4444"))
)
POS = {
    1: [
        f"S1,2026-11-20T10:00:00,50.00,CNY,{A},,sale,T1,M1",
        f"S2,2026-11-20T10:30:00,50.00,CNY,{B},,sale,T1,M1",
    ],
    2: [f"S9,2026-11-21T12:00:00,7.00,CNY,{D},,sale,T1,M1"],
}
BANK = {
    1: [f"O1,2026-11-20T11:00:00,50.00,CNY,{C},,credit,T1,M1"],
    2: [
        f"P2,2026-11-21T02:30:00,50.00,CNY,{B},,credit,T1,M1",
        f"B9,2026-11-21T12:02:00,7.00,CNY,{D},,credit,T1,M1",
    ],
}


def _csv(path: Path, rows: list[str]) -> Path:
    path.write_text(HEADER + "".join(r + "\n" for r in rows))
    return path


def _run(tmp: Path, pos: list[str], bank: list[str], out: str, *extra: str) -> pl.DataFrame:
    args = ["run", "--pos", str(_csv(tmp / f"{out}-pos.csv", pos))]
    args += ["--bank", str(_csv(tmp / f"{out}-bank.csv", bank)), "--out", str(tmp / out)]
    res = CliRunner().invoke(cli, [*args, "--json", *extra])
    assert res.exit_code in (0, 1), res.output
    json.loads(res.output)
    return pl.read_csv(tmp / out / "discrepancies.csv", infer_schema=False)


@pytest.mark.parametrize("engine", ["local", "streaming"])
def test_carried_sale_and_credit_of_another_card_stay_open(tmp_path, engine):
    state = str(tmp_path / "state.db")
    extra = ["--state", state] + ([] if engine == "local" else ["--engine", engine])
    first = _run(tmp_path, POS[1], BANK[1], "night1", *extra)
    assert sorted(first["type"]) == ["orphan_bank", "orphan_pos", "orphan_pos"]
    second = _run(tmp_path, POS[2], BANK[2], "night2", *extra)
    assert "account_mismatch" not in set(second["type"])
    assert sorted(second["type"]) == ["orphan_bank", "orphan_pos"]
    row = second.filter(pl.col("type") == "orphan_pos").row(0, named=True)
    assert row["pos_ids"] == "S1" and row["status"] == "carried"
    # the item says a look-alike record could be its settlement
    assert "look-alike" in json.dumps(row)
    credit = second.filter(pl.col("type") == "orphan_bank").row(0, named=True)
    assert credit["bank_ids"] == "O1" and "look-alike" in json.dumps(credit)
    pairs = pl.read_parquet(tmp_path / "night2" / "matches.parquet")
    assert ("S2", "P2") in set(pairs.select("pos_id", "bank_id").iter_rows())


def test_the_same_records_in_one_run_are_an_account_mismatch(tmp_path):
    found = _run(tmp_path, POS[1] + POS[2], BANK[1] + BANK[2], "one")
    mismatch = found.filter(pl.col("type") == "account_mismatch")
    assert mismatch.select("pos_ids", "bank_ids").rows() == [("S1", "O1")]
    assert found.height == 1
