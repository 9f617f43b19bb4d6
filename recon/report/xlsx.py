"""An Excel workbook of a run: a Summary sheet, one sheet per discrepancy type, the batch
deposits (when there are any), rejected rows.

Every cell is written with a typed call (write_string, write_number, write_datetime, ...), never
with the generic write(): text from the inputs (references, ids, remittance text) may start with
=, +, - or @, and write_string stores it as a literal string that Excel never runs as a formula.

Money stays exact everywhere in recon; only at the cell boundary is a decimal string turned into
a number, because an .xlsx number cell is an IEEE double. The exact text is in the CSV.

The same RunResult gives the same bytes: the workbook's created date is fixed and xlsxwriter
stamps every zip member with a fixed time.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import polars as pl
import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from recon.config import SEVERITIES, TYPES
from recon.i18n import TEXT, sev_label, t, type_label
from recon.money import format_minor, minor_digits
from recon.report.deposits import deposits_in_order
from recon.result import RunResult, at_risk_by_currency

# Data rows per sheet at most (Excel's own limit is 1,048,576 rows including the header).
MAX_ROWS = 100  # rows per sheet, most severe first: the CSV and Parquet hold every item
# Excel's limit on the text of one cell.
MAX_CELL_CHARS = 32_767
MAX_SHEET_NAME = 31
# A fixed created date, so that two writes of one result are byte-identical.
CREATED = datetime(2000, 1, 1)

# Money columns and the column naming their currency (the first non-null one wins).
MONEY_COLUMNS = {
    "pos_amount": ("currency",),
    "bank_amount": ("bank_currency", "currency"),
    "difference": ("currency",),
    "amount_at_risk": ("currency",),
    # the Deposits sheet (batch settlements)
    "gross": ("currency",),
    "fee_expected": ("currency",),
    "fee_charged": ("currency",),
    "deposit": ("currency",),
}
_HIGH_FIRST = tuple(reversed(SEVERITIES))
_MIN_WIDTH, _MAX_WIDTH = 6, 60
_WIDTH_SAMPLE = 1000


class _Formats:
    """The workbook's formats, created once (xlsxwriter keeps every Format it is given)."""

    def __init__(self, wb: xlsxwriter.Workbook) -> None:
        self.wb = wb
        self.header = wb.add_format({"bold": True, "bg_color": "#DDE4EE", "bottom": 1})
        self.bold = wb.add_format({"bold": True})
        self.title = wb.add_format({"bold": True, "font_size": 14})
        self.note = wb.add_format({"italic": True, "font_color": "#9C0006"})
        self.datetime = wb.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        self.date = wb.add_format({"num_format": "yyyy-mm-dd"})
        self.integer = wb.add_format({"num_format": "0"})
        self._money: dict[int, Format] = {}

    def money(self, currency: str | None) -> Format:
        digits = minor_digits(currency)
        if digits not in self._money:
            fmt = "#,##0" + ("." + "0" * digits if digits else "")
            self._money[digits] = self.wb.add_format({"num_format": fmt})
        return self._money[digits]


def _text(ws: Worksheet, row: int, col: int, value: object, fmt: Format | None = None) -> None:
    """Write text as a literal string (never a formula, URL or number)."""
    ws.write_string(row, col, str(value)[:MAX_CELL_CHARS], fmt)


def _money(
    ws: Worksheet, row: int, col: int, text: str | None, currency: str | None, f: _Formats
) -> None:
    if text is None or text == "":
        return
    try:
        value = Decimal(text)
    except InvalidOperation:
        _text(ws, row, col, text)
        return
    # Excel stores numbers as doubles: float() happens here and only here. The exact decimal
    # text is in discrepancies.csv / discrepancies.parquet.
    ws.write_number(row, col, float(value), f.money(currency))


def _cell(ws: Worksheet, row: int, col: int, value: Any, f: _Formats) -> None:
    if value is None:
        return
    if isinstance(value, bool):
        ws.write_boolean(row, col, value)
    elif isinstance(value, int):
        ws.write_number(row, col, value, f.integer)
    elif isinstance(value, datetime):
        ws.write_datetime(row, col, value.replace(tzinfo=None), f.datetime)
    elif isinstance(value, date):
        ws.write_datetime(row, col, datetime(value.year, value.month, value.day), f.date)
    elif isinstance(value, float):
        ws.write_number(row, col, value)
    else:
        _text(ws, row, col, value)


def _width(frame: pl.DataFrame, col: str) -> float:
    dtype = frame.schema[col]
    if dtype == pl.Datetime or isinstance(dtype, pl.Datetime):
        longest = 19
    else:
        sample = frame.get_column(col).head(_WIDTH_SAMPLE).cast(pl.String)
        longest = int(sample.str.len_chars().max() or 0)
    return float(min(_MAX_WIDTH, max(_MIN_WIDTH, len(col) + 2, longest + 2)))


