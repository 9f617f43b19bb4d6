"""Run settings: matching windows, tolerances, severities and fail-on, from TOML with defaults."""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from decimal import Decimal, InvalidOperation
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
    "fee_mismatch",
)
DEFAULT_SEVERITY = {
    "amount_mismatch": "high",
    "account_mismatch": "medium",
    "currency_mismatch": "high",
    "duplicate_pos": "medium",  # raised to high when more than one record of the group settled
    "duplicate_bank": "high",
    "orphan_pos": "high",
    "orphan_bank": "medium",  # high for debits, except on a bank statement (bank_is_statement)
    "voided_but_settled": "high",
    "late_settlement": "low",
    "fee_mismatch": "medium",
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
    # The residual pass pairs a leftover settlement this many days after its sale (a late
    # settlement) when it is the only candidate; 0 turns the late pairing off.
    late_window_days: float = 14.0
    # The residual pass: leftovers that differ in exactly one of card, currency or window.
    residual_pass: bool = True
    # The slowest plausible settlement in minutes, for a day with too few certain pairs to
    # learn the bank's usual lag (a closed day): the residual pass pairs no slower; 0: none.
    # A --state run takes it from the runs before.
    lag_bound_minutes: float = 0.0


@dataclass(frozen=True)
class FeeRule:
    """The merchant discount rate of one card scheme and kind: rate x amount + fixed, capped."""

    scheme: str = "*"  # visa, mastercard, unionpay, amex, jcb, discover, diners, unknown or *
    kind: str = "sale"  # sale, refund or *
    rate: Decimal = Decimal(0)  # a fraction: 0.006 is 0.6 %
    fixed: Decimal = Decimal(0)  # per transaction, in the currency's major unit
    cap: Decimal | None = None  # the most one transaction is charged, when the acquirer caps


@dataclass(frozen=True)
class SettlementSettings:
    """Batch settlements: one bank deposit for many POS sales, net of fees ([settlement])."""

    enabled: bool = False
    cutoff: str = "00:00"  # the acquirer's cut-off: later sales belong to the next business day
    t_plus: int = 1  # a business day's sales are paid this many business days later
    weekends: bool = True  # no settlement on Saturdays and Sundays
    holidays: tuple[str, ...] = ()  # dates (YYYY-MM-DD) with no settlement
    slack_days: int = 3  # a deposit may arrive up to this many days after its expected date
    tolerance: Decimal = Decimal(0)  # |deposit - (gross - expected fee)| allowed, major units
    max_fee_rate: Decimal = Decimal("0.05")  # a shortfall above this share of gross is no fee
    group_by: tuple[str, ...] = ("merchant",)  # keys besides the business day (no batch key)
    batch_pattern: str = r"(?i)(?:batch|批次号?)\s*(?:no\.?|number)?\s*[:#：]?\s*(\d+)"
    fees: tuple[FeeRule, ...] = ()
    # What a refund does to the fee: the acquirer gives its fee back (returned), gives back only
    # the percentage part (proportional: the fixed part is kept), or keeps it (kept). "auto"
    # learns it from the deposits when they tell the policies apart.
    refund_fee: str = "auto"
    # Without [settlement], a bank side of daily net deposits is recognised and reconciled as
    # batches with a calendar guessed from the data; `enabled = false` turns that off.
    detect: bool = True


REFUND_FEE_POLICIES = ("auto", "returned", "proportional", "kept")


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
    settlement: SettlementSettings = field(default_factory=SettlementSettings)
    # The bank file is a plain bank statement (MT940, camt, BAI2, OFX, a bank's CSV export), not
    # an acquirer settlement file or a payment-platform bill: its debits are the shop's own
    # payments, not suspected fraud. None: decided from the reader and profile that loaded it.
    bank_is_statement: bool | None = None

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
    "settlement",
    "bank_is_statement",
}
GROUP_KEYS = ("merchant", "terminal", "scheme")
SCHEMES = ("visa", "mastercard", "unionpay", "amex", "jcb", "discover", "diners", "unknown")
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

    settlement = _settlement(data.get("settlement", {}), str(p))
    bank_is_statement = data.get("bank_is_statement")
    if bank_is_statement is not None and not isinstance(bank_is_statement, bool):
        raise ConfigError("bank_is_statement must be true or false", str(p))
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
        settlement=settlement,
        bank_is_statement=bank_is_statement,
    )


