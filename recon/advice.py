"""Words for each item: what differs (in numbers), the probable cause in the seed's terms, and
the action a shop owner can take. Expressions over the item frame built by recon.classify.
"""

from __future__ import annotations

import re

import polars as pl

from recon.config import Settings
from recon.i18n import TEXT, t
from recon.keying import amount_pattern, digits_pattern
from recon.money import format_expr

_T = pl.col("type")


def _money(amount: str, currency: pl.Expr) -> pl.Expr:
    return pl.concat_str(format_expr(pl.col(amount), currency), pl.lit(" "), currency)


def _ts(col: str) -> pl.Expr:
    return pl.col(col).dt.strftime("%Y-%m-%d %H:%M:%S")


def _days(seconds: pl.Expr) -> pl.Expr:
    return (seconds.cast(pl.Float64) / 86_400).round(1).cast(pl.String)


def _ids(col: str) -> pl.Expr:
    return pl.col(col).list.join(", ")


def keying_patterns(items: pl.DataFrame) -> pl.DataFrame:
    """Add amount_pattern and account_pattern, computed only on the items of those types (the
    checks walk every digit position, so a million clean items should not pay for them)."""
    amounts = items.filter(pl.col("type") == "amount_mismatch").select(
        "item_id", amount_pattern=amount_pattern(pl.col("pos_amount"), pl.col("bank_amount"))
    )
    cards = items.filter(pl.col("type") == "account_mismatch").select(
        "item_id", account_pattern=digits_pattern(pl.col("pos_last4"), pl.col("bank_last4"))
    )
    return items.join(amounts, on="item_id", how="left", maintain_order="left").join(
        cards, on="item_id", how="left", maintain_order="left"
    )


_FIELD = re.compile(r"\{(\w+)\}")
_PATTERNS = [k.removeprefix("adv.pattern.") for k in TEXT if k.startswith("adv.pattern.")]


def _tx(key: str, lang: str, **parts: pl.Expr | str) -> pl.Expr:
    """The catalog text of `key` as an expression: each {name} in it becomes parts[name]."""
    pieces: list[pl.Expr] = []
    pos = 0
    text = t(key, lang)
    for m in _FIELD.finditer(text):
        if m.start() > pos:
            pieces.append(pl.lit(text[pos : m.start()]))
        part = parts[m.group(1)]
        pieces.append(pl.lit(part) if isinstance(part, str) else part)
        pos = m.end()
    if pos < len(text) or not pieces:
        pieces.append(pl.lit(text[pos:]))
    return pieces[0] if len(pieces) == 1 else pl.concat_str(pieces)


def _pattern(col: str, lang: str) -> pl.Expr:
    """A keying pattern from recon.keying, named in `lang` (the stored column stays English)."""
    if lang == "en":
        return pl.col(col)
    names = {p: t(f"adv.pattern.{p}", lang) for p in _PATTERNS}
    return pl.col(col).replace(names)


