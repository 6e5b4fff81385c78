"""Pre-trade risk: pure checks that accept an order or reject it with one reason.

``check_pre_trade`` runs the checks in a fixed order and the first failure wins:

1. ``circuit_breaker_open``: trading is halted.
2. ``unknown_symbol``: the symbol is not a configured instrument.
3. ``quantity_below_minimum``, 4. ``quantity_off_lot``: the quantity fits the instrument.
5. ``price_off_tick``: a limit price is a whole number of ticks.
6. ``market_data_stale``: the prices that value the order in the reporting currency are fresh
   (the order's symbol and, unless it is quoted in the reporting currency, the instrument
   converting its quote currency: an ETH-BTC order needs a fresh BTC-USD too), and every mark the
   next checks need exists (those two, every open position).
7. ``max_order_notional_exceeded``: ``quantity * price`` in the reporting currency, where price is
   the limit price of a limit order, or the mark moved against the order by the slippage
   allowance for a market order (``mark * (1 + slippage)`` to buy, ``mark * (1 - slippage)`` to
   sell).
8. ``max_position_exceeded``: the projected position (current quantity, plus the remaining
   quantity of the symbol's unfinished orders on the same side, plus this order, all signed) is
   valued at the mark and compared with the per-symbol limit. An order that does not increase the
   projected position's size never fails this, even when the position already exceeds the limit.
9. ``gross_exposure_exceeded``: the current gross exposure plus the part of this order that
   increases exposure (all of it when it adds to the position or opens one, only the excess
   beyond the position when it flips it, none when it only reduces), valued like check 7.
10. ``insufficient_funds``: without leverage, a buy's estimated cost
    ``quantity * price * (1 + fee_bps / 10000)`` must not exceed the unreserved cash of the quote
    currency. Sells never fail this.

Limits are in the reporting currency; basis points are hundredths of a percent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from trading_engine.domain.decimals import BPS, ONE, ZERO, amount, non_negative, plain, positive, trimmed
from trading_engine.domain.errors import Unavailable, ValidationError
from trading_engine.domain.instruments import Instrument
from trading_engine.domain.orders import Order, OrderStatus, OrderType, RejectReason, Side, required_field
from trading_engine.domain.portfolio import Portfolio, convert, mark_of, pricing_symbols
from trading_engine.domain.timefmt import isoformat_exact, parse_timestamp, require_aware


@dataclass(frozen=True)
class RiskLimits:
    """Limits in the reporting currency, each greater than 0.

    ``allow_leverage`` lets buys spend more than the available cash; every other limit still holds.
    """

    max_order_notional: Decimal
    max_position_notional: Decimal
    max_gross_exposure: Decimal
    allow_leverage: bool = False

    def __post_init__(self) -> None:
        for name in ("max_order_notional", "max_position_notional", "max_gross_exposure"):
            object.__setattr__(self, name, positive(getattr(self, name), field=name))
        if not isinstance(self.allow_leverage, bool):
            raise ValidationError(
                f"allow_leverage {self.allow_leverage!r} is not allowed; use true or false",
                field="allow_leverage",
            )


class OrderIntent(Protocol):
    """What the checks read from an order; an ``Order`` in status ``new`` is one."""

    @property
    def symbol(self) -> str: ...

    @property
    def side(self) -> Side: ...

    @property
    def type(self) -> OrderType: ...

    @property
    def quantity(self) -> Decimal: ...

    @property
    def limit_price(self) -> Decimal | None: ...


@dataclass(frozen=True)
class RiskDecision:
    """Accepted (no reason) or rejected with a reason code and a message naming the numbers."""

    reason: RejectReason | None = None
    message: str | None = None

    @property
    def accepted(self) -> bool:
        return self.reason is None

    @classmethod
    def accept(cls) -> RiskDecision:
        return ACCEPTED

    @classmethod
    def reject(cls, reason: RejectReason, message: str) -> RiskDecision:
        return cls(reason, message)


ACCEPTED = RiskDecision()


def check_pre_trade(
    order: OrderIntent,
    instruments: Mapping[str, Instrument],
    portfolio: Portfolio,
    marks: Mapping[str, Decimal],
    limits: RiskLimits,
    *,
    breaker_open: bool,
    is_fresh: Callable[[str], bool],
    open_orders: Sequence[Order],
    fee_bps: Decimal,
    slippage_bps: Decimal,
) -> RiskDecision:
    """Run the checks of the module docstring in order; the first failure is the decision.

    ``is_fresh(symbol)`` says whether the price of ``symbol`` is fresh. ``open_orders`` are the
    account's unfinished orders (new, open or partially filled); other
    statuses, other symbols and ``order`` itself are ignored. ``fee_bps`` is 0 or more;
    ``slippage_bps`` is 0 or more and below 10000.
    """
    fee_bps = non_negative(fee_bps, field="fee_bps")
    fee_rate = fee_bps / BPS
    slippage_bps = non_negative(slippage_bps, field="slippage_bps")
    if slippage_bps >= BPS:
        raise ValidationError(
            f"slippage_bps {plain(slippage_bps)} is not allowed; it must be below 10000 (100%)",
            field="slippage_bps",
        )
    slippage = slippage_bps / BPS
    reporting = portfolio.reporting_currency
    symbol, side, quantity = order.symbol, order.side, order.quantity

    if breaker_open:
        return RiskDecision.reject(
            RejectReason.CIRCUIT_BREAKER_OPEN,
            "the circuit breaker is open; no orders are accepted until it is reset",
        )
    instrument = instruments.get(symbol)
    if instrument is None:
        known = ", ".join(sorted(instruments)) or "none"
        return RiskDecision.reject(
            RejectReason.UNKNOWN_SYMBOL, f"unknown symbol {symbol}; known symbols: {known}"
        )
    if quantity < instrument.min_quantity:
        return RiskDecision.reject(
            RejectReason.QUANTITY_BELOW_MINIMUM,
            f"quantity {plain(quantity)} is below the minimum quantity "
            f"{plain(instrument.min_quantity)} for {symbol}",
        )
    if not instrument.is_on_lot(quantity):
        return RiskDecision.reject(
            RejectReason.QUANTITY_OFF_LOT,
            f"quantity {plain(quantity)} is not a multiple of the lot size "
            f"{plain(instrument.lot_size)} for {symbol}",
        )
    limit_price = order.limit_price
    if order.type is OrderType.LIMIT and limit_price is not None and not instrument.is_on_tick(limit_price):
        return RiskDecision.reject(
            RejectReason.PRICE_OFF_TICK,
            f"limit price {plain(limit_price)} is not a multiple of the tick size "
            f"{plain(instrument.tick_size)} for {symbol}",
        )
    stale = stale_pricing(symbol, reporting, instruments, is_fresh)
    if stale:
        return RiskDecision.reject(
            RejectReason.MARKET_DATA_STALE, stale_message(instrument, stale, reporting)
        )
    quote = instrument.quote
    try:
        mark = mark_of(symbol, marks)
        convert(ONE, quote, reporting, marks, instruments)
        current_gross = portfolio.gross_exposure(marks, instruments)
    except Unavailable as missing:
        return RiskDecision.reject(
            RejectReason.MARKET_DATA_STALE,
            f"{missing.message}; orders are accepted only while every needed price is known",
        )

    def in_reporting(value: Decimal) -> Decimal:
        return convert(value, quote, reporting, marks, instruments)

    if order.type is OrderType.LIMIT and limit_price is not None:
        price = limit_price
    elif side is Side.BUY:
        price = mark * (ONE + slippage)
    else:
        price = mark * (ONE - slippage)

    order_notional = in_reporting(quantity * price)
    if order_notional > limits.max_order_notional:
        return RiskDecision.reject(
            RejectReason.MAX_ORDER_NOTIONAL_EXCEEDED,
            f"order notional {amount(order_notional)} {reporting} exceeds max_order_notional "
            f"{plain(limits.max_order_notional)} {reporting}",
        )

    held = portfolio.position(symbol).quantity
    pending = sum(
        (
            other.remaining_quantity
            for other in open_orders
            if other is not order
            and other.symbol == symbol
            and other.side is side
            and other.status in _UNFINISHED
        ),
        ZERO,
    )
    direction = side.sign
    projected_before = held + direction * pending
    projected = projected_before + direction * quantity
    if abs(projected) > abs(projected_before):
        position_notional = in_reporting(abs(projected) * mark)
        if position_notional > limits.max_position_notional:
            return RiskDecision.reject(
                RejectReason.MAX_POSITION_EXCEEDED,
                f"{symbol} position after this order and open {side.value} orders would be "
                f"{plain(projected)} (notional {amount(position_notional)} {reporting} at mark "
                f"{plain(mark)}), exceeding max_position_notional "
                f"{plain(limits.max_position_notional)} {reporting}",
            )

    if held == 0 or (held > 0) == (side is Side.BUY):
        increasing = quantity
    else:
        increasing = max(quantity - abs(held), ZERO)
    if increasing > 0:
        increase = in_reporting(increasing * price)
        gross_after = current_gross + increase
        if gross_after > limits.max_gross_exposure:
            return RiskDecision.reject(
                RejectReason.GROSS_EXPOSURE_EXCEEDED,
                f"gross exposure after this order would be {amount(gross_after)} {reporting} "
                f"(current {amount(current_gross)} + order {amount(increase)}), exceeding "
                f"max_gross_exposure {plain(limits.max_gross_exposure)} {reporting}",
            )

    if side is Side.BUY and not limits.allow_leverage:
        cost = quantity * price * (ONE + fee_rate)
        available = portfolio.available_cash(quote)
        if cost > available:
            return RiskDecision.reject(
                RejectReason.INSUFFICIENT_FUNDS,
                f"estimated cost {amount(cost)} {quote} (quantity {plain(quantity)} at "
                f"{trimmed(price)} plus {trimmed(fee_bps)} bps fees) exceeds available cash "
                f"{amount(available)} {quote}",
            )
    return ACCEPTED


def stale_pricing(
    symbol: str, reporting: str, instruments: Mapping[str, Instrument], is_fresh: Callable[[str], bool]
) -> tuple[str, ...]:
    """Which of the prices valuing ``symbol`` in ``reporting`` are stale (check 6); empty when
    orders in it may be valued."""
    return tuple(s for s in pricing_symbols(symbol, reporting, instruments) if not is_fresh(s))


def stale_message(instrument: Instrument, stale: Sequence[str], reporting: str) -> str:
    """Why check 6 rejects an order in ``instrument``, naming each stale price."""
    conversion = [s for s in stale if s != instrument.symbol]
    why = (
        f" ({conversion[0]} converts {instrument.quote} into {reporting} to value {instrument.symbol})"
        if conversion else ""
    )
    return (
        f"market data for {' and '.join(stale)} {'are' if len(stale) > 1 else 'is'} stale{why}; "
        "orders are accepted only while prices are fresh"
    )


_UNFINISHED = frozenset({OrderStatus.NEW, OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED})


@dataclass(frozen=True, slots=True)
class BreakerState:
    """The circuit breaker at one moment: open while it has a reason. The constructor trusts its
    arguments (``from_dict`` validates)."""

    reason: str | None = None
    tripped_at: datetime | None = None
    reset_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.reason is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "is_open": self.is_open,
            "reason": self.reason,
            "tripped_at": None if self.tripped_at is None else isoformat_exact(self.tripped_at),
            "reset_at": None if self.reset_at is None else isoformat_exact(self.reset_at),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BreakerState:
        is_open, reason, tripped_at, reset_at = (
            required_field(data, key, record="circuit breaker")
            for key in ("is_open", "reason", "tripped_at", "reset_at")
        )
        if is_open is not (reason is not None) or (reason is None) != (tripped_at is None):
            raise ValidationError(
                "circuit breaker record is inconsistent: an open breaker has a reason and tripped_at, "
                "a closed one neither",
                field="is_open",
            )
        breaker = CircuitBreaker()
        if reason is not None:
            breaker.trip(reason, parse_timestamp(tripped_at, field="tripped_at"))
        return replace(
            breaker.state, reset_at=None if reset_at is None else parse_timestamp(reset_at, field="reset_at")
        )


class CircuitBreaker:
    """A halt switch for new orders. Tripping an open breaker keeps its first reason and time.

    The state is one immutable ``BreakerState``, replaced when the breaker trips or resets."""

    __slots__ = ("_state",)

    def __init__(self, state: BreakerState | None = None) -> None:
        self._state = BreakerState() if state is None else state

    @property
    def state(self) -> BreakerState:
        return self._state

    @property
    def is_open(self) -> bool:
        return self._state.reason is not None

    @property
    def reason(self) -> str | None:
        return self._state.reason

    @property
    def tripped_at(self) -> datetime | None:
        return self._state.tripped_at

    @property
    def reset_at(self) -> datetime | None:
        """When it was last reset; None if never."""
        return self._state.reset_at

    def trip(self, reason: str, at: datetime) -> bool:
        """Open the breaker; True if this call opened it, False if it was open already."""
        if not isinstance(reason, str) or not reason.strip():
            raise ValidationError(
                "reason must be a non-empty string saying why trading halts", field="reason"
            )
        require_aware(at, field="at")
        if self._state.reason is not None:
            return False
        self._state = replace(self._state, reason=reason, tripped_at=at)
        return True

    def reset(self, at: datetime) -> bool:
        """Close the breaker; True if this call closed it, False if it was closed already."""
        require_aware(at, field="at")
        if self._state.reason is None:
            return False
        self._state = BreakerState(reset_at=at)
        return True

    def to_dict(self) -> dict[str, Any]:
        return self._state.to_dict()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CircuitBreaker:
        return cls(BreakerState.from_dict(data))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CircuitBreaker):
            return NotImplemented
        return self._state == other._state

    __hash__ = None  # type: ignore[assignment]
