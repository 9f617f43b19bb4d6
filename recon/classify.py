"""Match outcome -> discrepancy items and the matches table.

Every POS and bank row ends in exactly one place: a matched pair (which may also be an item),
a `voided` pair, or an item of its own (duplicate, orphan, voided-but-settled). Items are built
per type as frames with the same columns and concatenated; `recon.advice` words them.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import NamedTuple

import polars as pl

from recon.advice import TEXT_HOW, describe
from recon.config import TYPES, Settings, SettlementSettings
from recon.exprs import formatted
from recon.match import MatchOutcome
from recon.match.prepare import COPY_GROUP, EVIDENCE, REFERENCE_GROUP
from recon.match.residual import RESIDUAL_RULES
from recon.money import format_expr, format_two, two_digits
from recon.settle import Settled, settle

SEVERITY_RANK = {"high": 0, "medium": 1, "low": 2}
TYPE_RANK = {t: i for i, t in enumerate(TYPES)}

_ATTRS = [
    "id",
    "time",
    "has_clock",
    "amount",
    "currency",
    "account",
    "reference",
    "kind",
    "terminal",
    "merchant",
    "last4",
    "first6",
    *EVIDENCE,
]

ITEM_SCHEMA: dict[str, pl.DataType] = {
    "type": pl.String(),
    "pos_ids": pl.List(pl.String()),
    "bank_ids": pl.List(pl.String()),
    "pos_amount": pl.Int64(),
    "bank_amount": pl.Int64(),
    "currency": pl.String(),
    "bank_currency": pl.String(),
    "reference": pl.String(),
    "pos_time": pl.Datetime("us"),
    "bank_time": pl.Datetime("us"),
    "terminal": pl.String(),
    "merchant": pl.String(),
    "pos_account": pl.String(),
    "bank_account": pl.String(),
    "batch": pl.String(),
    "trace": pl.String(),
    "kind": pl.String(),
    "at_risk": pl.Int64(),
    "lag_s": pl.Int64(),
    "n_settled": pl.Int64(),
    # an orphan's look-alike candidates that the matcher could not tell apart (left open)
    "candidates": pl.Int64(),
    "how": pl.String(),
    "pos_last4": pl.Int16(),
    "bank_last4": pl.Int16(),
    # batch settlements (recon.settle)
    "group_id": pl.String(),
    "deposit_ids": pl.String(),
    "fee_expected": pl.Int64(),
    "fee_charged": pl.Int64(),
    "gross": pl.Int64(),
    "expected": pl.Date(),
}


def _items(lf: pl.LazyFrame, **cols: pl.Expr) -> pl.LazyFrame:
    """Select the item columns, filling the ones a type does not have with null."""
    return lf.select(
        [
            (cols[c] if c in cols else pl.lit(None)).cast(dtype).alias(c)
            for c, dtype in ITEM_SCHEMA.items()
        ]
    )


# What every matched pair is judged on, and what describes the few that differ.
# Gathered for every pair (to judge it); the ids and the rest only for the pairs that differ.
_JUDGE = ["time", "has_clock", "amount", "currency", "last4", "first6"]
_DESCRIBE = ["id", "account", "reference", "kind", "terminal", "merchant", *EVIDENCE]


def _partner(n: int, rows: pl.Series, partners: pl.Series) -> pl.Series:
    """A length-n column holding each row's partner position (null when unmatched)."""
    base = pl.repeat(None, n, dtype=pl.UInt32, eager=True)
    return base.scatter(rows, partners.cast(pl.UInt32)) if len(rows) else base


def _gather(
    frame: pl.DataFrame, rows: pl.Series, cols: list[str], suffix: str = ""
) -> pl.DataFrame:
    """Columns of the rows at these positions (a null position gives a null row). The
    matcher's few-valued text (prepare.CODED) is gathered as dictionary codes, a fifth of the
    cost of gathering short strings one by one, and comes out as text."""
    return frame.select(
        (
            pl.col(c).gather(rows).cast(pl.String)
            if frame.schema[c] == pl.Categorical
            else pl.col(c).gather(rows)
        ).alias(c + suffix)
        for c in cols
    )


def _with_partner(frame: pl.DataFrame, partner: pl.Series, cond: pl.Expr) -> pl.LazyFrame:
    return frame.lazy().with_columns(partner=partner).filter(cond)


def _first_of(*order: str | pl.Expr) -> list[pl.Expr]:
    """The descriptive columns of a group's first record in the given order."""
    cols = ["currency", "reference", "time", "terminal", "merchant", "account", "kind", "dup_how"]
    cols += EVIDENCE
    return [pl.col(c).sort_by(*order).first() for c in cols]


