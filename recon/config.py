"""Run settings: matching windows, tolerances, severities and fail-on, from TOML with defaults."""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from recon.errors import ConfigError

SEVERITIES = ("low", "medium", "high")
TYPES = (
    "amount_mismatch",
    "account_mismatch",
    "currency_mismatch",
    "duplicate_pos",
    "duplicate_bank",
    "orphan_pos",
    "orphan_bank",
    "voided_but_settled",
    "late_settlement",
)
DEFAULT_SEVERITY = {
    "amount_mismatch": "high",
    "account_mismatch": "medium",
    "currency_mismatch": "high",
    "duplicate_pos": "medium",  # raised to high when more than one record of the group settled
    "duplicate_bank": "high",
    "orphan_pos": "high",
    "orphan_bank": "medium",  # raised to high for debits: money taken with no POS record
    "voided_but_settled": "high",
    "late_settlement": "low",
}


@dataclass(frozen=True)
class MatchSettings:
    # Pass 2 pairs a bank row at most this many days after the POS row.
    window_days: float = 3.0
    # A matched pair settled later than this is a late_settlement.
    late_after_days: float = 3.0
    # Records of the same card, amount and terminal this close together are a network retry.
    duplicate_seconds: int = 60
    # An unmatched bank row this close to a matched one of the same card, amount and terminal
    # is a second settlement of the same sale (banks re-send batches minutes apart).
    bank_duplicate_seconds: int = 300
    # Pass 3 pairs leftovers of the same card and terminal whose amounts differ (keying errors).
    amount_tolerant_pass: bool = True


@dataclass(frozen=True)
class AgingSettings:
    # Open items escalate to at least this severity once they are this many days old.
    medium_after_days: int = 3
    high_after_days: int = 7


@dataclass(frozen=True)
class Settings:
    match: MatchSettings = field(default_factory=MatchSettings)
    severity: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_SEVERITY))
    fail_on: str = "low"
    timezone: str | None = None
    pos: str | None = None
    bank: str | None = None
    pos_profile: str | None = None
    bank_profile: str | None = None
    out: str | None = None
    source: str | None = None  # the config file it came from
    state: str | None = None  # the state store of scheduled runs
    aging: AgingSettings = field(default_factory=AgingSettings)
    notify_command: str | None = None  # receives the JSON summary on stdin
    notify_min_severity: str = "high"
    # Who to call, named in evidence files: acquirer, pos_vendor, responsible, ...
    contacts: dict[str, str] = field(default_factory=dict)
    # The language of the words in reports ("en" or "zh"); machine-readable values never change.
    lang: str = "en"
    lang_set: bool = False  # the config file chose the language (it then beats the locale)
    # The shop's opening hours, "HH:MM-HH:MM" ([shop] hours); sales outside them are a finding.
    shop_hours: str | None = None

    def with_overrides(self, **kw: Any) -> Settings:
        return replace(self, **{k: v for k, v in kw.items() if v is not None})

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_TOP_KEYS = {
    "match",
    "severity",
    "fail_on",
    "timezone",
    "inputs",
    "profiles",
    "output",
    "state",
    "aging",
    "notify",
    "contacts",
    "lang",
    "shop",
}
LANGS = ("en", "zh")


def parse_hours(text: str) -> tuple[dt.time, dt.time]:
    """'08:00-22:00' -> (08:00, 22:00); ValueError unless it is HH:MM-HH:MM with start != end.

    A start after the end means open overnight ('18:00-02:00')."""
    start, sep, end = str(text).partition("-")
    if not sep:
        raise ValueError(text)
    a = dt.datetime.strptime(start.strip(), "%H:%M").time()
    b = dt.datetime.strptime(end.strip(), "%H:%M").time()
    if a == b:
        raise ValueError(text)
    return a, b


