"""``mean_reversion``: trade a price's z-score against its rolling mean, back towards the mean.

Rules:

* it keeps the last ``window`` tick prices (the current one included); until ``window`` prices
  are in, it has no signal;
* ``z = (price - mean) / stdev`` with the mean and the *population* standard deviation of those
  prices; a standard deviation of 0 (flat prices) gives no signal;
* ``z > entry_z`` sets the target position to ``-position_size`` (short the spike);
  ``z < -entry_z`` to ``+position_size``; ``|z| < exit_z`` to 0 (flat); anything else (between
  the bands, or exactly on one) keeps the current target;
* the target is followed with market orders (see ``targeting``): one order for
  ``target - position`` (floored to the lot) when they differ, nothing while they agree; a
  refused order is retried with a back-off.

With the current price in the window, ``|z|`` can never exceed ``sqrt(window - 1)``, so
``entry_z`` must be below that or the strategy could never enter; ``checks`` refuses it.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from trading_engine.domain.decimals import ZERO
from trading_engine.domain.errors import ValidationError
from trading_engine.domain.strategies.targeting import FollowsTarget
from trading_engine.domain.strategy import Intent, Parameter, StrategyContext, StrategySpec


class MeanReversion(FollowsTarget):
    def __init__(self, *, window: int, entry_z: float, exit_z: float, position_size: Decimal, bar_interval: str = "") -> None:
        super().__init__(bar_interval)
        self.window = window
        self.entry_z = Decimal(repr(entry_z))
        self.exit_z = Decimal(repr(exit_z))
        self.position_size = position_size
        self.prices: deque[Decimal] = deque(maxlen=window)
        self.last_z: Decimal | None = None

    def z_score(self) -> Decimal | None:
        """The latest price's z-score in the window, or ``None`` (window not full, or flat)."""
        if len(self.prices) < self.window:
            return None
        n = Decimal(self.window)
        mean = sum(self.prices, ZERO) / n
        variance = sum(((p - mean) ** 2 for p in self.prices), ZERO) / n
        if variance == 0:
            return None
        return (self.prices[-1] - mean) / variance.sqrt()

    def signal(self, z: Decimal | None) -> Decimal | None:
        if z is None:
            return None
        if z > self.entry_z:
            return -self.position_size
        if z < -self.entry_z:
            return self.position_size
        if abs(z) < self.exit_z:
            return ZERO
        return None

    def on_tick(self, price: Decimal, context: StrategyContext) -> Sequence[Intent]:
        self.prices.append(price)
        self.last_z = self.z_score()
        self.follower.set_target(self.signal(self.last_z))
        return self.follower.orders(context)



def _checks(params: Mapping[str, Any]) -> None:
    if params["exit_z"] >= params["entry_z"]:
        raise ValidationError(
            f"params.exit_z {params['exit_z']} must be less than params.entry_z {params['entry_z']}",
            field="params.exit_z",
        )
    reachable = math.sqrt(params["window"] - 1)
    if params["entry_z"] >= reachable:
        raise ValidationError(
            f"params.entry_z {params['entry_z']} can never be reached with params.window "
            f"{params['window']}: |z| of a price in a window of {params['window']} is at most "
            f"sqrt(window - 1) = {reachable:.4g}; use a smaller entry_z or a larger window",
            field="params.entry_z",
        )


def _create(params: Mapping[str, Any], seed: int) -> MeanReversion:
    return MeanReversion(
        window=params["window"],
        entry_z=params["entry_z"],
        exit_z=params["exit_z"],
        position_size=params["position_size"],
        bar_interval=params["bar_interval"],
    )


SPEC = StrategySpec(
    name="mean_reversion",
    description=(
        "Z-score of the price against its rolling mean: short position_size above entry_z, long "
        "below -entry_z, flat again inside exit_z."
    ),
    parameters=(
        Parameter(
            "window", "integer", 20,
            "Number of tick prices (the current one included) in the rolling mean and deviation.",
            minimum=2,
        ),
        Parameter(
            "entry_z", "number", 2.0,
            "Enter when |z| is above this (short above the mean, long below).",
            minimum=0.0, exclusive_minimum=True,
        ),
        Parameter(
            "exit_z", "number", 0.5, "Go flat when |z| is below this; less than entry_z.", minimum=0.0,
        ),
        Parameter(
            "position_size", "decimal", Decimal("0.01"),
            "Size of the position held on a signal, in the base currency (floored to the lot).",
            minimum=ZERO, exclusive_minimum=True,
            order_size=True,
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
