"""Look at one input file before reconciling it, list profiles, and guess a starter profile.

`inspect_file` reports what the loader makes of a file: the reader, the encoding, the profile
(given or recognised), the column mapping, counts, the date range, totals per currency and the
first rows. It loads through `recon.load.load_side`, so the figures are the loader's own.
`list_profiles` describes the built-in profiles. `guess_profile` writes a commented starter
profile TOML from a sample CSV. Library code: no click; errors are `ReconError`s.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from recon import readers
from recon.errors import ConfigError, InputError, UsageError
from recon.load import _check_file, _pick_reader, _recognise_profile, is_statement, load_side
from recon.money import format_minor
from recon.normalize import KIND_SYNONYMS, header_key, resolve_columns
from recon.profiles import MAPPABLE, Profile, builtin_profiles, load_profile
from recon.schema import INPUT_COLUMNS, SIDES

ROW_COLUMNS = ("line", "id", "time", "amount", "currency", "account", "reference", "kind")
ROW_COLUMNS += ("terminal", "merchant", "fee", "references", "memo")
# Shown under the table of first rows, one line each: they are too long for a table cell.
TEXT_COLUMNS = ("references", "memo")


# ---------------------------------------------------------------------------------- inspect


def _encoding(reader: readers.Reader, head: bytes, profile: Profile) -> str | None:
    if reader.NAME != "csv":
        return None
    from recon.readers import csv as csv_reader

    try:
        return csv_reader.detect_encoding(head, profile.encoding)
    except (ValueError, LookupError):
        return None


def _text(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return value


def _rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    out = []
    for r in frame.to_dicts():
        row = {c: _text(r.get(c)) for c in ROW_COLUMNS}
        row["references"] = list(r["references"]) if r.get("references") is not None else None
        row["amount"] = format_minor(r["amount"], r["currency"])
        row["fee"] = format_minor(r["fee"], r["currency"]) if r["fee"] is not None else None
        if not r["has_clock"] and isinstance(r["time"], datetime):
            row["time"] = r["time"].date().isoformat()
        out.append(row)
    return out


def _totals(frame: pl.DataFrame) -> list[dict[str, Any]]:
    amount = pl.col("amount")
    grouped = (
        frame.group_by("currency")
        .agg(
            rows=pl.len(),
            credit_rows=(amount > 0).sum(),
            debit_rows=(amount < 0).sum(),
            credits=pl.when(amount > 0).then(amount).otherwise(0).sum(),
            debits=pl.when(amount < 0).then(-amount).otherwise(0).sum(),
            net=amount.sum(),
        )
        .sort("currency", nulls_last=True)
    )
    out = []
    for g in grouped.to_dicts():
        cur = g["currency"]
        out.append(
            {
                "currency": cur,
                "rows": g["rows"],
                "credit_rows": g["credit_rows"],
                "debit_rows": g["debit_rows"],
                "credits": format_minor(int(g["credits"]), cur),
                "debits": format_minor(int(g["debits"]), cur),
                "net": format_minor(int(g["net"]), cur),
            }
        )
    return out


def inspect_file(
    path: str | Path,
    side: str | None = None,
    profile: str | Path | None = None,
    rows: int = 5,
    rejected_rows: int = 5,
) -> dict[str, Any]:
    """What the loader makes of one file, as a JSON-ready dict.

    `side` None: the bank side for a bank statement (by its reader or profile), else the POS
    side. Raises InputError (one line naming the file) when the file cannot be used at all.
    """
    if side is not None and side not in SIDES:
        raise UsageError(f"side must be one of {', '.join(SIDES)}, got {side!r}")
    where = str(path)
    file = Path(path)
    head = _check_file(file, where)
    chosen = load_profile(profile) if profile is not None else None
    reader = _pick_reader(file, head, chosen, where)
    if chosen is None:
        chosen = _recognise_profile(file, head, reader, where)
        why = (
            "canonical header"
            if chosen.name == "canonical"
            else "recognised by its headers (first built-in profile whose headers all fit)"
        )
    else:
        why = "given"
    if side is None:
        side = "bank" if is_statement(reader.NAME, chosen.name) else "pos"
    header = list(reader.header(file, head, chosen))
    mapping = resolve_columns(header, chosen)
    used = set(mapping.values())
    unmapped = [h for h in header if h not in used]
    loaded = load_side(file, side, chosen)
    frame = loaded.frame
    times = frame["time"].drop_nulls()
    return {
        "file": where,
        "side": side,
        "format": reader.NAME,
        "encoding": _encoding(reader, head, chosen),
        "profile": chosen.name,
        "profile_path": chosen.path,
        "profile_reason": why,
        "header_row": chosen.header_row if reader.NAME == "csv" else None,
        "columns": mapping,
        "unmapped": unmapped,
        "rows": {"read": loaded.rows, "loaded": frame.height, "rejected": loaded.rejected.height},
        "date_range": {
            "first": _text(times.min()) if len(times) else None,
            "last": _text(times.max()) if len(times) else None,
        },
        "totals": _totals(frame),
        "first_rows": _rows(frame.head(max(rows, 0))),
        "first_rejected": loaded.rejected.head(max(rejected_rows, 0)).to_dicts(),
        "sha256": loaded.sha256,
    }


# --------------------------------------------------------------------------------- profiles


def list_profiles() -> list[dict[str, Any]]:
    """Every built-in profile: name, description, format, encoding and recognised headers."""
    out = []
    for name, path in builtin_profiles().items():
        try:
            p = load_profile(path)
        except ConfigError as exc:
            out.append({"name": name, "path": str(path), "error": str(exc)})
            continue
        if p.columns:
            headers = {c: list(h) for c, h in p.columns.items()}
        else:
            headers = {c: [c] for c in INPUT_COLUMNS}
        out.append(
            {
                "name": p.name,
                "description": p.description,
                "format": p.format,
                "encoding": p.encoding,
                "delimiter": p.delimiter,
                "header_row": p.header_row,
                "headers": headers,
                "path": str(path),
            }
        )
    return out


# ------------------------------------------------------------------------------ guess profile

# canonical name -> synonyms (compared case-folded; English by words, Chinese by substring)
SYNONYMS: dict[str, tuple[str, ...]] = {
    "time": (
        "交易时间",
        "交易日期",
        "记账日期",
        "清算日期",
        "时间",
        "日期",
        "date",
        "time",
        "datetime",
        "created",
        "timestamp",
        "transaction date",
        "booking date",
        "value date",
        "datum",
        "buchungsdatum",
        "valuta",
        "fecha",
    ),
    "amount": (
        "交易金额",
        "金额",
        "清算金额",
        "amount",
        "gross",
        "value",
        "betrag",
        "umsatz",
        "importe",
        "montant",
    ),
    "currency": ("币种", "货币", "currency", "ccy", "währung", "waehrung", "devise", "moneda"),
    "account": (
        "卡号",
        "账号",
        "交易卡号",
        "card",
        "account",
        "pan",
        "card number",
        "karte",
        "kartennummer",
        "konto",
        "iban",
    ),
    "reference": (
        "参考号",
        "检索参考号",
        "系统参考号",
        "rrn",
        "reference",
        "transaction id",
        "ref",
        "referenz",
        "verwendungszweck",
    ),
    "terminal": ("终端号", "终端编号", "terminal", "terminal id", "tid"),
    "merchant": ("商户号", "商户编号", "merchant", "merchant id", "mid", "händler"),
    "fee": ("手续费", "fee", "fees", "commission", "gebühr", "gebuehr"),
    "kind": ("交易类型", "类型", "kind", "type", "transaction type", "typ", "art"),
    "debit_credit": (
        "借贷标志",
        "借贷",
        "收支",
        "debit/credit",
        "dr/cr",
        "d/c",
        "soll/haben",
    ),
    "id": ("流水号", "凭证号", "交易流水号", "id", "transaction number", "nr"),
}
# Matched in this order when a header holds synonyms of several canonical names.
_ORDER = tuple(SYNONYMS)
DEFAULT_DEBIT_CREDIT = {"debit": ["借", "D", "DR", "debit"], "credit": ["贷", "C", "CR", "credit"]}
DATETIME_CANDIDATES = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y%m%d%H%M%S",
    "%Y%m%d %H%M%S",
    "%Y%m%d %H:%M:%S",
    "%Y年%m月%d日 %H:%M:%S",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%Y%m%d",
    "%Y年%m月%d日",
    "%d.%m.%Y",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d-%m-%Y",
)
_ENCODINGS = ("utf-8-sig", "utf-8", "gb18030")
_DELIMITERS = (",", ";", "\t", "|")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_NUMERIC = re.compile(r"^[\s+\-(]*[¥￥$€£]?\s*[\d.,'\s]+\)?-?$")
SYMBOL_CURRENCY = {"€": "EUR", "¥": "CNY", "￥": "CNY", "元": "CNY", "£": "GBP", "$": "USD"}


@dataclass
class Guess:
    """A starter profile guessed from a sample, with a note on where each key came from."""

    encoding: str
    delimiter: str
    header_row: int
    header: list[str]
    columns: dict[str, str] = field(default_factory=dict)
    unmapped: list[str] = field(default_factory=list)
    datetime_format: str | None = None
    date_only: bool = False
    decimal_mark: str = "."
    thousands_mark: str = ","
    default_currency: str | None = None
    kinds: dict[str, str] = field(default_factory=dict)
    unknown_kinds: list[str] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)


def _decode(data: bytes, where: str) -> tuple[str, str]:
    cut = data.rfind(b"\n")
    sample = data[: cut + 1] if cut > 0 and len(data) >= 64 * 1024 else data
    for enc in _ENCODINGS:
        if enc == "utf-8-sig" and not sample.startswith(b"\xef\xbb\xbf"):
            continue
        try:
            return enc, sample.decode(enc)
        except UnicodeDecodeError:
            continue
    raise InputError("cannot decode as utf-8, utf-8-sig or gb18030", where)


def _split(line: str, delimiter: str) -> list[str]:
    return [c.strip() for c in next(csv.reader([line], delimiter=delimiter), [])]


def _sniff_delimiter(lines: list[str]) -> tuple[str, str]:
    sample = "\n".join(lines[:20])
    try:
        found = csv.Sniffer().sniff(sample, delimiters="".join(_DELIMITERS)).delimiter
        if found in _DELIMITERS and any(len(_split(ln, found)) >= 3 for ln in lines[:20]):
            return found, "csv.Sniffer on the first lines"
    except csv.Error:
        pass

    def score(d: str) -> int:
        return sum(1 for ln in lines[:20] if len(_split(ln, d)) >= 3)

    best = max(_DELIMITERS, key=score)
    return best, "the delimiter splitting most of the first lines into 3+ fields"


def _is_numeric(cell: str) -> bool:
    return not cell or bool(_NUMERIC.match(cell))


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[^\w/]+", text.casefold()) if w]


def _match(header: str, synonym: str, exact: bool) -> bool:
    h, s = header_key(header), synonym.casefold()
    if exact:
        return h == s
    if _CJK.search(s):
        return s in h
    hw, sw = _words(h), _words(s)
    return any(hw[i : i + len(sw)] == sw for i in range(len(hw) - len(sw) + 1))


def map_headers(header: list[str]) -> dict[str, str]:
    """Canonical name -> header, by exact synonyms first, then the longest contained synonym."""
    found: dict[str, str] = {}
    taken: set[str] = set()
    for exact in (True, False):
        for h in header:
            if h in taken or not h:
                continue
            best: tuple[int, str] | None = None
            for canon in _ORDER:
                if canon in found:
                    continue
                for syn in SYNONYMS[canon]:
                    if _match(h, syn, exact) and (best is None or len(syn) > best[0]):
                        best = (len(syn), canon)
            if best is not None:
                found[best[1]] = h
                taken.add(h)
    return {c: found[c] for c in MAPPABLE if c in found}


def _guess_datetime(values: list[str]) -> tuple[str | None, bool, str]:
    values = [v.strip().lstrip("`'") for v in values if v.strip()]
    if not values:
        return None, False, "no time values in the sample"
    for fmt in DATETIME_CANDIDATES:
        try:
            for v in values:
                datetime.strptime(v, fmt)
        except ValueError:
            continue
        clock = any(d in fmt for d in ("%H", "%M", "%S"))
        return fmt, not clock, f"the first {len(values)} time values ({values[0]!r})"
    try:
        for v in values:
            datetime.fromisoformat(v.replace("Z", "+00:00"))
        return None, False, f"ISO 8601 values ({values[0]!r}): no format needed"
    except ValueError:
        return None, False, f"no candidate format fits {values[0]!r}: set datetime_format"


def _guess_marks(values: list[str]) -> tuple[str, str, str]:
    comma_decimal = dot_decimal = 0
    seen_thousands: dict[str, int] = {}
    for raw in values:
        v = re.sub(r"[^\d.,' ]", "", raw).strip()
        marks = [ch for ch in v if ch in ".,"]
        if not marks:
            continue
        last = marks[-1]
        tail = v.rsplit(last, 1)[1]
        if len(set(marks)) == 2 or (marks.count(last) == 1 and len(tail) != 3):
            if last == ",":
                comma_decimal += 1
            else:
                dot_decimal += 1
            other = "." if last == "," else ","
            if other in marks:
                seen_thousands[other] = seen_thousands.get(other, 0) + 1
        elif marks.count(last) > 1:
            seen_thousands[last] = seen_thousands.get(last, 0) + 1
        if "'" in v:
            seen_thousands["'"] = seen_thousands.get("'", 0) + 1
    decimal = "," if comma_decimal > dot_decimal else "."
    thousands = [m for m in seen_thousands if m != decimal]
    if thousands:
        thousands_mark = max(thousands, key=lambda m: seen_thousands[m])
    else:
        thousands_mark = "." if decimal == "," else ","
    why = f"the amount values ({comma_decimal} with a decimal comma, {dot_decimal} with a point)"
    return decimal, thousands_mark, why


def _guess_currency(header: list[str], amounts: list[str], decimal: str) -> tuple[str | None, str]:
    for sym, code in SYMBOL_CURRENCY.items():
        if any(sym in a for a in amounts):
            return code, f"the symbol {sym!r} in the amounts"
    if any(_CJK.search(h) for h in header):
        return "CNY", "Chinese headers"
    if decimal == ",":
        return "EUR", "the decimal comma"
    return None, "nothing in the sample"


def guess_profile(path: str | Path, side: str = "bank") -> Guess:
    """Guess a profile from the first lines of a delimited text file."""
    if side not in SIDES:
        raise UsageError(f"side must be one of {', '.join(SIDES)}, got {side!r}")
    where = str(path)
    head = _check_file(Path(path), where)
    if b"\x00" in head:
        raise InputError("binary file (contains NUL bytes); expected delimited text", where)
    encoding, text = _decode(head, where)
    lines = [ln.rstrip("\r") for ln in text.removeprefix("\ufeff").split("\n")]
    delimiter, delim_why = _sniff_delimiter([ln for ln in lines if ln.strip()])
    header_idx = None
    for i, ln in enumerate(lines[:50]):
        cells = _split(ln, delimiter) if ln.strip() else []
        if sum(1 for c in cells if not _is_numeric(c)) >= 3:
            header_idx = i
            break
    if header_idx is None:
        raise InputError("no header line found (a line with 3 or more non-numeric fields)", where)
    header = _split(lines[header_idx], delimiter)
    data = [_split(ln, delimiter) for ln in lines[header_idx + 1 : header_idx + 51] if ln.strip()]
    data = [r for r in data if len(r) == len(header)]
    columns = map_headers(header)
    used = set(columns.values())
    g = Guess(
        encoding=encoding,
        delimiter=delimiter,
        header_row=header_idx + 1,
        header=header,
        columns=columns,
        unmapped=[h for h in header if h not in used],
    )
    g.notes["encoding"] = f"the first bytes decode as {encoding}"
    g.notes["delimiter"] = delim_why
    g.notes["header_row"] = f"the first line with 3+ non-numeric fields is line {g.header_row}"

    def values(canon: str) -> list[str]:
        if canon not in columns:
            return []
        i = header.index(columns[canon])
        return [r[i] for r in data[:20]]

    g.datetime_format, g.date_only, g.notes["datetime_format"] = _guess_datetime(values("time"))
    amounts = [v for v in values("amount") if v.strip()]
    g.decimal_mark, g.thousands_mark, g.notes["decimal_mark"] = _guess_marks(amounts)
    if "currency" not in columns:
        g.default_currency, why = _guess_currency(header, amounts, g.decimal_mark)
        g.notes["default_currency"] = why
    kinds_seen = sorted({v.strip() for v in values("kind") if v.strip()})
    for k in kinds_seen:
        mapped = KIND_SYNONYMS.get(k.casefold())
        if mapped:
            g.kinds[k] = mapped
        else:
            g.unknown_kinds.append(k)
    return g


def _q(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def render_profile_toml(g: Guess, name: str, source: str, side: str) -> str:
    """The guessed profile as commented TOML; every guessed key says what it came from."""
    out = [
        f"# Starter profile guessed by `recon profile new` from {source} ({side} side).",
        "# Every key below is a guess: check each one against the file before relying on it.",
        f"name = {_q(name)}",
        f"description = {_q(f'Guessed from {Path(source).name}: check')}",
        'format = "csv"',
        f"# guessed from {g.notes['encoding']}: check",
        f"encoding = {_q(g.encoding)}",
        f"# guessed from {g.notes['delimiter']}: check",
        f"delimiter = {_q(g.delimiter)}",
        f"# guessed from {g.notes['header_row']}: check",
        f"header_row = {g.header_row}",
    ]
    out.append(f"# guessed from {g.notes['datetime_format']}: check")
    if g.datetime_format:
        out.append(f"datetime_format = [{_q(g.datetime_format)}]")
        out.append(f"date_only = {'true' if g.date_only else 'false'}")
    else:
        out.append("# datetime_format left out: ISO 8601 date/time or a plain date")
    out.append(f"# guessed from {g.notes['decimal_mark']}: check")
    out.append(f"decimal_mark = {_q(g.decimal_mark)}")
    out.append(f"thousands_mark = {_q(g.thousands_mark)}")
    if "default_currency" in g.notes:
        if g.default_currency:
            out.append(f"# guessed from {g.notes['default_currency']} (no currency column): check")
            out.append(f"default_currency = {_q(g.default_currency)}")
        else:
            out.append(
                "# no currency column and nothing to guess one from: set the file's currency"
            )
            out.append('# default_currency = "CNY"')
    out.append("")
    out.append("# guessed from the header names (common English, Chinese and German names): check")
    out.append("[columns]")
    for canon, header in g.columns.items():
        out.append(f"{canon} = {_q(header)}")
    missing = [c for c in ("time", "amount") if c not in g.columns]
    for canon in missing:
        out.append(f'# {canon} = "?"  # required: no header looked like it, set it')
    if g.unmapped:
        out.append("# unmapped headers (ignored): " + ", ".join(g.unmapped))
    if "debit_credit" in g.columns:
        out += ["", "# guessed: the usual debit/credit flags: check against the file's values"]
        out.append("[debit_credit]")
        for key, vals in DEFAULT_DEBIT_CREDIT.items():
            out.append(f"{key} = [{', '.join(_q(v) for v in vals)}]")
    if g.kinds or g.unknown_kinds:
        out += ["", "# guessed from the kind values in the sample: check"]
        out.append("[kinds]")
        for src, kind in g.kinds.items():
            out.append(f"{_q(src)} = {_q(kind)}")
        if g.unknown_kinds:
            out.append("# kind values not recognised (map them): " + ", ".join(g.unknown_kinds))
    return "\n".join(out) + "\n"


@dataclass(frozen=True)
class NewProfile:
    path: str
    guess: Guess
    profile: Profile
    check: dict[str, Any]  # loaded/rejected counts of the sample through the profile, or error


def new_profile(
    sample: str | Path, out: str | Path, side: str = "bank", *, force: bool = False
) -> NewProfile:
    """Guess a profile from `sample`, write it to `out`, load it back and try it on the sample."""
    target = Path(out)
    if target.exists() and not force:
        raise UsageError(f"{target}: already exists; pass --force to overwrite it")
    if target.is_dir():
        raise UsageError(f"{target}: is a directory")
    guess = guess_profile(sample, side)
    text = render_profile_toml(guess, target.stem, str(sample), side)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    profile = load_profile(target)
    try:
        loaded = load_side(sample, side, target)
        check: dict[str, Any] = {
            "read": loaded.rows,
            "loaded": loaded.frame.height,
            "rejected": loaded.rejected.height,
            "first_rejected": loaded.rejected.head(3).to_dicts(),
        }
    except (InputError, ConfigError) as exc:
        check = {"error": str(exc)}
    return NewProfile(str(target), guess, profile, check)


# -------------------------------------------------------------------------------- rendering


def render_inspection(info: dict[str, Any], console: Any) -> None:
    """Print an `inspect_file` result with rich (tables; file text is never markup)."""
    from rich.markup import escape
    from rich.table import Table

    enc = f", encoding {info['encoding']}" if info.get("encoding") else ""
    console.print(f"[bold]{escape(info['file'])}[/] ({info['side']} side)")
    console.print(f"format: {info['format']}{escape(enc)}")
    where = f" ({info['profile_path']})" if info.get("profile_path") else ""
    console.print(
        f"profile: {escape(info['profile'])}{escape(where)}: {escape(info['profile_reason'])}"
    )
    if info.get("header_row") and info["header_row"] != 1:
        console.print(f"header row: line {info['header_row']}")
    mapping = Table("canonical", "file header", title="Column mapping", title_justify="left")
    for canon, header in info["columns"].items():
        mapping.add_row(canon, escape(header))
    console.print(mapping)
    if info["unmapped"]:
        console.print("unmapped headers: " + escape(", ".join(info["unmapped"])))
    r = info["rows"]
    console.print(f"rows: {r['read']} read, {r['loaded']} loaded, {r['rejected']} rejected")
    dr = info["date_range"]
    if dr["first"]:
        console.print(f"date range: {dr['first']} .. {dr['last']}")
    totals = Table(
        "currency",
        "rows",
        "credits",
        "debits",
        "net",
        title="Totals per currency",
        title_justify="left",
    )
    for t in info["totals"]:
        totals.add_row(
            escape(str(t["currency"])),
            str(t["rows"]),
            f"{t['credits']} ({t['credit_rows']})",
            f"{t['debits']} ({t['debit_rows']})",
            t["net"],
        )
    if info["totals"]:
        console.print(totals)
    if info["first_rows"]:
        first = info["first_rows"]
        cols = [
            c
            for c in first[0]
            if c not in TEXT_COLUMNS and any(x.get(c) is not None for x in first)
        ]
        rows = Table(*cols, title=f"First {len(first)} rows (normalised)", title_justify="left")
        for row in first:
            rows.add_row(*(escape("" if row[c] is None else str(row[c])) for c in cols))
        console.print(rows)
        for row in first:
            refs = " | ".join(row.get("references") or [])
            memo = row.get("memo")
            if refs or memo:
                console.print(f"  line {row['line']}:")
            if refs:
                console.print(f"    references: {escape(refs)}")
            if memo:
                console.print(f"    memo: {escape(str(memo))}")
    if info["first_rejected"]:
        console.print(f"Rejected rows (first {len(info['first_rejected'])}):")
        for rej in info["first_rejected"]:
            console.print(f"  line {rej['line']}: {escape(str(rej['reason']))}")
            console.print(f"    {escape(str(rej['raw']))}")
