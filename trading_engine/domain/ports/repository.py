"""Persistence: orders, fills, positions, cash and the circuit breaker, committed atomically.

The use cases change their in-memory model first, then hand :class:`TradingStore` an immutable
:class:`ChangeSet` of snapshots; ``commit`` returns only once the change is durable, and raises
``StoreUnavailable`` when it is not (the use case then reloads the last durable state). Reads of
orders and fills go to the store, which holds every order still inside the retention: finished
orders older than it leave, with their fills, through ``aged_orders`` and ``delete_orders`` (the
retention sweep archives them first). Cash, positions, open orders, the breaker, the account and
strategy records never leave; what a strategy's departed fills added up to is kept as its
``FoldedFills``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any, Protocol

from trading_engine.domain.orders import Fill, Order, OrderSnapshot, OrderStatus
from trading_engine.domain.portfolio import AccountSettings, CashBalance, PositionSnapshot
from trading_engine.domain.risk import BreakerState
from trading_engine.domain.strategy_record import FoldedFills, StrategyRecord, StrategyStatus


@dataclass(frozen=True)
class ChangeSet:
    """Immutable values to write in one transaction. Order, position, cash, breaker and account
    rows are upserts of the latest state; fills are appended (a fill id already stored is an
    error). Each store turns the values into its own rows.

    ``account`` holds the portfolio's own settings: the use case writes it with its first commit
    (and again if it ever changes), and ``load_state`` returns it.
    """

    orders: tuple[OrderSnapshot, ...] = ()  # Order.snapshot, upserted by order_id
    fills: tuple[Fill, ...] = ()
    positions: tuple[PositionSnapshot, ...] = ()  # upserted by symbol
    cash: tuple[CashBalance, ...] = ()  # upserted by currency
    breaker: BreakerState | None = None
    account: AccountSettings | None = None
    strategies: tuple[StrategyRecord, ...] = ()  # upserted by strategy_id

    def __bool__(self) -> bool:
        return bool(
            self.orders or self.fills or self.positions or self.cash or self.breaker or self.account
            or self.strategies
        )


@dataclass(frozen=True)
class StoredState:
    """The last durable state the engine needs in memory: the account and the resting orders.

    ``account`` is None only when orders or cash were stored without the account's settings.
    """

    account: AccountSettings | None = None
    cash: tuple[CashBalance, ...] = ()  # every currency stored, by currency code
    positions: tuple[PositionSnapshot, ...] = ()  # every symbol ever traded (flat ones too), by symbol
    open_orders: tuple[Order, ...] = ()  # open or partially filled, oldest first
    breaker: BreakerState | None = None


@dataclass(frozen=True)
class OrderPage:
    orders: tuple[Order, ...]
    next_cursor: str | None = None


@dataclass(frozen=True)
class OrderQuery:
    status: OrderStatus | None = None
    symbol: str | None = None
    strategy_id: str | None = None
    limit: int = 100
    cursor: str | None = None


@dataclass(frozen=True)
class AgedOrder:
    """A finished order the retention takes out of the store, with its fills (oldest first), as
    the store holds them: ``record`` is the order's ``Order.to_dict()`` and ``fill_records`` its
    fills' ``Fill.to_dict()``, as they were written (the stores keep exactly these as JSON).

    The sweep builds no domain object for a batch: the archive writes the records as they are
    (their fields are the archive's columns) and the ids the sweep needs are read from them
    (``order_id``, ``newest_strategy_fill``); only the fold reads ``Fill`` values, those of the
    strategy instances, through ``fills_for_strategies_through``. ``order`` and ``fills`` build the
    domain objects, validated, on first use, for a reader that wants them; ``AgedOrder.of``
    makes one from domain objects (the in-memory store).
    """

    record: Mapping[str, Any]
    fill_records: tuple[Mapping[str, Any], ...] = ()

    @classmethod
    def of(cls, order: Order, fills: Iterable[Fill] = ()) -> AgedOrder:
        return cls(order.to_dict(), tuple(fill.to_dict() for fill in fills))

    @property
    def order_id(self) -> str:
        return self.record["order_id"]  # type: ignore[no-any-return]

    @property
    def newest_strategy_fill(self) -> tuple[str, str] | None:
        """``(strategy_id, fill_id)`` of the order's newest fill when it is a strategy instance's
        (what the sweep folds); None otherwise, or without fills."""
        if not self.fill_records:
            return None
        newest = self.fill_records[-1]
        strategy_id = newest.get("strategy_id")
        return None if strategy_id is None else (strategy_id, newest["fill_id"])

    @cached_property
    def order(self) -> Order:
        return Order.from_dict(self.record)

    @cached_property
    def fills(self) -> tuple[Fill, ...]:
        return tuple(Fill.from_dict(record) for record in self.fill_records)


@dataclass(frozen=True)
class StoreStats:
    """How big the store is: rows by kind, bytes on disk (None when it has none: the memory
    store), and the last update of the oldest finished order (None when there is none)."""

    orders: int
    fills: int
    open_orders: int
    size_bytes: int | None
    oldest_terminal_update: datetime | None


class OrderRepository(Protocol):
    async def get_order(self, order_id: str) -> Order | None: ...

    async def get_order_by_client_id(self, client_order_id: str) -> Order | None: ...

    async def list_orders(self, query: OrderQuery) -> OrderPage:
        """Newest first; ``next_cursor`` continues after the last order of the page."""
        ...

    async def fills_for_order(self, order_id: str) -> Sequence[Fill]: ...


class StrategyRepository(Protocol):
    """Strategy instances (one ``StrategyRecord`` each) and the fills of their orders.

    Records are written through ``ChangeSet.strategies``; a record written again keeps the
    ``created_at`` of its first write and its place in the listing.
    """

    async def get_strategy(self, strategy_id: str) -> StrategyRecord | None: ...

    async def list_strategies(self, status: StrategyStatus | None = None) -> Sequence[StrategyRecord]:
        """Every record (optionally only those with ``status``), oldest first (``created_at``, then
        first write); a status that is not a ``StrategyStatus`` is a ValidationError."""
        ...

    async def fills_for_strategy(self, strategy_id: str) -> Sequence[Fill]:
        """The fills of the instance's orders (``Fill.strategy_id``), oldest first."""
        ...

    async def fills_for_strategies_through(
        self, fill_ids: Mapping[str, Sequence[str]]
    ) -> Mapping[str, Sequence[Fill]]:
        """For each instance of ``fill_ids`` (strategy id -> fill ids): its stored fills, oldest
        first as ``fills_for_strategy``, up to and including the newest of its fill ids that is a
        stored fill of the instance (fills of any of its orders, open ones too); empty when none of
        them is. The retention sweep reads through it what its folds must hold, every instance of a
        batch in one read, each bounded by its fill, on the fills-by-strategy index."""
        ...

    async def folded_fills(self, strategy_ids: Sequence[str]) -> Mapping[str, FoldedFills]:
        """What the fills of these instances that aged out of the store added up to (written by
        ``delete_orders``); ids with none are absent."""
        ...


class TradingStore(OrderRepository, StrategyRepository, Protocol):
    async def start(self) -> None:
        """Open the store, creating its schema on first use."""
        ...

    async def stop(self) -> None: ...

    async def load_state(self) -> StoredState | None:
        """The last committed state; None when nothing was ever committed."""
        ...

    async def commit(self, changes: ChangeSet) -> None:
        """Write ``changes`` atomically and durably; raise ``StoreUnavailable`` if that fails."""
        ...

    def reset(self) -> None:
        """Accept commits again after a failure, once the caller has reloaded the durable state."""
        ...

    async def is_ready(self) -> bool: ...

    # -- retention: finished orders leave the hot store ----------------------------------------

    async def aged_orders(self, cutoff: datetime, limit: int) -> Sequence[AgedOrder]:
        """At most ``limit`` orders in a terminal status (filled, cancelled, rejected, expired)
        whose last update is before ``cutoff``, with their fills; oldest last update first (ties
        by order id)."""
        ...

    async def delete_orders(self, order_ids: Sequence[str], folded: Sequence[FoldedFills] = ()) -> int:
        """In one transaction: delete the orders of ``order_ids`` that are in a terminal status,
        with their fills, and store ``folded`` (replacing a strategy's earlier one). Returns how
        many orders were deleted; ids unknown or of open orders are left alone. A failure raises
        ``StoreUnavailable`` and changes nothing (the store keeps taking commits)."""
        ...

    async def reclaim_space(self) -> None:
        """After a sweep deleted rows: make the space they held reusable, so the store's size
        levels off instead of growing with the orders (a store that already does it in
        ``delete_orders`` does nothing here). A failure raises ``StoreUnavailable``."""
        ...

    async def stats(self) -> StoreStats: ...

    async def latest_update(self) -> datetime | None:
        """The newest time the stored state carries: the latest ``updated_at`` of an order (which
        an order's fills, cancellation and expiry set) or a strategy record, and the breaker's trip
        or reset; None when the store holds none of them. A replay resumes after it."""
        ...