def _check_keys(table: dict, allowed: set[str], where: str, path: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(
            f"unknown key {where}{unknown[0]!r} (allowed: {', '.join(sorted(allowed))})", path
        )


def load_settings(path: str | Path | None) -> Settings:
    """Read a run config TOML. Every key is optional; unknown keys are an error."""
    if path is None:
        return Settings()
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("config file not found", str(p)) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"not valid TOML: {exc}", str(p)) from None
    _check_keys(data, _TOP_KEYS, "", str(p))

    match_tbl = data.get("match", {})
    _check_keys(match_tbl, {f.name for f in fields(MatchSettings)}, "match.", str(p))
    try:
        match = MatchSettings(**match_tbl)
        for f in fields(MatchSettings):
            value = getattr(match, f.name)
            if f.type == "bool" and not isinstance(value, bool):
                raise TypeError(f"match.{f.name} must be true or false")
            if f.type in ("float", "int") and (
                isinstance(value, bool) or not isinstance(value, int | float) or value < 0
            ):
                raise TypeError(f"match.{f.name} must be a non-negative number")
    except TypeError as exc:
        raise ConfigError(str(exc), str(p)) from None

    severity = dict(DEFAULT_SEVERITY)
    sev_tbl = data.get("severity", {})
    _check_keys(sev_tbl, set(TYPES), "severity.", str(p))
    for typ, sev in sev_tbl.items():
        if sev not in SEVERITIES:
            raise ConfigError(f"severity.{typ} must be one of {', '.join(SEVERITIES)}", str(p))
        severity[typ] = sev

    fail_on = data.get("fail_on", "low")
    if fail_on not in SEVERITIES:
        raise ConfigError(f"fail_on must be one of {', '.join(SEVERITIES)}", str(p))
    inputs = data.get("inputs", {})
    _check_keys(inputs, {"pos", "bank"}, "inputs.", str(p))
    profiles = data.get("profiles", {})
    _check_keys(profiles, {"pos", "bank"}, "profiles.", str(p))
    output = data.get("output", {})
    _check_keys(output, {"dir"}, "output.", str(p))

    state = data.get("state", {})
    _check_keys(state, {"path"}, "state.", str(p))
    aging_tbl = data.get("aging", {})
    _check_keys(aging_tbl, {f.name for f in fields(AgingSettings)}, "aging.", str(p))
    for key, value in aging_tbl.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"aging.{key} must be a whole number of days", str(p))
    aging = AgingSettings(**aging_tbl)
    notify = data.get("notify", {})
    _check_keys(notify, {"command", "min_severity"}, "notify.", str(p))
    notify_sev = notify.get("min_severity", "high")
    if notify_sev not in SEVERITIES:
        raise ConfigError(f"notify.min_severity must be one of {', '.join(SEVERITIES)}", str(p))

    contacts = data.get("contacts", {})
    if not all(isinstance(v, str) for v in contacts.values()):
        raise ConfigError("contacts values must be text (a name, phone or address)", str(p))

    lang = data.get("lang", "en")
    if lang not in LANGS:
        raise ConfigError(f"lang must be one of {', '.join(LANGS)}", str(p))

    shop = data.get("shop", {})
    _check_keys(shop, {"hours"}, "shop.", str(p))
    shop_hours = shop.get("hours")
    if shop_hours is not None:
        try:
            if not isinstance(shop_hours, str):
                raise ValueError(shop_hours)
            parse_hours(shop_hours)
        except ValueError:
            raise ConfigError(
                'shop.hours must look like "08:00-22:00" (HH:MM-HH:MM, start and end differ)',
                str(p),
            ) from None

    base = p.parent

    def rel(v: str | None) -> str | None:
        # Paths in a config are relative to the config file, so cron can run from anywhere.
        if v is None:
            return None
        return str(base / v) if not Path(v).is_absolute() else v

    def rel_profile(v: str | None) -> str | None:
        return rel(v) if v and (v.endswith(".toml") or "/" in v) else v

    return Settings(
        match=match,
        severity=severity,
        fail_on=fail_on,
        timezone=data.get("timezone"),
        pos=rel(inputs.get("pos")),
        bank=rel(inputs.get("bank")),
        pos_profile=rel_profile(profiles.get("pos")),
        bank_profile=rel_profile(profiles.get("bank")),
        out=rel(output.get("dir")),
        source=str(p),
        state=rel(state.get("path")),
        aging=aging,
        notify_command=notify.get("command"),
        notify_min_severity=notify_sev,
        contacts=dict(contacts),
        lang=lang,
        lang_set="lang" in data,
        shop_hours=shop_hours,
    )
