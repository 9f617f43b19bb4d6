"""Raw source columns + a profile -> canonical rows and rejected rows, as polars expressions.

Every value is parsed by expressions over whole columns (no Python loop over rows). A row that
cannot be read gets a reason; rows with a reason go to `rejected`, the rest to the canonical
frame. Card numbers are masked here, in `account` and in the raw text of rejected rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import polars as pl

from recon import money
from recon.errors import InputError
from recon.exprs import formatted
from recon.profiles import EXTRA_COLUMNS, MAPPABLE, Profile, clock_in_format
from recon.readers import ERROR, LINE, RawTable
from recon.references import PLACEHOLDER_PATTERN, REFERENCE_SEPARATORS
from recon.schema import BANK_KINDS, POS_KINDS, REQUIRED_INPUT, conform

NEGATIVE_KINDS = ("refund", "void", "reversal", "debit")
# Kind values understood in every file (after the profile's own [kinds]), case-insensitive.
KIND_SYNONYMS = {
    **{k: k for k in (*POS_KINDS, *BANK_KINDS)},
    "purchase": "sale",
    "消费": "sale",
    "预授权完成": "sale",
    "消费撤销": "void",
    "撤销": "void",
    "冲正": "reversal",
    "退货": "refund",
    "退款": "refund",
    "入账": "credit",
    "收入": "credit",
    "出账": "debit",
    "支出": "debit",
    "贷": "credit",
    "借": "debit",
}
# A kind as the other side names it: a platform bill or acquirer export read as the bank side
# pays sales as credits and takes refunds back as debits; a statement read as the POS side the
# other way round.
SIDE_KINDS = {
    "pos": {"credit": "sale", "debit": "refund"},
    "bank": {"sale": "credit", "refund": "debit", "void": "debit", "reversal": "debit"},
}
CURRENCY_ALIASES = {"RMB": "CNY", "人民币": "CNY", "元": "CNY"}
_ISO_RE = (
    r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})"
    r"(?:[T ]+(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?"
    r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?$"
)
_P = "__n_"  # prefix of intermediate columns


def header_key(name: str) -> str:
    """How headers are compared: BOM and surrounding whitespace removed, case folded."""
    return name.replace("\ufeff", "").strip().casefold()


def resolve_columns(available: Sequence[str], profile: Profile) -> dict[str, str]:
    """Canonical name -> source column name, for the columns the file has."""
    by_key: dict[str, str] = {}
    for name in available:
        by_key.setdefault(header_key(name), name)
    found: dict[str, str] = {}
    # A date column stands for time, income/expense columns for amount: the canonical names
    # are then not looked for (a PayPal "Time" column is the clock, not the time).
    superseded = {"time": "date", "amount": "amount_in"}
    for canon in MAPPABLE:
        if canon not in profile.columns and superseded.get(canon) in profile.columns:
            continue
        if canon in EXTRA_COLUMNS and canon not in profile.columns:
            continue
        for alt in profile.headers_for(canon):
            if header_key(alt) in by_key:
                found[canon] = by_key[header_key(alt)]
                break
    return found


def required_columns(profile: Profile) -> list[str]:
    """The canonical columns a file must have: time (or date) and amount (or amount_in/out)."""
    out = []
    for canon in REQUIRED_INPUT:
        if canon == "time" and "date" in profile.columns:
            out.append("date")
        elif canon == "amount" and "amount_in" in profile.columns:
            out += ["amount_in", "amount_out"]
        else:
            out.append(canon)
    return out


def missing_required(available: Sequence[str], profile: Profile) -> list[str]:
    found = resolve_columns(available, profile)
    return [c for c in required_columns(profile) if c not in found]


def describe_missing(missing: list[str], available: Sequence[str], profile: Profile) -> str:
    wanted = []
    for canon in missing:
        headers = profile.headers_for(canon)
        wanted.append(canon if headers == (canon,) else f"{canon} ({' or '.join(headers)})")
    seen = ", ".join(h.strip() for h in available if h.strip()) or "nothing"
    return f"no recognisable header: expected columns {', '.join(wanted)} (found: {seen})"


def blank_values(expr: pl.Expr, empty: Sequence[str]) -> pl.Expr:
    """clean_text, and the profile's `empty_values` (`-`, `/` ...) become null too."""
    return clean_text(expr, ("", *empty))


def clean_text(expr: pl.Expr, empty: Sequence[str] = ("",)) -> pl.Expr:
    """Strip whitespace and an Excel/Alipay leading quote (` or '); empty -> null.

    (Trailing whitespace is gone after the first strip; `replace` nulls the empty values in a
    third of the time a when/then takes over ten million rows.)"""
    stripped = expr.cast(pl.String).str.strip_chars().str.strip_chars_start("`'")
    return stripped.str.strip_chars_start().replace(list(empty), None)


# Card numbers printed in groups (4-4-4-4..., Amex 4-6-5) are joined before masking.
_GROUPED_PANS = (
    (r"(^|\D)(\d{4})[ -](\d{4})[ -](\d{4})[ -](\d{1,7})(\D|$)", "${1}${2}${3}${4}${5}${6}"),
    (r"(^|\D)(\d{4})[ -](\d{6})[ -](\d{4,5})(\D|$)", "${1}${2}${3}${4}${5}"),
)
_PAN_HINT = r"\d{13}|\d{4}[ -]\d{4}[ -]\d{4}[ -]\d|\d{4}[ -]\d{6}[ -]\d{4}"