def _capped_note(total: int, what: str, lang: str = "en") -> str:
    return t("xlsx.capped", lang, shown=f"{MAX_ROWS:,}", total=f"{total:,}", what=what)


def _header(col: str, lang: str) -> str:
    """A column header: the column name in English, its translation in other languages."""
    key = f"xlsx.c.{col}"
    if lang == "en" or key not in TEXT:
        return col
    return t(key, lang)


def _text_width(text: str) -> int:
    """Columns `text` takes: East Asian wide characters count twice."""
    return sum(2 if ord(ch) >= 0x1100 else 1 for ch in text)


def _table(
    wb: xlsxwriter.Workbook,
    name: str,
    frame: pl.DataFrame,
    f: _Formats,
    full_file: str,
    lang: str = "en",
    total: int | None = None,
) -> None:
    """One sheet of `frame`: typed cells, frozen header, autofilter, column widths, a cap.

    `total` is the number of rows the sheet stands for when `frame` holds only the first."""
    ws = wb.add_worksheet(name[:MAX_SHEET_NAME])
    columns = frame.columns
    shown = frame.head(MAX_ROWS)
    for c, col in enumerate(columns):
        head = _header(col, lang)
        width = _width(shown, col)
        if head != col:
            width = max(width, float(min(_MAX_WIDTH, _text_width(head) + 2)))
        ws.set_column(c, c, width)
        _text(ws, 0, c, head, f.header)
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, max(shown.height, 1), max(len(columns) - 1, 0))
    money = {
        columns.index(col): [columns.index(k) for k in keys if k in columns]
        for col, keys in MONEY_COLUMNS.items()
        if col in columns
    }
    # Text columns (most of the sheet) go straight to write_string; the rest by type.
    plain_text = {
        c for c, dtype in enumerate(shown.dtypes) if dtype == pl.String and c not in money
    }
    write_string = ws.write_string
    for r, values in enumerate(shown.iter_rows(), start=1):
        for c, value in enumerate(values):
            if value is None:
                continue
            if c in plain_text:
                write_string(r, c, value[:MAX_CELL_CHARS])
            elif c in money and isinstance(value, str):
                cur = next((values[k] for k in money[c] if values[k]), None)
                _money(ws, r, c, value, cur, f)
            else:
                _cell(ws, r, c, value, f)
    total = frame.height if total is None else total
    if total > MAX_ROWS:
        _text(ws, shown.height + 2, 0, _capped_note(total, full_file, lang), f.note)


def _contract_frame(result: RunResult) -> pl.DataFrame:
    """The contract's columns, as in discrepancies.csv."""
    # Imported here: recon.report.files may import this module to wire write_xlsx in.
    from recon.report.files import discrepancy_table

    return discrepancy_table(result)


