"""report.html: one self-contained page (inline CSS and a small inline script, no network).

Everything shown comes from the RunResult as it is; money is displayed as the plain decimal
strings the classifier wrote, or, for aggregates, formatted from summed integer minor units with
`format_minor`. Every value goes through `html.escape`. The page has no clock and no timings in
it, so the same result renders the same bytes.

Charts are inline SVG drawn here from polars aggregates (no JavaScript, no network). Every bar
carries its value as text and a <title>, so they read without colour or hovering.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from recon import __version__
from recon.config import SEVERITIES, TYPES
from recon.i18n import t, type_label
from recon.money import format_minor
from recon.report.deposits import (
    DEPOSIT_OK,
    DEPOSIT_PROBLEMS,
    deposit_status,
    deposits_in_order,
    deposits_line,
    settlement_lines,
)
from recon.result import RunResult

_CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;margin:.4em 0}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f2f2f2}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.items th,table.deposits th{cursor:pointer}code{font-size:.92em;word-break:break-all}
.sev-high{background:#fde2e1}.sev-medium{background:#fff4d6}.sev-low{background:#e4f3fb}
.badge{font-weight:bold}.sev-high .badge{color:#b3261e}.sev-medium .badge{color:#8a6100}
.sev-low .badge{color:#0b6285}
.cards{display:flex;flex-wrap:wrap;gap:.6em}.card{border:1px solid #ccc;padding:.4em .8em}
.card b{display:block;font-size:1.3em}.muted{color:#666}
.charts{display:flex;flex-wrap:wrap;gap:1em 2em}.chart{margin:0;max-width:100%}
.chart figcaption{font-weight:bold;margin:.3em 0}.chart svg{max-width:100%;height:auto}
.chart text{font:12px system-ui,-apple-system,"Segoe UI",sans-serif;fill:#222}
.flag{background:#fde2e1}details summary{cursor:pointer;white-space:nowrap}
table.deposits code{display:block;max-width:36em;word-break:normal;overflow-wrap:anywhere}
.chart .n{fill:#2f6fad}.chart .m{fill:#d9822b}.chart .axis{stroke:#999}
"""

# Column headers sort the items and the deposits tables (numeric cells by value); the filter box
# hides items rows that do not contain its text. With scripts off the box stays hidden and every
# row is shown.
_JS = """
window.onerror=function(m,s,l){var e=document.getElementById('js-errors');
if(e)e.textContent+=m+' (line '+l+')\\n';};
(function(){
var sortable=function(t){var b=t.tBodies[0];
t.querySelectorAll('th').forEach(function(th,i){var asc=true;
th.addEventListener('click',function(){
var key=function(r){var c=r.cells[i];
return c.dataset.sort!==undefined?c.dataset.sort:c.textContent;};
var num=function(s){return s!==''&&!isNaN(s);};
var rows=Array.from(b.rows).sort(function(x,y){var a=key(x),c=key(y);
var d=num(a)&&num(c)?Number(a)-Number(c):a.localeCompare(c);return asc?d:-d;});
asc=!asc;rows.forEach(function(r){b.appendChild(r);});});});};
var d=document.getElementById('deposits');if(d)sortable(d);
var t=document.getElementById('items');if(!t)return;var b=t.tBodies[0];
var f=document.getElementById('filter');f.hidden=false;
f.addEventListener('input',function(){var q=f.value.toLowerCase();
for(var r of b.rows){r.hidden=q&&r.textContent.toLowerCase().indexOf(q)<0;}});
sortable(t);
})();
"""

_SEV_RANK = {s: str(i) for i, s in enumerate(reversed(SEVERITIES))}  # high 0, medium 1, low 2

