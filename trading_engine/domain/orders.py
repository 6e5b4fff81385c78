"""Orders, fills and the order lifecycle.

An order moves between statuses only through its methods (``accept``, ``reject``, ``apply_fill``,
``cancel``, ``expire``), and only along the pairs in ``TRANSITIONS``; anything else raises
``IllegalTransition`` and leaves the order unchanged. Terminal statuses (filled, cancelled,
rejected, expired) never change. A market order may be filled, partly filled or cancelled
straight from ``new`` because it executes on arrival; an immediate-or-cancel order with nothing
to fill goes ``new -> cancelled``.

The average fill price is the volume-weighted average of the fills: the order keeps the exact sum
of ``quantity * price`` over its fills and divides once, so it never accumulates rounding.

Dictionaries (``to_dict``/``from_dict``) carry decimals as strings, timestamps as UTC ISO 8601
strings with microseconds and enums as their values, so a round trip is exact.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Any, TypeVar

from trading_engine.domain.decimals import ZERO, non_negative, plain, positive
from trading_engine.domain.errors import IllegalTransition, ValidationError
from trading_engine.domain.instruments import parse_currency, parse_symbol
from trading_engine.domain.timefmt import isoformat_exact, parse_timestamp, require_aware


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        """+1 for a buy, -1 for a sell: the direction a fill moves a position."""
        return 1 if self is Side.BUY else -1


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"


class TimeInForce(StrEnum):
    GTC = "gtc"
    IOC = "ioc"


class OrderStatus(StrEnum):
    NEW = "new"
    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def is_terminal(self) -> bool:
        """Filled, cancelled, rejected or expired: the order will never change again."""
        return self in _TERMINAL

    @property
    def is_open(self) -> bool:
        """Resting on the venue: open or partially filled."""
        return self in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED)


_TERMINAL = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
)


class RejectReason(StrEnum):
    """Why pre-trade checks refused an order; ``description`` explains each for API documentation."""

    UNKNOWN_SYMBOL = "unknown_symbol"
    QUANTITY_BELOW_MINIMUM = "quantity_below_minimum"
    QUANTITY_OFF_LOT = "quantity_off_lot"
    PRICE_OFF_TICK = "price_off_tick"
    MAX_ORDER_NOTIONAL_EXCEEDED = "max_order_notional_exceeded"
    MAX_POSITION_EXCEEDED = "max_position_exceeded"
    GROSS_EXPOSURE_EXCEEDED = "gross_exposure_exceeded"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    CIRCUIT_BREAKER_OPEN = "circuit_breaker_open"
    MARKET_DATA_STALE = "market_data_stale"

    @property
    def description(self) -> str:
        return REJECT_REASON_DESCRIPTIONS[self]


REJECT_REASON_DESCRIPTIONS: Mapping[RejectReason, str] = MappingProxyType(
    {
        RejectReason.UNKNOWN_SYMBOL: "The symbol is not one of the configured instruments.",
        RejectReason.QUANTITY_BELOW_MINIMUM: "The quantity is below the instrument's minimum order size.",
        RejectReason.QUANTITY_OFF_LOT: "The quantity is not a whole number of the instrument's lot size.",
        RejectReason.PRICE_OFF_TICK: "The limit price is not a whole number of the instrument's tick size.",
        RejectReason.MAX_ORDER_NOTIONAL_EXCEEDED: "The order's value exceeds the largest single order allowed.",
        RejectReason.MAX_POSITION_EXCEEDED: (
            "The position after this order and the open orders on the same side would exceed the "
            "per-symbol position limit."
        ),
        RejectReason.GROSS_EXPOSURE_EXCEEDED: (
            "The order would take the account's gross exposure over its limit."
        ),
        RejectReason.INSUFFICIENT_FUNDS: (
            "The estimated cost of the buy, fees included, exceeds the unreserved cash in the quote currency."
        ),
        RejectReason.CIRCUIT_BREAKER_OPEN: "Trading is halted by the circuit breaker until it is reset.",
        RejectReason.MARKET_DATA_STALE: "There is no recent price for the instrument, so the order cannot be valued.",
    }
)

TRANSITIONS: frozenset[tuple[OrderStatus, OrderStatus]] = frozenset(
    {
        (OrderStatus.NEW, OrderStatus.OPEN),
        (OrderStatus.NEW, OrderStatus.REJECTED),
        (OrderStatus.NEW, OrderStatus.FILLED),
        (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED),
        (OrderStatus.NEW, OrderStatus.CANCELLED),
        (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED),
        (OrderStatus.OPEN, OrderStatus.FILLED),
        (OrderStatus.OPEN, OrderStatus.CANCELLED),
        (OrderStatus.OPEN, OrderStatus.EXPIRED),
        (OrderStatus.PARTIALLY_FILLED, OrderStatus.PARTIALLY_FILLED),
        (OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED),
        (OrderStatus.PARTIALLY_FILLED, OrderStatus.CANCELLED),
        (OrderStatus.PARTIALLY_FILLED, OrderStatus.EXPIRED),
    }
)
"""Every allowed ``(from, to)`` status pair; the one place the lifecycle is defined."""

IDENTIFIER_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,64}")
IDENTIFIER_RULE = "1-64 letters, digits, '.', '_', ':' or '-'"

_E = TypeVar("_E", bound=StrEnum)


def parse_enum(kind: type[_E], value: object, *, field: str) -> _E:
    """``value`` as a member of ``kind``, given as the member or its exact value."""
    if isinstance(value, kind):
        return value
    if isinstance(value, str):
        try:
            return kind(value)
        except ValueError:
            pass
    allowed = ", ".join(member.value for member in kind)
    raise ValidationError(f"{field} {value!r} is not allowed; allowed: {allowed}", field=field)


def parse_identifier(value: object, *, field: str) -> str:
    if not isinstance(value, str) or IDENTIFIER_PATTERN.fullmatch(value) is None:
        raise ValidationError(f"{field} {value!r} is not valid; expected {IDENTIFIER_RULE}", field=field)
    return value


def optional_identifier(value: object, *, field: str) -> str | None:
    return None if value is None else parse_identifier(value, field=field)


def required_field(data: Mapping[str, Any], key: str, *, record: str) -> Any:
    """``data[key]`` of a stored ``record``; a ValidationError naming the key when it is absent."""
    if key not in data:
        raise ValidationError(
            f"{record} record has no {key!r}; it needs every field to_dict writes", field=key
        )
    return data[key]


@dataclass(frozen=True)
class Fill:
    """An execution of part or all of an order on the venue.

    ``quantity`` and ``price`` are greater than 0; ``fee`` is 0 or more and is charged in
    ``fee_currency``, which must be the quote currency of ``symbol``. Decimal fields also accept
    ints and numeric strings, converted exactly.
    """

    fill_id: str
    order_id: str
    symbol: str
    side: Side
    quantity: Decimal
    price: Decimal
    fee: Decimal
    fee_currency: str
    timestamp: datetime
    strategy_id: str | None = None

    def __post_init__(self) -> None:
        parse_identifier(self.fill_id, field="fill_id")
        parse_identifier(self.order_id, field="order_id")
        symbol, _base, quote = parse_symbol(self.symbol)
        fee_currency = parse_currency(self.fee_currency, field="fee_currency")
        if fee_currency != quote:
            raise ValidationError(
                f"fee_currency {fee_currency} is not allowed for {symbol}; fees are charged in the "
                f"quote currency {quote}",
                field="fee_currency",
            )
        optional_identifier(self.strategy_id, field="strategy_id")
        set_ = object.__setattr__
        set_(self, "symbol", symbol)
        set_(self, "fee_currency", fee_currency)
        set_(self, "side", parse_enum(Side, self.side, field="side"))
        set_(self, "quantity", positive(self.quantity, field="quantity"))
        set_(self, "price", positive(self.price, field="price"))
        set_(self, "fee", non_negative(self.fee, field="fee"))
        require_aware(self.timestamp, field="timestamp")

    @property
    def notional(self) -> Decimal:
        """``quantity * price`` in the quote currency, fees excluded."""
        return self.quantity * self.price

    def to_dict(self) -> dict[str, Any]:
        return {
            "fill_id": self.fill_id,
            "order_id": self.order_id,
            "symbol": self.symbol,
            "side": self.side.value,
            "quantity": plain(self.quantity),
            "price": plain(self.price),
            "fee": plain(self.fee),
            "fee_currency": self.fee_currency,
            "timestamp": isoformat_exact(self.timestamp),
            "strategy_id": self.strategy_id,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fill:
        def get(key: str) -> Any:
            return required_field(data, key, record="fill")

        return cls(
            fill_id=get("fill_id"),
            order_id=get("order_id"),
            symbol=get("symbol"),
            side=get("side"),
            quantity=get("quantity"),
            price=get("price"),
            fee=get("fee"),
            fee_currency=get("fee_currency"),
            timestamp=parse_timestamp(get("timestamp"), field="timestamp"),
            strategy_id=data.get("strategy_id"),
        )


RequestFingerprint = tuple[str, Side, OrderType, Decimal, Decimal | None, TimeInForce, str | None]

_VERBS: Mapping[OrderStatus, str] = MappingProxyType(
    {
        OrderStatus.OPEN: "accepted",
        OrderStatus.REJECTED: "rejected",
        OrderStatus.PARTIALLY_FILLED: "filled",
        OrderStatus.FILLED: "filled",
        OrderStatus.CANCELLED: "cancelled",
        OrderStatus.EXPIRED: "expired",
    }
)

_FILLED_STATUSES = (OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED)


def _join_or(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


class Order:
    """An order and its lifecycle. Build one with ``Order.create`` (a new request) or
    ``Order.from_dict`` (a stored one); both validate, the constructor trusts its arguments.

    ``order_id`` is generated by the caller and is unique; it is never derived from the symbol or
    side. ``client_order_id`` is the client's own key for idempotent retries.
    """

    __slots__ = (
        "_order_id",
        "_client_order_id",
        "_symbol",
        "_side",
        "_type",
        "_quantity",
        "_limit_price",
        "_time_in_force",
        "_strategy_id",
        "_status",
        "_filled_quantity",
        "_filled_notional",
        "_fees",
        "_reject_reason",
        "_reject_message",
        "_cancel_reason",
        "_created_at",
        "_updated_at",
    )

    def __init__(
        self,
        *,
        order_id: str,
        client_order_id: str | None,
        symbol: str,
        side: Side,
        type: OrderType,
        quantity: Decimal,
        limit_price: Decimal | None,
        time_in_force: TimeInForce,
        created_at: datetime,
        strategy_id: str | None = None,
        status: OrderStatus = OrderStatus.NEW,
        filled_quantity: Decimal = ZERO,
        filled_notional: Decimal = ZERO,
        fees: Decimal = ZERO,
        reject_reason: RejectReason | None = None,
        reject_message: str | None = None,
        cancel_reason: str | None = None,
        updated_at: datetime | None = None,
    ) -> None:
        self._order_id = order_id
        self._client_order_id = client_order_id
        self._symbol = symbol
        self._side = side
        self._type = type
        self._quantity = quantity
        self._limit_price = limit_price
        self._time_in_force = time_in_force
        self._strategy_id = strategy_id
        self._status = status
        self._filled_quantity = filled_quantity
        self._filled_notional = filled_notional
        self._fees = fees
        self._reject_reason = reject_reason
        self._reject_message = reject_message
        self._cancel_reason = cancel_reason
        self._created_at = created_at
        self._updated_at = created_at if updated_at is None else updated_at

    @classmethod
    def create(
        cls,
        *,
        order_id: str,
        symbol: str,
        side: Side | str,
        type: OrderType | str,
        quantity: Decimal | int | str,
        created_at: datetime,
        limit_price: Decimal | int | str | None = None,
        time_in_force: TimeInForce | str = TimeInForce.GTC,
        client_order_id: str | None = None,
        strategy_id: str | None = None,
    ) -> Order:
        """A new order (status ``new``) from a client's request.

        Rules: quantity is a finite number greater than 0; a limit order needs a limit price
        greater than 0 and a market order must not have one; the symbol is normalised to
        ``BASE-QUOTE`` upper case. Whether the symbol is a configured instrument, and whether the
        quantity and price fit its grid, is for the pre-trade checks, which reject with a reason.
        """
        order_type = parse_enum(OrderType, type, field="type")
        symbol_, _base, _quote = parse_symbol(symbol)
        if order_type is OrderType.LIMIT and limit_price is None:
            raise ValidationError(
                "limit_price is required for a limit order; give a price greater than 0",
                field="limit_price",
            )
        if order_type is OrderType.MARKET and limit_price is not None:
            raise ValidationError(
                "limit_price is not allowed for a market order; omit it or use type limit",
                field="limit_price",
            )
        return cls(
            order_id=parse_identifier(order_id, field="order_id"),
            client_order_id=optional_identifier(client_order_id, field="client_order_id"),
            symbol=symbol_,
            side=parse_enum(Side, side, field="side"),
            type=order_type,
            quantity=positive(quantity, field="quantity"),
            limit_price=None if limit_price is None else positive(limit_price, field="limit_price"),
            time_in_force=parse_enum(TimeInForce, time_in_force, field="time_in_force"),
            strategy_id=optional_identifier(strategy_id, field="strategy_id"),
            created_at=require_aware(created_at, field="created_at"),
        )

    @property
    def order_id(self) -> str:
        return self._order_id

    @property
    def client_order_id(self) -> str | None:
        return self._client_order_id

    @property
    def symbol(self) -> str:
        return self._symbol

    @property
    def side(self) -> Side:
        return self._side

    @property
    def type(self) -> OrderType:
        return self._type

    @property
    def quantity(self) -> Decimal:
        return self._quantity

    @property
    def limit_price(self) -> Decimal | None:
        return self._limit_price

    @property
    def time_in_force(self) -> TimeInForce:
        return self._time_in_force

    @property
    def strategy_id(self) -> str | None:
        return self._strategy_id

    @property
    def status(self) -> OrderStatus:
        return self._status

    @property
    def filled_quantity(self) -> Decimal:
        return self._filled_quantity

    @property
    def remaining_quantity(self) -> Decimal:
        return self._quantity - self._filled_quantity

    @property
    def filled_notional(self) -> Decimal:
        """The exact sum of ``quantity * price`` over the fills, in the quote currency."""
        return self._filled_notional

    @property
    def average_fill_price(self) -> Decimal | None:
        """The volume-weighted average fill price; None before the first fill."""
        if self._filled_quantity == 0:
            return None
        return self._filled_notional / self._filled_quantity

    @property
    def fees(self) -> Decimal:
        """Fees charged by all fills so far, in the quote currency."""
        return self._fees

    @property
    def reject_reason(self) -> RejectReason | None:
        return self._reject_reason

    @property
    def reject_message(self) -> str | None:
        return self._reject_message

    @property
    def cancel_reason(self) -> str | None:
        return self._cancel_reason

    @property
    def created_at(self) -> datetime:
        return self._created_at

    @property
    def updated_at(self) -> datetime:
        return self._updated_at

    def accept(self, at: datetime) -> None:
        """``new -> open``: the order passed its checks and rests on the venue."""
        self._move(OrderStatus.OPEN, at)

    def reject(self, reason: RejectReason, message: str, at: datetime) -> None:
        """``new -> rejected`` with the reason code and a message naming what failed."""
        reason = parse_enum(RejectReason, reason, field="reject_reason")
        self._move(OrderStatus.REJECTED, at)
        self._reject_reason = reason
        self._reject_message = message

    def cancel(self, at: datetime, reason: str | None = None) -> None:
        """``new, open or partially_filled -> cancelled``; the filled part stays filled."""
        self._move(OrderStatus.CANCELLED, at)
        self._cancel_reason = reason

    def expire(self, at: datetime) -> None:
        """``open or partially_filled -> expired``."""
        self._move(OrderStatus.EXPIRED, at)

    def apply_fill(self, fill: Fill) -> None:
        """Record ``fill``: filled quantity, average fill price and fees, then the status.

        The fill must be for this order (same order id, symbol and side), for at most the
        remaining quantity, and, on a limit order, at or better than the limit price. The order
        becomes ``filled`` when nothing remains, else ``partially_filled``.
        """
        self._require_reachable(_FILLED_STATUSES, verb="filled")
        if fill.order_id != self._order_id:
            raise ValidationError(
                f"fill {fill.fill_id} is for order {fill.order_id}, not {self._order_id}; "
                "a fill applies only to its own order",
                field="order_id",
            )
        for field, got, expected in (("symbol", fill.symbol, self._symbol), ("side", fill.side, self._side)):
            if got != expected:
                raise ValidationError(
                    f"fill {fill.fill_id} has {field} {got} but order {self._order_id} has {expected}; "
                    f"they must match",
                    field=field,
                )
        remaining = self.remaining_quantity
        if fill.quantity > remaining:
            raise ValidationError(
                f"fill {fill.fill_id} quantity {plain(fill.quantity)} exceeds the remaining quantity "
                f"{plain(remaining)} of order {self._order_id}; a fill is at most the remaining quantity",
                field="quantity",
            )
        limit = self._limit_price
        if limit is not None:
            if self._side is Side.BUY and fill.price > limit:
                raise ValidationError(
                    f"fill {fill.fill_id} price {plain(fill.price)} is above the limit price {plain(limit)} "
                    f"of buy order {self._order_id}; a buy fills at or below its limit",
                    field="price",
                )
            if self._side is Side.SELL and fill.price < limit:
                raise ValidationError(
                    f"fill {fill.fill_id} price {plain(fill.price)} is below the limit price {plain(limit)} "
                    f"of sell order {self._order_id}; a sell fills at or above its limit",
                    field="price",
                )
        target = OrderStatus.FILLED if fill.quantity == remaining else OrderStatus.PARTIALLY_FILLED
        self._move(target, fill.timestamp)
        self._filled_quantity += fill.quantity
        self._filled_notional += fill.quantity * fill.price
        self._fees += fill.fee

    def _move(self, target: OrderStatus, at: datetime) -> None:
        require_aware(at, field="at")
        self._require_reachable((target,), verb=_VERBS[target])
        self._status = target
        self._updated_at = at

    def _require_reachable(self, targets: tuple[OrderStatus, ...], *, verb: str) -> None:
        if any((self._status, target) in TRANSITIONS for target in targets):
            return
        sources = [status.value for status in OrderStatus if any((status, t) in TRANSITIONS for t in targets)]
        raise IllegalTransition(
            f"order {self._order_id} is {self._status.value}; it cannot be {verb} "
            f"(only {_join_or(sources)} orders can)",
            order_id=self._order_id,
            status=self._status.value,
            target=targets[-1].value,
        )

    def request_fingerprint(self) -> RequestFingerprint:
        """The fields a client chooses, to tell a retried request from a different one.

        Two requests with the same ``client_order_id`` are the same order when their fingerprints
        are equal (decimals compare by value, so ``1.0`` equals ``1``); otherwise the second is a
        conflict.
        """
        return (
            self._symbol,
            self._side,
            self._type,
            self._quantity,
            self._limit_price,
            self._time_in_force,
            self._strategy_id,
        )

    def same_request(self, other: Order) -> bool:
        return self.request_fingerprint() == other.request_fingerprint()

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-ready. ``remaining_quantity`` and ``average_fill_price`` are derived
        and included for readers; ``from_dict`` ignores them."""
        average = self.average_fill_price
        return {
            "order_id": self._order_id,
            "client_order_id": self._client_order_id,
            "symbol": self._symbol,
            "side": self._side.value,
            "type": self._type.value,
            "quantity": plain(self._quantity),
            "limit_price": None if self._limit_price is None else plain(self._limit_price),
            "time_in_force": self._time_in_force.value,
            "strategy_id": self._strategy_id,
            "status": self._status.value,
            "filled_quantity": plain(self._filled_quantity),
            "remaining_quantity": plain(self.remaining_quantity),
            "filled_notional": plain(self._filled_notional),
            "average_fill_price": None if average is None else plain(average),
            "fees": plain(self._fees),
            "reject_reason": None if self._reject_reason is None else self._reject_reason.value,
            "reject_message": self._reject_message,
            "cancel_reason": self._cancel_reason,
            "created_at": isoformat_exact(self._created_at),
            "updated_at": isoformat_exact(self._updated_at),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Order:
        """The order ``to_dict`` wrote, validated field by field and for consistency."""

        def get(key: str) -> Any:
            return required_field(data, key, record="order")

        order = cls.create(
            order_id=get("order_id"),
            client_order_id=get("client_order_id"),
            symbol=get("symbol"),
            side=get("side"),
            type=get("type"),
            quantity=get("quantity"),
            limit_price=get("limit_price"),
            time_in_force=get("time_in_force"),
            strategy_id=get("strategy_id"),
            created_at=parse_timestamp(get("created_at"), field="created_at"),
        )
        order._status = parse_enum(OrderStatus, get("status"), field="status")
        order._filled_quantity = non_negative(get("filled_quantity"), field="filled_quantity")
        order._filled_notional = non_negative(get("filled_notional"), field="filled_notional")
        order._fees = non_negative(get("fees"), field="fees")
        reason = get("reject_reason")
        if reason is not None:
            order._reject_reason = parse_enum(RejectReason, reason, field="reject_reason")
        order._reject_message = _optional_text(get("reject_message"), field="reject_message")
        order._cancel_reason = _optional_text(get("cancel_reason"), field="cancel_reason")
        order._updated_at = parse_timestamp(get("updated_at"), field="updated_at")
        order._check_consistency()
        return order

    def _check_consistency(self) -> None:
        status, filled = self._status, self._filled_quantity
        problem = None
        if filled > self._quantity:
            problem = f"filled_quantity {plain(filled)} exceeds quantity {plain(self._quantity)}"
        elif (filled == self._quantity) != (status is OrderStatus.FILLED):
            problem = (
                f"status {status.value} does not match filled_quantity {plain(filled)} "
                f"of {plain(self._quantity)}"
            )
        elif status in (OrderStatus.NEW, OrderStatus.OPEN, OrderStatus.REJECTED) and filled != 0:
            problem = f"status {status.value} allows no fills but filled_quantity is {plain(filled)}"
        elif status is OrderStatus.PARTIALLY_FILLED and filled == 0:
            problem = "status partially_filled needs a filled_quantity greater than 0"
        elif (filled == 0) != (self._filled_notional == 0):
            problem = "filled_notional and filled_quantity must both be 0 or both be greater than 0"
        elif (self._reject_reason is not None) != (status is OrderStatus.REJECTED):
            problem = "reject_reason is set exactly when the status is rejected"
        if problem is not None:
            raise ValidationError(f"order {self._order_id} record is inconsistent: {problem}", field="status")

    def _state(self) -> tuple[Any, ...]:
        return tuple(getattr(self, slot) for slot in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Order):
            return NotImplemented
        return self._state() == other._state()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        price = "" if self._limit_price is None else f" @ {plain(self._limit_price)}"
        return (
            f"Order({self._order_id}: {self._side.value} {plain(self._quantity)} {self._symbol} "
            f"{self._type.value}{price}, {self._status.value}, filled {plain(self._filled_quantity)})"
        )


def _optional_text(value: object, *, field: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValidationError(f"{field} must be a string or null, not {type(value).__name__}", field=field)
    return value
