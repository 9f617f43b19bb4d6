"""The evidence file of one disputed transfer, as Markdown, HTML or JSON, and its terminal view.

The words are in the case's language (`Case.lang`, from --lang; recon.i18n "case.*"); ids,
amounts, references, card numbers and the stored values (types, severities) stay as they are.
The JSON keeps recon's English phrases, as a script reads them.
"""

from __future__ import annotations

import html
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from recon import __version__
from recon.i18n import TEXT, sev_label, t, type_label
from recon.investigate import Case, say, say_all

_FIELDS = ("time", "side", "id", "kind", "amount", "reference", "terminal", "account", "decision")


def case_dict(case: Case) -> dict[str, Any]:
    data = asdict(case)
    data["query"] = case.query.describe()
    data["recon_version"] = __version__
    for r in data["records"]:
        r.pop("amount_minor", None)
        r.pop("decision_phrases", None)
    for c in data["candidates"]:
        c.pop("why_not_phrases", None)
    data.pop("lang", None)
    data.pop("decided_by_phrase", None)
    data["what_went_wrong"] = _findings(case)
    return data


def _findings(case: Case) -> list[dict[str, Any]]:
    seen, out = set(), []
    for r in case.records:
        for it in r["items"]:
            if it["item_id"] in seen:
                continue
            seen.add(it["item_id"])
            out.append(it)
    return out


def _word(prefix: str, value: Any, lang: str) -> Any:
    """A stored value (a kind, a status, a contact's role) as a word of `lang`, when it has one."""
    key = f"{prefix}.{value}"
    return t(key, lang) if lang != "en" and key in TEXT else value


def _side(side: str, lang: str) -> str:
    """A side as a table cell: the stored value in English, the word in other languages."""
    return side if lang == "en" else t(f"rep.{side}", lang)


def _decided_by(case: Case, lang: str) -> str:
    return case.decided_by if lang == "en" else say(case.decided_by_phrase, lang)


def _decision(r: dict[str, Any], lang: str) -> str:
    phrases = r.get("decision_phrases")
    return say_all(phrases, lang) if phrases else str(r["decision"] or "")


def _why_not(c: dict[str, Any], lang: str) -> str:
    phrases = c.get("why_not_phrases")
    return say_all(phrases, lang) if phrases else "; ".join(c["why_not"])


def _cell(r: dict[str, Any], field: str, lang: str) -> str:
    if field == "decision":
        return _decision(r, lang)
    if field == "side":
        return _side(r["side"], lang)
    if field == "kind":
        return str(_word("case.kind", r["kind"], lang) or "")
    return str(r[field] or "")


def _finding(f: dict[str, Any], key: str, lang: str, esc=str) -> str:
    return t(
        key,
        lang,
        type=esc(type_label(f["type"], lang)),
        severity=esc(sev_label(f["severity"], lang)),
        item_id=esc(f["item_id"]),
        detail=esc(f["detail"]),
    )


def render_terminal(case: Case, console: Console, lang: str | None = None) -> None:
    lang = lang or case.lang
    query = case.query.describe(lang)
    console.print(Text(t("case.transfer", lang, query=query), style="bold"))
    console.print(Text(t("case.decisions", lang, by=_decided_by(case, lang))))
    console.print()
    for r in case.records:
        head = "  ".join(
            str(v)
            for v in (
                r["time"],
                t("rep.pos", lang) if r["side"] == "pos" else t("rep.bank", lang),
                r["id"],
                _word("case.kind", r["kind"], lang),
                r["amount"],
                t("case.ref", lang, reference=r["reference"]) if r["reference"] else "",
                r["terminal"] or "",
                r["account"] or "",
            )
            if v
        )
        console.print(Text(head))
        console.print(Text(f"    {_decision(r, lang)}"))
    console.print()
    for f in _findings(case):
        console.print(Text(_finding(f, "case.finding", lang)))
        console.print(Text(f"    {t('case.cause', lang)}{f['cause']}"))
        console.print(Text(f"    {t('case.do', lang)}{f['suggested_action']}"))
    if case.candidates:
        console.print(Text(t("case.candidates", lang)))
        for c in case.candidates:
            line = t(
                "case.candidate",
                lang,
                record=c["record"],
                candidate=c["candidate"],
                why=_why_not(c, lang),
            )
            console.print(Text(f"  {line}"))
    for h in case.history:
        res = h["resolved"]
        done = t("case.resolved_by", lang, by=res["by"], note=res["note"]) if res else ""
        status = _word("case.status", h["status"], lang)
        line = t(
            "case.history",
            lang,
            day=h["day"],
            type=type_label(h["type"], lang),
            status=status,
            done=done,
        )
        console.print(Text(f"  {line}"))


