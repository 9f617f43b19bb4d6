"""Synthetic shop days settled in batches: POS sales, one net deposit per merchant and business
day (or per batch number), and the faults a batch settlement can hide.

    pos, bank, truth = batch_day(sales=10_000, seed=7)

`truth` lists what a reconciler should report: (type, pos_ids, bank_ids) with ids joined by `;`
as in discrepancies.csv, plus `split` rows for deposits paid in two parts (no discrepancy).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import numpy as np
import polars as pl

from recon.config import FeeRule, SettlementSettings
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
            batch=pl.format("{}", (pl.col("g") + 1).cast(pl.String).str.zfill(4)),
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
    return pl.format(
        "{}.{}", (minor // 100).cast(pl.String), (minor % 100).cast(pl.String).str.zfill(2)
    )


def config_toml(cfg: SettlementSettings) -> str:
    """The [settlement] table of a run config that describes `cfg` (for the written sample)."""
    lines = [
        "# Settlement calendar and fee schedule of the generated acquirer.",
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
    """Write pos, bank (csv or parquet), truth.csv and settlement.toml into `out`."""
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
