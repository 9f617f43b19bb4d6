"""Scheduled runs on the streaming engine: the state store's records meet the day's buckets.

The same steps as recon.carry, bucket by bucket. The records still open join the bucket of
their merchant (the shard of a carried record is its merchant's, as a new record's), each
bucket's new records are keyed and those taken before dropped, and each bucket's items get
their state (key, first day, status) as a local run's would. What the store keeps of a
bucket (its items, the records left open, the keys consumed) goes to the work folder, so the
memory held from bucket to bucket does not grow with the day; once the buckets are merged,
the day's item ids are put on the items and the run is recorded in one transaction, after the
outputs are written.

A bucket of a state run is matched with the open records first and the day's after them, in
file order, as a local state run matches them: the result is the local engine's.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from recon.carry import (
    KEY_FIELDS,
    Before,
    Stated,
    apply_state,
    before_run,
    day_for,
    match_frame,
    record_keys,
    record_run,
    take_side,
)
from recon.config import Settings
from recon.core import Core, in_file_order, reconcile_frames
from recon.match.prepare import Day, SideKeys, side_keys
from recon.partitioned import (
    SHARD,
    SORT_SEVERITY,
    Merged,
    SideParts,
    cleanup,
    empty_core,
    in_bucket,
    load_bucket,
    reconcile_partitioned,
    shard_expr,
    side_rows,
)
from recon.result import RunResult
from recon.store import Store, now

_SIDES = ("pos", "bank")


def _latest(parts: SideParts) -> datetime | None:
    rows = side_rows(parts)
    return None if rows is None else rows.select(pl.col("time").max()).collect().item()


def _bucket_keys(parts: SideParts, shards: list[int], side: str) -> pl.Series:
    """The record keys of a bucket's rows of one side, in the order load_bucket and
    in_file_order give them (only the columns of the key are read)."""
    columns = ["id", "source", "line", *KEY_FIELDS]
    rows = in_file_order(load_bucket(parts, shards, columns))
    return record_keys(rows, side)


class BucketState:
    """A recon.partitioned.Carrier: one state run's records and items, bucket by bucket."""

    def __init__(self, store: Store, day: str | None, settings: Settings, folder: Path):
        self.store, self.day, self.settings = store, day, settings
        self.folder = folder
        self.before: Before | None = None
        self.carried: dict[str, pl.DataFrame] = {}
        self.item_ids: pl.DataFrame | None = None

    # -- before the buckets ----------------------------------------------------------------
    def begin(self, pos: SideParts, bank: SideParts, shards: int, settings: Settings) -> Settings:
        inputs = (pos.info, bank.info)
        this_day = self.day or day_for(_latest(pos), _latest(bank), self.store, inputs)
        before = before_run(self.store, this_day)
        self.before = before
        shard = shard_expr(shards).alias(SHARD)
        self.carried = {side: before.carried[side].with_columns(shard) for side in _SIDES}
        self.folder.mkdir(parents=True, exist_ok=True)
        return replace(settings, match=before.settings(settings.match))

    def side_keys(self) -> tuple[SideKeys, SideKeys]:
        pos, bank = (side_keys(self.carried[side].lazy()) for side in _SIDES)
        return pos, bank

    def shard_rows(self) -> dict[int, int]:
        both = pl.concat([self.carried[side].select(SHARD) for side in _SIDES])
        return dict(both.group_by(SHARD).len().iter_rows())

    # -- each bucket -----------------------------------------------------------------------
    def run(
        self, pos: SideParts, bank: SideParts, plan: list[list[int]], settings: Settings, day: Day
    ) -> Iterator[tuple[int, Core]]:
        # Today's keys first, bucket by bucket, so the store's consumed keys (a month of
        # them) are read once per side, not once per bucket.
        parts = {"pos": pos, "bank": bank}
        keys = [
            {side: _bucket_keys(parts[side], shards, side) for side in _SIDES} for shards in plan
        ]
        before = self.before
        assert before is not None
        none = pl.Series("rec_key", [], pl.Int64)  # (a day without a record has no bucket)
        seen = {
            side: self.store.consumed_among(
                before.base, side, pl.concat([none, *(k[side] for k in keys)], rechunk=False)
            )
            for side in _SIDES
        }
        for k, shards in enumerate(plan):
            core = self._bucket(k, pos, bank, shards, settings, day, keys[k], seen)
            keys[k] = {}
            yield k, in_bucket(k, core)

    def _bucket(
        self,
        k: int,
        pos: SideParts,
        bank: SideParts,
        shards: list[int],
        settings: Settings,
        day: Day,
        keys: dict[str, pl.Series],
        seen: dict[str, pl.Series],
    ) -> Core:
        before = self.before
        assert before is not None
        unions: dict[str, pl.DataFrame] = {}
        for side, parts in (("pos", pos), ("bank", bank)):
            today = in_file_order(load_bucket(parts, shards))
            old = self.carried[side].filter(pl.col(SHARD).is_in(shards)).drop(SHARD)
            unions[side] = take_side(today, side, keys[side], before, self.store, old, seen[side])
        # Without source and line the core keeps this order: the open records, then today's
        # in file order (as a local state run matches them).
        frames = [match_frame(unions[side], before.day, "source", "line") for side in _SIDES]
        core = reconcile_frames(frames[0], frames[1], settings, day=day)
        del frames
        stated = apply_state(core.discrepancies, core.matches, unions, before, self.settings)
        items = stated.items.with_row_index("_row").with_columns(_part=pl.lit(k, pl.Int32))
        items.write_parquet(self.folder / f"items-{k:05d}.parquet")
        stated.records.write_parquet(self.folder / f"records-{k:05d}.parquet")
        stated.consumed.write_parquet(self.folder / f"consumed-{k:05d}.parquet")
        # The day's order is made on the severity classify gave (see SORT_SEVERITY).
        severity = core.discrepancies["severity"].alias(SORT_SEVERITY)
        out = stated.discrepancies.with_columns(severity)
        return core._replace(discrepancies=out, matches=stated.matches)

    # -- after them ------------------------------------------------------------------------
    def merged(self, merged: Merged) -> None:
        self.item_ids = merged.item_ids

    def _read(self, what: str) -> pl.DataFrame | None:
        files = sorted(self.folder.glob(f"{what}-*.parquet"))
        return pl.read_parquet(files) if files else None

    def record(
        self, result: RunResult, started: str, write: Callable[[RunResult], Any] | None
    ) -> RunResult:
        """Record the run (recon.carry.record_run) once the buckets are merged."""
        before = self.before
        assert before is not None
        items = self._read("items")
        if items is None:  # (a day without a record on either side: no bucket ran)
            empty = empty_core(self.settings)
            none = {side: before.carried[side].clear() for side in _SIDES}
            stated = apply_state(empty.discrepancies, empty.matches, none, before, self.settings)
            result = replace(result, discrepancies=stated.discrepancies)
        else:
            if self.item_ids is not None:  # (None: the buckets' items are all empty)
                day_ids = self.item_ids.select("_part", "_row", day_id="item_id")
                items = items.join(day_ids, on=["_part", "_row"], how="left", maintain_order="left")
                items = items.with_columns(item_id="day_id").drop("day_id")
            items = items.drop("_part", "_row")
            records, consumed = self._read("records"), self._read("consumed")
            assert records is not None and consumed is not None  # (written with the items)
            stated = Stated(result.discrepancies, result.matches, items, records, consumed)
        return record_run(self.store, before, result, stated, started, self.settings, write)


def reconcile_buckets_with_state(
    settings: Settings,
    store: Store,
    day: str | None,
    *,
    buckets: int | None,
    memory_limit: int | None,
    work_dir: Path | None,
    on_stage: Callable[[str], None] | None,
    write: Callable[[RunResult, pl.LazyFrame], Any],
) -> RunResult:
    """A --state run on the streaming engine: as recon.carry.reconcile_with_state, bucket by
    bucket (recon.partitioned). `write` writes the outputs (the result and every match)."""
    started = now()
    scratch = Path(work_dir) if work_dir else None
    if scratch is not None:
        scratch.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="recon-state-", dir=scratch))
    try:
        state = BucketState(store, day, settings, folder)
        result, matches, work = reconcile_partitioned(
            settings,
            buckets=buckets,
            memory_limit=memory_limit,
            work_dir=scratch,
            on_stage=on_stage,
            carrier=state,
        )
        try:
            return state.record(result, started, lambda final: write(final, matches))
        finally:
            cleanup(work)
    finally:
        cleanup(folder)
