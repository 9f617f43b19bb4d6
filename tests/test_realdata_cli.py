"""`recon inspect` and `recon run` over every file in the shared real-data folder, through the CLI.

Each file is read on the side where it belongs (decided from ../shared/realdata/SOURCES.md):

* mt940, camt, bai2, ofx: bank statements -> `--bank`.
* cn_bills: Chinese bank exports (ICBC, CMB, ABC, BOCOM) and payment-platform bills (WeChat Pay,
  Alipay, Meituan): what the bank or platform booked -> `--bank`.
* pos_exports: in spite of the folder's name, none is a till export: Adyen's settlement detail
  report and Stripe's balance report are acquirer files, PayPal's activity and statement files
  are a payment platform's account (like a WeChat Pay bill): all are what was settled -> `--bank`.

No file is skipped: the camt zip is a statement recon reads, and files with no entry (an OFX
with balances only, a BAI2 file of empty accounts) are run too (their POS sale is an orphan).

For `run`, each statement is paired with a tiny POS ledger built here from the loaded statement:
a few of its credits (and a debit) as sales (and a refund) that carry one of the bank's own
references, preferring one that is not the primary `reference` (the bank reference after `//`,
an AcctSvcrRef, a CHECKNUM ...), so the match is by reference only if the reader kept every
reference. Files whose rows carry no reference get sales with no reference, matched by amount
and time. The tests assert who matched whom, and by which rule, in matches.parquet. A file that
could not be used at all would have to give exit code 2 and one clear line, never a traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from conftest import SHARED

from recon.cli import cli
from recon.errors import InputError
from recon.load import load_side
from recon.money import format_minor

REALDATA = SHARED / "realdata"
# folder -> (side, the readers its files are read with)
FOLDERS = {
    "mt940": ("bank", {"mt940"}),
    "camt": ("bank", {"camt"}),
    "bai2": ("bank", {"bai2"}),
    "ofx": ("bank", {"ofx"}),
    "cn_bills": ("bank", {"csv", "excel"}),
    "pos_exports": ("bank", {"csv"}),
}
FILES = [
    (path, folder)
    for folder in FOLDERS
    for path in (sorted((REALDATA / folder).iterdir()) if (REALDATA / folder).is_dir() else [])
]
REFERENCE_RULES = {"reference", "reference_other"}
MIN_REF = 4  # shorter references are left out of the ledger (too short to be a transaction id)

pytestmark = pytest.mark.skipif(
    not FILES, reason=f"{REALDATA} is absent (the team's shared real sample files)"
)


def _id(value: object) -> str:
    return f"{value.parent.name}/{value.name}" if isinstance(value, Path) else str(value)


# --- the POS ledger -------------------------------------------------------------------------------


def _unique_ref(row: dict, others: list[dict]) -> str | None:
    """A reference of `row` that no other row carries (as a reference or in its memo):
    the last one that is not the primary reference if there is one, else the primary."""
    refs = [r for r in (row["references"] or []) if len(r) >= MIN_REF]
    if row["reference"] and len(row["reference"]) >= MIN_REF and row["reference"] not in refs:
        refs.insert(0, row["reference"])
    for ref in [*reversed(refs[1:]), *refs[:1]]:
        key = ref.upper()
        if not any(
            key == (o["reference"] or "").upper()
            or key in {r.upper() for r in o["references"] or []}
            or key in (o["memo"] or "").upper()
            for o in others
        ):
            return ref
    return None


def _pos_time(row: dict, lag: timedelta) -> str:
    if not row["has_clock"]:
        return f"{row['time'].date().isoformat()}T12:00:00"  # the booking day counts as after it
    return (row["time"] - lag).isoformat(timespec="seconds")


def build_ledger(bank: pl.DataFrame, path: Path) -> dict[str, tuple[str, str | None]]:
    """Write a canonical POS CSV for `bank`'s rows; return {pos id: (bank id, reference)}."""
    rows = bank.to_dicts()
    picks: dict[str, tuple[dict, str | None]] = {}
    credits = debits = 0
    for i, row in enumerate(rows):
        others = rows[:i] + rows[i + 1 :]
        ref = _unique_ref(row, others)
        if ref is None or row["amount"] == 0:
            continue
        if row["kind"] == "credit" and credits < 3:
            credits += 1
        elif row["kind"] == "debit" and debits < 1:
            debits += 1
        else:
            continue
        picks[f"P{len(picks) + 1}"] = (row, ref)
    if not picks:  # no row carries a usable reference: sales by amount and time
        seen = bank.group_by("amount", "currency", bank["time"].dt.date().alias("day")).len()
        single = {(a, c, d) for a, c, d, n in seen.rows() if n == 1}
        for row in sorted(rows, key=lambda r: r["kind"] != "credit"):  # credits first
            if (row["amount"], row["currency"], row["time"].date()) in single and row["amount"]:
                picks[f"P{len(picks) + 1}"] = (row, None)
            if len(picks) == 2:
                break
    lines = ["id,time,amount,currency,reference,kind"]
    for pid, (row, ref) in picks.items():
        kind = "sale" if row["kind"] == "credit" else "refund"
        amount = format_minor(row["amount"], row["currency"])
        when = _pos_time(row, timedelta(hours=1))
        lines.append(f'{pid},{when},"{amount}",{row["currency"]},{ref or ""},{kind}')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {pid: (row["id"], ref) for pid, (row, ref) in picks.items()}


