"""Synthetic shop days with known injected faults, in several kinds of day and file layouts.

`generate_day(rows, seed, kind="refs")` builds one day of POS records and the bank's (or payment
platform's) settlement of them, with about 1% of each discrepancy type injected plus negative
cases (records that look odd but must not be reported). `faults` lists every injected case with
the ids of its records and `truth` the true bank row of every settled POS row, so a run of recon
over the files can be scored for precision, recall and pair accuracy (benchmarks/accuracy.py).

Kinds of day (`KINDS`; `DAY_KINDS` says what each one changes):

* `refs`: the bank carries the POS reference (RRN); canonical files.
* `norefs`: the bank carries no reference at all; every fault is still injected.
* `lookalike`: no bank references, a short price list, a few regular cards and terminals, the
  shop on instant settlement: many rows look alike.
* `foreignrefs`: the bank's own transaction ids in `reference`; the POS RRN in `references` (a
  `|`-joined list), as a token inside the free-text `memo`, or nowhere.
* `zh`: both files with Chinese headers and kinds (消费/撤销/退货/冲正, 入账/出账).
* `wechat`, `alipay`, `unionpay_zm`: the bank side is the platform's merchant bill (layouts in
  `recon.generate_layouts`).
* `closed`: the day before a two-day closure: sales settle three days later, in the night batch.

Everything is vectorised (numpy draws, polars formatting): no Python loop over rows. The same seed
gives byte-identical files. Money is integer minor units until it is formatted as a plain decimal
string by `recon.money.format_expr`; no float ever holds an amount.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from recon.config import TYPES
from recon.exprs import formatted
from recon.money import format_expr, minor_digits
from recon.schema import INPUT_COLUMNS

# Discrepancy types of the output contract, in the order faults.csv lists them.
# One-to-one faults; fee mismatches need batch deposits (recon.generate_batch).
FAULTS = tuple(t for t in TYPES if t != "fee_mismatch")
# Cases that look suspicious but are fine: recon must not report them.
NEGATIVES = ("voided", "repeat_purchase", "refund")
CASE_TYPES = ("clean", *FAULTS, *NEGATIVES)
_CODE = {name: code for code, name in enumerate(CASE_TYPES)}
# What a payment platform's bill can show: no card (WeChat, Alipay), the time of payment rather
# than of settlement (so no late settlement), one currency.
PLATFORM_FAULTS = (
    "amount_mismatch",
    "duplicate_pos",
    "duplicate_bank",
    "orphan_pos",
    "orphan_bank",
    "voided_but_settled",
)


FAULT_RATE = 0.01  # the share of sales each injected fault type takes, unless a kind says


@dataclass(frozen=True)
class DayKind:
    """What a kind of day changes against `refs`."""

    name: str
    bank_refs: str = "same"  # same: the POS reference; none; foreign: the bank's own ids
    faults: tuple[str, ...] = FAULTS  # the fault types injected
    settle: str = "batch"  # batch | closed | instant | platform (bank time = time of payment)
    layout: str = "canonical"  # canonical | zh | wechat | alipay | unionpay_zm
    lookalike: bool = False  # short price list, few regular cards and terminals
    regulars: float = 1.0  # (lookalike) the share of sales made by the regular cards
    fault_rate: float = FAULT_RATE  # each injected fault type's share of the sales
    order_refs: bool = False  # POS references are the cashier's order numbers, not RRNs
    cards: bool = True  # both sides show the card
    fee_per_mille: int = 5


# WeChat Pay and Alipay bills: the cashier's order numbers, no card, a 0.6 % fee.
_PLATFORM = {
    "faults": PLATFORM_FAULTS,
    "settle": "platform",
    "order_refs": True,
    "cards": False,
    "fee_per_mille": 6,
}
DAY_KINDS: dict[str, DayKind] = {
    k.name: k
    for k in (
        DayKind("refs"),
        DayKind("norefs", bank_refs="none"),
        DayKind("lookalike", bank_refs="none", settle="instant", lookalike=True),
        DayKind("foreignrefs", bank_refs="foreign"),
        DayKind("zh", layout="zh"),
        DayKind("wechat", layout="wechat", **_PLATFORM),
        DayKind("alipay", layout="alipay", **_PLATFORM),
        DayKind(
            "unionpay_zm",
            faults=(*PLATFORM_FAULTS, "account_mismatch"),
            settle="platform",
            layout="unionpay_zm",
        ),
        DayKind("closed", bank_refs="none", settle="closed"),
    )
}
KINDS = tuple(DAY_KINDS)

# Share of cases of each kind that looks suspicious but is fine (of `rows`; a fault type's is
# DayKind.fault_rate), and the least number of cases of each kind.
NEGATIVE_RATES: dict[str, float] = {"voided": 0.01, "repeat_purchase": 0.01, "refund": 0.02}
MIN_CASES = 5
# POS rows each kind of case produces (clean and every other kind not listed: 1).
_POS_ROWS = {
    "orphan_bank": 0,
    "duplicate_pos": 2,
    "voided_but_settled": 2,
    "voided": 2,
    "repeat_purchase": 2,
}

CURRENCY = "CNY"
WRONG_CURRENCY = "HKD"
TERMINALS = 50  # T01..T50
TERMINALS_PER_MERCHANT = 5  # so M001..M010
PLATFORM_TERMINALS = 5  # one merchant (one bill) with five tills
FEE_PER_MILLE = 5  # 0.5% of credits
SAME_DAY_SHARE = 0.15  # settled a few hours after the sale rather than in the night batch
ORPHAN_BANK_DEBIT_SHARE = 0.2
RETRY_NEW_REF_SHARE = 0.2  # duplicate_pos: a network retry that got a new reference
REVERSAL_SHARE = 0.25  # voided: cancelled by a reversal (冲正) seconds later, not a void
ACCOUNT_OTHER_CARD_SHARE = 0.5  # account_mismatch: a different card, not swapped digits
FOREIGN_IN_LIST_SHARE = 0.4  # foreignrefs: the RRN in `references`
FOREIGN_IN_MEMO_SHARE = 0.35  # ... only as a token of `memo`; the rest: nowhere
LOOKALIKE_GAP = 900  # seconds between two sales of one card, terminal and amount
_POS_KINDS = ("sale", "refund", "void", "reversal")
_BANK_KINDS = ("credit", "debit")
_CURRENCIES = (CURRENCY, WRONG_CURRENCY)
_HOUR = 3600
_DAY = 86400
# References: year digit + day of year + 8 digits from a bijection of the sequence number.
_REF_SPACE = 10**8
_REF_MULT = 48_271_237  # odd and not a multiple of 5: a bijection modulo 10**8
_POW10 = 10 ** np.arange(0, 18, dtype=np.int64)
# The canonical input columns a generated file carries (batch, trace and the statement's other
# references are left out; a foreignrefs bank adds references and memo).
CANONICAL_COLUMNS = INPUT_COLUMNS[: INPUT_COLUMNS.index("fee") + 1]


@dataclass(frozen=True)
class GeneratedDay:
    """One synthetic day: the two inputs as recon should read them and the injected cases.

    `pos` and `bank` hold the canonical columns exactly as they are written for a canonical
    layout (`time` a Datetime, `amount` and `fee` plain decimal strings; `foreignrefs` adds
    `references` and `memo`); for the other layouts they are what recon should load from the
    written files (ids included). `faults` has `fault, pos_ids, bank_ids` with the ids of each
    case joined by ';' in file order (empty when a side has none); `truth` has `pos_id, bank_id`
    for every POS row the bank settled (the first settlement when it settled twice).
    `bank_extra`, row-aligned with `bank`, holds what only the platform layouts print.
    """

    pos: pl.DataFrame
    bank: pl.DataFrame
    faults: pl.DataFrame
    truth: pl.DataFrame
    kind: str = "refs"
    day: date = date(2026, 11, 20)
    bank_extra: pl.DataFrame | None = None


def resolve_kind(kind: str | DayKind | None, with_references: bool | None = None) -> DayKind:
    """The kind of day named, `with_references` being the old name of refs (True) / norefs.
    A DayKind is used as it is (a month of nightly files mixes traits of the named kinds)."""
    if isinstance(kind, DayKind):
        return kind
    alias = None if with_references is None else ("refs" if with_references else "norefs")
    if kind is None:
        kind = alias or "refs"
    elif alias is not None and DAY_KINDS.get(kind, DAY_KINDS["refs"]).bank_refs != (
        "same" if with_references else "none"
    ):
        raise ValueError(f"kind={kind!r} contradicts with_references={with_references}")
    if kind not in DAY_KINDS:
        raise ValueError(f"unknown kind of day {kind!r}: one of {', '.join(KINDS)}")
    return DAY_KINDS[kind]


def case_counts(
    rows: int, *, with_references: bool | None = None, kind: str | DayKind | None = None
) -> dict[str, int]:
    """How many cases of each kind a day of `rows` POS rows holds (clean fills the rest)."""
    spec = resolve_kind(kind, with_references)
    rates = {**dict.fromkeys(FAULTS, spec.fault_rate), **NEGATIVE_RATES}
    counts = {
        name: max(MIN_CASES, round(rows * rate)) if name in (*spec.faults, *NEGATIVES) else 0
        for name, rate in rates.items()
    }
    special_rows = sum(n * _POS_ROWS.get(name, 1) for name, n in counts.items())
    if rows - special_rows < MIN_CASES:
        raise ValueError(f"rows={rows} is too small: at least {special_rows + MIN_CASES} needed")
    return {"clean": rows - special_rows, **counts}


def generate_day(
    rows: int,
    seed: int,
    *,
    with_references: bool | None = None,
    day: date = date(2026, 11, 20),
    kind: str | DayKind | None = None,
    shop: int | None = None,
) -> GeneratedDay:
    """Generate one day of `kind` (default `refs`; `with_references=False` is `norefs`) with
    exactly `rows` POS rows (the bank side has about as many). `shop` seeds what a look-alike
    shop keeps from day to day (its price list, regular cards and terminals), so days with
    their own `seed` and one `shop` are days of the same shop."""
    spec = resolve_kind(kind, with_references)
    rng = np.random.default_rng(seed)
    counts = case_counts(rows, kind=spec)
    ctype = np.repeat(
        np.array([_CODE[name] for name in CASE_TYPES], dtype=np.int64),
        [counts[name] for name in CASE_TYPES],
    )
    n = len(ctype)
    case = np.arange(n, dtype=np.int64)

    def is_(*names: str) -> np.ndarray:
        return np.isin(ctype, [_CODE[name] for name in names])

    # Per case: sale time (seconds after midnight), amount, card, terminal.
    multi = is_("voided_but_settled", "voided", "repeat_purchase", "duplicate_pos")
    t0 = rng.integers(8 * _HOUR, np.where(multi, 21 * _HOUR, 22 * _HOUR))
    repeat = is_("repeat_purchase")
    if spec.lookalike:
        traits = rng if shop is None else np.random.default_rng(shop)
        n_terminals = int(traits.integers(2, 5))
        prices = _price_list(traits, int(traits.integers(12, 21)))
        pool = _cards(traits, int(traits.integers(20, 41)) * max(1, rows // 20_000))
        price_i = rng.integers(0, len(prices), n)
        card_i = rng.integers(0, len(pool), n)
        n_regular = len(pool)
        if spec.regulars < 1.0:  # the other sales: a card seen once
            walk_in = np.nonzero(rng.random(n) >= spec.regulars)[0]
            card_i[walk_in] = len(pool) + np.arange(len(walk_in))
            pool = np.concatenate([pool, _cards(rng, len(walk_in))])
        terminal = rng.integers(1, n_terminals + 1, n)
        t1 = t0 + rng.integers(15 * 60, 60 * 60 + 1, n)  # when a repeat purchase happens again
        sizes = (len(prices), n_regular, n_terminals)
        _space_out(rng, t0, t1, repeat, is_("refund"), price_i, card_i, terminal, sizes)
        amount, card = prices[price_i], pool[card_i]
    else:
        n_terminals = TERMINALS if spec.layout in ("canonical", "zh") else PLATFORM_TERMINALS
        amount = _amounts(rng, n)
        card = _cards(rng, n)
        terminal = rng.integers(1, n_terminals + 1, n)
        t1 = t0 + rng.integers(10 * 60, 60 * 60 + 1, n)
    ref2 = np.full(n, -1, dtype=np.int64)  # the second sale of a repeat purchase
    ref2[repeat] = n + np.arange(int(repeat.sum()))
    n_refs = n + int(repeat.sum())

    # Account mismatch: the bank shows another card, or the last four with two digits swapped.
    bank_card = card.copy()
    bad_last4 = np.full(n, -1, dtype=np.int64)
    acct = np.nonzero(is_("account_mismatch"))[0]
    other = rng.random(len(acct)) < ACCOUNT_OTHER_CARD_SHARE
    if spec.lookalike:
        shift = rng.integers(1, len(pool), int(other.sum()))
        bank_card[acct[other]] = pool[(card_i[acct[other]] + shift) % len(pool)]
    else:
        bank_card[acct[other]] = _cards(rng, int(other.sum()))
    swap = acct[~other]
    while True:  # redraw the rare cards whose last four digits are all the same
        same = _swap_adjacent(card[swap] % 10_000, rng) < 0
        if not same.any():
            break
        card[swap[same]] = bank_card[swap[same]] = _cards(rng, int(same.sum()))
    bad_last4[swap] = _swap_adjacent(card[swap] % 10_000, rng)

    # ---- POS side -------------------------------------------------------------------------
    sale_mask = ~is_("orphan_bank")
    refund = is_("refund")
    dup = is_("duplicate_pos")
    retry = dup & (rng.random(n) < RETRY_NEW_REF_SHARE)  # the retry got a reference of its own
    retry_ref = np.full(n, -1, dtype=np.int64)
    retry_ref[retry] = n_refs + np.arange(int(retry.sum()))
    n_refs += int(retry.sum())
    pos_parts = [
        _part(
            case[sale_mask],
            0,
            t0[sale_mask],
            np.where(refund, -amount, amount)[sale_mask],
            np.where(refund, 1, 0)[sale_mask],
            case[sale_mask],
            match=np.where(retry, -1, 0)[sale_mask],  # a retried sale: the bank paid the retry
        )
    ]
    m = dup  # the copy: 1-5 s later with no reference, or a retry 1-10 s later with a new one
    delay = np.where(retry, rng.integers(1, 11, n), rng.integers(1, 6, n))
    pos_parts.append(
        _part(
            case[m],
            1,
            t0[m] + delay[m],
            amount[m],
            0,
            retry_ref[m],
            match=np.where(retry, 0, -1)[m],
        )
    )
    m = is_(
        "voided_but_settled", "voided"
    )  # the void 1-5 min later (or a reversal), same reference
    reversal = is_("voided") & (rng.random(n) < REVERSAL_SHARE)
    delay = np.where(reversal, rng.integers(5, 61, n), rng.integers(60, 301, n))
    pos_parts.append(
        _part(case[m], 1, t0[m] + delay[m], -amount[m], np.where(reversal, 3, 2)[m], case[m])
    )
    m = repeat  # the second purchase, with its own reference
    pos_parts.append(_part(case[m], 2, t1[m], amount[m], 0, ref2[m], match=2))
    pos_raw = _concat(pos_parts)

    # ---- bank side ------------------------------------------------------------------------
    def settle(t: np.ndarray) -> np.ndarray:
        size = len(t)
        if spec.settle == "closed":  # nothing settles until the night after the closure
            return 3 * _DAY + rng.integers(2 * _HOUR, 4 * _HOUR, size)
        if spec.settle == "instant":  # credited 1-5 min after the sale
            return t + rng.integers(60, 301, size)
        if spec.settle == "platform":  # the bill shows the time the payment completed
            return t + rng.integers(1, 11, size)
        return _settle_time(rng, t)

    settled = ~is_("orphan_pos", "voided")
    tb = settle(t0)
    late = is_("late_settlement")
    tb[late] = rng.integers(4, 11, late.sum()) * _DAY + rng.integers(
        2 * _HOUR, 4 * _HOUR, late.sum()
    )
    bank_amount = np.where(refund, -amount, amount)
    mism = is_("amount_mismatch")
    bank_amount[mism] = _garble(amount[mism], rng)
    debit = refund.copy()
    orphan = np.nonzero(is_("orphan_bank"))[0]
    odebit = orphan[rng.random(len(orphan)) < ORPHAN_BANK_DEBIT_SHARE]
    debit[odebit] = True
    bank_amount[odebit] = -amount[odebit]
    ccy = np.where(is_("currency_mismatch"), 1, 0)
    if spec.bank_refs == "none":
        bank_ref = np.full(n, -1, dtype=np.int64)
    else:
        bank_ref = np.where(retry, retry_ref, case)
    bank_parts = [
        _part(
            case[settled],
            0,
            tb[settled],
            bank_amount[settled],
            debit[settled].astype(np.int64),
            bank_ref[settled],
            ccy[settled],
        )
    ]
    m = is_("duplicate_bank")  # settled again a few seconds to minutes later under a new id
    copy_ref = bank_ref[m]
    if spec.order_refs:  # the platform's second order: a number the cashier never recorded
        copy_ref = n_refs + np.arange(int(m.sum()))
        n_refs += int(m.sum())
    bank_parts.append(
        _part(case[m], 1, tb[m] + rng.integers(3, 301, m.sum()), bank_amount[m], 0, copy_ref)
    )
    m = repeat  # the second purchase settles after the first, in the same run of settlement
    if spec.settle in ("batch", "closed"):
        same_run = tb[m] < _DAY + 2 * _HOUR  # settled hours after the sale: the same delay
        gap = t1[m] - t0[m]
        tb1 = tb[m] + np.where(same_run, gap, gap // 7 + 1)  # the batch keeps the sales' order
    else:
        tb1 = settle(t1[m])
    bank_parts.append(
        _part(case[m], 2, tb1, amount[m], 0, ref2[m] if spec.bank_refs != "none" else -1)
    )
    bank_raw = _concat(bank_parts)

    # Text of everything that is per case or per reference, built once and gathered per row.
    if n_refs >= _REF_SPACE:
        raise ValueError(f"rows={rows} is too large for unique 12-digit references")
    refnum = (np.arange(n_refs, dtype=np.int64) * _REF_MULT + int(rng.integers(0, _REF_SPACE))) % (
        _REF_SPACE
    )
    # Platforms: a refund (or an unknown debit) is of an order of an earlier day.
    orig_day = np.zeros(n, dtype=np.int64)
    if spec.settle == "platform":
        back = refund | debit
        orig_day[back] = -rng.integers(1, 31, int(back.sum()))
    ref_day = np.zeros(n_refs, dtype=np.int64)
    if spec.order_refs:
        ref_day[:n] = orig_day
    references = _reference_texts(refnum, ref_day, day, "order" if spec.order_refs else "rrn")
    terminals, merchants = _labels(spec, n_terminals)
    last4 = np.where(bad_last4 >= 0, bad_last4, bank_card % 10_000)
    shown = pl.lit(spec.cards)  # WeChat and Alipay bills carry no card
    per_case = pl.DataFrame({"card": card, "first6": bank_card // 10**10, "last4": last4}).select(
        pos_account=pl.when(shown).then(pl.col("card").cast(pl.String)),
        bank_account=pl.when(shown).then(
            formatted("{}******{}", pl.col("first6"), pl.col("last4").cast(pl.String).str.zfill(4))
        ),
    )
    per_case = per_case.with_columns(
        terminal=pl.Series(terminals).gather(terminal),
        merchant=pl.Series(merchants).gather(terminal),
    )
    pos = _finish(pos_raw, per_case, references, day, spec, bank=False)
    bank = _finish(bank_raw, per_case, references, day, spec, bank=True)
    extra = None
    if spec.layout in ("alipay", "unionpay_zm"):
        from recon.generate_layouts import bank_extra

        extra = bank_extra(spec.layout, bank, orig_day, day, rng)
    if spec.layout != "canonical" or spec.bank_refs == "foreign":
        from recon.generate_layouts import bank_ids, pos_ids

        pos = pos.with_columns(id=pos_ids(spec.layout))
        bank = bank.with_columns(id=bank_ids(spec.layout, day))
    if spec.bank_refs == "foreign":
        bank = _foreign_references(bank, rng, n)
    faults = _faults(ctype, pos, bank)
    truth = (
        pos.filter(pl.col("match") >= 0)
        .join(
            bank.select("case", "role", bank_id="id"),
            left_on=["case", "match"],
            right_on=["case", "role"],
        )
        .sort("seq")
        .select(pos_id="id", bank_id="bank_id")
    )
    cols = list(CANONICAL_COLUMNS)
    bank_cols = cols + (["references", "memo"] if spec.bank_refs == "foreign" else [])
    return GeneratedDay(
        pos=pos.select(cols),
        bank=bank.select(bank_cols),
        faults=faults,
        truth=truth,
        kind=spec.name,
        day=day,
        bank_extra=extra,
    )


def write_day(day: GeneratedDay, out_dir: Path, fmt: str = "parquet") -> dict[str, Path]:
    """Write the day into `out_dir`; return the paths (`pos`, `bank`, `faults`, `truth`).

    Canonical sides are `pos.<fmt>` / `bank.<fmt>`; a side in another layout is written in that
    layout whatever `fmt` says (the Chinese exports as CSV, the platform bills under the file
    name the platform gives them)."""
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"fmt must be 'parquet' or 'csv', not {fmt!r}")
    from recon.generate_layouts import write_side

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    layout = DAY_KINDS[day.kind].layout
    paths = {
        "pos": write_side(day, "pos", "zh" if layout == "zh" else "canonical", out_dir, fmt),
        "bank": write_side(day, "bank", layout, out_dir, fmt),
        "faults": out_dir / "faults.csv",
        "truth": out_dir / "truth.csv",
    }
    day.faults.write_csv(paths["faults"])
    day.truth.write_csv(paths["truth"])
    return paths


# ---- internals -----------------------------------------------------------------------------


def _part(case, role, t, amount, kind, ref, ccy=0, *, match=-1) -> dict[str, np.ndarray]:
    """Rows of one role of some cases; `match` is the role of the bank row a POS row pairs with
    (-1: none)."""
    size = len(case)

    def full(value, dtype=np.int64) -> np.ndarray:
        return np.broadcast_to(np.asarray(value, dtype=dtype), (size,))

    return {
        "case": case.astype(np.int64),
        "role": full(role, np.int8),
        "t": full(t),
        "amount": full(amount),
        "kind": full(kind, np.int8),
        "ref": full(ref),
        "ccy": full(ccy, np.int8),
        "match": full(match, np.int8),
    }


def _concat(parts: list[dict[str, np.ndarray]]) -> pl.DataFrame:
    return pl.DataFrame({key: np.concatenate([p[key] for p in parts]) for key in parts[0]})


def _labels(spec: DayKind, n_terminals: int) -> tuple[list[str], list[str]]:
    """Terminal and merchant label of every terminal number 1..n (index 0 unused)."""
    idx = range(n_terminals + 1)
    if spec.layout == "wechat":
        return [f"POS{i:02d}" for i in idx], ["1900000001"] * (n_terminals + 1)
    if spec.layout == "alipay":
        return [f"T{i:02d}" for i in idx], ["MD001"] * (n_terminals + 1)
    if spec.layout == "unionpay_zm":
        return [f"T{i:07d}" for i in idx], ["777290058110001"] * (n_terminals + 1)
    group = [(i - 1) // TERMINALS_PER_MERCHANT + 1 for i in idx]
    if spec.layout == "zh":  # 8-digit terminal ids, 15-digit merchant ids
        return [f"{31000000 + i}" for i in idx], [f"898310058120{g:03d}" for g in group]
    if spec.lookalike:
        return [f"T{i:02d}" for i in idx], ["M001"] * (n_terminals + 1)
    return [f"T{i:02d}" for i in idx], [f"M{g:03d}" for g in group]


def _reference_texts(refnum: np.ndarray, ref_day: np.ndarray, day: date, style: str) -> pl.Series:
    """RRN: year digit + day of year + 8 digits; order: `SO` + the order's date + 8 digits."""
    if style == "rrn":
        ref_prefix = f"{day.year % 10}{day.timetuple().tm_yday:03d}"
        references = pl.Series(refnum + int(ref_prefix) * _REF_SPACE).cast(pl.String)
        if ref_prefix.startswith("0"):
            references = references.str.zfill(len(ref_prefix) + 8)
        return references
    offsets = np.unique(ref_day)
    dates = pl.Series([f"SO{day + timedelta(days=int(k)):%Y%m%d}" for k in offsets])
    return pl.select(
        pl.concat_str(
            dates.gather(np.searchsorted(offsets, ref_day)),
            pl.Series(refnum).cast(pl.String).str.zfill(8),
        )
    ).to_series()


