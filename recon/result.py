"""The one frozen result of a run that every writer reads."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from recon import __version__
from recon.config import SEVERITIES, TYPES, Settings
from recon.errors import EXIT_FOUND, EXIT_OK
from recon.money import format_minor


@dataclass(frozen=True)
class SideInfo:
    side: str
    path: str
    sha256: str
    rows: int  # data rows in the file
    loaded: int  # rows that parsed
    rejected: int
    profile: str
    reader: str = "csv"


@dataclass(frozen=True)
class RunResult:
    discrepancies: pl.DataFrame  # contract columns first, then evidence columns
    matches: pl.DataFrame
    rejected: pl.DataFrame
    pos: SideInfo
    bank: SideInfo
    settings: Settings
    summary: dict[str, Any] = field(default_factory=dict)
    # Batch deposits and the sales they paid (recon.settle; empty without [settlement]).
    deposits: pl.DataFrame = field(default_factory=pl.DataFrame)
    # A day too large to hold its items in memory (the streaming engine): `discrepancies` then
    # holds every item but only the columns the summary and the reports count, sum and chart
    # (recon.partitioned.COUNTED), `shown` every column of the items the reports list (the
    # first 2,000 and the first 200 of each type, in order) and `all_items` every column of
    # every item, in order, read from disk (discrepancies.csv and .parquet are streamed from
    # it). None: `discrepancies` holds everything.
    shown: pl.DataFrame | None = None
    all_items: pl.LazyFrame | None = None

    def item_rows(self) -> pl.DataFrame:
        """Every column of the items in order: all of them, or (a day whose items stay on
        disk) at least the first 2,000 and the first 200 of each type. What the reports list;
        their counts and totals come from `discrepancies`."""
        return self.discrepancies if self.shown is None else self.shown

    def exit_code(self, fail_on: str | None = None) -> int:
        """1 when an item at or above `fail_on` exists or any row was rejected, else 0."""
        threshold = SEVERITIES.index(fail_on or self.settings.fail_on)
        at_or_above = set(SEVERITIES[threshold:])
        items = self.discrepancies
        if "alert" in items.columns:
            # A scheduled run alerts on what is new or escalated, not on what it reported before.
            items = items.filter(pl.col("alert"))
        hit = items.filter(pl.col("severity").is_in(at_or_above)).height > 0
        return EXIT_FOUND if hit or self.rejected.height > 0 else EXIT_OK


def at_risk_by_currency(df: pl.DataFrame) -> dict[str, str]:
    """Money at risk of these items per currency, as exact decimal text, currencies sorted."""
    if df.height == 0:
        return {}
    sums = (
        df.select("currency", "at_risk_minor")
        .group_by("currency")
        .agg(pl.col("at_risk_minor").sum())
        .filter(pl.col("currency").is_not_null())
        .sort("currency")
    )
    return {cur: format_minor(v, cur) for cur, v in sums.iter_rows()}


def settlement_summary(settings: Settings, batches: dict[str, Any] | None) -> dict[str, Any]:
    """How batch deposits were reconciled: the calendar (from the config, or guessed from the
    data when the bank file looked like daily net deposits), the refund fee policy and the
    merchants' usual rates learnt from the deposits. Empty without batch deposits."""
    cfg = settings.settlement
    if not cfg.enabled:
        return {}
    info = dict(batches or {})
    return {
        "source": info.pop("source", "config"),
        "cutoff": cfg.cutoff,
        "t_plus": cfg.t_plus,
        "weekends": cfg.weekends,
        "holidays": list(cfg.holidays),
        "fee_rules": len(cfg.fees),
        **info,
    }


def peak_mib() -> float:
    """This process's peak resident memory so far, in MiB (the stage table of summary.json
    timings: `<stage>_peak_mib` is the peak reached by the end of that stage)."""
    try:
        import resource
    except ImportError:  # Windows: no getrusage
        return 0.0
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return (kib / 1024 if sys.platform == "darwin" else kib) / 1024


def build_summary(
    discrepancies: pl.DataFrame,
    matches: pl.DataFrame,
    rejected: pl.DataFrame,
    pos: SideInfo,
    bank: SideInfo,
    settings: Settings,
    timings: dict[str, float],
    findings: list[dict[str, Any]] | None = None,
    deposits: pl.DataFrame | None = None,
    batches: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Counts per type and severity, money at risk per currency, inputs and timings.

    `findings` (recon.findings) are terminal- and pattern-level conclusions; [] when none."""
    # Counted on the few columns they read: filtering the items (or ten million matches)
    # whole would copy every text column for each count.
    counted = discrepancies.select("type", "severity", "currency", "at_risk_minor")
    by_type = {}
    for t in TYPES:
        sub = counted.filter(pl.col("type") == t)
        by_type[t] = {"count": sub.height, "at_risk": at_risk_by_currency(sub)}
    by_sev = {s: counted.filter(pl.col("severity") == s).height for s in SEVERITIES}
    rules = matches.group_by("rule").len().sort("rule")
    one_to_one = pl.col("bank_id").is_not_null()
    if "group_id" in matches.columns:
        one_to_one &= pl.col("group_id").is_null()
    n = matches.select(
        paired=one_to_one.sum(),
        voided=(pl.col("rule") == "voided").sum(),
        no_pos=pl.col("pos_id").is_null().sum(),
    ).row(0, named=True)
    # (a deposit paid in parts has a row per further part, with no POS record)
    batched = matches.height - n["paired"] - n["voided"] - n["no_pos"]
    dep = deposits if deposits is not None and deposits.height else None
    code = RunResult(discrepancies, matches, rejected, pos, bank, settings).exit_code()
    return {
        "recon_version": __version__,
        "inputs": {
            s.side: {
                "path": s.path,
                "sha256": s.sha256,
                "rows": s.rows,
                "loaded": s.loaded,
                "rejected": s.rejected,
                "profile": s.profile,
                "reader": s.reader,
            }
            for s in (pos, bank)
        },
        "matched": {
            "pairs": n["paired"],
            "voided": n["voided"],
            "in_deposits": batched,
            "by_rule": dict(rules.iter_rows()),
        },
        "discrepancies": {
            "total": discrepancies.height,
            "by_type": by_type,
            "by_severity": by_sev,
        },
        "money_at_risk": at_risk_by_currency(discrepancies),
        "rejected": {"pos": pos.rejected, "bank": bank.rejected, "total": rejected.height},
        "fail_on": settings.fail_on,
        "exit_code": code,
        "settings": {
            "match": settings.as_dict()["match"],
            "severity": settings.severity,
            "config": settings.source,
        },
        "timings": {k: round(v, 3) for k, v in timings.items()},
        "findings": list(findings or []),
        "settlement": settlement_summary(settings, batches),
        "deposits": {
            "count": 0 if dep is None else dep.height,
            "by_status": {}
            if dep is None
            else dict(dep.group_by("status").len().sort("status").iter_rows()),
        },
    }
