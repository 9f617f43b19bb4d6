"""The state store: run history, open records and open items in one SQLite file.

A scheduled run reads the state left by the last run of an earlier day, reconciles today's files
plus what is still open, and writes its own state in one transaction, so a run that crashes or
is killed leaves the store as it was. Every run's state is kept (history); a re-run of a day
supersedes that day's earlier run instead of adding to it.

A record is stored by a 64-bit hash of its key text (`hashed`); the keys a run consumed (millions
a day at acquirer volume) are one packed array per run and side, written and read in one go.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import io
import itertools
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
import polars_hash  # noqa: F401  (registers Expr.nchash: stable hashes)

from recon.errors import ReconError, UsageError
from recon.schema import CANONICAL

if TYPE_CHECKING:
    from recon.result import SideInfo

SCHEMA_VERSION = 7
EXIT_BUSY = 3
# How far back a run looks for records it has already seen (overlapping rolling exports).
IDEMPOTENCY_DAYS = 31

# Columns of a stored open record: its key, the day it was first seen, and the canonical row
# (the records table's columns are in this order).
RECORD_COLUMNS = ("side", "rec_key", "first_day", *CANONICAL)
# An item's columns (Store.kept_items has them in this order, after the run's).
ITEM_COLUMNS = (
    "item_key",
    "item_id",
    "type",
    "severity",
    "status",
    "first_day",
    "age_days",
    "pos_ids",
    "bank_ids",
    "pos_amount",
    "bank_amount",
    "difference",
    "currency",
    "reference",
    "terminal",
    "merchant",
    "detail",
    "suggested_action",
    "rec_keys",
)
# Those that change from run to run (item_runs) and the item's texts (item_texts).
ITEM_RUN_COLUMNS = ("item_key", "item_id", "severity", "status", "first_day", "age_days")
ITEM_TEXT_COLUMNS = ("item_key", *(c for c in ITEM_COLUMNS if c not in ITEM_RUN_COLUMNS))
# What a run keeps of each of its items (item_runs) and the next run reads back
# (Store.open_items(texts=False)): which to carry (type, bank_ids), their ages and severities,
# whether their texts changed (texts_hash) and which run's item_texts holds them (texts_run).
ITEM_STATE_COLUMNS = (*ITEM_RUN_COLUMNS, "type", "bank_ids", "texts_hash", "texts_run")

# Migrations: index i upgrades a store at version i to version i + 1 (SQL, or a function that
# rewrites rows too, run in the same transaction).
_MIGRATIONS: list[str | Callable[[sqlite3.Connection], None]] = [
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE runs (
        run_id INTEGER PRIMARY KEY,
        day TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT NOT NULL,
        user TEXT NOT NULL,
        pos_path TEXT, pos_sha256 TEXT,
        bank_path TEXT, bank_sha256 TEXT,
        config_hash TEXT NOT NULL,
        counts TEXT NOT NULL,
        exit_code INTEGER NOT NULL,
        superseded_by INTEGER REFERENCES runs(run_id)
    );
    CREATE TABLE records (
        run_id INTEGER NOT NULL REFERENCES runs(run_id),
        side TEXT NOT NULL, rec_key TEXT NOT NULL, first_day TEXT NOT NULL,
        id TEXT, time TEXT, has_clock INTEGER, amount INTEGER, currency TEXT, account TEXT,
        reference TEXT, kind TEXT, terminal TEXT, merchant TEXT, fee INTEGER, source TEXT,
        line INTEGER,
        PRIMARY KEY (run_id, side, rec_key)
    );
    CREATE TABLE consumed (
        run_id INTEGER NOT NULL REFERENCES runs(run_id),
        side TEXT NOT NULL, rec_key TEXT NOT NULL,
        PRIMARY KEY (run_id, side, rec_key)
    );
    CREATE INDEX consumed_key ON consumed (side, rec_key);
    CREATE TABLE items (
        run_id INTEGER NOT NULL REFERENCES runs(run_id),
        item_key TEXT NOT NULL, item_id TEXT, type TEXT NOT NULL, severity TEXT NOT NULL,
        status TEXT NOT NULL, first_day TEXT NOT NULL, age_days INTEGER NOT NULL,
        pos_ids TEXT, bank_ids TEXT, pos_amount TEXT, bank_amount TEXT, difference TEXT,
        currency TEXT, reference TEXT, terminal TEXT, merchant TEXT, detail TEXT,
        suggested_action TEXT, rec_keys TEXT,
        PRIMARY KEY (run_id, item_key)
    );
    CREATE TABLE resolutions (
        item_key TEXT PRIMARY KEY,
        resolved_at TEXT NOT NULL, resolved_by TEXT NOT NULL, note TEXT NOT NULL,
        after_run INTEGER REFERENCES runs(run_id)
    );
    """,
    # v2: batch and trace numbers of each record (evidence; the batch-settlement key).
    """
    ALTER TABLE records ADD COLUMN batch TEXT;
    ALTER TABLE records ADD COLUMN trace TEXT
    """,
    # v3: every reference of a statement line (joined by REF_SEP) and its free text.
    """
    ALTER TABLE records ADD COLUMN "references" TEXT;
    ALTER TABLE records ADD COLUMN memo TEXT
    """,
    # v4: hashed record keys (see _to_v4).
    lambda db: _to_v4(db),
    # v5: a run's open records of a side kept as one Parquet file (see _to_v5).
    lambda db: _to_v5(db),
    # v6: a run's items and their new texts kept as Parquet files (see _to_v6).
    lambda db: _to_v6(db),
    # v7: a run's items and open records kept as their change since its base run (CHAIN_RUNS).
    """
    ALTER TABLE item_runs ADD COLUMN base INTEGER REFERENCES runs(run_id);
    ALTER TABLE item_runs ADD COLUMN labels BLOB;
    ALTER TABLE records ADD COLUMN base INTEGER REFERENCES runs(run_id)
    """,
]
# v4's keyed tables. A record's key is the hash of its text. Records and items are read by their
# key's prefix (the run) and written in key order, so they live in their key's B-tree (WITHOUT
# ROWID: no second index on the key; a day's items are written in half the time). A run's
# consumed keys of one side are one BLOB of little-endian int64s: a million rows a side cost
# seconds to insert and to read back one by one, one BLOB a fraction of a second (and 8 bytes
# a key, not 20, with no index); nothing looks a single key up in SQL.
# An item's texts (ids, amounts, advice: ~500 bytes) are kept once, in item_texts, and each run
# keeps only a narrow row per open item (item_runs): most open items are carried unchanged from
# day to day, and each run rewrote all their texts (113 MB on the second synthetic day).
# A text that changes (a duplicate sale's payment comes, an id gets its first day) replaces the
# old one: history shows an item's latest texts. A run reads the open items' narrow rows and the
# hash of their texts (texts_hash), not the texts: that tells which texts changed, and reads
# the open items in less than half the time. The view `items` joined the two tables as the one
# table did, for readers (until version 6: see _V6_ITEMS).
_V4_TABLES = """
    CREATE TABLE records (
        run_id INTEGER NOT NULL REFERENCES runs(run_id),
        side TEXT NOT NULL, rec_key INTEGER NOT NULL, first_day TEXT NOT NULL,
        id TEXT, time TEXT, has_clock INTEGER, amount INTEGER, currency TEXT, account TEXT,
        reference TEXT, kind TEXT, terminal TEXT, merchant TEXT, fee INTEGER, source TEXT,
        line INTEGER, batch TEXT, trace TEXT, "references" TEXT, memo TEXT,
        PRIMARY KEY (run_id, side, rec_key)
    ) WITHOUT ROWID;
    CREATE TABLE consumed (
        run_id INTEGER NOT NULL REFERENCES runs(run_id),
        side TEXT NOT NULL, rec_keys BLOB NOT NULL,
        PRIMARY KEY (run_id, side)
    );
    CREATE TABLE item_texts (
        item_key TEXT PRIMARY KEY, type TEXT NOT NULL,
        pos_ids TEXT, bank_ids TEXT, pos_amount TEXT, bank_amount TEXT, difference TEXT,
        currency TEXT, reference TEXT, terminal TEXT, merchant TEXT, detail TEXT,
        suggested_action TEXT, rec_keys TEXT, texts_hash INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE item_runs (
        run_id INTEGER NOT NULL REFERENCES runs(run_id),
        item_key TEXT NOT NULL, item_id TEXT, severity TEXT NOT NULL,
        status TEXT NOT NULL, first_day TEXT NOT NULL, age_days INTEGER NOT NULL,
        PRIMARY KEY (run_id, item_key)
    ) WITHOUT ROWID;
    CREATE VIEW items AS
        SELECT r.run_id, r.item_key, r.item_id, t.type, r.severity, r.status, r.first_day,
            r.age_days, t.pos_ids, t.bank_ids, t.pos_amount, t.bank_amount, t.difference,
            t.currency, t.reference, t.terminal, t.merchant, t.detail, t.suggested_action,
            t.rec_keys
        FROM item_runs r JOIN item_texts t ON t.item_key = r.item_key
"""
# v5: a run keeps the records still open after it (every one the shop has not settled: the
# day's sales waiting for the night's batch, late settlements, orphans) and the next run reads
# them all back, never one by one. Bound row by row they took seconds to write at a million
# sales a day (and all of them again every night while they stay open); one Parquet file per
# run and side is written and read in a few hundredths of a second and takes a fifth of the
# pages. Its rows are in the order the next run matches them (first day, file, line).
_V5_RECORDS = """
    CREATE TABLE records (
        run_id INTEGER NOT NULL REFERENCES runs(run_id),
        side TEXT NOT NULL, rows BLOB NOT NULL,
        PRIMARY KEY (run_id, side)
    )
"""
# v6: a run's items are one Parquet file too (item_runs: ITEM_STATE_COLUMNS), and so are the
# texts that run wrote (item_texts: those of its new items and the ones that changed). Bound row
# by row they took 1-1.6 s a night at a million sales a day and were read back in 0.4 s; as
# files, hundredths of a second, and a fraction of the pages. Each item row names the run whose
# texts file holds its texts (texts_run), so a run's items are shown with the texts they had
# then (Store.kept_items).
_V6_ITEMS = """
    CREATE TABLE item_runs (
        run_id INTEGER PRIMARY KEY REFERENCES runs(run_id), rows BLOB NOT NULL
    );
    CREATE TABLE item_texts (
        run_id INTEGER PRIMARY KEY REFERENCES runs(run_id), rows BLOB NOT NULL
    )
"""
# v7: a run's items and each side's open records are kept as what changed since
# the run it built on (`base`): the rows new or changed, and the keys of those gone (GONE).
# Kept whole, every run wrote every item and record still open again: a backlog nobody resolves
# grew a night's growth by ~4.3 MB for every day of it at 1M rows a day (90,000 items and
# 40,000 records a day), and the file passed 100 MB a night after about 16 days. An item
# carried unchanged is not written again (its age grows by the days between the two runs): a
# run keeps only its items' labels whole (LABELS, in `labels`: an id and a status each). A
# whole copy is kept every CHAIN_RUNS runs of a chain (a run is rebuilt from at most that many
# files) and wherever the change is most of the rows (CHANGE_SHARE). base NULL: the file holds
# the rows whole.
CHAIN_RUNS = 7
# What a run says of each of its items that changes from run to run (its id in the run's
# outputs; new, carried, open ...): an item's change keeps the rest, a run's labels file these
# two of all its items, in their stored order (a few bytes an item, most ids null).
LABELS = ("item_id", "status")
CHANGE_SHARE = 0.75  # a change of more of the rows than this is kept as the rows whole
GONE = "_gone"
# The stored order of a run's rows (whole or rebuilt): items by key, records as they came.
ITEM_ORDER = ("item_key",)
RECORD_ORDER = ("first_day", "source", "line", "rec_key")
# How a record's list of references is kept in one TEXT cell.
REF_SEP = "\x1f"
# Rows bound to one INSERT statement (many VALUES): SQLite's and the sqlite3 module's work per
# statement (bind, step, reset) is paid once for them (a day's inserts take a tenth less time).
_ROWS_PER_INSERT = 50
# Consumed keys of earlier runs probed at a time (Store.consumed_among): 64 MB.
_PROBE_KEYS = 8_000_000