def _price_list(rng: np.random.Generator, size: int) -> np.ndarray:
    """A small shop's distinct prices in minor units (3.00-88.00, cents 00/50/80/90/99)."""
    while True:
        whole = rng.integers(3, 89, size)
        cents = np.array([0, 0, 0, 50, 80, 90, 99], dtype=np.int64)[rng.integers(0, 7, size)]
        prices = whole * 100 + cents
        if len(np.unique(prices)) == size:
            return prices


def _space_out(rng, t0, t1, repeat, refund, price_i, card_i, terminal, sizes) -> None:
    """Redraw (in place) the price, card and terminal of cases until no two sales of one card,
    terminal and price (and sign) are closer than LOOKALIKE_GAP: regular customers do not buy
    the same thing twice within minutes, so nothing but the injected faults looks like one sale
    recorded or settled twice. A repeat purchase is its own case's two sales."""
    n = len(t0)
    rep = np.nonzero(repeat)[0]
    n_prices, n_cards, n_terminals = sizes
    for _ in range(1000):
        ev_case = np.concatenate([np.arange(n), rep])
        ev_t = np.concatenate([t0, t1[rep]])
        key = ((card_i * n_terminals + terminal - 1) * n_prices + price_i) * 2 + refund
        ev_key = key[ev_case]
        order = np.lexsort((ev_t, ev_key))
        k, t, c = ev_key[order], ev_t[order], ev_case[order]
        bad = (k[1:] == k[:-1]) & (t[1:] - t[:-1] < LOOKALIKE_GAP) & (c[1:] != c[:-1])
        redo = np.unique(c[1:][bad])
        if len(redo) == 0:
            return
        price_i[redo] = rng.integers(0, n_prices, len(redo))
        card_i[redo] = rng.integers(0, n_cards, len(redo))
        terminal[redo] = rng.integers(1, n_terminals + 1, len(redo))
    raise ValueError("too many rows for the lookalike day's cards and prices")


