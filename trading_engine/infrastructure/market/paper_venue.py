"""A paper venue: fills orders against the market data feed, with slippage, fees and liquidity.

Rules
-----

Prices are exact ``Decimal`` values on the instrument's tick grid; basis points are hundredths of a
percent. ``price`` below is the latest quote of the order's symbol when the venue acts.

- **Submission.** ``submit`` takes an order in status ``new`` that passed pre-trade risk, for a
  configured instrument. It needs a quote for the symbol, else it raises ``Unavailable`` and the
  order is untouched. An order in another status, or whose id is already resting, is a
  ``Conflict``; an unknown symbol a ``ValidationError`` (code ``unknown_symbol``).
- **Taker price.** An order that executes on arrival pays the slippage: a buy
  ``price * (1 + slippage_bps / 10000)`` rounded *up* to a whole tick, a sell
  ``price * (1 - slippage_bps / 10000)`` rounded *down* (and never below one tick). Rounding is
  always against the trader.
- **Market orders** fill at once, whole quantity, at the taker price: the slippage stands for the
  depth they take, and ``liquidity`` does not limit them. Report: one fill, not resting.
- **Limit orders marketable on arrival** (a buy limit at or above ``price``, a sell limit at or
  below) fill at once as takers: at the taker price capped at the limit (never worse than the
  limit), for up to the symbol's ``liquidity``. What is left of a ``gtc`` order rests; what is
  left of an ``ioc`` order is cancelled (``cancel_reason`` ``ioc_remainder_cancelled``).
- **Limit orders not marketable on arrival**: a ``gtc`` order rests (report ``resting=True``, no
  fills); an ``ioc`` order is cancelled with nothing filled (``ioc_not_marketable``).
- **Resting orders** are matched on every quote batch, oldest first: a buy fills when the quoted
  price is at or below its limit, a sell when it is at or above, always *at the limit price*, for
  up to ``liquidity`` per order per quote; so a large order fills over several quotes. Each fill
  goes to ``listener.on_fill``; a fully filled order is forgotten before the listener hears of it.
  Quotes for symbols the venue does not trade are ignored. Until a listener is set, resting
  orders are neither matched nor expired (nothing could be reported).
- **Expiry.** With ``order_timeout_seconds > 0``, a resting order whose age by the clock (from its
  ``created_at``) has reached the timeout is removed and reported through
  ``listener.on_expired(order_id, now)``. Expiry is checked on every quote batch, for every
  symbol, before matching: an order past its time never fills.
- **On bars.** When the symbol's latest quote carries a bar (a replay of a file of bars), an order
  is decided on a bar's close and executes on the next bar, whose price path within the bar is
  open → low → high → close for a bar that closes at or above its open, open → high → low → close
  otherwise. A market order rests until the next bar and fills there, whole, at that bar's open
  moved against it by the slippage (the taker price of the open). A ``gtc`` limit order rests
  without a check against the close; on each bar it fills at the open when the bar opens through
  it (a buy limit at or above the open, a sell at or below), else at its limit price when the path
  touches it (low at or below a buy limit, high at or above a sell), for up to ``liquidity`` per
  order per bar, as live per quote. A bar that starts before the order was placed (its
  ``created_at``) never executes it: after a restart a restored order fills on the bars after it,
  as without the restart, whether the replay continues after the resume point or starts again
  from its files' beginning (``market.replay_resume`` false). An ``ioc`` order
  is answered at once against the close, as live. On trade data (quotes without bars) everything
  is as live.
- **Fees** are ``quantity * fill price * fee_bps / 10000`` in the quote currency, exact (never
  rounded), the same for takers and resting orders.
- **Liquidity** (``{symbol: quantity}``) is a whole number of lots; a symbol without an entry has
  unlimited liquidity.
- **Fills** have unique ids from ``fill_ids`` (default: ``fil_`` and an ``IdGenerator`` id), never derived from
  the order; they copy the order's ``strategy_id`` and are stamped with the clock's time.
- **Cancel** removes a resting order (True), or answers False when the venue does not hold it.
  **Restore** replaces the book with the recovered open orders, each for its
  ``remaining_quantity``: limit orders, and market orders that were waiting for the next bar (on
  bars they fill at the open of the first bar that starts at or after they were placed; on trade
  data at the first quote, as a market order arriving then would); it validates all of them
  before changing anything.
- **Listener failures.** An exception from ``on_fill`` or ``on_expired`` is logged
  (``venue_listener_failed``) and matching goes on; the venue has already applied the change,
  so the listener owns the consequence.

The venue never touches positions, cash or an order's status, and keeps no reference to the
``Order`` objects it is given: it copies the fields it needs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog

from trading_engine.domain.bars import Bar
from trading_engine.domain.decimals import BPS, non_negative, plain, positive
from trading_engine.domain.ids import IdGenerator
from trading_engine.domain.errors import Conflict, Unavailable, ValidationError
from trading_engine.domain.instruments import Instrument
from trading_engine.domain.orders import Fill, Order, OrderStatus, OrderType, Side, TimeInForce
from trading_engine.domain.ports.clock import Clock
from trading_engine.domain.ports.market_data import MarketDataPort, Quote
from trading_engine.domain.ports.venue import ExecutionReport, VenueListener
from trading_engine.domain.ticks import (
    ceil_to_tick,
    exact_difference,
    exact_product,
    floor_to_tick,
    scaled_by_bps,
)

log = structlog.get_logger(__name__)

IOC_NOT_MARKETABLE = "ioc_not_marketable"
IOC_REMAINDER_CANCELLED = "ioc_remainder_cancelled"


default_fill_id = IdGenerator("fil_")
"""Fresh, unique fill ids: ``fil_``, this process's random part and a counter."""


