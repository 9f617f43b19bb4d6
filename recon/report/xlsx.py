"""An Excel workbook of a run: a Summary sheet, one sheet per discrepancy type, rejected rows.

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
from recon.money import format_minor, minor_digits
from recon.result import RunResult

# Data rows per sheet at most (Excel's own limit is 1,048,576 rows including the header).
MAX_ROWS = 1_000_000
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


def _capped_note(total: int, what: str) -> str:
    return (
        f"Capped: this sheet shows the first {MAX_ROWS:,} of {total:,} rows; {what} has every row."
    )


def _table(
    wb: xlsxwriter.Workbook,
    name: str,
    frame: pl.DataFrame,
    f: _Formats,
    full_file: str,
) -> None:
    """One sheet of `frame`: typed cells, frozen header, autofilter, column widths, a cap."""
    ws = wb.add_worksheet(name[:MAX_SHEET_NAME])
    columns = frame.columns
    shown = frame.head(MAX_ROWS)
    for c, col in enumerate(columns):
        ws.set_column(c, c, _width(shown, col))
        _text(ws, 0, c, col, f.header)
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, max(shown.height, 1), max(len(columns) - 1, 0))
    money = {
        columns.index(col): [columns.index(k) for k in keys if k in columns]
        for col, keys in MONEY_COLUMNS.items()
        if col in columns
    }
    for r, values in enumerate(shown.iter_rows(), start=1):
        for c, value in enumerate(values):
            if c in money and (value is None or isinstance(value, str)):
                cur = next((values[k] for k in money[c] if values[k]), None)
                _money(ws, r, c, value, cur, f)
            else:
                _cell(ws, r, c, value, f)
    if frame.height > MAX_ROWS:
        _text(ws, shown.height + 2, 0, _capped_note(frame.height, full_file), f.note)


def _contract_frame(result: RunResult) -> pl.DataFrame:
    """The contract's columns, as in discrepancies.csv."""
    # Imported here: recon.report.files may import this module to wire write_xlsx in.
    from recon.report.files import discrepancy_table

    return discrepancy_table(result)


def _at_risk(df: pl.DataFrame) -> dict[str, str]:
    if df.height == 0:
        return {}
    sums = (
        df.group_by("currency")
        .agg(pl.col("at_risk_minor").sum())
        .filter(pl.col("currency").is_not_null())
        .sort("currency")
    )
    return {cur: format_minor(v, cur) for cur, v in sums.iter_rows()}


def _summary_sheet(wb: xlsxwriter.Workbook, result: RunResult, f: _Formats) -> None:
    ws = wb.add_worksheet("Summary")
    ws.set_column(0, 0, 24)
    ws.set_column(1, 1, 36)
    ws.set_column(2, 2, 68)
    ws.set_column(3, 9, 14)
    s = result.summary
    df = result.discrepancies
    row = 0
    _text(ws, row, 0, "recon reconciliation report", f.title)
    row += 1
    if s.get("recon_version"):
        _text(ws, row, 0, "recon version")
        _text(ws, row, 1, s["recon_version"])
        row += 1
    row += 1

    # Inputs.
    for c, head in enumerate(
        ("side", "file", "sha256", "profile", "reader", "rows read", "loaded", "rejected")
    ):
        _text(ws, row, c, head, f.header)
    row += 1
    for label, side in (("POS", result.pos), ("bank", result.bank)):
        for c, v in enumerate((label, side.path, side.sha256, side.profile, side.reader)):
            _text(ws, row, c, v)
        for c, v in enumerate((side.rows, side.loaded, side.rejected), start=5):
            ws.write_number(row, c, v, f.integer)
        row += 1
    row += 1

    matched = s.get("matched", {})
    counts = (
        ("matched pairs", matched.get("pairs")),
        ("voided (never settled)", matched.get("voided")),
        ("rejected rows", result.rejected.height),
        ("discrepancies", df.height),
    )
    for label, value in counts:
        if value is None:
            continue
        _text(ws, row, 0, label, f.bold)
        ws.write_number(row, 1, value, f.integer)
        row += 1
    row += 1

    # Counts and money at risk per type, then per severity; one money column per currency.
    currencies = sorted(_at_risk(df))
    by_type = s.get("discrepancies", {}).get("by_type", {})

    def header(first: str) -> None:
        nonlocal row
        _text(ws, row, 0, first, f.header)
        _text(ws, row, 1, "count", f.header)
        for c, cur in enumerate(currencies, start=2):
            _text(ws, row, c, f"at risk {cur}", f.header)
        row += 1

    def line(label: str, count: int, amounts: dict[str, str], fmt: Format | None = None) -> None:
        nonlocal row
        _text(ws, row, 0, label, fmt)
        ws.write_number(row, 1, count, f.integer)
        for c, cur in enumerate(currencies, start=2):
            _money(ws, row, c, amounts.get(cur, format_minor(0, cur)), cur, f)
        row += 1

    header("discrepancy type")
    for t in TYPES:
        sub = df.filter(pl.col("type") == t)
        count = by_type.get(t, {}).get("count", sub.height)
        amounts = by_type.get(t, {}).get("at_risk") or _at_risk(sub)
        line(t, count, amounts)
    line("total", df.height, s.get("money_at_risk") or _at_risk(df), f.bold)
    row += 1

    header("severity")
    for sev in _HIGH_FIRST:
        sub = df.filter(pl.col("severity") == sev)
        line(sev, sub.height, _at_risk(sub))
    row += 1

    for label, value in (("fail on", s.get("fail_on", result.settings.fail_on)),):
        _text(ws, row, 0, label, f.bold)
        _text(ws, row, 1, value)
        row += 1
    _text(ws, row, 0, "exit code", f.bold)
    ws.write_number(row, 1, s.get("exit_code", result.exit_code()), f.integer)
    row += 2

    notes = [
        "Money cells are numbers (Excel stores doubles); the exact amounts are in "
        "discrepancies.csv.",
    ]
    for t in TYPES:
        n = int(by_type.get(t, {}).get("count", 0) or df.filter(pl.col("type") == t).height)
        if n > MAX_ROWS:
            notes.append(f"Sheet {t[:MAX_SHEET_NAME]}: " + _capped_note(n, "discrepancies.csv"))
    if result.rejected.height > MAX_ROWS:
        notes.append("Sheet Rejected: " + _capped_note(result.rejected.height, "rejected.csv"))
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
    items = _contract_frame(result)
    for t in TYPES:
        sub = items.filter(pl.col("type") == t)
        if sub.height:
            _table(wb, t, sub, f, "discrepancies.csv")
    _table(wb, "Rejected", result.rejected, f, "rejected.csv")
    wb.close()