def _amounts(rng: np.random.Generator, n: int) -> np.ndarray:
    """Minor units, 1.00-2000.00, mostly from a small catalogue of prices so they repeat."""
    # Catalogue: shop prices like 25.00, 9.90, 128.00, 19.99, weighted towards the cheap end.
    whole = np.concatenate(
        [rng.integers(1, 30, 120), rng.integers(30, 300, 120), rng.integers(300, 2000, 60)]
    )
    cents = np.array([0, 0, 0, 90, 50, 99, 80], dtype=np.int64)[rng.integers(0, 7, len(whole))]
    catalogue = np.minimum(whole * 100 + cents, 200_000)
    weights = 1.0 / np.arange(1, len(catalogue) + 1) ** 0.8
    weights /= weights.sum()
    picked = catalogue[rng.choice(len(catalogue), size=n, p=weights)]
    # The rest: any amount, spread evenly over the orders of magnitude.
    magnitude = _POW10[rng.integers(2, 6, n)]  # 1.00-9.99, 10.00-99.99, ...
    free = np.minimum(magnitude + rng.integers(0, 9 * magnitude), 200_000)
    return np.where(rng.random(n) < 0.75, picked, free)


def _cards(rng: np.random.Generator, n: int) -> np.ndarray:
    """Luhn-valid 16-digit card numbers from 1000 issuer prefixes (int64)."""
    # A fixed pool of prefixes (independent of the seed): 62xxxx UnionPay, 4 Visa, 5 MC, 35 JCB.
    pool_rng = np.random.default_rng(20261120)
    heads = np.array([62, 40, 41, 45, 51, 52, 53, 55, 35], dtype=np.int64)
    pool = heads[pool_rng.integers(0, len(heads), 1000)] * 10_000 + pool_rng.integers(
        0, 10_000, 1000
    )
    pool[:4] = [622202, 621700, 622588, 403391]
    payload = pool[rng.integers(0, len(pool), n)] * 10**9 + rng.integers(0, 10**9, n)
    total = np.zeros(n, dtype=np.int64)
    rest = payload
    for chunk in range(5):  # three digits at a time, by table
        rest, low = np.divmod(rest, 1000)
        total += _LUHN3[chunk % 2][low]
    return payload * 10 + (10 - total % 10) % 10


