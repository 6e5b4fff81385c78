"""``donchian``: a Donchian-channel breakout on closed bars, as a plug-in distribution.

Rules, on each closed bar of ``bar_interval``:

* the channel is the highest high and the lowest low of the ``channel`` bars *before* this one;
  until ``channel`` bars are in, there is no signal;
* a close above the channel's high sets the target position to ``+position_size`` (a breakout);
  a close below the channel's low sets it to 0 (flat), or to ``-position_size`` with
  ``allow_short`` 1; a close inside the channel keeps the target;
* the target is followed with market orders, like the built-in ``momentum``.

Like every strategy it is a pure decision function: no clock but ``context.now``, no randomness,
no I/O. It depends on the engine only through ``trading_engine.domain``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from trading_engine.domain.bars import Bar
from trading_engine.domain.strategies.targeting import FollowsTarget
from trading_engine.domain.strategy import Intent, Parameter, StrategyContext, StrategySpec


class Donchian(FollowsTarget):
    def __init__(self, *, channel: int, position_size: Decimal, allow_short: bool, bar_interval: str) -> None:
        super().__init__(bar_interval)
        self.channel = channel
        self.position_size = position_size
        self.allow_short = allow_short
        self.bars: deque[Bar] = deque(maxlen=channel)

    def signal(self, close: Decimal) -> Decimal | None:
        if len(self.bars) < self.channel:
            return None
        if close > max(bar.high for bar in self.bars):
            return self.position_size
        if close < min(bar.low for bar in self.bars):
            return -self.position_size if self.allow_short else Decimal(0)
        return None

    def on_bar(self, bar: Bar, context: StrategyContext) -> Sequence[Intent]:
        self.follower.set_target(self.signal(bar.close))
        self.bars.append(bar)
        return self.follower.orders(context)

    def on_tick(self, price: Decimal, context: StrategyContext) -> Sequence[Intent]:
        return []  # decides on bars only (bar_interval is always set)


def _create(params: Mapping[str, Any], seed: int) -> Donchian:
    return Donchian(
        channel=params["channel"],
        position_size=params["position_size"],
        allow_short=bool(params["allow_short"]),
        bar_interval=params["bar_interval"] or "1m",
    )


SPEC = StrategySpec(
    name="donchian",
    description=(
        "Donchian-channel breakout on closed bars: long position_size when a bar closes above the "
        "highest high of the previous channel bars, flat (or short) below their lowest low."
    ),
    parameters=(
        Parameter("channel", "integer", 20, "Number of previous bars in the channel.", minimum=1),
        Parameter(
            "position_size", "decimal", Decimal("0.01"),
            "Size of the position held on a breakout, in the base currency (floored to the lot).",
            minimum=Decimal(0), exclusive_minimum=True,
            order_size=True,
        ),
        Parameter("allow_short", "integer", 0, "1 to go short below the channel; 0 to go flat.",
                  minimum=0, maximum=1),
        Parameter("bar_interval", "interval", "1m", "Interval of the bars it decides on (empty: 1m)."),
    ),
    factory=_create,
)