def describe(settings: Settings) -> list[pl.Expr]:
    """Expressions for detail, cause and suggested_action (after keying_patterns), in the
    language of `settings.lang`; numbers and ids sit in the same places in every language."""
    lang = getattr(settings, "lang", "en")

    def tx(key: str, **parts: pl.Expr | str) -> pl.Expr:
        return _tx(key, lang, **parts)

    cur = pl.col("currency")
    bcur = pl.coalesce("bank_currency", "currency")
    pos_m = _money("pos_amount", cur)
    bank_m = _money("bank_amount", bcur)
    diff_m = pl.concat_str(format_expr(pl.col("difference_minor").abs(), cur), pl.lit(" "), cur)
    more_less = (
        pl.when(pl.col("difference_minor") > 0).then(tx("adv.more")).otherwise(tx("adv.less"))
    )
    apat = pl.col("amount_pattern")
    kpat = pl.col("account_pattern")
    late_days = _days(pl.col("lag_s"))
    allow = f"{settings.match.late_after_days:g}"
    window = f"{settings.match.duplicate_seconds}"
    retry = pl.col("how") == "retry"
    debit = pl.col("bank_amount") < 0
    lone_void = pl.col("how") == "lone_void"
    late_note = (
        pl.when(pl.col("how") == "late")
        .then(tx("adv.late_note", days=late_days))
        .otherwise(pl.lit(""))
    )
    n_pos = pl.col("pos_ids").list.len().cast(pl.String)

    detail = (
        pl.when(_T == "amount_mismatch")
        .then(
            tx(
                "adv.detail.amount_mismatch",
                pos=pos_m,
                bank=bank_m,
                diff=diff_m,
                more_less=more_less,
                late_note=late_note,
            )
        )
        .when(_T == "account_mismatch")
        .then(
            tx(
                "adv.detail.account_mismatch",
                pos_account=pl.col("pos_account").fill_null("?"),
                bank_account=pl.col("bank_account").fill_null("?"),
                pos=pos_m,
                late_note=late_note,
            )
        )
        .when(_T == "currency_mismatch")
        .then(tx("adv.detail.currency_mismatch", pos=pos_m, bank=bank_m))
        .when(_T == "late_settlement")
        .then(
            tx(
                "adv.detail.late_settlement",
                pos=pos_m,
                pos_time=_ts("pos_time"),
                bank_time=_ts("bank_time"),
                days=late_days,
                allow=allow,
            )
        )
        .when(_T == "duplicate_pos")
        .then(
            tx(
                "adv.detail.duplicate_pos",
                n=n_pos,
                ids=_ids("pos_ids"),
                pos=pos_m,
                how=pl.when(retry)
                .then(tx("adv.retry_window", window=window))
                .otherwise(tx("adv.with_ref", reference=pl.col("reference"))),
                n_settled=pl.col("n_settled").cast(pl.String),
            )
        )
        .when(_T == "duplicate_bank")
        .then(
            tx(
                "adv.detail.duplicate_bank",
                n=pl.col("bank_ids").list.len().cast(pl.String),
                ids=_ids("bank_ids"),
                bank=bank_m,
                n_pos=n_pos,
                ref=pl.when(pl.col("reference").is_not_null())
                .then(tx("adv.with_ref", reference=pl.col("reference")))
                .otherwise(pl.lit("")),
            )
        )
        .when(_T == "orphan_pos")
        .then(
            tx(
                "adv.detail.orphan_pos",
                kind=pl.when(lone_void).then(tx("adv.void_of")).otherwise(tx("adv.sale_of")),
                pos=pos_m,
                terminal=pl.col("terminal").fill_null("?"),
                pos_time=_ts("pos_time"),
                tail=pl.when(lone_void)
                .then(tx("adv.lone_void_tail"))
                .otherwise(tx("adv.never_settled_tail")),
            )
        )
        .when(_T == "orphan_bank")
        .then(
            tx(
                "adv.detail.orphan_bank",
                kind=pl.when(debit).then(tx("adv.debit_of")).otherwise(tx("adv.credit_of")),
                amount=pl.concat_str(
                    format_expr(pl.col("bank_amount").abs(), bcur), pl.lit(" "), bcur
                ),
                bank_time=_ts("bank_time"),
                ref=pl.when(pl.col("reference").is_not_null())
                .then(tx("adv.paren_ref", reference=pl.col("reference")))
                .otherwise(pl.lit("")),
            )
        )
        .when(_T == "voided_but_settled")
        .then(
            tx(
                "adv.detail.voided_but_settled",
                first=pl.col("pos_ids").list.first(),
                last=pl.col("pos_ids").list.last(),
                pos_time=_ts("pos_time"),
                bank=bank_m,
                ids=_ids("bank_ids"),
            )
        )
    )

    cause = (
        pl.when(_T == "amount_mismatch")
        .then(
            pl.when(apat.is_not_null())
            .then(tx("adv.cause.keying_amount", pattern=_pattern("amount_pattern", lang)))
            .otherwise(tx("adv.cause.amount_altered"))
        )
        .when(_T == "account_mismatch")
        .then(
            pl.when(kpat.is_not_null())
            .then(tx("adv.cause.keying_account", pattern=_pattern("account_pattern", lang)))
            .otherwise(tx("adv.cause.card_differs"))
        )
        .when(_T == "currency_mismatch")
        .then(tx("adv.cause.currency"))
        .when(_T == "late_settlement")
        .then(tx("adv.cause.late"))
        .when(_T == "duplicate_pos")
        .then(pl.when(retry).then(tx("adv.cause.retry")).otherwise(tx("adv.cause.same_ref")))
        .when(_T == "duplicate_bank")
        .then(tx("adv.cause.dup_bank"))
        .when(_T == "orphan_pos")
        .then(
            pl.when(lone_void)
            .then(tx("adv.cause.lone_void"))
            .otherwise(tx("adv.cause.never_reached"))
        )
        .when(_T == "orphan_bank")
        .then(pl.when(debit).then(tx("adv.cause.debit")).otherwise(tx("adv.cause.credit")))
        .when(_T == "voided_but_settled")
        .then(tx("adv.cause.void_not_reached"))
    )

    action = (
        pl.when(_T == "amount_mismatch")
        .then(
            tx(
                "adv.act.amount_mismatch",
                then=pl.when(pl.col("difference_minor") > 0)
                .then(tx("adv.act.refund", diff=diff_m))
                .otherwise(tx("adv.act.collect", diff=diff_m)),
            )
        )
        .when(_T == "account_mismatch")
        .then(tx("adv.act.account_mismatch"))
        .when(_T == "currency_mismatch")
        .then(tx("adv.act.currency_mismatch"))
        .when(_T == "late_settlement")
        .then(tx("adv.act.late_settlement"))
        .when(_T == "duplicate_pos")
        .then(
            pl.when(pl.col("n_settled") > 1)
            .then(tx("adv.act.dup_multi"))
            .when(pl.col("n_settled") == 0)
            .then(tx("adv.act.dup_none"))
            .otherwise(tx("adv.act.dup_one"))
        )
        .when(_T == "duplicate_bank")
        .then(tx("adv.act.duplicate_bank"))
        .when(_T == "orphan_pos")
        .then(pl.when(lone_void).then(tx("adv.act.lone_void")).otherwise(tx("adv.act.orphan_pos")))
        .when(_T == "orphan_bank")
        .then(pl.when(debit).then(tx("adv.act.debit")).otherwise(tx("adv.act.credit")))
        .when(_T == "voided_but_settled")
        .then(tx("adv.act.voided_but_settled"))
    )
    how = pl.col("how")
    batch = how.is_in(list(_BATCH_HOWS))
    parts = _batch_parts(tx, cur, pos_m, bank_m, diff_m)
    detail = pl.when(batch).then(_by_how("detail", parts)).otherwise(detail)
    cause = pl.when(batch).then(_by_how("cause", parts)).otherwise(cause)
    action = pl.when(batch).then(_by_how("act", parts)).otherwise(action)
    action = pl.concat_str(action, _contacts(settings))
    return [detail.alias("detail"), cause.alias("cause"), action.alias("suggested_action")]


