"""Raw source columns + a profile -> canonical rows and rejected rows, as polars expressions.

Every value is parsed by expressions over whole columns (no Python loop over rows). A row that
cannot be read gets a reason; rows with a reason go to `rejected`, the rest to the canonical
frame. Card numbers are masked here, in `account` and in the raw text of rejected rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from recon import money
from recon.errors import InputError
from recon.profiles import MAPPABLE, Profile, clock_in_format
from recon.readers import ERROR, LINE, RawTable
from recon.schema import BANK_KINDS, POS_KINDS, REQUIRED_INPUT, conform

NEGATIVE_KINDS = ("refund", "void", "reversal", "debit")
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
    for canon in MAPPABLE:
        for alt in profile.headers_for(canon):
            if header_key(alt) in by_key:
                found[canon] = by_key[header_key(alt)]
                break
    return found


def missing_required(available: Sequence[str], profile: Profile) -> list[str]:
    found = resolve_columns(available, profile)
    return [c for c in REQUIRED_INPUT if c not in found]


def describe_missing(missing: list[str], available: Sequence[str], profile: Profile) -> str:
    wanted = []
    for canon in missing:
        headers = profile.headers_for(canon)
        wanted.append(canon if headers == (canon,) else f"{canon} ({' or '.join(headers)})")
    seen = ", ".join(h.strip() for h in available) or "nothing"
    return f"no recognisable header: expected columns {', '.join(wanted)} (found: {seen})"


def clean_text(expr: pl.Expr) -> pl.Expr:
    """Strip whitespace and an Excel/Alipay leading quote (` or '); empty -> null."""
    s = expr.cast(pl.String).str.strip_chars().str.strip_chars_start("`'").str.strip_chars()
    return pl.when(s == "").then(None).otherwise(s)


# Card numbers printed in groups (4-4-4-4..., Amex 4-6-5) are joined before masking.
_GROUPED_PANS = (
    (r"(^|\D)(\d{4})[ -](\d{4})[ -](\d{4})[ -](\d{1,7})(\D|$)", "${1}${2}${3}${4}${5}${6}"),
    (r"(^|\D)(\d{4})[ -](\d{6})[ -](\d{4,5})(\D|$)", "${1}${2}${3}${4}${5}"),
)


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


def mask_account(expr: pl.Expr) -> pl.Expr:
    """Card-like values lose spaces/dashes and x/X becomes '*'; then PANs are masked."""
    s = clean_text(expr)
    compact = s.str.replace_all(r"[\s-]", "")
    cardlike = compact.str.contains(r"^[0-9*xX]+$")
    s = pl.when(cardlike).then(compact.str.replace_all("[xX]", "*")).otherwise(s)
    return pl.when(s.str.contains(r"\d{13}")).then(mask_pans(s)).otherwise(s)


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


def parse_time(
    expr: pl.Expr, dtype: pl.DataType, profile: Profile, target_tz: str | None
) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """(naive Datetime[us], has_clock, error) for a time column of any supported dtype."""
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone:
            dt = expr.dt.convert_time_zone(target_tz or "UTC").dt.replace_time_zone(None)
        else:
            dt = _localise(expr, profile.timezone, target_tz)
        dt = dt.dt.cast_time_unit("us")
        return _finish_time(dt, pl.lit(True), pl.lit(None, pl.String), expr, profile)
    if dtype == pl.Date:
        return _finish_time(
            expr.cast(pl.Datetime("us")), pl.lit(False), pl.lit(None, pl.String), expr, profile
        )
    text = clean_text(_to_text(expr, dtype))
    if profile.datetime_format:
        dt, clock = _parse_formats(text, profile, target_tz)
        expected = " or ".join(profile.datetime_format)
        problem = pl.concat_str(pl.lit("time '"), text, pl.lit(f"' does not match {expected}"))
    else:
        dt, clock = _parse_iso(text, profile, target_tz)
        problem = pl.concat_str(
            pl.lit("time '"), text, pl.lit("' is not an ISO 8601 date or date/time")
        )
    error = pl.when(text.is_null()).then(pl.lit("time is empty")).when(dt.is_null()).then(problem)
    return _finish_time(dt, clock, error, text, profile)


def _finish_time(
    dt: pl.Expr, clock: pl.Expr, error: pl.Expr, source: pl.Expr, profile: Profile
) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    if profile.date_only:
        return dt.dt.truncate("1d"), pl.lit(False), error
    return dt, clock, error


def _parse_formats(
    text: pl.Expr, profile: Profile, target_tz: str | None
) -> tuple[pl.Expr, pl.Expr]:
    parsed: list[pl.Expr] = []
    clocks: list[pl.Expr] = []
    for fmt in profile.datetime_format:
        has_clock = clock_in_format(fmt)
        if not has_clock:
            dt = text.str.strptime(pl.Date, fmt, strict=False).cast(pl.Datetime("us"))
        elif "%z" in fmt or "%:z" in fmt:
            utc = text.str.strptime(pl.Datetime("us", "UTC"), fmt, strict=False)
            dt = _from_utc(utc.dt.replace_time_zone(None), target_tz)
        else:
            naive = text.str.strptime(pl.Datetime("us"), fmt, strict=False)
            dt = _localise(naive, profile.timezone, target_tz)
        parsed.append(dt)
        clocks.append(pl.when(dt.is_not_null()).then(pl.lit(has_clock)))
    return pl.coalesce(parsed), pl.coalesce(clocks)


def _parse_iso(text: pl.Expr, profile: Profile, target_tz: str | None) -> tuple[pl.Expr, pl.Expr]:
    g = text.str.extract_groups(_ISO_RE)
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
    clock = hour.is_not_null()
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
    aware = _from_utc(dt - pl.duration(minutes=off_minutes), target_tz)
    naive = _localise(dt, profile.timezone, target_tz)
    result = (
        pl.when(~clock).then(dt).when(offset.is_not_null()).then(aware).otherwise(naive)
    )  # dates are days, never shifted between zones
    return result, pl.when(result.is_not_null()).then(clock)


def normalize(
    raw: RawTable,
    profile: Profile,
    side: str,
    source: str,
    *,
    target_tz: str | None = None,
    where: str | None = None,
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """Canonical rows (schema.CANONICAL) and rejected rows (schema.REJECTED), both lazy."""
    cols = resolve_columns(raw.columns, profile)
    missing = [c for c in REQUIRED_INPUT if c not in cols]
    if missing:
        raise InputError(describe_missing(missing, raw.columns, profile), where)
    schema = raw.frame.collect_schema()

    def col(canon: str) -> pl.Expr:
        return pl.col(cols[canon]) if canon in cols else pl.lit(None, dtype=pl.String)

    def dtype(canon: str) -> pl.DataType:
        return schema[cols[canon]] if canon in cols else pl.String()

    symbols = profile.currency_symbols
    money_opts = {
        "decimal_mark": profile.decimal_mark,
        "thousands_mark": profile.thousands_mark,
        "symbols": symbols,
    }
    # Stage 1: currency, money, kind, debit/credit, time.
    cur_text = clean_text(col("currency")).str.to_uppercase()
    cur_text = cur_text.replace(CURRENCY_ALIASES)
    currency = cur_text.fill_null(pl.lit(profile.default_currency, dtype=pl.String))
    if profile.default_currency:
        cur_missing = pl.lit(None, dtype=pl.String)
    else:
        cur_missing = pl.lit("currency missing and no default_currency in profile")
    cur_error = (
        pl.when(currency.is_null())
        .then(cur_missing)
        .when(~currency.str.contains(r"^[A-Z]{3}$"))
        .then(pl.concat_str(pl.lit("currency '"), cur_text, pl.lit("' is not an ISO 4217 code")))
    )
    amount_text = _to_text(col("amount"), dtype("amount"))
    fee_text = clean_text(_to_text(col("fee"), dtype("fee")))

    allowed = POS_KINDS if side == "pos" else BANK_KINDS
    kind_src = clean_text(col("kind"))
    kind_map = {k.strip().lower(): v for k, v in profile.kinds.items()}
    kind = kind_src.str.to_lowercase()
    if kind_map:
        kind = kind.replace(kind_map)
    kind_error = pl.when(kind.is_not_null() & ~kind.is_in(allowed)).then(
        pl.concat_str(
            pl.lit("unknown kind '"), kind_src, pl.lit(f"' (expected {'|'.join(allowed)})")
        )
    )
    dc_src = clean_text(col("debit_credit"))
    debit = [v.strip().lower() for v in profile.debit_credit.get("debit", ())]
    credit = [v.strip().lower() for v in profile.debit_credit.get("credit", ())]
    dc = dc_src.str.to_lowercase()
    dc_sign = (
        pl.when(dc.is_in(debit)).then(pl.lit(-1)).when(dc.is_in(credit)).then(pl.lit(1))
        if "debit_credit" in cols
        else pl.lit(None, dtype=pl.Int32)
    )
    choices = "/".join(
        [*profile.debit_credit.get("debit", ()), *profile.debit_credit.get("credit", ())]
    )
    dc_error = pl.when(dc_src.is_not_null() & dc_sign.is_null()).then(
        pl.concat_str(pl.lit("debit/credit flag '"), dc_src, pl.lit(f"' is not one of {choices}"))
    )
    time, has_clock, time_error = parse_time(col("time"), dtype("time"), profile, target_tz)

    lf = raw.frame.with_columns(
        (currency).alias(_P + "currency"),
        cur_error.alias(_P + "cur_error"),
        kind.alias(_P + "kind"),
        kind_error.alias(_P + "kind_error"),
        dc_sign.cast(pl.Int32).alias(_P + "dc_sign"),
        dc_error.alias(_P + "dc_error"),
        time.alias(_P + "time"),
        has_clock.alias(_P + "has_clock"),
        time_error.cast(pl.String).alias(_P + "time_error"),
        amount_text.alias(_P + "amount_text"),
        fee_text.alias(_P + "fee_text"),
    )
    cur = pl.col(_P + "currency")
    lf = lf.with_columns(
        money.parse_expr(pl.col(_P + "amount_text"), cur, **money_opts).alias(_P + "amount"),
        money.parse_expr(pl.col(_P + "fee_text"), cur, **money_opts).alias(_P + "fee"),
    )
    # Stage 2: signs, kinds inferred from signs, the reason a row is rejected.
    minor = pl.col(_P + "amount").struct.field("minor")
    k = pl.col(_P + "kind")
    sign = pl.col(_P + "dc_sign")
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
        .when(signed >= 0)
        .then(pl.lit(positive_kind))
        .otherwise(pl.lit(negative_kind))
    )
    fee_error = pl.when(pl.col(_P + "fee_text").is_not_null()).then(
        _money_error(pl.col(_P + "fee"), "fee")
    )
    reason = (
        pl.when(pl.col(ERROR).is_not_null())
        .then(pl.col(ERROR))
        .otherwise(
            pl.concat_str(
                [
                    pl.col(_P + "time_error"),
                    _money_error(pl.col(_P + "amount"), "amount"),
                    pl.col(_P + "cur_error"),
                    pl.col(_P + "kind_error"),
                    pl.col(_P + "dc_error"),
                    fee_error,
                ],
                separator="; ",
                ignore_nulls=True,
            )
        )
    )
    lf = lf.with_columns(reason.alias(_P + "reason"))
    line = pl.col(LINE).cast(pl.Int64)
    good = lf.filter(pl.col(_P + "reason") == "").select(
        clean_text(col("id")).fill_null(pl.format("{}:{}", pl.lit(source), line)).alias("id"),
        pl.col(_P + "time").alias("time"),
        pl.col(_P + "has_clock").alias("has_clock"),
        signed.alias("amount"),
        cur.alias("currency"),
        mask_account(col("account")).alias("account"),
        clean_text(col("reference")).alias("reference"),
        final_kind.alias("kind"),
        clean_text(col("terminal")).alias("terminal"),
        clean_text(col("merchant")).alias("merchant"),
        pl.col(_P + "fee").struct.field("minor").alias("fee"),
        pl.lit(source).alias("source"),
        line.alias("line"),
    )
    rejected = lf.filter(pl.col(_P + "reason") != "").select(
        pl.lit(side).alias("side"),
        line.alias("line"),
        pl.col(_P + "reason").alias("reason"),
        mask_pans(raw.raw.cast(pl.String)).alias("raw"),
    )
    return conform(good), rejected
