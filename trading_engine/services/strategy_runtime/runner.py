"""The per-instance event loop: events in, intents out, and stopping an instance.

Each running instance is an asyncio task. It takes the instance's events one at a time (its own
fills and risk events first, then the latest tick of its symbol; ticks that arrive while it is
busy are coalesced, so a slow strategy decides on the newest price instead of falling behind)
and hands each to the strategy, which answers with intents. An event that reaches an instance
whose task is waiting is decided on at once instead (``decide_now``, from the manager), and the
task is woken only to act on a decision with intents: most events cause nothing to do. Every ``PlaceOrder`` passes the
instance's own limits (``limits.py``), then goes through the order use case and its pre-trade
checks like any API order, tagged with the instance id; there is no other way to the venue.

A refused intent comes back to the strategy as a ``RiskEvent``. An instance whose intents are
refused ``strategies.breaker_after_limit_hits`` times within the window trips the circuit breaker
and is stopped with status ``error``. An exception raised by a strategy stops that instance only
(status ``error``, the exception as reason, logged and counted). Stopping an instance cancels its
resting orders and records its status.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import structlog

from trading_engine.domain.errors import DomainError, ValidationError
from trading_engine.domain.orders import Order
from trading_engine.domain.portfolio import convert
from trading_engine.domain.ports.clock import Clock
from trading_engine.domain.ports.repository import ChangeSet
from trading_engine.domain.strategy import PRE_TRADE, CancelOrder, Intent, PlaceOrder, RestingOrder, RiskEvent, StrategyContext
from trading_engine.domain.strategy_record import StrategyStatus
from trading_engine.services.account import Account
from trading_engine.services.market import MarketView
from trading_engine.domain.orders import OrderRequest
from trading_engine.services.orders import OrderRejected, OrderService
from trading_engine.services.risk import RiskService
from trading_engine.services.strategy_runtime.gauges import StrategyMetrics
from trading_engine.services.strategy_runtime.instance import NOTHING_TO_DO, Decision, Instance
from trading_engine.services.strategy_runtime.performance import mark_of
from trading_engine.services.strategy_runtime.settings import StrategySettings
from trading_engine.services.strategy_runtime.updates import StrategyUpdate, pnl_sample, status_change
from trading_engine.services.updates import UpdateHub

log = structlog.get_logger(__name__)

# While orders cannot be placed (the store down, the disk short), an instance logs the first
# failure, then at most one line per this many seconds with the count of those it kept quiet.
NOT_PLACED_LOG_INTERVAL_SECONDS = 10.0


class InstanceRunner:
    def __init__(
        self,
        orders: OrderService,
        risk: RiskService,
        account: Account,
        market: MarketView,
        clock: Clock,
        metrics: StrategyMetrics,
        settings: StrategySettings,
        updates: UpdateHub[StrategyUpdate] | None = None,
    ) -> None:
        self._orders = orders
        self._risk = risk
        self._account = account
        self._market = market
        self._clock = clock
        self._metrics = metrics
        self._settings = settings
        # Status changes, fills and P&L samples, for whoever streams them (the gRPC API).
        self.updates: UpdateHub[StrategyUpdate] = updates if updates is not None else UpdateHub(1)
        # strategy id -> (when its last strategy_order_not_placed line was logged, failures since)
        self._not_placed: dict[str, tuple[float, int]] = {}

    def launch(self, instance: Instance) -> None:
        self.updates.publish(status_change(instance))
        instance.task = asyncio.get_running_loop().create_task(
            self._run(instance), name=f"strategy-{instance.strategy_id}"
        )

    def settled(self) -> bool:
        """No venue event of the order use case is still being written."""
        return self._orders.idle

    def resting(self, strategy_id: str) -> list[Order]:
        """The instance's orders resting on the venue."""
        orders = self._account.open_orders.for_strategy(strategy_id)
        return [o for o in orders if o.status.is_open] if orders else []

    async def cancel_resting(self, strategy_id: str, reason: str) -> None:
        for order in self.resting(strategy_id):
            try:
                await self._orders.cancel(order.order_id, reason=reason)
            except DomainError:
                pass  # filled or gone meanwhile

    # -- the instance's task --------------------------------------------------------------------
    async def _run(self, instance: Instance) -> None:
        inbox = instance.inbox
        try:
            while instance.running:
                instance.busy = False
                await inbox.wakeup.wait()
                instance.busy = True
                inbox.wakeup.clear()
                while instance.running:
                    decision, inbox.decided = inbox.decided, None
                    if decision is None:
                        decision = self._decide_next(instance)
                        if decision is None:
                            break
                    if decision is not NOTHING_TO_DO:  # most events: nothing to act on, no call
                        await self._act(instance, decision)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug in the runtime itself: never take the engine down
            log.exception("strategy_runtime_failed", strategy_id=instance.strategy_id)
            await self.fail(instance, f"runtime error: {type(exc).__name__}: {exc}")

    def decide_now(self, instance: Instance) -> bool:
        """Hand the instance's waiting events to its strategy here and now, for as long as they
        cause nothing to do: what its task would have done with them, without waking it. Returns
        False at the first decision with intents (or a failure): that one waits in the inbox for
        the task, woken to act on it and to go on with the events after it."""
        inbox = instance.inbox
        while instance.running:
            decision = self._decide_next(instance)
            if decision is NOTHING_TO_DO:
                if not inbox.events and inbox.pending_tick is None:
                    return True  # what _decide_next answers next, without the call (per event)
                continue
            if decision is None:
                return True
            inbox.decided = decision
            inbox.wakeup.set()
            return False
        return True

    def _decide_next(self, instance: Instance) -> Decision | None:
        """The strategy's answer to the next waiting event (its own events first, then the latest
        tick), or None when nothing waits."""
        inbox = instance.inbox
        received = None
        if inbox.events:
            kind, payload = inbox.events.popleft()
            if kind == "bar":
                instance.performance.ticks += 1
        elif inbox.pending_tick is not None:
            kind = "tick"
            payload, received = inbox.pending_tick
            inbox.pending_tick = None
            instance.performance.ticks += 1
            mark = mark_of(self._market, instance.symbol)
            if instance.performance.sample(self._clock.monotonic(), self._settings.performance_interval_seconds, mark):
                self.updates.publish(pnl_sample(instance, mark))
        else:
            return None
        context = self._context(instance)
        try:
            if kind == "tick":
                intents = instance.strategy.on_tick(payload, context)
            elif kind == "bar":
                intents = instance.strategy.on_bar(payload, context)  # type: ignore[attr-defined]
            elif kind == "fill":
                intents = instance.strategy.on_fill(payload, context)
            else:
                intents = instance.strategy.on_risk_event(payload, context)
            intents = tuple(intents or ())
        except Exception as exc:
            log.exception("strategy_failed", strategy_id=instance.strategy_id, strategy=instance.spec.name)
            return Decision(failure=f"{type(exc).__name__}: {exc}")
        if not intents:
            return NOTHING_TO_DO
        return Decision(intents, None if received is None else self._clock.monotonic() - received)

    async def _act(self, instance: Instance, decision: Decision) -> None:
        if decision.failure is not None:
            await self.fail(instance, decision.failure)
            return
        if not decision.intents:
            return
        if decision.latency is not None:
            self._metrics.decision(instance, decision.latency)
            # Decide first, submit second: a tick wakes every instance of its symbol, and each one
            # decides before any of them starts placing orders, so the last to decide does so on a
            # price as fresh as the first's instead of after everyone else's order handling.
            await asyncio.sleep(0)
        for intent in decision.intents:
            if not instance.running:
                return
            await self._submit(instance, intent)

    def _context(self, instance: Instance) -> StrategyContext:
        resting = self.resting(instance.strategy_id)
        return StrategyContext(  # positional: a named tuple is built faster so
            instance.symbol,
            self._account.instruments[instance.symbol],
            self._clock.now(),
            instance.performance.position.quantity,
            tuple(RestingOrder(o.order_id, o.side, o.limit_price, o.remaining_quantity) for o in resting)
            if resting else (),
            instance.params,
        )

    # -- intents out ----------------------------------------------------------------------------
    async def _submit(self, instance: Instance, intent: Intent) -> None:
        if isinstance(intent, CancelOrder):
            if any(o.order_id == intent.order_id for o in self.resting(instance.strategy_id)):
                try:
                    await self._orders.cancel(intent.order_id, reason=f"cancelled by strategy {instance.strategy_id}")
                except DomainError:
                    pass  # filled or gone meanwhile
            return
        if not isinstance(intent, PlaceOrder):
            await self.fail(instance, f"unknown intent {intent!r}")
            return
        refusal = instance.limits.check(
            intent,
            instance.params,
            position=instance.performance.position.quantity,
            resting=len(self.resting(instance.strategy_id)),
            notional=lambda quantity: self._notional(instance.symbol, quantity),
        )
        if refusal is not None:
            await self._refused(instance, refusal)
            return
        try:
            await self._orders.place(
                OrderRequest(symbol=instance.symbol, strategy_id=instance.strategy_id, **intent.order_fields())
            )
        except OrderRejected as rejected:
            await self._refused(instance, RiskEvent(PRE_TRADE, rejected.message, intent, rejected.reason))
        except ValidationError as exc:  # a malformed intent is a bug in the strategy
            await self.fail(instance, f"invalid order intent: {exc.message}")
        except DomainError as exc:  # e.g. the store is unavailable: nothing was placed
            self._not_placed_log(instance.strategy_id, exc.message)
        else:
            self._placed_again(instance.strategy_id)

    def _not_placed_log(self, strategy_id: str, error: str) -> None:
        """The first failure is logged; then one line per interval, with the failures it kept
        quiet (a store that is down or a disk that is short refuses every intent of every instance:
        a line each would flood the logs, on the disk that is short)."""
        now = self._clock.monotonic()
        logged_at, quiet = self._not_placed.get(strategy_id, (None, 0))
        if logged_at is not None and now - logged_at < NOT_PLACED_LOG_INTERVAL_SECONDS:
            self._not_placed[strategy_id] = (logged_at, quiet + 1)
            return
        log.warning("strategy_order_not_placed", strategy_id=strategy_id, error=error, not_logged_since_last=quiet)
        self._not_placed[strategy_id] = (now, 0)

    def _placed_again(self, strategy_id: str) -> None:
        failing = self._not_placed.pop(strategy_id, None)
        if failing is not None:
            log.info("strategy_orders_placed_again", strategy_id=strategy_id, not_logged_since_last=failing[1])

    def _notional(self, symbol: str, quantity: Decimal) -> Decimal | None:
        mark = mark_of(self._market, symbol)
        if mark is None:
            return None
        instruments = self._account.instruments
        return convert(quantity * mark, instruments[symbol].quote, self._account.portfolio.reporting_currency,
                       self._market.marks(), instruments)

    async def _refused(self, instance: Instance, event: RiskEvent) -> None:
        self._metrics.refusal(instance, event.limit_type)
        window = self._settings.limit_hits_window_seconds
        recent = instance.limits.count(event, self._clock.monotonic(), window)
        if recent >= self._settings.breaker_after_limit_hits:
            why = (f"strategy {instance.strategy_id} ({instance.spec.name}) had {recent} orders "
                   f"refused by risk limits within {window:g} s")
            log.warning("strategy_contained", strategy_id=instance.strategy_id, limit_hits=instance.limits.hits)
            try:
                await self._risk.trip(why)
            except DomainError as exc:
                log.error("strategy_breaker_not_tripped", strategy_id=instance.strategy_id, error=exc.message)
            await self.halt(instance, StrategyStatus.ERROR, f"stopped after {recent} refused orders within "
                            f"{window:g} s; circuit breaker tripped")
            return
        instance.inbox.put("risk", event)

    # -- stopping -------------------------------------------------------------------------------
    async def fail(self, instance: Instance, reason: str) -> None:
        self._metrics.error(instance)
        await self.halt(instance, StrategyStatus.ERROR, reason)

    async def halt(self, instance: Instance, status: StrategyStatus, reason: str) -> None:
        """Stop a running instance: cancel its resting orders, record its status, end its task."""
        if not instance.running:
            return
        instance.status = status
        instance.reason = reason
        instance.updated_at = self._clock.now()
        instance.inbox.wakeup.set()
        self._not_placed.pop(instance.strategy_id, None)
        await self.cancel_resting(instance.strategy_id, f"strategy {instance.strategy_id} {status}")
        try:
            await self._account.commit(ChangeSet(strategies=(instance.record(),)))
        except DomainError as exc:
            log.error("strategy_status_not_recorded", strategy_id=instance.strategy_id, error=exc.message)
        self.updates.publish(status_change(instance))
        log.log(30 if status is StrategyStatus.ERROR else 20, "strategy_stopped", strategy_id=instance.strategy_id,
                status=status.value, reason=reason)
        task = instance.task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
