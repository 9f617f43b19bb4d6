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

from recon.classify import classify
from recon.config import Settings
from recon.errors import UsageError
from recon.i18n import sev_label, t, type_label
from recon.load import is_statement, load_side
from recon.match import match
from recon.match.prepare import CARRIED
from recon.money import digits_expr, format_minor, parse_amount

_TIME_SLACK = timedelta(minutes=30)
# Without --results, a day of at most this many records (both files together) is reconciled
# whole, so the case holds the decisions `recon run` makes; a larger one reconciles the records
# around the transfer and what competes with them (pass --results for the day's decisions).
FULL_DAY_ROWS = 100_000

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
    seeds, rows_in_files = [], 0
    for side, path, prof in sides:
        loaded = load_side(
            path, side, prof, timezone=settings.timezone, prefilter=_seed_prefilter(q, window)
        )
        rows_in_files += loaded.rows
        seeds.append(
            loaded.frame.filter(_seed_filter(q, side, window)).with_columns(side=pl.lit(side))
        )
    seed = pl.concat(seeds)
    if seed.height == 0:
        return None

    # Around the seeds (every record the query matches: a repeat purchase or a duplicate is
    # one more seed): their references, and everything within the settlement window of them.
    refs = [r for r in seed["reference"].drop_nulls().unique().to_list()]
    lo = seed["time"].min() - 2 * window - timedelta(days=1)  # type: ignore[operator]
    hi = seed["time"].max() + 2 * window + timedelta(days=1)  # type: ignore[operator]
    cards = sorted(set(seed.select(_card(pl.col("account"))).to_series().drop_nulls()))
    amounts = sorted(set(seed["amount"].abs().to_list()))
    # Related rows: any amount on the same card (keying errors) and the same amount on any card,
    # the rows that compete for the seeds and the candidates of an unpaid record.
    related = pl.col("reference").is_in(refs) | (
        pl.col("time").is_between(lo, hi)
        & (_card(pl.col("account")).is_in(cards).fill_null(False) | _abs_in(amounts))
    )
    whole_day = results is None and len(sides) == 2 and rows_in_files <= FULL_DAY_ROWS
    frames, full, sources = {}, {}, []
    for side, path, prof in sides:
        if whole_day:
            loaded = load_side(path, side, prof, timezone=settings.timezone)
        else:
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
        full[side] = loaded.frame  # the whole day, or every row in the time range
        frames[side] = loaded.frame.filter(related)
        sources.append(
            {"side": side, "path": loaded.path, "sha256": loaded.sha256, "profile": loaded.profile}
        )
    empty = seeds[0].clear().drop("side")
    pos = frames.get("pos", empty)
    bank = frames.get("bank", empty)

    decided: Phrase
    if results is not None:
        mpath, dpath = results / "matches.parquet", results / "discrepancies.parquet"
        for p in (mpath, dpath):
            if not p.exists():
                raise UsageError(f"{p}: not found; --results must be the output folder of a run")
        matches, items = _decisions(pl.scan_parquet(mpath), pl.scan_parquet(dpath), pos, bank)
        decided = ("case.decided.results", {"dir": str(results)})
    elif whole_day:
        # A small day is reconciled whole, as `recon run` does: the decisions are the day's.
        outcome = match(*_as_run(full["pos"], full["bank"], state), settings.match)
        all_items, all_matches = classify(outcome, settings)
        matches, items = _decisions(all_matches.lazy(), all_items.lazy(), pos, bank)
        decided = ("case.decided.full", {"rows": str(rows_in_files)})
    else:
        # A large day: the related rows and everything that competes with them in any pass
        # (the same card or amount as any of them) are reconciled again.
        near = _competitors(full, frames, related, lo, hi)
        near_pos, near_bank = _as_run(near.get("pos", empty), near.get("bank", empty), state)
        outcome = match(near_pos, near_bank, settings.match)
        items, matches = classify(outcome, settings)
        decided = ("case.decided.recomputed", {})

    # The records the case shows: the seeds, their reference, their card in the days around
    # (without a card, the same amount), and every record recon paired or flagged with these.
    shown = pl.col("reference").is_in(refs) | (
        pl.col("time").is_between(lo, hi)
        & pl.when(pl.col("account").is_null() | pl.lit(not cards))
        .then(_abs_in(amounts))
        .otherwise(_card(pl.col("account")).is_in(cards))
        .fill_null(False)
    )
    seed_ids = {s: set(f["id"]) for s, f in zip(("pos", "bank"), _split(seed), strict=True)}
    show = {
        "pos": set(pos.filter(shown)["id"]) | seed_ids["pos"],
        "bank": set(bank.filter(shown)["id"]) | seed_ids["bank"],
    }
    _add_partners(show, matches, items)
    shown_pos = full.get("pos", empty).filter(pl.col("id").is_in(sorted(show["pos"])))
    shown_bank = full.get("bank", empty).filter(pl.col("id").is_in(sorted(show["bank"])))
    records = _timeline(shown_pos, shown_bank, matches, items)
    taken = set(matches["pos_id"].drop_nulls()) | set(matches["bank_id"].drop_nulls())
    candidates = _candidates(
        records, _union(pos, shown_pos), _union(bank, shown_bank), settings, taken
    )
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