def _summary_sheet(wb: xlsxwriter.Workbook, result: RunResult, f: _Formats) -> None:
    ws = wb.add_worksheet("Summary")
    ws.set_column(0, 0, 24)
    ws.set_column(1, 1, 36)
    ws.set_column(2, 2, 68)
    ws.set_column(3, 9, 14)
    s = result.summary
    df = result.discrepancies
    lang = result.settings.lang
    row = 0
    _text(ws, row, 0, t("xlsx.title", lang), f.title)
    row += 1
    if s.get("recon_version"):
        _text(ws, row, 0, t("xlsx.version", lang))
        _text(ws, row, 1, s["recon_version"])
        row += 1
    row += 1

    # Inputs.
    heads = ("side", "file", "sha256", "profile", "reader", "rows_read", "loaded", "rejected")
    for c, head in enumerate(heads):
        _text(ws, row, c, t(f"xlsx.{head}", lang), f.header)
    row += 1
    for label, side in ((t("rep.pos", lang), result.pos), (t("rep.bank", lang), result.bank)):
        for c, v in enumerate((label, side.path, side.sha256, side.profile, side.reader)):
            _text(ws, row, c, v)
        for c, v in enumerate((side.rows, side.loaded, side.rejected), start=5):
            ws.write_number(row, c, v, f.integer)
        row += 1
    row += 1

    matched = s.get("matched", {})
    counts = (
        (t("xlsx.matched", lang), matched.get("pairs")),
        (t("xlsx.voided", lang), matched.get("voided")),
        (t("xlsx.rejected_rows", lang), result.rejected.height),
        (t("xlsx.discrepancies", lang), df.height),
    )
    for label, value in counts:
        if value is None:
            continue
        _text(ws, row, 0, label, f.bold)
        ws.write_number(row, 1, value, f.integer)
        row += 1
    row += 1

    # Counts and money at risk per type, then per severity; one money column per currency.
    currencies = sorted(at_risk_by_currency(df))
    by_type = s.get("discrepancies", {}).get("by_type", {})

    def header(first: str) -> None:
        nonlocal row
        _text(ws, row, 0, first, f.header)
        _text(ws, row, 1, t("xlsx.count", lang), f.header)
        for c, cur in enumerate(currencies, start=2):
            _text(ws, row, c, t("xlsx.at_risk", lang, cur=cur), f.header)
        row += 1

    def line(label: str, count: int, amounts: dict[str, str], fmt: Format | None = None) -> None:
        nonlocal row
        _text(ws, row, 0, label, fmt)
        ws.write_number(row, 1, count, f.integer)
        for c, cur in enumerate(currencies, start=2):
            _money(ws, row, c, amounts.get(cur, format_minor(0, cur)), cur, f)
        row += 1

    # (the counts read four columns: filtering the items whole would copy their texts)
    df = df.select("type", "severity", "currency", "at_risk_minor")
    header(t("xlsx.type", lang))
    for typ in TYPES:
        sub = df.filter(pl.col("type") == typ)
        count = by_type.get(typ, {}).get("count", sub.height)
        amounts = by_type.get(typ, {}).get("at_risk") or at_risk_by_currency(sub)
        line(type_label(typ, lang), count, amounts)
    line(t("rep.total", lang), df.height, s.get("money_at_risk") or at_risk_by_currency(df), f.bold)
    row += 1

    header(t("xlsx.severity", lang))
    for sev in _HIGH_FIRST:
        sub = df.filter(pl.col("severity") == sev)
        line(sev_label(sev, lang), sub.height, at_risk_by_currency(sub))
    row += 1

    for label, value in ((t("xlsx.fail_on", lang), s.get("fail_on", result.settings.fail_on)),):
        _text(ws, row, 0, label, f.bold)
        _text(ws, row, 1, value)
        row += 1
    _text(ws, row, 0, t("xlsx.exit_code", lang), f.bold)
    ws.write_number(row, 1, s.get("exit_code", result.exit_code()), f.integer)
    row += 2

    notes = [t("xlsx.money_note", lang)]
    for typ in TYPES:
        n = int(by_type.get(typ, {}).get("count", 0) or df.filter(pl.col("type") == typ).height)
        if n > MAX_ROWS:
            notes.append(
                t("xlsx.sheet_note", lang, name=typ[:MAX_SHEET_NAME])
                + _capped_note(n, "discrepancies.csv", lang)
            )
    if result.deposits.height > MAX_ROWS:
        notes.append(
            t("xlsx.sheet_note", lang, name="Deposits")
            + _capped_note(result.deposits.height, "deposits.csv", lang)
        )
    if result.rejected.height > MAX_ROWS:
        notes.append(
            t("xlsx.sheet_note", lang, name="Rejected")
            + _capped_note(result.rejected.height, "rejected.csv", lang)
        )
    for note in notes:
        _text(ws, row, 0, note, f.note)
        row += 1


def write_xlsx(result: RunResult, path: Path) -> None:
    """Write the run as an .xlsx workbook at `path` (the caller makes it atomic)."""
    wb = xlsxwriter.Workbook(
        str(path),
        {
            # Belt and braces: only typed write_* calls are used, and these keep any generic
            # conversion off in case one slips in.
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
            "remove_timezone": True,
            # Rows are written in order, one sheet after another, so a capped sheet of a
            # million rows does not hold every cell in memory.
            "constant_memory": True,
        },
    )
    wb.set_properties({"title": "recon report", "created": CREATED})
    f = _Formats(wb)
    _summary_sheet(wb, result, f)
    lang = result.settings.lang
    items = _contract_frame(result)
    # (counted over every item: `items` may hold only the first ones of each type)
    counts = dict(result.discrepancies.group_by("type").len().iter_rows())
    for typ in TYPES:
        if counts.get(typ):
            # only the rows the sheet shows are taken out of a large day's items
            shown = items.lazy().filter(pl.col("type") == typ).head(MAX_ROWS).collect()
            _table(wb, typ, shown, f, "discrepancies.csv", lang, total=counts[typ])
    if result.deposits.height:
        # Problems first, like the HTML page; the status stays the stored value, like the types.
        _table(wb, "Deposits", deposits_in_order(result.deposits), f, "deposits.csv", lang)
    from recon.reasons import translate_reasons

    # The reasons people read, in their language (rejected.csv keeps the English).
    rejected = translate_reasons(result.rejected, lang, rows=MAX_ROWS)
    _table(wb, "Rejected", rejected, f, "rejected.csv", lang)
    wb.close()