_ITEM_COLUMNS: tuple[tuple[str, str], ...] = (
    ("item_id", "Item"),
    ("severity", "Severity"),
    ("type", "Type"),
    ("pos_ids", "POS ids"),
    ("bank_ids", "Bank ids"),
    ("pos_amount", "POS amount"),
    ("bank_amount", "Bank amount"),
    ("difference", "Difference"),
    ("currency", "Currency"),
    ("reference", "Reference"),
    ("terminal", "Terminal"),
    ("batch", "Batch"),
    ("trace", "Trace"),
    ("time", "Time"),
    ("detail", "Detail"),
    ("cause", "Probable cause"),
    ("suggested_action", "Suggested action"),
)
_NUMERIC = {"pos_amount", "bank_amount", "difference"}
_OPTIONAL = {"batch", "trace"}


def _e(value: Any) -> str:
    return "" if value is None else html.escape(str(value))


def _money(amounts: dict[str, str] | None) -> str:
    """'18.00 CNY, 5 JPY' from a {currency: amount} dict; '0' when empty."""
    if not amounts:
        return "0"
    return ", ".join(f"{_e(v)} {_e(c)}" for c, v in amounts.items())


def _table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    numeric: Sequence[int] = (),
    row_class: Sequence[str] = (),
) -> str:
    """A table from already-escaped cell texts; columns at `numeric` are right-aligned."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        (f'<tr class="{_e(row_class[n])}">' if n < len(row_class) else "<tr>")
        + "".join(
            f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>\n"
        for n, row in enumerate(rows)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>\n{body}</tbody></table>\n"


def _at_risk_by_severity(df: pl.DataFrame) -> dict[str, dict[str, str]]:
    """Money at risk per severity and currency, from the items' integer minor units."""
    sums = (
        df.filter(pl.col("currency").is_not_null())
        .group_by("severity", "currency")
        .agg(pl.col("at_risk_minor").sum())
        .sort("severity", "currency")
    )
    out: dict[str, dict[str, str]] = {}
    for sev, cur, minor in sums.iter_rows():
        out.setdefault(sev, {})[cur] = format_minor(minor, cur)
    return out


def _headline(result: RunResult) -> str:
    s = result.summary
    matched = s.get("matched", {})
    lang = result.settings.lang
    cards = [
        (t("html.pos_rows", lang), _e(result.pos.rows)),
        (t("html.bank_rows", lang), _e(result.bank.rows)),
        (t("html.matched", lang), _e(matched.get("pairs", 0))),
        (t("html.voided", lang), _e(matched.get("voided", 0))),
        *(
            [(t("html.in_deposits", lang), _e(matched["in_deposits"]))]
            if matched.get("in_deposits")
            else []
        ),
        (t("html.discrepancies", lang), _e(s.get("discrepancies", {}).get("total", 0))),
        (t("html.at_risk", lang), _money(s.get("money_at_risk"))),
        (t("html.rejected", lang), _e(s.get("rejected", {}).get("total", 0))),
    ]
    body = "".join(f'<div class="card">{label}<b>{value}</b></div>' for label, value in cards)
    return f'<div class="cards">{body}</div>\n'


def _counts(result: RunResult) -> str:
    d = result.summary.get("discrepancies", {})
    by_type = d.get("by_type", {})
    by_sev = d.get("by_severity", {})
    lang = result.settings.lang
    type_rows = [
        (
            _e(type_label(typ, lang)),
            _e(by_type.get(typ, {}).get("count", 0)),
            _money(by_type.get(typ, {}).get("at_risk")),
        )
        for typ in TYPES
    ]
    type_rows.append(
        (
            f"<b>{_e(t('rep.total', lang))}</b>",
            f"<b>{_e(d.get('total', 0))}</b>",
            _money(result.summary.get("money_at_risk")),
        )
    )
    sev_money = _at_risk_by_severity(result.discrepancies)
    sev_rows = [
        (f'<span class="badge">{_e(s)}</span>', _e(by_sev.get(s, 0)), _money(sev_money.get(s)))
        for s in reversed(SEVERITIES)
    ]
    count, at_risk = t("html.count", lang), t("html.at_risk", lang)
    return (
        f"<h2>{_e(t('html.h_by_type', lang))}</h2>\n"
        + _table((t("html.type", lang), count, at_risk), type_rows, numeric=(1, 2))
        + f"<h2>{_e(t('html.h_by_sev', lang))}</h2>\n"
        + _table(
            (t("html.severity", lang), count, at_risk),
            sev_rows,
            numeric=(1, 2),
            row_class=[f"sev-{s}" for s in reversed(SEVERITIES)],
        )
    )


