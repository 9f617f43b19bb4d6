"""Synthetic shop days in the canonical layout, with known injected faults.

`generate_day(rows, seed)` builds one day of POS records and the bank's settlement of them, with
about 1% of each discrepancy type injected plus a few negative cases (records that look odd but
must not be reported). `faults` lists every injected case with the ids of its records, so a run
of recon over the files can be scored for precision and recall (benchmarks/accuracy.py).

Everything is vectorised (numpy draws, polars formatting): no Python loop over rows, so ten
million rows per side take seconds. The same seed gives byte-identical files. Money is integer
minor units until it is formatted as a plain decimal string by `recon.money.format_expr`; no float
ever holds an amount.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from recon.config import TYPES
from recon.money import format_expr, minor_digits

# Discrepancy types of the output contract, in the order faults.csv lists them.
# One-to-one faults; fee mismatches need batch deposits (recon.generate_batch).
FAULTS = tuple(t for t in TYPES if t != "fee_mismatch")
# Cases that look suspicious but are fine: recon must not report them.
NEGATIVES = ("voided", "repeat_purchase", "refund")
# Faults that can only be recognised through a shared reference; not injected without one.
REFERENCE_ONLY = ("account_mismatch", "currency_mismatch", "late_settlement")
CASE_TYPES = ("clean", *FAULTS, *NEGATIVES)
_CODE = {name: code for code, name in enumerate(CASE_TYPES)}

# Share of cases of each kind (of `rows`), and the least number of cases of each kind.
RATES: dict[str, float] = {
    **dict.fromkeys(FAULTS, 0.01),
    "voided": 0.01,
    "repeat_purchase": 0.01,
    "refund": 0.02,
}
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
FEE_PER_MILLE = 5  # 0.5% of credits
SAME_DAY_SHARE = 0.15  # settled a few hours after the sale rather than in the night batch
ORPHAN_BANK_DEBIT_SHARE = 0.2
_POS_KINDS = ("sale", "refund", "void")
_BANK_KINDS = ("credit", "debit")
_CURRENCIES = (CURRENCY, WRONG_CURRENCY)
_HOUR = 3600
_DAY = 86400
# References: year digit + day of year + 8 digits from a bijection of the sequence number.
_REF_SPACE = 10**8
_REF_MULT = 48_271_237  # odd and not a multiple of 5: a bijection modulo 10**8
_POW10 = 10 ** np.arange(0, 18, dtype=np.int64)


@dataclass(frozen=True)
class GeneratedDay:
    """One synthetic day: the two canonical inputs and the list of injected cases.

    `pos` and `bank` hold the canonical input columns exactly as they are written (`time` a
    Datetime, `amount` and `fee` plain decimal strings); `faults` has `fault, pos_ids, bank_ids`
    with the ids of each case joined by ';' in file order (empty when a side has none).
    """

    pos: pl.DataFrame
    bank: pl.DataFrame
    faults: pl.DataFrame


def case_counts(rows: int, *, with_references: bool = True) -> dict[str, int]:
    """How many cases of each kind a day of `rows` POS rows holds (clean fills the rest)."""
    counts = {
        name: 0
        if (name in REFERENCE_ONLY and not with_references)
        else max(MIN_CASES, round(rows * rate))
        for name, rate in RATES.items()
    }
    special_rows = sum(n * _POS_ROWS.get(name, 1) for name, n in counts.items())
    if rows - special_rows < MIN_CASES:
        raise ValueError(f"rows={rows} is too small: at least {special_rows + MIN_CASES} needed")
    return {"clean": rows - special_rows, **counts}


def generate_day(
    rows: int,
    seed: int,
    *,
    with_references: bool = True,
    day: date = date(2026, 11, 20),
) -> GeneratedDay:
    """Generate one day with exactly `rows` POS rows (the bank side has about as many)."""
    rng = np.random.default_rng(seed)
    counts = case_counts(rows, with_references=with_references)
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
    amount = _amounts(rng, n)
    card = _cards(rng, n)
    terminal = rng.integers(1, TERMINALS + 1, n)
    ref2 = np.full(n, -1, dtype=np.int64)  # the second sale of a repeat purchase
    repeat = is_("repeat_purchase")
    ref2[repeat] = n + np.arange(int(repeat.sum()))
    t1 = t0 + rng.integers(10 * 60, 60 * 60 + 1, n)  # when a repeat purchase happens again

    # Account mismatch: the bank shows the last four digits with two adjacent ones swapped.
    bad_last4 = np.full(n, -1, dtype=np.int64)
    acct = np.nonzero(is_("account_mismatch"))[0]
    while True:  # redraw the rare cards whose last four digits are all the same
        same = _swap_adjacent(card[acct] % 10_000, rng) < 0
        if not same.any():
            break
        card[acct[same]] = _cards(rng, int(same.sum()))
    bad_last4[acct] = _swap_adjacent(card[acct] % 10_000, rng)

    # ---- POS side -------------------------------------------------------------------------
    sale_mask = ~is_("orphan_bank")
    refund = is_("refund")
    pos_parts = [
        _part(
            case[sale_mask],
            0,
            t0[sale_mask],
            np.where(refund, -amount, amount)[sale_mask],
            np.where(refund, 1, 0)[sale_mask],
            case[sale_mask],
        )
    ]
    m = is_("duplicate_pos")  # the retry: 1-5 s later, no reference
    pos_parts.append(_part(case[m], 1, t0[m] + rng.integers(1, 6, m.sum()), amount[m], 0, -1))
    m = is_("voided_but_settled", "voided")  # the void: 1-5 min later, same reference
    pos_parts.append(
        _part(case[m], 1, t0[m] + rng.integers(60, 301, m.sum()), -amount[m], 2, case[m])
    )
    m = repeat  # the second purchase, with its own reference
    pos_parts.append(_part(case[m], 2, t1[m], amount[m], 0, ref2[m]))
    pos_raw = _concat(pos_parts)

    # ---- bank side ------------------------------------------------------------------------
    settled = ~is_("orphan_pos", "voided")
    tb = _settle_time(rng, t0)
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
    bank_ref = case if with_references else np.full(n, -1, dtype=np.int64)
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
    m = is_("duplicate_bank")  # settled again 30-120 s later under a new id
    bank_parts.append(
        _part(case[m], 1, tb[m] + rng.integers(30, 121, m.sum()), bank_amount[m], 0, bank_ref[m])
    )
    m = repeat
    tb1 = _settle_time(rng, t1[m])
    bank_parts.append(_part(case[m], 2, tb1, amount[m], 0, ref2[m] if with_references else -1))
    bank_raw = _concat(bank_parts)

    # Text of everything that is per case or per reference, built once and gathered per row.
    n_refs = n + int(repeat.sum())
    if n_refs >= _REF_SPACE:
        raise ValueError(f"rows={rows} is too large for unique 12-digit references")
    ref_prefix = f"{day.year % 10}{day.timetuple().tm_yday:03d}"
    refnum = (np.arange(n_refs, dtype=np.int64) * _REF_MULT + int(rng.integers(0, _REF_SPACE))) % (
        _REF_SPACE
    ) + int(ref_prefix) * _REF_SPACE
    references = pl.Series(refnum).cast(pl.String)
    if ref_prefix.startswith("0"):
        references = references.str.zfill(len(ref_prefix) + 8)
    last4 = np.where(bad_last4 >= 0, bad_last4, card % 10_000)
    per_case = pl.DataFrame({"card": card, "last4": last4, "term": terminal}).select(
        pos_account=pl.col("card").cast(pl.String),
        bank_account=pl.format(
            "{}******{}", pl.col("card") // 10**10, pl.col("last4").cast(pl.String).str.zfill(4)
        ),
        terminal=_lookup([f"T{i:02d}" for i in range(TERMINALS + 1)], pl.col("term")),
        merchant=_lookup(
            [f"M{(i - 1) // TERMINALS_PER_MERCHANT + 1:03d}" for i in range(TERMINALS + 1)],
            pl.col("term"),
        ),
    )
    pos = _finish(pos_raw, "P", per_case, references, day, bank=False)
    bank = _finish(bank_raw, "B", per_case, references, day, bank=True)
    faults = _faults(ctype, pos, bank)
    cols = ["id", "time", "amount", "currency", "account", "reference", "kind"]
    cols += ["terminal", "merchant", "fee"]
    return GeneratedDay(pos=pos.select(cols), bank=bank.select(cols), faults=faults)


def write_day(day: GeneratedDay, out_dir: Path, fmt: str = "parquet") -> dict[str, Path]:
    """Write `pos.<fmt>`, `bank.<fmt>` and `faults.csv` into `out_dir`; return their paths."""
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"fmt must be 'parquet' or 'csv', not {fmt!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"pos": out_dir / f"pos.{fmt}", "bank": out_dir / f"bank.{fmt}"}
    for side, df in (("pos", day.pos), ("bank", day.bank)):
        if fmt == "csv":
            df.write_csv(paths[side], datetime_format="%Y-%m-%dT%H:%M:%S")
        else:
            df.write_parquet(paths[side])
    paths["faults"] = out_dir / "faults.csv"
    day.faults.write_csv(paths["faults"])
    return paths


# ---- internals -----------------------------------------------------------------------------


def _part(case, role, t, amount, kind, ref, ccy=0) -> dict[str, np.ndarray]:
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
    }


def _concat(parts: list[dict[str, np.ndarray]]) -> pl.DataFrame:
    return pl.DataFrame({key: np.concatenate([p[key] for p in parts]) for key in parts[0]})


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
    prefix: str,
    per_case: pl.DataFrame,
    references: pl.Series,
    day: date,
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
    amount = raw["amount"]
    if bank:
        fee = _format_money(
            raw.select(
                pl.when(pl.col("amount") > 0).then((pl.col("amount") * FEE_PER_MILLE + 500) // 1000)
            ).to_series()
        )
        account, kinds = per_case["bank_account"], _BANK_KINDS
    else:
        fee = pl.Series([None] * raw.height, dtype=pl.String)
        account, kinds = per_case["pos_account"], _POS_KINDS
    return raw.select(
        pl.col("case"),
        seq=pl.int_range(1, raw.height + 1, dtype=pl.Int64),
        id=pl.format(f"{prefix}{{}}", pl.int_range(1, raw.height + 1, dtype=pl.Int64)),
        time=(pl.col("t") * 1_000_000 + epoch_us).cast(pl.Datetime("us")),
        amount=_format_money(amount),
        currency=_lookup(list(_CURRENCIES), pl.col("ccy")),
        account=account.gather(case),
        reference=references.gather(ref_index),
        kind=_lookup(list(kinds), pl.col("kind")),
        terminal=per_case["terminal"].gather(case),
        merchant=per_case["merchant"].gather(case),
        fee=fee,
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
