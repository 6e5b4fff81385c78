"""The per-instance limits, checked on every ``PlaceOrder`` before it reaches the order use case,
and the count of refusals that contains a runaway instance.

* ``max_open_orders``: resting orders of the instance (limit orders only);
* ``max_position_notional``: the instance's position after the order, at the current mark, in
  the reporting currency; an order that does not grow the position is never refused by it;
* ``max_orders_per_second``: a token bucket (burst of one second's worth) on orders submitted.

Refusals (by these limits or by pre-trade risk) within ``strategies.limit_hits_window_seconds``
are counted; those caused by an open breaker or stale prices say nothing about the instance and
do not count.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from trading_engine.domain.decimals import plain
from trading_engine.domain.orders import OrderType, RejectReason, Side
from trading_engine.domain.rate_limit import TokenBucket
from trading_engine.domain.strategy import MAX_OPEN_ORDERS, MAX_POSITION, ORDER_RATE, PlaceOrder, RiskEvent

# Refusals that say nothing about the instance (trading is halted, prices are stale): they are
# counted and reported to the strategy, but do not bring it closer to containment.
NOT_THE_STRATEGYS_DOING = frozenset({RejectReason.CIRCUIT_BREAKER_OPEN, RejectReason.MARKET_DATA_STALE})


@dataclass
class InstanceLimits:
    """One instance's order rate bucket and its refusals."""

    bucket: TokenBucket
    hits: int = 0  # refusals that count, ever
    recent: deque[float] = field(default_factory=deque)  # their monotonic times, within the window

    @classmethod
    def for_params(cls, params: Mapping[str, Any], clock: Callable[[], float]) -> InstanceLimits:
        rate = float(params["max_orders_per_second"])
        return cls(TokenBucket(rate, max(1.0, rate), clock))

    def check(
        self,
        intent: PlaceOrder,
        params: Mapping[str, Any],
        *,
        position: Decimal,
        resting: int,
        notional: Callable[[Decimal], Decimal | None],
    ) -> RiskEvent | None:
        """The refusal of ``intent`` by the first limit it breaks, or None. ``notional`` values a
        quantity of the symbol in the reporting currency (None without a mark)."""
        if intent.type is OrderType.LIMIT and resting >= params["max_open_orders"]:
            return RiskEvent(MAX_OPEN_ORDERS, f"instance holds {params['max_open_orders']} resting orders, "
                             "its max_open_orders", intent)
        projected = position + (intent.quantity if intent.side is Side.BUY else -intent.quantity)
        if abs(projected) > abs(position):
            value = notional(abs(projected))
            if value is not None and value > params["max_position_notional"]:
                return RiskEvent(
                    MAX_POSITION,
                    f"position after the order would be {plain(value)} in the reporting currency, above "
                    f"max_position_notional {plain(params['max_position_notional'])}",
                    intent,
                )
        if not self.bucket.take():
            return RiskEvent(ORDER_RATE, f"more than max_orders_per_second {params['max_orders_per_second']:g} "
                             "orders per second", intent)
        return None

    def count(self, event: RiskEvent, now: float, window: float) -> int:
        """Record the refusal ``event`` at ``now``; the refusals that count within ``window``."""
        if event.reason not in NOT_THE_STRATEGYS_DOING:
            self.hits += 1
            self.recent.append(now)
            while self.recent and self.recent[0] <= now - window:
                self.recent.popleft()
        return len(self.recent)
