"""load -> normalise -> match -> classify: one function the CLI (and other tools) call."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import polars as pl

from recon.config import MatchSettings, Settings
from recon.core import finish
from recon.errors import UsageError
from recon.load import Loaded, is_statement, load_side
from recon.match import match
from recon.result import RunResult, SideInfo, build_summary, peak_mib
from recon.schema import REJECTED

Stage = Callable[[str], None]
# Changes the loaded frames before matching (the state store adds what is still open).
# Called with both sides' canonical rows and what was read (paths, SHA-256); returns the rows to
# match (recon.carry adds the records a state carries) and the match settings (the state adds
# the bank's lag that earlier days showed).
BeforeMatch = Callable[
    [pl.DataFrame, pl.DataFrame, SideInfo, SideInfo],
    tuple[pl.DataFrame, pl.DataFrame, MatchSettings],
]


def _info(side: str, loaded: Loaded) -> SideInfo:
    return SideInfo(
        side=side,
        path=str(loaded.path),
        sha256=loaded.sha256,
        rows=loaded.rows,
        loaded=loaded.frame.height,
        rejected=loaded.rejected.height,
        profile=loaded.profile,
        reader=loaded.reader,
    )


def reconcile(
    settings: Settings, on_stage: Stage | None = None, before_match: BeforeMatch | None = None
) -> RunResult:
    """Run a whole reconciliation of settings.pos against settings.bank."""
    if not settings.pos or not settings.bank:
        raise UsageError("both a POS file (--pos) and a bank file (--bank) are needed")
    stage = on_stage or (lambda _name: None)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()

    stage("load")
    # The two files are read side by side: polars releases the GIL, and each load has
    # stretches that keep only one core busy. A POS error is still the one reported first.
    with ThreadPoolExecutor(max_workers=2) as pool:
        pos_job = pool.submit(
            load_side, settings.pos, "pos", settings.pos_profile, timezone=settings.timezone
        )
        bank_job = pool.submit(
            load_side, settings.bank, "bank", settings.bank_profile, timezone=settings.timezone
        )
        pos, bank = pos_job.result(), bank_job.result()
        del pos_job, bank_job  # (a future holds its result: the loaded frames, below freed)
    timings["load_s"] = time.perf_counter() - t0
    timings["load_peak_mib"] = peak_mib()
    if settings.bank_is_statement is None:
        # Decided once, from the file as loaded; classify words and rates its debits by it.
        settings = replace(settings, bank_is_statement=is_statement(bank.reader, bank.profile))

    pos_info, bank_info = _info("pos", pos), _info("bank", bank)
    rejected = pl.concat([pos.rejected, bank.rejected]).cast(REJECTED).sort("side", "line")
    pos_frame, bank_frame = pos.frame, bank.frame
    # Let the loaded frames go once matched: on a large day they are gigabytes.
    del pos, bank
    if before_match is not None:
        pos_frame, bank_frame, used = before_match(pos_frame, bank_frame, pos_info, bank_info)
        settings = replace(settings, match=used)
    # Where a row came from is the loader's: matching never reads it (nor a POS fee), and on
    # a ten-million-row day those columns are half a gigabyte held through matching.
    # One chunk per column, as match wants them (see there): made here, where the loaded
    # frames in chunks are let go at once, so the copy is never held beside them.
    pos_frame = pos_frame.drop("source", "line", "fee").rechunk()
    bank_frame = bank_frame.drop("source", "line").rechunk()

    stage("match")
    t = time.perf_counter()
    outcome = match(pos_frame, bank_frame, settings.match)
    del pos_frame, bank_frame
    timings["match_s"] = time.perf_counter() - t
    timings["match_peak_mib"] = peak_mib()
    if outcome.lag_bound_minutes is not None:
        # The lag the day showed is the run's (a later run without pairs enough takes it).
        shown = replace(settings.match, lag_bound_minutes=outcome.lag_bound_minutes)
        settings = replace(settings, match=shown)
    stage("classify")
    core = finish(outcome, settings, timings)
    discrepancies, matches, deposits, findings = core[:4]
    del outcome
    batches = dict(core.settlement or {})
    used = batches.pop("settings", None)
    if used is not None:
        # A calendar guessed from the data is the run's settlement calendar from here on.
        settings = replace(settings, settlement=used)
    timings["classify_peak_mib"] = peak_mib()
    timings["total_s"] = time.perf_counter() - t0

    summary = build_summary(
        discrepancies,
        matches,
        rejected,
        pos_info,
        bank_info,
        settings,
        timings,
        findings,
        deposits,
        batches,
    )
    return RunResult(
        discrepancies=discrepancies,
        matches=matches,
        rejected=rejected,
        pos=pos_info,
        bank=bank_info,
        settings=settings,
        summary=summary,
        deposits=deposits,
    )
