"""The account in memory, kept in step with the durable store.

Every change follows one path: the use case changes the in-memory model (orders, portfolio,
breaker) and awaits :meth:`Account.save`, which builds a :class:`ChangeSet` of snapshots at once
and returns only when the store has made it durable. Because changes are applied first and
persisted after, concurrent orders see each other's effects at once and the store can commit many
of them in one transaction.

If a commit fails, memory is ahead of the disk. The account then stops taking changes (every
commit raises ``StoreUnavailable``), reloads the last durable state from the store, hands the
recovered resting orders back to the venue, and accepts changes again. Every change whose commit
failed is thereby undone; none was acknowledged.

What is reported about a venue event (the business metrics of a later fill or an expiry) waits for
its commit: ``mark_unsaved(..., once_durable=report)`` runs ``report`` after the change set that
carries the event is committed, whichever use case's it is, and never when that commit fails.

Cash reserved for resting buy orders is derived state: ``remaining quantity * limit price *
(1 + fee rate)`` per order, recomputed from the open orders whenever state is loaded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from decimal import Decimal
from typing import Any

import structlog

from trading_engine.domain.decimals import BPS, ONE, ZERO, plain
from trading_engine.domain.errors import StoreUnavailable, ValidationError
from trading_engine.domain.instruments import Instrument
from trading_engine.domain.orders import Fill, Order, OrderType, Side
from trading_engine.domain.portfolio import CashBalance, Portfolio
from trading_engine.domain.ports.repository import ChangeSet, StoredState, TradingStore
from trading_engine.domain.ports.venue import ExecutionVenuePort
from trading_engine.domain.risk import CircuitBreaker

log = structlog.get_logger(__name__)


class OpenOrders(MutableMapping[str, Order]):
    """The account's unfinished orders by id, also indexed by symbol and side and by strategy
    instance, so pre-trade checks and the strategy runtime never scan every open order."""

    def __init__(self, orders: Iterable[Order] = ()) -> None:
        self._by_id: dict[str, Order] = {}
        self._by_book: dict[tuple[str, Side], dict[str, Order]] = {}
        self._by_strategy: dict[str, dict[str, Order]] = {}
        for order in orders:
            self[order.order_id] = order

    def __getitem__(self, order_id: str) -> Order:
        return self._by_id[order_id]

    def __setitem__(self, order_id: str, order: Order) -> None:
        if order_id in self._by_id:
            del self[order_id]
        self._by_id[order_id] = order
        self._by_book.setdefault((order.symbol, order.side), {})[order_id] = order
        if order.strategy_id is not None:
            self._by_strategy.setdefault(order.strategy_id, {})[order_id] = order

    def __delitem__(self, order_id: str) -> None:
        order = self._by_id.pop(order_id)
        self._unindex(self._by_book, (order.symbol, order.side), order_id)
        if order.strategy_id is not None:
            self._unindex(self._by_strategy, order.strategy_id, order_id)

    @staticmethod
    def _unindex(index: dict[Any, dict[str, Order]], key: Any, order_id: str) -> None:
        bucket = index.get(key)
        if bucket is not None:
            bucket.pop(order_id, None)
            if not bucket:
                del index[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_id)

    def __len__(self) -> int:
        return len(self._by_id)

    def for_symbol_side(self, symbol: str, side: Side) -> tuple[Order, ...]:
        return tuple(self._by_book.get((symbol, side), {}).values())

    def for_strategy(self, strategy_id: str) -> tuple[Order, ...]:
        return tuple(self._by_strategy.get(strategy_id, {}).values())


class Account:
    def __init__(
        self,
        store: TradingStore,
        venue: ExecutionVenuePort,
        instruments: Mapping[str, Instrument],
        *,
        reporting_currency: str,
        initial_cash: Mapping[str, Decimal],
        fee_bps: Decimal,
    ) -> None:
        self._store = store
        self._venue = venue
        self.instruments = dict(instruments)
        self._reporting_currency = reporting_currency
        self._initial_cash = dict(initial_cash)
        self._fee_rate = Decimal(fee_bps) / BPS
        self.portfolio = Portfolio(reporting_currency, initial_cash)
        self.breaker = CircuitBreaker()
        self.open_orders = OpenOrders()
        # Venue events (later fills, expiries) applied in memory but not yet in any change set.
        self._unsaved_orders: dict[str, Order] = {}
        self._unsaved_fills: list[Fill] = []
        # What to report about those events once they are durable.
        self._unsaved_reports: list[Callable[[], None]] = []
        # Orders in a change set whose commit has not finished yet, with how many such commits.
        self._committing: dict[str, tuple[Order, int]] = {}
        self._recovery: asyncio.Task[None] | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    async def load(self) -> None:
        """Load the durable state; on the very first start, record the initial account."""
        state = await self._store.load_state()
        if state is None:
            self._install_initial()
            await self._store.commit(
                ChangeSet(
                    account=self.portfolio.settings,
                    cash=self.cash_of(self._initial_cash),
                    breaker=self.breaker.state,
                )
            )
            log.info("account_initialised", cash={c: plain(v) for c, v in self._initial_cash.items()})
        else:
            self._install(state)
            log.info(
                "account_loaded",
                open_orders=len(self.open_orders),
                positions=sum(1 for p in self.portfolio.positions.values() if not p.is_flat),
                breaker_open=self.breaker.is_open,
            )
        self._venue.restore(tuple(self.open_orders.values()))

    def _install_initial(self) -> None:
        self.portfolio = Portfolio(self._reporting_currency, self._initial_cash)
        self.breaker = CircuitBreaker()
        self.open_orders = OpenOrders()
        self._forget_unsaved()

    def _install(self, state: StoredState) -> None:
        if state.account is None:
            raise ValidationError(
                "the stored account has no settings (reporting_currency); the store holds orders or "
                "cash without the account they belong to",
                field="reporting_currency",
            )
        self.portfolio = Portfolio.restore(state.account, state.cash, state.positions)
        self.open_orders = OpenOrders(state.open_orders)
        for order in self.open_orders.values():
            self.reserve_for(order)
        self.breaker = CircuitBreaker(state.breaker)
        self._forget_unsaved()

    def _forget_unsaved(self) -> None:
        """The pending venue events now belong to a change set (or were undone with a reload)."""
        self._unsaved_orders = {}
        self._unsaved_fills = []
        self._unsaved_reports = []

    # -- durable commits ----------------------------------------------------------------------
    @property
    def writable(self) -> bool:
        return self._recovery is None

    def ensure_writable(self) -> None:
        if self._recovery is not None:
            raise StoreUnavailable(
                "the database is recovering from a failed write; nothing was stored, retry shortly"
            )

    async def commit(self, changes: ChangeSet) -> None:
        """Make ``changes`` durable; on failure undo every unacknowledged change and re-raise."""
        self.ensure_writable()
        try:
            await self._store.commit(changes)
        except StoreUnavailable:
            await self.recover()
            raise
        finally:
            self._committed(changes)

    def _committed(self, changes: ChangeSet) -> None:
        for snapshot in changes.orders:
            order_id = snapshot.order_id
            order, count = self._committing.get(order_id, (None, 0))
            if count <= 1:
                self._committing.pop(order_id, None)
            elif order is not None:
                self._committing[order_id] = (order, count - 1)

    def latest_order(self, order_id: str) -> Order | None:
        """The order as memory has it when it changed since the store last recorded it (resting,
        filled or expired by the venue and not yet written, or being written); else None, and
        the store's copy is the latest."""
        for source in (self.open_orders, self._unsaved_orders):
            order = source.get(order_id)
            if order is not None:
                return order
        committing = self._committing.get(order_id)
        return None if committing is None else committing[0]

    # How long a request that hit a failed write waits for the reload before answering 503.
    RECOVERY_WAIT_SECONDS = 5.0

    async def recover(self) -> None:
        """Reload the last durable state (single flight: concurrent callers share one reload).
        A caller waits at most RECOVERY_WAIT_SECONDS; the reload goes on without it."""
        if self._recovery is None:
            self._recovery = asyncio.create_task(self._reload())
        recovery = self._recovery
        try:
            await asyncio.wait_for(asyncio.shield(recovery), self.RECOVERY_WAIT_SECONDS)
        except Exception:
            pass  # logged by _reload; the caller reports its own failure

    async def _reload(self) -> None:
        try:
            while True:
                try:
                    state = await self._store.load_state()
                    break
                except Exception as exc:
                    log.error("account_reload_failed", error=f"{type(exc).__name__}: {exc}")
                    await asyncio.sleep(1.0)
            if state is None:  # the very first commit failed: back to the initial account
                self._install_initial()
            else:
                self._install(state)
            self._venue.restore(tuple(self.open_orders.values()))
            self._store.reset()
            log.warning("account_reloaded_after_failed_write", open_orders=len(self.open_orders))
        finally:
            self._recovery = None

    # -- helpers for use cases ----------------------------------------------------------------
    def cash_of(self, currencies: Iterable[str]) -> tuple[CashBalance, ...]:
        return tuple(self.portfolio.cash_snapshot(currency) for currency in sorted(set(currencies)))

    def reservation(self, order: Order, quantity: Decimal | None = None) -> Decimal:
        """Cash a resting buy limit order holds back for ``quantity`` (default: what remains)."""
        if order.side is not Side.BUY or order.type is not OrderType.LIMIT or order.limit_price is None:
            return ZERO
        qty = order.remaining_quantity if quantity is None else quantity
        return qty * order.limit_price * (ONE + self._fee_rate)

    def reserve_for(self, order: Order) -> None:
        amount = self.reservation(order)
        if amount > 0:
            self.portfolio.reserve(self.instruments[order.symbol].quote, amount)

    def release_for(self, order: Order, quantity: Decimal | None = None) -> None:
        amount = self.reservation(order, quantity)
        if amount > 0:
            currency = self.instruments[order.symbol].quote
            self.portfolio.release(currency, min(amount, self.portfolio.reserved_cash(currency)))

    def apply_fill(self, order: Order, fill: Fill, *, resting: bool) -> Decimal:
        """Apply ``fill`` to the order and the portfolio together; for a resting order, release the
        cash its filled part held back. Returns the realized P&L of the fill."""
        if resting:
            self.release_for(order, fill.quantity)
        order.apply_fill(fill)
        realized = self.portfolio.apply_fill(fill, self.instruments[order.symbol])
        if order.status.is_terminal:
            self.finish(order)
        return realized

    def finish(self, order: Order) -> None:
        """Forget a terminal order and free whatever cash it still held."""
        if self.open_orders.pop(order.order_id, None) is not None:
            self.release_for(order)

    def mark_unsaved(
        self, order: Order, fill: Fill | None = None, *, once_durable: Callable[[], None] | None = None
    ) -> None:
        """Record a venue event applied in memory; the next change set saved carries it, and
        ``once_durable`` runs after that change set is committed (never if the commit fails)."""
        self._unsaved_orders[order.order_id] = order
        if fill is not None:
            self._unsaved_fills.append(fill)
        if once_durable is not None:
            self._unsaved_reports.append(once_durable)

    @property
    def has_unsaved(self) -> bool:
        return bool(self._unsaved_orders or self._unsaved_fills)

    async def save(self, orders: Iterable[Order] = (), fills: Iterable[Fill] = (), **extra: Any) -> None:
        """Commit the orders' snapshots, their fills, the position and cash rows they touched and
        every venue event applied in memory since the last change set (``extra``: the breaker's
        state); then, the change being durable, report the venue events it carried. Raises what
        :meth:`commit` raises, and nothing is reported then: the reload undid those events."""
        reports = self._unsaved_reports
        await self.commit(self._changes_for(orders, fills, **extra))
        for report in reports:
            report()

    def _changes_for(self, orders: Iterable[Order], fills: Iterable[Fill] = (), **extra: Any) -> ChangeSet:
        """The change set :meth:`save` commits at once (no await in between): the cash and
        position rows are snapshots of memory, so the change set must hold every change they
        include, and reach the store before any change set built later."""
        orders = tuple({o.order_id: o for o in (*self._unsaved_orders.values(), *orders)}.values())
        fills = (*self._unsaved_fills, *fills)
        self._forget_unsaved()
        for order in orders:
            self._committing[order.order_id] = (order, self._committing.get(order.order_id, (order, 0))[1] + 1)
        symbols = {o.symbol for o in orders} | {f.symbol for f in fills}
        touched = {s for s in symbols if s in self.instruments}
        return ChangeSet(
            orders=tuple(o.snapshot for o in orders),
            fills=fills,
            positions=tuple(self.portfolio.position(s).snapshot for s in sorted({f.symbol for f in fills})),
            cash=self.cash_of(self.instruments[s].quote for s in touched),
            **extra,
        )