# A run writes and reads ~100 MB of pages at 1M rows a day. A page cache that holds them spares
# spilling pages mid-transaction, and reading through a memory map spares copying them (a day's
# write and read take ~15% less time). 16 KiB pages (only for a new file: an existing one keeps
# its size) halve the B-tree pages and their splits (another ~15%). Rollback journal, full sync:
# a killed run or a lost power leaves the last committed run (WAL with its side files measured
# no faster: a run's transaction is larger than the WAL's checkpoint).
_PRAGMAS = ("page_size = 16384", "cache_size = -262144", "mmap_size = 1073741824")


class StoreError(ReconError):
    """A state file that cannot be used (corrupt, newer schema, unwritable)."""


class StoreBusy(ReconError):
    """Another run holds the state lock."""

    exit_code = EXIT_BUSY


def default_path() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "recon" / "state.db"


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Base:
    """What a run starts from: the latest run of an earlier day (None for the first run)."""

    run_id: int | None
    day: str | None


class Store:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        # The last run rebuilt of each chain (table, side): a run reads its base run's items
        # and records, then writes its own as their change from them.
        self._rebuilt: dict[tuple[str, str | None], tuple[int, pl.DataFrame]] = {}
        self._create_private()
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            self.db.execute("PRAGMA foreign_keys = ON")
            for pragma in _PRAGMAS:
                self.db.execute(f"PRAGMA {pragma}")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a usable recon state file ({exc})") from None

    def close(self) -> None:
        """Let the file go (its lock, when held, is the lock's own: see lock)."""
        self.db.close()
        self._rebuilt.clear()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _create_private(self) -> None:
        """Create the file (and its folder) readable by its owner only: it holds card tails,
        amounts and references."""
        if self.path.exists():
            if self.path.is_dir():
                raise StoreError(f"{self.path}: is a directory, expected a state file")
            return
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)

    def _version(self) -> int:
        has_meta = self.db.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'"
        ).fetchone()
        if not has_meta:
            tables = self.db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if tables:
                raise StoreError(f"{self.path}: an SQLite file, but not a recon state file")
            return 0
        row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        return int(row[0]) if row else 0

    def _migrate(self) -> None:
        # The version is read inside the write transaction, so two processes opening a new
        # file at once migrate it once.
        with self.transaction():
            version = self._version()
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path}: state schema version {version} is newer than this recon "
                    f"understands ({SCHEMA_VERSION}); upgrade recon or use another --state file"
                )
            for target in range(version, SCHEMA_VERSION):
                step = _MIGRATIONS[target]
                if callable(step):
                    step(self.db)
                else:
                    _script(self.db, step)
                self.db.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(target + 1),)
                )
        if 0 < version < 6:
            # Text keys (before 4), records (before 5) and items (before 6) as rows took most
            # of the file: give their pages back (outside the transaction, as VACUUM must run).
            self.db.execute("VACUUM")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    @contextlib.contextmanager
    def lock(self, timeout: float = 0.0) -> Iterator[None]:
        """One run at a time per state file; wait up to `timeout` seconds for the other."""
        fd = os.open(self.lock_path, os.O_CREAT | os.O_RDWR, 0o600)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise StoreBusy(
                            f"{self.path}: another recon run is using this state file; "
                            "try again when it has finished (or pass --lock-timeout SECONDS)"
                        ) from None
                    time.sleep(0.2)
            yield
        finally:
            os.close(fd)

    # --- reading ------------------------------------------------------------------------

    def base_for(self, day: str) -> Base:
        later = self.db.execute(
            "SELECT max(day) FROM runs WHERE superseded_by IS NULL AND day > ?", (day,)
        ).fetchone()[0]
        if later:
            raise UsageError(
                f"the state already holds a run for {later}, after {day}: re-running an "
                "earlier day would rewrite later history (use another --state file)"
            )
        row = self.db.execute(
            "SELECT run_id, day FROM runs WHERE superseded_by IS NULL AND day < ? "
            "ORDER BY day DESC, run_id DESC LIMIT 1",
            (day,),
        ).fetchone()
        return Base(*row) if row else Base(None, None)

    def open_records(self, base: Base, side: str) -> pl.DataFrame:
        """Records still open after the base run, in the order they came in (as stored, see
        _V5_RECORDS: matching, and the order of its outputs, follow the input's)."""
        rows = self._whole("records", base.run_id, side)
        return _side_records(rows, side) if rows is not None else _no_records()

    def kept_records(self) -> pl.DataFrame:
        """Every run's open records (run_id, its day, whether a re-run superseded it, and
        RECORD_COLUMNS), for looking into a state file."""
        rows = self.db.execute(
            "SELECT c.run_id, r.day, r.superseded_by IS NOT NULL, c.side FROM records c "
            "JOIN runs r ON r.run_id = c.run_id ORDER BY c.run_id, c.side"
        ).fetchall()
        memo: dict[tuple[str, str | None, int], pl.DataFrame] = {}
        parts = [
            _of_run(_side_records(self._whole("records", run[0], side, memo), side), *run)
            for *run, side in rows
        ]
        return pl.concat([pl.DataFrame(schema={**_RUN, **_record_schema()}), *parts])

    def consumed_among(self, base: Base, side: str, keys: pl.Series) -> pl.Series:
        """Those of one side's record `keys` that a live run of the last IDEMPOTENCY_DAYS days
        up to the base run already matched or reported (older exports are not expected to come
        back)."""
        blobs = self.db.execute(
            "SELECT c.rec_keys FROM consumed c JOIN runs r ON r.run_id = c.run_id "
            "WHERE c.side = ? AND r.superseded_by IS NULL AND r.day <= ? AND r.day >= date(?, ?)",
            (side, base.day or "", base.day or "", f"-{IDEMPOTENCY_DAYS} days"),
        )
        # The hash set is built on today's keys and the history only probes it, a few runs at
        # a time: a month of a ten-million-row shop's keys (2.5 GB a side) is never held.
        wanted = keys.implode()
        found = [pl.Series("rec_key", [], pl.Int64)]
        parts: list[pl.Series] = []

        def probe() -> None:
            seen = pl.concat(parts, rechunk=False)
            found.append(seen.filter(seen.is_in(wanted)))
            parts.clear()

        for (blob,) in blobs:
            parts.append(pl.Series("rec_key", _unpack(blob)))
            if sum(p.len() for p in parts) >= _PROBE_KEYS:
                probe()
        if parts:
            probe()
        return pl.concat(found)

    def open_items(self, base: Base, texts: bool = True) -> pl.DataFrame:
        """The base run's open items (ITEM_COLUMNS), oldest first; without their texts
        (ITEM_STATE_COLUMNS, in key order) for a run that carries them on."""
        frame = self._run_items(base.run_id).filter(pl.col("status") != "closed")
        frame = frame.join(self._resolutions(), on="item_key", how="anti", maintain_order="left")
        if not texts:
            return frame
        # Oldest first, by type and ids (the file's order is its keys').
        frame = self._with_texts(frame).select(ITEM_COLUMNS)
        return frame.sort("first_day", "type", "pos_ids", "bank_ids", "item_key")

    def kept_items(self, where: pl.Expr | None = None) -> pl.DataFrame:
        """Every run's items with the texts they had then (run_id, its day, whether a re-run
        superseded it, and ITEM_COLUMNS), for looking into a state file; only those whose
        texts meet `where` (an expression on ITEM_TEXT_COLUMNS) when given."""
        runs = self.db.execute(
            "SELECT i.run_id, r.day, r.superseded_by IS NOT NULL FROM item_runs i "
            "JOIN runs r ON r.run_id = i.run_id ORDER BY i.run_id"
        ).fetchall()
        memo: dict[tuple[str, str | None, int], pl.DataFrame] = {}

        def every_run(keep: pl.Expr | None = None) -> pl.DataFrame:
            parts = []
            for run in runs:
                rows = self._run_items(run[0], memo)
                parts.append(_of_run(rows if keep is None else rows.filter(keep), *run))
            return pl.concat([pl.DataFrame(schema={**_RUN, **_item_state_schema()}), *parts])

        if where is None:
            return self._with_texts(every_run()).select(*_RUN, *ITEM_COLUMNS)
        # The texts that meet `where` first (every run's texts file, once): then only their
        # items are kept of each run's rows, not a month of a million items a run.
        written = self.db.execute("SELECT run_id FROM item_texts ORDER BY run_id").fetchall()
        found = self._texts([run_id for (run_id,) in written], where)
        frame = every_run(pl.col("item_key").is_in(found["item_key"].unique().implode()))
        frame = frame.join(found, on=["item_key", "texts_run"], how="inner", maintain_order="left")
        return frame.select(*_RUN, *ITEM_COLUMNS)

    def _run_items(self, run_id: int | None, memo: dict | None = None) -> pl.DataFrame:
        rows = self._whole("item_runs", run_id, None, memo)
        return rows if rows is not None else pl.DataFrame(schema=_item_state_schema())

    def _stored(self, table: str, run_id: int, side: str | None) -> tuple | None:
        """A run's file in `table` (one side's, for records), the run it changes (or None:
        whole) and, for items, its labels file (LABELS)."""
        if side is None:
            sql, args = f"SELECT rows, base, labels FROM {table} WHERE run_id = ?", (run_id,)
        else:
            sql = f"SELECT rows, base, NULL FROM {table} WHERE run_id = ? AND side = ?"
            args = (run_id, side)
        return self.db.execute(sql, args).fetchone()

    def _whole(
        self, table: str, run_id: int | None, side: str | None, memo: dict | None = None
    ) -> pl.DataFrame | None:
        """A run's rows in `table` as it kept them (in their stored order), rebuilt from the
        whole file its chain starts from, or a run rebuilt already, and the changes after it
        (see CHAIN_RUNS); None when the run kept none. `memo`: runs rebuilt already, for
        reading many in run order (each then takes one change)."""
        if run_id is None:
            return None

        def rebuilt(run: int) -> pl.DataFrame | None:
            if memo is not None and (table, side, run) in memo:
                return memo[(table, side, run)]
            last = self._rebuilt.get((table, side))
            return last[1] if last is not None and last[0] == run else None

        chain: list[tuple] = []  # (run, rows, labels): the run's file, its base's ... down
        at: int | None = run_id
        start = rebuilt(run_id)
        while start is None and at is not None:
            found = self._stored(table, at, side)
            if found is None:
                if not chain:
                    return None
                raise StoreError(f"{self.path}: run {chain[-1][0]}'s {table} names a missing run")
            chain.append((at, found[0], found[2]))
            at = found[1]
            start = rebuilt(at) if at is not None else None
        if start is None:  # the chain starts from a whole file
            start, at, chain = _frame(chain[-1][1]), chain[-1][0], chain[:-1]
        rows = start
        if chain:
            days = self._days([run_id, at, *(run for run, _, _ in chain)])
            steps = [
                (_frame(blob), _days_between(days[run], days[run_id]))
                for run, blob, _ in reversed(chain)
            ]
            rows = _rebuild(start, steps, table, _days_between(days[at], days[run_id]))
            labels = chain[0][2]  # (the run's own: an item's id and status, kept whole)
            if labels is not None:
                rows = rows.hstack(_frame(labels)).select(ITEM_STATE_COLUMNS)
        self._rebuilt[(table, side)] = (run_id, rows)
        if memo is not None:
            memo[(table, side, run_id)] = rows
        return rows

    def _days(self, run_ids: list[int]) -> dict[int, str]:
        marks = ", ".join("?" * len(run_ids))
        found = self.db.execute(f"SELECT run_id, day FROM runs WHERE run_id IN ({marks})", run_ids)
        return dict(found.fetchall())

    def _depth(self, table: str, run_id: int, side: str | None) -> int:
        """How many files rebuild a run's rows (1: it keeps them whole)."""
        depth, at = 0, run_id
        while at is not None:
            found = self._stored(table, at, side)
            if found is None:
                return CHAIN_RUNS  # (none kept: the next run keeps its rows whole)
            depth, at = depth + 1, found[1]
        return depth

    def _write_chained(
        self,
        table: str,
        run_id: int,
        day: str,
        side: str | None,
        rows: pl.DataFrame,
        base: Base,
    ) -> None:
        """Keep a run's rows (in their stored order) as their change from the base run's, or
        whole where that chain is long enough or the change is most of the rows."""
        kept = None
        if base.run_id is not None and self._depth(table, base.run_id, side) < CHAIN_RUNS:
            before = self._whole(table, base.run_id, side)
            if before is not None and before.height:
                shift = _days_between(base.day, day) if table == "item_runs" else 0
                change = _change(before, rows, table, shift)
                if change is not None and change.height < CHANGE_SHARE * rows.height:
                    labels = _parquet(rows.select(LABELS)) if table == "item_runs" else None
                    kept = (_parquet(change), base.run_id, labels)
        blob, on, labels = kept if kept is not None else (_parquet(rows), None, None)
        if side is None:
            self.db.execute(
                f"INSERT INTO {table} (run_id, rows, base, labels) VALUES (?, ?, ?, ?)",
                (run_id, blob, on, labels),
            )
        else:
            self.db.execute(
                f"INSERT INTO {table} (run_id, side, rows, base) VALUES (?, ?, ?, ?)",
                (run_id, side, blob, on),
            )

    def _with_texts(self, items: pl.DataFrame) -> pl.DataFrame:
        """`items` (ITEM_STATE_COLUMNS) with their texts, from the texts file of each one's
        texts_run (read once each)."""
        runs = items["texts_run"].unique().drop_nulls().sort().to_list()
        found = self._texts(runs)
        return items.join(found, on=["item_key", "texts_run"], how="left", maintain_order="left")

    def _texts(self, runs: list[int], where: pl.Expr | None = None) -> pl.DataFrame:
        """The texts the runs `runs` wrote (ITEM_TEXT_COLUMNS but type and bank_ids, and the
        run as texts_run); only those that meet `where` when given (each file is filtered as it
        is read: a month's texts are never held at once)."""
        texts = [pl.DataFrame(schema={**_text_schema(), "texts_run": pl.Int64()})]
        for run_id in runs:
            found = _items_texts(self.db, run_id)
            found = found if where is None else found.filter(where)
            texts.append(found.with_columns(texts_run=pl.lit(run_id, pl.Int64)))
        return pl.concat(texts).drop("type", "bank_ids", "texts_hash")

    def _resolutions(self) -> pl.DataFrame:
        rows = self.db.execute("SELECT item_key FROM resolutions").fetchall()
        return pl.DataFrame(rows, schema={"item_key": pl.String()}, orient="row")

    def resolved_record_keys(self, base: Base) -> set[int]:
        """Record keys of the base run's items that were resolved by hand."""
        resolutions = self._resolutions()
        if resolutions.height == 0:  # (most runs: no need to read the base run's items)
            return set()
        items = self._run_items(base.run_id).join(resolutions, on="item_key")
        keys = self._with_texts(items)["rec_keys"].fill_null("")
        return {int(k) for v in keys for k in v.split("\n") if k}

    def latest(self) -> Base:
        row = self.db.execute(
            "SELECT run_id, day FROM runs WHERE superseded_by IS NULL "
            "ORDER BY day DESC, run_id DESC LIMIT 1"
        ).fetchone()
        return Base(*row) if row else Base(None, None)

    def day_of_inputs(self, pos: SideInfo, bank: SideInfo) -> str | None:
        """The day of the latest live run fed these two files (the same paths and SHA-256), or
        None. (Two closed days' empty files are alike but named apart.)"""
        row = self.db.execute(
            "SELECT day FROM runs WHERE superseded_by IS NULL AND pos_path = ? AND pos_sha256 = ? "
            "AND bank_path = ? AND bank_sha256 = ? ORDER BY day DESC, run_id DESC LIMIT 1",
            (pos.path, pos.sha256, bank.path, bank.sha256),
        ).fetchone()
        return row[0] if row else None

    def lag_bound(self, base: Base) -> float | None:
        """The bank's lag bound (minutes) the base run used, shown by its day or carried from
        the days before; None when the base run recorded none (recon.config.MatchSettings)."""
        row = self.db.execute("SELECT counts FROM runs WHERE run_id = ?", (base.run_id,)).fetchone()
        return _lag_of(row[0]) if row else None

    def lag_bounds(self, base: Base, since: str) -> pl.DataFrame:
        """(day, minutes): the lag bound of each live run from `since` up to the base run (as
        lag_bound), for the records carried from those days."""
        rows = self.db.execute(
            "SELECT day, counts FROM runs WHERE superseded_by IS NULL AND day >= ? AND day <= ?",
            (since, base.day or ""),
        ).fetchall()
        schema = {"day": pl.String(), "minutes": pl.Float64()}
        return pl.DataFrame([(day, _lag_of(counts)) for day, counts in rows], schema, orient="row")

    def history(self, limit: int = 50) -> list[dict[str, Any]]:
        cur = self.db.execute(
            "SELECT run_id, day, started_at, finished_at, user, pos_path, pos_sha256, "
            "bank_path, bank_sha256, config_hash, counts, exit_code, superseded_by "
            "FROM runs ORDER BY run_id DESC LIMIT ?",
            (limit,),
        )
        names = [d[0] for d in cur.description]
        out = []
        for row in cur.fetchall():
            rec = dict(zip(names, row, strict=True))
            rec["counts"] = json.loads(rec["counts"])
            out.append(rec)
        return out

    # --- writing ------------------------------------------------------------------------

    def resolve(self, item: str, note: str) -> dict[str, Any]:
        """Close an open item by hand (by item_key or by the item_id of the latest run)."""
        latest = self.latest()
        named = (pl.col("item_key") == item) | (pl.col("item_id") == item)
        found = self._run_items(latest.run_id).filter((pl.col("status") != "closed") & named)
        row = found.select("item_key", "item_id", "type").row(0) if found.height else None
        if row is None:
            raise UsageError(f"no open item '{item}' in the latest run ({latest.day})")
        done = self.db.execute(
            "SELECT resolved_at, resolved_by FROM resolutions WHERE item_key = ?", (row[0],)
        ).fetchone()
        if done:
            raise UsageError(f"item '{item}' was already resolved by {done[1]} at {done[0]}")
        record = {
            "item_key": row[0],
            "item_id": row[1],
            "type": row[2],
            "resolved_at": now(),
            "resolved_by": getpass.getuser(),
            "note": note,
            "after_run": latest.run_id,
        }
        with self.transaction():
            self.db.execute(
                "INSERT INTO resolutions VALUES (?, ?, ?, ?, ?)",
                (row[0], record["resolved_at"], record["resolved_by"], note, latest.run_id),
            )
        return record

    def resolved_keys(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT item_key FROM resolutions")}

    def write_run(
        self,
        run: dict[str, Any],
        records: pl.DataFrame,
        consumed: pl.DataFrame,
        items: pl.DataFrame,
        texts: pl.DataFrame,
        before_commit: Callable[[], Any] | None = None,
        base: Base = Base(None, None),
    ) -> int:
        """Record a run and its state in one transaction; supersede an earlier run of its day.
        `base`: the run it built on (its items and records are kept as their change from it).

        `items`: ITEM_STATE_COLUMNS, texts_run null where `texts` holds the item's texts (its
        new or changed ones since the base run, with texts_hash); the others' stored texts are
        kept. `before_commit` is called once the rows
        are in, before they are committed (the run's outputs being written meanwhile)."""
        with self.transaction() as db:
            cur = db.execute(
                "INSERT INTO runs (day, started_at, finished_at, user, pos_path, pos_sha256, "
                "bank_path, bank_sha256, config_hash, counts, exit_code) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run["day"],
                    run["started_at"],
                    now(),
                    getpass.getuser(),
                    run["pos_path"],
                    run["pos_sha256"],
                    run["bank_path"],
                    run["bank_sha256"],
                    run["config_hash"],
                    json.dumps(run["counts"], sort_keys=True),
                    run["exit_code"],
                ),
            )
            run_id = cur.lastrowid
            db.execute(
                "UPDATE runs SET superseded_by = ? WHERE day = ? AND run_id != ? "
                "AND superseded_by IS NULL",
                (run_id, run["day"], run_id),
            )
            # Keys older than the idempotency horizon are never read again: drop them so the
            # file stops growing.
            db.execute(
                "DELETE FROM consumed WHERE run_id IN "
                "(SELECT run_id FROM runs WHERE day < date(?, ?))",
                (run["day"], f"-{IDEMPOTENCY_DAYS} days"),
            )
            day = run["day"]
            for side, rows in _record_files(records).items():
                self._write_chained("records", run_id, day, side, rows, base)
            _insert_consumed(db, run_id, consumed)
            self._write_chained("item_runs", run_id, day, None, _item_file(items, run_id), base)
            _insert_texts(db, run_id, texts)
            if before_commit is not None:
                # (a failure here rolls the run back: nothing is recorded)
                before_commit()
            if os.environ.get("RECON_FAULT") == "before-commit":
                # Test hook: die inside the transaction, as a killed run would.
                os._exit(137)
        return run_id