def _lag_seconds() -> pl.Expr:
    both_clock = pl.col("has_clock").fill_null(True) & pl.col("has_clock_b").fill_null(True)
    by_time = (pl.col("time_b") - pl.col("time")).dt.total_seconds()
    by_day = (pl.col("time_b").dt.date() - pl.col("time").dt.date()).dt.total_days() * 86_400
    return pl.when(both_clock).then(by_time).otherwise(by_day).cast(pl.Int64)


def _with_evidence(m: MatchOutcome) -> MatchOutcome:
    """Null evidence columns where a file has none (the matcher leaves empty ones out)."""

    def fill(frame: pl.DataFrame) -> pl.DataFrame:
        # hstack shares the existing columns and a Null column takes no memory; with_columns
        # would copy a ten-million-row frame (2 GiB at 10M rows)
        missing = [c for c in EVIDENCE if c not in frame.columns]
        nulls = [pl.Series(c, dtype=pl.Null).extend_constant(None, frame.height) for c in missing]
        return frame.hstack(nulls) if nulls else frame

    return replace(m, pos=fill(m.pos), bank=fill(m.bank))


# One-to-one pairings a batch deposit may explain better: a deposit paired with one sale of
# its batch by a keying pattern or a residual rule. With batch settlement on, their rows are
# offered to the batch matcher first; a pairing stays where it takes neither row.
WEAK_RULES = ("card_time", *RESIDUAL_RULES, "amount_time_refs_differ")


def classify_all(m: MatchOutcome, settings: Settings) -> Classified:
    """Discrepancies and matches as contract-shaped frames, and the batch deposits."""
    m = _with_evidence(m)
    cfg, info = settings.settlement, {}
    weak = m.pairs["rule"].is_in(WEAK_RULES)
    strong = replace(m, pairs=m.pairs.filter(~weak)) if weak.any() else m
    if not cfg.enabled and cfg.detect:
        cfg, info = _detect_batches(strong, cfg)
    if not cfg.enabled or not weak.any():
        return _classify(m, settings, cfg, info)
    # The batch matcher sees the weakly paired rows as free; the pairings whose rows it took
    # go, the others stay (and the batch pass runs again without their rows).
    free = _free(strong, cfg)
    settled = _settle(strong, cfg, free)
    p_taken, b_taken = _taken(settled)
    keep = weak & ~m.pairs["prow"].is_in(p_taken) & ~m.pairs["brow"].is_in(b_taken)
    if keep.any():
        return _classify(replace(m, pairs=m.pairs.filter(~weak | keep)), settings, cfg, info)
    return _classify(strong, settings, cfg, info, (free, settled))


class _Free(NamedTuple):
    """Who pairs with whom, the voids, and the rows the batch matcher may take."""

    p_partner: pl.Series  # the bank row of each POS row (null when unmatched), by position
    b_partner: pl.Series
    voided: pl.DataFrame  # a sale cancelled by its void, neither settled
    vbs: pl.DataFrame  # a sale settled although its void cancels it (brow: its settlement)
    p_free: pl.Series
    b_free: pl.Series


def _free(m: MatchOutcome, cfg: SettlementSettings) -> _Free:
    p_partner = _partner(m.pos.height, m.pairs["prow"], m.pairs["brow"])
    b_partner = _partner(m.bank.height, m.pairs["brow"], m.pairs["prow"])
    p_matched = p_partner.is_not_null()
    b_matched = b_partner.is_not_null()
    # Voids: a sale cancelled by a void that never settled is `voided`; settled anyway is an item.
    voids = m.voids.with_columns(
        sale_matched=p_matched.gather(m.voids["sale_row"]),
        void_matched=p_matched.gather(m.voids["void_row"]),
    )
    voided = voids.filter(~pl.col("sale_matched") & ~pl.col("void_matched"))
    vbs = voids.filter(pl.col("sale_matched") & ~pl.col("void_matched"))
    vbs = vbs.with_columns(brow=p_partner.gather(vbs["sale_row"]))
    covered = pl.concat([voided["sale_row"], voided["void_row"], vbs["void_row"]]).implode()
    p_free = (~p_matched & m.pos["dup_group"].is_null() & ~m.pos["prow"].is_in(covered)).fill_null(
        False
    )
    b_free = (~b_matched & m.bank["dup_group"].is_null()).fill_null(False)
    if cfg.enabled:
        # Parts of one deposit share its reference: a reference group none of whose rows paid
        # a sale is offered to the batch matcher as deposits before it counts as copies.
        group = m.bank["dup_group"]
        by_ref = group.is_between(REFERENCE_GROUP, COPY_GROUP, closed="left").fill_null(False)
        paid = (
            pl.DataFrame({"g": group, "m": b_matched})
            .select(pl.col("m").any().over("g"))
            .to_series()
        )
        b_free = b_free | (by_ref & ~paid)
    return _Free(p_partner, b_partner, voided, vbs, p_free, b_free)


def _settle(m: MatchOutcome, cfg: SettlementSettings, free: _Free) -> Settled:
    return settle(m.pos, m.bank, free.p_free, free.b_free, cfg)


