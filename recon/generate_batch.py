"""Synthetic shop days settled in batches: POS sales, one net deposit per merchant and business
day (or per batch number), and the faults a batch settlement can hide.

    pos, bank, truth = batch_day(sales=10_000, seed=7)

`truth` lists what a reconciler should report: (type, pos_ids, bank_ids) with ids joined by `;`
as in discrepancies.csv, plus `split` rows for deposits paid in two parts (no discrepancy).

    pos, bank, truth = batch_month(sales=20_000, seed=7, pooled=False)

A month of 20 merchants paid the way Chinese acquirers pay: each merchant's own discount rate,
refunds netted, T+1 business days past weekends and holidays, one deposit per business day (or
per pay date with `pooled`). `month_settings()` is its calendar (no fee rules: the shop's
owner does not know the merchants' rates); write it with `write_batch_day(..., cfg=...)`.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import numpy as np
import polars as pl

from recon.config import FeeRule, SettlementSettings
from recon.exprs import formatted
from recon.money import format_expr, format_minor
from recon.settle import business_day, expected_date, expected_fee, scheme_expr

# The fee schedule the generated acquirer charges (and the config the tests use).
FEES = (
    FeeRule(scheme="unionpay", kind="sale", rate=Decimal("0.006"), cap=Decimal("20.00")),
    FeeRule(scheme="visa", kind="sale", rate=Decimal("0.012"), fixed=Decimal("0.10")),
    FeeRule(scheme="*", kind="sale", rate=Decimal("0.01")),
)
CARDS = np.array(["622202", "411111", "545454"])
START = dt.date(2026, 11, 16)  # a Monday


def settings(holidays: tuple[str, ...] = ("2026-11-19",), **kw) -> SettlementSettings:
    base = {"enabled": True, "cutoff": "23:00", "t_plus": 1, "holidays": holidays, "fees": FEES}
    return SettlementSettings(**(base | kw))


def batch_day(
    sales: int = 2_000,
    seed: int = 7,
    *,
    days: int = 7,
    merchants: int = 3,
    batches: bool = False,
    cfg: SettlementSettings | None = None,
    faults: int = 2,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """POS rows, bank rows and the expected findings of `days` days of `sales` sales.

    With `batches`, both sides carry a batch number per merchant and business day and the
    deposit's reference names it; otherwise deposits are recognised by merchant and date.
    `faults` deposits of each kind are spoiled: missing sale, extra unknown sale, fee
    over-charge, paid in two parts.
    """
    cfg = cfg or settings()
    rng = np.random.default_rng(seed)
    secs = rng.integers(0, days * 86_400, sales)
    secs.sort()
    minor = rng.integers(100, 50_000, sales)
    merchant = rng.integers(1, merchants + 1, sales)
    card = CARDS[rng.integers(0, len(CARDS), sales)]
    tail = rng.integers(1000, 9999, sales)
    pos = pl.DataFrame(
        {
            "id": [f"S{i + 1}" for i in range(sales)],
            "time": pl.Series(secs * 1_000_000).cast(pl.Duration("us"))
            + dt.datetime.combine(START, dt.time()),
            "minor": minor,
            "currency": "CNY",
            "account": [f"{c}******{t}" for c, t in zip(card, tail, strict=True)],
            "kind": "sale",
            "terminal": [f"T{m}1" for m in merchant],
            "merchant": [f"M{m}" for m in merchant],
        }
    )
    pos = pos.with_columns(pl.col("time").cast(pl.Datetime("us")))
    derived = pos.with_columns(
        has_clock=pl.lit(True),
        amount=pl.col("minor"),
        first6=pl.col("account").str.slice(0, 6).cast(pl.Int32),
    ).with_columns(scheme=scheme_expr(pl.col("first6")), business_day=business_day(cfg.cutoff))
    derived = derived.with_columns(fee=expected_fee(derived, cfg)).with_columns(
        expected=expected_date(pl.col("business_day"), cfg)
    )
    groups = (
        derived.group_by("merchant", "business_day")
        .agg(
            ids=pl.col("id"),
            nets=pl.col("minor") - pl.col("fee"),
            gross=pl.col("minor").sum(),
            fee=pl.col("fee").sum(),
            expected=pl.col("expected").max(),
        )
        .sort("business_day", "merchant")
        .with_row_index("g")
        .with_columns(
            batch=formatted("{}", (pl.col("g") + 1).cast(pl.String).str.zfill(4)),
            deposit=pl.col("gross") - pl.col("fee"),
        )
    )
    # Deposits on the last day's expected date may not have arrived: those sales are pending.
    dates = groups["expected"].unique().sort()
    last_bank = dates[-2] if len(dates) > 1 else dates[0]
    due = groups.filter(pl.col("expected") <= last_bank)
    pending = groups.filter(pl.col("expected") > last_bank)

    order = rng.permutation(due.height)
    k = min(faults, due.height // 5)
    kinds = ("miss", "extra", "fee", "split")
    # positions in `due` are group numbers: due is the first groups in date order
    pick = {name: set(order[i * k : (i + 1) * k].tolist()) for i, name in enumerate(kinds)}
    truth: list[dict] = []
    rows: list[dict] = []
    # Moved: the acquirer paid the first sale of a merchant's next batch in this deposit (its
    # cut-off differs from the POS's). The sale is paid: no discrepancy, rule batch_extra.
    adjust: dict[int, int] = {}
    taken = set().union(*pick.values())
    successor = due.with_columns(
        nxt=pl.col("g").shift(-1).over("merchant", order_by="business_day")
    ).filter(pl.col("nxt").is_not_null())
    for r in successor.iter_rows(named=True):
        if len(adjust) >= 2 * k:
            break
        g, g2 = r["g"], r["nxt"]
        if g in taken or g2 in taken or g2 >= due.height:
            continue
        nxt = due.row(g2, named=True)
        adjust[g] = adjust.get(g, 0) + nxt["nets"][0]
        adjust[g2] = adjust.get(g2, 0) - nxt["nets"][0]
        taken |= {g, g2}
        truth.append({"type": "moved", "pos_ids": nxt["ids"][0], "bank_ids": f"D{g + 1}"})
    for r in due.iter_rows(named=True):
        g = r["g"]
        ref = (
            f"POS SETTLEMENT {r['expected']:%Y%m%d} BATCH {r['batch']}"
            if batches
            else f"POS SETTLEMENT {r['merchant']} {r['business_day']:%Y%m%d}"
        )
        amount = r["deposit"] + adjust.get(g, 0)
        bid = f"D{g + 1}"
        when = dt.datetime.combine(r["expected"], dt.time(6, 0))
        if g in pick["miss"]:
            # the acquirer left one sale out of the deposit
            j = int(rng.integers(0, len(r["ids"])))
            amount -= r["nets"][j]
            truth.append({"type": "orphan_pos", "pos_ids": r["ids"][j], "bank_ids": ""})
        elif g in pick["extra"]:
            unknown = int(rng.integers(100, 50_000))
            amount += unknown
            truth.append({"type": "amount_mismatch", "pos_ids": "", "bank_ids": bid})
        elif g in pick["fee"]:
            amount -= max(1, r["gross"] * 3 // 1000)  # 0.3 % more than the schedule
            truth.append({"type": "fee_mismatch", "pos_ids": "", "bank_ids": bid})
        if g in pick["split"]:
            part = amount // 3
            rows.append(_deposit(f"{bid}a", when, part, r, ref, batches))
            rows.append(
                _deposit(f"{bid}b", when + dt.timedelta(hours=1), amount - part, r, ref, batches)
            )
            truth.append({"type": "split", "pos_ids": "", "bank_ids": f"{bid}a;{bid}b"})
        else:
            rows.append(_deposit(bid, when, amount, r, ref, batches))
    for r in pending.iter_rows(named=True):
        truth.extend({"type": "late_settlement", "pos_ids": i, "bank_ids": ""} for i in r["ids"])

    batch_of = groups.select("merchant", "business_day", "batch")
    pos_out = derived.join(
        batch_of, on=["merchant", "business_day"], how="left", maintain_order="left"
    ).select(
        "id",
        "time",
        amount=_text(pl.col("minor")),
        currency="currency",
        account="account",
        kind="kind",
        terminal="terminal",
        merchant="merchant",
        **({"batch": pl.col("batch")} if batches else {}),
    )
    bank = pl.DataFrame(rows).with_columns(amount=_text(pl.col("minor"))).drop("minor")
    if not batches:
        bank = bank.drop("batch")
    return (
        pos_out,
        bank,
        pl.DataFrame(
            truth, schema={"type": pl.String, "pos_ids": pl.String, "bank_ids": pl.String}
        ),
    )


def _deposit(bid: str, when: dt.datetime, amount: int, r: dict, ref: str, batches: bool) -> dict:
    return {
        "id": bid,
        "time": when,
        "minor": amount,
        "currency": "CNY",
        "reference": ref,
        "kind": "credit",
        "merchant": r["merchant"],
        "batch": r["batch"],
    }


def _text(minor: pl.Expr) -> pl.Expr:
    """Minor units as a plain decimal with two digits."""
    return formatted(
        "{}.{}", (minor // 100).cast(pl.String), (minor % 100).cast(pl.String).str.zfill(2)
    )


_NO_FEES_NOTE = (
    "# Settlement calendar of the generated acquirer. No fee rules: each merchant has its own\n"
    "# discount rate, which the shop's owner does not know."
)


def config_toml(cfg: SettlementSettings) -> str:
    """The [settlement] table of a run config that describes `cfg` (for the written sample)."""
    lines = [
        "# Settlement calendar and fee schedule of the generated acquirer."
        if cfg.fees
        else _NO_FEES_NOTE,
        "[settlement]",
        f'cutoff = "{cfg.cutoff}"',
        f"t_plus = {cfg.t_plus}",
        f"weekends = {str(cfg.weekends).lower()}",
        "holidays = [" + ", ".join(f'"{d}"' for d in cfg.holidays) + "]",
        f'tolerance = "{cfg.tolerance}"',
    ]
    for rule in cfg.fees:
        lines += ["", "[[settlement.fees]]", f'scheme = "{rule.scheme}"', f'kind = "{rule.kind}"']
        lines += [f'rate = "{rule.rate}"', f'fixed = "{rule.fixed}"']
        if rule.cap is not None:
            lines.append(f'cap = "{rule.cap}"')
    return "\n".join(lines) + "\n"


def write_batch_day(
    pos: pl.DataFrame,
    bank: pl.DataFrame,
    truth: pl.DataFrame,
    out: Path,
    fmt: str = "csv",
    cfg: SettlementSettings | None = None,
) -> dict[str, Path]:
    """Write pos, bank (csv or parquet), truth.csv and settlement.toml (`config_toml(cfg)`, by
    default of `settings()`) into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "pos": out / f"pos.{fmt}",
        "bank": out / f"bank.{fmt}",
        "truth": out / "truth.csv",
        "config": out / "settlement.toml",
    }
    for name, frame in (("pos", pos), ("bank", bank)):
        if fmt == "parquet":
            frame.write_parquet(paths[name])
        else:
            frame.write_csv(paths[name], datetime_format="%Y-%m-%dT%H:%M:%S")
    truth.write_csv(paths["truth"])
    paths["config"].write_text(config_toml(cfg or settings()), encoding="utf-8")
    return paths


