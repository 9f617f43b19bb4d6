"""Encoding detection of delimited text (recon.readers.csv.detect_encoding / decode)."""

from __future__ import annotations

import random

import pytest
from charset_normalizer import from_bytes

from recon.load import load_side
from recon.readers.csv import decode, detect_encoding

ZH_HEADER = "交易时间,商户号,终端号,卡号,交易类型,交易金额,币种,参考号,凭证号"
ZH_KINDS = ("消费", "退货", "撤销")


def zh_pos_text(rows: int, seed: int) -> str:
    """A Chinese POS export: Chinese only in the header and the transaction type."""
    rnd = random.Random(seed)
    lines = [ZH_HEADER]
    for i in range(rows):
        card = "".join(rnd.choice("0123456789") for _ in range(16))
        ref = "".join(rnd.choice("0123456789") for _ in range(12))
        lines.append(
            f"2026-11-20 08:{i // 60 % 60:02d}:{i % 60:02d},8983100581200{rnd.randint(0, 9)},"
            f"3100{rnd.randint(1000, 9999)},{card},{rnd.choice(ZH_KINDS)},"
            f"{rnd.randint(1, 99999) / 100:.2f},CNY,{ref},{i + 1:06d}"
        )
    return "\r\n".join(lines) + "\r\n"


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("codec", ["gb18030", "gbk"])
def test_mostly_ascii_chinese_is_gb18030(seed, codec):
    data = zh_pos_text(1500, seed).encode(codec)
    assert detect_encoding(data, "auto") == "gb18030"
    assert decode(data, "auto", "x").decode("utf-8").startswith(ZH_HEADER)


def test_few_cjk_chars_in_short_file():
    text = "date,amount,currency,store\n2026-01-02,2.00,CNY,北京朝阳区分店\n"
    assert detect_encoding(text.encode("gbk"), "auto") == "gb18030"


def test_zh_pos_export_loads(tmp_path):
    path = tmp_path / "pos.csv"
    path.write_bytes(zh_pos_text(1500, 3).encode("gb18030"))
    loaded = load_side(path, "pos")
    assert loaded.rejected.height == 0 and loaded.frame.height == 1500


@pytest.mark.parametrize(
    "text",
    [
        "Datum;Betrag;Währung;Verwendungszweck\n"
        "02.01.2026;12,50;EUR;Bäckerei Müller Straße\n"
        "03.01.2026;7,00;EUR;Café Crème, Genève\n",
        "date,amount,currency,memo\n"
        "2026-01-02,3.00,EUR,Señor Pérez — café déjà vu\n"
        "2026-01-03,4.00,EUR,Société Générale « été »\n",
        "date,amount,memo\n2026-01-02,3.00,Ørsted Å\n2026-01-03,4.00,Malmö Göteborg\n",
    ],
)
def test_cp1252_accented_words_are_not_chinese(text):
    data = text.encode("cp1252")
    found = detect_encoding(data, "auto")
    # unchanged: the detector's own answer (for a few words it may be another Latin codepage)
    assert found != "gb18030" and found == from_bytes(data).best().encoding
    assert data.decode(found).encode("utf-8") == decode(data, "auto", "x")


def test_cp1252_long_export_is_not_chinese():
    rnd = random.Random(1)
    words = ("Bäckerei", "Müller", "Straße", "Café", "Crème", "Genève", "Zürich", "Größe")
    lines = ["Datum;Betrag;Währung;Verwendungszweck"]
    for i in range(800):
        memo = " ".join(rnd.choice(words) for _ in range(3))
        lines.append(f"{i % 28 + 1:02d}.01.2026;{rnd.randint(1, 9999) / 100:.2f};EUR;{memo}")
    text = "\n".join(lines) + "\n"
    data = text.encode("cp1252")
    assert detect_encoding(data, "auto") != "gb18030"
    got = decode(data, "auto", "x").decode("utf-8")
    assert "Währung" in got and "Bäckerei" in got and "Straße" in got and "Größe" in got


def test_utf8_with_bom_and_plain_utf8():
    text = "date,amount,memo\n2026-01-02,3.00,交易 café\n"
    assert detect_encoding(b"\xef\xbb\xbf" + text.encode("utf-8"), "auto") == "utf-8-sig"
    assert decode(b"\xef\xbb\xbf" + text.encode("utf-8"), "auto", "x") == text.encode("utf-8")
    assert detect_encoding(text.encode("utf-8"), "auto") == "utf-8"


def test_utf16_and_declared_encoding_are_kept():
    text = "date,amount,memo\n2026-01-02,3.00,交易\n"
    assert detect_encoding(text.encode("utf-16"), "auto") == "utf-16"
    assert decode(text.encode("utf-16"), "auto", "x").decode("utf-8") == text
    assert detect_encoding(b"x", "gbk") == "gb18030"
    assert detect_encoding(b"x", "cp1252") == "cp1252"


def test_japanese_shift_jis_and_euc_jp_are_not_chinese():
    text = (
        "日付,金額,摘要\n2026-01-02,300,東京のコンビニでお買い物\n"
        "2026-01-03,500,ありがとうございました\n"
    )
    for codec in ("shift_jis", "euc_jp"):
        data = text.encode(codec)
        assert detect_encoding(data, "auto") != "gb18030", codec
