"""Why a row was rejected, in the words of the report's language.

The loader and the readers write every rejection reason in English, and rejected.csv keeps it
exactly so: other tools read that file. The reports people read (report.html, report.xlsx, the
terminal summary) show it in their language. A reason is one or more parts joined with "; ";
each part is matched against the templates below (the loader's English sentences, with their
values captured) and written again with the catalog's words (recon.i18n, keys "rej.*"), the
captured values (the text of the cell, a column name, a date format ...) put back as they were.
A part that no template knows stays in English: nothing of a reason is ever lost.

The templates follow the messages of recon.normalize, recon.money.parse_expr and the readers
(recon.readers.*); tests/test_reasons.py loads bad files to produce each one.
"""

from __future__ import annotations

import functools
import re

import polars as pl

from recon.i18n import DEFAULT_LANG, LANGS, t

SEP = "; "  # how the loader joins the reasons of one row
_JOIN = {"zh": "；"}  # how the translated parts are joined, per language (else SEP)

# Names of a money column in the loader's money messages (recon.normalize relabels "amount"),
# and the field an MT940 :61: line lacks: words, translated through "rej.label.*".
_LABEL = r"(?P<label>amount|income amount|expense amount|fee)"

# (catalog key, the English sentence as a regex); a part must match a template as a whole.
_TEMPLATES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (key, re.compile(pattern, re.DOTALL))
    for key, pattern in (
        # recon.normalize: time
        ("rej.time_empty", r"time is empty"),
        ("rej.time_format", r"time '(?P<value>.*)' does not match (?P<formats>.+)"),
        ("rej.time_iso", r"time '(?P<value>.*)' is not an ISO 8601 date or date/time"),
        # recon.normalize (income/expense columns) and recon.money.parse_expr
        (
            "rej.amount_both_empty",
            r"amount is empty \(both income and expense columns are empty\)",
        ),
        ("rej.money_empty", _LABEL + r" is empty"),
        ("rej.money_not_number", _LABEL + r" is not a number: '(?P<value>.*)'"),
        ("rej.money_too_large", _LABEL + r" is too large"),
        (
            "rej.money_decimals",
            _LABEL + r" '(?P<value>.*)' has more decimals than (?P<currency>.+?) "
            r"allows \((?P<digits>\d+)\)",
        ),
        # recon.normalize: currency, kind, debit/credit flag
        ("rej.currency_missing", r"currency missing and no default_currency in profile"),
        ("rej.currency_not_iso", r"currency '(?P<value>.*)' is not an ISO 4217 code"),
        ("rej.kind_unknown", r"unknown kind '(?P<value>.*)' \(expected (?P<expected>.+)\)"),
        ("rej.dc_flag", r"debit/credit flag '(?P<value>.*)' is not one of (?P<choices>.*)"),
        # recon.readers.csv: a ragged row
        ("rej.fields", r"expected (?P<expected>\d+) fields, found (?P<found>\d+)"),
        # recon.readers.unionpay_zm
        (
            "rej.zm_length",
            r"UnionPay ZM record is (?P<length>\d+) bytes, expected (?P<expected>\d+)",
        ),
        ("rej.zm_positions", r"not a UnionPay ZM record: fields not at their fixed positions"),
        ("rej.zm_shape", r"UnionPay ZM field (?P<name>.+) is not of its shape"),
        ("rej.zm_date", r"UnionPay ZM 交易传输时间 '(?P<value>.*)' is not a date"),
        # recon.readers.bai2
        ("rej.bai2_no_account", r"BAI2 16 record outside an account \(no 03 record before it\)"),
        (
            "rej.bai2_no_date",
            r"BAI2 16 record in a group without a valid as-of date \(02 record\)",
        ),
        ("rej.bai2_unreadable", r"cannot read BAI2 16 record: (?P<error>.*)"),
        # recon.readers.mt940
        ("rej.mt940_without", r"MT940 :61: line without (?P<label>amount|value date)"),
        ("rej.mt940_unreadable", r"cannot read MT940 entry: (?P<error>.*)"),
        ("rej.mt940_count", r"parsed (?P<parsed>\d+) entries from (?P<lines>\d+) :61: lines"),
        # recon.readers.camt
        ("rej.camt_no_amt", r"entry has no Amt"),
        ("rej.camt_mark", r"CdtDbtInd '(?P<value>.*)' is not CRDT or DBIT"),
        ("rej.camt_no_mark", r"no CdtDbtInd"),
        ("rej.camt_no_date", r"entry has no booking or value date"),
        # recon.readers.ofx
        ("rej.ofx_no_amount", r"transaction has no TRNAMT"),
        ("rej.ofx_amount", r"TRNAMT '(?P<value>.*)' is not a decimal number"),
        ("rej.ofx_no_date", r"transaction has no DTPOSTED"),
    )
)
TEMPLATE_KEYS = tuple(key for key, _ in _TEMPLATES)


def _values(groups: dict[str, str], lang: str) -> dict[str, str]:
    """The captured values, with the few that are words (not data) in `lang`."""
    out = {}
    for name, value in groups.items():
        if name == "label":
            value = t("rej.label." + value.replace(" ", "_"), lang)
        elif name == "currency" and value == "its currency":  # no currency on the row
            value = t("rej.its_currency", lang)
        elif name == "formats":  # the profile's formats, joined with " or "
            value = value.replace(" or ", t("rej.or", lang))
        elif name == "error":  # a reader's reason around a parser's own (English) message
            value = _translate(value, lang)
        out[name] = value
    return out


def _translate_part(part: str, lang: str) -> str | None:
    """One reason in `lang`, or None when no template knows it."""
    for key, pattern in _TEMPLATES:
        m = pattern.fullmatch(part)
        if m:
            return t(key, lang, **_values(m.groupdict(), lang))
    return None


@functools.lru_cache(maxsize=4096)
def _translate(text: str, lang: str) -> str:
    parts = text.split(SEP)
    out: list[str] = []
    i = 0
    while i < len(parts):
        # The shortest run of parts that a template knows: a value holding "; " spans parts.
        for j in range(i + 1, len(parts) + 1):
            done = _translate_part(SEP.join(parts[i:j]), lang)
            if done is not None:
                out.append(done)
                i = j
                break
        else:
            out.append(parts[i])  # unknown: kept in English
            i += 1
    return _JOIN.get(lang, SEP).join(out)


def translate_reason(text: str, lang: str) -> str:
    """A rejection reason (as rejected.csv holds it) in `lang`; English is returned as it is."""
    if lang == DEFAULT_LANG or lang not in LANGS or not text:
        return text
    return _translate(text, lang)


def translate_reasons(
    frame: pl.DataFrame, lang: str, *, column: str = "reason", rows: int | None = None
) -> pl.DataFrame:
    """`frame` with its `column` of reasons in `lang` (the first `rows` rows only, when given:
    the rows a report shows). Each distinct reason is translated once and mapped back."""
    if lang == DEFAULT_LANG or lang not in LANGS or column not in frame.columns:
        return frame
    head = frame if rows is None or frame.height <= rows else frame.head(rows)
    if head.height == 0:
        return frame
    mapping = {
        text: translate_reason(text, lang)
        for text in head.get_column(column).drop_nulls().unique().to_list()
    }
    done = head.with_columns(pl.col(column).replace(mapping))
    return done if head.height == frame.height else pl.concat([done, frame.slice(head.height)])
