"""A short Markdown summary of a run, for an email or a chat message.

A headline, batch deposits (when there are any), counts and money at risk per type, the top
items, rejected rows and where the files are. Nothing in it depends on the clock, so one result
always gives the same text. Values from the inputs are escaped so they render as text, and no
line is longer than `WIDTH` characters (except a folder path too long to fit, which is never
split).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path

import polars as pl

from recon.config import SEVERITIES, TYPES
from recon.i18n import t, type_label
from recon.report.deposits import (
    DEPOSIT_PROBLEMS,
    deposit_status,
    deposits_in_order,
    deposits_line,
    settlement_lines,
)
from recon.result import RunResult, at_risk_by_currency

WIDTH = 120
TOP = 5
_IDS_SHOWN = 3
_NAME_CHARS = 40
_HIGH_FIRST = tuple(reversed(SEVERITIES))
_MD_SPECIAL = "\\`*_[]<>|#"


def _esc(text: object) -> str:
    """Escape Markdown (and HTML) syntax in a value from the inputs; newlines become spaces."""
    s = " ".join(str(text).split())
    return "".join("\\" + ch if ch in _MD_SPECIAL else ch for ch in s)


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def _grouped(amount: str) -> str:
    """'2416.90' -> '2,416.90' (exact: Decimal formatting, no float)."""
    try:
        value = Decimal(amount)
    except InvalidOperation:
        return amount
    digits = -value.as_tuple().exponent if value.as_tuple().exponent < 0 else 0  # type: ignore[operator]
    return f"{value:,.{digits}f}"


def _money(amounts: dict[str, str] | None) -> str:
    if not amounts:
        return "0"
    return " + ".join(f"{_grouped(v)} {c}" for c, v in amounts.items())


def _short_name(path: str) -> str:
    name = Path(path).name or path
    return name if len(name) <= _NAME_CHARS else name[: _NAME_CHARS - 1] + "…"


def _ids(ids: str | None) -> str:
    parts = [p for p in (ids or "").split(";") if p]
    shown = ", ".join(parts[:_IDS_SHOWN])
    if len(parts) > _IDS_SHOWN:
        shown += f" +{len(parts) - _IDS_SHOWN} more"
    return shown


def _wrap(text: str, first: str, rest: str) -> list[str]:
    """Wrap at spaces to WIDTH; a word longer than a line is cut, never after a lone backslash."""
    lines = textwrap.wrap(
        text,
        WIDTH,
        initial_indent=first,
        subsequent_indent=rest,
        break_long_words=False,
        break_on_hyphens=False,
    )
    out: list[str] = []
    for line in lines:
        while len(line) > WIDTH:
            cut = WIDTH
            while (
                line[:cut].endswith("\\") and (len(line[:cut]) - len(line[:cut].rstrip("\\"))) % 2
            ):
                cut -= 1
            out.append(line[:cut])
            line = rest + line[cut:]
        out.append(line)
    return out


def _headline(result: RunResult) -> str:
    d = result.summary.get("discrepancies", {})
    total = d.get("total", result.discrepancies.height)
    rejected = result.rejected.height
    at_risk = result.summary.get("money_at_risk") or at_risk_by_currency(result.discrepancies)
    lang = result.settings.lang
    vs = t("md.vs", lang)
    files = f"{_short_name(result.pos.path)} {vs} {_short_name(result.bank.path)}"
    if total:
        word = "discrepancy" if total == 1 else "discrepancies"
        head = t("md.head", lang, n=f"{total:,}", word=word, money=_money(at_risk))
    else:
        head = t("md.none", lang)
    rows = t("md.rejected", lang, rows=_plural(rejected, "rejected row"), n=f"{rejected:,}")
    return _esc(t("md.headline", lang, head=head, rejected=rows, files=files))


def _type_table(result: RunResult) -> list[str]:
    # (the counts read four columns: filtering the items whole would copy their texts)
    df = result.discrepancies.select("type", "severity", "currency", "at_risk_minor")
    by_type = result.summary.get("discrepancies", {}).get("by_type", {})
    lang = result.settings.lang
    rows = [t("md.table_head", lang), "| --- | ---: | --- | ---: |"]
    mix: dict[str, dict[str, int]] = {}
    for typ, sev, n in df.group_by("type", "severity").len().iter_rows():
        mix.setdefault(typ, {})[sev] = n
    for typ in TYPES:
        sub = df.filter(pl.col("type") == typ)
        info = by_type.get(typ, {})
        count = info.get("count", sub.height)
        if not count:
            continue
        sev = " / ".join(str(mix.get(typ, {}).get(s, 0)) for s in _HIGH_FIRST)
        money = _money(info.get("at_risk") or at_risk_by_currency(sub))
        rows.append(f"| {type_label(typ, lang)} | {count:,} | {sev} | {_esc(money)} |")
    total_money = _money(result.summary.get("money_at_risk") or at_risk_by_currency(df))
    by_sev = {s: df.filter(pl.col("severity") == s).height for s in SEVERITIES}
    sev = " / ".join(str(by_sev[s]) for s in _HIGH_FIRST)
    rows.append(
        f"| **{t('rep.total', lang)}** | **{df.height:,}** | {sev} | **{_esc(total_money)}** |"
    )
    return rows


def _top(result: RunResult) -> list[str]:
    df = result.discrepancies
    lang = result.settings.lang
    shown = min(TOP, df.height)
    if shown < df.height:
        title = t("md.top", lang, shown=shown, total=f"{df.height:,}")
    else:
        title = t("md.items", lang)
    lines = [f"**{title}**", ""]
    cols = ("item_id", "severity", "type", "pos_ids", "bank_ids", "detail", "suggested_action")
    for item_id, sev, typ, pos_ids, bank_ids, detail, action in (
        result.item_rows().head(TOP).select(cols).iter_rows()
    ):
        ids = [
            f"POS {_ids(pos_ids)}" if pos_ids else "",
            f"{t('rep.bank', lang)} {_ids(bank_ids)}" if bank_ids else "",
        ]
        label = type_label(typ, lang).removeprefix(typ)  # "" in English, " 金额不符" in zh
        text = f"**{_esc(sev)}** `{typ}`{label} {_esc(item_id)}"
        joined = " / ".join(i for i in ids if i)
        if joined:
            text += f" ({_esc(joined)})"
        if detail:
            text += f": {_esc(detail)}"
        if action:
            text += f" {t('md.do', lang)} {_esc(action)}"
        lines.extend(_wrap(text, "- ", "  "))
    if shown < df.height:
        lines.append("")
        lines.append(t("md.more", lang, n=f"{df.height - shown:,}"))
    return lines


def _findings(result: RunResult) -> list[str]:
    """The run's findings (recon.findings) as a short list; [] when there are none."""
    found = result.summary.get("findings") or []
    if not found:
        return []
    lines = [f"**{t('find.title', result.settings.lang)}**", ""]
    for f in found:
        sev, kind, msg = f.get("severity", ""), f.get("kind", ""), f.get("message", "")
        lines.extend(_wrap(f"**{_esc(sev)}** `{kind}` {_esc(msg)}", "- ", "  "))
    return [*lines, ""]


