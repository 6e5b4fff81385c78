"""Configuration: config.yml loaded through the container's Configuration provider, then validated.

The shipped ``config.yml`` (beside the package) holds every key and its default; a user's file is
merged over it, so a deployment's file may hold only what it changes. ``${VAR:default}``
interpolation is done by dependency-injector's YAML loader. Validation runs before anything binds
a port: every value is parsed into its type and normalised, and the first bad value raises
:class:`ConfigError`, whose one-line text names the key, its environment variable, the value and
what is allowed.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from trading_engine import __version__
from trading_engine.domain.errors import ValidationError
from trading_engine.domain.instruments import Instrument

SHIPPED_CONFIG = Path(__file__).resolve().parent.parent / "config.yml"
CONFIG_ENV_VAR = "TRADING_ENGINE_CONFIG"

_ENV_MARKER = re.compile(r"\$\{(?P<name>[^}^{:]+)(?::[^}]*)?\}")
_DNS_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")

ENVIRONMENTS = ("development", "testing", "production", "docker")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("json", "console")


class ConfigError(Exception):
    """A configuration value (or the file itself) is unusable; the text is one line for stderr."""

    def __init__(self, key: str, value: object, allowed: str, env: str | None = None) -> None:
        super().__init__(key, value, allowed, env)
        self.key = key
        self.value = value
        self.allowed = allowed
        self.env = env

    def __str__(self) -> str:
        where = f"{self.key} (env {self.env})" if self.env else self.key
        return f"invalid configuration: {where} = {self.value!r}: {self.allowed}"


class Invalid(ValueError):
    """Raised by a validator; the text says what is allowed."""


Validator = Callable[[Any], Any]


def _as_text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise Invalid("must be a scalar value")
    return str(value).strip()


def integer(low: int, high: int) -> Validator:
    def check(value: Any) -> int:
        text = _as_text(value)
        if not re.fullmatch(r"[+-]?\d+", text) or not low <= int(text) <= high:
            raise Invalid(f"must be an integer from {low} to {high}")
        return int(text)

    return check


def number(low: float, high: float, *, low_open: bool = True) -> Validator:
    def check(value: Any) -> float:
        text = _as_text(value)
        try:
            parsed = float(text)
        except ValueError:
            parsed = float("nan")
        below = parsed <= low if low_open else parsed < low
        if parsed != parsed or below or parsed > high:  # NaN fails every comparison
            bound = f"greater than {low:g}" if low_open else f"at least {low:g}"
            raise Invalid(f"must be a number {bound} and at most {high:g}")
        return parsed

    return check


def choice(*options: str, upper: bool = False) -> Validator:
    def check(value: Any) -> str:
        text = _as_text(value)
        text = text.upper() if upper else text.lower()
        if text not in options:
            raise Invalid(f"must be one of {', '.join(options)} (case-insensitive)")
        return text

    return check


def text(max_length: int = 256, *, allow_empty: bool = False) -> Validator:
    def check(value: Any) -> str:
        result = "" if value is None else _as_text(value)
        if not result and not allow_empty:
            raise Invalid("must not be empty")
        if len(result) > max_length or any(ord(ch) < 32 for ch in result):
            raise Invalid(f"must be printable text of at most {max_length} characters")
        return result

    return check


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text_value = _as_text(value).lower()
    if text_value in {"true", "1", "yes", "on"}:
        return True
    if text_value in {"false", "0", "no", "off"}:
        return False
    raise Invalid("must be true or false (also accepted: 1/0, yes/no, on/off)")


def number_list(value: Any) -> tuple[float, ...]:
    """A comma-separated list of positive, strictly increasing numbers (histogram buckets)."""
    items = value if isinstance(value, list) else _as_text(value).split(",")
    try:
        parsed = tuple(float(str(item).strip()) for item in items)
    except ValueError:
        parsed = ()
    if not parsed or any(not 0 < b < float("inf") for b in parsed) or list(parsed) != sorted(set(parsed)):
        raise Invalid("must be a comma-separated list of positive, strictly increasing numbers")
    return parsed


def secret(value: Any) -> str:
    """A token: empty (off) or 16-256 visible ASCII characters. Never echoed in errors."""
    result = "" if value is None else _as_text(value)
    if result and not (16 <= len(result) <= 256 and all(33 <= ord(ch) <= 126 for ch in result)):
        raise Invalid("must be empty or 16-256 visible ASCII characters without spaces")
    return result


def decimal(low: Decimal, *, allow_zero: bool = False) -> Validator:
    def check(value: Any) -> Decimal:
        text_value = _as_text(value)
        try:
            parsed = Decimal(text_value)
        except InvalidOperation:
            parsed = Decimal("NaN")
        if not parsed.is_finite() or parsed < low or (parsed == 0 and not allow_zero):
            bound = f"at least {low}" if allow_zero else f"greater than {low}"
            raise Invalid(f"must be a decimal number {bound}")
        return parsed

    return check


_CURRENCY = re.compile(r"[A-Z0-9]{2,10}")


def currency(value: Any) -> str:
    code = _as_text(value).upper()
    if not _CURRENCY.fullmatch(code):
        raise Invalid("must be a currency code of 2-10 letters or digits, e.g. USD")
    return code


def cash_amounts(value: Any) -> dict[str, Decimal]:
    """``USD=10000,BTC=0.5``: starting cash per currency."""
    result: dict[str, Decimal] = {}
    for item in filter(None, (part.strip() for part in _as_text(value).split(","))):
        code, sep, amount_text = item.partition("=")
        try:
            amount = Decimal(amount_text.strip())
        except InvalidOperation:
            amount = Decimal("NaN")
        if not sep or not _CURRENCY.fullmatch(code.strip().upper()) or not amount.is_finite() or amount < 0:
            raise Invalid("must be CUR=amount pairs separated by commas, e.g. USD=10000,BTC=0.5 (amounts >= 0)")
        result[code.strip().upper()] = amount
    if not result:
        raise Invalid("must name at least one currency, e.g. USD=10000")
    return result


_INSTRUMENT_KEYS = ("symbol", "tick_size", "lot_size", "min_quantity", "initial_price")
_INSTRUMENT_OPTIONAL = ("liquidity",)


def instruments(value: Any) -> dict[str, dict[str, Any]]:
    """The instrument list: each entry becomes an Instrument plus the venue's liquidity per tick."""
    if not isinstance(value, list) or not value:
        raise Invalid("must be a non-empty list of instruments (symbol, tick_size, lot_size, "
                      "min_quantity, initial_price, optional liquidity)")
    result: dict[str, dict[str, Any]] = {}
    for index, entry in enumerate(value):
        where = f"entry {index}"
        if not isinstance(entry, Mapping):
            raise Invalid(f"{where} must be a mapping of {', '.join(_INSTRUMENT_KEYS)}")
        unknown = set(entry) - set(_INSTRUMENT_KEYS) - set(_INSTRUMENT_OPTIONAL)
        missing = [k for k in _INSTRUMENT_KEYS if k not in entry]
        if unknown or missing:
            raise Invalid(
                f"{where} has {'unknown keys ' + ', '.join(sorted(unknown)) if unknown else ''}"
                f"{'; ' if unknown and missing else ''}{'missing ' + ', '.join(missing) if missing else ''}; "
                f"allowed: {', '.join(_INSTRUMENT_KEYS + _INSTRUMENT_OPTIONAL)}"
            )
        try:
            instrument = Instrument.create(
                str(entry["symbol"]),
                tick_size=str(entry["tick_size"]),
                lot_size=str(entry["lot_size"]),
                min_quantity=str(entry["min_quantity"]),
                initial_price=str(entry["initial_price"]),
            )
        except ValidationError as exc:
            raise Invalid(f"{where} ({entry.get('symbol')}): {exc.message}") from None
        if instrument.symbol in result:
            raise Invalid(f"{where}: {instrument.symbol} is listed twice")
        liquidity = entry.get("liquidity")
        liquidity_value = None
        if liquidity not in (None, ""):
            try:
                liquidity_value = decimal(Decimal(0))(liquidity)
            except Invalid as exc:
                raise Invalid(f"{where} ({instrument.symbol}): liquidity {exc}") from None
        result[instrument.symbol] = {"instrument": instrument, "liquidity": liquidity_value}
    return result


