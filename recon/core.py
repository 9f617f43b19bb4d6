"""The reconciliation core every engine shares: canonical frames in, items and matches out.

The local run calls it once for the whole day; the partitioned engines (recon.partitioned,
recon.spark_engine) call it once per merchant bucket. There is no second implementation of
the matching rules.
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple

import polars as pl

from recon.classify import classify_all
from recon.config import Settings
from recon.findings import find as find_findings
from recon.match import MatchOutcome, match


class Core(NamedTuple):
    discrepancies: pl.DataFrame
    matches: pl.DataFrame
    deposits: pl.DataFrame
    findings: list[dict[str, Any]]
    # how batch deposits were reconciled (Classified.settlement)
    settlement: dict[str, Any] | None = None


def reconcile_frames(
    pos: pl.DataFrame,
    bank: pl.DataFrame,
    settings: Settings,
    timings: dict[str, float] | None = None,
) -> Core:
    """Match and classify two canonical frames (recon.schema.CANONICAL)."""
    timings = {} if timings is None else timings
    t = time.perf_counter()
    outcome = match(pos, bank, settings.match)
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
    return Core(out.discrepancies, out.matches, out.deposits, findings, out.settlement)