# A page with hundreds of thousands of rows is unusable and slow to write; the files hold them all.
MAX_ROWS = 2000


def _cap_note(total: int, what: str, file: str, lang: str = "en") -> str:
    if total <= MAX_ROWS:
        return ""
    if lang == "en":
        return (
            f'<p class="muted">Showing the first {MAX_ROWS} of {total} {what} '
            f"(most severe first); <code>{file}</code> holds them all.</p>\n"
        )
    what = t("html.cap_items", lang) if what == "items" else t("html.cap_rejected", lang)
    note = t("html.cap_note", lang, shown=MAX_ROWS, total=total, what=_e(what), file=_e(file))
    return f'<p class="muted">{note}</p>\n'


def _items(df: pl.DataFrame, lang: str = "en", total: int | None = None) -> str:
    """The first MAX_ROWS items of `df`; `total` the day's items when `df` holds only the
    first ones (RunResult.item_rows)."""
    total = df.height if total is None else total
    if total == 0:
        return f"<p>{_e(t('html.none', lang))}</p>\n"
    note = _cap_note(total, "items", "discrepancies.csv", lang)
    df = df.head(MAX_ROWS).with_columns(
        time=pl.coalesce("pos_time", "bank_time").dt.strftime("%Y-%m-%d %H:%M:%S")
    )
    # Batch and trace numbers only where the inputs carried some.
    columns = [
        (c, label)
        for c, label in _ITEM_COLUMNS
        if c not in _OPTIONAL or (c in df.columns and df[c].null_count() < df.height)
    ]
    names = [c for c, _ in columns]
    head = "".join(
        f'<th title="sort">{_e(label if lang == "en" else t("html.c." + c, lang))}</th>'
        for c, label in columns
    )
    rows = []
    for r in df.select(*names, "bank_currency").iter_rows(named=True):
        cells = []
        for c in names:
            v = r[c]
            if c == "severity":
                rank = _SEV_RANK.get(v, "9")
                cells.append(f'<td data-sort="{rank}"><span class="badge">{_e(v)}</span></td>')
            elif c in _NUMERIC:
                cells.append(f'<td class="num">{_e(v)}</td>')
            elif c == "currency" and r["bank_currency"] not in (None, v):
                bank = t("rep.bank", lang)
                cells.append(f"<td>{_e(v)} ({bank} {_e(r['bank_currency'])})</td>")
            elif c == "type" and lang != "en":
                cells.append(f"<td>{_e(type_label(v, lang))}</td>")
            elif c == "pos_ids" and v and v.count(";") >= _SALES_FOLDED:
                # a deposit's item names every sale it paid: folded like the deposits table
                cells.append(_sales_cell(v, lang))
            else:
                cells.append(f"<td>{_e(v)}</td>")
        rows.append(f'<tr class="sev-{_e(r["severity"])}">{"".join(cells)}</tr>\n')
    filt, hint = _e(t("html.filter", lang)), _e(t("html.sort_hint", lang))
    return note + (
        f'<p><input id="filter" type="search" placeholder="{filt}" hidden '
        f'aria-label="{filt}"> <span class="muted">{hint}</span></p>\n'
        f'<table class="items" id="items"><thead><tr>{head}</tr></thead><tbody>\n'
        f"{''.join(rows)}</tbody></table>\n"
    )