def _decimal(value: Any, key: str, where: str) -> Decimal:
    # Money and rates are written as strings ("0.006") or integers; a TOML float would already
    # have lost exactness, so it is refused.
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ConfigError(f'{key} must be a decimal in quotes, e.g. "0.006"', where)
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ConfigError(f"{key} is not a number: {value!r}", where) from None
    if not number.is_finite() or number < 0:
        raise ConfigError(f"{key} must be a non-negative number", where)
    return number


def _settlement(tbl: dict, where: str) -> SettlementSettings:
    allowed = {f.name for f in fields(SettlementSettings)}
    _check_keys(tbl, allowed, "settlement.", where)
    if not tbl:
        return SettlementSettings()
    kw: dict[str, Any] = {"enabled": tbl.get("enabled", True)}
    if not isinstance(kw["enabled"], bool):
        raise ConfigError("settlement.enabled must be true or false", where)
    kw["detect"] = tbl.get("detect", kw["enabled"])
    if not isinstance(kw["detect"], bool):
        raise ConfigError("settlement.detect must be true or false", where)
    if "cutoff" in tbl:
        try:
            dt.time.fromisoformat(str(tbl["cutoff"]))
        except ValueError:
            raise ConfigError('settlement.cutoff must look like "23:00"', where) from None
        kw["cutoff"] = str(tbl["cutoff"])
    for key in ("t_plus", "slack_days"):
        if key in tbl:
            v = tbl[key]
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ConfigError(f"settlement.{key} must be a whole number of days", where)
            kw[key] = v
    if "weekends" in tbl:
        if not isinstance(tbl["weekends"], bool):
            raise ConfigError("settlement.weekends must be true or false", where)
        kw["weekends"] = tbl["weekends"]
    if "holidays" in tbl:
        days = []
        for v in tbl["holidays"]:
            try:
                days.append(dt.date.fromisoformat(str(v)).isoformat())
            except ValueError:
                raise ConfigError(
                    f"settlement.holidays: {v!r} is not a YYYY-MM-DD date", where
                ) from None
        kw["holidays"] = tuple(sorted(set(days)))
    for key in ("tolerance", "max_fee_rate"):
        if key in tbl:
            kw[key] = _decimal(tbl[key], f"settlement.{key}", where)
    if "group_by" in tbl:
        keys = tuple(tbl["group_by"])
        bad = [k for k in keys if k not in GROUP_KEYS]
        if bad:
            raise ConfigError(
                f"settlement.group_by: unknown key {bad[0]!r} (use {', '.join(GROUP_KEYS)})", where
            )
        kw["group_by"] = keys
    if "batch_pattern" in tbl:
        try:
            if re.compile(str(tbl["batch_pattern"])).groups < 1:
                raise ValueError
        except (re.error, ValueError):
            raise ConfigError(
                "settlement.batch_pattern must be a regular expression with one group", where
            ) from None
        kw["batch_pattern"] = str(tbl["batch_pattern"])
    if "refund_fee" in tbl:
        if tbl["refund_fee"] not in REFUND_FEE_POLICIES:
            raise ConfigError(
                f"settlement.refund_fee must be one of {', '.join(REFUND_FEE_POLICIES)}", where
            )
        kw["refund_fee"] = tbl["refund_fee"]
    rules = []
    for i, rule in enumerate(tbl.get("fees", [])):
        at = f"settlement.fees[{i}]"
        _check_keys(rule, {"scheme", "kind", "rate", "fixed", "cap"}, f"{at}.", where)
        scheme = str(rule.get("scheme", "*")).lower()
        if scheme != "*" and scheme not in SCHEMES:
            raise ConfigError(f"{at}.scheme must be one of {', '.join(SCHEMES)} or *", where)
        kind = str(rule.get("kind", "sale"))
        if kind not in ("sale", "refund", "*"):
            raise ConfigError(f"{at}.kind must be sale, refund or *", where)
        rules.append(
            FeeRule(
                scheme=scheme,
                kind=kind,
                rate=_decimal(rule.get("rate", "0"), f"{at}.rate", where),
                fixed=_decimal(rule.get("fixed", "0"), f"{at}.fixed", where),
                cap=_decimal(rule["cap"], f"{at}.cap", where) if "cap" in rule else None,
            )
        )
    kw["fees"] = tuple(rules)
    return SettlementSettings(**kw)
