"""The strategy runtime: running strategy instances inside the engine, contained by risk.

Each running instance is an asyncio task owned by :class:`StrategyManager`. The task takes the
instance's events one at a time (its own fills and risk events first, then the latest tick of its
symbol; ticks that arrive while it is busy are coalesced, so a slow strategy decides on the
newest price instead of falling behind) and hands each to the strategy, which answers with
intents. Every ``PlaceOrder`` passes the instance's own limits, then goes through the order use
case and its pre-trade checks like any API order, tagged with the instance id; there is no other
way to the venue.

Per-instance limits (parameters of every strategy, defaults from config):

* ``max_orders_per_second``: a token bucket (burst of one second's worth) on orders submitted;
* ``max_open_orders``: resting orders of the instance;
* ``max_position_notional``: the instance's position after the order, at the current mark, in
  the reporting currency; an order that does not grow the position is never refused by it.

A refused intent (by these limits, or by pre-trade risk) comes back to the strategy as a
:class:`RiskEvent` and counts in ``trading_risk_limit_breaches_total``. An instance whose intents
are refused ``strategies.breaker_after_limit_hits`` times within
``strategies.limit_hits_window_seconds`` (refusals because the breaker is already open or prices
are stale do not count) trips the circuit breaker and is stopped with status ``error``: a runaway
algorithm halts trading instead of flooding it, while a strategy that brushes a limit now and then
never adds up to a halt.

An exception raised by a strategy stops that instance only (status ``error``, the exception as
reason, logged and counted); the engine and every other instance go on. Stopping an instance
cancels its resting orders. Instances are stored; with ``strategies.resume_on_start`` they are
started again on restart, their position rebuilt from their stored fills, before the price feed
starts (so no fill of theirs can arrive first). Those not resumed are stopped with the reason
why, their resting orders cancelled. Instances that are not running (stopped or failed, in this
run or an earlier one) keep their status and performance: they are read back from the store on
request.

Performance per instance (all amounts in the symbol's quote currency):

* ``trades``: fills of the instance's orders; ``realized_pnl`` (average cost, gross of fees),
  ``unrealized_pnl`` at the current mark, ``fees``, ``net_pnl = realized + unrealized - fees``;
* ``win_rate``: of the fills that closed (part of) a position, the share with positive realized
  P&L; None before the first closing fill;
* ``max_drawdown``: the largest fall of ``net_pnl`` from a previous peak, over samples taken every
  ``strategies.performance_interval_seconds`` (on ticks);
* ``sharpe_ratio``: mean over standard deviation (population) of the per-interval changes of
  ``net_pnl`` across those samples, not annualised; None with fewer than two changes or no
  variation.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import structlog

from trading_engine.domain.decimals import ZERO, plain
from trading_engine.domain.errors import Conflict, DomainError, NotFound, ValidationError
from trading_engine.domain.ids import IdGenerator
from trading_engine.domain.instruments import Instrument
from trading_engine.domain.orders import Fill, Order, OrderType, RejectReason, Side
from trading_engine.domain.portfolio import Position, convert
from trading_engine.domain.ports.clock import Clock
from trading_engine.domain.ports.market_data import MarketDataPort, Quote
from trading_engine.domain.ports.repository import ChangeSet, StrategyRepository
from trading_engine.domain.strategies import check_for_instrument
from trading_engine.domain.strategy import (
    MAX_OPEN_ORDERS,
    MAX_POSITION,
    ORDER_RATE,
    PRE_TRADE,
    CancelOrder,
    Intent,
    Parameter,
    PlaceOrder,
    RestingOrder,
    RiskEvent,
    Strategy,
    StrategyContext,
    StrategySpec,
)
from trading_engine.domain.timefmt import isoformat_exact, parse_timestamp
from trading_engine.services.account import Account
from trading_engine.services.market import MarketView
from trading_engine.services.observability import GuardedMetrics
from trading_engine.services.orders import OrderRejected, OrderRequest, OrderService
from trading_engine.services.risk import RiskService

log = structlog.get_logger(__name__)

RUNNING, STOPPED, ERROR = "running", "stopped", "error"
# Refusals that say nothing about the instance (trading is halted, prices are stale): they are
# counted and reported to the strategy, but do not bring it closer to containment.
NOT_THE_STRATEGYS_DOING = frozenset({RejectReason.CIRCUIT_BREAKER_OPEN, RejectReason.MARKET_DATA_STALE})
MAX_PERFORMANCE_SAMPLES = 10_000


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


class TokenBucket:
    """``rate`` tokens per second, holding at most ``burst``; starts full."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float]) -> None:
        self._rate = rate
        self._burst = burst
        self._clock = clock
        self._tokens = burst
        self._at = clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False


