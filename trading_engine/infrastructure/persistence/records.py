"""What both stores share, so the memory store behaves exactly like SQLite.

- ``check_change_set``: a ``ChangeSet`` holds the domain's values; anything else fails the
  caller of ``commit`` with a ValidationError, before the change joins any batch, never the store.
  The values themselves are not checked again: the domain guarantees them. Each store turns them
  into its own rows.
- The checks on a strategy record (``StrategyRepository``'s format), ``keep_first_created`` for
  their upserts and ``check_strategy_status`` for ``list_strategies``.
- The cursor format and the checks on an ``OrderQuery``.
- The messages of ``StoreUnavailable``, one wording for both stores.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from trading_engine.domain.errors import ValidationError
from trading_engine.domain.instruments import SYMBOL_RULE, parse_symbol
from trading_engine.domain.orders import (
    Fill,
    OrderSnapshot,
    OrderStatus,
    parse_enum,
    parse_identifier,
    required_field,
)
from trading_engine.domain.portfolio import AccountSettings, CashBalance, PositionSnapshot
from trading_engine.domain.ports.repository import ChangeSet, OrderQuery
from trading_engine.domain.risk import BreakerState
from trading_engine.domain.timefmt import isoformat_exact, parse_timestamp

MAX_PAGE_SIZE = 1000
OPEN_STATUSES = (OrderStatus.OPEN.value, OrderStatus.PARTIALLY_FILLED.value)
"""The statuses ``load_state`` returns as open orders: resting on the venue."""
STRATEGY_STATUSES = ("running", "stopped", "error")
"""The values of a strategy record's ``status``."""


class StrategyRow(NamedTuple):
    """Column order of the SQLite upsert. ``created_at`` and ``updated_at`` are the record's
    timestamps in one exact UTC form (``isoformat_exact``), so they sort as text; ``data`` is the
    record as written, as JSON."""

    strategy_id: str
    strategy: str
    symbol: str
    status: str
    created_at: str
    updated_at: str
    data: str


def to_json(record: Mapping[str, Any], *, what: str) -> str:
    """``record`` as compact JSON; Decimals become strings (exact), anything else not JSON fails."""
    try:
        return json.dumps(record, separators=(",", ":"), allow_nan=False, default=_exact)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{what} cannot be stored as JSON: {exc}", field=what) from None


def _exact(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} {value!r} is not JSON serialisable")


_VALUES: tuple[tuple[str, type], ...] = (
    ("orders", OrderSnapshot),
    ("fills", Fill),
    ("positions", PositionSnapshot),
    ("cash", CashBalance),
)
_OPTIONAL_VALUES: tuple[tuple[str, type], ...] = (("breaker", BreakerState), ("account", AccountSettings))


def check_change_set(changes: object) -> ChangeSet:
    """``changes`` if it is a ``ChangeSet`` of the domain's values; a ValidationError naming the
    section otherwise."""
    if not isinstance(changes, ChangeSet):
        raise ValidationError(
            f"commit takes a ChangeSet, not {type(changes).__name__}", field="changes"
        )
    for section, kind in _VALUES:
        for value in getattr(changes, section):
            if not isinstance(value, kind):
                raise ValidationError(
                    f"ChangeSet.{section} holds {kind.__name__} values, not {type(value).__name__}",
                    field=section,
                )
    for section, kind in _OPTIONAL_VALUES:
        value = getattr(changes, section)
        if value is not None and not isinstance(value, kind):
            raise ValidationError(
                f"ChangeSet.{section} is a {kind.__name__} or None, not {type(value).__name__}", field=section
            )
    return changes


def _text(record: Mapping[str, Any], key: str, *, what: str, optional: bool = False) -> Any:
    value = required_field(record, key, record=what)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise ValidationError(
            f"{what} record field {key!r} must be a non-empty string, not {value!r}", field=key
        )
    return value


def strategy_row(record: object) -> StrategyRow:
    """A strategy record checked against the format ``StrategyRepository`` documents.

    Every value must already be JSON (``str``, ``int``, finite ``float``, ``bool``, None, lists and
    mappings with string keys), so that what a read returns equals what was written: a Decimal in
    ``params`` is refused rather than turned into a string behind the caller's back.
    """
    if not isinstance(record, Mapping):
        raise ValidationError(
            f"ChangeSet.strategies holds strategy records (mappings), not {type(record).__name__}",
            field="strategies",
        )
    what = "strategy"
    strategy_id = parse_identifier(required_field(record, "strategy_id", record=what), field="strategy_id")
    name = _text(record, "strategy", what=what)
    symbol = required_field(record, "symbol", record=what)
    if parse_symbol(symbol)[0] != symbol:
        raise ValidationError(f"symbol {symbol!r} is not valid; expected {SYMBOL_RULE}", field="symbol")
    params = required_field(record, "params", record=what)
    if not isinstance(params, Mapping):
        raise ValidationError(
            f"strategy record field 'params' must be a mapping, not {type(params).__name__}", field="params"
        )
    status = _strategy_status(required_field(record, "status", record=what))
    reason = required_field(record, "reason", record=what)
    if reason is not None and not isinstance(reason, str):
        raise ValidationError(
            f"strategy record field 'reason' must be a string or None, not {type(reason).__name__}",
            field="reason",
        )
    created_at = _utc_timestamp(record, "created_at")
    updated_at = _utc_timestamp(record, "updated_at")
    plain = {}
    for key, value in record.items():
        if not isinstance(key, str):
            raise ValidationError(f"strategy record has the key {key!r}; keys are strings", field="strategies")
        plain[key] = _json_copy(value, path=key, field=key)
    return StrategyRow(
        strategy_id=strategy_id,
        strategy=name,
        symbol=symbol,
        status=status,
        created_at=created_at,
        updated_at=updated_at,
        data=to_json(plain, what="strategy"),
    )


