"""A strategy plug-in for restart tests (``strategies.modules tests.support.bar_follower:SPEC``):
on each closed bar, long ``position_size`` after a bar that closed at or above its open, flat after
one that closed below. It remembers nothing but its position, which a resumed instance gets back
from its fills, so a run interrupted and resumed decides exactly as one that was not."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from trading_engine.domain.bars import Bar
from trading_engine.domain.strategies.targeting import FollowsTarget
from trading_engine.domain.strategy import Intent, Parameter, StrategyContext, StrategySpec


class BarFollower(FollowsTarget):
    def __init__(self, position_size: Decimal) -> None:
        super().__init__("1m")
        self.position_size = position_size

    def on_bar(self, bar: Bar, context: StrategyContext) -> Sequence[Intent]:
        self.follower.set_target(self.position_size if bar.close >= bar.open else Decimal(0))
        return self.follower.orders(context)

    def on_tick(self, price: Decimal, context: StrategyContext) -> Sequence[Intent]:
        return []


def _create(params: Mapping[str, Any], seed: int) -> BarFollower:
    return BarFollower(params["position_size"])


SPEC = StrategySpec(
    name="bar_follower",
    description="Long after an up bar, flat after a down bar.",
    parameters=(
        Parameter("position_size", "decimal", Decimal("0.01"), "Position held after an up bar.",
                  minimum=Decimal(0), exclusive_minimum=True, order_size=True),
    ),
    factory=_create,
)