# A month of net deposits the way Chinese acquirers pay: every merchant has its own discount
# rate, refunds are netted, weekends and holidays are paid on the next business day. The
# calendar and the fees are computed here on their own (plain dates and integers), not with
# recon.settle, so the generator does not share the reconciler's assumptions.

MONTH_START = dt.date(2026, 11, 2)  # a Monday
MONTH_HOLIDAYS = ("2026-11-11", "2026-11-19")  # weekday holidays inside the month
# The merchant discount rates an acquirer gives (one per merchant), in units of 1/10,000.
MONTH_RATES_E4 = (38, 42, 45, 50, 55, 60)  # 0.0038 0.0042 0.0045 0.005 0.0055 0.006
# Card BINs (issuer prefixes) and how often each is seen: mostly domestic UnionPay cards.
MONTH_BINS = ("622202", "621700", "622848", "621483", "622588", "625807", "411111", "545454")
_BIN_WEIGHT = np.array([0.22, 0.18, 0.15, 0.12, 0.08, 0.10, 0.08, 0.07])
# Deposit wording of the two acquirers the merchants use: (memo, reference style).
_ACQUIRERS = (("银联商务 商户结算款", "settlement"), ("拉卡拉 POS清算资金", "batch"))
_REFUND_SHARE = 0.04  # of the POS rows
_DAY = 86_400


