"""The value types of the configuration: a pydantic type per kind of setting, each with its rule.

A type carries its constraints (so they reach the JSON schema) and one sentence saying what is
allowed (so a bad value is reported in the words of the rule, not pydantic's). Scalars arrive as
the strings ``${VAR:default}`` interpolation produces, or as what YAML made of a user's unquoted
value; :func:`scalar` turns either into stripped text before pydantic parses it.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    GetJsonSchemaHandler,
    ValidationError,
    WithJsonSchema,
    WrapValidator,
)
from pydantic_core import PydanticCustomError

from trading_engine.domain.instruments import CURRENCY_PATTERN

VALUE_ERROR = "config_value"


def rule(allowed: str) -> WrapValidator:
    """Report any failure of the wrapped type as ``allowed`` (e.g. "must be an integer from 1 to 9")."""

    def check(value: Any, handler: Any) -> Any:
        try:
            return handler(value)
        except (ValidationError, ValueError):
            raise PydanticCustomError(VALUE_ERROR, allowed) from None

    return WrapValidator(check)


def scalar(value: Any) -> str:
    """A scalar as stripped text; a mapping, a list or a boolean where a scalar belongs is refused."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise ValueError("not a scalar")
    return str(value).strip()


class QuotedToo:
    """In the JSON schema: the typed value, or the same value quoted (as config.yml writes it)."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: GetJsonSchemaHandler) -> Any:
        return {"anyOf": [handler(core_schema), {"type": "string", "pattern": self.pattern}]}


def Integer(low: int, high: int) -> Any:
    return Annotated[
        int, Field(ge=low, le=high), BeforeValidator(scalar), rule(f"must be an integer from {low} to {high}"),
        QuotedToo(r"^\s*[+-]?[0-9]+\s*$"),
    ]


def Number(low: float, high: float, *, low_open: bool = True) -> Any:
    bound = Field(gt=low) if low_open else Field(ge=low)
    allowed = f"{'greater than' if low_open else 'at least'} {low:g} and at most {high:g}"
    return Annotated[
        float, bound, Field(le=high, allow_inf_nan=False), BeforeValidator(scalar),
        rule(f"must be a number {allowed}"), QuotedToo(r"^\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\s*$"),
    ]


def PositiveDecimal() -> Any:
    return Annotated[
        Decimal, Field(gt=0, allow_inf_nan=False), BeforeValidator(scalar),
        rule("must be a decimal number greater than 0"),
    ]


def Bps() -> Any:
    """Basis points of a price: from 0 up to, not including, 10000 (100%)."""
    return Annotated[
        Decimal, Field(ge=0, lt=10_000, allow_inf_nan=False), BeforeValidator(scalar),
        rule("must be a decimal number at least 0 and below 10000 (100%)"),
    ]


def Choice(*options: str, upper: bool = False) -> Any:
    def fold(value: Any) -> str:
        return scalar(value).upper() if upper else scalar(value).lower()

    return Annotated[
        Literal[options], BeforeValidator(fold), rule(f"must be one of {', '.join(options)} (case-insensitive)")
    ]


def Text(max_length: int, *, allow_empty: bool = False) -> Any:
    kind = "printable text" if allow_empty else "non-empty printable text"
    return Annotated[
        str,
        Field(min_length=0 if allow_empty else 1, max_length=max_length, pattern=r"^[^\x00-\x1f]*$"),
        BeforeValidator(scalar),
        rule(f"must be {kind} of at most {max_length} characters"),
    ]


Boolean = Annotated[
    bool, BeforeValidator(lambda value: value if isinstance(value, bool) else scalar(value).lower()),
    rule("must be true or false (also accepted: 1/0, yes/no, on/off)"),
    QuotedToo(r"^\s*([Tt]rue|TRUE|[Ff]alse|FALSE|1|0|[Yy]es|YES|[Nn]o|NO|[Oo]n|ON|[Oo]ff|OFF)\s*$"),
]

# A DNS label: 1-63 letters, digits and hyphens, alphanumeric at both ends.
def _dns_label(alnum: str) -> str:
    return f"[{alnum}](?:[{alnum}-]{{0,61}}[{alnum}])?"


DNS_RULE = "must be 1-63 characters of letters, digits and hyphens, starting and ending with a letter or digit"
DnsLabel = Annotated[
    str, Field(pattern=f"^{_dns_label('a-z0-9')}$"), BeforeValidator(lambda value: scalar(value).lower()),
    rule(DNS_RULE),
]
# The same rule in any case, or empty; the model lowercases it (and says so) once it is defaulted.
OptionalDnsLabel = Annotated[
    str, Field(pattern=f"^(?:{_dns_label('A-Za-z0-9')})?$"), BeforeValidator(scalar), rule(DNS_RULE)
]

Url = Annotated[
    str, Field(pattern=r"^$|^https?://[A-Za-z0-9.\-\[\]:]+/?$"), BeforeValidator(scalar),
    rule("must be empty or an http(s) URL of a host and port, e.g. http://collector:4318"),
]

# A PostgreSQL URL, or empty. Write-only like a token (it holds a password); errors show it with
# the password replaced (errors.py).
DatabaseUrl = Annotated[
    str, Field(pattern=r"^$|^postgres(?:ql)?://\S+$", json_schema_extra={"writeOnly": True, "redact": "url"}),
    BeforeValidator(scalar),
    rule("must be empty or a PostgreSQL URL, e.g. postgresql://engine:secret@db:5432/trading_ecosystem"),
]

# A PostgreSQL schema name, or empty (derived from service.instance_name).
SchemaName = Annotated[
    str, Field(pattern=r"^$|^[a-z_][a-z0-9_]{0,62}$"), BeforeValidator(scalar),
    rule("must be empty or 1-63 lowercase letters, digits and underscores, not starting with a digit"),
]

# A token: empty (off) or 16-256 visible ASCII characters. Write-only: never echoed, not even in an error.
Secret = Annotated[
    str, Field(pattern=r"^$|^[!-~]{16,256}$", json_schema_extra={"writeOnly": True}), BeforeValidator(scalar),
    rule("must be empty or 16-256 visible ASCII characters without spaces"),
]

DecimalValue = Annotated[
    Decimal, Field(allow_inf_nan=False), BeforeValidator(scalar), rule("must be a decimal number")
]

Currency = Annotated[
    str, Field(pattern=f"^{CURRENCY_PATTERN.pattern}$"), BeforeValidator(lambda value: scalar(value).upper()),
    rule("must be a currency code of 2-10 letters or digits, e.g. USD"),
]


def _items(value: Any) -> Any:
    """A comma-separated string as its items; a YAML list or mapping as it is."""
    if isinstance(value, (list, tuple, dict)):
        return value
    return [item.strip() for item in scalar(value).split(",")]


def _increasing(buckets: tuple[float, ...]) -> tuple[float, ...]:
    if list(buckets) != sorted(set(buckets)):
        raise ValueError("not strictly increasing")
    return buckets


Buckets = Annotated[
    tuple[Annotated[float, Field(gt=0, allow_inf_nan=False)], ...],
    Field(min_length=1),
    AfterValidator(_increasing),
    BeforeValidator(_items, json_schema_input_type=str | list[float]),
    rule("must be a comma-separated list of positive, strictly increasing numbers"),
]


ImportPaths = Annotated[
    tuple[Annotated[str, Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")], ...],
    BeforeValidator(lambda value: [item for item in _items(value) if item], json_schema_input_type=str | list[str]),
    rule("must be import paths package.module:NAME separated by commas (empty: none)"),
]


def _file_pairs(value: Any) -> Any:
    """``BTC-USD=a.csv;b.csv.gz,ETH-USD=c.csv`` as ``{"BTC-USD": ["a.csv", "b.csv.gz"], ...}``;
    a YAML mapping (of a path or a list of paths) as it is."""
    if isinstance(value, dict):
        return {str(k).strip().upper(): ([v] if isinstance(v, str) else v) for k, v in value.items()}
    pairs = [item.partition("=") for item in _items(value) if item]
    if any(not sep for _, sep, _ in pairs):
        raise ValueError("not SYMBOL=file")
    return {symbol.strip().upper(): [p.strip() for p in paths.split(";") if p.strip()] for symbol, _, paths in pairs}


ReplayFiles = Annotated[
    dict[str, Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]],
    BeforeValidator(_file_pairs, json_schema_input_type=str | dict[str, str | list[str]]),
    rule("must be SYMBOL=file pairs separated by commas, several files of one symbol separated by ';' "
         "(e.g. BTC-USD=data/day1.csv;data/day2.csv.gz), or empty"),
]


def _cash_pairs(value: Any) -> Any:
    """``USD=10000,BTC=0.5`` as ``{"USD": "10000", "BTC": "0.5"}``; a YAML mapping as it is."""
    items = _items(value)
    if isinstance(items, dict):
        return {str(code).strip().upper(): amount for code, amount in items.items()}
    pairs = [item.partition("=") for item in items if item]
    if any(not sep for _, sep, _ in pairs):
        raise ValueError("not CUR=amount")
    return {code.strip().upper(): amount.strip() for code, _, amount in pairs}


CashAmounts = Annotated[
    dict[
        Annotated[str, Field(pattern=f"^{CURRENCY_PATTERN.pattern}$")],
        Annotated[Decimal, Field(ge=0, allow_inf_nan=False)],
    ],
    Field(min_length=1),
    BeforeValidator(_cash_pairs, json_schema_input_type=str | dict[str, Decimal]),
    rule("must be CUR=amount pairs separated by commas, e.g. USD=10000,BTC=0.5 (amounts >= 0, "
         "at least one currency)"),
]


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([smhd])$")
DURATION_PATTERN = r"^\s*(0|[0-9]+(\.[0-9]+)?[smhdSMHD])\s*$"


def Duration(*, zero: str | None = None, most: timedelta = timedelta(days=3650)) -> Any:
    """A duration as a number and a unit: ``90s``, ``15m``, ``12h``, ``30d``. ``0`` is allowed
    only when ``zero`` says what it means (e.g. "keeps everything")."""
    limit = f"at most {most.days}d"
    allowed = (f"must be a duration such as 90s, 15m, 12h or 30d ({limit})"
               + (f", or 0 ({zero})" if zero else ", greater than 0"))

    def parse(value: Any) -> timedelta:
        text = scalar(value).lower()
        if text == "0" and zero:
            return timedelta(0)
        match = _DURATION.match(text)
        if match is None:
            raise ValueError("not a duration")
        duration = timedelta(seconds=float(match.group(1)) * _DURATION_UNITS[match.group(2)])
        if not timedelta(0) < duration <= most:
            raise ValueError("out of range")
        return duration

    return Annotated[
        timedelta, BeforeValidator(parse), rule(allowed),
        WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN, "description": allowed.removeprefix("must be ").capitalize()}),
    ]