# --- recon inspect --------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "folder"), FILES, ids=_id)
def test_inspect_every_real_file(path, folder):
    side, formats = FOLDERS[folder]
    res = CliRunner().invoke(cli, ["inspect", str(path), "--side", side, "--json"])
    assert "Traceback" not in res.output
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    assert info["format"] in formats
    rows = info["rows"]
    assert rows["read"] == rows["loaded"] + rows["rejected"]
    loaded = load_side(path, side)
    assert rows == {
        "read": loaded.rows,
        "loaded": loaded.frame.height,
        "rejected": loaded.rejected.height,
    }
    if folder in ("mt940", "camt", "bai2", "ofx") and info["first_rows"]:
        # statements show what they carry besides the amount: references or the free text
        assert all(r["references"] or r["memo"] for r in info["first_rows"]), info["first_rows"]


# --- recon run ------------------------------------------------------------------------------------


def _run(args: list[str]):
    res = CliRunner().invoke(cli, args)
    assert "Traceback" not in res.output
    return res


@pytest.mark.parametrize(("path", "folder"), FILES, ids=_id)
def test_run_every_real_file_against_a_ledger_of_its_own_entries(path, folder, tmp_path):
    side, _ = FOLDERS[folder]
    out = tmp_path / "out"
    pos = tmp_path / "pos.csv"
    try:
        loaded = load_side(path, side)
    except InputError as exc:  # a file recon cannot use at all: a clear one-line message
        pos.write_text("id,time,amount\nP1,2024-01-01T10:00:00,1.00\n")
        res = _run(["run", "--pos", str(pos), f"--{side}", str(path), "--out", str(out)])
        assert res.exit_code == 2
        assert str(exc) in res.output and len(res.output.strip().splitlines()) == 1
        return
    bank = loaded.frame
    if bank.height == 0:  # balances only, or accounts with no entry: nothing to pay the sale
        pos.write_text(
            "id,time,amount,currency,reference,kind\nP1,2024-01-01T10:00:00,1.00,USD,R1,sale\n"
        )
        res = _run(["run", "--pos", str(pos), f"--{side}", str(path), "--out", str(out), "--json"])
        assert res.exit_code == 1, res.output
        disc = pl.read_csv(out / "discrepancies.csv", infer_schema=False)
        assert disc.select("type", "pos_ids").rows() == [("orphan_pos", "P1")]
        return
    expected = build_ledger(bank, pos)
    assert expected, f"{path.name}: no entry to build a ledger from"
    res = _run(["run", "--pos", str(pos), f"--{side}", str(path), "--out", str(out), "--quiet"])
    assert res.exit_code in (0, 1), res.output
    matches = pl.read_parquet(out / "matches.parquet")
    got = {p: (b, rule) for p, b, rule in matches.select("pos_id", "bank_id", "rule").rows()}
    for pid, (bank_id, ref) in expected.items():
        assert pid in got, f"{pid} ({ref}) did not match {bank_id}: {got}"
        assert got[pid][0] == bank_id, (pid, ref, got[pid])
        if ref is not None:
            assert got[pid][1] in REFERENCE_RULES, (pid, ref, got[pid])
    disc = pl.read_csv(out / "discrepancies.csv", infer_schema=False)
    pos_items = disc.filter(pl.col("pos_ids").is_not_null())
    assert pos_items.filter(pl.col("type").is_in(["orphan_pos", "duplicate_pos"])).height == 0


def test_statement_references_are_used_beyond_the_primary_one():
    """The ledgers above do test the references: in most statements at least one sale carries
    a reference that is not the bank row's primary `reference`."""
    beyond = 0
    for path, folder in FILES:
        if folder not in ("mt940", "camt", "bai2", "ofx"):
            continue
        bank = load_side(path, "bank").frame
        for row in bank.to_dicts():
            ref = _unique_ref(row, [o for o in bank.to_dicts() if o["id"] != row["id"]])
            if ref is not None and ref != row["reference"]:
                beyond += 1
                break
    assert beyond >= 10


# --- the installed entry point --------------------------------------------------------------------


def _entry_point() -> str:
    here = Path(sys.executable).parent / "recon"
    found = str(here) if here.exists() else shutil.which("recon")
    if found is None:
        pytest.skip("the `recon` entry point is not installed (pip install -e .)")
    return found


@pytest.mark.parametrize(
    "name",
    [
        "mt940/oca-bank-statement-import__test-ing.940",
        "camt/oca-bank-statement-import__test-camt053.zip",
        "cn_bills/double-entry-generator__example-wechat-records.xlsx",
    ],
)
def test_installed_recon_runs_and_inspects_real_files(name, tmp_path):
    path = REALDATA / name
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    recon = _entry_point()
    env = {**os.environ, "LANG": "C.UTF-8", "COLUMNS": "100"}
    insp = subprocess.run(
        [recon, "inspect", str(path), "--side", "bank", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert insp.returncode == 0, insp.stderr
    info = json.loads(insp.stdout)
    assert info["rows"]["rejected"] == 0 and info["rows"]["loaded"] > 0
    pos = tmp_path / "pos.csv"
    expected = build_ledger(load_side(path, "bank").frame, pos)
    out = tmp_path / "out"
    run = subprocess.run(
        [recon, "run", "--pos", str(pos), "--bank", str(path), "--out", str(out), "--quiet"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert run.returncode in (0, 1), run.stderr
    assert "Traceback" not in run.stderr
    matches = pl.read_parquet(out / "matches.parquet")
    got = dict(matches.select("pos_id", "bank_id").iter_rows())
    assert {p: b for p, (b, _) in expected.items()} == {p: got.get(p) for p in expected}
    summary = json.loads((out / "summary.json").read_text())
    assert summary  # the machine-readable summary is written
