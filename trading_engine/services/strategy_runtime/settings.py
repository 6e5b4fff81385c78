"""The runtime's settings (``strategies.*`` in config) and the per-instance limit parameters."""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from trading_engine.domain.strategy import Parameter, StrategySpec


@dataclass(frozen=True)
class StrategySettings:
    enable_chaos: bool
    resume_on_start: bool
    max_instances: int
    max_position_notional: Decimal
    max_orders_per_second: float
    max_open_orders: int
    breaker_after_limit_hits: int
    limit_hits_window_seconds: float
    performance_interval_seconds: float


def limit_parameters(settings: StrategySettings) -> tuple[Parameter, ...]:
    """The per-instance limits every strategy takes, with the configured defaults."""
    return (
        Parameter("max_position_notional", "decimal", settings.max_position_notional,
                  "Largest position of this instance, at the mark, in the reporting currency.",
                  minimum=Decimal(0), exclusive_minimum=True),
        Parameter("max_orders_per_second", "number", settings.max_orders_per_second,
                  "Orders this instance may submit per second (token bucket, burst of one second).",
                  minimum=0.0, exclusive_minimum=True, maximum=1000.0),
        Parameter("max_open_orders", "integer", settings.max_open_orders,
                  "Resting orders this instance may hold at once.", minimum=1, maximum=1000),
    )


def with_limit_parameters(spec: StrategySpec, settings: StrategySettings) -> StrategySpec:
    """``spec`` as the runtime offers it: its own parameters, then the per-instance limits."""
    return replace(spec, parameters=(*spec.parameters, *limit_parameters(settings)))
