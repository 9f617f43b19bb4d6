"""The short summary `recon run` prints: counts, batch deposits, the top items, rejected rows,
where files went.

Data values are always printed as `Text` (never as markup), so a reference or raw line with
square brackets is shown as it is. Colour marks severity, but every line reads the same without
it: the severity is always spelled out.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from recon import __version__
from recon.config import SEVERITIES, TYPES
from recon.i18n import t, type_label
from recon.report.deposits import (
    DEPOSIT_PROBLEMS,
    deposit_status,
    deposits_in_order,
    deposits_line,
    settlement_lines,
)
from recon.report.files import FILES
from recon.result import RunResult

SEVERITY_STYLE = {"high": "bold red", "medium": "yellow", "low": "cyan"}
_HIGH_FIRST = tuple(reversed(SEVERITIES))
_REJECTED_SHOWN = 5
# Like box.SIMPLE_HEAD, but a section break (before the total line) draws a rule, not a blank.
_BOX = box.Box("    \n    \n ── \n    \n ── \n    \n    \n    \n")


def _money(amounts: dict[str, str] | None) -> str:
    if not amounts:
        return "0"
    return ", ".join(f"{v} {c}" for c, v in amounts.items())


def _sev(severity: str | None, width: int = 0) -> Text:
    sev = severity or ""
    return Text(f"{sev:<{width}}", style=SEVERITY_STYLE.get(sev, ""))


def _indented(console: Console, text: Text, indent: int = 4) -> None:
    """Print `text` wrapped to the console width, every line indented (no trailing padding)."""
    for line in text.wrap(console, max(20, console.width - indent)):
        line.rstrip()
        console.print(Text(" " * indent) + line, soft_wrap=True)


def _header(result: RunResult, console: Console) -> None:
    version = result.summary.get("recon_version", __version__)
    line = Text.assemble(("recon ", "bold"), (str(version), "bold"), "  ")
    lang = result.settings.lang
    for label, side in ((t("rep.pos", lang), result.pos), (t("rep.bank", lang), result.bank)):
        line.append(f"{label} ", style="bold")
        if side.reader in ("csv", "parquet"):
            how = side.profile
        elif side.profile == "canonical":
            how = side.reader
        else:
            how = f"{side.reader}, {side.profile}"
        line.append(f"{Path(side.path).name} ({how})")
        line.append("   ")
    line.rstrip()
    console.print(line)


def _inputs(result: RunResult, console: Console) -> None:
    lang = result.settings.lang
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column(t("term.side", lang))
    for col in ("read", "loaded", "rejected"):
        table.add_column(t(f"term.{col}", lang), justify="right")
    for label, side in ((t("rep.pos", lang), result.pos), (t("rep.bank", lang), result.bank)):
        table.add_row(label, str(side.rows), str(side.loaded), str(side.rejected))
    console.print(table)
    console.print()
    matched = result.summary.get("matched", {})
    line = t("term.matched", lang, pairs=matched.get("pairs", 0), voided=matched.get("voided", 0))
    if matched.get("in_deposits"):
        line += t("term.in_deposits", lang, n=matched["in_deposits"])
    console.print(Text(line))
    state = result.summary.get("state")
    if state:
        carried = state.get("carried_in", {})
        console.print(
            Text(
                t(
                    "term.state",
                    lang,
                    day=state.get("day"),
                    new=state.get("new", 0),
                    escalated=state.get("escalated", 0),
                    carried=state.get("carried", 0),
                    cpos=carried.get("pos", 0),
                    cbank=carried.get("bank", 0),
                    closed=state.get("closed", 0),
                    open_total=state.get("open_total", 0),
                )
            )
        )


def _severity_mix(df: pl.DataFrame) -> dict[str, dict[str, int]]:
    """{type: {severity: count}} for display; counts per type come from the summary."""
    mix: dict[str, dict[str, int]] = {}
    for typ, sev, n in df.group_by("type", "severity").len().iter_rows():
        mix.setdefault(typ, {})[sev] = n
    return mix


def _mix_text(counts: dict[str, int]) -> Text:
    text = Text()
    for sev in _HIGH_FIRST:
        if counts.get(sev):
            if text:
                text.append(", ")
            text.append(f"{counts[sev]} {sev}", style=SEVERITY_STYLE[sev])
    return text


def _types(result: RunResult, console: Console) -> None:
    d = result.summary.get("discrepancies", {})
    total = d.get("total", result.discrepancies.height)
    lang = result.settings.lang
    if not total:
        console.print(Text(t("term.no_discrepancies", lang), style="bold green"))
        return
    by_type = d.get("by_type", {})
    mix = _severity_mix(result.discrepancies)
    table = Table(box=_BOX, pad_edge=False, show_edge=False)
    table.add_column(t("term.col_type", lang))
    table.add_column(t("term.col_count", lang), justify="right")
    table.add_column(t("term.col_severity", lang))
    table.add_column(t("term.col_at_risk", lang), justify="right")
    for typ in TYPES:
        info = by_type.get(typ, {})
        if info.get("count", 0) > 0:
            table.add_row(
                type_label(typ, lang),
                str(info["count"]),
                _mix_text(mix.get(typ, {})),
                _money(info["at_risk"]),
            )
    if table.rows:
        table.rows[-1].end_section = True
    table.add_row(
        Text(t("rep.total", lang), style="bold"),
        Text(str(total), style="bold"),
        _mix_text(d.get("by_severity", {})),
        Text(_money(result.summary.get("money_at_risk")), style="bold"),
    )
    console.print(table)


_FINDING_IDS = 20  # ids listed under a finding in the terminal


def _findings(result: RunResult, console: Console) -> None:
    """Terminal- and pattern-level conclusions (recon.findings), one line each with its ids."""
    lang = result.settings.lang
    console.print(Text(t("find.title", lang), style="bold"))
    for f in result.summary.get("findings") or []:
        line = Text.assemble("- ", _sev(f.get("severity"), 6), "  ", f.get("message", ""))
        _indented(console, line, 2)
        if f.get("items"):
            # A pattern can name thousands of items: the terminal shows the first few (wrapping
            # a hundred thousand ids took seconds); summary.json and the reports list them all.
            ids = _few([str(i) for i in f["items"]], lang, _FINDING_IDS, ", ")
            _indented(console, Text(ids, style="dim"), 4)


_DEPOSITS_SHOWN = 10
_DEP_TERM_COLUMNS = (
    "group_id",
    "status",
    "bank_ids",
    "deposit_day",
    "n_sales",
    "gross",
    "fee_expected",
    "fee_charged",
    "deposit",
    "currency",
)
_DEP_RIGHT = {"n_sales", "gross", "fee_expected", "fee_charged", "deposit"}


def _deposit_cells(df: pl.DataFrame, lang: str) -> list[dict[str, Text]]:
    """The first deposits (problems first) as one Text per column."""
    out = []
    for r in deposits_in_order(df).head(_DEPOSITS_SHOWN).iter_rows(named=True):
        status = r["status"]
        when = r["bank_time"]
        values = {c: "" if r.get(c) is None else str(r[c]) for c in _DEP_TERM_COLUMNS}
        values["deposit_day"] = "" if when is None else when.strftime("%Y-%m-%d")
        cells = {c: Text(v) for c, v in values.items()}
        style = "bold red" if status in DEPOSIT_PROBLEMS else ""
        cells["status"] = Text(deposit_status(status, lang), style=style)
        out.append(cells)
    return out


def _deposits(result: RunResult, console: Console) -> None:
    """Batch deposits: the summary line and the first few deposits, problems first.

    A table when it fits the console with every value whole; on a narrower one each deposit
    takes two lines instead (a table would cut the amounts short)."""
    df = result.deposits
    lang = result.settings.lang
    console.print(Text(t("dep.title", lang), style="bold"))
    _indented(console, Text(deposits_line(df, lang)), 2)
    for line in settlement_lines(result.summary.get("settlement") or {}, lang):
        _indented(console, Text(line), 2)
    rows = _deposit_cells(df, lang)
    heads = {c: t(f"dep.c.{c}", lang) for c in _DEP_TERM_COLUMNS}
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    for c in _DEP_TERM_COLUMNS:
        # Values never wrap (min_width: the longest); headers and the status wrap at words.
        words = [w for r in rows for w in r[c].plain.split()] if c == "status" else []
        longest = max(
            [Text(w).cell_len for w in [*heads[c].split(), *words]]
            + [r[c].cell_len for r in rows if c != "status"]
        )
        justify = "right" if c in _DEP_RIGHT else "left"
        table.add_column(heads[c], justify=justify, min_width=longest)
    for r in rows:
        table.add_row(*(r[c] for c in _DEP_TERM_COLUMNS))
    wide = console.options.update_width(10_000)
    if Measurement.get(console, wide, table).minimum <= console.width:
        console.print(table)
    else:
        for r in rows:
            line = Text.assemble(
                r["group_id"], "  ", r["status"], "  ", r["bank_ids"], "  ", r["deposit_day"]
            )
            _indented(console, line, 2)
            details = ", ".join(
                f"{heads[c]} {r[c].plain}"
                for c in ("n_sales", "gross", "fee_expected", "fee_charged", "deposit")
            )
            _indented(console, Text(f"{details} {r['currency'].plain}".rstrip(), style="dim"), 4)
    if df.height > _DEPOSITS_SHOWN:
        console.print(Text(t("dep.term_more", lang, n=df.height - _DEPOSITS_SHOWN), style="dim"))


def _top(result: RunResult, console: Console, top: int) -> None:
    df = result.discrepancies
    if df.height == 0 or top <= 0:
        return
    lang = result.settings.lang
    shown = min(top, df.height)
    if shown < df.height:
        title = t("term.top", lang, shown=shown, total=df.height)
    else:
        title = t("term.all", lang, shown=shown)
    console.print(Text(title, style="bold"))
    cols = ("item_id", "severity", "type", "pos_ids", "bank_ids", "detail", "suggested_action")
    for item_id, sev, typ, pos_ids, bank_ids, detail, action in (
        result.item_rows().head(top).select(cols).iter_rows()
    ):
        line = Text.assemble(f"{item_id}  ", _sev(sev, 6), f"  {type_label(typ, lang)}  ")
        bank = t("rep.bank", lang)
        ids = [
            f"POS {_few(pos_ids.split(';'), lang)}" if pos_ids else "",
            f"{bank} {_few(bank_ids.split(';'), lang)}" if bank_ids else "",
        ]
        line.append(" / ".join(i for i in ids if i), style="dim")
        console.print(line)
        if detail:
            _indented(console, Text(detail))
        if action:
            _indented(console, Text.assemble((t("term.do", lang), "bold"), action))
    if shown < df.height:
        console.print(Text(t("term.more", lang, n=df.height - shown), style="dim"))


def _rejected(result: RunResult, console: Console) -> None:
    df = result.rejected
    if df.height == 0:
        return
    lang = result.settings.lang
    counts = result.summary.get("rejected", {})
    head = t("term.rejected_head", lang, n=df.height)
    if counts:
        head += t(
            "term.rejected_counts", lang, pos=counts.get("pos", 0), bank=counts.get("bank", 0)
        )
    console.print(Text(head, style="bold red"))
    from recon.reasons import translate_reason

    for side, line, reason, _raw in df.head(_REJECTED_SHOWN).iter_rows():
        reason = translate_reason(reason, lang)  # rejected.csv keeps the English
        _indented(
            console, Text(t("term.rejected_line", lang, side=side, line=line, reason=reason)), 2
        )
    if df.height > _REJECTED_SHOWN:
        rest = df.height - _REJECTED_SHOWN
        console.print(Text(t("term.rejected_more", lang, n=rest), style="dim"))


def _few(ids: list[str], lang: str, shown: int = 5, sep: str = ";") -> str:
    """At most `shown` of these ids joined by `sep`, and how many more there are (a deposit's
    item lists every sale it paid, a finding every item it explains)."""
    if len(ids) <= shown:
        return sep.join(ids)
    return sep.join(ids[:shown]) + t("term.more_ids", lang, n=len(ids) - shown)


def render_summary(
    result: RunResult, console: Console, out_dir: Path | None, *, top: int = 10
) -> None:
    """Print the run summary to `console`; `out_dir` is where the files were written, if any."""
    _header(result, console)
    console.print()
    _inputs(result, console)
    console.print()
    _types(result, console)
    if result.summary.get("findings"):
        console.print()
        _findings(result, console)
    if result.deposits.height:
        console.print()
        _deposits(result, console)
    if result.discrepancies.height:
        console.print()
        _top(result, console, top)
    if result.rejected.height:
        console.print()
        _rejected(result, console)
    if out_dir is not None:
        console.print()
        console.print(
            Text.assemble((t("term.written", result.settings.lang), "bold"), str(out_dir))
        )
        files = (*FILES, "deposits.csv") if result.settings.settlement.enabled else FILES
        _indented(console, Text("  ".join(files)), 2)