# Items of batch settlements (recon.settle), told apart by `how`.
_BATCH_HOWS = ("deposit_fee", "deposit_short", "deposit_long", "missing_from_deposit", "pending")


def _rate(fee: str) -> pl.Expr:
    """fee / gross as a percentage with three decimals ('0.652%'), in integers."""
    thousandths = pl.col(fee) * 100_000 // pl.col("gross")
    return pl.format(
        "{}.{}%",
        (thousandths // 1000).cast(pl.String),
        (thousandths % 1000).cast(pl.String).str.zfill(3),
    )


def _batch_parts(tx, cur: pl.Expr, pos_m: pl.Expr, bank_m: pl.Expr, diff_m: pl.Expr) -> dict:
    def money(col: str) -> pl.Expr:
        return pl.concat_str(format_expr(pl.col(col), cur), pl.lit(" "), cur)

    common = {
        "deposit": _ids("bank_ids"),
        "bank": bank_m,
        "pos": pos_m,
        "diff": diff_m,
        "n": pl.col("pos_ids").list.len().cast(pl.String),
        "gross": money("gross"),
        "fee_expected": money("fee_expected"),
        "fee_charged": money("fee_charged"),
        "rate_expected": _rate("fee_expected"),
        "rate_charged": _rate("fee_charged"),
        "over": pl.concat_str(
            format_expr((pl.col("fee_charged") - pl.col("fee_expected")).abs(), cur),
            pl.lit(" "),
            cur,
        ),
        "sale": pl.col("pos_ids").list.first(),
        "pos_time": _ts("pos_time"),
        "terminal": pl.col("terminal").fill_null("?"),
        "deposits": pl.col("deposit_ids").fill_null("?"),
        "expected": pl.col("expected").cast(pl.String),
    }
    out = {}
    for how in _BATCH_HOWS:
        for part in ("detail", "cause", "act"):
            out[(part, how)] = tx(f"adv.{part}.{how}", **common)
    return out


def _by_how(part: str, parts: dict) -> pl.Expr:
    expr = pl.when(pl.lit(False)).then(pl.lit(None, pl.String))
    for how in _BATCH_HOWS:
        expr = expr.when(pl.col("how") == how).then(parts[(part, how)])
    return expr


# Who each kind of item sends the shop owner to (names and numbers come from [contacts]).
_CONTACT_TYPES = {
    "acquirer": (
        "amount_mismatch",
        "account_mismatch",
        "currency_mismatch",
        "duplicate_bank",
        "orphan_pos",
        "orphan_bank",
        "voided_but_settled",
        "late_settlement",
        "fee_mismatch",
    ),
    "pos_vendor": ("currency_mismatch", "duplicate_pos", "orphan_pos"),
    "responsible": ("orphan_bank", "voided_but_settled", "duplicate_bank"),
}


def _contacts(settings: Settings) -> pl.Expr:
    """The contacts from the config that an item's action needs, appended to it."""
    parts = [
        pl.when(_T.is_in(types))
        .then(pl.lit(t(f"adv.contact.{role}", settings.lang, who=settings.contacts[role])))
        .otherwise(pl.lit(""))
        for role, types in _CONTACT_TYPES.items()
        if settings.contacts.get(role)
    ]
    return pl.concat_str(parts) if parts else pl.lit("")
