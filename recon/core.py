"""The reconciliation core every engine shares: canonical frames in, items and matches out.

The local run matches the whole day (recon.pipeline: recon.match, then `finish`); the
partitioned engines (recon.partitioned, recon.spark_engine) call `reconcile_frames` once per
merchant bucket, with the day's recon.match.prepare.Day. There is no second implementation
of the matching rules.

A bucket is matched as the whole day would be: its rows are put back in the order of the
files (`in_file_order`), so ties the matcher breaks by position are broken as in a local run
whatever order the engine handed the rows over in (Spark packs files by size, the streaming
engine reads shard by shard), and the day's Day says what the bucket cannot tell alone.
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple

import polars as pl

from recon.classify import classify_all
from recon.config import Settings
from recon.findings import find as find_findings
from recon.match import MatchOutcome, match
from recon.match.prepare import Day


class Core(NamedTuple):
    discrepancies: pl.DataFrame
    matches: pl.DataFrame
    deposits: pl.DataFrame
    findings: list[dict[str, Any]]
    # how batch deposits were reconciled (Classified.settlement)
    settlement: dict[str, Any] | None = None
    # the bank's usual lag the records showed (MatchOutcome.lag_bound_minutes)
    lag_bound_minutes: float | None = None


def in_file_order(frame: pl.DataFrame) -> pl.DataFrame:
    """Canonical rows in the order of the files they were read from (source, then line; rows
    that share a line, such as the parts of a split statement entry, keep their order)."""
    if frame.height < 2 or "line" not in frame.columns:
        return frame
    keys = [c for c in ("source", "line") if c in frame.columns]
    prev = [pl.col(c).shift(1) for c in keys]
    if len(keys) == 2:
        ahead = (pl.col("source") > prev[0]) | (
            (pl.col("source") == prev[0]) & (pl.col("line") >= prev[1])
        )
    else:
        ahead = pl.col("line") >= prev[0]
    if frame.select(ahead.fill_null(True).all()).item():
        return frame
    return frame.sort(keys, maintain_order=True, nulls_last=True)


def reconcile_frames(
    pos: pl.DataFrame,
    bank: pl.DataFrame,
    settings: Settings,
    timings: dict[str, float] | None = None,
    day: Day | None = None,
) -> Core:
    """Match and classify two canonical frames (recon.schema.CANONICAL): a bucket of a day
    whose Day is `day`, or (without it) a whole day."""
    timings = {} if timings is None else timings
    t = time.perf_counter()
    pos, bank = in_file_order(pos), in_file_order(bank)
    outcome = match(pos, bank, settings.match, day)
    # The caller passes its frames without keeping them: let them go before classifying.
    del pos, bank
    timings["match_s"] = timings.get("match_s", 0.0) + time.perf_counter() - t
    return finish(outcome, settings, timings)


def finish(outcome: MatchOutcome, settings: Settings, timings: dict[str, float]) -> Core:
    """Classify a match outcome: items, matches, batch deposits and findings."""
    t = time.perf_counter()
    out = classify_all(outcome, settings)
    # Findings need the matcher's frames (terminal, kind, card of every record).
    findings = find_findings(out.discrepancies, out.matches, outcome.pos, outcome.bank, settings)
    timings["classify_s"] = timings.get("classify_s", 0.0) + time.perf_counter() - t
    return Core(
        out.discrepancies,
        out.matches,
        out.deposits,
        findings,
        out.settlement,
        outcome.lag_bound_minutes,
    )
