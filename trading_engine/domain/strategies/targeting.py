"""Following a target position with market orders: the execution half of the signal strategies.

``momentum`` and ``mean_reversion`` decide a *target* position (``+size``, ``-size`` or 0, or
no target yet); a :class:`TargetFollower` turns it into orders:

* on each tick, when a target is set and the instance's position differs from it, one market
  order for the difference (``target - position``), snapped down to the lot; nothing when the
  snapped difference is below the instrument's minimum order size;
* nothing while the position equals the target, so a steady signal never churns;
* a refused order (a risk event) is retried on later ticks, with a back-off: after the n-th
  refusal in a row the follower sits out ``min(2**(n-1), 64)`` ticks before trying again. A new
  target, or reaching the target, ends the back-off.

It relies on the runtime applying each intent (and delivering its fills) before the next event,
which is how ``on_tick`` sees an up-to-date ``context.position``.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from trading_engine.domain.bars import Bar
from trading_engine.domain.orders import Fill, OrderType, Side
from trading_engine.domain.strategies.grid import order_quantity
from trading_engine.domain.strategy import Intent, PlaceOrder, RiskEvent, StrategyContext

MAX_BACKOFF_TICKS = 64


class TargetFollower:
    def __init__(self) -> None:
        self.target: Decimal | None = None
        self._backoff = 0  # ticks to sit out after the latest refusal
        self._wait = 0  # ticks still to sit out

    def set_target(self, target: Decimal | None) -> None:
        """Aim at ``target``; ``None`` keeps the current target."""
        if target is not None and target != self.target:
            self.target = target
            self._backoff = self._wait = 0

    def orders(self, context: StrategyContext) -> list[PlaceOrder]:
        """The market order that moves ``context.position`` to the target, if one is due."""
        if self.target is None:
            return []
        difference = self.target - context.position
        quantity = order_quantity(difference, context.instrument) if difference else None
        if quantity is None:  # at the target, or less than an order's worth from it
            self._backoff = self._wait = 0
            return []
        if self._wait > 0:
            self._wait -= 1
            return []
        side = Side.BUY if difference > 0 else Side.SELL
        return [PlaceOrder(side=side, quantity=quantity, type=OrderType.MARKET)]

    def refused(self) -> None:
        """An order was refused: sit out the next ticks, twice as many as last time (capped)."""
        self._backoff = min(max(1, self._backoff * 2), MAX_BACKOFF_TICKS)
        self._wait = self._backoff


class FollowsTarget:
    """Base of the strategies that set a target position on each tick and trade towards it: a
    fill needs no answer (the next tick compares the new position with the target), and a
    refusal makes the follower back off."""

    def __init__(self, bar_interval: str = "") -> None:
        self.follower = TargetFollower()
        # Set: decide once per closed bar of this interval, on its close (see domain/bars.py).
        self.bar_interval = bar_interval or None

    def on_bar(self, bar: Bar, context: StrategyContext) -> Sequence[Intent]:
        return self.on_tick(bar.close, context)

    def on_tick(self, price: Decimal, context: StrategyContext) -> Sequence[Intent]:
        raise NotImplementedError

    def on_fill(self, fill: Fill, context: StrategyContext) -> Sequence[Intent]:
        return []

    def on_risk_event(self, event: RiskEvent, context: StrategyContext) -> Sequence[Intent]:
        self.follower.refused()
        return []
