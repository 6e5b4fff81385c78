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
from dataclasses import dataclass, fields
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




def _json_value(value: object) -> object:
    """A request field as JSON carries it: enums as their values, decimals as strings."""
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, Decimal):
        return plain(value)
    return value


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderRequest:
    """What a client chooses when placing an order: the one definition of the request fields.

    Construction checks and normalises them (enums and decimals may be given as their values):
    quantity is a finite number greater than 0; a limit order needs a limit price greater than 0
    and a market order must not have one; the symbol is normalised to ``BASE-QUOTE`` upper case.
    Whether the symbol is a configured instrument, and whether the quantity and price fit its
    grid, is for the pre-trade checks, which reject with a reason.

    Every place that must see a request field follows from this class: ``Order`` carries one,
    the idempotency ``fingerprint`` and the request part of the order's dict are derived from its
    fields, and a test keeps the HTTP body model in step with it.
    """

    client_order_id: str | None = None
    symbol: str
    side: Side
    type: OrderType
    quantity: Decimal
    limit_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    strategy_id: str | None = None

    def __post_init__(self) -> None:
        order_type = parse_enum(OrderType, self.type, field="type")
        symbol, _base, _quote = parse_symbol(self.symbol)
        if order_type is OrderType.LIMIT and self.limit_price is None:
            raise ValidationError(
                "limit_price is required for a limit order; give a price greater than 0",
                field="limit_price",
            )
        if order_type is OrderType.MARKET and self.limit_price is not None:
            raise ValidationError(
                "limit_price is not allowed for a market order; omit it or use type limit",
                field="limit_price",
            )
        set_ = object.__setattr__
        set_(self, "client_order_id", optional_identifier(self.client_order_id, field="client_order_id"))
        set_(self, "symbol", symbol)
        set_(self, "side", parse_enum(Side, self.side, field="side"))
        set_(self, "type", order_type)
        set_(self, "quantity", positive(self.quantity, field="quantity"))
        if self.limit_price is not None:
            set_(self, "limit_price", positive(self.limit_price, field="limit_price"))
        set_(self, "time_in_force", parse_enum(TimeInForce, self.time_in_force, field="time_in_force"))
        set_(self, "strategy_id", optional_identifier(self.strategy_id, field="strategy_id"))

    def fingerprint(self) -> tuple[object, ...]:
        """Every field but ``client_order_id``, to tell a retried request from a different one.

        Two requests with the same ``client_order_id`` are the same order when their fingerprints
        are equal (decimals compare by value, so ``1.0`` equals ``1``); otherwise the second is a
        conflict.
        """
        return tuple(getattr(self, name) for name in _FINGERPRINT_FIELDS)

    def to_dict(self) -> dict[str, Any]:
        return {name: _json_value(getattr(self, name)) for name in REQUEST_FIELDS}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, record: str = "order") -> OrderRequest:
        return cls(**{name: required_field(data, name, record=record) for name in REQUEST_FIELDS})


REQUEST_FIELDS: tuple[str, ...] = tuple(item.name for item in fields(OrderRequest))
"""The names of ``OrderRequest``'s fields, in order: the request part of an order's dict."""
_FINGERPRINT_FIELDS = tuple(name for name in REQUEST_FIELDS if name != "client_order_id")


