"""The strategy runtime over fakes: the engine of ``tests/support/engine.py`` with the
container's ``StrategyManager``.

``build_strategy_engine`` builds that container (FakeClock, ScriptedMarketData, in-memory store,
RecordingMetrics) with the test's catalogue and ``StrategySettings`` in place of the configured
ones (so a test may also set what the configuration refuses, such as chaos strategies in
production, and see the runtime refuse it too), and starts it as the service does (``run_trading`` resumes the runtime before the feed
starts). Strategy ids are ``stg-1``, ``stg-2``, ... so a run is reproducible (a strategy's seed
derives from its id).

``catalogue`` defaults to the built-in strategies plus the test strategies below:

* ``scripted``: answers each tick with the next batch of intents the test queued
  (``strategy.queue``), or with ``strategy.on_tick_hook(price, context)`` when set; records every
  tick, context, fill and risk event it is handed;
* ``raising``: a scripted strategy that raises on its ``fail_on``-th tick.

``StrategyEngine.tick`` pushes prices and lets every instance task decide (``settle``): the
instance tasks run on the event loop, so a test waits for them by yielding until every running
instance is idle — never by sleeping.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import pytest
from dependency_injector import providers

from tests.support.engine import Engine, build_engine
from trading_engine.containers import Container
from trading_engine.domain.orders import Fill, Order, OrderType, Side, TimeInForce
from trading_engine.domain.strategies import BUILTIN
from trading_engine.domain.strategy import (
    Intent,
    Parameter,
    PlaceOrder,
    RiskEvent,
    StrategyContext,
    StrategySpec,
)
from trading_engine.services.strategy_runtime import Instance, StrategyManager, StrategySettings

D = Decimal

DEFAULT_SETTINGS = StrategySettings(
    enable_chaos=False,
    resume_on_start=True,
    max_instances=100,
    max_position_notional=D("10000"),
    max_orders_per_second=5.0,
    max_open_orders=10,
    breaker_after_limit_hits=50,
    limit_hits_window_seconds=60.0,
    performance_interval_seconds=1.0,
)


# -- test strategies ------------------------------------------------------------------------------
class Scripted:
    """A strategy whose decisions the test scripts; it records what the runtime hands it."""

    def __init__(self, params: Mapping[str, Any], seed: int) -> None:
        self.params = dict(params)
        self.seed = seed
        self.queue: deque[list[Intent]] = deque()
        self.on_tick_hook: Callable[[Decimal, StrategyContext], Sequence[Intent]] | None = None
        self.ticks: list[Decimal] = []
        self.contexts: list[StrategyContext] = []
        self.fills: list[Fill] = []
        self.risk_events: list[RiskEvent] = []

    def on_tick(self, price: Decimal, context: StrategyContext) -> Sequence[Intent]:
        self.ticks.append(price)
        self.contexts.append(context)
        if self.on_tick_hook is not None:
            return self.on_tick_hook(price, context)
        return self.queue.popleft() if self.queue else []

    def on_fill(self, fill: Fill, context: StrategyContext) -> Sequence[Intent]:
        self.fills.append(fill)
        return []

    def on_risk_event(self, event: RiskEvent, context: StrategyContext) -> Sequence[Intent]:
        self.risk_events.append(event)
        return []


class Raising(Scripted):
    """Raises ``RuntimeError`` on its ``fail_on``-th tick (a parameter)."""

    def on_tick(self, price: Decimal, context: StrategyContext) -> Sequence[Intent]:
        intents = super().on_tick(price, context)
        if len(self.ticks) == self.params["fail_on"]:
            raise RuntimeError(f"boom on tick {len(self.ticks)}")
        return intents


SCRIPTED = StrategySpec(
    name="scripted",
    description="Test strategy: answers ticks with intents the test queued.",
    parameters=(Parameter("tag", "integer", 0, "Free test parameter.", minimum=0),),
    factory=Scripted,
)
RAISING = StrategySpec(
    name="raising",
    description="Test strategy: raises on its fail_on-th tick.",
    parameters=(Parameter("fail_on", "integer", 3, "The tick that raises.", minimum=1),),
    factory=Raising,
)
CATALOGUE: dict[str, StrategySpec] = {**BUILTIN, SCRIPTED.name: SCRIPTED, RAISING.name: RAISING}


# -- intents ------------------------------------------------------------------------------------
def market(side: str, quantity: str) -> PlaceOrder:
    return PlaceOrder(side=Side(side), quantity=D(quantity), type=OrderType.MARKET)


def limit(side: str, quantity: str, price: str) -> PlaceOrder:
    return PlaceOrder(side=Side(side), quantity=D(quantity), type=OrderType.LIMIT, limit_price=D(price),
                      time_in_force=TimeInForce.GTC)


# -- the engine ---------------------------------------------------------------------------------
@dataclass
class StrategyEngine:
    engine: Engine
    manager: StrategyManager
    settings: StrategySettings
    _closed: bool = field(default=False, repr=False)

    @property
    def clock(self):  # type: ignore[no-untyped-def]
        return self.engine.clock

    @property
    def recorded(self):  # type: ignore[no-untyped-def]
        return self.engine.recorded

    async def start(self, strategy: str, symbol: str = "BTC-USD", **params: Any) -> Instance:
        instance = await self.manager.start(strategy, symbol, params)
        await self.settle()
        return instance

    def strategy(self, instance: Instance) -> Any:
        return instance.strategy

    def resting(self, strategy_id: str) -> list[Order]:
        return self.manager.resting(strategy_id)

    async def tick(self, price: Decimal | str | int, symbol: str = "BTC-USD", *, advance: float = 0.0) -> None:
        """Advance the clock by ``advance`` seconds, push one price, let every instance decide."""
        if advance:
            self.clock.advance(advance)
        self.engine.market.push(symbol, D(str(price)))
        await self.settle()

    async def ticks(self, prices: Sequence[Decimal | str | int], symbol: str = "BTC-USD", *,
                    advance: float = 0.0) -> None:
        for price in prices:
            await self.tick(price, symbol, advance=advance)

    async def settle(self, max_rounds: int = 1000) -> None:
        """Yield to the event loop until every running instance has no event or tick left to
        handle and every venue event is committed."""
        quiet = 0
        for _ in range(max_rounds):
            await asyncio.sleep(0)
            busy = any(not i.inbox.idle for i in self.manager.active()) or bool(self.engine.orders._background)
            quiet = 0 if busy else quiet + 1
            if quiet >= 3:
                return
        raise AssertionError("strategy instances did not settle")

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self.engine.close()


async def build_strategy_engine(
    *,
    catalogue: Mapping[str, StrategySpec] = CATALOGUE,
    strategy_ids: Callable[[], str] | None = None,
    **settings_and_engine: Any,
) -> StrategyEngine:
    """Settings named like ``StrategySettings`` fields override ``DEFAULT_SETTINGS``; every other
    keyword goes to ``build_engine`` (``environment``, ``store``, ``prices`` included)."""
    names = set(StrategySettings.__dataclass_fields__)
    settings = replace(DEFAULT_SETTINGS, **{k: v for k, v in settings_and_engine.items() if k in names})
    if strategy_ids is None:
        counter = itertools.count(1)

        def strategy_ids() -> str:
            return f"stg-{next(counter)}"

    def configure(container: Container) -> None:
        container.strategy_catalogue.override(providers.Object(catalogue))
        container.strategy_settings.override(providers.Object(settings))
        container.strategy_manager.add_kwargs(strategy_ids=strategy_ids)

    engine = await build_engine(configure=configure, **{k: v for k, v in settings_and_engine.items() if k not in names})
    built = StrategyEngine(engine, engine.strategies, settings)
    await built.settle()
    return built


@pytest.fixture
async def make_strategy_engine() -> AsyncIterator[Callable[..., Awaitable[StrategyEngine]]]:
    """``await make_strategy_engine(**settings)``; every engine built is closed after the test."""
    built: list[StrategyEngine] = []

    async def make(**settings: Any) -> StrategyEngine:
        engine = await build_strategy_engine(**settings)
        built.append(engine)
        return engine

    yield make
    for engine in reversed(built):
        await engine.close()


def orders_of(engine: StrategyEngine, strategy_id: str) -> Any:
    """Every stored order of the instance (newest first)."""
    from trading_engine.domain.ports.repository import OrderQuery

    return engine.engine.store.list_orders(OrderQuery(strategy_id=strategy_id, limit=1000))
