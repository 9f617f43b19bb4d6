"""recon.profiles: built-in profiles load; mistakes are ConfigErrors naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from recon.errors import ConfigError
from recon.profiles import Profile, builtin_profiles, load_profile

REPO_PROFILES = Path(__file__).resolve().parent.parent / "configs" / "profiles"


def test_every_file_in_configs_profiles_loads():
    files = sorted(REPO_PROFILES.glob("*.toml"))
    assert files, "configs/profiles holds no profiles"
    for path in files:
        profile = load_profile(path)
        assert isinstance(profile, Profile)
        assert profile.name == path.stem, f"{path.name}: name should match the file name"
        assert profile.description


def test_required_builtins_are_present_and_load_by_name():
    names = builtin_profiles()
    for name in ("canonical", "cn-bank-gbk", "eu-bank-semicolon"):
        assert name in names
        assert load_profile(name).name == name


def test_cn_bank_gbk_settings():
    p = load_profile("cn-bank-gbk")
    assert p.encoding == "gbk"
    assert p.header_row == 2
    assert p.headers_for("time") == ("交易时间",)
    assert p.headers_for("debit_credit") == ("借贷标志",)
    assert "借" in p.debit_credit["debit"]
    assert p.kinds["退货"] == "refund"
    assert p.default_currency == "CNY"
    assert p.timezone == "Asia/Shanghai"


def test_eu_profile_marks():
    p = load_profile("eu-bank-semicolon")
    assert (p.delimiter, p.decimal_mark, p.thousands_mark) == (";", ",", ".")
    assert p.date_only


def test_unknown_name_lists_available():
    with pytest.raises(ConfigError) as info:
        load_profile("no-such-bank")
    message = str(info.value)
    assert "no-such-bank" in message
    assert "canonical" in message and "cn-bank-gbk" in message


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("body", "key", "reason"),
    [
        ('name = "x"\ncolour = "red"\n', "colour", "unknown key"),
        ('format = "xlsx"\n', "format", "must be one of"),
        ('encoding = "ebcdic"\n', "encoding", "must be one of"),
        ('delimiter = ";;"\n', "delimiter", "one character"),
        ("header_row = 0\n", "header_row", ">= 1"),
        ('header_row = "2"\n', "header_row", ">= 1"),
        ('timezone = "Mars/Base"\n', "timezone", "unknown time zone"),
        ('decimal_mark = ","\nthousands_mark = ","\n', "thousands_mark", "same as decimal_mark"),
        ('default_currency = "EURO"\n', "default_currency", "ISO 4217"),
        ('datetime_format = ["YYYY-MM-DD"]\n', "datetime_format", "no % directive"),
        ("date_only = 1\n", "date_only", "true or false"),
        ('[columns]\namout = "Betrag"\n', "columns.amout", "unknown canonical column"),
        ("[columns]\ntime = []\n", "columns.time", "non-empty list"),
        ('[kinds]\n"消费" = "purchase"\n', "kinds.消费", "must be one of"),
        ('[debit_credit]\nminus = ["D"]\n', "debit_credit.minus", "'debit' or 'credit'"),
        ('[columns]\ndebit_credit = "DC"\n', "debit_credit", "table is missing"),
    ],
)
def test_invalid_keys_name_file_key_and_reason(tmp_path, body, key, reason):
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        load_profile(path)
    message = str(info.value)
    assert str(path) in message
    assert f"key '{key}'" in message
    assert reason in message


def test_bad_toml_and_missing_file(tmp_path):
    path = write(tmp_path, "name = \n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_profile(path)
    with pytest.raises(ConfigError, match="not found"):
        load_profile(tmp_path / "absent.toml")


def test_minimal_profile_defaults_and_alternatives(tmp_path):
    path = write(
        tmp_path,
        'name = "mine"\ndelimiter = "\\t"\n[columns]\ntime = ["Date", "Datum"]\namount = "Sum"\n',
    )
    p = load_profile(str(path))
    assert p.name == "mine"
    assert p.delimiter == "\t"
    assert p.headers_for("time") == ("Date", "Datum")
    assert p.headers_for("currency") == ("currency",)  # unmapped: the canonical name
    assert p.encoding == "auto" and p.header_row == 1 and p.thousands_mark == ","


def test_decimal_comma_defaults_to_no_thousands_mark(tmp_path):
    p = load_profile(write(tmp_path, 'decimal_mark = ","\n'))
    assert p.thousands_mark is None


def test_profile_found_in_cwd_configs(tmp_path, monkeypatch):
    folder = tmp_path / "configs" / "profiles"
    folder.mkdir(parents=True)
    (folder / "local-shop.toml").write_text('name = "local-shop"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert "local-shop" in builtin_profiles()
    assert load_profile("local-shop").name == "local-shop"