_DEPOSITS_SHOWN = 5


def _deposits(result: RunResult) -> list[str]:
    """The deposits' summary line and the flagged ones (problems first); [] when none."""
    df = result.deposits
    if df.height == 0:
        return []
    lang = result.settings.lang
    lines = _wrap(_esc(deposits_line(df, lang)), "", "")
    for line in settlement_lines(result.summary.get("settlement") or {}, lang):
        lines += ["", *_wrap(_esc(line), "", "")]
    flagged = deposits_in_order(df.filter(pl.col("status").is_in(DEPOSIT_PROBLEMS)))
    for r in flagged.head(_DEPOSITS_SHOWN).iter_rows(named=True):
        cur = r["currency"] or ""
        amounts = {
            col: f"{_grouped(r[col] or '')} {cur}".strip()
            for col in ("deposit", "gross", "fee_expected", "fee_charged")
        }
        money = t("dep.md_line", lang, **amounts)
        ids = _ids(r["bank_ids"])
        text = f"**{_esc(r['group_id'])}** {_esc(deposit_status(r['status'], lang))} {_esc(ids)}"
        lines.extend(_wrap(f"{text}: {_esc(money)}", "- ", "  "))
    if flagged.height > _DEPOSITS_SHOWN:
        lines.append(t("dep.md_more", lang, n=f"{flagged.height - _DEPOSITS_SHOWN:,}"))
    return [*lines, ""]


def render_summary_md(
    result: RunResult, out_dir: Path | None, *, files: Sequence[str] | None = None
) -> str:
    """The run as short Markdown text; `out_dir` is where the report files were written, if any.

    `files` names the files to list there (default: the output contract's files)."""
    lang = result.settings.lang
    lines = [f"**{_headline(result)}**", ""]
    lines += _deposits(result)
    if result.discrepancies.height:
        lines += _type_table(result)
        lines.append("")
        lines += _findings(result)
        lines += _top(result)
    else:
        lines.append(t("md.all_matched", lang))
        if result.summary.get("findings"):
            lines.append("")
            lines += _findings(result)[:-1]
    lines.append("")
    rejected = result.rejected.height
    counts = result.summary.get("rejected", {})
    if rejected:
        lines.append(
            t(
                "md.rejected_rows",
                lang,
                n=f"{rejected:,}",
                pos=f"{counts.get('pos', result.pos.rejected):,}",
                bank=f"{counts.get('bank', result.bank.rejected):,}",
            )
        )
    else:
        lines.append(t("md.rejected_none", lang))
    if out_dir is not None:
        if files is None:
            # Imported here: recon.report.files may import this module to wire it in.
            from recon.report.files import FILES

            files = (*FILES, "deposits.csv") if result.settings.settlement.enabled else FILES
        lines.append("")
        lines.append(t("md.reports_in", lang, dir=str(out_dir).replace("`", "")))
        lines += _wrap(", ".join(_esc(f) for f in files), "", "")
    return "\n".join(lines) + "\n"