def _rejected(df: pl.DataFrame, lang: str = "en") -> str:
    if df.height == 0:
        return f"<p>{_e(t('html.no_rejected', lang))}</p>\n"
    note = _cap_note(df.height, "rejected rows", "rejected.csv", lang)
    from recon.reasons import translate_reasons

    df = translate_reasons(df.head(MAX_ROWS), lang)  # rejected.csv keeps the English
    rows = (
        (_e(side), _e(line), _e(reason), f"<code>{_e(raw)}</code>")
        for side, line, reason, raw in df.select("side", "line", "reason", "raw").iter_rows()
    )
    heads = tuple(t(f"html.{k}", lang) for k in ("side", "line", "reason", "raw"))
    return note + _table(heads, rows, numeric=(1,))


def _inputs(result: RunResult) -> str:
    rows = [
        (
            _e(s.side),
            f"<code>{_e(s.path)}</code>",
            f"<code>{_e(s.sha256)}</code>",
            _e(s.profile),
            _e(s.rows),
            _e(s.loaded),
            _e(s.rejected),
        )
        for s in (result.pos, result.bank)
    ]
    lang = result.settings.lang
    headers = (
        t("html.side", lang),
        t("html.path", lang),
        "SHA-256",
        t("html.profile", lang),
        t("html.rows", lang),
        t("html.loaded", lang),
        t("html.rejected", lang) if lang != "en" else "Rejected",
    )
    return _table(headers, rows, numeric=(4, 5, 6))


# --- charts: inline SVG from polars aggregates ----------------------------------------------

_W = 720  # viewBox width of every chart
_LABEL_W = 170  # room for the group names of horizontal bars
_BAR_W = 180  # the longest bar of each kind
_ROW_H = 16
TOP_N = 10
# Settlement lag buckets: (label, lower bound in seconds, inclusive); the last one is open.
_LAG_BUCKETS: tuple[tuple[str, int], ...] = (
    ("< 1 h", 0),
    ("1-6 h", 3600),
    ("6-12 h", 6 * 3600),
    ("12-24 h", 12 * 3600),
    ("1-2 d", 86400),
    ("2-3 d", 2 * 86400),
    ("3-7 d", 3 * 86400),
    (">= 7 d", 7 * 86400),
)


def _n(x: float) -> str:
    """A pixel coordinate as short, stable text."""
    return f"{x:.1f}".removesuffix(".0")


def _items_word(n: int, lang: str = "en") -> str:
    if lang == "en":
        return f"{n} item" if n == 1 else f"{n} items"
    return t("chart.item_one", lang, n=n) if n == 1 else t("chart.item_many", lang, n=n)


def _lag_label(label: str, lang: str) -> str:
    """A settlement-lag bucket label ("1-6 h", ">= 7 d") in `lang`."""
    if lang == "en":
        return label
    span, unit = label.rsplit(" ", 1)
    units = {"h": t("chart.unit_hours", lang), "d": t("chart.unit_days", lang)}
    return f"{span.replace('>=', '≥')} {units[unit]}"


def _svg(key: str, title: str, height: int, body: str, caption: str = "") -> str:
    """A figure with a caption and an <svg> whose <title> names the chart for screen readers."""
    note = f'<p class="muted">{caption}</p>' if caption else ""
    return (
        f'<figure class="chart" id="chart-{_e(key)}"><figcaption>{_e(title)}</figcaption>'
        f'<svg role="img" aria-labelledby="t-{_e(key)}" '
        f'width="{_W}" height="{height}" viewBox="0 0 {_W} {height}">'
        f'<title id="t-{_e(key)}">{_e(title)}</title>\n{body}</svg>{note}</figure>\n'
    )


def _group_counts(df: pl.DataFrame, by: str, lang: str = "en") -> tuple[pl.DataFrame, pl.DataFrame]:
    """(items per group, money at risk in minor units per group and currency), nulls as '(none)'."""
    none = "(none)" if lang == "en" else t("chart.none_group", lang)
    df = df.with_columns(pl.col(by).cast(pl.String).fill_null(none).alias("_g"))
    counts = df.group_by("_g").agg(n=pl.len())
    money = (
        df.filter(pl.col("currency").is_not_null())
        .group_by("_g", "currency")
        .agg(minor=pl.col("at_risk_minor").sum())
        .sort("_g", "currency")
    )
    return counts, money


