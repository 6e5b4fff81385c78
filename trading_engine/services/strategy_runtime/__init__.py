"""The strategy runtime: running strategy instances inside the engine, contained by risk.

The three strategy places: the contract a strategy implements (``domain/strategy.py``), the
built-in strategies (``domain/strategies/``) and this runtime, which runs them:

* ``manager``: ``StrategyManager``, the use case (available, start, stop, find, performance) and
  the runtime's start (resume or retire the stored instances) and shutdown;
* ``runner``: the per-instance event loop (events in, intents out) and stopping an instance;
* ``instance``: an instance's identity, status, inbox and task, and its ``StrategyRecord``;
* ``limits``: the per-instance limits and the refusal count that contains a runaway instance;
* ``performance``: an instance's trades, P&L, win rate, drawdown and Sharpe ratio;
* ``gauges``: the runtime's metrics;
* ``settings``: ``StrategySettings`` (``strategies.*``) and the limit parameters.

The pure parts live in the domain: ``StrategyStatus`` and ``StrategyRecord``
(``domain/strategy_record.py``), the token bucket (``domain/rate_limit.py``), the drawdown and
Sharpe arithmetic (``domain/performance.py``).
"""

from trading_engine.services.strategy_runtime.gauges import StrategyMetrics
from trading_engine.services.strategy_runtime.instance import Instance
from trading_engine.services.strategy_runtime.manager import StrategyManager
from trading_engine.services.strategy_runtime.runner import InstanceRunner
from trading_engine.services.strategy_runtime.settings import (
    StrategySettings,
    limit_parameters,
    with_limit_parameters,
)

__all__ = [
    "Instance",
    "InstanceRunner",
    "StrategyManager",
    "StrategyMetrics",
    "StrategySettings",
    "limit_parameters",
    "with_limit_parameters",
]
