"""``StrategyManager``: the runtime's use case: what can run, starting, stopping, finding and
reporting instances, and the runtime's own start and shutdown.

Instances are stored (a ``StrategyRecord`` each, written when they start and when their status
changes). At startup the instances stored as running are started again when
``strategies.resume_on_start`` is set, their position rebuilt from their stored fills, before the
price feed starts (so no fill of theirs can arrive first). Those not resumed are stopped with the
reason why, their resting orders cancelled. Instances that are not running (stopped or failed, in
this run or an earlier one) keep their status and performance: they are read back from the store
on request.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import structlog

from trading_engine.domain.errors import CapacityReached, Conflict, DomainError, NotFound, ValidationError
from trading_engine.domain.ids import IdGenerator
from trading_engine.domain.instruments import Instrument
from trading_engine.domain.orders import Fill, Order
from trading_engine.domain.portfolio import Position
from trading_engine.domain.ports.clock import Clock
from trading_engine.domain.ports.market_data import MarketDataPort, Quote
from trading_engine.domain.ports.repository import ChangeSet, StrategyRepository
from trading_engine.domain.strategies import check_for_instrument
from trading_engine.domain.bars import BarAggregator
from trading_engine.domain.strategy import StrategySpec, bar_interval_of
from trading_engine.domain.strategy_record import StrategyRecord, StrategyStatus
from trading_engine.services.account import Account
from trading_engine.services.market import MarketView
from trading_engine.services.strategy_runtime.gauges import StrategyMetrics
from trading_engine.services.strategy_runtime.instance import Instance, seed_of
from trading_engine.services.strategy_runtime.limits import InstanceLimits
from trading_engine.services.strategy_runtime.performance import PerformanceTrack, mark_of
from trading_engine.services.strategy_runtime.runner import InstanceRunner
from trading_engine.services.strategy_runtime.settings import StrategySettings, with_limit_parameters

log = structlog.get_logger(__name__)

RUNNING, STOPPED = StrategyStatus.RUNNING, StrategyStatus.STOPPED


class StrategyManager:
    def __init__(
        self,
        runner: InstanceRunner,
        account: Account,
        market_data: MarketDataPort,
        market: MarketView,
        store: StrategyRepository,
        clock: Clock,
        metrics: StrategyMetrics,
        settings: StrategySettings,
        catalogue: Mapping[str, StrategySpec],
        *,
        environment: str,
        strategy_ids: Callable[[], str] | None = None,
    ) -> None:
        self._runner = runner
        self._account = account
        self._market_data = market_data
        self._market = market
        self._store = store
        self._clock = clock
        self._metrics = metrics
        self._settings = settings
        self._environment = environment
        self._specs = {
            name: with_limit_parameters(spec, settings)
            for name, spec in catalogue.items()
            if not spec.chaos or self.chaos_allowed
        }
        self._ids = strategy_ids or IdGenerator("stg_")
        self._instances: dict[str, Instance] = {}
        self._unsubscribe: Callable[[], None] | None = None
        self._driven = False  # settled after each batch by the feed (settle_each_batch)

    @property
    def chaos_allowed(self) -> bool:
        return self._settings.enable_chaos and self._environment != "production"

    # -- the runtime's start and shutdown ---------------------------------------------------------
    async def start_runtime(self) -> None:
        """Subscribe to prices and resume (or retire) the instances stored as running."""
        self._unsubscribe = self._market_data.subscribe(self.on_quotes)
        self._metrics.none_active(self._specs)
        for record in await self._store.list_strategies(status=RUNNING):
            spec = self._specs.get(record.strategy)
            if not self._settings.resume_on_start or spec is None:
                why = ("not resumed: strategies.resume_on_start is false" if spec is not None
                       else f"not resumed: strategy {record.strategy} is not available")
                await self._retire(record, why, spec)
                continue
            try:
                await self._resume(spec, record)
            except DomainError as exc:
                await self._retire(record, f"not resumed: {exc.message}", spec)

    async def shutdown(self) -> None:
        """Stop every task (instances stay ``running`` in the store, to resume on restart)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        tasks = [i.task for i in self._instances.values() if i.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def settled(self) -> None:
        """Return once every running instance has handled everything it was sent (and what that
        caused: fills, refusals) and no venue event is still being handed on. A replay awaits this
        after each event, so every strategy decides on every event, at any speed."""
        while True:
            if self._driven and self._decide_waiting():
                return
            if self._runner.settled() and self._instances_settled():
                return
            await asyncio.sleep(0)

    def _instances_settled(self) -> bool:
        for instance in self._instances.values():  # a loop: ``all()`` over a generator costs more
            if not instance.settled:
                return False
        return True

    def settle_each_batch(self) -> Callable[[], Awaitable[None]]:
        """``settled``, for a feed that awaits it after each batch it publishes (a replay, live or
        in a backtest). The batch's ticks and bars then wake no instance's task as they arrive:
        ``settled`` hands them on, to each instance in turn (see ``_decide_waiting``)."""
        self._driven = True
        return self.settled

    def _decide_waiting(self) -> bool:
        """The events that woke no task. While no venue event is being handed on, each instance
        decides on its own here, in turn, without a task switch per event (most events cause
        nothing to do); from the first decision with intents on, or while a venue event is being
        handed on, the instances' tasks are woken in turn instead, so the order in which
        instances decide and act is the one their tasks would have had.

        Returns True when that leaves the engine settled (what ``settled`` checks): no venue event
        being handed on, and every running instance idle, having decided here with nothing to do
        or had nothing to decide. The usual event ends so, without checking every instance again."""
        inline = self._runner.settled()
        settled = inline
        for instance in self._instances.values():
            if not instance.running:
                continue
            inbox = instance.inbox
            if instance.busy or inbox.wakeup.is_set():
                settled = False
            elif not inbox.pending:
                continue
            elif inline:
                inline = self._runner.decide_now(instance)
                settled = settled and inline
            else:
                inbox.wakeup.set()
        return settled

    # -- events in ----------------------------------------------------------------------------
    def on_quotes(self, quotes: Sequence[Quote]) -> None:
        """Market data listener: the latest tick of each running instance's symbol. An instance
        whose task is waiting decides on it here and now, in turn, so every instance the tick
        reaches decides before any of them acts (its task is woken only when there is something to
        do); an instance still busy with an earlier event gets it from its task, coalesced. For a
        feed that settles after each batch, ``settled`` hands the events on instead."""
        received = self._clock.monotonic()
        # one quote a batch (a replay of one symbol): no comprehension for it
        by_symbol = {quotes[0].symbol: quotes[0]} if len(quotes) == 1 else {q.symbol: q for q in quotes}
        for instance in self._instances.values():
            quote = by_symbol.get(instance.symbol)
            if quote is None or not instance.running:
                continue
            instance.on_quote(quote, received, wake=False)
            if self._driven or not instance.inbox.pending:
                continue
            if instance.busy or instance.inbox.wakeup.is_set():
                instance.inbox.wakeup.set()
            else:
                self._runner.decide_now(instance)

    def on_fill(self, order: Order, fill: Fill) -> None:
        """Fill listener of the order use case: a fill of an instance's order, as it happens."""
        instance = self._instances.get(fill.strategy_id or "")
        if instance is None:
            return
        instance.performance.apply_fill(fill)
        self._runner.updates.publish(fill)
        if instance.running:
            instance.inbox.put("fill", fill)

    def count_trade(self, order: Order, fill: Fill) -> None:
        """Durable fill listener of the order use case: count a fill of an instance's order once
        it is committed (``trading_strategy_trades_total``)."""
        instance = self._instances.get(fill.strategy_id or "")
        if instance is not None:
            self._metrics.trade(instance, fill.side.value)

    # -- the API's operations -----------------------------------------------------------------
    def available(self) -> list[dict[str, Any]]:
        return [
            {
                "name": spec.name,
                "description": spec.description,
                "chaos": spec.chaos,
                "origin": spec.origin,
                "parameters": {p.name: p.schema() for p in spec.parameters},
            }
            for spec in self._specs.values()
        ]

    def check(self, strategy: str, symbol: str, params: Mapping[str, Any] | None) -> None:
        """Refuse what ``start`` would refuse in the strategy, symbol or parameters (a backtest's
        submission is checked so)."""
        self._validated(strategy, symbol, params)

    def _validated(self, strategy: str, symbol: str,
                   params: Mapping[str, Any] | None) -> tuple[StrategySpec, Instrument, dict[str, Any]]:
        spec = self._specs.get(strategy)
        if spec is None:
            raise ValidationError(
                f"unknown strategy {strategy!r}; available: {', '.join(sorted(self._specs))}"
                + ("" if self.chaos_allowed else " (chaos strategies need ENABLE_CHAOS_STRATEGIES=true, "
                   "outside production)"),
                field="strategy",
            )
        instrument = self._instrument(symbol)
        validated = spec.validate_params(params)
        check_for_instrument(spec, validated, instrument)
        return spec, instrument, validated

    async def start(self, strategy: str, symbol: str, params: Mapping[str, Any] | None) -> Instance:
        spec, instrument, validated = self._validated(strategy, symbol, params)
        running = sum(1 for i in self._instances.values() if i.running)
        if running >= self._settings.max_instances:
            raise CapacityReached(
                f"{running} strategy instances are running, the most strategies.max_instances allows; "
                "stop one first"
            )
        instance = self._new_instance(self._ids(), spec, instrument.symbol, validated, self._clock.now())
        record = instance.record()
        await self._account.commit(ChangeSet(strategies=(record,)))
        self._launch(instance)
        log.info("strategy_started", strategy_id=instance.strategy_id, strategy=spec.name,
                 symbol=instance.symbol, params=dict(record.params))
        return instance

    async def stop(self, strategy_id: str, reason: str = "stopped by client") -> Instance:
        instance = await self.find(strategy_id)
        if not instance.running:
            raise Conflict(f"strategy {strategy_id} is {instance.status}; only running instances can be stopped")
        await self._runner.halt(instance, STOPPED, reason)
        return instance

    def get(self, strategy_id: str) -> Instance:
        instance = self._instances.get(strategy_id)
        if instance is None:
            raise NotFound(f"strategy instance {strategy_id!r} not found")
        return instance

    def active(self) -> list[Instance]:
        return [i for i in self._instances.values() if i.running]

    def instances(self, strategy_id: str | None = None) -> list[Instance]:
        return [i for i in self._instances.values() if strategy_id in (None, i.strategy_id)]

    def resting(self, strategy_id: str) -> list[Order]:
        """The instance's orders resting on the venue."""
        return self._runner.resting(strategy_id)

    async def find(self, strategy_id: str) -> Instance:
        """An instance of this run, or one stored by an earlier run (read back, not running)."""
        instance = self._instances.get(strategy_id)
        if instance is not None:
            return instance
        record = await self._store.get_strategy(strategy_id)
        spec = None if record is None else self._specs.get(record.strategy)
        if record is None or spec is None:
            raise NotFound(f"strategy instance {strategy_id!r} not found")
        instance = await self._rebuild(spec, record)
        instance.reason, instance.updated_at = record.reason, record.updated_at
        # Running in the store but not here: it was not resumed.
        instance.status = STOPPED if record.status is RUNNING else record.status
        self._instances[strategy_id] = instance
        return instance

    def performance(self, strategy_id: str) -> dict[str, Any]:
        return self.performance_of(self.get(strategy_id))

    def performance_of(self, instance: Instance) -> dict[str, Any]:
        return {
            "strategy_id": instance.strategy_id,
            "strategy": instance.spec.name,
            "symbol": instance.symbol,
            "currency": self._account.instruments[instance.symbol].quote,
            "status": instance.status,
            **instance.performance.report(mark_of(self._market, instance.symbol)),
            "interval_seconds": self._settings.performance_interval_seconds,
            "limit_hits": instance.limits.hits,
            "ticks_processed": instance.performance.ticks,
        }

    def refresh_gauges(self) -> None:
        """Collect hook: net P&L per strategy name (in the reporting currency) and active counts."""
        self._metrics.refresh(self._specs, self._instances.values())

    # -- building instances ---------------------------------------------------------------------
    def _instrument(self, symbol: str) -> Instrument:
        normalised = (symbol or "").strip().upper()
        instrument = self._account.instruments.get(normalised)
        if instrument is None:
            raise ValidationError(
                f"unknown symbol {symbol!r}; configured: {', '.join(sorted(self._account.instruments))}",
                field="symbol",
            )
        return instrument

    def _new_instance(self, strategy_id: str, spec: StrategySpec, symbol: str,
                      params: dict[str, Any], created_at: datetime) -> Instance:
        strategy = spec.create(params, seed_of(strategy_id))
        interval = bar_interval_of(strategy)
        return Instance(
            strategy_id=strategy_id,
            spec=spec,
            symbol=symbol,
            params=params,
            strategy=strategy,
            created_at=created_at,
            performance=PerformanceTrack(Position(symbol)),
            limits=InstanceLimits.for_params(params, self._clock.monotonic),
            bars=None if interval is None else BarAggregator(symbol, interval),
        )

    async def _rebuild(self, spec: StrategySpec, record: StrategyRecord) -> Instance:
        """The stored instance (not launched), its position rebuilt from what its fills that aged
        out of the store added up to, then the stored fills that fold does not hold."""
        params = spec.validate_params(record.params)
        instance = self._new_instance(record.strategy_id, spec, record.symbol, params, record.created_at)
        folded = (await self._store.folded_fills([instance.strategy_id])).get(instance.strategy_id)
        stored = await self._store.fills_for_strategy(instance.strategy_id)
        instance.performance = PerformanceTrack.rebuilt(instance.symbol, folded, stored)
        return instance

    async def _resume(self, spec: StrategySpec, record: StrategyRecord) -> None:
        instance = await self._rebuild(spec, record)
        self._launch(instance)
        log.info("strategy_resumed", strategy_id=instance.strategy_id, strategy=spec.name,
                 symbol=instance.symbol, trades=instance.performance.trades)

    async def _retire(self, record: StrategyRecord, why: str, spec: StrategySpec | None = None) -> None:
        await self._runner.cancel_resting(record.strategy_id, why)
        now = self._clock.now()
        retired = dataclasses.replace(record, status=STOPPED, reason=why, updated_at=now)
        await self._account.commit(ChangeSet(strategies=(retired,)))
        if spec is not None:  # visible (status, performance) like an instance stopped by a client
            try:
                instance = await self._rebuild(spec, record)
            except DomainError:
                pass
            else:
                instance.status, instance.reason, instance.updated_at = STOPPED, why, now
                self._instances[instance.strategy_id] = instance
        log.info("strategy_retired", strategy_id=record.strategy_id, reason=why)

    def _launch(self, instance: Instance) -> None:
        self._instances[instance.strategy_id] = instance
        self._runner.launch(instance)
