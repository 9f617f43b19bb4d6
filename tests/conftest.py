from __future__ import annotations

import os
import shutil
from pathlib import Path

import polars as pl
import pytest

from recon.money import parse_expr
from recon.schema import conform

HERE = Path(__file__).parent
DATA = HERE / "data"
REPO = HERE.parent
SHARED = Path(os.environ.get("RECON_SHARED", REPO.parent / "shared"))


# The header of the canonical CSV the CLI tests write their small days in.
CANONICAL_HEADER = "id,time,amount,currency,account,reference,kind,terminal,merchant\n"


def write_rows(path: Path, rows: list[str]) -> Path:
    """A canonical CSV of `rows` (one line each, without the header) at `path`."""
    path.write_text(CANONICAL_HEADER + "".join(r + "\n" for r in rows))
    return path


def canonical(rows: list[dict], side: str = "pos") -> pl.DataFrame:
    """Build a canonical frame from short dict rows (test helper; no loader involved)."""
    base = {
        "id": None,
        "time": None,
        "amount": None,
        "currency": "CNY",
        "account": None,
        "reference": None,
        "kind": None,
        "terminal": None,
        "merchant": None,
        "fee": None,
        "has_clock": True,
    }
    full = [{**base, **r} for r in rows]
    default_kind = {"pos": ("sale", "refund"), "bank": ("credit", "debit")}[side]
    schema = {c: pl.String for c in base if c != "has_clock"} | {"has_clock": pl.Boolean}
    df = pl.DataFrame(full, schema=schema) if full else pl.DataFrame(schema=schema)
    df = df.with_columns(
        time=pl.col("time").str.to_datetime(),
        amount=parse_expr(pl.col("amount"), pl.col("currency")).struct.field("minor"),
        fee=parse_expr(pl.col("fee"), pl.col("currency")).struct.field("minor"),
        source=pl.lit(f"{side}.csv"),
        line=pl.int_range(2, pl.len() + 2),
    ).with_columns(
        kind=pl.coalesce(
            "kind",
            pl.when(pl.col("amount") >= 0)
            .then(pl.lit(default_kind[0]))
            .otherwise(pl.lit(default_kind[1])),
        )
    )
    return conform(df.lazy()).collect()


@pytest.fixture
def contract_dir(tmp_path: Path) -> Path:
    """A writable copy of the hand-made contract day (tests/data/contract)."""
    dst = tmp_path / "contract"
    shutil.copytree(DATA / "contract", dst)
    return dst


@pytest.fixture(autouse=True)
def _english_locale(monkeypatch):
    """Reports follow the locale by default; tests expect English unless they ask for zh."""
    for var in ("LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