def _money_map(money: pl.DataFrame) -> dict[str, dict[str, int]]:
    """{group: {currency: minor}} from a small aggregate frame."""
    out: dict[str, dict[str, int]] = {}
    for g, cur, minor in money.select("_g", "currency", "minor").iter_rows():
        out.setdefault(g, {})[cur] = int(minor or 0)
    return out


def _fmt_money(m: dict[str, int]) -> str:
    return ", ".join(f"{format_minor(v, c)} {c}" for c, v in sorted(m.items())) or "0"


def _hbars(
    key: str,
    title: str,
    groups: Sequence[str],
    counts: dict[str, int],
    money: dict[str, dict[str, int]],
    caption: str = "",
    lang: str = "en",
) -> str:
    """Horizontal bars: one row per group with an item-count bar and a money bar per currency.

    Money bars are scaled within their currency (amounts in different currencies are never
    compared); their labels are the exact sums formatted from minor units.
    """
    currencies = sorted({c for m in money.values() for c in m})
    max_n = max([counts.get(g, 0) for g in groups] + [1])
    max_m = {c: max([abs(money.get(g, {}).get(c, 0)) for g in groups] + [1]) for c in currencies}
    row_h = _ROW_H * max(1, len(currencies)) + 6
    x0, x1 = _LABEL_W, _LABEL_W + _BAR_W + 50
    items_head = "items" if lang == "en" else _e(t("chart.items", lang))
    money_head = "money at risk" if lang == "en" else _e(t("chart.money_at_risk", lang))
    head = (
        f'<text x="{x0}" y="12">{items_head}</text>'
        + (f'<text x="{x1}" y="12">{money_head}</text>' if currencies else "")
        + "\n"
    )
    rows = []
    for i, g in enumerate(groups):
        y = 20 + i * row_h
        n = counts.get(g, 0)
        m = money.get(g, {})
        if lang == "en":
            label = f"{g}: {_items_word(n)}, {_fmt_money(m)} at risk"
        else:
            name = type_label(g, lang) if key == "type" else g
            label = t(
                "chart.bar_tip", lang, g=name, items=_items_word(n, lang), money=_fmt_money(m)
            )
        w = _BAR_W * n / max_n
        parts = [
            f"<g><title>{_e(label)}</title>",
            f'<text x="{_LABEL_W - 6}" y="{y + 12}" text-anchor="end">{_e(g)}</text>',
            f'<rect class="n" x="{x0}" y="{y + 2}" width="{_n(w)}" height="{_ROW_H - 4}"/>',
            f'<text x="{_n(x0 + w + 4)}" y="{y + 12}">{n}</text>',
        ]
        for j, c in enumerate(currencies):
            v = m.get(c, 0)
            mw = _BAR_W * abs(v) / max_m[c]
            yy = y + _ROW_H * j
            parts.append(
                f'<rect class="m" x="{x1}" y="{yy + 2}" width="{_n(mw)}" height="{_ROW_H - 4}"/>'
                f'<text x="{_n(x1 + mw + 4)}" y="{yy + 12}">{_e(format_minor(v, c))} {_e(c)}'
                "</text>"
            )
        parts.append("</g>\n")
        rows.append("".join(parts))
    height = 24 + len(groups) * row_h
    return _svg(key, title, height, head + "".join(rows), caption)


