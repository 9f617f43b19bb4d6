"""Scheduled runs with a state store: carry, close, age, idempotency, locking, crash safety."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from conftest import write_rows

from recon import store as store_module
from recon.carry import record_key, record_keys
from recon.cli import cli
from recon.exprs import formatted
from recon.load import load_side
from recon.store import EXIT_BUSY, ITEM_COLUMNS, SCHEMA_VERSION, Store, hashed


def _day(tmp: Path, n: int) -> tuple[Path, Path]:
    """Three shop days. P2 settles a day late (within the window), P3 six days late (a late
    settlement), B9 is a bank credit nobody recognises (it ages), B1 reappears in the day-2
    export (a rolling file that overlaps)."""
    card = "622202******1234"
    pos = {
        1: [
            f"P1,2026-11-20T09:00:00,10.00,CNY,{card},R1,sale,T1,M1",
            f"P2,2026-11-20T10:00:00,20.00,CNY,{card},R2,sale,T1,M1",
            f"P3,2026-11-20T11:00:00,30.00,CNY,{card},R3,sale,T1,M1",
        ],
        2: [f"P4,2026-11-21T09:00:00,40.00,CNY,{card},R4,sale,T1,M1"],
        3: [f"P5,2026-11-26T09:00:00,50.00,CNY,{card},R5,sale,T1,M1"],
    }[n]
    bank = {
        1: [
            f"B1,2026-11-20T23:00:00,10.00,CNY,{card},R1,credit,T1,M1",
            f"B9,2026-11-20T23:30:00,99.00,CNY,{card},R9,credit,T1,M1",
        ],
        2: [
            f"B1,2026-11-20T23:00:00,10.00,CNY,{card},R1,credit,T1,M1",
            f"B2,2026-11-21T02:00:00,20.00,CNY,{card},R2,credit,T1,M1",
            f"B4,2026-11-21T23:00:00,40.00,CNY,{card},R4,credit,T1,M1",
        ],
        3: [
            f"B3,2026-11-26T02:00:00,30.00,CNY,{card},R3,credit,T1,M1",
            f"B5,2026-11-26T23:00:00,50.00,CNY,{card},R5,credit,T1,M1",
        ],
    }[n]
    return write_rows(tmp / f"pos{n}.csv", pos), write_rows(tmp / f"bank{n}.csv", bank)


@pytest.fixture
def env(tmp_path):
    cfg = tmp_path / "cron.toml"
    cfg.write_text("[aging]\nmedium_after_days = 1\nhigh_after_days = 3\n")
    return tmp_path, tmp_path / "state.db", cfg


def _run(tmp: Path, state: Path, cfg: Path, n: int, *extra: str):
    pos, bank = _day(tmp, n)
    return _run_files(tmp, state, cfg, pos, bank, f"out{n}", *extra)


def _run_files(
    tmp: Path, state: Path, cfg: Path, pos: Path, bank: Path, out: str, *extra: str
) -> tuple[int, dict]:
    res = CliRunner().invoke(
        cli,
        [
            *("run", "--pos", str(pos), "--bank", str(bank), "--config", str(cfg)),
            *("--state", str(state), "--out", str(tmp / out), "--json", *extra),
        ],
    )
    assert res.exit_code in (0, 1), res.output
    return res.exit_code, json.loads(res.output)


def _open(state: Path) -> dict[str, dict]:
    res = CliRunner().invoke(cli, ["open-items", "--state", str(state), "--json"])
    assert res.exit_code == 0, res.output
    return {(r["type"], r["pos_ids"] or r["bank_ids"]): r for r in json.loads(res.output)}


def test_open_items_lists_a_backlog_in_a_table_up_to_its_limit(env):
    """The table lists the oldest items up to --limit and says how many it left out; --limit 0
    lists them all; filters narrow the list first; --json lists every item whatever the
    limit."""
    tmp, state, cfg = env
    _run(tmp, state, cfg, 1)  # three open items: P2, P3, B9

    def table(*extra: str) -> str:
        res = CliRunner().invoke(cli, ["open-items", "--state", str(state), *extra])
        assert res.exit_code == 0, res.output
        return res.output

    two = table("--limit", "2")
    assert "The 2 oldest of 3 open items: --limit 0 lists them all" in two
    assert sum(line.count("orphan_") for line in two.splitlines()) == 2
    every = table("--limit", "0")
    assert "oldest of" not in every
    assert sum(line.count("orphan_") for line in every.splitlines()) == 3
    assert "B9" in table("--type", "orphan_bank", "--limit", "1")
    assert "oldest of" not in table("--type", "orphan_bank", "--limit", "1")
    res = CliRunner().invoke(cli, ["open-items", "--state", str(state), "--json", "--limit", "1"])
    assert len(json.loads(res.output)) == 3


def test_three_days_items_open_carry_close_late_and_age(env):
    tmp, state, cfg = env
    code, s1 = _run(tmp, state, cfg, 1)
    assert code == 1
    assert s1["state"]["day"] == "2026-11-20"
    assert s1["state"]["new"] == 3  # P2, P3 unsettled; B9 unknown
    assert set(_open(state)) == {("orphan_pos", "P2"), ("orphan_pos", "P3"), ("orphan_bank", "B9")}
    b9_ref = _open(state)[("orphan_bank", "B9")]["item_ref"]

    code, s2 = _run(tmp, state, cfg, 2)
    st = s2["state"]
    assert st["day"] == "2026-11-21"
    assert st["carried_in"] == {"pos": 2, "bank": 1}
    # P2 settled within the window: its item closes, with no new item. B1 (already matched on
    # day 1, sent again in the overlapping export) is not counted twice.
    assert st["closed"] == 1
    assert s2["discrepancies"]["total"] == 2
    assert s2["discrepancies"]["by_type"]["orphan_bank"]["count"] == 1
    items = _open(state)
    assert set(items) == {("orphan_pos", "P3"), ("orphan_bank", "B9")}
    # B9 has aged a day: it escalates (medium after 1 day) only if it was low; orphan_bank is
    # medium already, so it is carried, not escalated, and does not alert again.
    assert items[("orphan_bank", "B9")]["status"] == "carried"
    assert items[("orphan_bank", "B9")]["age_days"] == 1
    assert items[("orphan_bank", "B9")]["item_ref"] == b9_ref  # the same handle every run
    assert code == 0  # nothing new or escalated at or above 'low'

    code, s3 = _run(tmp, state, cfg, 3)
    st = s3["state"]
    assert st["day"] == "2026-11-26"
    disc = pl.read_csv(tmp / "out3" / "discrepancies.csv", infer_schema=False)
    late = disc.filter(pl.col("type") == "late_settlement")
    assert late.select("pos_ids", "bank_ids", "status").rows() == [("P3", "B3", "new")]
    b9 = disc.filter(pl.col("type") == "orphan_bank").row(0, named=True)
    assert (b9["severity"], b9["status"], b9["age_days"]) == ("high", "escalated", "6")
    assert code == 1  # an escalated item alerts again
    assert set(_open(state)) == {("orphan_bank", "B9"), ("late_settlement", "P3")}
    assert _open(state)[("orphan_bank", "B9")]["item_ref"] == b9_ref


def test_same_file_twice_replaces_the_day_and_never_double_counts(env):
    tmp, state, cfg = env
    _run(tmp, state, cfg, 1)
    _, again = _run(tmp, state, cfg, 1)
    assert again["state"]["new"] == 3
    assert again["state"]["based_on_run"] is None
    runs = json.loads(CliRunner().invoke(cli, ["history", "--state", str(state), "--json"]).output)
    assert [r["superseded_by"] is not None for r in runs] == [False, True]
    assert len(_open(state)) == 3
    # The day-2 run then builds on the replacing run, not on both.
    _, s2 = _run(tmp, state, cfg, 2)
    assert s2["state"]["carried_in"] == {"pos": 2, "bank": 1}


def test_resolve_closes_an_item_by_hand_and_stops_carrying_it(env):
    tmp, state, cfg = env
    _run(tmp, state, cfg, 1)
    ref = _open(state)[("orphan_bank", "B9")]["item_ref"]
    res = CliRunner().invoke(
        cli, ["resolve", ref, "--note", "owner's own transfer", "--state", str(state), "--json"]
    )
    assert res.exit_code == 0, res.output
    done = json.loads(res.output)
    assert done["note"] == "owner's own transfer" and done["resolved_by"]
    assert ("orphan_bank", "B9") not in _open(state)
    _, s2 = _run(tmp, state, cfg, 2)
    assert s2["state"]["carried_in"]["bank"] == 0
    res = CliRunner().invoke(cli, ["resolve", "Knope", "--note", "x", "--state", str(state)])
    assert res.exit_code == 2
    assert "no open item" in res.output


def test_second_run_on_a_locked_state_exits_with_its_own_code(env):
    tmp, state, cfg = env
    _run(tmp, state, cfg, 1)
    store = Store(state)
    with store.lock():
        pos, bank = _day(tmp, 2)
        res = CliRunner().invoke(
            cli,
            ["run", "--pos", str(pos), "--bank", str(bank), "--state", str(state), "--quiet"],
        )
    assert res.exit_code == EXIT_BUSY == 3
    assert "another recon run" in res.output
    assert len(Store(state).history()) == 1


def test_a_run_killed_inside_its_transaction_leaves_the_store_unchanged(env):
    tmp, state, cfg = env
    _run(tmp, state, cfg, 1)
    before = Store(state).history()
    open_before = _open(state)
    pos, bank = _day(tmp, 2)
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "recon.cli", "run", "--pos", str(pos), "--bank", str(bank)),
            *("--state", str(state), "--quiet", "--out", str(tmp / "killed")),
        ],
        env={**os.environ, "RECON_FAULT": "before-commit"},
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == 137
    assert Store(state).history() == before
    assert _open(state) == open_before
    # And the next run works from the same state.
    _, s2 = _run(tmp, state, cfg, 2)
    assert s2["state"]["carried_in"] == {"pos": 2, "bank": 1}


def test_state_file_is_private(env):
    tmp, state, cfg = env
    _run(tmp, state, cfg, 1)
    assert stat.S_IMODE(state.stat().st_mode) == 0o600


@pytest.mark.parametrize("damage", ["garbage", "newer", "foreign"])
def test_unusable_state_file_is_a_clear_error(tmp_path, damage):
    state = tmp_path / "state.db"
    if damage == "garbage":
        state.write_bytes(b"this is not sqlite" * 100)
        expect = "not a usable recon state file"
    elif damage == "newer":
        Store(state)
        with sqlite3.connect(state) as db:
            db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
        expect = "newer than this recon"
    else:
        with sqlite3.connect(state) as db:
            db.execute("CREATE TABLE other (x)")
        expect = "not a recon state file"
    res = CliRunner().invoke(cli, ["history", "--state", str(state)])
    assert res.exit_code == 2
    assert expect in res.output
    assert "Traceback" not in res.output


def test_notify_command_gets_the_json_summary_when_something_new_is_found(env):
    tmp, state, _ = env
    sink = tmp / "notified.json"
    script = tmp / "hook.py"
    script.write_text(
        f"import sys, pathlib\npathlib.Path({str(sink)!r}).write_text(sys.stdin.read())\n"
    )
    cfg = tmp / "notify.toml"
    cfg.write_text(f'[notify]\ncommand = "{sys.executable} {script}"\nmin_severity = "high"\n')
    _run(tmp, state, cfg, 1)
    got = json.loads(sink.read_text())
    assert got["state"]["new"] == 3
    sink.unlink()
    # Day 2 finds nothing new at 'high': no notification.
    _run(tmp, state, cfg, 2)
    assert not sink.exists()


def test_identical_rows_of_one_file_are_two_records(env):
    tmp, state, _ = env
    row = "2026-11-20T10:00:00,20.00,CNY,622202******1234,,sale,T1,M1"
    pos = write_rows(tmp / "pos.csv", [f",{row}", f",{row}"])
    bank = write_rows(tmp / "bank.csv", [])
    res = CliRunner().invoke(
        cli,
        [
            *("run", "--pos", str(pos), "--bank", str(bank)),
            *("--state", str(state), "--json", "--out", str(tmp / "o")),
        ],
    )
    summary = json.loads(res.output)
    assert summary["inputs"]["pos"]["loaded"] == 2
    assert summary["discrepancies"]["by_type"]["duplicate_pos"]["count"] == 1


def test_yesterdays_files_fed_again_as_a_new_day_add_nothing_new(env):
    tmp, state, cfg = env
    _run(tmp, state, cfg, 1)
    code, again = _run(tmp, state, cfg, 1, "--day", "2026-11-21")
    st = again["state"]
    assert (st["new"], st["carried"], st["closed"]) == (0, 3, 0)
    assert again["matched"]["pairs"] == 0  # B1/P1 were matched yesterday: not counted again
    assert code == 0


def test_a_run_whose_outputs_cannot_be_written_records_nothing(env):
    """The outputs are written while the store takes the run's rows; the run is committed only
    once they are written, so outputs that fail leave the store as it was."""
    tmp, state, cfg = env
    _run(tmp, state, cfg, 1)
    before = sqlite3.connect(state).execute("SELECT count(*) FROM runs").fetchone()
    pos, bank = _day(tmp, 2)
    (tmp / "blocked").write_text("a file where the output folder should be")
    res = CliRunner().invoke(
        cli,
        [
            *("run", "--pos", str(pos), "--bank", str(bank), "--config", str(cfg)),
            *("--state", str(state), "--out", str(tmp / "blocked" / "out")),
        ],
    )
    assert res.exit_code not in (0, 1) and "Traceback" not in res.output
    assert sqlite3.connect(state).execute("SELECT count(*) FROM runs").fetchone() == before
    # the day runs as before once the folder can be written
    code, summary = _run(tmp, state, cfg, 2)
    assert summary["state"]["day"] == "2026-11-21" and code in (0, 1)


def test_consumed_keys_probed_a_few_runs_at_a_time_find_the_same(env, monkeypatch):
    """Store.consumed_among reads the history a few runs' keys at a time (a month of a large
    shop's keys is never held): one key at a time, yesterday's files still add nothing."""
    monkeypatch.setattr(store_module, "_PROBE_KEYS", 1)
    tmp, state, cfg = env
    _run(tmp, state, cfg, 1)
    _run(tmp, state, cfg, 2)
    _code, again = _run(tmp, state, cfg, 1, "--day", "2026-11-22")
    assert again["matched"]["pairs"] == 0 and again["state"]["new"] == 0
    with sqlite3.connect(state) as db:
        blobs = db.execute("SELECT rec_keys FROM consumed WHERE side = 'bank'").fetchall()
    stored = np.concatenate([np.frombuffer(b, dtype="<i8") for (b,) in blobs])
    assert len(stored) >= 3
    st = Store(state)
    asked = pl.Series("rec_key", [*stored.tolist(), 1, 2, 3], dtype=pl.Int64)
    seen = st.consumed_among(st.latest(), "bank", asked)
    assert sorted(seen.to_list()) == sorted(stored.tolist())


def test_two_concurrent_runs_never_interleave(env):
    tmp, state, _cfg = env
    pos, bank = _day(tmp, 1)
    args = [sys.executable, "-m", "recon.cli", "run", "--pos", str(pos), "--bank", str(bank)]
    procs = [
        subprocess.Popen(
            [
                *args,
                "--state",
                str(state),
                "--quiet",
                "--lock-timeout",
                "60",
                "--out",
                str(tmp / f"c{i}"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(2)
    ]
    codes = [p.wait(timeout=120) for p in procs]
    assert codes == [1, 1], [p.stderr.read() for p in procs]
    runs = sorted(Store(state).history(), key=lambda r: r["run_id"])
    assert len(runs) == 2
    assert runs[1]["started_at"] >= runs[0]["finished_at"]
    assert runs[0]["superseded_by"] == runs[1]["run_id"]


def test_terminal_summary_of_a_scheduled_run_says_what_is_new(env):
    tmp, state, _cfg = env
    pos, bank = _day(tmp, 1)
    res = CliRunner().invoke(
        cli,
        [
            *("run", "--pos", str(pos), "--bank", str(bank), "--state", str(state)),
            *("--out", str(tmp / "o")),
        ],
    )
    assert "Day 2026-11-20: 3 new, 0 escalated, 0 still open" in res.output


def test_closed_days_and_a_catch_up_keep_the_history_in_order(env):
    """A nightly history with the shop closed: day 1 as usual; day 2 closed (no POS record,
    the bank settles day 1's P2); day 3 closed with both files empty; day 4 a normal day, run
    after them as a catch-up. Each run stands for its own day, none for today's date; the
    closed days carry what is open; feeding day 3's files again replaces day 3 and adds
    nothing; day 4 is still accepted."""
    tmp, state, cfg = env
    card = "622202******1234"
    s1 = _run(tmp, state, cfg, 1)[1]
    assert s1["state"]["day"] == "2026-11-20"
    pos2 = write_rows(tmp / "pos-closed-2.csv", [])
    bank2 = write_rows(
        tmp / "bank-closed-2.csv", [f"B2,2026-11-21T02:00:00,20.00,CNY,{card},R2,credit,T1,M1"]
    )
    s2 = _run_files(tmp, state, cfg, pos2, bank2, "o2")[1]
    assert s2["state"]["day"] == "2026-11-21"
    assert s2["state"]["closed"] == 1  # P2 settled on the closed day
    assert set(_open(state)) == {("orphan_pos", "P3"), ("orphan_bank", "B9")}
    pos3, bank3 = (
        write_rows(tmp / "pos-closed-3.csv", []),
        write_rows(tmp / "bank-closed-3.csv", []),
    )
    s3 = _run_files(tmp, state, cfg, pos3, bank3, "o3")[1]
    assert s3["state"]["day"] == "2026-11-22"  # the day after the last, not today
    again = _run_files(tmp, state, cfg, pos3, bank3, "o3b")[1]
    assert again["state"]["day"] == "2026-11-22"
    assert again["discrepancies"] == s3["discrepancies"]
    assert set(_open(state)) == {("orphan_pos", "P3"), ("orphan_bank", "B9")}
    pos4 = write_rows(tmp / "pos-4.csv", [f"P4,2026-11-23T09:00:00,40.00,CNY,{card},R4,sale,T1,M1"])
    bank4 = write_rows(
        tmp / "bank-4.csv",
        [
            f"B3,2026-11-23T02:00:00,30.00,CNY,{card},R3,credit,T1,M1",
            f"B4,2026-11-23T23:00:00,40.00,CNY,{card},R4,credit,T1,M1",
        ],
    )
    s4 = _run_files(tmp, state, cfg, pos4, bank4, "o4")[1]
    assert s4["state"]["day"] == "2026-11-23"
    assert set(_open(state)) == {("orphan_bank", "B9")}  # P3 settled three days late
    days = [r["day"] for r in Store(state).history() if r["superseded_by"] is None]
    assert sorted(days) == ["2026-11-20", "2026-11-21", "2026-11-22", "2026-11-23"]


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to list open files")
def test_commands_let_the_state_file_go(env):
    """`run`, `history`, `open-items` and `resolve` close the state file when done (a program
    that calls them in-process, or a day's runs one after the other, holds no handle to it),
    and a closed Store refuses further use."""
    tmp, state, cfg = env

    def held() -> bool:
        fds = Path("/proc/self/fd").iterdir()
        return any(os.path.realpath(fd) == os.path.realpath(state) for fd in fds)

    _run(tmp, state, cfg, 1)
    assert not held()
    for args in (["history"], ["open-items"]):
        res = CliRunner().invoke(cli, [*args, "--state", str(state), "--json"])
        assert res.exit_code == 0, res.output
        assert not held()
    ref = _open(state)[("orphan_bank", "B9")]["item_ref"]
    res = CliRunner().invoke(cli, ["resolve", ref, "--note", "refund", "--state", str(state)])
    assert res.exit_code == 0, res.output
    assert not held()
    with Store(state) as store:
        assert held()
    assert not held()
    with pytest.raises(sqlite3.ProgrammingError):
        store.latest()


def test_open_items_json_of_a_backlog_is_every_item_and_a_closed_pipe_is_no_error(tmp_path):
    """`open-items --json` writes every open item of a generated day's backlog (hundreds of KB:
    more than a pipe holds), each with its fields; a reader that stops after a few bytes
    (`| head`) ends the command quietly: no error, no traceback."""
    from recon.generate import generate_day, write_day

    paths = write_day(generate_day(4000, seed=3), tmp_path / "day", "csv")
    state, exe = tmp_path / "s.db", Path(sys.executable).parent / "recon"
    if not exe.exists():
        pytest.skip("the recon entry point is not installed (pip install -e '.[test]')")
    run = [str(exe), "run", "--pos", str(paths["pos"]), "--bank", str(paths["bank"])]
    done = subprocess.run([*run, "--state", str(state), "--out", str(tmp_path / "o"), "--quiet"])
    assert done.returncode == 1
    listed = subprocess.run(
        [str(exe), "open-items", "--state", str(state), "--json"], capture_output=True
    )
    items = json.loads(listed.stdout)
    assert len(listed.stdout) > 200_000 and listed.returncode == 0
    assert len(items) == Store(state).open_items(Store(state).latest()).height > 100
    assert {"item_ref", "type", "pos_ids", "bank_ids", "age_days"} <= set(items[0])
    proc = subprocess.Popen(
        [str(exe), "open-items", "--state", str(state), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(10) == listed.stdout[:10]
    proc.stdout.close()
    assert proc.wait(timeout=60) in (0, 1)
    assert proc.stderr.read() == b""


def test_record_keys_are_the_values_state_files_hold():
    """Stored record keys are compared with every later file's: their values must never change
    (with polars, or with how they are worked out). These are the keys of the bundled sample's
    first rows as state files have held them since version 4; a row repeated in one file is
    another record, numbered after its first ("#1", "#2" ...)."""
    pos = load_side(Path(__file__).parents[1] / "samples" / "pos.csv", "pos").frame
    keys = record_keys(pos, "pos")
    assert keys.len() == pos.height == keys.n_unique()
    assert keys.head(3).to_list() == [
        7669536719170507762,
        -5386714312226844263,
        7375400433349964603,
    ]
    again = record_keys(pl.concat([pos, pos.head(1), pos.head(1)]), "pos")
    assert again.head(pos.height).equals(keys)
    texts = pos.head(1).select(text=record_key("pos"))["text"][0]
    numbered = pl.select(pl.lit([f"{texts}#1", f"{texts}#2"]).explode().pipe(hashed))
    assert again.tail(2).to_list() == numbered.to_series().to_list()


def _key_texts(tmp: Path, n: int) -> dict[int, str]:
    """The text key of each record of day n (every row there is unique: "#0") by its hash."""
    texts = {}
    for side, path in zip(("pos", "bank"), _day(tmp, n), strict=True):
        keys = load_side(path, side).frame.select(text=formatted("{}#0", record_key(side)))
        keys = keys.with_columns(key=hashed(pl.col("text")))
        texts.update(zip(keys["key"], keys["text"], strict=True))
    return texts


def _as_version_3(new: Path, old: Path, texts: dict[int, str]) -> None:
    """Write the version-3 file that the recon before hashed keys wrote for the runs of `new`:
    the same rows, every record key as its text (item keys from the texts sorted as text)."""
    src, db = sqlite3.connect(new), sqlite3.connect(old)
    for sql in store_module._MIGRATIONS[:3]:
        db.executescript(sql)
    db.execute("INSERT INTO meta VALUES ('schema_version', '3')")
    db.executemany(
        f"INSERT INTO runs VALUES ({', '.join('?' * 13)})", src.execute("SELECT * FROM runs")
    )
    kept = Store(new).kept_records().drop("day", "superseded")
    for run_id, side, key, *rest in kept.rows():
        marks = ", ".join("?" * (3 + len(rest)))
        db.execute(f"INSERT INTO records VALUES ({marks})", (run_id, side, texts[key], *rest))
    for run_id, side, blob in src.execute("SELECT * FROM consumed").fetchall():
        keys = np.frombuffer(blob, "<i8").tolist()
        db.executemany(
            "INSERT INTO consumed VALUES (?, ?, ?)", [(run_id, side, texts[k]) for k in keys]
        )

    def text_key(kind: str, keys: str | None) -> tuple[str, str | None]:
        if keys is None:
            return f"{kind}\n", None
        joined = "\n".join(sorted(texts[int(k)] for k in keys.split("\n") if k))
        return f"{kind}\n{joined}", joined

    for run_id, *row in Store(new).kept_items().drop("day", "superseded").rows():
        item = dict(zip(ITEM_COLUMNS, row, strict=True))
        item["item_key"], item["rec_keys"] = text_key(item["type"], item["rec_keys"])
        db.execute(
            f"INSERT INTO items VALUES (?, {', '.join('?' * len(item))})", (run_id, *item.values())
        )
    for key, *rest in src.execute("SELECT * FROM resolutions").fetchall():
        kind, keys = key.split("\n", 1)
        db.execute(
            "INSERT INTO resolutions VALUES (?, ?, ?, ?, ?)", (text_key(kind, keys)[0], *rest)
        )
    db.commit()
    db.close()


def test_a_version_3_state_file_is_upgraded_in_place_and_keeps_its_items(env):
    """A store of text keys (version 3) is upgraded to hashed keys by the first command that
    opens it: its open items are the same items (the same refs as a store written with hashed
    keys from the start), the item resolved by hand stays resolved, and yesterday's files fed
    again add nothing: matched records are dropped, open ones carried, the resolved one's
    record dropped too."""
    tmp, state, cfg = env
    _run(tmp, state, cfg, 1)
    b9 = _open(state)[("orphan_bank", "B9")]["item_ref"]
    res = CliRunner().invoke(cli, ["resolve", b9, "--note", "refund", "--state", str(state)])
    assert res.exit_code == 0, res.output
    old = tmp / "v3.db"
    _as_version_3(state, old, _key_texts(tmp, 1))
    kinds = sqlite3.connect(old).execute("SELECT DISTINCT typeof(rec_key) FROM records")
    assert kinds.fetchall() == [("text",)]

    assert _open(old) == _open(state)
    version = sqlite3.connect(old).execute("SELECT value FROM meta WHERE key = 'schema_version'")
    assert int(version.fetchone()[0]) == SCHEMA_VERSION == 7
    assert set(_open(old)) == {("orphan_pos", "P2"), ("orphan_pos", "P3")}
    # Every run's items, texts included, as the store written with hashed keys has them.
    assert Store(old).kept_items().equals(Store(state).kept_items())

    runs = {}
    for path in (state, old):
        code, summary = _run(tmp, path, cfg, 1, "--day", "2026-11-21")
        st = summary["state"]
        assert (st["new"], st["carried"], st["closed"], code) == (0, 2, 0, 0)
        assert st["carried_in"] == {"pos": 2, "bank": 0}
        assert summary["matched"]["pairs"] == 0
        runs[path] = {k: v for k, v in st.items() if k not in ("store", "run_id")}
    assert runs[old] == runs[state]
    assert _open(old) == _open(state)


def test_an_items_texts_are_stored_once_and_replaced_when_they_change(env):
    """A carried item adds a narrow row per run, not its texts again; when its texts change (a
    new record reuses its sale's id, which then gets its first day) that run writes the new
    ones, and each run's items are shown with the texts they had then."""
    tmp, state, cfg = env
    _run(tmp, state, cfg, 1)
    card = "622202******1234"
    pos = write_rows(
        tmp / "pos-reuse.csv", [f"P3,2026-11-21T09:00:00,70.00,CNY,{card},R7,sale,T1,M1"]
    )
    bank = write_rows(tmp / "bank-none.csv", [])
    _run_files(tmp, state, cfg, pos, bank, "o2")
    items = _open(state)
    assert items[("orphan_pos", "P3@2026-11-20")]["status"] == "carried"
    assert ("orphan_pos", "P3") in items  # today's sale of the same id
    store = Store(state)
    kept = store.kept_items()
    # P2, P3, B9; then P2, P3 carried, B9, today's P3
    assert kept.group_by("run_id").len().sort("run_id")["len"].to_list() == [3, 4]
    runs = kept["run_id"].unique().sort()
    written = [store_module._items_texts(store.db, r)["pos_ids"].sort().to_list() for r in runs]
    # Run 2 wrote the texts of today's P3 and of the carried P3, whose id got its first day,
    # not those of P2 and B9, carried unchanged.
    assert written == [["", "P2", "P3"], ["P3", "P3@2026-11-20"]]  # ("": B9's)
    shown = kept.filter(pl.col("type") == "orphan_pos").select("run_id", "pos_ids").rows()
    assert sorted(shown) == [(1, "P2"), (1, "P3"), (2, "P2"), (2, "P3"), (2, "P3@2026-11-20")]
    # Looking for "P3" finds run 1's item and today's, not the carried one: its id had changed.
    p3 = store.kept_items(pl.col("pos_ids") == "P3").select("run_id", "status", "first_day")
    assert sorted(p3.rows()) == [(1, "new", "2026-11-20"), (2, "new", "2026-11-21")]