def _abs_in(amounts: list[int]) -> pl.Expr:
    return pl.col("amount").abs().is_in(amounts)


def _union(a: pl.DataFrame, b: pl.DataFrame) -> pl.DataFrame:
    return pl.concat([a, b]).unique("id", keep="first", maintain_order=True)


def _split(seed: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    return seed.filter(pl.col("side") == "pos"), seed.filter(pl.col("side") == "bank")


def _competitors(
    loaded: dict[str, pl.DataFrame],
    frames: dict[str, pl.DataFrame],
    related: pl.Expr,
    lo: datetime,
    hi: datetime,
) -> dict[str, pl.DataFrame]:
    """The related rows (`frames`) and, in the time range, every row of `loaded` of the same
    card or amount as one of them: what competes with a related row in the residual, keying and
    duplicate passes."""
    rows = pl.concat(list(frames.values()))
    cards = rows.select(_card(pl.col("account"))).to_series().drop_nulls().unique().to_list()
    amounts = rows["amount"].abs().unique().to_list()
    wider = related | (
        pl.col("time").is_between(lo, hi)
        & (_card(pl.col("account")).is_in(cards).fill_null(False) | _abs_in(amounts))
    )
    return {side: frame.filter(wider) for side, frame in loaded.items()}


def _add_partners(show: dict[str, set[str]], matches: pl.DataFrame, items: pl.DataFrame) -> None:
    """Add the records paired with or flagged together with a shown one (the settlement of a
    sale on another card, a duplicate's copy)."""
    for pid, bid in matches.select("pos_id", "bank_id").iter_rows():
        if pid in show["pos"] or bid in show["bank"]:
            show["pos"].add(pid)
            if bid:
                show["bank"].add(bid)
    for pids, bids in items.select("pos_ids", "bank_ids").iter_rows():
        p, b = _id_set(pids), _id_set(bids)
        if p & show["pos"] or b & show["bank"]:
            show["pos"] |= p
            show["bank"] |= b


def _id_set(ids: str | None) -> set[str]:
    return {i for i in (ids or "").split(";") if i}


def _decisions(
    matches: pl.LazyFrame, items: pl.LazyFrame, pos: pl.DataFrame, bank: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The pairs and items of a run that touch the records of `pos` and `bank`."""
    pids, bids = pos["id"].to_list(), bank["id"].to_list()
    ids = pids + bids
    return (
        matches.filter(pl.col("pos_id").is_in(pids) | pl.col("bank_id").is_in(bids)).collect(),
        items.filter(
            pl.concat_str("pos_ids", "bank_ids", separator=";", ignore_nulls=True)
            .str.split(";")
            .list.eval(pl.element().is_in(ids))
            .list.any()
        ).collect(),
    )


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


def _candidates(records, pos, bank, settings: Settings, matched: set[str]) -> list[dict[str, Any]]:
    """For each record nothing paid, the nearest records of the other side (of the related
    rows: the same amount or the same card), and why not; `matched`: the ids recon paired.

    Candidates are ranked in one polars plan (how many reasons against, then nearest in time);
    only the best three of each record get their reasons in words."""
    window = settings.match.window_days * 86400
    frames = {"pos": pos, "bank": bank}
    cols = ["id", "time", "amount", "currency", "account", "reference"]
    best: dict[tuple[str, str], list[tuple[dict, dict, float]]] = {}
    for side, other in (("pos", "bank"), ("bank", "pos")):
        wanted = [
            r["id"]
            for r in records
            if r["side"] == side
            and not r["matched_to"]
            and ("case.dec.voided", {}) not in r["decision_phrases"]
        ]
        if not wanted or frames[other].height == 0:
            continue
        mine = frames[side].select(cols).filter(pl.col("id").is_in(wanted))
        theirs = frames[other].select(cols).rename(lambda c: c + "_c")
        sale, settled = ("", "_c") if other == "bank" else ("_c", "")
        ranked = (
            mine.join(theirs, how="cross")
            .filter((pl.col("amount") < 0) == (pl.col("amount_c") < 0))
            .with_columns(
                lag=(pl.col("time" + settled) - pl.col("time" + sale)).dt.total_microseconds() / 1e6
            )
            .with_columns(
                misses=(_against("currency") | _against("amount")).cast(pl.Int32)
                + ((pl.col("lag") < 0) | (pl.col("lag") > window)).cast(pl.Int32)
                + _last4_differs().cast(pl.Int32)
                + _against("reference").cast(pl.Int32)
                + pl.col("id_c").is_in(list(matched)).cast(pl.Int32),
                nearness=pl.col("lag").abs(),
            )
            .sort("id", "misses", "nearness", "id_c")
            # The words of the nearest three only: a look-alike day has thousands of candidates.
            .group_by("id", maintain_order=True)
            .head(3)
        )
        for row in ranked.iter_rows(named=True):
            me = {c: row[c] for c in cols}
            them = {c: row[c + "_c"] for c in cols}
            best.setdefault((side, row["id"]), []).append((me, them, row["lag"]))
    out = []
    for r in records:
        other = "bank" if r["side"] == "pos" else "pos"
        for me, them, lag in best.get((r["side"], r["id"]), []):
            reasons = _why_not(me, them, other, lag, settings, matched)
            out.append(
                {
                    "record": r["id"],
                    "candidate": them["id"],
                    "side": other,
                    "why_not": [say(p, "en") for p in reasons],
                    "why_not_phrases": reasons,  # for the case file's language
                }
            )
    return out


def _against(col: str) -> pl.Expr:
    """The record and the candidate differ in `col`."""
    a, b = pl.col(col), pl.col(col + "_c")
    if col == "reference":  # (an empty reference says nothing)
        present = (a.str.len_chars() > 0) & (b.str.len_chars() > 0)
        return (present & (a != b)).fill_null(False)
    return a.ne_missing(b)


def _last4_differs() -> pl.Expr:
    """The cards' last four digits differ (as _card_diff says)."""
    a = pl.col("account").str.slice(-4)
    b = pl.col("account_c").str.slice(-4)
    digits = a.str.contains(r"^\d{4}$") & b.str.contains(r"^\d{4}$")
    return (digits & (a != b)).fill_null(False)


def _why_not(
    mine: dict, c: dict, other: str, lag: float, settings: Settings, matched: set[str]
) -> list[Phrase]:
    """Why the record `c` of the other side did not pair with `mine`."""
    window = settings.match.window_days * 86400
    reasons: list[Phrase] = []
    if c["currency"] != mine["currency"]:
        reasons.append(("case.why.currency", {"theirs": c["currency"], "mine": mine["currency"]}))
    elif c["amount"] != mine["amount"]:
        diff = c["amount"] - mine["amount"] if other == "bank" else mine["amount"] - c["amount"]
        reasons.append(("case.why.amount", {"diff": _fmt(diff, mine["currency"])}))
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
    return reasons or [("case.why.none", {})]


def _as_run(
    pos: pl.DataFrame, bank: pl.DataFrame, state: Path | None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Both sides as the run that made the day's decisions matched them: with a state file, a
    scheduled run's, which holds the weakest pairing to a stricter standard (its records say
    whether they were carried, CARRIED: here, as on the day they came, none)."""
    if state is None:
        return pos, bank
    fresh = pl.lit(False).alias(CARRIED)
    return pos.with_columns(fresh), bank.with_columns(fresh)


def _history(state: Path, ids: list[str]) -> list[dict[str, Any]]:
    from recon.store import Store

    wanted = pl.Series(ids, dtype=pl.String).implode()

    def mentions(column: str) -> pl.Expr:
        found = pl.col(column).str.split(";").list.eval(pl.element().is_in(wanted)).list.any()
        return found.fill_null(False)

    with Store(state) as store:
        items = store.kept_items(mentions("pos_ids") | mentions("bank_ids"))
        sql = "SELECT item_key, resolved_at, resolved_by, note FROM resolutions"
        done = store.db.execute(sql).fetchall()
    items = items.filter(~pl.col("superseded"))
    names = {"at": pl.String(), "by": pl.String(), "note": pl.String()}
    schema = {"item_key": pl.String(), **names}
    resolved = pl.DataFrame(done, schema=schema, orient="row")
    rows = (
        items.join(resolved, on="item_key", how="left", maintain_order="left")
        .sort("day", "run_id", maintain_order=True)
        .select("day", "run_id", "type", "severity", "status", "pos_ids", "bank_ids", *names)
        .rows()
    )
    out = []
    for day, run_id, typ, sev, status, pids, bids, at, by, note in rows:
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