def _vbars(
    key: str,
    title: str,
    labels: Sequence[str],
    values: Sequence[int],
    tips: Sequence[str],
    axis_every: int = 1,
    caption: str = "",
) -> str:
    """Vertical bars with the value above each bar and every `axis_every`-th label below."""
    plot_h, top, left = 140, 18, 30
    slot = (_W - left - 10) / max(len(labels), 1)
    max_v = max([*values, 1])
    bars = [
        f'<line class="axis" x1="{left}" y1="{top + plot_h}" x2="{_W - 10}" y2="{top + plot_h}"/>\n'
    ]
    for i, (lab, v, tip) in enumerate(zip(labels, values, tips, strict=True)):
        h = plot_h * v / max_v
        x = left + i * slot
        cx = _n(x + slot / 2)
        bars.append(
            f"<g><title>{_e(tip)}</title>"
            f'<rect class="n" x="{_n(x + slot * 0.12)}" y="{_n(top + plot_h - h)}" '
            f'width="{_n(slot * 0.76)}" height="{_n(h)}"/>'
            + (
                f'<text x="{cx}" y="{_n(top + plot_h - h - 3)}" text-anchor="middle">{v}</text>'
                if v
                else ""
            )
            + (
                f'<text x="{cx}" y="{top + plot_h + 14}" text-anchor="middle">{_e(lab)}</text>'
                if i % axis_every == 0
                else ""
            )
            + "</g>\n"
        )
    return _svg(key, title, top + plot_h + 22, "".join(bars), caption)


def _chart_by(
    df: pl.DataFrame,
    by: str,
    key: str,
    title: str,
    order: Sequence[str] = (),
    lang: str = "en",
) -> str:
    counts, money = _group_counts(df, by, lang)
    if order:
        groups = list(order)
        caption = ""
    else:
        top = counts.sort(["n", "_g"], descending=[True, False]).head(TOP_N)
        groups = top["_g"].to_list()
        caption = ""
        if counts.height > TOP_N:
            caption = (
                f"Top {TOP_N} of {counts.height} by items."
                if lang == "en"
                else _e(t("chart.top", lang, top=TOP_N, total=counts.height))
            )
    return _hbars(key, title, groups, dict(counts.iter_rows()), _money_map(money), caption, lang)


def _chart_hours(df: pl.DataFrame, lang: str = "en") -> str:
    timed = df.filter(pl.col("pos_time").is_not_null()).with_columns(
        _g=pl.col("pos_time").dt.hour().cast(pl.Int64)
    )
    counts = dict(timed.group_by("_g").agg(n=pl.len()).iter_rows())
    money = _money_map(
        timed.filter(pl.col("currency").is_not_null())
        .group_by("_g", "currency")
        .agg(minor=pl.col("at_risk_minor").sum())
    )
    hours = range(24)
    values = [counts.get(h, 0) for h in hours]
    if lang == "en":
        tips = [
            f"{h:02d}:00-{h:02d}:59: {_items_word(counts.get(h, 0))}, "
            f"{_fmt_money(money.get(h, {}))} at risk"
            for h in hours
        ]
    else:
        tips = [
            t(
                "chart.bar_tip",
                lang,
                g=f"{h:02d}:00-{h:02d}:59",
                items=_items_word(counts.get(h, 0), lang),
                money=_fmt_money(money.get(h, {})),
            )
            for h in hours
        ]
    missing = df.height - timed.height
    caption = ""
    if missing:
        caption = (
            f"{_items_word(missing)} without a POS time (bank only) not shown."
            if lang == "en"
            else _e(t("chart.no_pos_time", lang, items=_items_word(missing, lang)))
        )
    return _vbars(
        "hour",
        "Items by hour of POS time" if lang == "en" else t("chart.by_hour", lang),
        [f"{h:02d}" for h in hours],
        values,
        tips,
        axis_every=1,
        caption=caption,
    )