def mask_pans(expr: pl.Expr) -> pl.Expr:
    """Replace every run of 13-19 digits with first 6 + '*' + last 4 (PAN masking).

    Digits grouped by spaces or dashes the way cards are printed are joined first, so a PAN
    written `4111 1111 1111 1111` is masked too.
    """
    for pattern, replacement in _GROUPED_PANS:
        expr = expr.str.replace_all(pattern, replacement)
    for n in range(19, 12, -1):
        pattern = rf"(^|\D)(\d{{6}})\d{{{n - 10}}}(\d{{4}})(\D|$)"
        replacement = "${1}${2}" + "*" * (n - 10) + "${3}${4}"
        # twice: a run right after a masked one lost its leading separator to the first match
        expr = expr.str.replace_all(pattern, replacement).str.replace_all(pattern, replacement)
    return expr


# A statement line's free text (`memo`) holds references as well as card numbers: there only
# a digit run that can be a card is masked. Letters that make a reference of the digits glued to
# them are those of alphabets (RP123..., EREF123...); Chinese or Japanese text glued to a card
# number (卡号6222...) does not protect it. A candidate run (13-19 digits, or a card printed in
# groups) is first wrapped in two noncharacters (which text never holds); the text is then cut
# at the first one, so that only the candidates (a few per row) go through the Luhn check.
_LETTER = r"\p{Latin}\p{Greek}\p{Cyrillic}"
_OPEN, _CLOSE = "\ufdd0", "\ufdd1"
_EDGE = f"[^{_LETTER}0-9{_OPEN}{_CLOSE}]"
_MEMO_CANDIDATE = (
    rf"(^|{_EDGE})([0-9]{{4}}(?:[ -][0-9]{{4}}){{2}}[ -][0-9]{{1,7}}"
    rf"|[0-9]{{4}}[ -][0-9]{{6}}[ -][0-9]{{4,5}}|[0-9]{{13,19}})({_EDGE}|$)"
)


