"""Card masking of a statement line's free text (`memo`) keeps references whole."""

from __future__ import annotations

import csv
import random
import re
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from recon.cli import cli
from recon.load import load_side
from recon.normalize import mask_memo, mask_memo_text, mask_pans

VISA = "4111111111111111"
MASTERCARD = "5500005555555559"
AMEX = "378282246310005"
UNIONPAY = "6222021234567890128"
CARDS = (VISA, MASTERCARD, AMEX, UNIONPAY)


def luhn(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def test_the_cases_are_what_they_claim():
    assert all(luhn(c) for c in CARDS)
    assert luhn("12312312312312")  # RP12312312312312 survives because it is glued to letters
    assert not luhn("20120123456789") and not luhn("1234567812345678")


CASES = [
    # cards: masked
    (f"card {VISA}", "card 411111******1111"),
    (VISA, "411111******1111"),
    ("4111 1111 1111 1111", "411111******1111"),
    ("POS 4111-1111-1111-1111 CNY", "POS 411111******1111 CNY"),
    (f"card:{VISA}.", "card:411111******1111."),
    (f"({MASTERCARD})", "(550000******5559)"),
    ("Amex 3782 822463 10005 ok", "Amex 378282*****0005 ok"),
    (f"{VISA} {MASTERCARD}", "411111******1111 550000******5559"),
    (f"卡号{UNIONPAY}参考号", "卡号622202*********0128参考号"),
    # references: kept
    ("RP12312312312312", "RP12312312312312"),
    ("EREF20120123456789", "EREF20120123456789"),
    ("EREF+20120123456789 KREF+RP12312312312312", "EREF+20120123456789 KREF+RP12312312312312"),
    ("EREF 20120123456789", "EREF 20120123456789"),
    ("ref 1234567812345678 end", "ref 1234567812345678 end"),
    ("ref 1234 5678 1234 5678 end", "ref 1234 5678 1234 5678 end"),
    (f"{VISA}0", f"{VISA}0"),  # 17 digits failing Luhn
    (f"X{VISA}", f"X{VISA}"),
    ("123456789012", "123456789012"),
    ("", ""),
    (None, None),
]


@pytest.mark.parametrize(("memo", "want"), CASES)
def test_mask_memo_eager_and_lazy(memo, want):
    frame = pl.DataFrame({"memo": [memo, "other row"]}, schema={"memo": pl.String})
    assert frame.select(mask_memo(pl.col("memo")))["memo"].to_list() == [want, "other row"]
    lazy = frame.lazy().select(mask_memo_text("memo")).collect()
    assert lazy["memo"].to_list() == [want, "other row"]


def test_luhn_decision_over_many_runs():
    rnd = random.Random(7)
    runs = [
        "".join(rnd.choice("0123456789") for _ in range(rnd.randint(13, 19))) for _ in range(3000)
    ]
    got = pl.DataFrame({"memo": [f"x {r}." for r in runs]}).select(mask_memo(pl.col("memo")))
    masked = [m != f"x {r}." for m, r in zip(got["memo"].to_list(), runs, strict=True)]
    assert masked == [luhn(r) for r in runs]
    assert 0 < sum(masked) < len(runs)


def test_account_and_raw_masking_stay_strict():
    frame = pl.DataFrame({"raw": ["RP12312312312312", "EREF 20120123456789 x"]})
    got = frame.select(mask_pans(pl.col("raw")))["raw"].to_list()
    assert got == ["RP123123****2312", "EREF 201201****6789 x"]


MEMOS = [
    f"Card payment {VISA} at shop",
    "SEPA EREF+20120123456789 KREF+RP12312312312312",
    "POS 4111 1111 1111 1111 ref 1234567812345678",
    f"card:{MASTERCARD}.",
    "EREF20120123456789",
]


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def test_load_side_masks_cards_in_memo_but_not_references(tmp_path):
    rows = [
        [f"B{i}", f"2026-11-21T02:1{i}:00", "10.00", "CNY", memo] for i, memo in enumerate(MEMOS)
    ]
    bank = write_csv(tmp_path / "bank.csv", ["id", "time", "amount", "currency", "memo"], rows)
    loaded = load_side(bank, "bank")
    assert loaded.rejected.height == 0
    assert loaded.frame["memo"].to_list() == [
        "Card payment 411111******1111 at shop",
        "SEPA EREF+20120123456789 KREF+RP12312312312312",
        "POS 411111******1111 ref 1234567812345678",
        "card:550000******5559.",
        "EREF20120123456789",
    ]


def _no_full_pan(out: Path, *extra: str) -> None:
    for path in out.rglob("*"):
        if not path.is_file():
            continue
        texts = [path.read_bytes().decode("utf-8", "replace")]
        if path.suffix == ".parquet":
            texts.append(pl.read_parquet(path).write_csv())
        for text in [*texts, *extra]:
            flat = re.sub(r"[\s-]", "", text)
            for card in CARDS:
                assert card not in flat, (path.name, card)


@pytest.mark.parametrize("engine", ["local", "streaming"])
def test_run_matches_a_pos_reference_inside_the_memo(tmp_path, engine):
    pos = write_csv(
        tmp_path / "pos.csv",
        ["id", "time", "amount", "currency", "account", "reference", "kind", "merchant"],
        [
            ["P1", "2026-11-20T10:00:00", "25.00", "CNY", VISA, "RP12312312312312", "sale", "M1"],
            ["P2", "2026-11-20T11:00:00", "40.00", "CNY", AMEX, "20120123456789", "sale", "M1"],
        ],
    )
    bank = write_csv(
        tmp_path / "bank.csv",
        ["id", "time", "amount", "currency", "reference", "kind", "merchant", "memo"],
        [
            [
                "B1", "2026-11-21T02:10:00", "25.00", "CNY", "STMT-1", "credit", "M1",
                f"SETTLEMENT KREF+RP12312312312312 card {VISA}",
            ],
            [
                "B2", "2026-11-21T02:20:00", "40.00", "CNY", "STMT-2", "credit", "M1",
                "EREF 20120123456789 card 3782 822463 10005",
            ],
        ],
    )  # fmt: skip
    out = tmp_path / "out"
    res = CliRunner().invoke(
        cli,
        ["run", "--pos", str(pos), "--bank", str(bank), "--out", str(out), "--engine", engine],
        catch_exceptions=False,
    )
    assert res.exit_code in (0, 1), res.output
    matches = pl.read_parquet(out / "matches.parquet")
    pairs = set(matches.select("pos_id", "bank_id", "rule").iter_rows())
    assert ("P1", "B1", "reference_other") in pairs
    assert ("P2", "B2", "reference_other") in pairs
    _no_full_pan(out, res.output)
