"""``risk_ignorant`` (chaos): buys on every tick and doubles down after every rejection.

Rules: its size starts at ``quantity`` floored to the lot. On every tick it emits one market buy
of its current size (nothing while that is below the instrument's minimum order size). On every
risk event, whatever its ``limit_type``, the size becomes ``size * growth`` floored to the lot —
and at least one lot more than before, so it always grows — capped at ``quantity *
MAX_MULTIPLE`` (a million times the starting size: far past any sane limit, but it keeps the
numbers printable when a tripped breaker refuses every tick). Risk events emit nothing
themselves. What contains it is the position limit (and pre-trade risk).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from trading_engine.domain.decimals import ZERO
from trading_engine.domain.orders import Fill, OrderType, Side
from trading_engine.domain.strategies.grid import order_quantity
from trading_engine.domain.ticks import floor_to_tick
from trading_engine.domain.strategy import (
    Intent,
    Parameter,
    PlaceOrder,
    RiskEvent,
    StrategyContext,
    StrategySpec,
)

MAX_MULTIPLE = Decimal(1_000_000)


class RiskIgnorant:
    def __init__(self, *, quantity: Decimal, growth: float) -> None:
        self.quantity = quantity
        self.growth = Decimal(repr(growth))
        self.size: Decimal | None = None  # snapped on the first event, when the lot is known

    def _size(self, context: StrategyContext) -> Decimal:
        if self.size is None:
            self.size = floor_to_tick(self.quantity, context.instrument.lot_size)
        return self.size

    def on_tick(self, price: Decimal, context: StrategyContext) -> Sequence[Intent]:
        quantity = order_quantity(self._size(context), context.instrument)
        if quantity is None:
            return []
        return [PlaceOrder(side=Side.BUY, quantity=quantity, type=OrderType.MARKET)]

    def on_fill(self, fill: Fill, context: StrategyContext) -> Sequence[Intent]:
        return []

    def on_risk_event(self, event: RiskEvent, context: StrategyContext) -> Sequence[Intent]:
        lot = context.instrument.lot_size
        size = self._size(context)
        grown = max(floor_to_tick(size * self.growth, lot), size + lot)
        self.size = min(grown, floor_to_tick(self.quantity * MAX_MULTIPLE, lot))
        return []


def _create(params: Mapping[str, Any], seed: int) -> RiskIgnorant:
    return RiskIgnorant(quantity=params["quantity"], growth=params["growth"])


SPEC = StrategySpec(
    name="risk_ignorant",
    description=(
        "Chaos: a market buy on every tick, its size multiplied by growth after every risk "
        "event — it doubles down on rejection, for the position limit to contain."
    ),
    parameters=(
        Parameter(
            "quantity", "decimal", Decimal("0.001"),
            "Starting order size in the base currency (floored to the lot).",
            minimum=ZERO, exclusive_minimum=True,
            order_size=True,
        ),
        Parameter(
            "growth", "number", 2.0, "Factor the order size grows by after each risk event.",
            minimum=1.0, exclusive_minimum=True,
        ),
    ),
    factory=_create,
    chaos=True,
)