def _luhn_ok(digits: pl.Expr) -> pl.Expr:
    """Whether a string of 13-19 digits passes the Luhn check: integer digit arithmetic over
    the whole column (19 digits fit an unsigned 64-bit integer); anything else is False."""
    v = pl.field("v")
    terms = []
    for i in range(19):
        d = (v // (10**i)) % 10
        terms.append(d if i % 2 == 0 else d * 2 - (d >= 5).cast(pl.UInt64) * 9)
    return (
        pl.struct(v=digits.cast(pl.UInt64, strict=False))
        .struct.with_fields(ok=(pl.sum_horizontal(terms) % 10 == 0) & v.is_not_null())
        .struct.field("ok")
    )


def mask_memo(expr: pl.Expr) -> pl.Expr:
    """Mask the card numbers in free text, leaving references whole.

    Masked (first 6 + '*' + last 4, groups joined like mask_pans): a run of 13-19 digits, also
    printed in groups of 4 (or Amex 4-6-5) split by spaces or dashes, that is not glued to a
    letter (of an alphabet) or a digit on either side and passes the Luhn check, as every card
    number does. A reference like `RP12312312312312`, `EREF20120123456789` or a Luhn-failing
    14-digit EREF is kept.
    """
    replacement = f"${{1}}{_OPEN}${{2}}{_CLOSE}${{3}}"
    # twice: a run right after a marked one lost its leading edge to the first match
    marked = expr.str.replace_all(_MEMO_CANDIDATE, replacement).str.replace_all(
        _MEMO_CANDIDATE, replacement
    )
    # Pieces: the text before the first candidate, then "candidate CLOSE rest" for each one.
    # (Struct fields: each intermediate is computed once.)
    head, rest, digits = pl.field("field_0"), pl.field("field_1"), pl.field("digits")
    n = digits.str.len_chars()
    piece = (
        pl.element()
        .str.splitn(_CLOSE, 2)
        .struct.with_fields(digits=head.str.replace_all(r"[ -]", ""))
        .struct.with_fields(card=rest.is_not_null() & _luhn_ok(digits))
        .struct.with_fields(
            out=pl.concat_str(
                pl.when(pl.field("card"))
                .then(
                    pl.concat_str(
                        digits.str.slice(0, 6),
                        pl.lit("*" * 9).str.slice(0, n - 10),
                        digits.str.slice(-4, 4),
                    )
                )
                .otherwise(head),
                rest.fill_null(""),
            )
        )
        .struct.field("out")
    )
    text, has = pl.field("text"), pl.field("has")
    return (
        pl.struct(text=expr, marked=marked)
        .struct.with_fields(has=pl.field("marked").str.contains(_OPEN, literal=True))
        .struct.with_fields(
            out=pl.when(has)
            .then(pl.field("marked").str.split(_OPEN).list.eval(piece).list.join(""))
            .otherwise(text)
        )
        .struct.field("out")
        .name.keep()
    )


# The account values normalize_account may change: any other value it leaves as it is, so the
# loader runs it on those rows only (on a large day nearly no row: cards arrive masked).
ACCOUNT_TOUCHED = r"[\s\-xX]|\d{13}"


def normalize_account(expr: pl.Expr) -> pl.Expr:
    """A cleaned account: card-like values lose spaces/dashes and x/X becomes '*'; then card
    numbers are masked, also inside other text."""
    compact = expr.str.replace_all(r"[\s-]", "")
    cardlike = compact.str.contains(r"^[0-9*xX]+$")
    s = pl.when(cardlike).then(compact.str.replace_all("[xX]", "*")).otherwise(expr)
    return pl.when(s.str.contains(_PAN_HINT)).then(mask_pans(s)).otherwise(s)


def _to_text(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.String:
        return expr
    return expr.cast(pl.String)


def _money_error(parsed: pl.Expr, label: str) -> pl.Expr:
    err = parsed.struct.field("error")
    return err if label == "amount" else err.str.replace(r"^amount", label)


def _localise(naive: pl.Expr, source_tz: str | None, target_tz: str | None) -> pl.Expr:
    """Naive wall-clock times in source_tz -> naive times in target_tz (when both are known)."""
    if not source_tz or not target_tz or source_tz == target_tz:
        return naive
    return (
        naive.dt.replace_time_zone(source_tz, ambiguous="earliest", non_existent="null")
        .dt.convert_time_zone(target_tz)
        .dt.replace_time_zone(None)
    )


def _from_utc(utc_naive: pl.Expr, target_tz: str | None) -> pl.Expr:
    if not target_tz or target_tz == "UTC":
        return utc_naive
    return (
        utc_naive.dt.replace_time_zone("UTC")
        .dt.convert_time_zone(target_tz)
        .dt.replace_time_zone(None)
    )


Stages = list[list[pl.Expr]]  # with_columns steps; later steps read earlier steps' columns
TIME, HAS_CLOCK, TIME_ERROR = _P + "time", _P + "has_clock", _P + "time_error"


def parse_time(
    expr: pl.Expr, dtype: pl.DataType, profile: Profile, target_tz: str | None
) -> Stages:
    """Stages computing TIME (naive Datetime[us]), HAS_CLOCK and TIME_ERROR for any dtype.

    Work is split into stages of materialised columns so no sub-expression is evaluated twice.
    """
    no_error = pl.lit(None, pl.String)
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone:
            dt = expr.dt.convert_time_zone(target_tz or "UTC").dt.replace_time_zone(None)
        else:
            dt = _localise(expr, profile.timezone, target_tz)
        return [_finish_time(dt.dt.cast_time_unit("us"), pl.lit(True), no_error, profile)]
    if dtype == pl.Date:
        return [_finish_time(expr.cast(pl.Datetime("us")), pl.lit(False), no_error, profile)]
    text = pl.col(_P + "ttext")
    stages: Stages = [[clean_text(_to_text(expr, dtype)).alias(_P + "ttext")]]
    if profile.datetime_format:
        stages += _parse_formats(text, profile, target_tz)
        expected = " or ".join(profile.datetime_format)
        problem = pl.concat_str(pl.lit("time '"), text, pl.lit(f"' does not match {expected}"))
    else:
        stages += _parse_iso(text, profile, target_tz)
        problem = pl.concat_str(
            pl.lit("time '"), text, pl.lit("' is not an ISO 8601 date or date/time")
        )
    dt, clock = pl.col(_P + "tdt"), pl.col(_P + "tclock")
    error = pl.when(text.is_null()).then(pl.lit("time is empty")).when(dt.is_null()).then(problem)
    stages.append(_finish_time(dt, clock, error, profile))
    return stages


def _finish_time(dt: pl.Expr, clock: pl.Expr, error: pl.Expr, profile: Profile) -> list[pl.Expr]:
    if profile.date_only:
        dt, clock = dt.dt.truncate("1d"), pl.lit(False)
    return [dt.alias(TIME), clock.alias(HAS_CLOCK), error.cast(pl.String).alias(TIME_ERROR)]


def _parse_formats(text: pl.Expr, profile: Profile, target_tz: str | None) -> Stages:
    parsed: list[pl.Expr] = []
    clocks: list[pl.Expr] = []
    for i, fmt in enumerate(profile.datetime_format):
        has_clock = clock_in_format(fmt)
        if not has_clock:
            dt = text.str.strptime(pl.Date, fmt, strict=False).cast(pl.Datetime("us"))
        elif "%z" in fmt or "%:z" in fmt:
            utc = text.str.strptime(pl.Datetime("us", "UTC"), fmt, strict=False)
            dt = _from_utc(utc.dt.replace_time_zone(None), target_tz)
        else:
            naive = text.str.strptime(pl.Datetime("us"), fmt, strict=False)
            dt = _localise(naive, profile.timezone, target_tz)
        parsed.append(dt.alias(f"{_P}tf{i}"))
        clocks.append(pl.when(pl.col(f"{_P}tf{i}").is_not_null()).then(pl.lit(has_clock)))
    names = [pl.col(e.meta.output_name()) for e in parsed]
    return [
        parsed,
        [pl.coalesce(names).alias(_P + "tdt"), pl.coalesce(clocks).alias(_P + "tclock")],
    ]


def _parse_iso(text: pl.Expr, profile: Profile, target_tz: str | None) -> Stages:
    g = pl.col(_P + "tg")
    year, month, day = g.struct.field("1"), g.struct.field("2"), g.struct.field("3")
    hour, minute = g.struct.field("4"), g.struct.field("5")
    second, frac, offset = g.struct.field("6"), g.struct.field("7"), g.struct.field("8")
    stamp = pl.concat_str(
        year,
        pl.lit("-"),
        month.str.zfill(2),
        pl.lit("-"),
        day.str.zfill(2),
        pl.lit(" "),
        hour.fill_null("0").str.zfill(2),
        pl.lit(":"),
        minute.fill_null("00"),
        pl.lit(":"),
        second.fill_null("00"),
    )
    micros = pl.concat_str(frac.fill_null(""), pl.lit("000000")).str.slice(0, 6).cast(pl.Int64)
    dt = stamp.str.strptime(pl.Datetime("us"), "%Y-%m-%d %H:%M:%S", strict=False)
    dt = dt + pl.duration(microseconds=micros)
    off = offset.str.replace(":", "", literal=True)
    off_minutes = (
        pl.when(off == "Z")
        .then(pl.lit(0, pl.Int64))
        .otherwise(
            off.str.slice(1, 2).cast(pl.Int64, strict=False) * 60
            + off.str.slice(3, 2).cast(pl.Int64, strict=False).fill_null(0)
        )
    )
    off_minutes = pl.when(off.str.starts_with("-")).then(-off_minutes).otherwise(off_minutes)
    local, clock, minutes = pl.col(_P + "tlocal"), pl.col(_P + "tclock"), pl.col(_P + "toff")
    aware = _from_utc(local - pl.duration(minutes=minutes), target_tz)
    naive = _localise(local, profile.timezone, target_tz)
    # dates are days: never shifted between zones
    result = pl.when(~clock).then(local).when(minutes.is_not_null()).then(aware).otherwise(naive)
    return [
        [text.str.extract_groups(_ISO_RE).alias(_P + "tg")],
        [
            dt.alias(_P + "tlocal"),
            hour.is_not_null().alias(_P + "tclock"),
            off_minutes.alias(_P + "toff"),
        ],
        [result.alias(_P + "tdt")],
    ]


def _strip_symbols(text: pl.Expr, symbols: tuple[str, ...]) -> pl.Expr:
    """Remove currency symbols in one regex pass (parse_expr would take one pass per symbol)."""
    if not symbols:
        return text
    alternatives = "|".join(re.escape(sym) for sym in sorted(symbols, key=len, reverse=True))
    return text.str.replace_all(alternatives, "")


def _fast_mask(account: pl.Expr) -> pl.Expr:
    """Mask a value that is exactly 13-19 digits with slices (the common case, no regex)."""
    n = account.str.len_chars()
    masked = pl.concat_str(
        account.str.slice(0, 6), pl.lit("*" * 9).str.slice(0, n - 10), account.str.slice(-4, 4)
    )
    return pl.when(account.str.contains(r"^\d{13,19}$")).then(masked).otherwise(account)


def _mask_remaining(
    frame: pl.DataFrame,
    column: str,
    masker: Callable[[pl.Expr], pl.Expr] = mask_pans,
    touched: str = _PAN_HINT,
) -> pl.DataFrame:
    """Run `masker` on the (rare) values that match `touched` (those it may change), touching
    only those rows: a regex test per row instead of the masker's passes."""
    values = frame[column]
    need = values.str.contains(touched).fill_null(False)
    if not need.any():
        return frame
    idx = need.arg_true()
    fixed = values.gather(idx).to_frame().select(masker(pl.col(column))).to_series()
    return frame.with_columns(values.clone().scatter(idx, fixed))


def _prepare(
    frame: pl.LazyFrame, cols: dict[str, str], profile: Profile, clean: frozenset[str]
) -> tuple[pl.LazyFrame, dict[str, str]]:
    """Clean the mapped text columns (padding, quote marks, empty markers) and join date+clock.

    Returns the frame with cleaned copies of the mapped columns and the canonical -> column map
    pointing at them; the source columns themselves are left as they are. Columns in `clean`
    (known to need no cleaning) are mapped as they are.
    """
    schema = frame.collect_schema()
    out: dict[str, str] = {}
    exprs: list[pl.Expr] = []
    for canon, src in cols.items():
        if schema[src] == pl.String and canon not in clean:
            name = f"{_P}src_{canon}"
            exprs.append(blank_values(pl.col(src), profile.empty_values).alias(name))
            out[canon] = name
        else:
            out[canon] = src
    frame = frame.with_columns(exprs) if exprs else frame
    if "date" in out and "time" not in out:
        out["time"] = out.pop("date")
    if "time_of_day" in out and "time" in out:
        day, clock = pl.col(out["time"]), pl.col(out.pop("time_of_day")).cast(pl.String)
        joined = pl.when(clock.is_null()).then(day.cast(pl.String))
        joined = joined.otherwise(pl.concat_str(day.cast(pl.String), pl.lit(" "), clock))
        frame = frame.with_columns(joined.alias(_P + "src_time"))
        out["time"] = _P + "src_time"
    return frame, out


def _split_amount(
    cols: dict[str, str], ain: pl.Expr, aout: pl.Expr, in_text: pl.Expr, out_text: pl.Expr
) -> list[pl.Expr]:
    """minor = income - expense; an empty side counts as zero, both empty is an error."""
    zero = pl.lit(0, pl.Int64)
    in_minor = pl.when(in_text.is_null()).then(zero).otherwise(ain.struct.field("minor"))
    out_minor = pl.when(out_text.is_null()).then(zero).otherwise(aout.struct.field("minor"))
    in_err = ain.struct.field("error").str.replace(r"^amount", "income amount")
    out_err = aout.struct.field("error").str.replace(r"^amount", "expense amount")
    error = (
        pl.when(in_text.is_null() & out_text.is_null())
        .then(pl.lit("amount is empty (both income and expense columns are empty)"))
        .when(in_text.is_not_null() & in_err.is_not_null())
        .then(in_err)
        .when(out_text.is_not_null() & out_err.is_not_null())
        .then(out_err)
    )
    minor = pl.when(error.is_null()).then(in_minor - out_minor)
    return [minor.alias(_P + "minor"), error.cast(pl.String).alias(_P + "amount_error")]


REASON = _P + "reason"  # the column of normalize_plan that says why a row is rejected ("" if not)


def normalize(
    raw: RawTable,
    profile: Profile,
    side: str,
    source: str,
    *,
    target_tz: str | None = None,
    where: str | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Canonical rows (schema.CANONICAL) and rejected rows (schema.REJECTED)."""
    # The columns used are read once, for the look and the plan (a Parquet file is otherwise
    # scanned twice); the raw text of rejected rows is looked up in the file as it is. (A
    # missing column is normalize_plan's error to report.)
    used = [*dict.fromkeys(resolve_columns(raw.columns, profile).values()), LINE, ERROR]
    read = replace(raw, frame=raw.frame.select(used).collect().lazy())
    plan, _ = normalize_plan(
        read, profile, side, source, target_tz=target_tz, where=where, look=look(read, profile)
    )
    del read
    # One query computes every row, then the rows are split eagerly: two lazy queries (good
    # rows, rejected rows) over one plan made polars cache all the parse's intermediate
    # columns between them, which tripled the peak memory of a large file.
    rows = plan.collect()
    is_bad = rows.get_column(REASON) != ""
    bad = pl.DataFrame(schema={"side": pl.String, "line": pl.Int64, "reason": pl.String})
    if is_bad.any():
        bad = rows.filter(is_bad).select(
            pl.lit(side).alias("side"), "line", pl.col(REASON).alias("reason")
        )
        rows = rows.filter(~is_bad)
    if bad.height:  # the raw text is looked up for rejected rows only (a scan of the file)
        bad = bad.join(rejected_text(raw, bad), on="line", how="left", maintain_order="left")
    else:
        bad = bad.with_columns(raw=pl.lit(None, pl.String))
    frame = conform(rows.lazy()).collect()
    frame = _mask_remaining(frame, "account", normalize_account, ACCOUNT_TOUCHED)
    frame = _mask_remaining(frame, "memo", mask_memo)
    return frame, _mask_remaining(bad, "raw")


MONEY_COLUMNS = ("amount", "amount_in", "amount_out", "fee")


@dataclass(frozen=True)
class Look:
    """What one look at a file's money and currency columns found, before its plan is made.

    `plain`: money columns (canonical names) parsed without the general parser: text whose
    every value is plain (money.PLAIN_PATTERN), or Decimal columns of at most 2 decimals, in
    currencies of 2 minor digits. `currencies`: each text of the currency column and the code it
    stands for, looked up per row instead of cleaning every row's text (None: not looked at).
    Values with padding, symbols, marks or other precisions take the general parser, so the
    result is the same either way. `clean`: text columns (canonical names) no value of which
    cleaning would change (padding, quote marks, empty markers): used as they are."""

    plain: frozenset[str] = frozenset()
    currencies: dict[str, str | None] | None = None
    clean: frozenset[str] = frozenset()


_MAX_CURRENCY_TEXTS = 10_000


def look(raw: RawTable, profile: Profile) -> Look:
    """One query over the columns of a file (see Look)."""
    cols = resolve_columns(raw.columns, profile)
    schema = raw.frame.collect_schema()
    money_cols = {c: schema[cols[c]] for c in MONEY_COLUMNS if c in cols}
    text = [c for c, t in money_cols.items() if t == pl.String and profile.decimal_mark == "."]
    decimals = [
        c for c, t in money_cols.items() if isinstance(t, pl.Decimal) and (t.scale or 0) <= 2
    ]
    text_currency = "currency" in cols and schema[cols["currency"]] == pl.String
    strings = [c for c, src in cols.items() if schema[src] == pl.String]
    if not (text or decimals or text_currency or strings):
        return Look()
    checks = [
        pl.col(cols[c]).str.contains(money.PLAIN_PATTERN).fill_null(True).all().alias(c)
        for c in text
    ]
    checks += [_unchanged(pl.col(cols[c]), profile.empty_values).alias(_C + c) for c in strings]
    if "currency" in cols:  # its few distinct values, cleaned below like the plan cleans them
        checks.append(pl.col(cols["currency"]).cast(pl.String).unique().implode().alias(_P))
    found = raw.frame.select(checks).collect().row(0, named=True)
    clean = frozenset(c for c in strings if found.pop(_C + c))
    values = pl.Series(_P, found.pop(_P, None) or [None], dtype=pl.String)
    cleaned = blank_values(pl.col(_P), profile.empty_values)
    codes = values.to_frame().select(currency_code(cleaned, profile)).to_series()
    # (a column of many distinct texts is no currency column a lookup helps: parsed per row)
    few = values.len() <= _MAX_CURRENCY_TEXTS
    currencies = dict(zip(values, codes, strict=True)) if text_currency and few else None
    if not money.two_digits(codes):
        return Look(currencies=currencies, clean=clean)
    plain = [c for c, ok in found.items() if ok] + decimals
    return Look(frozenset(plain), currencies, clean)


_C = _P + "clean_"  # look()'s answer for a text column


def _unchanged(text: pl.Expr, empty: Sequence[str]) -> pl.Expr:
    """Whether blank_values() leaves every value of a text column as it is: no value starts
    with a quote mark, and stripping only removes bytes, so the same total length after the
    strip means nothing was stripped (this look is half the cost of cleaning the column)."""
    stripped = text.str.strip_chars().str.len_bytes().sum()
    quoted = text.str.starts_with("'").any() | text.str.starts_with("`").any()
    return (text.str.len_bytes().sum() == stripped) & ~quoted & ~text.is_in(["", *empty]).any()


def currency_code(cleaned: pl.Expr, profile: Profile) -> pl.Expr:
    """A row's currency from its cleaned text: upper case, aliases (RMB, 人民币) to ISO codes,
    the profile's default where there is none."""
    code = cleaned.str.to_uppercase().replace(CURRENCY_ALIASES)
    return code.fill_null(pl.lit(profile.default_currency, dtype=pl.String))


def rejected_text(raw: RawTable, bad: pl.DataFrame) -> pl.DataFrame:
    """line, raw: the raw text of the (few) rejected rows only; the predicate runs before the
    text is built."""
    line = pl.col(LINE).cast(pl.Int64)
    return (
        raw.frame.filter(line.is_in(bad.get_column("line").implode()))
        .select(line.alias("line"), raw.raw.cast(pl.String).alias("raw"))
        .collect()
    )


def normalize_plan(
    raw: RawTable,
    profile: Profile,
    side: str,
    source: str,
    *,
    target_tz: str | None = None,
    where: str | None = None,
    look: Look | None = None,
) -> tuple[pl.LazyFrame, RawTable]:
    """A lazy plan of every row in canonical columns plus REASON, and the prepared raw table
    (for the raw text of rejected rows). In `account` only bare card numbers are masked (by
    slices): account_text() makes it the canonical account (card-like values compacted, card
    numbers inside other text masked).

    `look`: what a look at the file found (look()): plain money columns parsed by one replace
    and cast instead of the general parser, currencies looked up instead of parsed, clean text
    columns used as they are."""
    source_cols = resolve_columns(raw.columns, profile)
    missing = [c for c in required_columns(profile) if c not in source_cols]
    if missing:
        raise InputError(describe_missing(missing, raw.columns, profile), where)
    seen = look or Look()
    frame, cols = _prepare(raw.frame, source_cols, profile, seen.clean)
    raw = RawTable(frame=frame, columns=raw.columns, raw=raw.raw, rows=raw.rows)
    schema = raw.frame.collect_schema()
    split_amount = "amount_in" in cols

    def col(canon: str) -> pl.Expr:
        return pl.col(cols[canon]) if canon in cols else pl.lit(None, dtype=pl.String)

    def dtype(canon: str) -> pl.DataType:
        return schema[cols[canon]] if canon in cols else pl.String()

    def c(name: str) -> pl.Expr:
        return pl.col(_P + name)

    def text(canon: str) -> pl.Expr:
        # _prepare has cleaned the file's text columns: cleaning them again cost a second
        # (of three) on a million rows. Other types are cast to text and cleaned here.
        if canon in cols and dtype(canon) == pl.String:
            return col(canon)
        return clean_text(col(canon))

    # Stage 1: clean text; currency; kind; debit/credit.
    if seen.currencies is not None:
        # (a code for each text the file holds; the source column, not its cleaned copy)
        currency = (
            pl.col(source_cols["currency"])
            .replace_strict(seen.currencies, default=None, return_dtype=pl.String)
            .fill_null(pl.lit(profile.default_currency, dtype=pl.String))
        )
    else:
        currency = currency_code(text("currency"), profile)
    if profile.default_currency:
        cur_missing = pl.lit(None, dtype=pl.String)
    else:
        cur_missing = pl.lit("currency missing and no default_currency in profile")
    # Errors read the materialised columns of stage 1 (no text is cleaned twice).
    cur = pl.col(_P + "currency")
    cur_error = pl.when(cur.is_null()).then(cur_missing)
    iso = r"^[A-Z]{3}$"
    if seen.currencies is None or not all(
        re.match(iso, code) for code in seen.currencies.values() if code is not None
    ):
        cur_error = cur_error.when(~cur.str.contains(iso)).then(
            pl.concat_str(pl.lit("currency '"), cur, pl.lit("' is not an ISO 4217 code"))
        )
    symbols = profile.currency_symbols

    def money_text(canon: str) -> pl.Expr:
        if isinstance(dtype(canon), pl.Decimal):
            # typed: no text to parse; only whether a value is there counts
            return pl.when(col(canon).is_not_null()).then(pl.lit(""))
        shown = _to_text(col(canon), dtype(canon))
        if canon == "fee" and dtype(canon) != pl.String:
            shown = clean_text(shown)
        return _strip_symbols(shown, symbols)

    amount_text, in_text, out_text = (money_text(n) for n in ("amount", "amount_in", "amount_out"))
    fee_text = money_text("fee")

    allowed = POS_KINDS if side == "pos" else BANK_KINDS
    kind_src = text("kind")
    kind_map = {**KIND_SYNONYMS, **{k.strip().lower(): v for k, v in profile.kinds.items()}}
    # the synonym and then the side's own name, in one pass (every kind is a synonym key)
    to_side = SIDE_KINDS[side]
    kind = kind_src.str.to_lowercase().replace({k: to_side.get(v, v) for k, v in kind_map.items()})
    kind_col = pl.col(_P + "kind")
    kind_error = pl.when(kind_col.is_not_null() & ~kind_col.is_in(allowed)).then(
        pl.concat_str(
            pl.lit("unknown kind '"), kind_col, pl.lit(f"' (expected {'|'.join(allowed)})")
        )
    )
    dc_src = text("debit_credit")
    debit = [v.strip().lower() for v in profile.debit_credit.get("debit", ())]
    credit = [v.strip().lower() for v in profile.debit_credit.get("credit", ())]
    neutral = [v.strip().lower() for v in profile.debit_credit.get("neutral", ())]
    dc = dc_src.str.to_lowercase()
    if "debit_credit" in cols:
        dc_sign = (
            pl.when(dc.is_in(debit))
            .then(pl.lit(-1))
            .when(dc.is_in(credit))
            .then(pl.lit(1))
            .when(dc.is_in(neutral))
            .then(pl.lit(0))
        )
    else:
        dc_sign = pl.lit(None, dtype=pl.Int32)
    choices = "/".join(
        [
            *profile.debit_credit.get("debit", ()),
            *profile.debit_credit.get("credit", ()),
            *profile.debit_credit.get("neutral", ()),
        ]
    )
    dc_error = pl.when(dc_src.is_not_null() & dc_sign.is_null()).then(
        pl.concat_str(pl.lit("debit/credit flag '"), dc_src, pl.lit(f"' is not one of {choices}"))
    )
    account = text("account")
    time_stages = parse_time(col("time"), dtype("time"), profile, target_tz)

    lf = raw.frame.with_columns(
        currency.alias(_P + "currency"),
        kind.alias(_P + "kind"),
        dc_sign.cast(pl.Int32).alias(_P + "dc_sign"),
        dc_error.alias(_P + "dc_error"),
        amount_text.alias(_P + "amount_text"),
        in_text.alias(_P + "in_text"),
        out_text.alias(_P + "out_text"),
        fee_text.alias(_P + "fee_text"),
        account.alias(_P + "account"),
        *time_stages[0],
    ).with_columns(
        cur_error.alias(_P + "cur_error"),
        kind_error.alias(_P + "kind_error"),
    )
    for stage in time_stages[1:]:
        lf = lf.with_columns(stage)
    # Stage 2: money (exact, one helper), masked account.
    opts = {"decimal_mark": profile.decimal_mark, "thousands_mark": profile.thousands_mark}

    def parse(text: str, name: str, canon: str) -> pl.Expr:
        # A column the file does not have parses to nothing: skip the work on every row.
        if canon not in cols:
            return pl.lit(None, dtype=pl.Struct({"minor": pl.Int64, "error": pl.String})).alias(
                _P + name
            )
        typed = dtype(canon)
        if isinstance(typed, pl.Decimal):
            if canon in seen.plain:
                return money.decimal_two_expr(col(canon), typed.scale or 0).alias(_P + name)
            return money.decimal_expr(col(canon), typed.scale or 0, c("currency")).alias(_P + name)
        if canon in seen.plain:
            return money.plain_expr(col(canon)).alias(_P + name)
        return money.parse_expr(c(text), c("currency"), symbols=(), **opts).alias(_P + name)

    lf = lf.with_columns(
        parse("amount_text", "amount", "amount"),
        parse("in_text", "ain", "amount_in"),
        parse("out_text", "aout", "amount_out"),
        parse("fee_text", "fee", "fee"),
        # bare card numbers, the common case, by slices; the loader (or account_text) does
        # the rest
        _fast_mask(c("account")).alias(_P + "account"),
    )
    # Stage 3: signs, kinds inferred from signs, the reason a row is rejected.
    if split_amount:
        lf = lf.with_columns(_split_amount(cols, c("ain"), c("aout"), c("in_text"), c("out_text")))
    else:
        lf = lf.with_columns(
            c("amount").struct.field("minor").alias(_P + "minor"),
            c("amount").struct.field("error").alias(_P + "amount_error"),
        )
    minor, k, sign = c("minor"), c("kind"), c("dc_sign")
    signed = (
        pl.when(k.is_in(NEGATIVE_KINDS))
        .then(-minor.abs())
        .when(k.is_not_null())
        .then(minor.abs())
        .when(sign == -1)
        .then(-minor.abs())
        .when(sign == 1)
        .then(minor.abs())
        .otherwise(minor)
    )
    positive_kind, negative_kind = ("sale", "refund") if side == "pos" else ("credit", "debit")
    final_kind = (
        pl.when(k.is_not_null())
        .then(k)
        .when(c("signed") >= 0)
        .then(pl.lit(positive_kind))
        .otherwise(pl.lit(negative_kind))
    )
    fee_error = pl.when(c("fee_text").is_not_null()).then(_money_error(c("fee"), "fee"))
    errors = [
        pl.col(TIME_ERROR),
        c("amount_error"),
        c("cur_error"),
        c("kind_error"),
        c("dc_error"),
        fee_error,
    ]
    reason = (
        pl.when(pl.col(ERROR).is_not_null())
        .then(pl.col(ERROR))
        .otherwise(pl.concat_str(errors, separator="; ", ignore_nulls=True))
    )
    lf = lf.with_columns(signed.alias(_P + "signed"), reason.alias(_P + "reason"))
    line = pl.col(LINE).cast(pl.Int64)
    plan = lf.select(
        # when/then: the fallback id is built only for the rows without one
        pl.when(text("id").is_null())
        .then(formatted("{}:{}", pl.lit(source), line))
        .otherwise(text("id"))
        .alias("id"),
        pl.col(TIME).alias("time"),
        pl.col(HAS_CLOCK).alias("has_clock"),
        c("signed").alias("amount"),
        c("currency").alias("currency"),
        c("account").alias("account"),
        _no_placeholder(text("reference"), side).alias("reference"),
        final_kind.alias("kind"),
        text("terminal").alias("terminal"),
        text("merchant").alias("merchant"),
        c("fee").struct.field("minor").alias("fee"),
        pl.lit(source).alias("source"),
        line.alias("line"),
        text("batch").alias("batch"),
        text("trace").alias("trace"),
        _references(col("references"), dtype("references"), side).alias("references"),
        text("memo").alias("memo"),
        c("reason").alias(REASON),
    )
    return plan, raw


def _no_placeholder(expr: pl.Expr, side: str) -> pl.Expr:
    """A bank reference that identifies nothing (NONREF, KREF+, 0000 ...) is no reference: in
    a CSV export as in a statement (recon.references). POS references are the terminal's own."""
    if side != "bank" or expr.meta.is_literal(allow_aliasing=True):
        return expr
    return pl.when(~expr.str.contains(PLACEHOLDER_PATTERN)).then(expr)


def _references(expr: pl.Expr, dtype: pl.DataType, side: str) -> pl.Expr:
    """A statement line's references as a list: cleaned, empty ones, placeholders and repeats
    dropped; null when there are none. A text column holds them separated by `|` or `;`."""
    if expr.meta.is_literal(allow_aliasing=True):
        return pl.lit(None, dtype=pl.List(pl.String))
    if isinstance(dtype, pl.List):
        items = expr.cast(pl.List(pl.String))
    else:
        items = expr.cast(pl.String).str.replace_all(REFERENCE_SEPARATORS, "|").str.split("|")
    cleaned = (
        items.list.eval(
            pl.element().str.strip_chars().str.strip_chars_start("`'").str.strip_chars()
        )
        .list.eval(pl.element().filter(_no_placeholder(pl.element(), side).str.len_chars() > 0))
        .list.unique(maintain_order=True)
    )
    return pl.when(cleaned.list.len() > 0).then(cleaned)


def mask_text(column: str) -> pl.Expr:
    """Regex-mask card numbers inside text, for lazy plans (the eager path masks only the rows
    that need it)."""
    col = pl.col(column)
    return pl.when(col.str.contains(_PAN_HINT)).then(mask_pans(col)).otherwise(col).alias(column)


def account_text(column: str = "account") -> pl.Expr:
    """normalize_account() for lazy plans (the eager path runs it on the rows it may change)."""
    col = pl.col(column)
    touched = col.str.contains(ACCOUNT_TOUCHED)
    return pl.when(touched).then(normalize_account(col)).otherwise(col).alias(column)


def mask_memo_text(column: str = "memo") -> pl.Expr:
    """mask_memo() for lazy plans: card numbers in free text, references left whole."""
    col = pl.col(column)
    return pl.when(col.str.contains(_PAN_HINT)).then(mask_memo(col)).otherwise(col).alias(column)