def url(value: Any) -> str:
    """Empty (off) or an http(s) URL without a path, e.g. http://collector:4318."""
    result = "" if value is None else _as_text(value)
    if result and not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+/?", result):
        raise Invalid("must be empty or an http(s) URL of a host and port, e.g. http://collector:4318")
    return result


def dns_label(value: Any) -> str:
    """A DNS-safe name; mixed case is accepted and lowercased (the caller reports the change)."""
    result = _as_text(value).lower()
    if not _DNS_LABEL.fullmatch(result):
        raise Invalid(
            "must be 1-63 characters of letters, digits and hyphens, "
            "starting and ending with a letter or digit"
        )
    return result


# Every key of config.yml and how it is parsed. A key not listed here is rejected, so a typo in a
# deployment's file fails loudly instead of being ignored.
SCHEMA: dict[str, Validator] = {
    "service.name": dns_label,
    "service.instance_name": text(256, allow_empty=True),  # DNS rule applied after defaulting
    "service.version": text(64, allow_empty=True),
    "service.environment": choice(*ENVIRONMENTS),
    "http.host": text(253),
    "http.port": integer(1, 65535),
    "http.shutdown_timeout_seconds": number(0, 3600),
    "grpc.port": integer(1, 65535),
    "logging.level": choice(*LOG_LEVELS, upper=True),
    "logging.format": choice(*LOG_FORMATS),
    "health.readiness_timeout_seconds": number(0, 60),
    "metrics.enabled": boolean,
    "metrics.backend": choice("prometheus", "opentelemetry", "none"),
    "metrics.otlp_endpoint": url,
    "metrics.otlp_export_interval_ms": integer(100, 3_600_000),
    "metrics.bearer_token": secret,
    "metrics.max_series_per_metric": integer(1, 100_000),
    "metrics.histogram_buckets": number_list,
    "http.max_body_bytes": integer(1024, 64 * 1024 * 1024),
    "auth.api_token": secret,
    "account.reporting_currency": currency,
    "account.initial_cash": cash_amounts,
    "instruments": instruments,
    "market.tick_interval_seconds": number(0, 60),
    "market.volatility_bps": number(0, 10_000, low_open=False),
    "market.seed": integer(0, 2**63 - 1),
    "market.stale_after_seconds": number(0, 3600),
    "venue.slippage_bps": decimal(Decimal(0), allow_zero=True),
    "venue.fee_bps": decimal(Decimal(0), allow_zero=True),
    "orders.timeout_seconds": number(0, 365 * 86400, low_open=False),
    "risk.max_order_notional": decimal(Decimal(0)),
    "risk.max_position_size": decimal(Decimal(0)),
    "risk.limit_threshold": decimal(Decimal(0)),
    "risk.allow_leverage": boolean,
    "persistence.db_path": text(4096),
    "persistence.synchronous": choice("FULL", "NORMAL", "EXTRA", upper=True),
    "strategies.enable_chaos": boolean,
    "strategies.resume_on_start": boolean,
    "strategies.max_instances": integer(1, 10_000),
    "strategies.max_position_notional": decimal(Decimal(0)),
    "strategies.max_orders_per_second": number(0, 1000),
    "strategies.max_open_orders": integer(1, 1000),
    "strategies.breaker_after_limit_hits": integer(1, 1_000_000),
    "strategies.limit_hits_window_seconds": number(0, 86_400),
    "strategies.performance_interval_seconds": number(0, 3600),
}

