"""Batch deposits in the reports: which statuses need someone to act, the order every report
lists deposits in, and the words for them. Statuses come from recon.settle."""

from __future__ import annotations

import polars as pl

from recon.i18n import TEXT, t

# Deposit statuses that need someone to act, in the order the reports list them; then the rest.
DEPOSIT_PROBLEMS = ("fee_mismatch", "short", "long", "missing", "late")
DEPOSIT_OK = ("matched", "split", "moved", "extra")


def deposits_in_order(df: pl.DataFrame) -> pl.DataFrame:
    """Deposits with problems first (in DEPOSIT_PROBLEMS order), then the rest; by group_id."""
    rank = pl.col("status").replace_strict(
        {s: i for i, s in enumerate(DEPOSIT_PROBLEMS)},
        default=len(DEPOSIT_PROBLEMS),
        return_dtype=pl.Int32,
    )
    return df.sort(rank, pl.col("group_id"))


def deposits_line(df: pl.DataFrame, lang: str) -> str:
    """The one-sentence summary of the deposits (not escaped)."""
    status = df.get_column("status")
    return t(
        "dep.summary",
        lang,
        n=df.height,
        sales=int(df.get_column("n_sales").sum() or 0),
        matched=int(status.is_in(DEPOSIT_OK).sum()),
        flagged=int(status.is_in(DEPOSIT_PROBLEMS).sum()),
    )


def deposit_status(status: str | None, lang: str) -> str:
    """A deposit's status in words (the raw value when the catalog has none)."""
    key = f"dep.s.{status}"
    return t(key, lang) if key in TEXT else str(status or "")


def settlement_lines(info: dict, lang: str) -> list[str]:
    """What the run assumed or learnt about batch deposits (summary.json "settlement"), in
    words: the guessed calendar, the refund fee policy and the merchants' usual rates."""
    if not info:
        return []
    lines = []
    if info.get("source") == "detected":
        week = t("set.weekends", lang) if info.get("weekends") else ""
        days = ", ".join(info.get("holidays") or [])
        closed = t("set.closed", lang, week=week, days=days) if week or days else ""
        lines.append(
            t(
                "set.detected",
                lang,
                cutoff=info.get("cutoff", ""),
                t_plus=info.get("t_plus", ""),
                closed=closed,
            )
            + ("" if info.get("sure", True) else t("set.unsure", lang))
        )
    if info.get("refund_fee_from") == "data":
        lines.append(t(f"set.refund.{info['refund_fee']}", lang))
    rates = info.get("rates") or {}
    if rates:
        values = sorted(rates.values(), key=lambda r: float(r.rstrip("%")))
        span = values[0] if values[0] == values[-1] else f"{values[0]}–{values[-1]}"
        lines.append(t("set.rates", lang, n=len(rates), span=span))
    return lines
