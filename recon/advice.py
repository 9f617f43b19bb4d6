"""Words for each item: what differs (in numbers), the probable cause in the seed's terms, and
the action a shop owner can take. Expressions over the item frame built by recon.classify.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import polars as pl

from recon.config import Settings
from recon.exprs import formatted
from recon.i18n import TEXT, t
from recon.keying import amount_pattern, digits_pattern
from recon.money import format_expr
from recon.schema import BANK_KINDS, CANCEL_KINDS, POS_KINDS

_SHARED = "__adv_"  # prefix of describe()'s shared columns


def _money(amount: str, currency: pl.Expr) -> pl.Expr:
    return pl.concat_str(format_expr(pl.col(amount), currency), pl.lit(" "), currency)


def _ts(col: str) -> pl.Expr:
    return pl.col(col).dt.strftime("%Y-%m-%d %H:%M:%S")


def _days(seconds: pl.Expr) -> pl.Expr:
    return (seconds.cast(pl.Float64) / 86_400).round(1).cast(pl.String)


def _ids(col: str) -> pl.Expr:
    return pl.col(col).list.join(", ")


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


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _named(kind: pl.Expr, kinds: tuple[str, ...], prefix: str, lang: str, capital=False):
    """A kind ('sale', 'debit' ...) as the catalog word `prefix` + kind in `lang`."""
    words = {k: t(f"{prefix}{k}", lang) for k in kinds}
    if capital:
        words = {k: _capital(w) for k, w in words.items()}
    return kind.replace_strict(words, default=None, return_dtype=pl.String)


def describe(settings: Settings) -> Callable[[str, str | None], list[list[pl.Expr]]]:
    """Expressions for detail, cause and suggested_action, in the language of
    `settings.lang`; numbers and ids sit in the same places in every language.

    Every record is named as what it is: a sale, refund, void or reversal on the POS side, a
    credit or debit on the bank side; amounts beside those words are magnitudes.

    Returns `texts(type, how)`: two with_columns stages for the items of one type and
    TEXT_HOW. The first adds the pieces many texts share (amounts as text, kinds as words,
    times; as nested expressions every text branch recomputed them) and the keying patterns
    of amount and account mismatches; the second detail, cause and suggested_action. Each
    group's texts are built on its own rows only: one expression choosing among every type's
    texts computed all of them for every item."""
    lang = getattr(settings, "lang", "en")
    # A debit with no POS record on a plain bank statement is a payment of the shop's own.
    statement = getattr(settings, "bank_is_statement", None) is True

    def tx(key: str, **parts: pl.Expr | str) -> pl.Expr:
        return _tx(key, lang, **parts)

    pre: list[pl.Expr] = []

    def shared(name: str, expr: pl.Expr) -> pl.Expr:
        pre.append(expr.alias(f"{_SHARED}{name}"))
        return pl.col(f"{_SHARED}{name}")

    pos_ts = shared("pos_ts", _ts("pos_time"))
    bank_ts = shared("bank_ts", _ts("bank_time"))
    cur = pl.col("currency")
    bcur = pl.coalesce("bank_currency", "currency")
    pos_m = shared("pos_m", _money("pos_amount", cur))
    bank_m = shared("bank_m", _money("bank_amount", bcur))
    pos_abs = shared(
        "pos_abs", pl.concat_str(format_expr(pl.col("pos_amount").abs(), cur), pl.lit(" "), cur)
    )
    bank_abs = shared(
        "bank_abs", pl.concat_str(format_expr(pl.col("bank_amount").abs(), bcur), pl.lit(" "), bcur)
    )
    diff_m = shared(
        "diff_m",
        pl.concat_str(format_expr(pl.col("difference_minor").abs(), cur), pl.lit(" "), cur),
    )

    # What the records are. The POS kind comes from the record (the item's `kind` is the POS
    # record's on POS and pair items, the void's on voided_but_settled); the bank side's from
    # the sign of its amount, which every reader sets from the debit/credit mark.
    kind = pl.col("kind")
    pos_kind = (
        pl.when(kind.is_in(POS_KINDS))
        .then(kind)
        .when(pl.col("pos_amount") < 0)
        .then(pl.lit("refund"))
        .otherwise(pl.lit("sale"))
    )
    bank_kind = pl.when(pl.col("bank_amount") < 0).then(pl.lit("debit")).otherwise(pl.lit("credit"))
    pkind = shared("pkind", _named(pos_kind, POS_KINDS, "adv.kind.", lang))
    pkind_cap = shared("pkind_cap", _named(pos_kind, POS_KINDS, "adv.kind.", lang, capital=True))
    bkind = shared("bkind", _named(bank_kind, BANK_KINDS, "adv.kind.", lang))
    booked = shared("booked", _named(bank_kind, BANK_KINDS, "adv.booked.", lang))
    cancelled = shared("cancelled", _named(pos_kind, CANCEL_KINDS, "adv.cancelled.", lang))
    # Money going back to the customer (a refund, or a cancel of a sale) rather than a sale.
    money_back = pos_kind != "sale"
    # The two sides moved money in opposite directions (a sale booked as a debit ...).
    flipped = (pl.col("pos_amount") < 0) != (pl.col("bank_amount") < 0)
    bank_more = pl.col("bank_amount").abs() > pl.col("pos_amount").abs()

    more_less = shared(
        "more_less", pl.when(bank_more).then(tx("adv.more")).otherwise(tx("adv.less"))
    )
    apat, kpat = "amount_pattern", "account_pattern"
    late_days = shared("late_days", _days(pl.col("lag_s")))
    allow = f"{settings.match.late_after_days:g}"
    window = f"{settings.match.duplicate_seconds}"
    retry = pl.col("how") == "retry"
    debit = pl.col("bank_amount") < 0
    lone_void = pl.col("how") == "lone_void"
    is_refund = pos_kind == "refund"
    late_note = (
        pl.when(pl.col("how") == "late")
        .then(tx("adv.late_note", days=late_days, pkind=pkind))
        .otherwise(pl.lit(""))
    )
    n_pos = pl.col("pos_ids").list.len().cast(pl.String)
    ref_paren = shared(
        "ref_paren",
        (
            pl.when(pl.col("reference").is_not_null())
            .then(tx("adv.paren_ref", reference=pl.col("reference")))
            .otherwise(pl.lit(""))
        ),
    )

    if statement:
        debit_detail = tx(
            "adv.detail.orphan_payment", amount=bank_abs, bank_time=bank_ts, ref=ref_paren
        )
        debit_cause, debit_act = tx("adv.cause.payment"), tx("adv.act.payment")
    else:
        debit_detail = tx(
            "adv.detail.orphan_bank",
            kind=tx("adv.debit_of"),
            amount=bank_abs,
            bank_time=bank_ts,
            ref=ref_paren,
        )
        debit_cause, debit_act = tx("adv.cause.debit"), tx("adv.act.debit")

    detail = {
        "amount_mismatch": pl.when(flipped)
        .then(
            tx(
                "adv.detail.amount_flipped",
                pkind=pkind,
                pos=pos_abs,
                bkind=bkind,
                booked=booked,
                bank=bank_abs,
                diff=diff_m,
                late_note=late_note,
            )
        )
        .otherwise(
            tx(
                "adv.detail.amount_mismatch",
                pos=pos_abs,
                bank=bank_abs,
                booked=booked,
                diff=diff_m,
                more_less=more_less,
                pkind=pkind,
                late_note=late_note,
            )
        ),
        "account_mismatch": tx(
            "adv.detail.account_mismatch",
            pos_account=pl.col("pos_account").fill_null("?"),
            bank_account=pl.col("bank_account").fill_null("?"),
            pkind=pkind,
            pos=pos_abs,
            late_note=late_note,
        ),
        "currency_mismatch": tx(
            "adv.detail.currency_mismatch",
            pkind=pkind,
            pos=pos_abs,
            bkind=bkind,
            bank=bank_abs,
        ),
        "late_settlement": tx(
            "adv.detail.late_settlement",
            Pkind=pkind_cap,
            pkind=pkind,
            pos=pos_abs,
            pos_time=pos_ts,
            bank_time=bank_ts,
            days=late_days,
            allow=allow,
        ),
        "duplicate_pos": tx(
            "adv.detail.duplicate_pos",
            n=n_pos,
            ids=_ids("pos_ids"),
            pos=pos_abs,
            pkind=pkind,
            how=pl.when(retry)
            .then(tx("adv.retry_window", window=window))
            .otherwise(tx("adv.with_ref", reference=pl.col("reference"))),
            n_settled=pl.col("n_settled").cast(pl.String),
        ),
        "duplicate_bank": tx(
            "adv.detail.duplicate_bank",
            bkind=bkind,
            booked=booked,
            n=pl.col("bank_ids").list.len().cast(pl.String),
            ids=_ids("bank_ids"),
            bank=bank_abs,
            n_pos=n_pos,
            ref=pl.when(pl.col("reference").is_not_null())
            .then(tx("adv.with_ref", reference=pl.col("reference")))
            .otherwise(pl.lit("")),
        ),
        "orphan_pos": tx(
            "adv.detail.orphan_pos",
            Pkind=pkind_cap,
            pkind=pkind,
            pos=pos_abs,
            terminal=pl.col("terminal").fill_null("?"),
            pos_time=pos_ts,
            tail=pl.when(lone_void)
            .then(tx("adv.lone_void_tail"))
            .when(is_refund)
            .then(tx("adv.refund_unpaid_tail"))
            .otherwise(tx("adv.never_settled_tail")),
        ),
        "orphan_bank": pl.when(debit)
        .then(debit_detail)
        .otherwise(
            tx(
                "adv.detail.orphan_bank",
                kind=tx("adv.credit_of"),
                amount=bank_abs,
                bank_time=bank_ts,
                ref=ref_paren,
            )
        ),
        "voided_but_settled": tx(
            "adv.detail.voided_but_settled",
            first=pl.col("pos_ids").list.first(),
            last=pl.col("pos_ids").list.last(),
            cancelled=cancelled.fill_null(tx("adv.cancelled.void")),
            pos_time=pos_ts,
            booked=booked,
            bank=bank_abs,
            ids=_ids("bank_ids"),
        ),
    }

    cause = {
        "amount_mismatch": pl.when(pl.col(apat).is_not_null())
        .then(tx("adv.cause.keying_amount", pattern=_pattern(apat, lang)))
        .otherwise(tx("adv.cause.amount_altered")),
        "account_mismatch": pl.when(pl.col(kpat).is_not_null())
        .then(tx("adv.cause.keying_account", pattern=_pattern(kpat, lang)))
        .otherwise(tx("adv.cause.card_differs")),
        "currency_mismatch": tx("adv.cause.currency"),
        "late_settlement": tx("adv.cause.late"),
        "duplicate_pos": pl.when(retry)
        .then(tx("adv.cause.retry", pkind=pkind))
        .otherwise(tx("adv.cause.same_ref")),
        "duplicate_bank": tx("adv.cause.dup_bank"),
        "orphan_pos": pl.when(lone_void)
        .then(tx("adv.cause.lone_void", pkind=pkind))
        .otherwise(tx("adv.cause.never_reached", pkind=pkind)),
        "orphan_bank": pl.when(debit).then(debit_cause).otherwise(tx("adv.cause.credit")),
        "voided_but_settled": tx("adv.cause.void_not_reached", pkind=pkind),
    }

    action = {
        "amount_mismatch": tx(
            "adv.act.amount_mismatch",
            then=pl.when(flipped)
            .then(tx("adv.act.flipped", bkind=bkind, pkind=pkind))
            .when(money_back & bank_more)
            .then(tx("adv.act.refund_over", diff=diff_m))
            .when(money_back)
            .then(tx("adv.act.refund_under", diff=diff_m))
            .when(bank_more)
            .then(tx("adv.act.refund", diff=diff_m))
            .otherwise(tx("adv.act.collect", diff=diff_m)),
        ),
        "account_mismatch": pl.when(money_back)
        .then(tx("adv.act.account_refund"))
        .otherwise(tx("adv.act.account_mismatch")),
        "currency_mismatch": pl.when(money_back)
        .then(tx("adv.act.currency_refund"))
        .otherwise(tx("adv.act.currency_mismatch")),
        "late_settlement": tx("adv.act.late_settlement"),
        "duplicate_pos": pl.when(pl.col("n_settled") > 1)
        .then(
            pl.when(money_back)
            .then(tx("adv.act.dup_multi_refund"))
            .otherwise(tx("adv.act.dup_multi"))
        )
        .when(pl.col("n_settled") == 0)
        .then(
            pl.when(money_back)
            .then(tx("adv.act.dup_none_refund"))
            .otherwise(tx("adv.act.dup_none"))
        )
        .otherwise(tx("adv.act.dup_one")),
        "duplicate_bank": pl.when(debit)
        .then(tx("adv.act.duplicate_bank_debit"))
        .otherwise(tx("adv.act.duplicate_bank")),
        "orphan_pos": pl.when(lone_void)
        .then(tx("adv.act.lone_void", pkind=pkind))
        .when(is_refund)
        .then(tx("adv.act.orphan_refund"))
        .otherwise(tx("adv.act.orphan_pos")),
        "orphan_bank": pl.when(debit).then(debit_act).otherwise(tx("adv.act.credit")),
        "voided_but_settled": tx(
            "adv.act.voided_but_settled",
            cancelled=cancelled.fill_null(tx("adv.cancelled.void")),
            pkind=pkind,
        ),
    }
    parts = _batch_parts(tx, cur, pos_m, bank_m, diff_m, pos_abs, pkind, pkind_cap)
    # Precision first: an orphan that look-alike records could belong to says so.
    open_n = pl.col("candidates").fill_null(0)
    ambiguous = {
        side: pl.when(open_n > 0)
        .then(tx(f"adv.ambiguous_{side.removeprefix('orphan_')}", n=open_n.cast(pl.String)))
        .otherwise(pl.lit(""))
        for side in ("orphan_pos", "orphan_bank")
    }
    none = pl.lit(None, pl.String)

    def texts(typ: str, how: str | None) -> list[list[pl.Expr]]:
        if how in _BATCH_HOWS:  # a batch settlement's item: its texts are its `how`'s
            detail_, cause_, action_ = (parts[(part, how)] for part in ("detail", "cause", "act"))
        else:
            detail_, cause_, action_ = (x.get(typ, none) for x in (detail, cause, action))
        first = [*pre]
        if typ == "amount_mismatch":  # (the checks walk every digit position)
            first.append(amount_pattern(pl.col("pos_amount"), pl.col("bank_amount")).alias(apat))
        if typ == "account_mismatch":
            first.append(digits_pattern(pl.col("pos_last4"), pl.col("bank_last4")).alias(kpat))
        return [
            first,
            [
                pl.concat_str(detail_, ambiguous.get(typ, pl.lit(""))).alias("detail"),
                cause_.alias("cause"),
                pl.concat_str(action_, _contacts(settings, typ)).alias("suggested_action"),
            ],
        ]

    return texts


# Items of batch settlements (recon.settle), told apart by `how`.
_BATCH_HOWS = (
    "deposit_fee",
    "deposit_fee_usual",
    "deposit_late",
    "deposit_short",
    "deposit_short_one_of",
    "deposit_long",
    "missing_from_deposit",
    "pending",
)
# The key describe()'s texts are chosen by, besides the type: a batch settlement item's `how`
# (null for every other item).
TEXT_HOW = pl.when(pl.col("how").is_in(list(_BATCH_HOWS))).then(pl.col("how"))


def _rate(fee: str) -> pl.Expr:
    """fee / gross as a percentage with three decimals ('0.652%'), in integers."""
    thousandths = pl.col(fee) * 100_000 // pl.col("gross")
    return formatted(
        "{}.{}%",
        (thousandths // 1000).cast(pl.String),
        (thousandths % 1000).cast(pl.String).str.zfill(3),
    )


def _batch_parts(
    tx,
    cur: pl.Expr,
    pos_m: pl.Expr,
    bank_m: pl.Expr,
    diff_m: pl.Expr,
    pos_abs: pl.Expr,
    pkind: pl.Expr,
    pkind_cap: pl.Expr,
) -> dict:
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
        "paid": pl.col("bank_time").dt.date().cast(pl.String),
        "pkind": pkind,
        "Pkind": pkind_cap,
    }
    # One POS record (missing from a deposit, or not due yet) is named with its magnitude;
    # a deposit's sums keep their sign.
    one = {**common, "pos": pos_abs}
    out = {}
    for how in _BATCH_HOWS:
        words = one if how in ("missing_from_deposit", "pending") else common
        for part in ("detail", "cause", "act"):
            out[(part, how)] = tx(f"adv.{part}.{how}", **words)
    return out


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


def _contacts(settings: Settings, typ: str) -> pl.Expr:
    """The contacts from the config that an item of this type's action needs, appended to it."""
    return pl.lit(
        "".join(
            t(f"adv.contact.{role}", settings.lang, who=settings.contacts[role])
            for role, types in _CONTACT_TYPES.items()
            if settings.contacts.get(role) and typ in types
        )
    )