def hashed(text: pl.Expr) -> pl.Expr:
    """The stored form of a record key text: its XXH64 (a published algorithm, so the same key
    on every machine and polars version, unlike Expr.hash), as SQLite's signed 64-bit integer."""
    return text.nchash.xxhash64().reinterpret(signed=True)


def texts_hash() -> pl.Expr:
    """The stored hash of an item's texts (ITEM_TEXT_COLUMNS but its key): equal texts, equal
    hash. (A null and an empty text differ.)"""
    parts = [pl.col(c).cast(pl.String).fill_null("\x00") for c in ITEM_TEXT_COLUMNS[1:]]
    return hashed(pl.concat_str(parts, separator="\x1f")).alias("texts_hash")


def _record_files(records: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """A run's open records as each side's file keeps them (see _V5_RECORDS), sides with any."""
    frame = records.select(RECORD_COLUMNS).cast(_record_schema())
    parts = frame.partition_by("side", as_dict=True)
    return {side: part.drop("side").sort(*RECORD_ORDER) for (side,), part in parts.items()}


def _insert_records(db: sqlite3.Connection, run_id: int, records: pl.DataFrame) -> None:
    """A run's open records whole: one Parquet file a side (the migrations write these)."""
    for side, rows in _record_files(records).items():
        db.execute(
            "INSERT INTO records (run_id, side, rows) VALUES (?, ?, ?)",
            (run_id, side, _parquet(rows)),
        )


def _change(
    before: pl.DataFrame, rows: pl.DataFrame, table: str, shift: int
) -> pl.DataFrame | None:
    """What `rows` (a run's) change of `before` (its base run's), see CHAIN_RUNS: the rows not
    found identical in `before` (an item's age counted `shift` days on) and the keys of those
    gone (GONE). None when a key repeats: then only the whole file says it."""
    key = "item_key" if table == "item_runs" else "rec_key"
    # (a run's items are one per key by construction: only the records' integer keys are checked)
    if key == "rec_key" and (rows[key].is_duplicated().any() or before[key].is_duplicated().any()):
        return None
    if key == "item_key":  # (labels change every run: kept whole, in the labels file)
        before, rows = before.drop(LABELS), rows.drop(LABELS)
    expected = before.with_columns(pl.col("age_days") + shift) if shift else before
    # Each row beside the base run's of its key (one join on the key, not on every column).
    paired = rows.join(
        expected.with_columns(pl.lit(True).alias(GONE)),
        on=key,
        how="left",
        suffix="_before",
        maintain_order="left",
    )
    others = [c for c in rows.columns if c != key]
    differs = pl.any_horizontal(pl.col(c).ne_missing(pl.col(f"{c}_before")) for c in others)
    changed = paired.filter(pl.col(GONE).is_null() | differs).select(rows.columns)
    gone = expected.select(key).join(rows.select(key), on=key, how="anti")
    marked = [
        changed.with_columns(pl.lit(False).alias(GONE)),
        gone.with_columns(pl.lit(True).alias(GONE)),
    ]
    return pl.concat(marked, how="diagonal_relaxed")


def _rebuild(
    rows: pl.DataFrame, changes: list[tuple[pl.DataFrame, int]], table: str, shift: int
) -> pl.DataFrame:
    """A run's rows (in their stored order, without an item's labels) from an earlier run's
    (`rows`, `shift` days before it) and the changes kept by the runs between (_change), each
    with the days from its run to this one: a key's latest change wins."""
    items = table == "item_runs"
    key = "item_key" if items else "rec_key"
    marked = [
        change.with_columns(pl.lit(i, pl.Int32).alias("_step"), pl.lit(days).alias("_shift"))
        for i, (change, days) in enumerate(changes)
    ]
    steps = pl.concat(marked, how="diagonal_relaxed")
    latest = steps.sort(key, "_step").unique(key, keep="last", maintain_order=True)
    kept = rows.drop(LABELS, strict=False) if items else rows
    kept = kept.join(steps.select(key), on=key, how="anti", maintain_order="left")
    latest = latest.filter(~pl.col(GONE))
    if items:  # an item's age grows by the days from the run that kept it
        kept = kept.with_columns(pl.col("age_days") + shift)
        latest = latest.with_columns(pl.col("age_days") + pl.col("_shift"))
    changed = latest.select(kept.columns).cast(kept.schema)
    if items:  # both in key order (_change keeps it): merged, not sorted again
        return kept.merge_sorted(changed, key)
    return pl.concat([kept, changed]).sort(*RECORD_ORDER)


def _days_between(first: str, then: str) -> int:
    return (date.fromisoformat(then) - date.fromisoformat(first)).days


def _side_records(rows: pl.DataFrame, side: str) -> pl.DataFrame:
    """One side's records of a run as its file keeps them, with their side (RECORD_COLUMNS)."""
    return rows.with_columns(side=pl.lit(side)).select(RECORD_COLUMNS)


def _no_records() -> pl.DataFrame:
    return pl.DataFrame(schema=_record_schema())


def _lag_of(counts: str) -> float | None:
    """The lag bound (minutes) a run recorded in its counts."""
    lag = json.loads(counts).get("state", {}).get("lag_bound_minutes")
    return None if lag is None else float(lag)


def _parquet(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    # zstd level 1: at 1M rows a day a run's files were both smaller (6.9 against 7.5 MB for the
    # item texts) and written in two thirds of the time of polars' default level.
    frame.write_parquet(buffer, compression="zstd", compression_level=1, statistics=False)
    return buffer.getvalue()


def _frame(blob: bytes) -> pl.DataFrame:
    """A frame stored by _parquet (it keeps the types it was written with)."""
    return pl.read_parquet(io.BytesIO(blob))


# What Store.kept_records and kept_items say of each row's run.
_RUN = {"run_id": pl.Int64(), "day": pl.String(), "superseded": pl.Boolean()}


def _of_run(frame: pl.DataFrame, run_id: int, day: str, superseded: int) -> pl.DataFrame:
    """`frame` with its run's columns (_RUN) first."""
    run = [pl.lit(run_id, pl.Int64), pl.lit(day), pl.lit(bool(superseded))]
    return frame.select(*(v.alias(k) for k, v in zip(_RUN, run, strict=True)), pl.all())


# Rows are inserted in key order: each lands at the end of the table's B-tree, instead of
# splitting pages all over it (twice as fast for a day's items).
def _insert_record_rows(db: sqlite3.Connection, run_id: int, records: pl.DataFrame) -> None:
    """Records as rows: version 4's table (_to_v4 writes it, _to_v5 reads it back)."""
    _insert(db, "records", run_id, records.select(RECORD_COLUMNS).sort("side", "rec_key"))


def _insert_items(
    db: sqlite3.Connection, run_id: int, items: pl.DataFrame, texts: pl.DataFrame
) -> None:
    """A run's two item files (see _V6_ITEMS), in key order: its items (texts_run null: this
    run's) and the texts it wrote."""
    rows = _item_file(items, run_id)
    db.execute("INSERT INTO item_runs (run_id, rows) VALUES (?, ?)", (run_id, _parquet(rows)))
    _insert_texts(db, run_id, texts)


def _item_file(items: pl.DataFrame, run_id: int) -> pl.DataFrame:
    """A run's items as its file keeps them (texts_run null: this run's)."""
    rows = items.with_columns(texts_run=pl.col("texts_run").fill_null(run_id))
    return rows.select(ITEM_STATE_COLUMNS).cast(_item_state_schema()).sort(*ITEM_ORDER)


def _insert_texts(db: sqlite3.Connection, run_id: int, texts: pl.DataFrame) -> None:
    written = texts.select(*ITEM_TEXT_COLUMNS, "texts_hash").cast(_text_schema()).sort("item_key")
    db.execute("INSERT INTO item_texts VALUES (?, ?)", (run_id, _parquet(written)))


def _items_texts(db: sqlite3.Connection, run_id: int) -> pl.DataFrame:
    """The texts a run wrote (_insert_items)."""
    (blob,) = db.execute("SELECT rows FROM item_texts WHERE run_id = ?", (run_id,)).fetchone()
    return _frame(blob)


def _insert_item_rows(db: sqlite3.Connection, run_id: int, items: pl.DataFrame) -> None:
    """Items as rows: version 4's tables (_to_v4 writes them, _to_v6 reads them back)."""
    _insert(db, "item_runs", run_id, items.select(ITEM_RUN_COLUMNS).sort("item_key"))
    frame = items.with_columns(texts_hash()).select(*ITEM_TEXT_COLUMNS, "texts_hash")
    # REPLACE: an item's latest texts win (version 4 kept one row of texts an item).
    _insert_rows(db, "INSERT OR REPLACE INTO item_texts", "", frame.sort("item_key"))


def _insert_consumed(db: sqlite3.Connection, run_id: int, consumed: pl.DataFrame) -> None:
    # (a filter a side: grouping two million keys by their side's text costs several times it;
    # of the key column alone: a frame filter would first realign both columns' chunks)
    sides, all_keys = consumed.get_column("side"), consumed.get_column("rec_key")
    for side in ("pos", "bank"):
        keys = all_keys.filter(sides == side)
        if keys.len():
            db.execute("INSERT INTO consumed VALUES (?, ?, ?)", (run_id, side, _pack(keys)))


def _pack(keys: pl.Series) -> bytes:
    return keys.to_numpy().astype("<i8", copy=False).tobytes()


def _unpack(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<i8").astype(np.int64, copy=False)


def _script(db: sqlite3.Connection, sql: str) -> None:
    for statement in sql.split(";"):
        if statement.strip():
            db.execute(statement)


def _to_v4(db: sqlite3.Connection) -> None:
    """Text record keys become their hashes wherever they are kept (records, consumed, items'
    rec_keys and item_key, resolutions' item_key), so open items are still the same items,
    resolved ones stay resolved and consumed records are still dropped when fed again. (Item
    refs, made from item_key, change this once.)"""
    for table in ("records", "consumed", "items"):
        db.execute(f"ALTER TABLE {table} RENAME TO {table}_v3")
    db.execute("DROP INDEX consumed_key")
    _script(db, _V4_TABLES)
    key = hashed(pl.col("rec_key"))
    for run_id in _run_ids(db, "records_v3"):
        old = _read(db, "records_v3", run_id, {**_record_schema(), "rec_key": pl.String()})
        _insert_record_rows(db, run_id, old.with_columns(rec_key=key))
    for run_id in _run_ids(db, "consumed_v3"):
        old = _read(db, "consumed_v3", run_id, {"side": pl.String(), "rec_key": pl.String()})
        _insert_consumed(db, run_id, old.with_columns(rec_key=key))
    for run_id in _run_ids(db, "items_v3"):
        old = _read(db, "items_v3", run_id, _item_schema())
        rec_keys = _hashed_list(pl.col("rec_keys"))
        _insert_item_rows(db, run_id, old.with_columns(_hashed_item_key(), rec_keys=rec_keys))
    rows = db.execute("SELECT item_key FROM resolutions").fetchall()
    resolved = pl.DataFrame(rows, schema={"item_key": pl.String}, orient="row")
    db.executemany(
        "UPDATE resolutions SET item_key = ? WHERE item_key = ?",
        resolved.select(_hashed_item_key(), old="item_key").rows(),
    )
    _script(db, "DROP TABLE records_v3; DROP TABLE consumed_v3; DROP TABLE items_v3")


def _to_v5(db: sqlite3.Connection) -> None:
    """Each run's open records of a side, rows until version 4, become its Parquet file."""
    db.execute("ALTER TABLE records RENAME TO records_v4")
    _script(db, _V5_RECORDS)
    for run_id in _run_ids(db, "records_v4"):
        _insert_records(db, run_id, _read(db, "records_v4", run_id, _record_schema()))
    db.execute("DROP TABLE records_v4")


def _to_v6(db: sqlite3.Connection) -> None:
    """Each run's item rows become its items' Parquet file. Until version 5 an item had one row
    of texts (its latest): they go in the texts file of the last run that had the item, and
    every run's rows of the item name that run."""
    db.execute("DROP VIEW items")
    for table in ("item_runs", "item_texts"):
        db.execute(f"ALTER TABLE {table} RENAME TO {table}_v5")
    _script(db, _V6_ITEMS)
    _script(
        db,
        """
        CREATE TEMP TABLE last_run (
            item_key TEXT PRIMARY KEY, run_id INTEGER NOT NULL
        ) WITHOUT ROWID;
        INSERT INTO last_run SELECT item_key, max(run_id) FROM item_runs_v5 GROUP BY item_key;
        CREATE INDEX temp.last_run_run ON last_run (run_id)
        """,
    )
    state = ", ".join(f"r.{c}" for c in ITEM_RUN_COLUMNS) + ", t.type, t.bank_ids, t.texts_hash"
    text = ", ".join(f't."{c}"' for c in (*ITEM_TEXT_COLUMNS, "texts_hash"))
    for run_id in _run_ids(db, "item_runs_v5"):
        items = db.execute(
            f"SELECT {state}, l.run_id FROM item_runs_v5 r "
            "JOIN item_texts_v5 t ON t.item_key = r.item_key "
            "JOIN last_run l ON l.item_key = r.item_key WHERE r.run_id = ?",
            (run_id,),
        ).fetchall()
        texts = db.execute(
            f"SELECT {text} FROM item_texts_v5 t JOIN last_run l ON l.item_key = t.item_key "
            "WHERE l.run_id = ?",
            (run_id,),
        ).fetchall()
        _insert_items(
            db,
            run_id,
            pl.DataFrame(items, schema=_item_state_schema(), orient="row"),
            pl.DataFrame(texts, schema=_text_schema(), orient="row"),
        )
    _script(db, "DROP TABLE item_runs_v5; DROP TABLE item_texts_v5; DROP TABLE temp.last_run")


def _run_ids(db: sqlite3.Connection, table: str) -> list[int]:
    # In run order: a later run's item texts replace an earlier one's.
    return [r for (r,) in db.execute(f"SELECT DISTINCT run_id FROM {table} ORDER BY run_id")]


def _read(
    db: sqlite3.Connection, table: str, run_id: int, schema: dict[str, pl.DataType]
) -> pl.DataFrame:
    columns = ", ".join(f'"{c}"' for c in schema)
    rows = db.execute(f"SELECT {columns} FROM {table} WHERE run_id = ?", (run_id,)).fetchall()
    return pl.DataFrame(rows, schema=schema, orient="row")


def _hashed_list(texts: pl.Expr) -> pl.Expr:
    """Newline-joined key texts -> their hashes, sorted and joined as a run joins them."""
    key = pl.element()
    hashes = hashed(key.filter(key != "")).sort().cast(pl.String)
    return texts.str.split("\n").list.eval(hashes).list.join("\n")


def _hashed_item_key() -> pl.Expr:
    """An item key (its type, a newline, its record keys) with its record keys hashed."""
    parts = pl.col("item_key").str.splitn("\n", 2)
    keys = _hashed_list(parts.struct.field("field_1"))
    return pl.concat_str(parts.struct.field("field_0"), pl.lit("\n"), keys).alias("item_key")


def _insert(db: sqlite3.Connection, table: str, run_id: int, frame: pl.DataFrame) -> None:
    # The run's id is a literal of the statement: one value less to build and bind a row.
    _insert_rows(db, f"INSERT INTO {table}", f"{int(run_id)}, ", frame)


def _insert_rows(db: sqlite3.Connection, head: str, first: str, frame: pl.DataFrame) -> None:
    """`head` VALUES (`first` frame's row), ..., _ROWS_PER_INSERT rows a statement."""
    rows = frame.rows()
    one = f"({first}{', '.join('?' * frame.width)})"
    full = len(rows) - len(rows) % _ROWS_PER_INSERT
    chunks = (
        tuple(itertools.chain.from_iterable(rows[i : i + _ROWS_PER_INSERT]))
        for i in range(0, full, _ROWS_PER_INSERT)
    )
    db.executemany(f"{head} VALUES {', '.join([one] * _ROWS_PER_INSERT)}", chunks)
    if full < len(rows):
        rest = tuple(itertools.chain.from_iterable(rows[full:]))
        db.execute(f"{head} VALUES {', '.join([one] * (len(rows) - full))}", rest)


def _record_schema() -> dict[str, pl.DataType]:
    ints = {"rec_key", "amount", "fee", "line", "has_clock"}
    return {c: (pl.Int64() if c in ints else pl.String()) for c in RECORD_COLUMNS}


def _item_schema() -> dict[str, pl.DataType]:
    return {c: (pl.Int64() if c == "age_days" else pl.String()) for c in ITEM_COLUMNS}


def _item_state_schema() -> dict[str, pl.DataType]:
    ints = {"age_days", "texts_hash", "texts_run"}
    return {c: (pl.Int64() if c in ints else pl.String()) for c in ITEM_STATE_COLUMNS}


def _text_schema() -> dict[str, pl.DataType]:
    return {**{c: pl.String() for c in ITEM_TEXT_COLUMNS}, "texts_hash": pl.Int64()}