@dataclass(slots=True)
class _Resting:
    """What the venue keeps of a resting order: copies, never the caller's ``Order``."""

    order_id: str
    symbol: str
    side: Side
    limit_price: Decimal | None  # None: a market order waiting for the next bar
    remaining: Decimal
    created_at: datetime
    strategy_id: str | None

    def crossed_by(self, price: Decimal) -> bool:
        if self.limit_price is None:
            return True
        return price <= self.limit_price if self.side is Side.BUY else price >= self.limit_price

    def touched_by(self, bar: Bar) -> bool:
        return self.crossed_by(bar.low if self.side is Side.BUY else bar.high)


class PaperVenue:
    """An ``ExecutionVenuePort`` that simulates fills; the rules are in the module docstring."""

    def __init__(
        self,
        market_data: MarketDataPort,
        instruments: Mapping[str, Instrument],
        clock: Clock,
        *,
        slippage_bps: Decimal,
        fee_bps: Decimal,
        order_timeout_seconds: float = 0,
        liquidity: Mapping[str, Decimal] | None = None,
        fill_ids: Callable[[], str] | None = None,
    ) -> None:
        for key, instrument in instruments.items():
            if key != instrument.symbol:
                raise ValueError(f"instrument {instrument.symbol} is listed under {key!r}; use its symbol")
        self._slippage = non_negative(slippage_bps, field="slippage_bps")
        if self._slippage >= BPS:
            raise ValidationError(
                f"slippage_bps {plain(self._slippage)} is not allowed; it must be below 10000 (100%)",
                field="slippage_bps",
            )
        self._fee = non_negative(fee_bps, field="fee_bps")
        if (
            isinstance(order_timeout_seconds, bool)
            or not isinstance(order_timeout_seconds, (int, float))
            or not math.isfinite(order_timeout_seconds)
            or order_timeout_seconds < 0
        ):
            raise ValueError(
                f"order_timeout_seconds {order_timeout_seconds!r} is not allowed; "
                "it must be a finite number of seconds, 0 (never) or more"
            )
        self._timeout = (
            timedelta(seconds=order_timeout_seconds) if order_timeout_seconds > 0 else None
        )
        self._instruments = dict(instruments)
        self._liquidity = _checked_liquidity(liquidity or {}, self._instruments)
        self._market_data = market_data
        self._clock = clock
        self._fill_ids = fill_ids or default_fill_id
        self._listener: VenueListener | None = None
        # Every resting order in time priority, and the same orders by symbol for matching.
        self._book: dict[str, _Resting] = {}
        self._by_symbol: dict[str, dict[str, _Resting]] = {}
        self._unsubscribe: Callable[[], None] | None = market_data.subscribe(self._on_quotes)

    # -- ExecutionVenuePort ---------------------------------------------------------------------
    def set_listener(self, listener: VenueListener) -> None:
        self._listener = listener

    async def submit(self, order: Order) -> ExecutionReport:
        instrument = self._submittable(order)
        quote = self._market_data.latest(order.symbol)
        if quote is None:
            raise Unavailable(
                f"no market price for {order.symbol} yet; the paper venue fills only against a "
                "current quote, so try again once market data has arrived"
            )
        side, remaining = order.side, order.remaining_quantity
        on_bars = quote.bar is not None
        if on_bars and (order.type is OrderType.MARKET or order.time_in_force is TimeInForce.GTC):
            self._add(self._resting(order, order.limit_price, remaining))  # executes on the next bar
            return ExecutionReport(resting=True)
        if order.type is OrderType.MARKET:
            price = self._taker_price(instrument, side, quote.price)
            fill = self._fill(order.order_id, instrument, side, remaining, price, order.strategy_id)
            return ExecutionReport(fills=(fill,))
        limit = order.limit_price
        assert limit is not None  # Order.create requires it for a limit order
        fills: tuple[Fill, ...] = ()
        marketable = quote.price <= limit if side is Side.BUY else quote.price >= limit
        if marketable:
            quantity = self._fillable(order.symbol, remaining)
            price = self._taker_price(instrument, side, quote.price, limit=limit)
            fills = (self._fill(order.order_id, instrument, side, quantity, price, order.strategy_id),)
            remaining = exact_difference(remaining, quantity)
        if remaining == 0:
            return ExecutionReport(fills=fills)
        if order.time_in_force is TimeInForce.IOC:
            reason = IOC_REMAINDER_CANCELLED if fills else IOC_NOT_MARKETABLE
            return ExecutionReport(fills=fills, cancel_reason=reason)
        self._add(self._resting(order, limit, remaining))
        return ExecutionReport(fills=fills, resting=True)

    @staticmethod
    def _resting(order: Order, limit: Decimal | None, remaining: Decimal) -> _Resting:
        return _Resting(
            order_id=order.order_id,
            symbol=order.symbol,
            side=order.side,
            limit_price=limit,
            remaining=remaining,
            created_at=order.created_at,
            strategy_id=order.strategy_id,
        )

    async def cancel(self, order_id: str) -> bool:
        return self._remove(order_id) is not None

    def restore(self, orders: Sequence[Order]) -> None:
        book: dict[str, _Resting] = {}
        for order in orders:
            problem = None
            if not order.status.is_open:
                problem = f"it is {order.status.value}; only open or partially filled orders rest"
            elif order.symbol not in self._instruments:
                problem = f"the venue does not trade {order.symbol}"
            elif order.order_id in book:
                problem = "it is listed twice"
            if problem is not None:
                raise ValidationError(f"cannot restore order {order.order_id}: {problem}", field="orders")
            book[order.order_id] = _Resting(
                order_id=order.order_id,
                symbol=order.symbol,
                side=order.side,
                limit_price=order.limit_price,  # None: a market order waiting for the next bar
                remaining=order.remaining_quantity,
                created_at=order.created_at,
                strategy_id=order.strategy_id,
            )
        self._book, self._by_symbol = {}, {}
        for resting in book.values():
            self._add(resting)

    def resting(self) -> Sequence[str]:
        return tuple(self._book)

    # -- lifecycle ------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop listening to market data; resting orders stay in the book but no longer match."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    # -- matching -------------------------------------------------------------------------------
    def _on_quotes(self, quotes: Sequence[Quote]) -> None:
        listener = self._listener
        if listener is None or not self._book:
            return
        if self._timeout is not None:
            self._expire(listener)
        for quote in quotes:
            orders = self._by_symbol.get(quote.symbol)
            if not orders:
                continue
            instrument = self._instruments[quote.symbol]
            bar = quote.bar
            for resting in tuple(orders.values()):
                if self._book.get(resting.order_id) is not resting:
                    continue
                if bar is not None and bar.start < resting.created_at:
                    continue  # a bar from before the order existed (a replay started again)
                price = self._execution_price(instrument, resting, quote.price if bar is None else None, bar)
                if price is None:
                    continue
                quantity = (resting.remaining if resting.limit_price is None
                            else self._fillable(resting.symbol, resting.remaining))
                fill = self._fill(resting.order_id, instrument, resting.side, quantity, price, resting.strategy_id)
                resting.remaining = exact_difference(resting.remaining, quantity)
                if resting.remaining == 0:
                    self._remove(resting.order_id)
                self._notify(listener.on_fill, resting.order_id, fill, fill_id=fill.fill_id)

    def _execution_price(self, instrument: Instrument, resting: _Resting, price: Decimal | None,
                         bar: Bar | None) -> Decimal | None:
        """Where a resting order executes on this quote (``price``) or bar, or None."""
        if bar is not None:
            if resting.limit_price is None:  # a market order decided on the previous bar's close
                return self._taker_price(instrument, resting.side, bar.open)
            if resting.crossed_by(bar.open):  # the bar opens through the limit
                return bar.open
            return resting.limit_price if resting.touched_by(bar) else None
        assert price is not None
        if not resting.crossed_by(price):
            return None
        return self._taker_price(instrument, resting.side, price) if resting.limit_price is None else resting.limit_price

    def _expire(self, listener: VenueListener) -> None:
        assert self._timeout is not None
        now = self._clock.now()
        expired = [r.order_id for r in self._book.values() if now - r.created_at >= self._timeout]
        for order_id in expired:
            if self._remove(order_id) is not None:
                self._notify(listener.on_expired, order_id, now)

    def _notify(
        self, callback: Callable[[str, Any], None], order_id: str, payload: object, **fields: object
    ) -> None:
        try:
            callback(order_id, payload)
        except Exception as exc:
            log.exception(
                "venue_listener_failed",
                callback=getattr(callback, "__name__", repr(callback)),
                order_id=order_id,
                error=f"{type(exc).__name__}: {exc}",
                **fields,
            )

    # -- helpers --------------------------------------------------------------------------------
    def _submittable(self, order: Order) -> Instrument:
        if order.status is not OrderStatus.NEW:
            raise Conflict(
                f"order {order.order_id} is {order.status.value}; only a new order can be submitted"
            )
        if order.order_id in self._book:
            raise Conflict(f"order {order.order_id} is already resting on the venue")
        instrument = self._instruments.get(order.symbol)
        if instrument is None:
            raise ValidationError(
                f"the paper venue does not trade {order.symbol}; it trades "
                f"{', '.join(sorted(self._instruments)) or 'nothing'}",
                field="symbol",
                code="unknown_symbol",
            )
        return instrument

    def _taker_price(
        self, instrument: Instrument, side: Side, price: Decimal, *, limit: Decimal | None = None
    ) -> Decimal:
        tick = instrument.tick_size
        if side is Side.BUY:
            taker = ceil_to_tick(scaled_by_bps(price, BPS + self._slippage), tick)
            return taker if limit is None else min(taker, limit)
        taker = max(floor_to_tick(scaled_by_bps(price, BPS - self._slippage), tick), tick)
        return taker if limit is None else max(taker, limit)

    def _fillable(self, symbol: str, remaining: Decimal) -> Decimal:
        cap = self._liquidity.get(symbol)
        return remaining if cap is None else min(remaining, cap)

    def _fill(
        self,
        order_id: str,
        instrument: Instrument,
        side: Side,
        quantity: Decimal,
        price: Decimal,
        strategy_id: str | None,
    ) -> Fill:
        return Fill(
            fill_id=self._fill_ids(),
            order_id=order_id,
            symbol=instrument.symbol,
            side=side,
            quantity=quantity,
            price=price,
            fee=scaled_by_bps(exact_product(quantity, price), self._fee),
            fee_currency=instrument.quote,
            timestamp=self._clock.now(),
            strategy_id=strategy_id,
        )

    def _add(self, resting: _Resting) -> None:
        self._book[resting.order_id] = resting
        self._by_symbol.setdefault(resting.symbol, {})[resting.order_id] = resting

    def _remove(self, order_id: str) -> _Resting | None:
        resting = self._book.pop(order_id, None)
        if resting is not None:
            symbol_orders = self._by_symbol[resting.symbol]
            del symbol_orders[order_id]
            if not symbol_orders:
                del self._by_symbol[resting.symbol]
        return resting


def _checked_liquidity(
    liquidity: Mapping[str, Decimal], instruments: Mapping[str, Instrument]
) -> dict[str, Decimal]:
    checked: dict[str, Decimal] = {}
    for symbol, value in liquidity.items():
        instrument = instruments.get(symbol)
        if instrument is None:
            raise ValidationError(
                f"liquidity names {symbol!r}, which is not a configured instrument", field="liquidity"
            )
        quantity = positive(value, field=f"{symbol} liquidity")
        if not instrument.is_on_lot(quantity):
            raise ValidationError(
                f"{symbol} liquidity {plain(quantity)} is not allowed; it must be a whole number of "
                f"lots of {plain(instrument.lot_size)}",
                field="liquidity",
            )
        checked[symbol] = quantity
    return checked
