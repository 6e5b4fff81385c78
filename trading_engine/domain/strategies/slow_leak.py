"""``slow_leak`` (chaos): round trips at random, more often the more it has traded.

Rules: on every tick it draws one number ``r`` in [0, 1) from its own ``random.Random(seed)``
and computes ``p = min(max_probability, base_probability + growth_per_trade * trades)``, where
``trades`` counts the fill events it has received. When ``r < p``: if its position is flat, a
market buy of ``quantity`` (floored to the lot); otherwise a market order closing the whole
position (a sell when long, a buy when short). When ``r >= p`` it does nothing. Each round trip
crosses the spread twice and pays fees twice, so its P&L and drawdown decay visibly, faster and
faster as its trade count pushes ``p`` up.
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


class SlowLeak:
    def __init__(
        self,
        *,
        quantity: Decimal,
        base_probability: float,
        growth_per_trade: float,
        max_probability: float,
        seed: int,
    ) -> None:
        self.quantity = quantity
        self.base_probability = base_probability
        self.growth_per_trade = growth_per_trade
        self.max_probability = max_probability
        self.random = random.Random(seed)
        self.trades = 0

    @property
    def probability(self) -> float:
        """The chance of trading on the next tick."""
        return min(self.max_probability, self.base_probability + self.growth_per_trade * self.trades)

    def on_tick(self, price: Decimal, context: StrategyContext) -> Sequence[Intent]:
        if self.random.random() >= self.probability:
            return []
        position = context.position
        if position == 0:
            side, size = Side.BUY, self.quantity
        else:
            side, size = (Side.SELL if position > 0 else Side.BUY), abs(position)
        quantity = order_quantity(size, context.instrument)
        if quantity is None:
            return []
        return [PlaceOrder(side=side, quantity=quantity, type=OrderType.MARKET)]

    def on_fill(self, fill: Fill, context: StrategyContext) -> Sequence[Intent]:
        self.trades += 1
        return []

    def on_risk_event(self, event: RiskEvent, context: StrategyContext) -> Sequence[Intent]:
        return []


def _create(params: Mapping[str, Any], seed: int) -> SlowLeak:
    return SlowLeak(
        quantity=params["quantity"],
        base_probability=params["base_probability"],
        growth_per_trade=params["growth_per_trade"],
        max_probability=params["max_probability"],
        seed=seed,
    )


SPEC = StrategySpec(
    name="slow_leak",
    description=(
        "Chaos: losing round trips (buy when flat, close when holding) at random, with a "
        "probability that grows with its trade count — a leak visible in P&L and drawdown."
    ),
    parameters=(
        Parameter(
            "quantity", "decimal", Decimal("0.001"),
            "Size of each opening buy in the base currency (floored to the lot).",
            minimum=ZERO, exclusive_minimum=True,
            order_size=True,
        ),
        Parameter(
            "base_probability", "number", 0.05, "Chance of trading on a tick before any trade.",
            minimum=0.0, maximum=1.0,
        ),
        Parameter(
            "growth_per_trade", "number", 0.02, "Added to the chance of trading per fill received.",
            minimum=0.0,
        ),
        Parameter(
            "max_probability", "number", 0.9, "Cap on the chance of trading on a tick.",
            minimum=0.0, maximum=1.0, exclusive_minimum=True,
        ),
    ),
    factory=_create,
    chaos=True,
)
