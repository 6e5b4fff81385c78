"""``InMemoryTradingStore``: the SQLite store's behaviour without a file, for unit tests.

It keeps the immutable values ``commit`` hands it (order, position and breaker snapshots, fills,
cash and account settings; strategy records as the JSON rows SQLite writes), so nothing a caller
holds can change it, and every read returns fresh objects (an ``Order`` is rebuilt around its
stored snapshot) that cannot change it either. Its semantics match ``SqliteTradingStore`` and are
checked by the same contract tests:

- a change set is applied all or nothing; orders, positions, cash, the breaker, the account and
  strategy records are upserts (an order keeps the sequence number of its first insert, a strategy
  record its place and the ``created_at`` of its first write), fills are inserted;
- the constraints SQLite enforces are enforced here too: a fill id stored twice, a fill for an
  unknown order, or a ``client_order_id`` held by another order fails the commit;
- a failed commit raises ``StoreUnavailable``, leaves nothing behind and puts the store in the
  failed state, where every commit raises ``StoreUnavailable`` at once until ``reset()``;
- ``list_orders`` pages newest first with the same cursors; ``list_strategies`` lists oldest first
  (``created_at``, then first insert);
- ``aged_orders``/``delete_orders`` take finished orders out as the durable stores do; ``stats``
  has no size on disk (None).

``fail_commits(exc)`` stands for a disk that stops taking writes: from then on every commit fails
with ``exc`` as its cause, entering the failed state, until ``fail_commits(None)`` repairs the
"disk". Like SQLite, ``reset()`` alone does not repair it: it only lets the store try again.
Each successful commit is its own transaction, so ``transactions`` equals ``commits``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

import structlog

from trading_engine.domain.errors import StoreUnavailable
from trading_engine.domain.orders import Fill, Order, OrderSnapshot
from trading_engine.domain.portfolio import AccountSettings, CashBalance, PositionSnapshot
from trading_engine.domain.ports.repository import (
    AgedOrder,
    ChangeSet,
    OrderPage,
    OrderQuery,
    StoredState,
    StoreStats,
)
from trading_engine.domain.risk import BreakerState
from trading_engine.domain.strategy_record import FoldedFills, StrategyRecord, StrategyStatus
from trading_engine.domain.timefmt import isoformat_exact, require_aware
from trading_engine.infrastructure.persistence.records import (
    NOT_RUNNING,
    OPEN_STATUSES,
    TERMINAL_STATUSES,
    StrategyRow,
    check_aged_query,
    check_change_set,
    check_deletion,
    check_fill_ids,
    check_query,
    check_strategy_status,
    describe,
    encode_cursor,
    keep_first_created,
    latest_of,
    refusing,
    strategy_record,
    strategy_row,
    write_failed,
)

log = structlog.get_logger(__name__)


class ConstraintViolation(Exception):
    """What SQLite's IntegrityError is to the SQLite store; worded like SQLite's messages."""


class InMemoryTradingStore:
    def __init__(self) -> None:
        self._running = False
        self._orders: dict[str, tuple[int, OrderSnapshot]] = {}
        self._client_ids: dict[str, str] = {}
        self._fills: dict[str, Fill] = {}  # insertion order is sequence order
        self._fills_by_order: dict[str, list[str]] = {}
        self._fills_by_strategy: dict[str, list[str]] = {}
        self._strategies: dict[str, tuple[int, StrategyRow]] = {}
        self._strategy_seq = 0
        self._positions: dict[str, PositionSnapshot] = {}
        self._cash: dict[str, CashBalance] = {}
        self._breaker: BreakerState | None = None
        self._account: AccountSettings | None = None
        self._order_seq = 0
        self._folded: dict[str, FoldedFills] = {}
        self._broken: Exception | None = None
        self._failure: Exception | None = None
        self._commits = 0

    @property
    def commits(self) -> int:
        """Change sets committed successfully."""
        return self._commits

    @property
    def transactions(self) -> int:
        """Transactions committed: one per change set here (the SQLite store groups them)."""
        return self._commits

    @property
    def failed(self) -> bool:
        """Whether a commit failed and the store refuses changes until ``reset()``."""
        return self._failure is not None

    def fail_commits(self, exc: Exception | None) -> None:
        """Make every commit fail with ``exc`` as the cause (None: commits succeed again)."""
        self._broken = exc

    async def start(self) -> None:
        self._running = True

    async def stop(self) -> None:
        self._running = False

    def reset(self) -> None:
        self._failure = None

    async def is_ready(self) -> bool:
        return self._running and self._failure is None

    async def commit(self, changes: ChangeSet) -> None:
        if not self._running:
            raise StoreUnavailable(f"{NOT_RUNNING}; nothing was stored")
        if self._failure is not None:
            raise StoreUnavailable(refusing(self._failure))
        changes = check_change_set(changes)
        strategies = tuple(strategy_row(record) for record in changes.strategies)
        try:
            if self._broken is not None:
                raise self._broken
            self._apply(changes, strategies)
        except Exception as exc:
            self._failure = exc
            log.error("store_commit_failed", error=describe(exc), batch_size=1)
            raise StoreUnavailable(write_failed(exc)) from exc
        self._commits += 1

    def _apply(self, changes: ChangeSet, strategies: tuple[StrategyRow, ...]) -> None:
        undo: list[Callable[[], None]] = []
        order_seq = self._order_seq
        try:
            for order in changes.orders:
                self._upsert_order(order, undo)
            for fill in changes.fills:
                self._insert_fill(fill, undo)
        except ConstraintViolation:
            for action in reversed(undo):
                action()
            self._order_seq = order_seq
            raise
        for position in changes.positions:
            self._positions[position.symbol] = position
        for cash in changes.cash:
            self._cash[cash.currency] = cash
        if changes.breaker is not None:
            self._breaker = changes.breaker
        if changes.account is not None:
            self._account = changes.account
        stored = {
            row.strategy_id: self._strategies[row.strategy_id][1]
            for row in strategies
            if row.strategy_id in self._strategies
        }
        for strategy in keep_first_created(strategies, stored):
            existing = self._strategies.get(strategy.strategy_id)
            if existing is None:
                self._strategy_seq += 1
                seq = self._strategy_seq
            else:
                seq = existing[0]
            self._strategies[strategy.strategy_id] = (seq, strategy)

    def _upsert_order(self, snapshot: OrderSnapshot, undo: list[Callable[[], None]]) -> None:
        order_id, client_id = snapshot.order_id, snapshot.request.client_order_id
        if client_id is not None and self._client_ids.get(client_id, order_id) != order_id:
            raise ConstraintViolation("UNIQUE constraint failed: orders.client_order_id")
        existing = self._orders.get(order_id)
        if existing is None:
            self._order_seq += 1
            seq = self._order_seq
            undo.append(lambda: self._orders.pop(order_id))
        else:
            seq, old = existing
            undo.append(lambda: self._orders.__setitem__(order_id, existing))
            released = old.request.client_order_id
            if released is not None and released != client_id:
                del self._client_ids[released]
                undo.append(lambda: self._client_ids.__setitem__(released, order_id))
        if client_id is not None and client_id not in self._client_ids:
            self._client_ids[client_id] = order_id
            undo.append(lambda: self._client_ids.pop(client_id))
        self._orders[order_id] = (seq, snapshot)

    def _insert_fill(self, fill: Fill, undo: list[Callable[[], None]]) -> None:
        if fill.fill_id in self._fills:
            raise ConstraintViolation("UNIQUE constraint failed: fills.fill_id")
        if fill.order_id not in self._orders:
            raise ConstraintViolation("FOREIGN KEY constraint failed")
        self._fills[fill.fill_id] = fill
        indexes = [(self._fills_by_order, fill.order_id)]
        if fill.strategy_id is not None:
            indexes.append((self._fills_by_strategy, fill.strategy_id))
        for index, key in indexes:
            index.setdefault(key, []).append(fill.fill_id)

        def remove() -> None:
            del self._fills[fill.fill_id]
            for index, key in indexes:
                siblings = index[key]
                siblings.pop()
                if not siblings:
                    del index[key]

        undo.append(remove)

    def _require_running(self) -> None:
        if not self._running:
            raise StoreUnavailable(NOT_RUNNING)

    async def get_order(self, order_id: str) -> Order | None:
        self._require_running()
        found = self._orders.get(order_id)
        return None if found is None else Order(found[1])

    async def get_order_by_client_id(self, client_order_id: str) -> Order | None:
        self._require_running()
        order_id = self._client_ids.get(client_order_id)
        return None if order_id is None else Order(self._orders[order_id][1])

    async def fills_for_order(self, order_id: str) -> Sequence[Fill]:
        self._require_running()
        return [self._fills[fill_id] for fill_id in self._fills_by_order.get(order_id, ())]

    async def get_strategy(self, strategy_id: str) -> StrategyRecord | None:
        self._require_running()
        found = self._strategies.get(strategy_id)
        return None if found is None else strategy_record(found[1].data)

    async def list_strategies(self, status: StrategyStatus | None = None) -> Sequence[StrategyRecord]:
        self._require_running()
        wanted = check_strategy_status(status)
        matches = sorted(
            (
                (row.created_at, seq, row)
                for seq, row in self._strategies.values()
                if wanted is None or row.status == wanted
            ),
            key=lambda item: item[:2],
        )
        return [strategy_record(row.data) for _created_at, _seq, row in matches]

    async def fills_for_strategy(self, strategy_id: str) -> Sequence[Fill]:
        self._require_running()
        return [self._fills[fill_id] for fill_id in self._fills_by_strategy.get(strategy_id, ())]

    async def list_orders(self, query: OrderQuery) -> OrderPage:
        self._require_running()
        wanted = check_query(query)
        matches = sorted(
            (
                (seq, snapshot)
                for seq, snapshot in self._orders.values()
                if (wanted.before_seq is None or seq < wanted.before_seq)
                and (wanted.status is None or snapshot.status == wanted.status)
                and (wanted.symbol is None or snapshot.request.symbol == wanted.symbol)
                and (wanted.strategy_id is None or snapshot.request.strategy_id == wanted.strategy_id)
            ),
            key=lambda item: item[0],
            reverse=True,
        )
        page = matches[: wanted.limit]
        more = len(matches) > wanted.limit
        return OrderPage(
            orders=tuple(Order(snapshot) for _seq, snapshot in page),
            next_cursor=encode_cursor(page[-1][0]) if more else None,
        )

    async def load_state(self) -> StoredState | None:
        self._require_running()
        stored = (self._orders, self._fills, self._positions, self._cash)
        if not any(stored) and self._breaker is None and self._account is None:
            return None
        open_orders = sorted(
            (item for item in self._orders.values() if item[1].status in OPEN_STATUSES),
            key=lambda item: item[0],
        )
        return StoredState(
            account=self._account,
            cash=tuple(self._cash[currency] for currency in sorted(self._cash)),
            positions=tuple(self._positions[symbol] for symbol in sorted(self._positions)),
            open_orders=tuple(Order(snapshot) for _seq, snapshot in open_orders),
            breaker=self._breaker,
        )

    # -- retention ----------------------------------------------------------------------------

    async def aged_orders(self, cutoff: datetime, limit: int) -> Sequence[AgedOrder]:
        self._require_running()
        before = check_aged_query(cutoff, limit)
        aged = sorted(
            (updated, order_id)
            for order_id, (_seq, snapshot) in self._orders.items()
            if snapshot.status in TERMINAL_STATUSES and (updated := isoformat_exact(snapshot.updated_at)) < before
        )[:limit]
        return [
            AgedOrder.of(Order(self._orders[order_id][1]), await self.fills_for_order(order_id))
            for _updated, order_id in aged
        ]

    async def forget_finished(self, before: datetime) -> int:
        """Delete every finished order last updated before ``before``, with its fills, as
        ``delete_orders`` does, without reading them out first: a backtest's clear-out, where
        nothing archives them. Returns how many orders left."""
        self._require_running()
        require_aware(before, field="before")
        ids = [order_id for order_id, (_seq, snapshot) in self._orders.items()
               if snapshot.status in TERMINAL_STATUSES and snapshot.updated_at < before]
        return await self.delete_orders(ids) if ids else 0

    async def delete_orders(self, order_ids: Sequence[str], folded: Sequence[FoldedFills] = ()) -> int:
        self._require_running()
        ids, _rows = check_deletion(order_ids, folded)
        if self._broken is not None:  # the "disk" refuses writes: nothing changes, commits go on
            raise StoreUnavailable(f"the database could not delete aged orders ({describe(self._broken)})")
        deleted = 0
        for order_id in ids:
            found = self._orders.get(order_id)
            if found is None or found[1].status not in TERMINAL_STATUSES:
                continue
            del self._orders[order_id]
            client_id = found[1].request.client_order_id
            if client_id is not None:
                del self._client_ids[client_id]
            for fill_id in self._fills_by_order.pop(order_id, ()):
                fill = self._fills.pop(fill_id)
                if fill.strategy_id is not None:
                    siblings = self._fills_by_strategy[fill.strategy_id]
                    siblings.remove(fill_id)
                    if not siblings:
                        del self._fills_by_strategy[fill.strategy_id]
            deleted += 1
        for item in folded:
            self._folded[item.strategy_id] = item
        return deleted

    async def fills_for_strategies_through(
        self, fill_ids: Mapping[str, Sequence[str]]
    ) -> Mapping[str, Sequence[Fill]]:
        self._require_running()
        found = {}
        for strategy_id, named in check_fill_ids(fill_ids).items():
            wanted = set(named)
            ids = self._fills_by_strategy.get(strategy_id, [])
            last = max((index for index, fill_id in enumerate(ids) if fill_id in wanted), default=-1)
            found[strategy_id] = [self._fills[fill_id] for fill_id in ids[: last + 1]]
        return found

    async def folded_fills(self, strategy_ids: Sequence[str]) -> Mapping[str, FoldedFills]:
        self._require_running()
        return {key: self._folded[key] for key in strategy_ids if key in self._folded}

    async def reclaim_space(self) -> None:
        """Deleted rows are gone with their objects."""
        self._require_running()

    async def latest_update(self) -> datetime | None:
        self._require_running()
        orders = (isoformat_exact(snapshot.updated_at) for _seq, snapshot in self._orders.values())
        strategies = (row.updated_at for _seq, row in self._strategies.values())
        return latest_of((*orders, *strategies), self._breaker)

    async def stats(self) -> StoreStats:
        self._require_running()
        terminal = [
            snapshot.updated_at for _seq, snapshot in self._orders.values() if snapshot.status in TERMINAL_STATUSES
        ]
        return StoreStats(
            orders=len(self._orders),
            fills=len(self._fills),
            open_orders=sum(1 for _seq, snapshot in self._orders.values() if snapshot.status in OPEN_STATUSES),
            size_bytes=None,
            oldest_terminal_update=min(terminal) if terminal else None,
        )