def _chart_lag(matches: pl.DataFrame, lang: str = "en") -> str:
    # (the one column first: filtering ten million matches whole would copy every column)
    lag = matches.select("lag_seconds").filter(pl.col("lag_seconds").is_not_null())
    if lag.height == 0:
        if lang == "en":
            return "<p>No settled matches to chart.</p>\n"
        return f"<p>{_e(t('chart.no_lag', lang))}</p>\n"
    bucket = pl.lit(None, pl.Int64)
    for i, (_, lo) in enumerate(_LAG_BUCKETS):
        bucket = pl.when(pl.col("lag_seconds") >= lo).then(pl.lit(i, pl.Int64)).otherwise(bucket)
    counts = dict(lag.select(b=bucket.fill_null(-1)).group_by("b").agg(n=pl.len()).iter_rows())
    labels = [_lag_label(lab, lang) for lab, _ in _LAG_BUCKETS]
    idx = list(range(len(_LAG_BUCKETS)))
    if counts.get(-1):  # the bank settled before the sale's time (clock skew): show it first
        before = "before sale" if lang == "en" else t("chart.before_sale", lang)
        labels, idx = [before, *labels], [-1, *idx]
    values = [counts.get(i, 0) for i in idx]
    if lang == "en":
        tips = [
            f"{lab}: {v} matched pair{'' if v == 1 else 's'}"
            for lab, v in zip(labels, values, strict=True)
        ]
        title = f"Settlement lag of {lag.height} matched pairs"
    else:
        tips = [
            t("chart.pair_one" if v == 1 else "chart.pair_many", lang, lab=lab, v=v)
            for lab, v in zip(labels, values, strict=True)
        ]
        title = t("chart.lag", lang, n=lag.height)
    return _vbars("lag", title, labels, values, tips)


def _charts(result: RunResult) -> str:
    df = result.discrepancies
    lang = result.settings.lang
    parts = ['<div class="charts">\n']
    if df.height == 0:
        if lang == "en":
            parts.append("<p>No discrepancies to chart.</p>\n")
        else:
            parts.append(f"<p>{_e(t('chart.no_items', lang))}</p>\n")
    else:
        parts += [
            _chart_by(df, "type", "type", t("chart.by_type", lang), order=TYPES, lang=lang),
            _chart_by(df, "terminal", "terminal", t("chart.by_terminal", lang), lang=lang),
            _chart_by(df, "merchant", "merchant", t("chart.by_merchant", lang), lang=lang),
            _chart_hours(df, lang),
        ]
    parts += [_chart_lag(result.matches, lang), "</div>\n"]
    return "".join(parts)


def _findings(result: RunResult) -> str:
    """A "Findings" list (recon.findings) after the counts; "" when there are none."""
    found = result.summary.get("findings") or []
    if not found:
        return ""
    lang = result.settings.lang
    rows = "".join(
        f'<li class="sev-{_e(f.get("severity"))}"><span class="badge">{_e(f.get("severity"))}'
        f"</span> <code>{_e(f.get('kind'))}</code> {_e(f.get('message'))}"
        f'<br><span class="muted">{_e(", ".join(map(str, f.get("items") or [])))}</span></li>\n'
        for f in found
    )
    return f'<h2>{_e(t("find.title", lang))}</h2>\n<ul class="findings">\n{rows}</ul>\n'


# --- batch deposits (recon.settle) ----------------------------------------------------------
MAX_DEPOSITS = 500  # deposits shown on the page; deposits.csv holds them all
_SALES_SHOWN = 50  # sale ids listed in a deposit's row
_DEP_COLUMNS = (
    "group_id",
    "status",
    "bank_ids",
    "deposit_day",
    "merchant",
    "batch",
    "n_sales",
    "gross",
    "fee_expected",
    "fee_charged",
    "deposit",
    "currency",
    "pos_ids",
)
_DEP_NUMERIC = ("n_sales", "gross", "fee_expected", "fee_charged", "deposit")
# Sort keys of the status column: problems first, in DEPOSIT_PROBLEMS order.
_DEP_RANK = {s: i for i, s in enumerate((*DEPOSIT_PROBLEMS, *DEPOSIT_OK))}


_SALES_FOLDED = 10  # an items-table cell with more ids than this is folded


def _sales_cell(pos_ids: str | None, lang: str) -> str:
    ids = [i for i in (pos_ids or "").split(";") if i]
    label = t("dep.sales_one", lang) if len(ids) == 1 else t("dep.sales_many", lang, n=len(ids))
    shown = ", ".join(_e(i) for i in ids[:_SALES_SHOWN])
    more = ""
    if len(ids) > _SALES_SHOWN:
        more = " " + _e(t("dep.more_ids", lang, n=len(ids) - _SALES_SHOWN))
    return (
        f'<td data-sort="{len(ids)}"><details><summary>{_e(label)}</summary>'
        f"<code>{shown}</code>{more}</details></td>"
    )