def _utc_timestamp(record: Mapping[str, Any], key: str) -> str:
    """The record's ``key`` as ``isoformat_exact`` text; it must be an ISO 8601 string in UTC."""
    text = required_field(record, key, record="strategy")
    moment = parse_timestamp(text, field=key)
    if datetime.fromisoformat(text).utcoffset() != timedelta(0):
        raise ValidationError(
            f"{key} {text!r} is not in UTC; expected e.g. 2026-01-02T03:04:05.678901Z", field=key
        )
    return isoformat_exact(moment)


def _json_copy(value: object, *, path: str, field: str) -> Any:
    """``value`` as plain JSON data (dicts and lists), checked to read back equal to itself: a
    ValidationError on ``field`` when it holds anything else."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError(f"strategy record field {path} is {value!r}, which JSON cannot hold", field=field)
        return value
    if isinstance(value, list):
        return [_json_copy(item, path=f"{path}[{index}]", field=field) for index, item in enumerate(value)]
    if isinstance(value, Mapping):
        copy = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValidationError(
                    f"strategy record field {path} has the key {key!r}; JSON keys are strings", field=field
                )
            copy[key] = _json_copy(item, path=f"{path}.{key}", field=field)
        return copy
    hint = ""
    if isinstance(value, Decimal):
        hint = " (write decimals as strings)"
    elif isinstance(value, tuple):
        hint = " (write a list, not a tuple)"
    raise ValidationError(
        f"strategy record field {path} is a {type(value).__name__}, not a JSON value{hint}", field=field
    )


def keep_first_created(rows: Iterable[StrategyRow], first: dict[str, StrategyRow]) -> list[StrategyRow]:
    """``rows`` as they are upserted, in order: a record already stored, or written earlier in
    ``rows``, keeps the ``created_at`` of its first write (in the column and in the record).

    ``first`` holds the stored rows of (at least) these strategy ids; rows seen for the first time
    are added to it.
    """
    upserts = []
    for row in rows:
        earlier = first.get(row.strategy_id)
        if earlier is None:
            first[row.strategy_id] = row
        else:
            record = json.loads(row.data)
            created_at = json.loads(earlier.data)["created_at"]
            if record["created_at"] != created_at:
                record["created_at"] = created_at
                row = row._replace(created_at=earlier.created_at, data=to_json(record, what="strategy"))
        upserts.append(row)
    return upserts


def check_strategy_status(status: object) -> str | None:
    """``list_strategies``' filter: None, or one of ``STRATEGY_STATUSES``."""
    return None if status is None else _strategy_status(status)


def _strategy_status(status: object) -> str:
    if not isinstance(status, str) or status not in STRATEGY_STATUSES:
        raise ValidationError(
            f"status {status!r} is not allowed; allowed: {', '.join(STRATEGY_STATUSES)}", field="status"
        )
    return status


@dataclass(frozen=True)
class ListFilter:
    """An ``OrderQuery`` checked: enum values as stored, the cursor decoded to a sequence number."""

    status: str | None
    symbol: str | None
    strategy_id: str | None
    limit: int
    before_seq: int | None


def check_query(query: OrderQuery) -> ListFilter:
    limit = query.limit
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValidationError(
            f"limit {limit!r} is not allowed; it must be a whole number from 1 to {MAX_PAGE_SIZE}",
            field="limit",
        )
    status = None if query.status is None else parse_enum(OrderStatus, query.status, field="status").value
    return ListFilter(
        status=status,
        symbol=query.symbol,
        strategy_id=query.strategy_id,
        limit=limit,
        before_seq=None if query.cursor is None else decode_cursor(query.cursor),
    )


_CURSOR_PREFIX = "o:"


def encode_cursor(seq: int) -> str:
    """An opaque cursor continuing below ``seq``: URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{seq}".encode()).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: object) -> int:
    """The sequence number in ``cursor``; a ValidationError on the field ``cursor`` otherwise."""
    shown = repr(cursor) if not isinstance(cursor, str) or len(cursor) <= 40 else repr(cursor[:40] + "...")
    problem = ValidationError(
        f"cursor {shown} is not valid; pass the next_cursor of the previous page unchanged, "
        "or no cursor for the first page",
        field="cursor",
    )
    if not isinstance(cursor, str) or not cursor or len(cursor) > 64:
        raise problem
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise problem from None
    digits = text.removeprefix(_CURSOR_PREFIX)
    if digits == text or not digits.isdigit() or not digits.isascii() or encode_cursor(int(digits)) != cursor:
        raise problem
    return int(digits)


def describe(exc: BaseException) -> str:
    """The error as one phrase for a message: its text, or its class name when it has none."""
    return str(exc) or type(exc).__name__


def write_failed(exc: BaseException) -> str:
    return f"the database could not record the change ({describe(exc)}); nothing was stored"


def refusing(exc: BaseException) -> str:
    return (
        f"the store refuses changes since a write failed ({describe(exc)}); nothing was stored. "
        "It accepts changes again once the state is reloaded and the store reset"
    )


NOT_RUNNING = "the trading store is not running (not started yet, or stopped)"
