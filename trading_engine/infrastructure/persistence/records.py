"""What the stores share, so the memory store, SQLite and PostgreSQL behave alike.

- ``rows_of``: a change set as rows (``Rows``), the same for SQLite and PostgreSQL.

- ``check_change_set``: a ``ChangeSet`` holds the domain's values; anything else fails the
  caller of ``commit`` with a ValidationError, before the change joins any batch, never the store.
  The values themselves are not checked again: the domain guarantees them. Each store turns them
  into its own rows.
- A ``StrategyRecord`` as a row and back (``strategy_row``, ``strategy_record``),
  ``keep_first_created`` for their upserts and ``check_strategy_status`` for ``list_strategies``.
- The cursor format and the checks on an ``OrderQuery``.
- ``check_aged_query`` and ``aged_from_rows``/``aged_from_grouped_rows`` for ``aged_orders``: the
  stored records as they are.
- The messages of ``StoreUnavailable``, one wording for both stores.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from trading_engine.domain.decimals import json_text, plain
from trading_engine.domain.errors import ValidationError
from trading_engine.domain.orders import (
    Fill,
    OrderSnapshot,
    OrderStatus,
    parse_enum,
    required_field,
)
from trading_engine.domain.portfolio import AccountSettings, CashBalance, PositionSnapshot
from trading_engine.domain.ports.repository import AgedOrder, ChangeSet, OrderQuery
from trading_engine.domain.risk import BreakerState
from trading_engine.domain.strategy_record import FoldedFills, StrategyRecord, StrategyStatus
from trading_engine.domain.timefmt import isoformat_exact, parse_timestamp, require_aware

MAX_PAGE_SIZE = 1000
OPEN_STATUSES = (OrderStatus.OPEN.value, OrderStatus.PARTIALLY_FILLED.value)
"""The statuses ``load_state`` returns as open orders: resting on the venue."""
TERMINAL_STATUSES = tuple(status.value for status in OrderStatus if status.is_terminal)
"""The statuses of orders the retention may take out of the store."""
MAX_AGED_BATCH = 10_000


class StrategyRow(NamedTuple):
    """Column order of the SQLite upsert. ``created_at`` and ``updated_at`` are the record's
    timestamps in one exact UTC form (``isoformat_exact``), so they sort as text; ``data`` is the
    record as JSON (``strategy_row``)."""

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
        return json_text(record)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{what} cannot be stored as JSON: {exc}", field=what) from None


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
    """A ``StrategyRecord`` as a row. ``data`` is the record as JSON, as schema version 2 stores
    it: its fields by name, the status as its value, timestamps as ``isoformat_exact`` text."""
    if not isinstance(record, StrategyRecord):
        raise ValidationError(
            f"ChangeSet.strategies holds StrategyRecord values, not {type(record).__name__}", field="strategies"
        )
    created_at, updated_at = isoformat_exact(record.created_at), isoformat_exact(record.updated_at)
    data = {
        "strategy_id": record.strategy_id,
        "strategy": record.strategy,
        "symbol": record.symbol,
        "params": dict(record.params),
        "status": record.status.value,
        "reason": record.reason,
        "created_at": created_at,
        "updated_at": updated_at,
    }
    return StrategyRow(
        strategy_id=record.strategy_id,
        strategy=record.strategy,
        symbol=record.symbol,
        status=record.status.value,
        created_at=created_at,
        updated_at=updated_at,
        data=to_json(data, what="strategy"),
    )


def strategy_record(data: str) -> StrategyRecord:
    """The record of a stored row's ``data``. Rows written before records were typed may spell a
    timestamp with an explicit ``+00:00`` offset (read as the same instant) and hold other keys
    (ignored)."""
    stored = json.loads(data)
    return StrategyRecord(
        strategy_id=stored["strategy_id"],
        strategy=stored["strategy"],
        symbol=stored["symbol"],
        params=stored["params"],
        status=parse_enum(StrategyStatus, stored["status"], field="status"),
        reason=stored["reason"],
        created_at=parse_timestamp(stored["created_at"], field="created_at"),
        updated_at=parse_timestamp(stored["updated_at"], field="updated_at"),
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
    """``list_strategies``' filter: None, or the value of a ``StrategyStatus``."""
    return None if status is None else parse_enum(StrategyStatus, status, field="status").value


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


def latest_of(updated: Iterable[str | None], breaker: BreakerState | None) -> datetime | None:
    """``latest_update`` of a store: the newest of the stored ``updated_at`` texts (exact UTC
    text, None for a table without rows) and the breaker's trip and reset."""
    times = [parse_timestamp(text, field="updated_at") for text in updated if text is not None]
    if breaker is not None:
        times += [at for at in (breaker.tripped_at, breaker.reset_at) if at is not None]
    return max(times, default=None)


