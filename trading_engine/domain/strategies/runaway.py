"""``runaway`` (chaos): floods the venue with market orders, as a strategy stuck in a loop would.

Rules: on every tick it emits ``orders_per_tick`` market orders of ``quantity`` (floored to the
lot), each side drawn buy or sell with equal odds from its own ``random.Random(seed)``, so a
run is reproducible from its seed. Fills and risk events change nothing. It emits nothing when
``quantity`` is below the instrument's minimum order size. What contains it is the runtime's
order-rate limit and, past the configured number of limit hits, the circuit breaker.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from trading_engine.domain.decimals import ZERO
from trading_engine.domain.orders import Fill, OrderType, Side
from trading_engine.domain.strategies.grid import order_quantity
from trading_engine.domain.strategy import (
    Intent,
    Parameter,
    PlaceOrder,
    RiskEvent,
    StrategyContext,
    StrategySpec,
)

_SIDES = (Side.BUY, Side.SELL)
MAX_ORDERS_PER_TICK = 1000  # as many as max_orders_per_second allows in one second, at most


class Runaway:
    def __init__(self, *, orders_per_tick: int, quantity: Decimal, seed: int) -> None:
        self.orders_per_tick = orders_per_tick
        self.quantity = quantity
        self.random = random.Random(seed)

    def on_tick(self, price: Decimal, context: StrategyContext) -> Sequence[Intent]:
        sides = [self.random.choice(_SIDES) for _ in range(self.orders_per_tick)]
        quantity = order_quantity(self.quantity, context.instrument)
        if quantity is None:
            return []
        return [PlaceOrder(side=side, quantity=quantity, type=OrderType.MARKET) for side in sides]

    def on_fill(self, fill: Fill, context: StrategyContext) -> Sequence[Intent]:
        return []

    def on_risk_event(self, event: RiskEvent, context: StrategyContext) -> Sequence[Intent]:
        return []


def _create(params: Mapping[str, Any], seed: int) -> Runaway:
    return Runaway(orders_per_tick=params["orders_per_tick"], quantity=params["quantity"], seed=seed)


SPEC = StrategySpec(
    name="runaway",
    description=(
        "Chaos: emits orders_per_tick market orders of random side on every tick, a flood for "
        "the order-rate limit and the circuit breaker to contain."
    ),
    parameters=(
        # Bounded: a tick's orders are built at once, and an unbounded count stalls the event loop.
        Parameter("orders_per_tick", "integer", 5, "Market orders emitted on every tick.", minimum=1,
                  maximum=MAX_ORDERS_PER_TICK),
        Parameter(
            "quantity", "decimal", Decimal("0.001"),
            "Size of each order in the base currency (floored to the lot).",
            minimum=ZERO, exclusive_minimum=True,
            order_size=True,
        ),
    ),
    factory=_create,
    chaos=True,
)
