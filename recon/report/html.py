"""report.html: one self-contained page (inline CSS and a small inline script, no network).

Everything shown comes from the RunResult as it is; money is displayed as the plain decimal
strings the classifier wrote. Every value goes through `html.escape`. The page has no clock and
no timings in it, so the same result renders the same bytes.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from recon import __version__
from recon.config import SEVERITIES, TYPES
from recon.money import format_minor
from recon.result import RunResult

_CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;margin:.4em 0}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f2f2f2}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.items th{cursor:pointer}code{font-size:.92em;word-break:break-all}
.sev-high{background:#fde2e1}.sev-medium{background:#fff4d6}.sev-low{background:#e4f3fb}
.badge{font-weight:bold}.sev-high .badge{color:#b3261e}.sev-medium .badge{color:#8a6100}
.sev-low .badge{color:#0b6285}
.cards{display:flex;flex-wrap:wrap;gap:.6em}.card{border:1px solid #ccc;padding:.4em .8em}
.card b{display:block;font-size:1.3em}.muted{color:#666}
"""

# Column headers sort the items table (numeric cells by value); the filter box hides rows that do
# not contain its text. With scripts off the box stays hidden and every row is shown.
_JS = """
(function(){
var t=document.getElementById('items');if(!t)return;var b=t.tBodies[0];
var f=document.getElementById('filter');f.hidden=false;
f.addEventListener('input',function(){var q=f.value.toLowerCase();
for(var r of b.rows){r.hidden=q&&r.textContent.toLowerCase().indexOf(q)<0;}});
t.querySelectorAll('th').forEach(function(th,i){var asc=true;
th.addEventListener('click',function(){
var key=function(r){var c=r.cells[i];
return c.dataset.sort!==undefined?c.dataset.sort:c.textContent;};
var num=function(s){return s!==''&&!isNaN(s);};
var rows=Array.from(b.rows).sort(function(x,y){var a=key(x),c=key(y);
var d=num(a)&&num(c)?Number(a)-Number(c):a.localeCompare(c);return asc?d:-d;});
asc=!asc;rows.forEach(function(r){b.appendChild(r);});});});
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
    ("time", "Time"),
    ("detail", "Detail"),
    ("cause", "Probable cause"),
    ("suggested_action", "Suggested action"),
)
_NUMERIC = {"pos_amount", "bank_amount", "difference"}


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
    cards = [
        ("POS rows read", _e(result.pos.rows)),
        ("Bank rows read", _e(result.bank.rows)),
        ("Matched pairs", _e(matched.get("pairs", 0))),
        ("Voided (never settled)", _e(matched.get("voided", 0))),
        ("Discrepancies", _e(s.get("discrepancies", {}).get("total", 0))),
        ("Money at risk", _money(s.get("money_at_risk"))),
        ("Rejected rows", _e(s.get("rejected", {}).get("total", 0))),
    ]
    body = "".join(f'<div class="card">{label}<b>{value}</b></div>' for label, value in cards)
    return f'<div class="cards">{body}</div>\n'


def _counts(result: RunResult) -> str:
    d = result.summary.get("discrepancies", {})
    by_type = d.get("by_type", {})
    by_sev = d.get("by_severity", {})
    type_rows = [
        (_e(t), _e(by_type.get(t, {}).get("count", 0)), _money(by_type.get(t, {}).get("at_risk")))
        for t in TYPES
    ]
    type_rows.append(
        (
            "<b>total</b>",
            f"<b>{_e(d.get('total', 0))}</b>",
            _money(result.summary.get("money_at_risk")),
        )
    )
    sev_money = _at_risk_by_severity(result.discrepancies)
    sev_rows = [
        (f'<span class="badge">{_e(s)}</span>', _e(by_sev.get(s, 0)), _money(sev_money.get(s)))
        for s in reversed(SEVERITIES)
    ]
    return (
        "<h2>By type</h2>\n"
        + _table(("Type", "Count", "Money at risk"), type_rows, numeric=(1, 2))
        + "<h2>By severity</h2>\n"
        + _table(
            ("Severity", "Count", "Money at risk"),
            sev_rows,
            numeric=(1, 2),
            row_class=[f"sev-{s}" for s in reversed(SEVERITIES)],
        )
    )


# A page with hundreds of thousands of rows is unusable and slow to write; the files hold them all.
MAX_ROWS = 2000


def _cap_note(total: int, what: str, file: str) -> str:
    if total <= MAX_ROWS:
        return ""
    return (
        f'<p class="muted">Showing the first {MAX_ROWS} of {total} {what} '
        f"(most severe first); <code>{file}</code> holds them all.</p>\n"
    )


def _items(df: pl.DataFrame) -> str:
    if df.height == 0:
        return "<p>No discrepancies.</p>\n"
    note = _cap_note(df.height, "items", "discrepancies.csv")
    df = df.head(MAX_ROWS).with_columns(
        time=pl.coalesce("pos_time", "bank_time").dt.strftime("%Y-%m-%d %H:%M:%S")
    )
    names = [c for c, _ in _ITEM_COLUMNS]
    head = "".join(f'<th title="sort">{_e(label)}</th>' for _, label in _ITEM_COLUMNS)
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
                cells.append(f"<td>{_e(v)} (bank {_e(r['bank_currency'])})</td>")
            else:
                cells.append(f"<td>{_e(v)}</td>")
        rows.append(f'<tr class="sev-{_e(r["severity"])}">{"".join(cells)}</tr>\n')
    return note + (
        '<p><input id="filter" type="search" placeholder="Filter items" hidden '
        'aria-label="Filter items"> <span class="muted">Click a column header to sort.</span></p>\n'
        f'<table class="items" id="items"><thead><tr>{head}</tr></thead><tbody>\n'
        f"{''.join(rows)}</tbody></table>\n"
    )


def _rejected(df: pl.DataFrame) -> str:
    if df.height == 0:
        return "<p>No rejected rows.</p>\n"
    note = _cap_note(df.height, "rejected rows", "rejected.csv")
    df = df.head(MAX_ROWS)
    rows = (
        (_e(side), _e(line), _e(reason), f"<code>{_e(raw)}</code>")
        for side, line, reason, raw in df.select("side", "line", "reason", "raw").iter_rows()
    )
    return note + _table(("Side", "Line", "Reason", "Raw"), rows, numeric=(1,))


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
    headers = ("Side", "Path", "SHA-256", "Profile", "Rows", "Loaded", "Rejected")
    return _table(headers, rows, numeric=(4, 5, 6))


def render_html(result: RunResult) -> str:
    """The whole report page as a string (deterministic for a given result)."""
    s = result.summary
    title = f"recon: {Path(result.pos.path).name} vs {Path(result.bank.path).name}"
    version = s.get("recon_version", __version__)
    run_line = (
        f"recon {_e(version)}; fail on {_e(s.get('fail_on', result.settings.fail_on))}; "
        f"exit code {_e(s.get('exit_code', result.exit_code()))}"
    )
    parts = [
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n',
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n",
        f'<h1>{_e(title)}</h1>\n<p class="muted">{run_line}</p>\n',
        _headline(result),
        _counts(result),
        f"<h2>Discrepancies ({result.discrepancies.height})</h2>\n",
        _items(result.discrepancies),
        f"<h2>Rejected rows ({result.rejected.height})</h2>\n",
        _rejected(result.rejected),
        "<h2>Inputs</h2>\n",
        _inputs(result),
        f"<script>{_JS}</script>\n</body>\n</html>\n",
    ]
    return "".join(parts)