def render_markdown(case: Case, lang: str | None = None) -> str:
    lang = lang or case.lang
    query = case.query.describe(lang)
    lines = [
        f"# {t('case.evidence', lang, query=query)}",
        "",
        t("case.prepared", lang, version=__version__, by=_decided_by(case, lang)),
        "",
        f"## {t('case.h_records', lang)}",
        "",
        "| " + " | ".join(t(f"case.c.{c}", lang) for c in _FIELDS) + " |",
        "|" + "---|" * len(_FIELDS),
    ]
    for r in case.records:
        cells = [_cell(r, c, lang).replace("|", "\\|") for c in _FIELDS]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"## {t('case.h_wrong', lang)}", ""]
    findings = _findings(case)
    if not findings:
        lines.append(t("case.nothing", lang))
    for f in findings:
        lines += [
            f"- {_finding(f, 'case.md_finding', lang)}",
            f"  - {t('case.cause', lang)}{f['cause']}",
            f"  - {t('case.action', lang)}{f['suggested_action']}",
        ]
    if case.candidates:
        lines += ["", f"## {t('case.h_why_not', lang)}", ""]
        lines += [
            "- "
            + t(
                "case.candidate",
                lang,
                record=c["record"],
                candidate=c["candidate"],
                why=_why_not(c, lang),
            )
            for c in case.candidates
        ]
    if case.history:
        lines += ["", f"## {t('case.h_history', lang)}", ""]
        for h in case.history:
            res = h["resolved"]
            done = (
                t("case.resolved_at", lang, at=res["at"], by=res["by"], note=res["note"])
                if res
                else ""
            )
            line = t(
                "case.md_history",
                lang,
                day=h["day"],
                type=type_label(h["type"], lang),
                severity=sev_label(h["severity"], lang),
                status=_word("case.status", h["status"], lang),
                done=done,
            )
            lines.append(f"- {line}")
    if case.contacts:
        lines += ["", f"## {t('case.h_contacts', lang)}", ""]
        lines += [
            "- " + t("case.pair", lang, label=_word("case.contact", k, lang), value=v)
            for k, v in case.contacts.items()
        ]
    lines += ["", f"## {t('case.h_sources', lang)}", ""]
    lines += [
        "- "
        + t(
            "case.pair",
            lang,
            label=_side(s["side"], lang),
            value=f"`{s['path']}` sha256 `{s['sha256']}`",
        )
        for s in case.sources
    ]
    return "\n".join(lines) + "\n"


def render_html(case: Case, lang: str | None = None) -> str:
    lang = lang or case.lang
    e = html.escape
    rows = "".join(
        "<tr>" + "".join(f"<td>{e(_cell(r, c, lang))}</td>" for c in _FIELDS) + "</tr>\n"
        for r in case.records
    )
    findings = (
        "".join(
            f"<li>{_finding(f, 'case.html_finding', lang, esc=lambda v: e(str(v)))}"
            f"<br>{e(t('case.cause', lang))}{e(str(f['cause']))}<br>"
            f"{e(t('case.action', lang))}{e(str(f['suggested_action']))}</li>\n"
            for f in _findings(case)
        )
        or f"<li>{e(t('case.nothing', lang))}</li>"
    )
    cands = "".join(
        "<li>"
        + e(
            t(
                "case.candidate",
                lang,
                record=c["record"],
                candidate=c["candidate"],
                why=_why_not(c, lang),
            )
        )
        + "</li>\n"
        for c in case.candidates
    )
    contacts = "".join(
        f"<li>{e(t('case.pair', lang, label=_word('case.contact', k, lang), value=v))}</li>"
        for k, v in case.contacts.items()
    )
    sources = "".join(
        "<li>"
        + t(
            "case.pair",
            lang,
            label=e(_side(s["side"], lang)),
            value=f"<code>{e(s['path'])}</code> sha256 <code>{e(s['sha256'])}</code>",
        )
        + "</li>\n"
        for s in case.sources
    )
    head = "".join(f"<th>{e(t(f'case.c.{c}', lang))}</th>" for c in _FIELDS)
    title = e(t("case.evidence", lang, query=case.query.describe(lang)))
    prepared = t("case.prepared", lang, version=__version__, by=_decided_by(case, lang))
    return (
        f'<!DOCTYPE html>\n<html lang="{e(lang)}"><head><meta charset="utf-8">'
        f"<title>{title}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}</style></head><body>\n"
        f"<h1>{title}</h1>\n"
        f"<p>{e(prepared)}</p>\n"
        f"<h2>{e(t('case.h_records', lang))}</h2><table><tr>{head}</tr>\n{rows}</table>\n"
        f"<h2>{e(t('case.h_wrong', lang))}</h2><ul>{findings}</ul>\n"
        + (f"<h2>{e(t('case.h_nearest', lang))}</h2><ul>{cands}</ul>\n" if cands else "")
        + (f"<h2>{e(t('case.h_contacts', lang))}</h2><ul>{contacts}</ul>\n" if contacts else "")
        + f"<h2>{e(t('case.h_sources', lang))}</h2><ul>{sources}</ul>\n</body></html>\n"
    )


def export(case: Case, path: Path) -> None:
    suffix = path.suffix.lower()
    if suffix == ".json":
        text = json.dumps(case_dict(case), indent=2, ensure_ascii=False, default=str) + "\n"
    elif suffix in (".md", ".markdown"):
        text = render_markdown(case)
    elif suffix in (".html", ".htm"):
        text = render_html(case)
    else:
        from recon.errors import UsageError

        raise UsageError(f"--export {path}: the name must end in .md, .html or .json")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