def fee_e4(amount, rate_e4):
    """round-half-up(|amount| x rate) in minor units, for a rate in 1/10,000 (integers only:
    Python ints or int64 arrays, element-wise)."""
    return (abs(amount) * rate_e4 + 5_000) // 10_000


def month_settings(
    *,
    cutoff: str = "23:00",
    t_plus: int = 1,
    weekends: bool = True,
    holidays: tuple[str, ...] = MONTH_HOLIDAYS,
) -> SettlementSettings:
    """The calendar of a generated month, with no fee rules (the merchants' rates are not
    known): what `batch_month` pays by and what its settlement.toml says."""
    return settings(holidays, cutoff=cutoff, t_plus=t_plus, weekends=weekends, fees=())


def _is_business(day: dt.date, weekends: bool, off: set[dt.date]) -> bool:
    return not (weekends and day.weekday() >= 5) and day not in off


def _add_business(day: dt.date, n: int, weekends: bool, off: set[dt.date]) -> dt.date:
    """The n-th business day after `day` (n = 0: `day` itself, or the next business day)."""
    if n == 0:
        while not _is_business(day, weekends, off):
            day += dt.timedelta(days=1)
        return day
    while n:
        day += dt.timedelta(days=1)
        n -= _is_business(day, weekends, off)
    return day