def _luhn_table(first_doubled: bool) -> np.ndarray:
    """Luhn contribution of every 3-digit group, its lowest digit doubled or not."""
    v = np.arange(1000)
    out = np.zeros(1000, dtype=np.int64)
    for j in range(3):
        d = (v // 10**j) % 10
        if (j % 2 == 0) == first_doubled:
            d = np.where(d * 2 > 9, d * 2 - 9, d * 2)
        out += d
    return out


# Payload digits are numbered from the right; the rightmost (position 0) is doubled. Groups of
# three start at positions 0, 3, 6, 9, 12: alternately even (doubled) and odd.
_LUHN3 = (_luhn_table(True), _luhn_table(False))


def _swap_adjacent(last4: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Swap two adjacent, different digits of each 4-digit value; -1 where all are equal."""
    digits = (last4[:, None] // _POW10[None, :4]) % 10  # least significant first
    differ = digits[:, :-1] != digits[:, 1:]
    pick = (rng.random(differ.shape) * differ).argmax(axis=1)
    rows = np.arange(len(last4))
    a, b = digits[rows, pick], digits[rows, pick + 1]
    swapped = last4 + (b - a) * _POW10[pick] + (a - b) * _POW10[pick + 1]
    return np.where(differ.any(axis=1), swapped, -1)


def _garble(m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A keying error on positive minor units: transposed digits, dropped or added digit, or a
    decimal slip (x10, /10). Always differs from the input and stays positive."""
    n = len(m)
    rows = np.arange(n)
    ndig = (m[:, None] >= _POW10[None, :9]).sum(axis=1)
    op = rng.integers(0, 4, n)
    # transposed adjacent digits (a pair that differs)
    digits = (m[:, None] // _POW10[None, :9]) % 10
    differ = (digits[:, :-1] != digits[:, 1:]) & (np.arange(8)[None, :] < (ndig - 1)[:, None])
    pick = (rng.random(differ.shape) * differ).argmax(axis=1)
    a, b = digits[rows, pick], digits[rows, pick + 1]
    transposed = m + (b - a) * _POW10[pick] + (a - b) * _POW10[pick + 1]
    transposed = np.where(differ.any(axis=1), transposed, 0)
    # a dropped digit, an added digit
    i = rng.integers(0, ndig)
    dropped = (m // _POW10[i + 1]) * _POW10[i] + m % _POW10[i]
    added = (m // _POW10[i]) * _POW10[i + 1] + rng.integers(0, 10, n) * _POW10[i] + m % _POW10[i]
    # decimal slip: /10 where that is exact, else x10
    divide = (m % 10 == 0) & (m >= 100) & (rng.random(n) < 0.5)
    slipped = np.where(divide, m // 10, m * 10)
    out = np.choose(op, [transposed, dropped, added, slipped])
    bad = (out <= 0) | (out == m)
    return np.where(bad, m * 10, out)


def _settle_time(rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    """Bank time (seconds from the sale day's midnight): mostly the night batch 02:00-04:00 of
    the next day, some a few hours after the sale."""
    n = len(t)
    batch = _DAY + rng.integers(2 * _HOUR, 4 * _HOUR, n)
    soon = t + rng.integers(1 * _HOUR, 4 * _HOUR + 1, n)
    return np.where(rng.random(n) < SAME_DAY_SHARE, soon, batch)


def _lookup(values: list[str], index: pl.Expr) -> pl.Expr:
    return pl.lit(pl.Series(values, dtype=pl.String)).gather(index)


def _format_money(minor: pl.Series) -> pl.Series:
    """`format_expr` over a column, formatting each distinct value once (amounts repeat)."""
    lo, hi = minor.min(), minor.max()
    if lo is None:
        return pl.Series(minor.name, [None] * len(minor), dtype=pl.String)
    if hi - lo > 5_000_000:
        return minor.to_frame("m").select(format_expr(pl.col("m"), pl.lit(CURRENCY))).to_series()
    table = pl.select(
        format_expr(pl.int_range(lo, hi + 1, dtype=pl.Int64), pl.lit(CURRENCY))
    ).to_series()
    return table.gather(minor - lo)


def _finish(
    raw: pl.DataFrame,
    per_case: pl.DataFrame,
    references: pl.Series,
    day: date,
    spec: DayKind,
    *,
    bank: bool,
) -> pl.DataFrame:
    """Order the rows by time, number them, and render every column as it is written."""
    # Every currency used has the same minor digits, so one literal formats them all.
    assert len({minor_digits(c) for c in _CURRENCIES}) == 1
    epoch_us = (day - date(1970, 1, 1)).days * _DAY * 1_000_000
    # One int64 sort key: time (< 2**21 s), then case (< 2**32), then role (< 4).
    key = (raw["t"].to_numpy() << 34) | (raw["case"].to_numpy() << 2) | raw["role"].to_numpy()
    raw = raw[pl.Series(key).arg_sort()]
    case = raw["case"]
    ref_index = raw.select(pl.when(pl.col("ref") >= 0).then(pl.col("ref"))).to_series()
    if bank:
        fee_minor = pl.col("amount").abs() * spec.fee_per_mille
        fee_minor = (fee_minor + 500) // 1000
        if spec.settle == "platform":  # a refund gives the fee back
            fee = pl.when(pl.col("amount") > 0).then(fee_minor).otherwise(-fee_minor)
        else:
            fee = pl.when(pl.col("amount") > 0).then(fee_minor)
        fee = _format_money(raw.select(fee).to_series())
        account, kinds = per_case["bank_account"], _BANK_KINDS
        prefix = "B"
    else:
        fee = pl.Series([None] * raw.height, dtype=pl.String)
        account, kinds = per_case["pos_account"], _POS_KINDS
        prefix = "P"
    return raw.select(
        pl.col("case"),
        pl.col("role"),
        pl.col("match"),
        pl.col("ref"),
        pl.col("t"),
        seq=pl.int_range(1, raw.height + 1, dtype=pl.Int64),
        id=formatted(f"{prefix}{{}}", pl.int_range(1, raw.height + 1, dtype=pl.Int64)),
        time=(pl.col("t") * 1_000_000 + epoch_us).cast(pl.Datetime("us")),
        amount=_format_money(raw["amount"]),
        currency=_lookup(list(_CURRENCIES), pl.col("ccy")),
        account=account.gather(case),
        reference=references.gather(ref_index),
        kind=_lookup(list(kinds), pl.col("kind")),
        terminal=per_case["terminal"].gather(case),
        merchant=per_case["merchant"].gather(case),
        fee=fee,
    )


def _foreign_references(bank: pl.DataFrame, rng: np.random.Generator, n: int) -> pl.DataFrame:
    """The bank's own id in `reference`; the POS RRN in `references`, in the memo, or nowhere
    (drawn per case, so a settlement and its duplicate look the same)."""
    shares = (FOREIGN_IN_LIST_SHARE, FOREIGN_IN_MEMO_SHARE)
    chan = rng.choice(3, size=n, p=[*shares, 1 - sum(shares)])
    rrn = pl.col("reference")
    c = pl.Series(chan).gather(bank["case"])
    what = (
        pl.when(pl.col("kind") == "credit").then(pl.lit("POS SALE")).otherwise(pl.lit("POS REFUND"))
    )
    return bank.with_columns(chan=c).with_columns(
        reference=pl.col("id"),
        references=pl.when(pl.col("chan") == 0)
        .then(pl.concat_str(pl.col("id"), pl.lit("|"), rrn))
        .otherwise(pl.col("id")),
        memo=pl.when(pl.col("chan") == 1)
        .then(pl.concat_str(what, pl.lit(" RRN "), rrn, pl.lit(" "), pl.col("terminal")))
        .otherwise(pl.concat_str(what, pl.lit(" "), pl.col("terminal"))),
    )


def _faults(ctype: np.ndarray, pos: pl.DataFrame, bank: pl.DataFrame) -> pl.DataFrame:
    # Cases are laid out clean first, so the special ones are those from the first non-clean.
    first_special = int(np.searchsorted(ctype, 1))
    special = np.arange(first_special, len(ctype), dtype=np.int64)
    cases = pl.DataFrame(
        {
            "case": special,
            "fault": pl.Series(ctype[first_special:]).replace_strict(
                dict(enumerate(CASE_TYPES)), return_dtype=pl.String
            ),
        }
    )

    def ids(df: pl.DataFrame, name: str) -> pl.DataFrame:
        # Rows are in `seq` order, and a group keeps the order of its rows.
        return (
            df.filter(pl.col("case") >= first_special)
            .group_by("case")
            .agg(
                pl.col("id").str.join(";").alias(f"{name}_ids"),
                pl.col("seq").first().alias(f"{name}_first"),
            )
        )

    order = {name: i for i, name in enumerate((*FAULTS, *NEGATIVES))}
    return (
        cases.join(ids(pos, "pos"), on="case", how="left")
        .join(ids(bank, "bank"), on="case", how="left")
        .with_columns(rank=pl.col("fault").replace_strict(order, return_dtype=pl.Int64))
        .sort(["rank", "pos_first", "bank_first"], nulls_last=True)
        .select("fault", "pos_ids", "bank_ids")
    )