@dataclass
class Instance:
    strategy_id: str
    spec: StrategySpec
    symbol: str
    params: dict[str, Any]
    strategy: Strategy
    bucket: TokenBucket
    created_at: datetime
    position: Position
    status: str = RUNNING
    reason: str | None = None
    updated_at: datetime | None = None
    trades: int = 0
    closing_fills: int = 0
    winning_fills: int = 0
    limit_hits: int = 0
    recent_refusals: deque[float] = field(default_factory=deque)  # monotonic times, within the window
    ticks: int = 0
    samples: deque[float] = field(default_factory=lambda: deque(maxlen=MAX_PERFORMANCE_SAMPLES))
    last_sample_at: float | None = None
    events: deque[tuple[str, Any]] = field(default_factory=deque)
    pending_tick: tuple[Decimal, float] | None = None
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def record(self) -> dict[str, Any]:
        return {
            "strategy_id": self.strategy_id,
            "strategy": self.spec.name,
            "symbol": self.symbol,
            "params": {k: plain(v) if isinstance(v, Decimal) else v for k, v in self.params.items()},
            "status": self.status,
            "reason": self.reason,
            "created_at": isoformat_exact(self.created_at),
            "updated_at": isoformat_exact(self.updated_at or self.created_at),
        }


def _seed(strategy_id: str) -> int:
    """A seed of the instance's own, the same across restarts."""
    return int.from_bytes(hashlib.sha256(strategy_id.encode()).digest()[:8], "big")


