"""Driving a strategy by hand: a context builder and a tiny simulated venue for scripted paths.

``Harness`` feeds a strategy ticks and plays the venue the simplest way: a market order fills at
once, in full, at the tick's price (the strategy gets ``on_fill`` and the position moves); a limit
order rests until the test fills it with ``fill_resting``; a ``CancelOrder`` removes a resting
order. Set ``refuse_market = True`` to refuse market orders instead, with a risk event, as the
runtime's limits would.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from trading_engine.domain.instruments import Instrument
from trading_engine.domain.orders import Fill, OrderType, Side
from trading_engine.domain.strategy import (
    MAX_POSITION,
    CancelOrder,
    Intent,
    PlaceOrder,
    RestingOrder,
    RiskEvent,
    Strategy,
    StrategyContext,
)

D = Decimal
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

# The shipped instruments (config.yml).
def _instrument(symbol: str, tick: str, lot: str, price: str) -> Instrument:
    return Instrument.create(symbol, tick_size=tick, lot_size=lot, min_quantity=lot, initial_price=price)


BTC = _instrument("BTC-USD", "0.01", "0.0001", "50000")
ETH = _instrument("ETH-USD", "0.01", "0.001", "3000")
ETH_BTC = _instrument("ETH-BTC", "0.00001", "0.001", "0.06")


def context(
    position: Decimal | int | str = 0,
    resting: Sequence[RestingOrder] = (),
    instrument: Instrument = BTC,
    now: datetime = NOW,
) -> StrategyContext:
    return StrategyContext(
        symbol=instrument.symbol,
        instrument=instrument,
        now=now,
        position=D(position),
        resting_orders=tuple(resting),
    )


def places(intents: Sequence[Intent]) -> list[PlaceOrder]:
    return [i for i in intents if isinstance(i, PlaceOrder)]


def cancels(intents: Sequence[Intent]) -> list[CancelOrder]:
    return [i for i in intents if isinstance(i, CancelOrder)]


@dataclass
class Harness:
    strategy: Strategy
    instrument: Instrument = BTC
    position: Decimal = D(0)
    resting: dict[str, RestingOrder] = field(default_factory=dict)
    refuse_market: bool = False
    price: Decimal = D(0)
    fills: list[Fill] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def context(self) -> StrategyContext:
        return context(self.position, list(self.resting.values()), self.instrument)

    def tick(self, price: Decimal | int | str) -> list[Intent]:
        """One tick; applies the strategy's intents and returns them."""
        self.price = D(price)
        intents = list(self.strategy.on_tick(self.price, self.context))
        for intent in intents:
            self.apply(intent)
        return intents

    def apply(self, intent: Intent) -> None:
        if isinstance(intent, CancelOrder):
            del self.resting[intent.order_id]
            return
        order_id = f"ord-{next(self._ids)}"
        if intent.type is OrderType.LIMIT:
            self.resting[order_id] = RestingOrder(order_id, intent.side, intent.limit_price, intent.quantity)
        elif self.refuse_market:
            event = RiskEvent(MAX_POSITION, "refused by the test", intent=intent)
            assert list(self.strategy.on_risk_event(event, self.context)) == []
        else:
            self._fill(order_id, intent.side, intent.quantity, self.price)

    def fill_resting(self, side: Side, quantity: Decimal | str | None = None) -> Fill:
        """Fill the resting order on ``side`` (in full unless ``quantity``) at its limit price."""
        (order,) = [o for o in self.resting.values() if o.side is side]
        size = order.remaining_quantity if quantity is None else D(quantity)
        assert order.limit_price is not None
        left = order.remaining_quantity - size
        if left:
            self.resting[order.order_id] = RestingOrder(order.order_id, side, order.limit_price, left)
        else:
            del self.resting[order.order_id]
        return self._fill(order.order_id, side, size, order.limit_price)

    def _fill(self, order_id: str, side: Side, quantity: Decimal, price: Decimal) -> Fill:
        fill = Fill(
            fill_id=f"fil-{len(self.fills) + 1}",
            order_id=order_id,
            symbol=self.instrument.symbol,
            side=side,
            quantity=quantity,
            price=price,
            fee=D(0),
            fee_currency=self.instrument.quote,
            timestamp=NOW,
        )
        self.fills.append(fill)
        self.position += side.sign * quantity
        assert list(self.strategy.on_fill(fill, self.context)) == []
        return fill