def _taken(s: Settled) -> tuple[pl.Series, pl.Series]:
    """The POS rows (paid, missing from a deposit, not yet due) and the bank rows (deposits)
    the batch matcher took, as one-element list series for is_in."""
    p = pl.concat([s.members["prow"], s.missing["prow"], s.pending["prow"]]).implode()
    return p, s.deposit_rows["brow"].implode()


def _classify(
    m: MatchOutcome,
    settings: Settings,
    cfg: SettlementSettings,
    info: dict,
    known: tuple[_Free, Settled] | None = None,
) -> Classified:
    """classify_all with batch settlement by `cfg` (`known`: the free rows and the batch
    matcher's result for these pairs, when already computed)."""
    late_s = int(settings.match.late_after_days * 86_400)

    # prow/brow are positions in the side frames: gathering is cheaper than a hash join, and
    # only the columns needed to judge a pair are gathered for every pair.
    pairs = pl.concat(
        [
            m.pairs,
            _gather(m.pos, m.pairs["prow"], _JUDGE),
            _gather(m.bank, m.pairs["brow"], _JUDGE, "_b"),
        ],
        how="horizontal",
    ).with_columns(lag_s=_lag_seconds())
    free, settled = known if known is not None else (_free(m, cfg), None)
    p_partner, b_partner, voided, vbs, p_free, b_free = free

    # --- matched pairs that differ --------------------------------------------------------
    cur_diff = pl.col("currency") != pl.col("currency_b")
    amt_diff = pl.col("amount") != pl.col("amount_b")

    def known_differs(c: str) -> pl.Expr:
        return (
            pl.col(c).is_not_null()
            & pl.col(f"{c}_b").is_not_null()
            & (pl.col(c) != pl.col(f"{c}_b"))
        )

    acct_diff = known_differs("last4") | known_differs("first6")
    late = pl.col("lag_s") > late_s
    pair_type = (
        pl.when(cur_diff)
        .then(pl.lit("currency_mismatch"))
        .when(amt_diff)
        .then(pl.lit("amount_mismatch"))
        .when(acct_diff)
        .then(pl.lit("account_mismatch"))
        .when(late)
        .then(pl.lit("late_settlement"))
    )
    # (the pairs that differ are found on flags; their type's text is built for them alone)
    flagged = pairs.filter(cur_diff | amt_diff | acct_diff | late).with_columns(ptype=pair_type)
    # Every pair's judged columns can go: matches.parquet takes its columns from the side
    # frames once the rows are in order (a ten-million-pair frame held to the end was 1 GiB).
    pairs = pairs.select("prow", "brow", "rule", "lag_s")
    flagged = pl.concat(
        [
            flagged,
            _gather(m.pos, flagged["prow"], _DESCRIBE),
            _gather(m.bank, flagged["brow"], _DESCRIBE, "_b"),
        ],
        how="horizontal",
    )
    pair_items = _items(
        flagged.lazy(),
        type=pl.col("ptype"),
        pos_ids=pl.concat_list(pl.col("id")),
        bank_ids=pl.concat_list(pl.col("id_b")),
        pos_amount=pl.col("amount"),
        bank_amount=pl.col("amount_b"),
        currency=pl.col("currency"),
        bank_currency=pl.col("currency_b"),
        reference=pl.coalesce("reference", "reference_b"),
        pos_time=pl.col("time"),
        bank_time=pl.col("time_b"),
        terminal=pl.coalesce("terminal", "terminal_b"),
        merchant=pl.coalesce("merchant", "merchant_b"),
        pos_account=pl.col("account"),
        bank_account=pl.col("account_b"),
        batch=pl.coalesce("batch", "batch_b"),
        trace=pl.coalesce("trace", "trace_b"),
        kind=pl.col("kind"),
        at_risk=pl.when(pl.col("ptype") == "amount_mismatch")
        .then((pl.col("amount_b") - pl.col("amount")).abs())
        .when(pl.col("ptype") == "late_settlement")
        .then(0)
        .when(pl.col("ptype") == "currency_mismatch")
        .then(pl.col("amount").abs())
        .otherwise(pl.col("amount_b").abs()),
        lag_s=pl.col("lag_s"),
        pos_last4=pl.col("last4"),
        bank_last4=pl.col("last4_b"),
        how=pl.when(late & (pl.col("ptype") != "late_settlement"))
        .then(pl.lit("late"))
        .otherwise(None),
    )

    # --- voided but settled ---------------------------------------------------------------
    vbs_items = _items(
        pl.concat(
            [
                vbs,
                _gather(m.pos, vbs["sale_row"], _ATTRS),
                _gather(m.pos, vbs["void_row"], _ATTRS, "_v"),
                _gather(m.bank, vbs["brow"], ["id", "amount", "time"], "_b"),
            ],
            how="horizontal",
        )
        .lazy()
        .rename({"id_b": "bid", "amount_b": "bamt", "time_b": "btime"}),
        type=pl.lit("voided_but_settled"),
        pos_ids=pl.concat_list("id", "id_v"),
        bank_ids=pl.concat_list("bid"),
        pos_amount=pl.col("amount") + pl.col("amount_v"),
        bank_amount=pl.col("bamt"),
        currency=pl.col("currency"),
        reference=pl.col("reference"),
        pos_time=pl.col("time_v"),
        bank_time=pl.col("btime"),
        terminal=pl.col("terminal"),
        merchant=pl.col("merchant"),
        pos_account=pl.col("account"),
        batch=pl.col("batch"),
        trace=pl.col("trace"),
        kind=pl.col("kind_v"),
        at_risk=pl.col("bamt").abs(),
    )

    # --- batch settlements: groups of free sales paid by one deposit -------------------------
    settled = settled if settled is not None else _settle(m, cfg, free)
    if cfg.enabled:
        info = {**info, **settled.learned, "settings": cfg}
    batch_items, deposits = _batch_items(m, settled)
    p_taken, b_taken = _taken(settled)

    # --- duplicates -----------------------------------------------------------------------
    dup_pos = (
        _with_partner(m.pos, p_partner, pl.col("dup_group").is_not_null())
        .collect()
        .pipe(
            lambda f: pl.concat(
                [f, _gather(m.bank, f["partner"], ["id", "amount"], "_b")], how="horizontal"
            )
        )
        .lazy()
        .rename({"id_b": "bid", "amount_b": "bamt"})
        .group_by("dup_group")
        .agg(
            *_first_of(pl.col("dup_primary").not_(), "time", "prow"),
            pos_ids=pl.col("id").sort_by("prow"),
            bank_ids=pl.col("bid").drop_nulls().sort(),
            pos_amount=pl.col("amount").sum(),
            bank_amount=pl.col("bamt").sum(),
            extra=pl.col("amount").filter(~pl.col("dup_primary")).sum(),
            n_settled=pl.col("bid").is_not_null().sum(),
        )
    )
    dup_pos_items = _items(
        dup_pos,
        type=pl.lit("duplicate_pos"),
        pos_ids=pl.col("pos_ids"),
        bank_ids=pl.col("bank_ids"),
        pos_amount=pl.col("pos_amount"),
        bank_amount=pl.col("bank_amount"),
        currency=pl.col("currency"),
        reference=pl.col("reference"),
        pos_time=pl.col("time"),
        terminal=pl.col("terminal"),
        merchant=pl.col("merchant"),
        pos_account=pl.col("account"),
        batch=pl.col("batch"),
        trace=pl.col("trace"),
        kind=pl.col("kind"),
        at_risk=pl.col("extra").abs(),
        n_settled=pl.col("n_settled"),
        how=pl.col("dup_how"),
    )
    dup_bank = (
        _with_partner(m.bank, b_partner, pl.col("dup_group").is_not_null())
        .collect()
        .pipe(
            lambda f: pl.concat(
                [f, _gather(m.pos, f["partner"], ["id", "amount"], "_p")], how="horizontal"
            )
        )
        .lazy()
        .rename({"id_p": "pid", "amount_p": "pamt"})
        .with_columns(
            unsettled=pl.col("pid").is_null().sum().over("dup_group"),
            deposit=pl.col("brow").is_in(b_taken).any().over("dup_group"),
        )
        .filter(pl.col("unsettled") > 0, ~pl.col("deposit"))
        .group_by("dup_group")
        .agg(
            *_first_of("time", "brow"),
            bank_ids=pl.col("id").sort_by("brow"),
            pos_ids=pl.col("pid").drop_nulls().sort(),
            bank_amount=pl.col("amount").sum(),
            pos_amount=pl.col("pamt").sum(),
            n_settled=pl.len(),
        )
    )
    dup_bank_items = _items(
        dup_bank,
        type=pl.lit("duplicate_bank"),
        pos_ids=pl.col("pos_ids"),
        bank_ids=pl.col("bank_ids"),
        pos_amount=pl.col("pos_amount"),
        bank_amount=pl.col("bank_amount"),
        currency=pl.col("currency"),
        bank_currency=pl.col("currency"),
        reference=pl.col("reference"),
        bank_time=pl.col("time"),
        terminal=pl.col("terminal"),
        merchant=pl.col("merchant"),
        bank_account=pl.col("account"),
        batch=pl.col("batch"),
        trace=pl.col("trace"),
        kind=pl.col("kind"),
        at_risk=(pl.col("bank_amount") - pl.col("pos_amount")).abs(),
        n_settled=pl.col("n_settled"),
        how=pl.col("dup_how"),
    )

    # --- orphans --------------------------------------------------------------------------
    orphan_pos_items = _items(
        m.pos.lazy()
        .with_columns(free=p_free)
        .filter(pl.col("free") & ~pl.col("prow").is_in(p_taken)),
        type=pl.lit("orphan_pos"),
        **_lone_pos_record(),
        at_risk=pl.col("amount").abs(),
        how=pl.when(pl.col("kind").is_in(["void", "reversal"])).then(pl.lit("lone_void")),
        candidates=pl.col("open_candidates"),
    )
    orphan_bank_items = _items(
        m.bank.lazy()
        .with_columns(free=b_free)
        .filter(pl.col("free") & ~pl.col("brow").is_in(b_taken)),
        type=pl.lit("orphan_bank"),
        pos_ids=pl.lit([], dtype=pl.List(pl.String)),
        bank_ids=pl.concat_list("id"),
        bank_amount=pl.col("amount"),
        currency=pl.col("currency"),
        bank_currency=pl.col("currency"),
        reference=pl.col("reference"),
        bank_time=pl.col("time"),
        terminal=pl.col("terminal"),
        merchant=pl.col("merchant"),
        bank_account=pl.col("account"),
        batch=pl.col("batch"),
        trace=pl.col("trace"),
        kind=pl.col("kind"),
        at_risk=pl.col("amount").abs(),
        candidates=pl.col("open_candidates"),
    )

    items = pl.concat(
        [
            pair_items,
            vbs_items,
            dup_pos_items,
            dup_bank_items,
            orphan_pos_items,
            orphan_bank_items,
            *batch_items,
        ]
    ).collect()
    # The plans above hold the flagged pairs' gathered columns: let them go before the
    # texts and the matches are built (the peak of a large day is here).
    del pair_items, vbs_items, dup_pos_items, dup_bank_items, orphan_pos_items
    del orphan_bank_items, batch_items, flagged
    # The items' texts and matches.parquet's rows side by side: each has stretches that keep
    # one core busy.
    with ThreadPoolExecutor(max_workers=1) as pool:
        matched = pool.submit(_matches, pairs, voided, m, _batch_rows(settled))
        discrepancies = _finish_items(items, settings)
        del items
        matches = matched.result()
    return Classified(discrepancies, matches, deposits, info)