class StrategyManager:
    def __init__(
        self,
        orders: OrderService,
        risk: RiskService,
        account: Account,
        market_data: MarketDataPort,
        market: MarketView,
        store: StrategyRepository,
        clock: Clock,
        metrics: GuardedMetrics,
        settings: StrategySettings,
        catalogue: Mapping[str, StrategySpec],
        *,
        environment: str,
        strategy_ids: Callable[[], str] | None = None,
    ) -> None:
        self._orders = orders
        self._risk = risk
        self._account = account
        self._market_data = market_data
        self._market = market
        self._store = store
        self._clock = clock
        self._metrics = metrics
        self._settings = settings
        self._environment = environment
        self._limits = limit_parameters(settings)
        self._specs = {
            name: StrategySpec(spec.name, spec.description, (*spec.parameters, *self._limits),
                               spec.factory, chaos=spec.chaos, checks=spec.checks)
            for name, spec in catalogue.items()
            if not spec.chaos or self.chaos_allowed
        }
        self._ids = strategy_ids or IdGenerator("stg_")
        self._instances: dict[str, Instance] = {}
        self._decision_handles: dict[str, Any] = {}
        self._unsubscribe: Callable[[], None] | None = None
        orders.add_fill_listener(self._on_fill)

    @property
    def chaos_allowed(self) -> bool:
        return self._settings.enable_chaos and self._environment != "production"

    # -- lifecycle ----------------------------------------------------------------------------
    async def start_runtime(self) -> None:
        """Subscribe to prices and resume (or retire) the instances stored as running."""
        self._unsubscribe = self._market_data.subscribe(self._on_quotes)
        for name in self._specs:
            self._metrics.set_gauge("trading_strategy_active", 0.0, {"strategy": name})
        for record in await self._store.list_strategies(status=RUNNING):
            spec = self._specs.get(record["strategy"])
            if not self._settings.resume_on_start or spec is None:
                why = ("not resumed: strategies.resume_on_start is false" if spec is not None
                       else f"not resumed: strategy {record['strategy']} is not available")
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

    # -- the API's operations -----------------------------------------------------------------
    def available(self) -> list[dict[str, Any]]:
        return [
            {
                "name": spec.name,
                "description": spec.description,
                "chaos": spec.chaos,
                "parameters": {p.name: p.schema() for p in spec.parameters},
            }
            for spec in self._specs.values()
        ]

    async def start(self, strategy: str, symbol: str, params: Mapping[str, Any] | None) -> Instance:
        spec = self._specs.get(strategy)
        if spec is None:
            raise ValidationError(
                f"unknown strategy {strategy!r}; available: {', '.join(sorted(self._specs))}"
                + ("" if self.chaos_allowed else " (chaos strategies need ENABLE_CHAOS_STRATEGIES=true, "
                   "outside production)"),
                field="strategy",
            )
        instrument = self._instrument(symbol)
        running = sum(1 for i in self._instances.values() if i.status == RUNNING)
        if running >= self._settings.max_instances:
            raise Conflict(
                f"{running} strategy instances are running, the most strategies.max_instances allows; "
                "stop one first"
            )
        validated = spec.validate_params(params)
        check_for_instrument(spec.name, validated, instrument)
        now = self._clock.now()
        instance = self._new_instance(self._ids(), spec, instrument.symbol, validated, now)
        await self._account.commit(ChangeSet(strategies=(instance.record(),)))
        self._launch(instance)
        log.info("strategy_started", strategy_id=instance.strategy_id, strategy=spec.name,
                 symbol=instance.symbol, params=instance.record()["params"])
        return instance

    async def stop(self, strategy_id: str, reason: str = "stopped by client") -> Instance:
        instance = await self.find(strategy_id)
        if instance.status != RUNNING:
            raise Conflict(f"strategy {strategy_id} is {instance.status}; only running instances can be stopped")
        await self._halt(instance, STOPPED, reason)
        return instance

    def get(self, strategy_id: str) -> Instance:
        instance = self._instances.get(strategy_id)
        if instance is None:
            raise NotFound(f"strategy instance {strategy_id!r} not found")
        return instance

    def active(self) -> list[Instance]:
        return [i for i in self._instances.values() if i.status == RUNNING]

    def instances(self, strategy_id: str | None = None) -> list[Instance]:
        return [i for i in self._instances.values() if strategy_id in (None, i.strategy_id)]

    async def find(self, strategy_id: str) -> Instance:
        """An instance of this run, or one stored by an earlier run (read back, not running)."""
        instance = self._instances.get(strategy_id)
        if instance is not None:
            return instance
        record = await self._store.get_strategy(strategy_id)
        spec = None if record is None else self._specs.get(record["strategy"])
        if record is None or spec is None:
            raise NotFound(f"strategy instance {strategy_id!r} not found")
        instance = await self._rebuild(spec, record)
        instance.status, instance.reason = record["status"], record["reason"]
        instance.updated_at = parse_timestamp(record["updated_at"], field="updated_at")
        if instance.status == RUNNING:  # running in the store but not here: it was not resumed
            instance.status = STOPPED
        self._instances[strategy_id] = instance
        return instance

    def performance(self, strategy_id: str) -> dict[str, Any]:
        return self.performance_of(self.get(strategy_id))

    def performance_of(self, instance: Instance) -> dict[str, Any]:
        mark = self._mark(instance.symbol)
        position = instance.position
        unrealized = position.unrealized_pnl(mark) if mark is not None and position.quantity else ZERO
        net = position.realized_pnl + unrealized - position.fees_paid
        changes = [b - a for a, b in zip(instance.samples, list(instance.samples)[1:])]
        return {
            "strategy_id": instance.strategy_id,
            "strategy": instance.spec.name,
            "symbol": instance.symbol,
            "currency": self._account.instruments[instance.symbol].quote,
            "status": instance.status,
            "trades": instance.trades,
            "position": position.quantity,
            "average_entry_price": position.average_entry_price,
            "realized_pnl": position.realized_pnl,
            "unrealized_pnl": unrealized,
            "fees": position.fees_paid,
            "net_pnl": net,
            "win_rate": (instance.winning_fills / instance.closing_fills) if instance.closing_fills else None,
            "max_drawdown": _max_drawdown([*instance.samples, float(net)]),
            "sharpe_ratio": _sharpe(changes),
            "samples": len(instance.samples),
            "interval_seconds": self._settings.performance_interval_seconds,
            "limit_hits": instance.limit_hits,
            "ticks_processed": instance.ticks,
        }

    def instance_net_pnl(self, instance: Instance) -> Decimal:
        mark = self._mark(instance.symbol)
        unrealized = instance.position.unrealized_pnl(mark) if mark is not None and instance.position.quantity else ZERO
        return instance.position.realized_pnl + unrealized - instance.position.fees_paid

    def refresh_gauges(self) -> None:
        """Collect hook: net P&L per strategy name (in the reporting currency) and active counts."""
        totals: dict[str, Decimal] = {name: ZERO for name in self._specs}
        active: dict[str, int] = {name: 0 for name in self._specs}
        marks = self._market.marks()
        for instance in self._instances.values():
            net = self.instance_net_pnl(instance)
            currency = self._account.instruments[instance.symbol].quote
            reporting = self._account.portfolio.reporting_currency
            totals[instance.spec.name] += convert(net, currency, reporting, marks, self._account.instruments)
            if instance.status == RUNNING:
                active[instance.spec.name] += 1
        for name in self._specs:
            self._metrics.set_gauge("trading_strategy_pnl", float(totals[name]), {"strategy": name})
            self._metrics.set_gauge("trading_strategy_active", float(active[name]), {"strategy": name})

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
        rate = float(params["max_orders_per_second"])
        return Instance(
            strategy_id=strategy_id,
            spec=spec,
            symbol=symbol,
            params=params,
            strategy=spec.create(params, _seed(strategy_id)),
            bucket=TokenBucket(rate, max(1.0, rate), self._clock.monotonic),
            created_at=created_at,
            position=Position(symbol),
        )

    async def _rebuild(self, spec: StrategySpec, record: Mapping[str, Any]) -> Instance:
        """The stored instance, its position rebuilt from its fills (not launched)."""
        params = spec.validate_params(record["params"])
        instance = self._new_instance(record["strategy_id"], spec, record["symbol"], params,
                                      parse_timestamp(record["created_at"], field="created_at"))
        for fill in await self._store.fills_for_strategy(instance.strategy_id):
            self._apply_fill(instance, fill)
        return instance

    async def _resume(self, spec: StrategySpec, record: Mapping[str, Any]) -> None:
        instance = await self._rebuild(spec, record)
        self._launch(instance)
        log.info("strategy_resumed", strategy_id=instance.strategy_id, strategy=spec.name,
                 symbol=instance.symbol, trades=instance.trades)

    async def _retire(self, record: Mapping[str, Any], why: str, spec: StrategySpec | None = None) -> None:
        for order in self._resting(record["strategy_id"]):
            try:
                await self._orders.cancel(order.order_id, reason=why)
            except DomainError:
                pass
        now = self._clock.now()
        retired = {**record, "status": STOPPED, "reason": why, "updated_at": isoformat_exact(now)}
        await self._account.commit(ChangeSet(strategies=(retired,)))
        if spec is not None:  # visible (status, performance) like an instance stopped by a client
            try:
                instance = await self._rebuild(spec, record)
            except DomainError:
                pass
            else:
                instance.status, instance.reason, instance.updated_at = STOPPED, why, now
                self._instances[instance.strategy_id] = instance
        log.info("strategy_retired", strategy_id=record["strategy_id"], reason=why)

    def _launch(self, instance: Instance) -> None:
        self._instances[instance.strategy_id] = instance
        instance.task = asyncio.get_running_loop().create_task(
            self._run(instance), name=f"strategy-{instance.strategy_id}"
        )

    # -- events in ----------------------------------------------------------------------------
    def _on_quotes(self, quotes: Sequence[Quote]) -> None:
        received = self._clock.monotonic()
        by_symbol = {q.symbol: q.price for q in quotes}
        for instance in self._instances.values():
            price = by_symbol.get(instance.symbol)
            if price is not None and instance.status == RUNNING:
                instance.pending_tick = (price, received)  # a newer tick replaces an unprocessed one
                instance.wakeup.set()

    def _on_fill(self, order: Order, fill: Fill) -> None:
        instance = self._instances.get(fill.strategy_id or "")
        if instance is None:
            return
        self._apply_fill(instance, fill)
        self._metrics.inc_counter("trading_strategy_trades_total",
                                  {"strategy": instance.spec.name, "side": fill.side.value})
        if instance.status == RUNNING:
            instance.events.append(("fill", fill))
            instance.wakeup.set()

    def _apply_fill(self, instance: Instance, fill: Fill) -> None:
        realized = instance.position.apply_fill(fill.side, fill.quantity, fill.price, fill.fee)
        instance.trades += 1
        if realized != 0:
            instance.closing_fills += 1
            instance.winning_fills += realized > 0

    # -- the instance's task --------------------------------------------------------------------
    async def _run(self, instance: Instance) -> None:
        try:
            while instance.status == RUNNING:
                await instance.wakeup.wait()
                instance.wakeup.clear()
                while instance.status == RUNNING and (instance.events or instance.pending_tick):
                    if instance.events:
                        kind, payload = instance.events.popleft()
                        await self._decide(instance, kind, payload, None)
                    else:
                        assert instance.pending_tick is not None
                        price, received = instance.pending_tick
                        instance.pending_tick = None
                        instance.ticks += 1
                        self._sample(instance)
                        await self._decide(instance, "tick", price, received)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug in the runtime itself: never take the engine down
            log.exception("strategy_runtime_failed", strategy_id=instance.strategy_id)
            await self._fail(instance, f"runtime error: {type(exc).__name__}: {exc}")

    def _sample(self, instance: Instance) -> None:
        now = self._clock.monotonic()
        if instance.last_sample_at is None or now - instance.last_sample_at >= self._settings.performance_interval_seconds:
            instance.last_sample_at = now
            instance.samples.append(float(self.instance_net_pnl(instance)))

    async def _decide(self, instance: Instance, kind: str, payload: Any, received: float | None) -> None:
        context = self._context(instance)
        try:
            if kind == "tick":
                intents = instance.strategy.on_tick(payload, context)
            elif kind == "fill":
                intents = instance.strategy.on_fill(payload, context)
            else:
                intents = instance.strategy.on_risk_event(payload, context)
            intents = list(intents or ())
        except Exception as exc:
            log.exception("strategy_failed", strategy_id=instance.strategy_id, strategy=instance.spec.name)
            await self._fail(instance, f"{type(exc).__name__}: {exc}")
            return
        if not intents:
            return
        if received is not None:
            self._decision_seconds(instance.spec.name).observe(self._clock.monotonic() - received)
            # Decide first, submit second: a tick wakes every instance of its symbol, and each one
            # decides before any of them starts placing orders, so the last to decide does so on a
            # price as fresh as the first's instead of after everyone else's order handling.
            await asyncio.sleep(0)
        for intent in intents:
            if instance.status != RUNNING:
                return
            await self._submit(instance, intent)

    def _decision_seconds(self, strategy: str) -> Any:
        handle = self._decision_handles.get(strategy)
        if handle is None:
            handle = self._decision_handles[strategy] = self._metrics.histogram(
                "trading_strategy_decision_seconds", {"strategy": strategy}
            )
        return handle

    def _context(self, instance: Instance) -> StrategyContext:
        return StrategyContext(
            symbol=instance.symbol,
            instrument=self._account.instruments[instance.symbol],
            now=self._clock.now(),
            position=instance.position.quantity,
            resting_orders=tuple(
                RestingOrder(o.order_id, o.side, o.limit_price, o.remaining_quantity)
                for o in self._resting(instance.strategy_id)
            ),
            params=instance.params,
        )

    def _resting(self, strategy_id: str) -> list[Order]:
        return [o for o in self._account.open_orders.for_strategy(strategy_id) if o.status.is_open]

    # -- intents out ----------------------------------------------------------------------------
    async def _submit(self, instance: Instance, intent: Intent) -> None:
        if isinstance(intent, CancelOrder):
            if any(o.order_id == intent.order_id for o in self._resting(instance.strategy_id)):
                try:
                    await self._orders.cancel(intent.order_id, reason=f"cancelled by strategy {instance.strategy_id}")
                except DomainError:
                    pass  # filled or gone meanwhile
            return
        if not isinstance(intent, PlaceOrder):
            await self._fail(instance, f"unknown intent {intent!r}")
            return
        refusal = self._check_limits(instance, intent)
        if refusal is not None:
            await self._refused(instance, refusal)
            return
        try:
            await self._orders.place(
                OrderRequest(
                    symbol=instance.symbol,
                    side=intent.side,
                    type=intent.type,
                    quantity=intent.quantity,
                    limit_price=intent.limit_price,
                    time_in_force=intent.time_in_force,
                    strategy_id=instance.strategy_id,
                )
            )
        except OrderRejected as rejected:
            await self._refused(instance, RiskEvent(PRE_TRADE, rejected.message, intent, rejected.reason))
        except ValidationError as exc:  # a malformed intent is a bug in the strategy
            await self._fail(instance, f"invalid order intent: {exc.message}")
        except DomainError as exc:  # e.g. the store is unavailable: nothing was placed
            log.warning("strategy_order_not_placed", strategy_id=instance.strategy_id, error=exc.message)

    def _check_limits(self, instance: Instance, intent: PlaceOrder) -> RiskEvent | None:
        params = instance.params
        if intent.type is OrderType.LIMIT and len(self._resting(instance.strategy_id)) >= params["max_open_orders"]:
            return RiskEvent(MAX_OPEN_ORDERS, f"instance holds {params['max_open_orders']} resting orders, "
                             "its max_open_orders", intent)
        current = instance.position.quantity
        projected = current + (intent.quantity if intent.side is Side.BUY else -intent.quantity)
        if abs(projected) > abs(current):
            notional = self._notional(instance.symbol, abs(projected))
            if notional is not None and notional > params["max_position_notional"]:
                return RiskEvent(
                    MAX_POSITION,
                    f"position after the order would be {plain(notional)} in the reporting currency, above "
                    f"max_position_notional {plain(params['max_position_notional'])}",
                    intent,
                )
        if not instance.bucket.take():
            return RiskEvent(ORDER_RATE, f"more than max_orders_per_second {params['max_orders_per_second']:g} "
                             "orders per second", intent)
        return None

    def _notional(self, symbol: str, quantity: Decimal) -> Decimal | None:
        mark = self._mark(symbol)
        if mark is None:
            return None
        marks = self._market.marks()
        instruments = self._account.instruments
        return convert(quantity * mark, instruments[symbol].quote, self._account.portfolio.reporting_currency,
                       marks, instruments)

    def _mark(self, symbol: str) -> Decimal | None:
        quote = self._market.quote(symbol)
        return None if quote is None else quote.price

    async def _refused(self, instance: Instance, event: RiskEvent) -> None:
        self._metrics.inc_counter("trading_risk_limit_breaches_total",
                                  {"limit_type": event.limit_type, "strategy": instance.spec.name})
        recent = instance.recent_refusals
        if event.reason not in NOT_THE_STRATEGYS_DOING:
            instance.limit_hits += 1
            now = self._clock.monotonic()
            recent.append(now)
            while recent and recent[0] <= now - self._settings.limit_hits_window_seconds:
                recent.popleft()
        if len(recent) >= self._settings.breaker_after_limit_hits:
            window = self._settings.limit_hits_window_seconds
            why = (f"strategy {instance.strategy_id} ({instance.spec.name}) had {len(recent)} orders "
                   f"refused by risk limits within {window:g} s")
            log.warning("strategy_contained", strategy_id=instance.strategy_id, limit_hits=instance.limit_hits)
            try:
                await self._risk.trip(why)
            except DomainError as exc:
                log.error("strategy_breaker_not_tripped", strategy_id=instance.strategy_id, error=exc.message)
            await self._halt(instance, ERROR, f"stopped after {len(recent)} refused orders within "
                             f"{window:g} s; circuit breaker tripped")
            return
        instance.events.append(("risk", event))

    # -- stopping -------------------------------------------------------------------------------
    async def _fail(self, instance: Instance, reason: str) -> None:
        self._metrics.inc_counter("trading_strategy_errors_total", {"strategy": instance.spec.name})
        await self._halt(instance, ERROR, reason)

    async def _halt(self, instance: Instance, status: str, reason: str) -> None:
        if instance.status != RUNNING:
            return
        instance.status = status
        instance.reason = reason
        instance.updated_at = self._clock.now()
        instance.wakeup.set()
        for order in self._resting(instance.strategy_id):
            try:
                await self._orders.cancel(order.order_id, reason=f"strategy {instance.strategy_id} {status}")
            except DomainError:
                pass
        try:
            await self._account.commit(ChangeSet(strategies=(instance.record(),)))
        except DomainError as exc:
            log.error("strategy_status_not_recorded", strategy_id=instance.strategy_id, error=exc.message)
        log.log(30 if status == ERROR else 20, "strategy_stopped", strategy_id=instance.strategy_id,
                status=status, reason=reason)
        task = instance.task
        if task is not None and task is not asyncio.current_task():
            task.cancel()


def _max_drawdown(values: Sequence[float]) -> float:
    peak = -math.inf
    worst = 0.0
    for value in values:
        peak = max(peak, value)
        worst = max(worst, peak - value)
    return worst


def _sharpe(changes: Sequence[float]) -> float | None:
    if len(changes) < 2:
        return None
    mean = sum(changes) / len(changes)
    variance = sum((c - mean) ** 2 for c in changes) / len(changes)
    if variance <= 0:
        return None
    return mean / math.sqrt(variance)