def _deposits(result: RunResult) -> str:
    """The "Batch deposits" section: a summary line and one row per deposit, problems first."""
    df = result.deposits
    if df.height == 0:
        return ""
    lang = result.settings.lang
    parts = [
        f'<h2 id="batch-deposits">{_e(t("dep.title", lang))}</h2>\n',
        f"<p>{_e(deposits_line(df, lang))}</p>\n",
        *(
            f"<p>{_e(line)}</p>\n"
            for line in settlement_lines(result.summary.get("settlement") or {}, lang)
        ),
    ]
    if df.height > MAX_DEPOSITS:
        note = t("dep.cap_note", lang, shown=MAX_DEPOSITS, total=df.height, file="deposits.csv")
        parts.append(f'<p class="muted">{note}</p>\n')
    head = "".join(f'<th title="sort">{_e(t("dep.c." + c, lang))}</th>' for c in _DEP_COLUMNS)
    rows = []
    for r in deposits_in_order(df).head(MAX_DEPOSITS).iter_rows(named=True):
        status = r["status"]
        when = r["bank_time"]
        cells = {c: f"<td>{_e(r.get(c))}</td>" for c in _DEP_COLUMNS}
        cells["status"] = (
            f'<td data-sort="{_DEP_RANK.get(status, len(_DEP_RANK))}" title="{_e(status)}">'
            f"{_e(deposit_status(status, lang))}</td>"
        )
        cells["deposit_day"] = f"<td>{'' if when is None else when.strftime('%Y-%m-%d')}</td>"
        for c in _DEP_NUMERIC:
            cells[c] = f'<td class="num">{_e(r[c])}</td>'
        cells["pos_ids"] = _sales_cell(r["pos_ids"], lang)
        flag = ' class="flag"' if status in DEPOSIT_PROBLEMS else ""
        rows.append(f"<tr{flag}>{''.join(cells[c] for c in _DEP_COLUMNS)}</tr>\n")
    parts.append(
        f'<table class="deposits" id="deposits"><thead><tr>{head}</tr></thead><tbody>\n'
        f"{''.join(rows)}</tbody></table>\n"
    )
    return "".join(parts)


def render_html(result: RunResult) -> str:
    """The whole report page as a string (deterministic for a given result)."""
    s = result.summary
    title = f"recon: {Path(result.pos.path).name} vs {Path(result.bank.path).name}"
    version = s.get("recon_version", __version__)
    lang = result.settings.lang
    run_line = t(
        "html.run_line",
        lang,
        version=_e(version),
        fail_on=_e(s.get("fail_on", result.settings.fail_on)),
        code=_e(s.get("exit_code", result.exit_code())),
    )
    parts = [
        f'<!DOCTYPE html>\n<html lang="{_e(lang)}">\n<head>\n<meta charset="utf-8">\n',
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n",
        f'<h1>{_e(title)}</h1>\n<p class="muted">{run_line}</p>\n',
        _headline(result),
        _counts(result),
        _findings(result),
        _deposits(result),
        f"<h2>{_e(t('html.h_charts', lang))}</h2>\n",
        _charts(result),
        f"<h2>{_e(t('html.h_disc', lang, n=result.discrepancies.height))}</h2>\n",
        _items(result.item_rows(), lang, total=result.discrepancies.height),
        f"<h2>{_e(t('html.h_rejected', lang, n=result.rejected.height))}</h2>\n",
        _rejected(result.rejected, lang),
        f"<h2>{_e(t('html.h_inputs', lang))}</h2>\n",
        _inputs(result),
        '<div id="js-errors" hidden></div>\n',
        f"<script>{_JS}</script>\n</body>\n</html>\n",
    ]
    return "".join(parts)
