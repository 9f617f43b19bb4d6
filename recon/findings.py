"""Findings: terminal-level and pattern-level conclusions drawn from a whole run.

A discrepancy is one record gone wrong; a finding explains several at once, or points at a
pattern no single item shows. Each finding is reported once, with the ids it explains:

- `terminal_currency`: a terminal with 2 or more currency_mismatch items (its currency setting);
  `items` are discrepancy item ids.
- `terminal_clock`: a terminal whose matched pairs show the bank's time before the POS time for
  2 or more pairs with a consistent offset (the terminal's clock runs ahead); `items` are the POS
  record ids of those pairs. The matches table has no terminal column, so the terminal of a pair
  comes from the POS record (by `pos_id`) in the canonical frame; only pairs where both sides
  carry a clock time count, and offsets under a minute are ordinary drift, not a finding.
- `refund_exceeds_sale`: a POS refund larger than the sale it refunds (the sale with the same
  reference, else, for a refund without a reference, the latest earlier sale of the same card
  on the same terminal); `items` are the
  refund's and the sale's POS record ids.
- `outside_hours` (only with `[shop] hours`): POS sales, and bank debits no POS record explains,
  timed outside the shop's hours; one finding per side, with the count and the first ids.
  (A matched debit carries the bank's batch time, which says nothing about when the shop was open.)

Everything is computed with polars on the frames; Python only loops over the few findings.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from recon.config import Settings, parse_hours
from recon.i18n import t
from recon.money import format_minor

KINDS = ("terminal_currency", "terminal_clock", "refund_exceeds_sale", "outside_hours")
MIN_ITEMS = 2  # a terminal-level conclusion needs at least this many records behind it
CLOCK_SPREAD_S = 600  # negative lags within this of their median share one offset
CLOCK_MIN_S = 60  # a median offset smaller than this is drift, not a wrong setting
FIRST_IDS = 10  # how many ids an outside_hours finding lists


def _finding(
    kind: str, message: str, items: list[str], severity: str, terminal: str | None = None, **extra
) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": kind}
    if terminal is not None:
        out["terminal"] = terminal
    out.update(message=message, items=items, severity=severity, **extra)
    return out


def _terminal_currency(disc: pl.DataFrame, lang: str) -> list[dict[str, Any]]:
    if disc.height == 0 or "terminal" not in disc.columns:
        return []
    groups = (
        disc.filter((pl.col("type") == "currency_mismatch") & pl.col("terminal").is_not_null())
        .group_by("terminal")
        .agg(
            items=pl.col("item_id").sort(),
            pos_cur=pl.col("currency").drop_nulls().unique().sort().str.join("/"),
            bank_cur=pl.col("bank_currency").drop_nulls().unique().sort().str.join("/"),
            n=pl.len(),
        )
        .filter(pl.col("n") >= MIN_ITEMS)
        .sort("terminal")
    )
    return [
        _finding(
            "terminal_currency",
            t("find.terminal_currency", lang, terminal=term, bank=bank, pos=pos, n=n),
            items,
            "high",
            terminal=term,
        )
        for term, items, pos, bank, n in groups.iter_rows()
    ]


def _duration(seconds: float, lang: str) -> str:
    minutes = round(abs(seconds) / 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return t("find.dur_dhm", lang, d=days, h=hours, m=f"{mins:02d}")
    return t("find.dur_hm", lang, h=hours, m=f"{mins:02d}")


def _terminal_clock(
    matches: pl.DataFrame, pos: pl.DataFrame, bank: pl.DataFrame, lang: str
) -> list[dict[str, Any]]:
    if matches.height == 0 or pos.height == 0:
        return []
    # Only pairs settled "before" the sale can show a clock offset: a handful of rows.
    early = (
        matches.lazy()
        .select("pos_id", "bank_id", "pos_time", "bank_time")
        .filter(pl.col("bank_id").is_not_null() & (pl.col("bank_time") < pl.col("pos_time")))
        .collect()
    )
    if early.height == 0:
        return []
    pos_info = (
        pos.filter(pl.col("id").is_in(early["pos_id"].implode()))
        .select(pos_id="id", terminal="terminal", pos_clock=pl.col("has_clock").fill_null(True))
        .unique("pos_id", keep="first")
    )
    bank_info = (
        bank.filter(pl.col("id").is_in(early["bank_id"].implode()))
        .select(bank_id="id", bank_clock=pl.col("has_clock").fill_null(True))
        .unique("bank_id", keep="first")
    )
    neg = (
        early.lazy()
        .select("pos_id", "bank_id", "pos_time", "bank_time")
        .join(pos_info.lazy(), on="pos_id", how="inner")
        .join(bank_info.lazy(), on="bank_id", how="inner")
        .filter(pl.col("pos_clock") & pl.col("bank_clock") & pl.col("terminal").is_not_null())
        .with_columns(lag=(pl.col("bank_time") - pl.col("pos_time")).dt.total_seconds())
        .filter(pl.col("lag") < 0)
        .with_columns(median=pl.col("lag").median().over("terminal"))
        .filter((pl.col("lag") - pl.col("median")).abs() <= CLOCK_SPREAD_S)
        .group_by("terminal")
        .agg(items=pl.col("pos_id").sort_by("pos_time"), offset=pl.col("lag").median(), n=pl.len())
        .filter((pl.col("n") >= MIN_ITEMS) & (pl.col("offset") <= -CLOCK_MIN_S))
        .sort("terminal")
        .collect()
    )
    return [
        _finding(
            "terminal_clock",
            t("find.terminal_clock", lang, terminal=term, offset=_duration(off, lang), n=n),
            items,
            "medium",
            terminal=term,
            offset_seconds=round(off),
        )
        for term, items, off, n in neg.iter_rows()
    ]


def _refund_exceeds_sale(pos: pl.DataFrame, lang: str) -> list[dict[str, Any]]:
    if pos.height == 0:
        return []
    cols = ["id", "time", "amount", "currency", "reference", "account", "terminal"]
    # (lazy: only these columns of the side frame are filtered, not all of them)
    refunds = (
        pos.lazy()
        .filter(pl.col("kind") == "refund")
        .select(cols)
        .with_columns(refund=pl.col("amount").abs())
        .sort("time")
        .collect()
    )
    if refunds.height == 0:
        return []
    # Only sales that share a reference or a card with a refund can be its sale.
    related = pl.col("reference").is_in(refunds["reference"].drop_nulls().implode()) | pl.col(
        "account"
    ).is_in(refunds["account"].drop_nulls().implode())
    sales = (
        pos.lazy()
        .filter((pl.col("kind") == "sale") & related)
        .select(
            sale_id="id",
            sale_time="time",
            sale=pl.col("amount").abs(),
            sale_cur="currency",
            reference="reference",
            account="account",
            terminal="terminal",
        )
        .sort("sale_time")
        .collect()
    )
    # The sale with the same reference (the first if several) ...
    by_ref = refunds.join(
        sales.filter(pl.col("reference").is_not_null())
        .unique("reference", keep="first", maintain_order=True)
        .drop("account", "terminal"),
        on="reference",
        how="left",
    )
    # ... else, for a refund that carries no reference at all, the latest earlier sale of the
    # same card on the same terminal. A refund with a reference of its own that no sale has is
    # most likely for an earlier day's purchase: not a finding.
    no_ref = by_ref.filter(pl.col("sale_id").is_null() & pl.col("reference").is_null()).select(
        [*cols, "refund"]
    )
    by_card = no_ref.filter(
        pl.col("account").is_not_null() & pl.col("terminal").is_not_null()
    ).join_asof(
        sales.drop("reference").filter(pl.col("account").is_not_null()),
        left_on="time",
        right_on="sale_time",
        by=["account", "terminal"],
        strategy="backward",
        allow_exact_matches=False,
        check_sortedness=False,  # both sides are sorted by time above
    )
    both = pl.concat(
        [
            by_ref.filter(pl.col("sale_id").is_not_null()).select(
                "id", "time", "terminal", "currency", "refund", "sale_id", "sale", "sale_cur"
            ),
            by_card.filter(pl.col("sale_id").is_not_null()).select(
                "id", "time", "terminal", "currency", "refund", "sale_id", "sale", "sale_cur"
            ),
        ]
    )
    bad = both.filter(
        (pl.col("currency") == pl.col("sale_cur")) & (pl.col("refund") > pl.col("sale"))
    ).sort("time", "id")
    out = []
    for rid, _time, term, cur, refund, sid, sale, _scur in bad.iter_rows():
        msg = t(
            "find.refund_exceeds_sale",
            lang,
            refund_id=rid,
            refund=f"{format_minor(refund, cur)} {cur}",
            terminal=term or "?",
            sale_id=sid,
            sale=f"{format_minor(sale, cur)} {cur}",
        )
        out.append(_finding("refund_exceeds_sale", msg, [rid, sid], "high", terminal=term))
    return out


def _outside(start: dt.time, end: dt.time) -> pl.Expr:
    tod = pl.col("time").dt.time()
    # A start after the end means open overnight, e.g. 18:00-02:00.
    inside = ((tod >= start) & (tod < end)) if start < end else ((tod >= start) | (tod < end))
    return pl.col("has_clock").fill_null(True) & pl.col("time").is_not_null() & ~inside


def _outside_hours(
    matches: pl.DataFrame,
    pos: pl.DataFrame,
    bank: pl.DataFrame,
    hours: str,
    lang: str,
    statement: bool = False,
) -> list[dict[str, Any]]:
    start, end = parse_hours(hours)
    matched_bank = matches["bank_id"].drop_nulls() if "bank_id" in matches.columns else None
    sides = [
        ("pos", pos.filter(pl.col("kind") == "sale"), "find.outside_hours_pos"),
        (
            "bank",
            bank.filter(
                (pl.col("kind") == "debit")
                & (
                    ~pl.col("id").is_in(matched_bank.implode())
                    if matched_bank is not None
                    else pl.lit(True)
                )
            ),
            "find.outside_hours_bank",
        ),
    ]
    if statement:
        # A statement's debits are the shop's own payments (standing orders run at night).
        sides = sides[:1]
    out = []
    for side, frame, key in sides:
        if frame.height == 0:
            continue
        hits = frame.filter(_outside(start, end)).sort("time", "id")
        if hits.height == 0:
            continue
        ids = hits["id"].head(FIRST_IDS).to_list()
        more = "" if hits.height <= len(ids) else t("find.and_more", lang)
        msg = t(key, lang, n=hits.height, hours=hours, ids=", ".join(ids) + more)
        out.append(_finding("outside_hours", msg, ids, "high", side=side, count=hits.height))
    return out


def find(
    discrepancies: pl.DataFrame,
    matches: pl.DataFrame,
    pos: pl.DataFrame,
    bank: pl.DataFrame,
    settings: Settings,
) -> list[dict[str, Any]]:
    """The run's findings, most urgent first, as plain dicts for summary.json.

    `pos` and `bank` are the canonical frames the matcher saw (id, time, has_clock, amount,
    currency, account, reference, kind, terminal, ...)."""
    lang = settings.lang
    found = _terminal_currency(discrepancies, lang)
    found += _refund_exceeds_sale(pos, lang)
    if settings.shop_hours:
        statement = settings.bank_is_statement is True
        found += _outside_hours(matches, pos, bank, settings.shop_hours, lang, statement)
    found += _terminal_clock(matches, pos, bank, lang)
    return found
