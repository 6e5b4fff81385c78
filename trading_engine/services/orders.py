"""Placing, cancelling and reading orders; applying what the venue reports later.

An order is answered only once it is durable: ``place`` returns (and the API answers 201) after
the store has committed the order with its fills, position and cash. A rejected order is stored
too, with its reason, and ``OrderRejected`` carries it to the caller.

Idempotency: a ``client_order_id`` names one order while the store holds it (with a retention, a
finished order leaves it once older than the retention: the same id then places a new order). The
same id with the same request returns the stored order (``created`` False); with a different
request it is a ``Conflict``. Concurrent
requests with one id are serialised in memory, so the store never sees two orders for it.

While the disk guard reports too little free space, a new order is refused with
``StoreUnavailable`` before anything is written; a retry of a stored order still gets its answer,
and cancels go on (a cancel only reduces risk).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import structlog

from trading_engine.domain.ids import IdGenerator
from trading_engine.domain.errors import Conflict, DomainError, IdempotencyConflict, NotFound, ValidationError
# OrderRequest is the domain's; the drivers (HTTP handlers, the strategy runtime) take it from here too.
from trading_engine.domain.orders import Fill, Order, OrderRequest, OrderSnapshot, OrderStatus, RejectReason
from trading_engine.domain.ports.clock import Clock
from trading_engine.domain.ports.repository import OrderPage, OrderQuery, TradingStore
from trading_engine.domain.ports.venue import ExecutionVenuePort
from trading_engine.domain.risk import RiskLimits, check_pre_trade
from trading_engine.services.account import Account
from trading_engine.services.archive_hint import ArchiveHint
from trading_engine.services.disk_guard import DiskGuard
from trading_engine.services.market import MarketView
from trading_engine.services.trading_metrics import TradingMetrics, entered_new_status

log = structlog.get_logger(__name__)


new_order_id = IdGenerator("ord_")


@dataclass(frozen=True)
class PlaceResult:
    order: Order
    created: bool


class OrderRejected(DomainError):
    """Pre-trade risk refused the order; it is stored with status ``rejected`` and this reason."""

    def __init__(self, order: Order) -> None:
        assert order.reject_reason is not None
        super().__init__(order.reject_message or order.reject_reason.description, code=order.reject_reason.value)
        self.order = order
        self.reason: RejectReason = order.reject_reason

    @property
    def details(self) -> dict[str, object]:
        """Shown beside the error code: the stored, rejected order."""
        return {"order_id": self.order.order_id, "order": self.order.to_dict()}


class OrderService:
    def __init__(
        self,
        account: Account,
        store: TradingStore,
        venue: ExecutionVenuePort,
        market: MarketView,
        clock: Clock,
        metrics: TradingMetrics,
        *,
        limits: RiskLimits,
        fee_bps: Decimal,
        slippage_bps: Decimal,
        disk_guard: DiskGuard,
        order_ids: Callable[[], str] = new_order_id,
        archive_hint: ArchiveHint = ArchiveHint(),
    ) -> None:
        self._account = account
        self._store = store
        self._venue = venue
        self._market = market
        self._clock = clock
        self._metrics = metrics
        self._limits = limits
        self._fee_bps = fee_bps
        self._slippage_bps = slippage_bps
        self._disk_guard = disk_guard
        self._order_ids = order_ids
        self._archive_hint = archive_hint
        self._in_flight: dict[str, asyncio.Future[Order]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._fill_listeners: list[Callable[[Order, Fill], None]] = []
        self._durable_fill_listeners: list[Callable[[Order, Fill], None]] = []

    def add_fill_listener(self, listener: Callable[[Order, Fill], None], *, durable: bool = False) -> None:
        """Call ``listener(order, fill)`` for every fill: at once for a resting order's fill, after
        the commit for the fills of an order as it is placed. ``durable``: always after the commit,
        and never for a fill whose commit failed (what counts fills). A listener that raises is
        logged."""
        (self._durable_fill_listeners if durable else self._fill_listeners).append(listener)

    def _tell_fill_listeners(self, order: Order, fill: Fill, *, durable: bool = False) -> None:
        for listener in self._durable_fill_listeners if durable else self._fill_listeners:
            try:
                listener(order, fill)
            except Exception:
                log.exception("fill_listener_failed", order_id=order.order_id, fill_id=fill.fill_id)

    def _fill_durable(self, order: Order, fill: Fill) -> None:
        """A fill is committed: count it (the one place fills are counted) and tell those waiting."""
        self._metrics.fill(fill)
        self._tell_fill_listeners(order, fill, durable=True)

    # -- placing --------------------------------------------------------------------------------
    async def place(self, request: OrderRequest) -> PlaceResult:
        started = self._clock.monotonic()
        self._account.ensure_writable()
        cid = request.client_order_id
        if cid is None:
            return PlaceResult(await self._place_new(request, started), created=True)

        while (earlier := self._in_flight.get(cid)) is not None:
            # The same id is being placed right now: its outcome answers this request too.
            try:
                return self._replay(request, await asyncio.shield(earlier))
            except asyncio.CancelledError:
                if not earlier.cancelled():
                    raise  # this request itself was cancelled
        outcome: asyncio.Future[Order] = asyncio.get_running_loop().create_future()
        self._in_flight[cid] = outcome
        try:
            existing = await self._store.get_order_by_client_id(cid)
            if existing is not None:
                outcome.set_result(existing)
                return self._replay(request, existing)
            order = await self._place_new(request, started)
            outcome.set_result(order)
            return PlaceResult(order, created=True)
        except OrderRejected as rejected:
            if not outcome.done():
                outcome.set_result(rejected.order)
            raise
        except Exception as exc:
            if not outcome.done():
                outcome.set_exception(exc)
                outcome.exception()  # mark it retrieved: waiters re-raise it, nobody else needs it
            raise
        except BaseException:
            outcome.cancel()  # waiters try again themselves
            raise
        finally:
            del self._in_flight[cid]

    def _replay(self, request: OrderRequest, existing: Order) -> PlaceResult:
        """A retry gets the answer the first request got: the order, or its rejection again."""
        if existing.request_fingerprint() != request.fingerprint():
            raise IdempotencyConflict(
                f"client_order_id {request.client_order_id!r} already names order "
                f"{existing.order_id} with different fields; reuse an id only to retry the same request"
            )
        if existing.status is OrderStatus.REJECTED:
            raise OrderRejected(existing)
        return PlaceResult(existing, created=False)

    async def _place_new(self, request: OrderRequest, started: float) -> Order:
        # Refused before anything is written, a rejection included, while the disk is nearly full.
        self._disk_guard.ensure_room()
        now = self._clock.now()
        order = Order.from_request(request, order_id=self._order_ids(), created_at=now)
        account = self._account
        decision = check_pre_trade(
            order,
            account.instruments,
            account.portfolio,
            self._market.marks(),
            self._limits,
            breaker_open=account.breaker.is_open,
            is_fresh=self._market.is_fresh,
            # The checks count only unfinished orders of the order's symbol and side.
            open_orders=account.open_orders.for_symbol_side(order.symbol, order.side),
            fee_bps=self._fee_bps,
            slippage_bps=self._slippage_bps,
        )
        if not decision.accepted:
            assert decision.reason is not None and decision.message is not None
            order.reject(decision.reason, decision.message, now)
            await account.save([order])
            self._metrics.rejection(decision.reason)
            self._metrics.order_status(order)
            log.info("order_rejected", order_id=order.order_id, symbol=order.symbol,
                     reason=decision.reason.value, detail=decision.message)
            raise OrderRejected(order)

        account.open_orders[order.order_id] = order  # counted by risk checks while it executes
        try:
            report = await self._venue.submit(order)
        except BaseException:
            account.open_orders.pop(order.order_id, None)
            raise
        for fill in report.fills:
            account.apply_fill(order, fill, resting=False)
        if report.resting and not order.status.is_terminal:
            if order.status is OrderStatus.NEW:
                order.accept(self._clock.now())
            account.reserve_for(order)
        elif not order.status.is_terminal:
            order.cancel(self._clock.now(), reason=report.cancel_reason or "not filled")
            account.open_orders.pop(order.order_id, None)  # it never rested, so it reserved nothing
        placed = order.snapshot  # a resting order may fill before this task resumes
        await account.save([order], report.fills)
        for fill in report.fills:
            self._tell_fill_listeners(order, fill)
            self._fill_durable(order, fill)
        self._metrics.order_status(placed)
        self._metrics.processing(self._clock.monotonic() - started)
        log.info("order_placed", order_id=order.order_id, symbol=order.symbol, side=order.side.value,
                 type=order.type.value, quantity=str(order.quantity), status=order.status.value,
                 fills=len(report.fills))
        return order

    # -- cancelling -----------------------------------------------------------------------------
    async def cancel(self, order_id: str, reason: str = "cancelled by client") -> Order:
        account = self._account
        account.ensure_writable()
        order = account.open_orders.get(order_id)
        if order is None:
            known = account.latest_order(order_id) or await self._store.get_order(order_id)
            if known is None:
                raise NotFound(self._archive_hint.order_not_found(order_id))
            raise Conflict(
                f"order {order_id} is {known.status.value}; only open or partially_filled orders "
                "can be cancelled"
            )
        await self._venue.cancel(order_id)
        if account.open_orders.get(order_id) is not order:  # filled, expired or reloaded meanwhile
            raise Conflict(
                f"order {order_id} is {order.status.value}; only open or partially_filled orders "
                "can be cancelled"
            )
        order.cancel(self._clock.now(), reason=reason)
        account.finish(order)
        await account.save([order])
        self._metrics.order_status(order)
        log.info("order_cancelled", order_id=order_id, reason=reason)
        return order

    async def cancel_all(self, reason: str) -> list[Order]:
        """Cancel every resting order in one durable change (the circuit breaker uses this)."""
        cancelled = []
        for order in list(self._account.open_orders.values()):
            if order.status.is_open:
                await self._venue.cancel(order.order_id)
                if order.status.is_open:
                    order.cancel(self._clock.now(), reason=reason)
                    self._account.finish(order)
                    cancelled.append(order)
        return cancelled

    # -- reading --------------------------------------------------------------------------------
    async def get(self, order_id: str) -> Order:
        live = self._account.latest_order(order_id)
        if live is not None:
            return live
        stored = await self._store.get_order(order_id)
        if stored is None:
            raise NotFound(self._archive_hint.order_not_found(order_id))
        return stored

    async def list(self, query: OrderQuery) -> OrderPage:
        return await self._store.list_orders(query)

    async def fills(self, order_id: str) -> Sequence[Fill]:
        await self.get(order_id)  # NotFound for an unknown id
        return await self._store.fills_for_order(order_id)

    # -- what the venue reports later -----------------------------------------------------------
    def on_fill(self, order_id: str, fill: Fill) -> None:
        order = self._account.open_orders.get(order_id)
        if order is None or not self._account.writable:
            log.warning("venue_fill_ignored", order_id=order_id, fill_id=fill.fill_id,
                        reason="unknown order" if order is None else "recovering")
            return
        before = order.status
        try:
            self._account.apply_fill(order, fill, resting=True)
        except ValidationError as exc:
            log.error("venue_fill_rejected", order_id=order_id, fill_id=fill.fill_id, error=exc.message)
            return
        # Counted once committed, never if the commit fails (the reload undoes the fill); a second
        # partial fill enters no new status.
        entered = order.snapshot if entered_new_status(before, order) else None
        self._account.mark_unsaved(
            order, fill, once_durable=lambda: self._venue_event_durable(order, fill, entered)
        )
        self._tell_fill_listeners(order, fill)
        self._commit_later("fill", order_id)

    def on_expired(self, order_id: str, at: datetime) -> None:
        order = self._account.open_orders.get(order_id)
        if order is None or not self._account.writable:
            return
        order.expire(at)
        self._account.finish(order)
        expired = order.snapshot
        self._account.mark_unsaved(order, once_durable=lambda: self._venue_event_durable(order, None, expired))
        log.info("order_expired", order_id=order_id)
        self._commit_later("expiry", order_id)

    def _venue_event_durable(self, order: Order, fill: Fill | None, entered: OrderSnapshot | None) -> None:
        """A venue event is committed: its fill, and the status the order entered with it (if it
        entered one), are counted."""
        if fill is not None:
            self._fill_durable(order, fill)
        if entered is not None:
            self._metrics.order_status(entered)

    def _commit_later(self, what: str, order_id: str) -> None:
        """Commit the venue events applied in memory (unless another commit takes them first).

        The change set is built when the task runs, not now: a snapshot of cash and positions
        taken now could reach the store after a later commit and roll its effects back."""

        async def commit() -> None:
            # Write second: what is ready to run already (the strategy instances the event and the
            # tick that caused it woke) decides before the change set of the event is built.
            await asyncio.sleep(0)
            if not self._account.has_unsaved:
                return  # an order placed or cancelled meanwhile committed these events with its own
            try:
                await self._account.save()
            except DomainError as exc:
                log.error("venue_event_not_recorded", event_kind=what, order_id=order_id, error=exc.message)

        task = asyncio.get_running_loop().create_task(commit())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    @property
    def idle(self) -> bool:
        """No venue event is still being written."""
        return not self._background

    async def drain(self) -> None:
        """Wait for venue events still being written (at shutdown)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

