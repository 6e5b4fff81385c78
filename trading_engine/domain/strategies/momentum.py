"""``momentum``: a simple-moving-average crossover with a fixed position size.

Rules:

* it keeps the last ``slow`` tick prices; until ``slow`` prices are in, it has no signal;
* then, on each tick, with ``fast_ma`` the mean of the last ``fast`` prices and ``slow_ma`` the
  mean of the last ``slow`` (compared exactly, without dividing): ``fast_ma > slow_ma`` sets the
  target position to ``+position_size``; ``fast_ma < slow_ma`` to ``-position_size`` when
  ``allow_short`` is 1, else to 0 (flat); equal averages keep the current target;
* the target is followed with market orders (see ``targeting``): one order for
  ``target - position`` (floored to the lot) when they differ, nothing while they agree — so it
  trades on a crossover, not on every tick; a refused order is retried with a back-off.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from decimal import Decimal, getcontext
from typing import Any

from trading_engine.domain.decimals import ZERO
from trading_engine.domain.errors import ValidationError
from trading_engine.domain.strategies.targeting import FollowsTarget
from trading_engine.domain.strategy import Intent, Parameter, StrategyContext, StrategySpec


class Momentum(FollowsTarget):
    def __init__(self, *, fast: int, slow: int, position_size: Decimal, allow_short: bool, bar_interval: str = "") -> None:
        super().__init__(bar_interval)
        self.fast = fast
        self.slow = slow
        self.position_size = position_size
        self.allow_short = allow_short
        self.prices: deque[Decimal] = deque(maxlen=slow)
        # Running sums of the windows, kept while every price in the slow window is "narrow": its
        # digits lie between 10**-_places and 10**_scale, bounds chosen so that any sum of the window,
        # times ``slow``, fits the context's precision. Then no addition, product or difference of
        # ``signal`` rounds, and the running sums compare exactly as the re-summed windows would; a
        # wide price (or another precision) falls back to re-summing, as it rounds there.
        self._sums: tuple[Decimal, Decimal] | None = None  # (fast, slow), while valid
        self._wide = 0  # how many prices of the window are not narrow
        self._narrows: deque[bool] = deque(maxlen=slow)  # which are, in the order of ``prices``
        self._prec = getcontext().prec
        spare = self._prec - 2 * len(str(slow)) - 1
        self._scale, self._places = (spare + 1) // 2, spare // 2

    def _narrow(self, price: Decimal) -> bool:
        exponent = price.as_tuple().exponent
        return (isinstance(exponent, int) and exponent >= -self._places
                and price.adjusted() < self._scale)

    def _add(self, price: Decimal) -> None:
        prices = self.prices
        full = len(prices) == self.slow
        dropped = prices[0] if full else None
        leaving = prices[-self.fast] if len(prices) >= self.fast else None
        if full and not self._narrows[0]:
            self._wide -= 1
        narrow = self._narrow(price)
        if not narrow:
            self._wide += 1
        prices.append(price)
        self._narrows.append(narrow)
        if self._wide or len(prices) < self.slow or getcontext().prec != self._prec:
            self._sums = None
        elif self._sums is None or dropped is None or leaving is None:
            self._sums = (sum(list(prices)[-self.fast :], ZERO), sum(prices, ZERO))
        else:
            fast_sum, slow_sum = self._sums
            self._sums = (fast_sum + price - leaving, slow_sum + price - dropped)

    def signal(self) -> Decimal | None:
        """The target the averages call for, or ``None`` (no signal yet, or averages equal)."""
        if len(self.prices) < self.slow:
            return None
        if self._sums is not None and getcontext().prec == self._prec:
            fast_sum, slow_sum = self._sums
        else:
            fast_sum = sum(list(self.prices)[-self.fast :], ZERO)
            slow_sum = sum(self.prices, ZERO)
        # fast_sum / fast vs slow_sum / slow, exactly
        difference = fast_sum * self.slow - slow_sum * self.fast
        if difference > 0:
            return self.position_size
        if difference < 0:
            return -self.position_size if self.allow_short else ZERO
        return None

    def on_tick(self, price: Decimal, context: StrategyContext) -> Sequence[Intent]:
        self._add(price)
        self.follower.set_target(self.signal())
        return self.follower.orders(context)



def _checks(params: Mapping[str, Any]) -> None:
    if params["fast"] >= params["slow"]:
        raise ValidationError(
            f"params.slow {params['slow']} must be greater than params.fast {params['fast']}",
            field="params.slow",
        )


def _create(params: Mapping[str, Any], seed: int) -> Momentum:
    return Momentum(
        fast=params["fast"],
        slow=params["slow"],
        position_size=params["position_size"],
        bar_interval=params["bar_interval"],
        allow_short=bool(params["allow_short"]),
    )


SPEC = StrategySpec(
    name="momentum",
    description=(
        "Moving-average crossover: long position_size while the fast average of tick prices is "
        "above the slow one; below it, flat (or short position_size with allow_short=1)."
    ),
    parameters=(
        Parameter("fast", "integer", 5, "Window of the fast moving average, in ticks.", minimum=1),
        Parameter(
            "slow", "integer", 20,
            "Window of the slow moving average, in ticks; greater than fast.", minimum=2,
        ),
        Parameter(
            "position_size", "decimal", Decimal("0.01"),
            "Size of the position held on a signal, in the base currency (floored to the lot).",
            minimum=ZERO, exclusive_minimum=True,
            order_size=True,
        ),
        Parameter(
            "allow_short", "integer", 0,
            "1 to go short when the fast average is below the slow one; 0 to go flat.",
            minimum=0, maximum=1,
        ),
        Parameter(
            "bar_interval", "interval", "",
            "Empty: decide on every tick. An interval (1s to 1d, e.g. 5m): decide once per closed bar "
            "of that interval, on its close; the windows then count bars.",
        ),
    ),
    factory=_create,
    checks=_checks,
)
