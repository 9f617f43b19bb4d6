"""One disputed transfer: find its records on both sides, what recon decided about each, and
why the nearest candidates of an unmatched record did not match.

The lookup reads only what it needs: a filter on the raw columns is pushed into the scan (for
Parquet, polars skips row groups), and the decisions come from a previous run's output folder
when one is given (`--results`), so a large day is not reconciled again.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from recon.classify import classify, is_statement
from recon.config import Settings
from recon.errors import UsageError
from recon.i18n import sev_label, t, type_label
from recon.load import load_side
from recon.match import match
from recon.money import digits_expr, format_minor, parse_amount

_TIME_SLACK = timedelta(minutes=30)

# A sentence for people, kept as its catalog key (recon.i18n "case.*") and its values, so the
# case can be told in any language: the JSON keeps the English, the case file the chosen one.
Phrase = tuple[str, dict[str, str]]


def say(phrase: Phrase, lang: str) -> str:
    """One phrase in `lang`; a discrepancy type and a severity get their words next to them."""
    key, values = phrase
    if lang != "en":
        values = dict(values)
        if "type" in values:
            values["type"] = type_label(values["type"], lang)
        if "severity" in values:
            values["severity"] = sev_label(values["severity"], lang)
        if "positions" in values:
            values["positions"] = values["positions"].replace(", ", "、")
    return t(key, lang, **values)


def say_all(phrases: list[Phrase], lang: str) -> str:
    """Several phrases in `lang`, joined the way the language joins them."""
    return t("case.sep", lang).join(say(p, lang) for p in phrases)


@dataclass(frozen=True)
class Query:
    reference: str | None = None
    record_id: str | None = None
    amount: str | None = None
    day: date | None = None
    last4: str | None = None
    terminal: str | None = None
    at: time | None = None

    def describe(self, lang: str = "en") -> str:
        parts = []
        for key, value in (
            ("reference", self.reference),
            ("id", self.record_id),
            ("amount", self.amount),
            ("date", self.day),
            ("last4", self.last4),
            ("terminal", self.terminal),
            ("time", self.at),
        ):
            if value is not None:
                parts.append(t(f"case.q.{key}", lang, value=value))
        return t("case.list_sep", lang).join(parts)


@dataclass(frozen=True)
class Case:
    query: Query
    records: list[dict[str, Any]]  # the timeline, oldest first, with recon's decision
    candidates: list[dict[str, Any]]  # nearest other-side records of unmatched ones, and why not
    sources: list[dict[str, Any]]  # input files with their sha256
    decided_by: str
    history: list[dict[str, Any]] = field(default_factory=list)
    contacts: dict[str, str] = field(default_factory=dict)
    # The language of the case file; `decided_by` as a phrase, to be told in it.
    lang: str = "en"
    decided_by_phrase: Phrase = ("case.decided.recomputed", {})


def _validate(q: Query) -> None:
    if not (q.reference or q.record_id or q.amount):
        raise UsageError("say what to look for: --reference, --id, or --amount with --date")
    if q.amount and not q.day:
        raise UsageError("--amount needs --date (the day of the sale)")


def _seed_prefilter(q: Query, window: timedelta):
    """A cheap filter on the raw columns that keeps every row the query could mean."""

    def build(cols: dict[str, str], schema: pl.Schema) -> pl.Expr | None:
        if q.reference and "reference" in cols:
            return pl.col(cols["reference"]).cast(pl.String).str.contains(q.reference, literal=True)
        if q.record_id and "id" in cols:
            return pl.col(cols["id"]).cast(pl.String).str.contains(q.record_id, literal=True)
        if q.day and "time" in cols and isinstance(schema[cols["time"]], pl.Datetime | pl.Date):
            lo = datetime.combine(q.day, time()) - timedelta(days=1)
            hi = datetime.combine(q.day, time()) + window + timedelta(days=2)
            t = pl.col(cols["time"])
            if isinstance(schema[cols["time"]], pl.Datetime) and schema[cols["time"]].time_zone:
                t = t.dt.replace_time_zone(None)
            return t.cast(pl.Datetime("us")).is_between(lo, hi)
        return None

    return build


def _card(account: pl.Expr) -> pl.Expr:
    """The digits a masked and a full card number both show: first 6 and last 4."""
    digits = account.cast(pl.String).str.replace_all(r"[\s-]", "")
    return pl.concat_str(digits.str.slice(0, 6), pl.lit("/"), digits.str.slice(-4))


def _related_prefilter(refs: list[str], cards: list[str], lo: datetime, hi: datetime):
    """Rows sharing a reference with the seeds, or of the same card in the time range."""

    def build(cols: dict[str, str], schema: pl.Schema) -> pl.Expr | None:
        conds = []
        if refs and "reference" in cols:
            ref = pl.col(cols["reference"]).cast(pl.String).str.strip_chars().str.strip_chars("`'")
            conds.append(ref.is_in(refs))
        if "time" not in cols or not isinstance(schema[cols["time"]], pl.Datetime | pl.Date):
            return None  # text times: every row must be read
        t = pl.col(cols["time"])
        if isinstance(schema[cols["time"]], pl.Datetime) and schema[cols["time"]].time_zone:
            t = t.dt.replace_time_zone(None)
        # Every row in the range: rows of the same amount on any card are the candidates the
        # residual and duplicate passes weigh (raw amounts are text, so not filtered here).
        conds.append(t.cast(pl.Datetime("us")).is_between(lo, hi))
        return pl.any_horizontal(conds)

    return build


def _seed_filter(q: Query, side: str, window: timedelta) -> pl.Expr:
    cond = pl.lit(True)
    if q.reference:
        cond &= pl.col("reference") == q.reference
    if q.record_id:
        cond &= pl.col("id") == q.record_id
    if q.amount:
        # The same text is a different number of minor units per currency (JPY 1235, CNY 123500).
        by_digits = {}
        for digits, cur in ((0, "JPY"), (2, "CNY"), (3, "KWD"), (4, "CLF")):
            try:
                by_digits[digits] = abs(parse_amount(q.amount, cur))
            except ValueError:
                continue
        wanted = digits_expr(pl.col("currency")).replace_strict(
            by_digits, default=None, return_dtype=pl.Int64
        )
        cond &= pl.col("amount").abs() == wanted
        start = datetime.combine(q.day, time())  # type: ignore[arg-type]
        end = start + timedelta(days=1) + (window if side == "bank" else timedelta())
        cond &= pl.col("time").is_between(start, end, closed="left")
    if q.last4:
        cond &= pl.col("account").str.ends_with(q.last4)
    if q.terminal:
        cond &= pl.col("terminal") == q.terminal
    if q.at and side == "pos":
        at = datetime.combine(q.day or date.today(), q.at)  # type: ignore[arg-type]
        cond &= pl.col("time").is_between(at - _TIME_SLACK, at + _TIME_SLACK)
    return cond


def find_case(
    settings: Settings,
    q: Query,
    results: Path | None = None,
    state: Path | None = None,
) -> Case | None:
    """The case file of one transfer, or None when nothing in the files matches the query."""
    _validate(q)
    m = settings.match
    window = timedelta(days=max(m.window_days, m.late_after_days, m.late_window_days))
    sides = [
        (s, p, prof)
        for s, p, prof in (
            ("pos", settings.pos, settings.pos_profile),
            ("bank", settings.bank, settings.bank_profile),
        )
        if p
    ]
    if not sides:
        raise UsageError("give the files to search: --pos and/or --bank")
    seeds = []
    for side, path, prof in sides:
        loaded = load_side(
            path, side, prof, timezone=settings.timezone, prefilter=_seed_prefilter(q, window)
        )
        seeds.append(
            loaded.frame.filter(_seed_filter(q, side, window)).with_columns(side=pl.lit(side))
        )
    seed = pl.concat(seeds)
    if seed.height == 0:
        return None

    # The neighbourhood: the seeds' references, and everything within the settlement window of
    # them (retries, voids, refunds and settlements that carry no reference).
    refs = [r for r in seed["reference"].drop_nulls().unique().to_list()]
    lo = seed["time"].min() - 2 * window - timedelta(days=1)  # type: ignore[operator]
    hi = seed["time"].max() + 2 * window + timedelta(days=1)  # type: ignore[operator]
    cards = sorted(set(seed.select(_card(pl.col("account"))).to_series().drop_nulls()))
    amounts = sorted(set(seed["amount"].abs().to_list()))
    frames, sources = {}, []
    for side, path, prof in sides:
        loaded = load_side(
            path,
            side,
            prof,
            timezone=settings.timezone,
            prefilter=_related_prefilter(refs, cards, lo, hi),
        )
        if side == "bank" and settings.bank_is_statement is None:
            statement = is_statement(loaded.reader, loaded.profile)
            settings = replace(settings, bank_is_statement=statement)
        # Any amount on the same card (keying errors), and the same amount on any card: the
        # rows that compete for the seeds in every pass, so the decision is the full run's.
        card = _card(pl.col("account"))
        near = pl.col("time").is_between(lo, hi) & (
            card.is_in(cards).fill_null(False) | pl.col("amount").abs().is_in(amounts)
        )
        frames[side] = loaded.frame.filter(pl.col("reference").is_in(refs) | near)
        sources.append(
            {"side": side, "path": loaded.path, "sha256": loaded.sha256, "profile": loaded.profile}
        )
    empty = seeds[0].clear().drop("side")
    pos = frames.get("pos", empty)
    bank = frames.get("bank", empty)

    decided: Phrase
    if results is not None:
        matches, items = _stored_decisions(results, pos, bank)
        decided = ("case.decided.results", {"dir": str(results)})
    else:
        outcome = match(pos, bank, settings.match)
        items, matches = classify(outcome, settings)
        decided = ("case.decided.recomputed", {})
    records = _timeline(pos, bank, matches, items)
    candidates = _candidates(records, pos, bank, settings)
    history = _history(state, [r["id"] for r in records]) if state else []
    return Case(
        q,
        records,
        candidates,
        sources,
        say(decided, "en"),
        history,
        dict(settings.contacts),
        lang=settings.lang,
        decided_by_phrase=decided,
    )


def _stored_decisions(results: Path, pos: pl.DataFrame, bank: pl.DataFrame):
    mpath, dpath = results / "matches.parquet", results / "discrepancies.parquet"
    for p in (mpath, dpath):
        if not p.exists():
            raise UsageError(f"{p}: not found; --results must be the output folder of a run")
    pids, bids = pos["id"].to_list(), bank["id"].to_list()
    matches = (
        pl.scan_parquet(mpath)
        .filter(pl.col("pos_id").is_in(pids) | pl.col("bank_id").is_in(bids))
        .collect()
    )
    ids = pids + bids
    items = (
        pl.scan_parquet(dpath)
        .filter(
            pl.concat_str("pos_ids", "bank_ids", separator=";", ignore_nulls=True)
            .str.split(";")
            .list.eval(pl.element().is_in(ids))
            .list.any()
        )
        .collect()
    )
    return matches, items


def _fmt(minor: int | None, currency: str | None) -> str:
    return "" if minor is None else f"{format_minor(minor, currency)} {currency or ''}".strip()


def _timeline(pos, bank, matches, items) -> list[dict[str, Any]]:
    by_pos = {r["pos_id"]: r for r in matches.iter_rows(named=True)}
    by_bank = {r["bank_id"]: r for r in matches.iter_rows(named=True) if r["bank_id"]}
    flagged: dict[str, list[dict]] = {}
    for it in items.iter_rows(named=True):
        for col in ("pos_ids", "bank_ids"):
            for i in (it[col] or "").split(";"):
                if i:
                    flagged.setdefault(i, []).append(it)
    out = []
    for side, frame in (("pos", pos), ("bank", bank)):
        for r in frame.iter_rows(named=True):
            m = by_pos.get(r["id"]) if side == "pos" else by_bank.get(r["id"])
            decisions: list[Phrase] = []
            partner = None
            if m and m["rule"] == "voided":
                decisions.append(("case.dec.voided", {}))
            elif m:
                partner = m["bank_id"] if side == "pos" else m["pos_id"]
                lag = m["lag_seconds"]
                said = {"partner": partner, "rule": m["rule"]}
                if lag is None:
                    decisions.append(("case.dec.matched", said))
                else:
                    decisions.append(
                        ("case.dec.matched_after", {**said, "days": f"{lag / 86400:.1f}"})
                    )
            for it in flagged.get(r["id"], []):
                decisions.append(
                    (
                        "case.dec.flagged",
                        {"type": it["type"], "severity": it["severity"], "item_id": it["item_id"]},
                    )
                )
            decisions = decisions or [("case.dec.none", {})]
            out.append(
                {
                    "side": side,
                    "id": r["id"],
                    "time": r["time"].isoformat(sep=" ") if r["time"] else None,
                    "kind": r["kind"],
                    "amount": _fmt(r["amount"], r["currency"]),
                    "amount_minor": r["amount"],
                    "currency": r["currency"],
                    "reference": r["reference"],
                    "account": r["account"],
                    "terminal": r["terminal"],
                    "merchant": r["merchant"],
                    "source": r["source"],
                    "line": r["line"],
                    "matched_to": partner,
                    "decision": say_all(decisions, "en"),
                    "decision_phrases": decisions,  # for the case file's language
                    "items": [
                        {
                            k: it.get(k)
                            for k in (
                                "item_id",
                                "type",
                                "severity",
                                "detail",
                                "cause",
                                "suggested_action",
                            )
                        }
                        for it in flagged.get(r["id"], [])
                    ],
                }
            )
    out.sort(key=lambda r: (r["time"] or "", r["side"], r["id"]))
    return out


def _card_diff(a: str | None, b: str | None) -> Phrase | None:
    if not a or not b:
        return None
    ta, tb = a[-4:], b[-4:]
    if not (ta.isdigit() and tb.isdigit()) or ta == tb:
        return None
    positions = [i + 1 for i, (x, y) in enumerate(zip(ta, tb, strict=True)) if x != y]
    return (
        "case.why.card",
        {"positions": ", ".join(map(str, positions)), "theirs": ta, "mine": tb},
    )


def _candidates(records, pos, bank, settings: Settings) -> list[dict[str, Any]]:
    """For each record nothing paid, the nearest records of the other side, and why not."""
    window = settings.match.window_days * 86400
    matched = {r["id"] for r in records if r["matched_to"]} | {
        r["matched_to"] for r in records if r["matched_to"]
    }
    by_side = {"pos": pos.to_dicts(), "bank": bank.to_dicts()}
    out = []
    for r in records:
        if r["matched_to"] or ("case.dec.voided", {}) in r["decision_phrases"]:
            continue
        other = "bank" if r["side"] == "pos" else "pos"
        mine = next(x for x in by_side[r["side"]] if x["id"] == r["id"])
        found = []
        for c in by_side[other]:
            if (c["amount"] < 0) != (mine["amount"] < 0):
                continue
            reasons: list[Phrase] = []
            if c["currency"] != mine["currency"]:
                reasons.append(
                    ("case.why.currency", {"theirs": c["currency"], "mine": mine["currency"]})
                )
            elif c["amount"] != mine["amount"]:
                diff = (
                    c["amount"] - mine["amount"]
                    if other == "bank"
                    else mine["amount"] - c["amount"]
                )
                reasons.append(("case.why.amount", {"diff": _fmt(diff, mine["currency"])}))
            sale, settle = (mine, c) if other == "bank" else (c, mine)
            lag = (settle["time"] - sale["time"]).total_seconds()
            if lag < 0:
                reasons.append(("case.why.early", {"hours": f"{-lag / 3600:.1f}"}))
            elif lag > window:
                days = f"{(lag - window) / 86400:.1f}"
                reasons.append(
                    ("case.why.window", {"window": f"{settings.match.window_days:g}", "days": days})
                )
            card = _card_diff(mine["account"], c["account"])
            if card:
                reasons.append(card)
            if mine["reference"] and c["reference"] and mine["reference"] != c["reference"]:
                reasons.append(
                    ("case.why.reference", {"theirs": c["reference"], "mine": mine["reference"]})
                )
            if c["id"] in matched:
                reasons.append(("case.why.taken", {}))
            found.append((len(reasons), abs(lag), c["id"], reasons or [("case.why.none", {})]))
        for _, _, cid, reasons in sorted(found, key=lambda f: f[:3])[:3]:
            out.append(
                {
                    "record": r["id"],
                    "candidate": cid,
                    "side": other,
                    "why_not": [say(p, "en") for p in reasons],
                    "why_not_phrases": reasons,  # for the case file's language
                }
            )
    return out


def _history(state: Path, ids: list[str]) -> list[dict[str, Any]]:
    from recon.store import Store

    store = Store(state)
    rows = store.db.execute(
        "SELECT r.day, r.run_id, i.type, i.severity, i.status, i.pos_ids, i.bank_ids, "
        "s.resolved_at, s.resolved_by, s.note FROM items i JOIN runs r ON r.run_id = i.run_id "
        "LEFT JOIN resolutions s ON s.item_key = i.item_key "
        "WHERE r.superseded_by IS NULL ORDER BY r.day, r.run_id"
    ).fetchall()
    wanted = set(ids)
    out = []
    for day, run_id, typ, sev, status, pids, bids, at, by, note in rows:
        if wanted & set(f"{pids or ''};{bids or ''}".split(";")):
            out.append(
                {
                    "day": day,
                    "run_id": run_id,
                    "type": typ,
                    "severity": sev,
                    "status": status,
                    "pos_ids": pids,
                    "bank_ids": bids,
                    "resolved": {"at": at, "by": by, "note": note} if at else None,
                }
            )
    return out