# Keys whose values are never printed, not even in a configuration error.
SECRET_KEYS = frozenset({"metrics.bearer_token", "auth.api_token"})
# Structured keys set in a config file only (no single environment variable).
FILE_ONLY_KEYS = frozenset({"instruments"})


@dataclass
class ValidatedConfig:
    """The normalised configuration, plus notices to log once logging is set up."""

    values: dict[str, Any]
    notices: list[dict[str, Any]] = field(default_factory=list)


def resolve_config_path(explicit: str | None, cwd: Path | None = None) -> Path:
    """``--config``/``TRADING_ENGINE_CONFIG`` if given, else ./config.yml, else the shipped file."""
    if explicit:
        return Path(explicit)
    local = (cwd or Path.cwd()) / "config.yml"
    return local if local.is_file() else SHIPPED_CONFIG


def read_yaml_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            "config file", str(path), f"not found; pass --config PATH or set {CONFIG_ENV_VAR}"
        ) from None
    except IsADirectoryError:
        raise ConfigError("config file", str(path), "is a directory; expected a YAML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("config file", str(path), f"cannot be read as UTF-8 text ({exc})") from None


def env_names(raw_text: str, path: Path) -> dict[str, str]:
    """Map each dotted key to the environment variable its value interpolates (for messages)."""
    document = parse_yaml(raw_text, path)
    return {key: m.group("name") for key, value in flatten(document) if isinstance(value, str)
            for m in [_ENV_MARKER.search(value)] if m}


def parse_yaml(raw_text: str, path: Path) -> dict[str, Any]:
    try:
        document = yaml.safe_load(raw_text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigError(
            "config file", str(path), f"is not valid YAML{where}: {problem}"
        ) from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError("config file", str(path), "must hold a YAML mapping of sections")
    return document


def flatten(tree: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from flatten(value, dotted + ".")
        else:
            yield dotted, value


def unflatten(items: Mapping[str, Any]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for dotted, value in items.items():
        node = tree
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


def validate(raw: Mapping[str, Any], env: Mapping[str, str] | None = None) -> ValidatedConfig:
    """Parse and normalise every value of ``raw`` (the interpolated, merged configuration)."""
    env = env or {}
    values: dict[str, Any] = {}
    seen = dict(flatten(raw))
    for key, value in seen.items():
        if key not in SCHEMA:
            section = key.rsplit(".", 1)[0] + "." if "." in key else ""
            siblings = sorted(k for k in SCHEMA if k.startswith(section)) or sorted(SCHEMA)
            raise ConfigError(key, value, f"unknown key; known keys: {', '.join(siblings)}")
    for key, check in SCHEMA.items():
        if key not in seen:
            raise ConfigError(key, None, "missing; the shipped config.yml defines it", env.get(key))
        try:
            values[key] = check(seen[key])
        except Invalid as exc:
            shown = "<redacted>" if key in SECRET_KEYS else seen[key]
            raise ConfigError(key, shown, str(exc), env.get(key)) from None

    notices: list[dict[str, Any]] = []
    instance = values["service.instance_name"] or values["service.name"]
    try:
        normalised = dns_label(instance)
    except Invalid as exc:
        raise ConfigError(
            "service.instance_name", instance, str(exc), env.get("service.instance_name")
        ) from None
    if normalised != instance:
        notices.append(
            {"event": "instance_name_normalised", "original": instance, "normalised": normalised}
        )
    values["service.instance_name"] = normalised
    values["service.version"] = values["service.version"] or __version__
    if not values["metrics.enabled"]:
        values["metrics.backend"] = "none"
    for key in ("venue.slippage_bps", "venue.fee_bps"):
        if values[key] >= 10_000:
            raise ConfigError(key, str(values[key]), "must be below 10000 (100%)", env.get(key))
    _check_currencies(values, env)
    if values["strategies.enable_chaos"] and values["service.environment"] == "production":
        raise ConfigError(
            "strategies.enable_chaos", True,
            "chaos strategies are refused in production; set it to false or use another environment",
            env.get("strategies.enable_chaos"),
        )
    if not values["auth.api_token"]:
        if values["service.environment"] == "production":
            raise ConfigError(
                "auth.api_token", "", "must be set in production: every POST/PUT/DELETE needs it",
                env.get("auth.api_token"),
            )
        values["auth.api_token"] = secrets.token_urlsafe(32)
        notices.append({"event": "api_token_generated", "printed_to": "stderr"})
    return ValidatedConfig(unflatten(values), notices)


def _check_currencies(values: Mapping[str, Any], env: Mapping[str, str]) -> None:
    """Every quote currency and every cash currency must convert into the reporting currency
    through a configured instrument, or equity and limits could not be computed."""
    reporting = values["account.reporting_currency"]
    configured = values["instruments"]
    symbols = set(configured)
    currencies = {entry["instrument"].quote for entry in configured.values()} | set(values["account.initial_cash"])
    for code in sorted(currencies - {reporting}):
        if f"{code}-{reporting}" not in symbols and f"{reporting}-{code}" not in symbols:
            raise ConfigError(
                "instruments", code,
                f"no instrument converts {code} into the reporting currency {reporting}; "
                f"configure {code}-{reporting} or {reporting}-{code}",
            )


def merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """Recursive dict merge: ``overlay`` wins; nested mappings are merged, not replaced."""
    result = dict(base)
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = merge(result[key], value)
        else:
            result[key] = value
    return result
