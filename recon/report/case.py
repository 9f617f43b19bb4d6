"""The evidence file of one disputed transfer, as Markdown, HTML or JSON, and its terminal view."""

from __future__ import annotations

import html
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from recon import __version__
from recon.investigate import Case

_FIELDS = ("time", "side", "id", "kind", "amount", "reference", "terminal", "account", "decision")


def case_dict(case: Case) -> dict[str, Any]:
    data = asdict(case)
    data["query"] = case.query.describe()
    data["recon_version"] = __version__
    for r in data["records"]:
        r.pop("amount_minor", None)
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


def render_terminal(case: Case, console: Console) -> None:
    console.print(Text(f"Transfer: {case.query.describe()}", style="bold"))
    console.print(Text(f"Decisions: {case.decided_by}"))
    console.print()
    for r in case.records:
        head = "  ".join(
            str(v)
            for v in (
                r["time"],
                r["side"].upper() if r["side"] == "pos" else r["side"],
                r["id"],
                r["kind"],
                r["amount"],
                f"ref {r['reference']}" if r["reference"] else "",
                r["terminal"] or "",
                r["account"] or "",
            )
            if v
        )
        console.print(Text(head))
        console.print(Text(f"    {r['decision']}"))
    console.print()
    for f in _findings(case):
        console.print(Text(f"{f['item_id']} {f['type']} ({f['severity']}): {f['detail']}"))
        console.print(Text(f"    Probable cause: {f['cause']}"))
        console.print(Text(f"    Do: {f['suggested_action']}"))
    if case.candidates:
        console.print(Text("Nearest candidates of unmatched records, and why they did not match:"))
        for c in case.candidates:
            console.print(Text(f"  {c['record']} ~ {c['candidate']}: {'; '.join(c['why_not'])}"))
    for h in case.history:
        res = h["resolved"]
        done = f", resolved by {res['by']}: {res['note']}" if res else ""
        console.print(Text(f"  history {h['day']}: {h['type']} {h['status']}{done}"))


def render_markdown(case: Case) -> str:
    lines = [
        f"# Evidence: {case.query.describe()}",
        "",
        f"Prepared by recon {__version__}. Decisions: {case.decided_by}.",
        "",
        "## Records",
        "",
        "| " + " | ".join(_FIELDS) + " |",
        "|" + "---|" * len(_FIELDS),
    ]
    for r in case.records:
        cells = [str(r[c] or "").replace("|", "\\|") for c in _FIELDS]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## What went wrong", ""]
    findings = _findings(case)
    if not findings:
        lines.append("Nothing: every record was matched.")
    for f in findings:
        lines += [
            f"- **{f['type']}** ({f['severity']}, {f['item_id']}): {f['detail']}",
            f"  - Probable cause: {f['cause']}",
            f"  - Suggested action: {f['suggested_action']}",
        ]
    if case.candidates:
        lines += ["", "## Why the nearest candidates did not match", ""]
        lines += [
            f"- {c['record']} ~ {c['candidate']}: {'; '.join(c['why_not'])}"
            for c in case.candidates
        ]
    if case.history:
        lines += ["", "## History (state store)", ""]
        for h in case.history:
            res = h["resolved"]
            done = f"; resolved {res['at']} by {res['by']}: {res['note']}" if res else ""
            lines.append(f"- {h['day']}: {h['type']} ({h['severity']}) {h['status']}{done}")
    if case.contacts:
        lines += ["", "## Contacts", ""]
        lines += [f"- {k}: {v}" for k, v in case.contacts.items()]
    lines += ["", "## Source files", ""]
    lines += [f"- {s['side']}: `{s['path']}` sha256 `{s['sha256']}`" for s in case.sources]
    return "\n".join(lines) + "\n"


def render_html(case: Case) -> str:
    e = html.escape
    rows = "".join(
        "<tr>" + "".join(f"<td>{e(str(r[c] or ''))}</td>" for c in _FIELDS) + "</tr>\n"
        for r in case.records
    )
    findings = (
        "".join(
            f"<li><b>{e(f['type'])}</b> ({e(f['severity'])}, {e(f['item_id'])}): {e(f['detail'])}"
            f"<br>Probable cause: {e(f['cause'])}<br>Suggested action: "
            f"{e(f['suggested_action'])}</li>\n"
            for f in _findings(case)
        )
        or "<li>Nothing: every record was matched.</li>"
    )
    cands = "".join(
        f"<li>{e(c['record'])} ~ {e(c['candidate'])}: {e('; '.join(c['why_not']))}</li>\n"
        for c in case.candidates
    )
    contacts = "".join(f"<li>{e(k)}: {e(v)}</li>" for k, v in case.contacts.items())
    sources = "".join(
        f"<li>{e(s['side'])}: <code>{e(s['path'])}</code> sha256 <code>{e(s['sha256'])}</code></li>"
        for s in case.sources
    )
    head = "".join(f"<th>{e(c)}</th>" for c in _FIELDS)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Evidence: {e(case.query.describe())}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}</style></head><body>\n"
        f"<h1>Evidence: {e(case.query.describe())}</h1>\n"
        f"<p>Prepared by recon {e(__version__)}. Decisions: {e(case.decided_by)}.</p>\n"
        f"<h2>Records</h2><table><tr>{head}</tr>\n{rows}</table>\n"
        f"<h2>What went wrong</h2><ul>{findings}</ul>\n"
        + (f"<h2>Nearest candidates</h2><ul>{cands}</ul>\n" if cands else "")
        + (f"<h2>Contacts</h2><ul>{contacts}</ul>\n" if contacts else "")
        + f"<h2>Source files</h2><ul>{sources}</ul>\n</body></html>\n"
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