@dataclass(frozen=True, slots=True)
class OrderSnapshot:
    """An order's whole state at one moment: immutable, so it can be handed to a store while the
    order moves on. ``Order`` holds one and replaces it at every change; the constructor trusts
    its arguments (``Order.from_request`` and ``OrderSnapshot.from_dict`` validate)."""

    order_id: str
    request: OrderRequest
    created_at: datetime
    updated_at: datetime
    status: OrderStatus = OrderStatus.NEW
    filled_quantity: Decimal = ZERO
    filled_notional: Decimal = ZERO
    fees: Decimal = ZERO
    reject_reason: RejectReason | None = None
    reject_message: str | None = None
    cancel_reason: str | None = None

    @property
    def remaining_quantity(self) -> Decimal:
        return self.request.quantity - self.filled_quantity

    @property
    def average_fill_price(self) -> Decimal | None:
        """The volume-weighted average fill price; None before the first fill."""
        if self.filled_quantity == 0:
            return None
        return self.filled_notional / self.filled_quantity

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-ready, the request's fields at the top level. ``remaining_quantity``
        and ``average_fill_price`` are derived and included for readers; ``from_dict`` ignores
        them."""
        average = self.average_fill_price
        return {
            "order_id": self.order_id,
            **self.request.to_dict(),
            "status": self.status.value,
            "filled_quantity": plain(self.filled_quantity),
            "remaining_quantity": plain(self.remaining_quantity),
            "filled_notional": plain(self.filled_notional),
            "average_fill_price": None if average is None else plain(average),
            "fees": plain(self.fees),
            "reject_reason": None if self.reject_reason is None else self.reject_reason.value,
            "reject_message": self.reject_message,
            "cancel_reason": self.cancel_reason,
            "created_at": isoformat_exact(self.created_at),
            "updated_at": isoformat_exact(self.updated_at),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OrderSnapshot:
        """The order ``to_dict`` wrote, validated field by field and for consistency."""

        def get(key: str) -> Any:
            return required_field(data, key, record="order")

        order_id = parse_identifier(get("order_id"), field="order_id")
        request = OrderRequest.from_dict(data)
        reason = get("reject_reason")
        snapshot = cls(
            order_id=order_id,
            request=request,
            created_at=parse_timestamp(get("created_at"), field="created_at"),
            updated_at=parse_timestamp(get("updated_at"), field="updated_at"),
            status=parse_enum(OrderStatus, get("status"), field="status"),
            filled_quantity=non_negative(get("filled_quantity"), field="filled_quantity"),
            filled_notional=non_negative(get("filled_notional"), field="filled_notional"),
            fees=non_negative(get("fees"), field="fees"),
            reject_reason=None if reason is None else parse_enum(RejectReason, reason, field="reject_reason"),
            reject_message=_optional_text(get("reject_message"), field="reject_message"),
            cancel_reason=_optional_text(get("cancel_reason"), field="cancel_reason"),
        )
        snapshot._check_consistency()
        return snapshot

    def _check_consistency(self) -> None:
        status, filled, quantity = self.status, self.filled_quantity, self.request.quantity
        problem = None
        if filled > quantity:
            problem = f"filled_quantity {plain(filled)} exceeds quantity {plain(quantity)}"
        elif (filled == quantity) != (status is OrderStatus.FILLED):
            problem = f"status {status.value} does not match filled_quantity {plain(filled)} of {plain(quantity)}"
        elif status in (OrderStatus.NEW, OrderStatus.OPEN, OrderStatus.REJECTED) and filled != 0:
            problem = f"status {status.value} allows no fills but filled_quantity is {plain(filled)}"
        elif status is OrderStatus.PARTIALLY_FILLED and filled == 0:
            problem = "status partially_filled needs a filled_quantity greater than 0"
        elif (filled == 0) != (self.filled_notional == 0):
            problem = "filled_notional and filled_quantity must both be 0 or both be greater than 0"
        elif (self.reject_reason is not None) != (status is OrderStatus.REJECTED):
            problem = "reject_reason is set exactly when the status is rejected"
        if problem is not None:
            raise ValidationError(f"order {self.order_id} record is inconsistent: {problem}", field="status")


class Order:
    """An order and its lifecycle. Build one with ``Order.from_request`` or ``Order.create`` (a
    new request) or ``Order.from_dict`` (a stored one); all validate. ``Order(snapshot)`` resumes
    an order from a snapshot.

    ``order_id`` is generated by the caller and is unique; it is never derived from the symbol or
    side. ``client_order_id`` is the client's own key for idempotent retries.

    The state is one immutable ``OrderSnapshot``, replaced at every change: ``snapshot`` is the
    order as it is now, and stays so whatever the order does next.
    """

    __slots__ = ("_state",)

    def __init__(self, snapshot: OrderSnapshot) -> None:
        self._state = snapshot

    @classmethod
    def from_request(cls, request: OrderRequest, *, order_id: str, created_at: datetime) -> Order:
        """A new order (status ``new``) for ``request``."""
        at = require_aware(created_at, field="created_at")
        order_id = parse_identifier(order_id, field="order_id")
        return cls(OrderSnapshot(order_id=order_id, request=request, created_at=at, updated_at=at))

    @classmethod
    def create(cls, *, order_id: str, created_at: datetime, **request: Any) -> Order:
        """``from_request`` with the request's fields given as keywords (see ``OrderRequest``)."""
        return cls.from_request(OrderRequest(**request), order_id=order_id, created_at=created_at)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Order:
        """The order ``to_dict`` wrote, validated field by field and for consistency."""
        return cls(OrderSnapshot.from_dict(data))

    def to_dict(self) -> dict[str, Any]:
        return self._state.to_dict()

    @property
    def snapshot(self) -> OrderSnapshot:
        """The order as it is now; immutable, unaffected by what happens to the order later."""
        return self._state

    @property
    def request(self) -> OrderRequest:
        return self._state.request

    @property
    def order_id(self) -> str:
        return self._state.order_id

    @property
    def client_order_id(self) -> str | None:
        return self._state.request.client_order_id

    @property
    def symbol(self) -> str:
        return self._state.request.symbol

    @property
    def side(self) -> Side:
        return self._state.request.side

    @property
    def type(self) -> OrderType:
        return self._state.request.type

    @property
    def quantity(self) -> Decimal:
        return self._state.request.quantity

    @property
    def limit_price(self) -> Decimal | None:
        return self._state.request.limit_price

    @property
    def time_in_force(self) -> TimeInForce:
        return self._state.request.time_in_force

    @property
    def strategy_id(self) -> str | None:
        return self._state.request.strategy_id

    @property
    def status(self) -> OrderStatus:
        return self._state.status

    @property
    def filled_quantity(self) -> Decimal:
        return self._state.filled_quantity

    @property
    def remaining_quantity(self) -> Decimal:
        return self._state.remaining_quantity

    @property
    def filled_notional(self) -> Decimal:
        """The exact sum of ``quantity * price`` over the fills, in the quote currency."""
        return self._state.filled_notional

    @property
    def average_fill_price(self) -> Decimal | None:
        """The volume-weighted average fill price; None before the first fill."""
        return self._state.average_fill_price

    @property
    def fees(self) -> Decimal:
        """Fees charged by all fills so far, in the quote currency."""
        return self._state.fees

    @property
    def reject_reason(self) -> RejectReason | None:
        return self._state.reject_reason

    @property
    def reject_message(self) -> str | None:
        return self._state.reject_message

    @property
    def cancel_reason(self) -> str | None:
        return self._state.cancel_reason

    @property
    def created_at(self) -> datetime:
        return self._state.created_at

    @property
    def updated_at(self) -> datetime:
        return self._state.updated_at

    def accept(self, at: datetime) -> None:
        """``new -> open``: the order passed its checks and rests on the venue."""
        self._move(OrderStatus.OPEN, at)

    def reject(self, reason: RejectReason, message: str, at: datetime) -> None:
        """``new -> rejected`` with the reason code and a message naming what failed."""
        reason = parse_enum(RejectReason, reason, field="reject_reason")
        self._move(OrderStatus.REJECTED, at, reject_reason=reason, reject_message=message)

    def cancel(self, at: datetime, reason: str | None = None) -> None:
        """``new, open or partially_filled -> cancelled``; the filled part stays filled."""
        self._move(OrderStatus.CANCELLED, at, cancel_reason=reason)

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
        state = self._state
        order_id, request = state.order_id, state.request
        if fill.order_id != order_id:
            raise ValidationError(
                f"fill {fill.fill_id} is for order {fill.order_id}, not {order_id}; "
                "a fill applies only to its own order",
                field="order_id",
            )
        for field, got, expected in (("symbol", fill.symbol, request.symbol), ("side", fill.side, request.side)):
            if got != expected:
                raise ValidationError(
                    f"fill {fill.fill_id} has {field} {got} but order {order_id} has {expected}; "
                    f"they must match",
                    field=field,
                )
        remaining = state.remaining_quantity
        if fill.quantity > remaining:
            raise ValidationError(
                f"fill {fill.fill_id} quantity {plain(fill.quantity)} exceeds the remaining quantity "
                f"{plain(remaining)} of order {order_id}; a fill is at most the remaining quantity",
                field="quantity",
            )
        limit = request.limit_price
        if limit is not None:
            if request.side is Side.BUY and fill.price > limit:
                raise ValidationError(
                    f"fill {fill.fill_id} price {plain(fill.price)} is above the limit price {plain(limit)} "
                    f"of buy order {order_id}; a buy fills at or below its limit",
                    field="price",
                )
            if request.side is Side.SELL and fill.price < limit:
                raise ValidationError(
                    f"fill {fill.fill_id} price {plain(fill.price)} is below the limit price {plain(limit)} "
                    f"of sell order {order_id}; a sell fills at or above its limit",
                    field="price",
                )
        target = OrderStatus.FILLED if fill.quantity == remaining else OrderStatus.PARTIALLY_FILLED
        self._move(
            target,
            fill.timestamp,
            filled_quantity=state.filled_quantity + fill.quantity,
            filled_notional=state.filled_notional + fill.quantity * fill.price,
            fees=state.fees + fill.fee,
        )

    def _move(self, target: OrderStatus, at: datetime, filled_quantity: Decimal | None = None,
              filled_notional: Decimal | None = None, fees: Decimal | None = None,
              reject_reason: RejectReason | None = None, reject_message: str | None = None,
              cancel_reason: str | None = None) -> None:
        """The order in status ``target`` since ``at``; a field given replaces the current one."""
        require_aware(at, field="at")
        self._require_reachable((target,), verb=_VERBS[target])
        s = self._state
        # every field by position: a third of dataclasses.replace's time (twice an order)
        self._state = OrderSnapshot(
            s.order_id, s.request, s.created_at, at, target,
            s.filled_quantity if filled_quantity is None else filled_quantity,
            s.filled_notional if filled_notional is None else filled_notional,
            s.fees if fees is None else fees,
            s.reject_reason if reject_reason is None else reject_reason,
            s.reject_message if reject_message is None else reject_message,
            s.cancel_reason if cancel_reason is None else cancel_reason,
        )

    def _require_reachable(self, targets: tuple[OrderStatus, ...], *, verb: str) -> None:
        status = self._state.status
        if any((status, target) in TRANSITIONS for target in targets):
            return
        sources = [source.value for source in OrderStatus if any((source, t) in TRANSITIONS for t in targets)]
        raise IllegalTransition(
            f"order {self.order_id} is {status.value}; it cannot be {verb} "
            f"(only {_join_or(sources)} orders can)",
            order_id=self.order_id,
            status=status.value,
            target=targets[-1].value,
        )

    def request_fingerprint(self) -> tuple[object, ...]:
        """``OrderRequest.fingerprint`` of the order's request."""
        return self._state.request.fingerprint()

    def same_request(self, other: Order) -> bool:
        return self.request_fingerprint() == other.request_fingerprint()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Order):
            return NotImplemented
        return self._state == other._state

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        request = self._state.request
        price = "" if request.limit_price is None else f" @ {plain(request.limit_price)}"
        return (
            f"Order({self.order_id}: {request.side.value} {plain(request.quantity)} {request.symbol} "
            f"{request.type.value}{price}, {self.status.value}, filled {plain(self.filled_quantity)})"
        )


def _optional_text(value: object, *, field: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValidationError(f"{field} must be a string or null, not {type(value).__name__}", field=field)
    return value