def classify(m: MatchOutcome, settings: Settings) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return (discrepancies, matches) as contract-shaped frames."""
    out = classify_all(m, settings)
    return out.discrepancies, out.matches


class Classified(NamedTuple):
    discrepancies: pl.DataFrame
    matches: pl.DataFrame
    deposits: pl.DataFrame  # one row per batch deposit group (empty without [settlement])
    # How batch deposits were reconciled: "settings" (the SettlementSettings used), "source"
    # ("detected" when the calendar was guessed from the data), and what settle learnt.
    settlement: dict | None = None


def _detect_batches(m: MatchOutcome, cfg: SettlementSettings) -> tuple[SettlementSettings, dict]:
    """Without [settlement]: when the bank side looks like daily net deposits (far fewer
    credits than sales, each the sum of a merchant's day), reconcile it as batches with the
    calendar guessed from the data, and say so."""
    # Most bank rows pay one sale each: a per-sale file, not deposits (and no work per row).
    if 2 * m.pairs.height >= m.bank.height:
        return cfg, {}
    from recon.detect_batch import guess_batch

    free = _free(m, cfg)
    sales = m.pos.filter(free.p_free & m.pos["kind"].is_in(["sale", "refund"]))
    guess = guess_batch(sales, m.bank.filter(free.b_free))
    if guess is None:
        return cfg, {}
    return guess.settings, {
        "source": "detected",
        "deposits_seen": guess.deposits,
        "deposits_explained": guess.explained,
        "deposits_on_calendar": guess.on_calendar,
        "sure": guess.sure,
    }


def _ids_of(frame: pl.DataFrame, rows: str, ids: pl.Series, key: str) -> pl.DataFrame:
    """key -> the ids (in row order) of the rows listed in the list column `rows`."""
    flat = frame.select(key, rows).explode(rows).drop_nulls(rows)
    return (
        flat.with_columns(_id=ids.gather(flat[rows]))
        .group_by(key, maintain_order=True)
        .agg(pl.col("_id"))
    )


def _lone_pos_record() -> dict[str, pl.Expr]:
    """Item columns of one POS record that no bank row pays."""
    return {
        "pos_ids": pl.concat_list("id"),
        "bank_ids": pl.lit([], dtype=pl.List(pl.String)),
        "pos_amount": pl.col("amount"),
        "currency": pl.col("currency"),
        "reference": pl.col("reference"),
        "pos_time": pl.col("time"),
        "terminal": pl.col("terminal"),
        "merchant": pl.col("merchant"),
        "pos_account": pl.col("account"),
        "batch": pl.col("batch"),
        "trace": pl.col("trace"),
        "kind": pl.col("kind"),
    }


def _batch_items(m: MatchOutcome, s: Settled) -> tuple[list[pl.LazyFrame], pl.DataFrame]:
    """Items of batch settlements (fee mismatches, short or long deposits, sales missing from
    a deposit, sales not yet due) and the deposits table of the report."""
    g = s.groups
    pos_ids = _ids_of(g, "prows", m.pos["id"], "group_id").rename({"_id": "pos_ids"})
    bank_ids = _ids_of(g, "brows", m.bank["id"], "group_id").rename({"_id": "bank_ids"})
    first_b = g["brows"].list.first()
    first_p = g["prows"].list.first()
    maybe = _ids_of(g, "maybe", m.pos["id"], "group_id").rename({"_id": "maybe_ids"})
    g = (
        g.join(pos_ids, on="group_id", how="left")
        .join(maybe, on="group_id", how="left")
        .join(bank_ids, on="group_id", how="left")
        .with_columns(
            pos_ids=pl.col("pos_ids").fill_null([]),
            net=pl.col("gross") - pl.col("fee_expected"),
            # the fee the deposit states, else what the acquirer kept of the gross
            fee_charged=pl.coalesce("fee_stated", pl.col("gross") - pl.col("deposit")),
            bank_time=m.bank["time"].gather(first_b),
            pos_time=m.pos["time"].gather(first_p),
            terminal=m.pos["terminal"].gather(first_p),
        )
    )
    deposits = g.select(
        "group_id",
        "status",
        "currency",
        "merchant",
        "batch",
        "business_day",
        "expected",
        "bank_time",
        bank_ids=pl.col("bank_ids").list.join(";"),
        n_sales=pl.col("pos_ids").list.len(),
        gross=format_expr(pl.col("gross"), pl.col("currency")),
        fee_expected=format_expr(pl.col("fee_expected"), pl.col("currency")),
        fee_charged=format_expr(pl.col("fee_charged"), pl.col("currency")),
        deposit=format_expr(pl.col("deposit"), pl.col("currency")),
        pos_ids=pl.col("pos_ids").list.join(";"),
    )
    flagged = g.filter(pl.col("status").is_in(["fee_mismatch", "short", "long", "late"]))
    fee_how = (
        pl.when(pl.col("fee_basis") == "usual")
        .then(pl.lit("deposit_fee_usual"))
        .otherwise(pl.lit("deposit_fee"))
    )
    group_items = _items(
        flagged.lazy(),
        type=pl.when(pl.col("status") == "fee_mismatch")
        .then(pl.lit("fee_mismatch"))
        .when(pl.col("status") == "late")
        .then(pl.lit("late_settlement"))
        .otherwise(pl.lit("amount_mismatch")),
        pos_ids=pl.col("pos_ids"),
        bank_ids=pl.col("bank_ids"),
        pos_amount=pl.col("net"),
        bank_amount=pl.col("deposit"),
        currency=pl.col("currency"),
        pos_time=pl.col("pos_time"),
        bank_time=pl.col("bank_time"),
        terminal=pl.col("terminal"),
        merchant=pl.col("merchant"),
        batch=pl.col("batch"),
        kind=pl.lit("sale"),
        # a late deposit paid what it should: nothing is at risk any more
        at_risk=pl.when(pl.col("status") == "late")
        .then(0)
        .otherwise((pl.col("deposit") - pl.col("net")).abs()),
        how=pl.when(pl.col("status") == "fee_mismatch")
        .then(fee_how)
        .when(pl.col("maybe_ids").list.len() > 1)
        .then(pl.lit("deposit_short_one_of"))
        .otherwise(pl.concat_str(pl.lit("deposit_"), pl.col("status"))),
        deposit_ids=pl.col("maybe_ids").list.join(", "),
        group_id=pl.col("group_id"),
        fee_expected=pl.col("fee_expected"),
        fee_charged=pl.col("fee_charged"),
        gross=pl.col("gross"),
        expected=pl.col("expected"),
    )
    dep_of = g.select("group_id", deposit_ids=pl.col("bank_ids").list.join(", "))
    missing = (
        s.missing.join(dep_of, on="group_id", how="left")
        .with_columns(_gather(m.pos, s.missing["prow"], _ATTRS))
        .lazy()
    )
    missing_items = _items(
        missing,
        type=pl.lit("orphan_pos"),
        **_lone_pos_record(),
        at_risk=pl.col("amount").abs(),
        how=pl.lit("missing_from_deposit"),
        group_id=pl.col("group_id"),
        deposit_ids=pl.col("deposit_ids"),
    )
    pending = s.pending.with_columns(_gather(m.pos, s.pending["prow"], _ATTRS)).lazy()
    pending_items = _items(
        pending,
        type=pl.lit("late_settlement"),
        **_lone_pos_record(),
        at_risk=pl.lit(0),
        how=pl.lit("pending"),
        expected=pl.col("expected"),
    )
    return [group_items, missing_items, pending_items], deposits


# The position a deposit part with no sale of its own sorts at: after every POS row.
_NO_SALE = 2**32 - 1


def _batch_rows(s: Settled | None) -> pl.DataFrame:
    """Positions of matches.parquet rows a deposit makes: the sales it paid (rule batch or
    batch_extra) and, with no POS record, every further deposit row of a group (rule
    deposit_part: the other parts of a deposit paid in parts), so every deposit is in the
    matches."""
    if s is None or s.members.height + s.deposit_rows.height == 0:
        return _skeleton(pl.DataFrame(schema={"prow": pl.UInt32}), rule=pl.lit(None))
    mem = s.members
    rest = s.deposit_rows.filter(~pl.col("brow").is_in(mem["brow"].implode()))
    return pl.concat(
        [
            _skeleton(mem, group=pl.col("group_id")),
            _skeleton(
                rest,
                key=pl.lit(_NO_SALE, pl.UInt32),
                prow=pl.lit(None, pl.UInt32),
                rule=pl.lit("deposit_part"),
                group=pl.col("group_id"),
            ),
        ]
    )


def _skeleton(
    frame: pl.DataFrame,
    *,
    key: pl.Expr | None = None,
    prow: pl.Expr | None = None,
    brow: pl.Expr | None = None,
    rule: pl.Expr | None = None,
    lag: pl.Expr | None = None,
    group: pl.Expr | None = None,
) -> pl.DataFrame:
    """A matches row by positions: the sort key (the POS row), the two side rows, the rule,
    the lag when known, the deposit group."""
    cols = frame.columns
    return frame.select(
        key=(key if key is not None else pl.col("prow")).cast(pl.UInt32),
        prow=(prow if prow is not None else pl.col("prow")).cast(pl.UInt32),
        brow=(
            brow if brow is not None else pl.col("brow") if "brow" in cols else pl.lit(None)
        ).cast(pl.UInt32),
        rule=(rule if rule is not None else pl.col("rule")).cast(pl.String),
        lag=(lag if lag is not None else pl.lit(None)).cast(pl.Int64),
        group_id=(group if group is not None else pl.lit(None)).cast(pl.String),
    )


def _severity(settings: Settings) -> pl.Expr:
    base = pl.col("type").replace_strict(settings.severity, return_dtype=pl.String)
    # A sale recorded twice and settled twice (or never) costs money; once is bookkeeping.
    escalate = (pl.col("type") == "duplicate_pos") & (pl.col("n_settled") != 1)
    if settings.bank_is_statement is not True:
        # Money taken back by the acquirer or platform with no POS refund behind it. On a bank
        # statement a debit is a payment of the shop's own and keeps the configured severity.
        escalate = escalate | ((pl.col("type") == "orphan_bank") & (pl.col("bank_amount") < 0))
    return pl.when(escalate).then(pl.lit("high")).otherwise(base)


def order_items(df: pl.DataFrame) -> pl.DataFrame:
    """Sort items most severe first, then by type, time and ids, and number them D000001...

    Works on the output columns (ids joined by ';'), so the partitioned engines order the items
    of all partitions exactly as one run over the whole day would."""

    def joined(c: str) -> pl.Expr:
        # ids are lists inside classify, text joined by ';' in the output
        return pl.col(c).list.join(";") if df.schema[c] != pl.String else pl.col(c)

    def first(c: str) -> pl.Expr:
        return (
            pl.col(c).list.first()
            if df.schema[c] != pl.String
            else pl.col(c).str.split(";").list.first()
        )

    pos_first = pl.when(joined("pos_ids").fill_null("") != "").then(first("pos_ids"))
    return df.sort(
        pl.col("severity").replace_strict(SEVERITY_RANK, return_dtype=pl.Int8),
        pl.col("type").replace_strict(TYPE_RANK, return_dtype=pl.Int8),
        pl.coalesce("pos_time", "bank_time"),
        pl.coalesce(pos_first, first("bank_ids")),
        joined("pos_ids"),
        joined("bank_ids"),
        nulls_last=True,
        maintain_order=True,
    ).with_columns(
        # D000001...: six digits, more when a day has a million items or more
        item_id=formatted(
            "D{}",
            pl.int_range(1, pl.len() + 1).cast(pl.String).str.zfill(max(6, len(str(df.height)))),
        )
    )


_HOW, _AT = "__text_how", "__text_at"


def _with_texts(
    df: pl.DataFrame, texts: Callable[[str, str | None], list[list[pl.Expr]]]
) -> pl.DataFrame:
    """The items with their texts, built group by group (advice.describe): each group's texts
    on its own rows, from the few columns they read, then put in the items' order."""
    keyed = df.lazy().with_row_index(_AT)
    keys = df.select("type", _HOW).unique().rows() or [("", None)]
    parts = []
    for typ, how in keys:
        part = keyed.filter((pl.col("type") == typ) & pl.col(_HOW).eq_missing(how))
        *stages, last = texts(typ, how)
        for stage in stages:
            part = part.with_columns(stage)
        parts.append(part.select(_AT, *last))
    built = pl.concat(pl.collect_all(parts)).sort(_AT).drop(_AT)
    return df.hstack(built)


def _finish_items(items: pl.DataFrame, settings: Settings) -> pl.DataFrame:
    bank_cur = pl.coalesce("bank_currency", "currency")
    same_cur = pl.col("currency") == bank_cur
    diff = pl.col("bank_amount").fill_null(0) - pl.col("pos_amount").fill_null(0)
    df = items.with_columns(
        severity=_severity(settings),
        difference_minor=pl.when(same_cur).then(diff),
        item_id=pl.lit(None, pl.String),
    )
    df = order_items(df)
    df = _with_texts(df.with_columns(TEXT_HOW.alias(_HOW)), describe(settings))
    return df.select(
        "item_id",
        "type",
        "severity",
        pos_ids=pl.col("pos_ids").list.join(";"),
        bank_ids=pl.col("bank_ids").list.join(";"),
        pos_amount=format_expr(pl.col("pos_amount"), pl.col("currency")),
        bank_amount=format_expr(pl.col("bank_amount"), bank_cur),
        difference=format_expr(pl.col("difference_minor"), pl.col("currency")),
        currency=pl.col("currency"),
        reference=pl.col("reference"),
        detail=pl.col("detail"),
        suggested_action=pl.col("suggested_action"),
        cause=pl.col("cause"),
        amount_at_risk=format_expr(pl.col("at_risk"), pl.col("currency")),
        bank_currency=bank_cur,
        pos_time=pl.col("pos_time"),
        bank_time=pl.col("bank_time"),
        terminal=pl.col("terminal"),
        merchant=pl.col("merchant"),
        pos_account=pl.col("pos_account"),
        bank_account=pl.col("bank_account"),
        batch=pl.col("batch"),
        trace=pl.col("trace"),
        at_risk_minor=pl.col("at_risk"),
    )


def _matches(
    pairs: pl.DataFrame, voided: pl.DataFrame, m: MatchOutcome, batch: pl.DataFrame
) -> pl.DataFrame:
    """matches.parquet: the matched pairs, the voided records and the deposits' rows, in POS
    file order (deposit parts with no sale last). Only positions are put in order; each output
    column is then gathered once, in that order, from the side frames."""
    vrows = pl.concat([voided["sale_row"], voided["void_row"]]).to_frame("prow")
    order = pl.concat(
        [
            _skeleton(pairs, lag=pl.col("lag_s")),
            _skeleton(vrows, rule=pl.lit("voided")),
            batch,
        ]
    ).sort("key", maintain_order=True)
    cols = ["id", "amount", "currency", "time"]
    # In slices: the gathered and formatted columns of ten million rows at once were the
    # largest frames of a large day; a slice at a time holds only the finished columns.
    sides = (m.pos.select(cols), m.bank.select(cols))
    # Nearly every day is in currencies of two minor digits: then the amounts skip the
    # general formatter's per-row digits. (Read once, on the sides' coded currencies.)
    two = two_digits(m.pos["currency"], m.bank["currency"])
    # (a day with no matches still makes one, empty, slice: the frame's columns)
    parts = [
        _matches_slice(order.slice(start, _MATCHES_SLICE), *sides, two=two)
        for start in range(0, max(order.height, 1), _MATCHES_SLICE)
    ]
    return pl.concat(parts, rechunk=False)


_MATCHES_SLICE = 1 << 21  # rows of matches.parquet built at a time


def _matches_slice(
    order: pl.DataFrame, pos: pl.DataFrame, bank: pl.DataFrame, *, two: bool
) -> pl.DataFrame:
    """matches.parquet's columns for these rows of `order` (positions, rule, lag, group), from
    the sides' id, amount, currency and time; `two`: every currency has two minor digits."""
    rows = pl.concat(
        [
            order.select("rule", "lag", "group_id"),
            _gather(pos, order["prow"], pos.columns),
            _gather(bank, order["brow"], bank.columns, "_b"),
        ],
        how="horizontal",
    )

    def fmt(minor: str, currency: str) -> pl.Expr:
        if two:
            return format_two(pl.col(minor))
        return format_expr(pl.col(minor), pl.col(currency))

    return (
        rows.lazy()
        .select(
            pos_id="id",
            bank_id="id_b",
            rule="rule",
            pos_amount=fmt("amount", "currency"),
            bank_amount=fmt("amount_b", "currency_b"),
            currency="currency",
            bank_currency="currency_b",
            # a deposit's sales: from the times (pairs carry the matcher's own lag)
            lag_seconds=pl.coalesce(
                "lag", (pl.col("time_b") - pl.col("time")).dt.total_seconds().cast(pl.Int64)
            ),
            pos_time="time",
            bank_time="time_b",
            group_id="group_id",
        )
        .collect()
    )