def _shop_seconds(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds after midnight between 08:00 and 23:59:59: lunch and evening peaks on an even
    base, so a few percent of the sales fall after a 23:00 cut-off."""
    lo, hi = 8 * 3_600, _DAY
    part = rng.choice(3, n, p=[0.4, 0.25, 0.35])
    centre = np.array([0.0, 12.5 * 3_600, 19.5 * 3_600])[part]
    spread = np.array([0.0, 1.2 * 3_600, 2.2 * 3_600])[part]
    sec = np.where(part == 0, rng.uniform(lo, hi, n), rng.normal(centre, spread + 1))
    outside = (sec < lo) | (sec >= hi)
    sec[outside] = rng.uniform(lo, hi, int(outside.sum()))
    return sec.astype(np.int64)


def _unique_rrns(rng: np.random.Generator, n: int) -> np.ndarray:
    """n distinct 12-digit retrieval reference numbers (int64)."""
    rrn = rng.integers(10**11, 10**12, n)
    while True:
        _, first = np.unique(rrn, return_index=True)
        dup = np.ones(n, bool)
        dup[first] = False
        if not dup.any():
            return rrn
        rrn[dup] = rng.integers(10**11, 10**12, int(dup.sum()))


def batch_month(
    sales: int = 20_000,
    seed: int = 7,
    *,
    merchants: int = 20,
    days: int = 30,
    start: dt.date = MONTH_START,
    cfg: SettlementSettings | None = None,
    pooled: bool = False,
    refund_fee: str = "returned",
    faults: int = 4,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """POS rows, net bank deposits and the expected findings of a month of `merchants` shops.

    `sales` sales over `days` days from `start`, shop hours 08:00-23:59, plus refunds (about
    4 % of the POS rows) of earlier sales of the same merchant. The calendar is `cfg` (default
    `month_settings()`; its fee rules are not used): a sale at or after its cut-off belongs to
    the next business day; a business day is paid t_plus business days later (no payments on
    weekends nor holidays). Each merchant has its own discount rate (one of
    MONTH_RATES_E4); a sale's fee is round-half-up(amount x rate); a refund's fee is given back
    (`refund_fee="returned"`) or not (`"kept"`). One credit per merchant and business day, or
    with `pooled` per merchant and pay date (a Monday pays Friday to Sunday in one credit).
    Deposits due after the last day are not in the bank file: their POS rows are
    `late_settlement` (pending). `faults` deposits of each kind are spoiled: a sale left out
    (miss), unexplained money added (extra), fee over-charged (fee), paid 2-4 business days
    late (late), paid in two or three parts (split).

    Truth rows (type, pos_ids, bank_ids; ids joined by `;`): the findings (orphan_pos,
    amount_mismatch, fee_mismatch, late_settlement) as in batch_day; `split` (bank_ids: the
    parts); one `deposit` row per deposit (pos_ids: every POS row it pays, sorted; bank_ids:
    its id or its parts); one `refund` row per refund (pos_ids: the refund's id, then the id
    of the sale it refunds).
    """
    if sales < 1 or merchants < 1 or days < 1:
        raise ValueError("a month needs at least one sale, one merchant and one day")
    if refund_fee not in ("returned", "kept"):
        raise ValueError(f"refund_fee must be 'returned' or 'kept', not {refund_fee!r}")
    cfg = cfg or month_settings()
    t_plus, weekends = cfg.t_plus, cfg.weekends
    rng = np.random.default_rng(seed)
    off = {dt.date.fromisoformat(d) for d in cfg.holidays}
    last_day = start + dt.timedelta(days=days - 1)
    ch, cm = (int(x) for x in cfg.cutoff.split(":")[:2])
    shift = (_DAY - (ch * 3_600 + cm * 60)) % _DAY  # seconds that move a sale to its day

    # Merchants: size, own rate, terminals, acquirer.
    weight = rng.lognormal(0.0, 0.7, merchants)
    weight /= weight.sum()
    rate = rng.choice(np.array(MONTH_RATES_E4), merchants)
    n_term = rng.integers(1, 4, merchants)
    acquirer = rng.integers(0, len(_ACQUIRERS), merchants)
    names = [f"M{m + 1:02d}" for m in range(merchants)]

    # Sales, more at weekends, in time order.
    day_w = np.array(
        [1.35 if (start + dt.timedelta(days=d)).weekday() >= 5 else 1.0 for d in range(days)]
    )
    s_day = rng.choice(days, sales, p=day_w / day_w.sum())
    s_sec = _shop_seconds(rng, sales)
    s_m = rng.choice(merchants, sales, p=weight)
    s_amt = np.clip(np.rint(rng.lognormal(np.log(6_000), 0.9, sales)), 100, 2_000_000)
    s_amt = s_amt.astype(np.int64)
    whole = rng.random(sales) < 0.35
    s_amt = np.where(whole, np.maximum(100, s_amt // 100 * 100), s_amt)
    order = np.argsort(s_day * _DAY + s_sec, kind="stable")
    s_day, s_sec, s_m, s_amt = s_day[order], s_sec[order], s_m[order], s_amt[order]
    s_bday = s_day + (s_sec + shift) // _DAY  # business day, days after start

    # Refunds: a later day (before the cut-off), same merchant, full or partial; never more
    # than half of the merchant's sales of that business day, so every deposit stays positive.
    room = np.zeros((merchants, days + 1), np.int64)  # per merchant and business day
    np.add.at(room, (s_m, s_bday), s_amt // 2)
    want = round(sales * _REFUND_SHARE / (1 - _REFUND_SHARE))
    refunded = np.zeros(sales, bool)
    refunds: list[tuple[int, int, int, int]] = []  # sale, day, seconds, amount (positive)
    for _ in range(20 * want + 100):
        if len(refunds) >= want:
            break
        i = int(rng.integers(0, sales))
        d = int(s_day[i]) + int(rng.integers(1, 8))
        sec = int(rng.integers(9 * 3_600, 22 * 3_600))
        a = int(s_amt[i])
        if rng.random() >= 0.5 and a >= 200:
            a = int(rng.integers(1, a // 100)) * 100  # partial, in whole yuan
        key = (int(s_m[i]), d + (sec + shift) // _DAY)
        if refunded[i] or d >= days or room[key] < a:
            continue
        room[key] -= a
        refunded[i] = True
        refunds.append((i, d, sec, a))

    # All POS rows in time order: sales first in the arrays, then refunds.
    n_ref = len(refunds)
    r_sale, r_day, r_sec, r_amt = np.array(refunds, np.int64).reshape(-1, 4).T
    day_all = np.concatenate([s_day, r_day])
    sec_all = np.concatenate([s_sec, r_sec])
    m_all = np.concatenate([s_m, s_m[r_sale]])
    amt_all = np.concatenate([s_amt, -r_amt])
    bin_ = np.array(MONTH_BINS)[rng.choice(len(MONTH_BINS), sales, p=_BIN_WEIGHT)]
    tail = rng.integers(0, 10_000, sales)
    card_all = np.concatenate([np.arange(sales), r_sale])  # a refund goes back to the sale's card
    term_all = rng.integers(0, n_term[m_all]) + 1
    rrn = _unique_rrns(rng, sales + n_ref)  # drawn here: pooled or not, the same POS file
    total = sales + n_ref
    order = np.argsort(day_all * _DAY + sec_all, kind="stable")
    width = max(5, len(str(total)))
    ids = np.empty(total, object)
    ids[order] = (
        pl.select(formatted("S{}", pl.int_range(1, total + 1).cast(pl.String).str.zfill(width)))
        .to_series()
        .to_numpy()
    )
    bday_all = day_all + (sec_all + shift) // _DAY
    is_refund = np.arange(total) >= sales
    fee_all = fee_e4(amt_all, rate[m_all])
    fee_all = np.where(is_refund, -fee_all if refund_fee == "returned" else 0, fee_all)
    was_refunded = np.concatenate([refunded, np.zeros(n_ref, bool)])

    # Deposits: one per merchant and business day, or per merchant and pay date, in key order
    # (pay date, merchant, business day), each with its POS rows in time order.
    bdays = np.unique(bday_all)
    pay_days = [
        _add_business(start + dt.timedelta(days=b), t_plus, weekends, off).toordinal()
        for b in bdays.tolist()
    ]
    pay_all = np.array(pay_days, np.int64)[np.searchsorted(bdays, bday_all)]
    by = (pay_all, m_all) if pooled else (pay_all, m_all, bday_all)
    rank = np.empty(total, np.int64)
    rank[order] = np.arange(total)
    in_key_order = np.lexsort((rank, *by[::-1]))
    sorted_keys = np.stack([k[in_key_order] for k in by])
    starts = np.flatnonzero((sorted_keys[:, 1:] != sorted_keys[:, :-1]).any(axis=0)) + 1
    groups: dict[tuple, list[int]] = {}
    for rows in np.split(in_key_order, starts):
        pay, *rest = (int(k[rows[0]]) for k in by)
        groups[(dt.date.fromordinal(pay), *rest)] = rows.tolist()
    keys = list(groups)
    due = [key for key in keys if key[0] <= last_day]
    pending = [key for key in keys if key[0] > last_day]

    # Faults on distinct deposits.
    kinds = ("late", "miss", "extra", "fee", "split")
    k_each = min(faults, len(due) // (2 * len(kinds)))
    pick: dict[str, list[int]] = {kind: [] for kind in kinds}
    late_to: dict[int, dt.date] = {}
    used: set[int] = set()
    perm = rng.permutation(len(due)).tolist()
    for kind in kinds:
        for g in perm:
            if len(pick[kind]) >= k_each:
                break
            rows = groups[due[g]]
            net = int(amt_all[rows].sum() - fee_all[rows].sum())
            if g in used or net < 10_000:
                continue
            if kind == "late":
                when = _add_business(due[g][0], int(rng.integers(2, 5)), weekends, off)
                if when > last_day:
                    continue
                late_to[g] = when
            if kind == "miss" and len(_missable(rows, net, is_refund, was_refunded, amt_all)) < 2:
                continue
            pick[kind].append(g)
            used.add(g)
    fault_of = {g: kind for kind, gs in pick.items() for g in gs}
    three = pick["split"][0] if len(pick["split"]) >= 2 else None

    truth: list[tuple[str, str, str]] = []
    bank_rows: list[dict] = []
    for g, key in enumerate(due):
        pay, m = key[0], key[1]
        rows = list(groups[key])
        kind = fault_of.get(g)
        bid = f"D{g + 1:04d}"
        if kind == "miss":
            whole = int(amt_all[rows].sum() - fee_all[rows].sum())
            free = _missable(rows, whole, is_refund, was_refunded, amt_all)
            gone = free[int(rng.integers(0, len(free)))]
            rows.remove(gone)
            truth.append(("orphan_pos", ids[gone], ""))
        gross = int(amt_all[rows].sum())
        fee = int(fee_all[rows].sum())
        net = gross - fee
        if kind == "extra":
            net += int(rng.integers(500, 50_000))
            truth.append(("amount_mismatch", "", bid))
        elif kind == "fee":
            over = max(100, fee * int(rng.integers(20, 81)) // 100)
            fee, net = fee + over, net - over
            truth.append(("fee_mismatch", "", bid))
        elif kind == "late":
            pay = late_to[g]
            truth.append(("late_settlement", "", bid))
        memo, style = _ACQUIRERS[int(acquirer[m])]
        named = pay if pooled else start + dt.timedelta(days=key[2])
        if style == "settlement":
            ref = f"POS SETTLEMENT {names[m]} {named:%Y%m%d}"
        else:
            ref = f"STL{named:%y%m%d}{m + 1:03d}{g + 1:05d}"
        when = dt.datetime.combine(pay, dt.time(6, 0)) + dt.timedelta(
            minutes=int(rng.integers(0, 90))
        )
        parts = [(bid, net, fee)]
        if kind == "split":
            n_parts = 3 if g == three else 2
            cuts = sorted(set((net * rng.uniform(0.15, 0.85, n_parts - 1)).astype(int).tolist()))
            cuts = [c for c in cuts if 0 < c < net]
            nets = np.diff([0, *cuts, net]).tolist()
            fees = [fee * n // net for n in nets[:-1]]
            fees.append(fee - sum(fees))
            parts = [
                (f"{bid}{'abc'[i]}", n, f) for i, (n, f) in enumerate(zip(nets, fees, strict=True))
            ]
            truth.append(("split", "", ";".join(p[0] for p in parts)))
        for i, (pid, n, f) in enumerate(parts):
            bank_rows.append(
                {
                    "id": pid,
                    "time": when + dt.timedelta(minutes=23 * i),
                    "amount": format_minor(n, "CNY"),
                    "fee": format_minor(f, "CNY"),
                    "currency": "CNY",
                    "kind": "credit",
                    "merchant": names[m],
                    "reference": ref,
                    "memo": memo,
                }
            )
        truth.append(
            ("deposit", ";".join(sorted(ids[rows].tolist())), ";".join(p[0] for p in parts))
        )
    for key in pending:
        truth.extend(("late_settlement", ids[r], "") for r in groups[key])
    for j, i in enumerate(r_sale.tolist()):
        truth.append(("refund", f"{ids[sales + j]};{ids[i]}", ""))

    us = (day_all * _DAY + sec_all)[order] * 1_000_000
    card = card_all[order]
    merchant = pl.col("m").cast(pl.String).str.zfill(2)
    pos = pl.DataFrame(
        {
            "id": pl.Series(ids[order], dtype=pl.String),
            "time": np.datetime64(start, "us") + us.astype("timedelta64[us]"),
            "minor": amt_all[order],
            "bin": bin_[card],
            "tail": tail[card],
            "kind": np.where(is_refund[order], "refund", "sale"),
            "m": m_all[order] + 1,
            "term": term_all[order],
            "reference": rrn[order],
        }
    ).select(
        "id",
        "time",
        amount=format_expr(pl.col("minor"), pl.lit("CNY")),
        currency=pl.lit("CNY"),
        account=pl.concat_str("bin", pl.lit("******"), pl.col("tail").cast(pl.String).str.zfill(4)),
        kind="kind",
        terminal=pl.concat_str(pl.lit("T"), merchant, pl.col("term").cast(pl.String)),
        merchant=pl.concat_str(pl.lit("M"), merchant),
        reference=pl.col("reference").cast(pl.String),
    )
    bank_schema = {
        "id": pl.String,
        "time": pl.Datetime("us"),
        "amount": pl.String,
        "fee": pl.String,
        "currency": pl.String,
        "kind": pl.String,
        "merchant": pl.String,
        "reference": pl.String,
        "memo": pl.String,
    }
    bank = pl.DataFrame(bank_rows, schema=bank_schema).sort("time", "id")
    return (
        pos,
        bank,
        pl.DataFrame(
            truth,
            schema={"type": pl.String, "pos_ids": pl.String, "bank_ids": pl.String},
            orient="row",
        ),
    )


def _missable(
    rows: list[int], net: int, refund: np.ndarray, refunded: np.ndarray, amount: np.ndarray
) -> list[int]:
    """The sales a deposit can leave out: not refunded, and the rest still pays over 10.00."""
    return [r for r in rows if not refund[r] and not refunded[r] and net - int(amount[r]) > 1_000]


def write_batch_month(
    pos: pl.DataFrame,
    bank: pl.DataFrame,
    truth: pl.DataFrame,
    out: Path,
    fmt: str = "csv",
    cfg: SettlementSettings | None = None,
) -> dict[str, Path]:
    """write_batch_day with the month's calendar (`cfg`, default `month_settings()`)."""
    return write_batch_day(pos, bank, truth, out, fmt, cfg or month_settings())