def check_aged_query(cutoff: object, limit: object) -> str:
    """``aged_orders``' arguments checked; the cutoff as the exact UTC text the rows hold."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_AGED_BATCH:
        raise ValidationError(
            f"limit {limit!r} is not allowed; it must be a whole number from 1 to {MAX_AGED_BATCH}", field="limit"
        )
    return isoformat_exact(require_aware(cutoff, field="cutoff"))


def aged_from_rows(orders: Sequence[Sequence[str]], fills: Iterable[Sequence[str]]) -> list[AgedOrder]:
    """``aged_orders``' answer from its rows: ``(order_id, data)`` of the orders, oldest first, and
    of their fills in the store's order, ``data`` holding each value's ``to_dict()`` as JSON. The
    records are handed on as they were stored, never parsed into domain objects (``AgedOrder``)."""
    fills = list(fills)
    records: dict[str, list[Mapping[str, Any]]] = {row[0]: [] for row in orders}
    for (order_id, _data), record in zip(fills, _json_objects(row[1] for row in fills), strict=True):
        records[order_id].append(record)
    return [AgedOrder(record, tuple(records[order_id]))
            for (order_id, _data), record in zip(orders, _json_objects(row[1] for row in orders), strict=True)]


def aged_from_grouped_rows(rows: Sequence[Sequence[str]]) -> list[AgedOrder]:
    """``aged_from_rows`` for rows ``(order_id, data, fills)``, ``fills`` the JSON array of the
    order's fills' ``data`` in the store's order."""
    parsed = _json_objects(text for row in rows for text in (row[1], row[2]))
    return [AgedOrder(parsed[2 * n], tuple(parsed[2 * n + 1])) for n in range(len(rows))]


def _json_objects(texts: Iterable[str]) -> list[Any]:
    """Stored JSON values parsed in one ``json.loads`` (as one array: half the cost of one call each)."""
    return json.loads(f"[{','.join(texts)}]")  # type: ignore[no-any-return]


def check_deletion(
    order_ids: Sequence[str], folded: Sequence[FoldedFills]
) -> tuple[list[str], list[tuple[str, str]]]:
    """``delete_orders``' arguments checked: the ids once each, and the folded fills as rows
    ``(strategy_id, data)``, the last one of a strategy winning."""
    if isinstance(order_ids, str) or any(not isinstance(item, str) for item in order_ids):
        raise ValidationError("order_ids must be a sequence of order id strings", field="order_ids")
    rows: dict[str, str] = {}
    for item in folded:
        if not isinstance(item, FoldedFills):
            raise ValidationError(f"folded holds FoldedFills values, not {type(item).__name__}", field="folded")
        rows[item.strategy_id] = to_json(item.to_dict(), what="folded fills")
    return list(dict.fromkeys(order_ids)), list(rows.items())


def check_fill_ids(fill_ids: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """``fills_for_strategies_through``'s argument checked: each instance's fill ids once each."""
    if not isinstance(fill_ids, Mapping) or any(
        not isinstance(key, str) or isinstance(ids, str) or any(not isinstance(item, str) for item in ids)
        for key, ids in fill_ids.items()
    ):
        raise ValidationError(
            "fill_ids must map strategy id strings to sequences of fill id strings", field="fill_ids"
        )
    return {key: list(dict.fromkeys(ids)) for key, ids in fill_ids.items()}


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


class OrderRow(NamedTuple):
    """Column order of the order upsert; ``data`` is the full ``OrderSnapshot.to_dict()`` as JSON."""

    order_id: str
    client_order_id: str | None
    symbol: str
    side: str
    type: str
    status: str
    strategy_id: str | None
    created_at: str
    updated_at: str
    data: str


@dataclass(frozen=True)
class Rows:
    """One change set as rows, in the order it is written: each tuple matches its statement's
    parameters (``data`` columns hold the value's ``to_dict()`` as JSON)."""

    orders: tuple[OrderRow, ...] = ()
    fills: tuple[tuple[str, str, str | None, str], ...] = ()  # fill_id, order_id, strategy_id, data
    positions: tuple[tuple[str, str], ...] = ()  # symbol, data
    cash: tuple[tuple[str, str, str], ...] = ()  # currency, balance, reserved
    breaker: str | None = None
    account: str | None = None
    strategies: tuple[StrategyRow, ...] = ()


def rows_of(changes: ChangeSet) -> Rows:
    """``changes`` as rows; a ValidationError when it holds anything but the domain's values."""
    changes = check_change_set(changes)
    return Rows(
        orders=tuple(_order_row(snapshot) for snapshot in changes.orders),
        fills=tuple(
            (fill.fill_id, fill.order_id, fill.strategy_id, to_json(fill.to_dict(), what="fill"))
            for fill in changes.fills
        ),
        positions=tuple((p.symbol, to_json(p.to_dict(), what="position")) for p in changes.positions),
        cash=tuple((c.currency, plain(c.balance), plain(c.reserved)) for c in changes.cash),
        breaker=None if changes.breaker is None else to_json(changes.breaker.to_dict(), what="breaker"),
        account=None if changes.account is None else to_json(changes.account.to_dict(), what="account"),
        strategies=tuple(strategy_row(record) for record in changes.strategies),
    )


def _order_row(snapshot: OrderSnapshot) -> OrderRow:
    request = snapshot.request
    data = snapshot.to_dict()
    return OrderRow(
        order_id=snapshot.order_id,
        client_order_id=request.client_order_id,
        symbol=request.symbol,
        side=request.side.value,
        type=request.type.value,
        status=snapshot.status.value,
        strategy_id=request.strategy_id,
        created_at=data["created_at"],
        updated_at=data["updated_at"],
        data=to_json(data, what="order"),
    )


class IncompatibleSchema(RuntimeError):
    """The database (file or schema) was written by a newer version of the service than this one."""
