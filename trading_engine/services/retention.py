"""The retention sweep: finished orders older than the retention leave the store for the archive.

Every ``interval`` the sweep takes the orders in a terminal status whose last
update is older than ``now - retention`` (the clock port's now), in batches of ``batch_size``,
oldest first. Each batch is archived first (``OrderArchive.append`` returns once the files are
durable) and deleted after (``TradingStore.delete_orders``), so a crash in between leaves the rows
in the store and the archive does not write them twice. With the deletion, the fills of strategy
instances are folded into their ``FoldedFills``, so a restart rebuilds an instance's position and
counts without the fills that left: exactly, since the fold always holds a prefix of the
instance's fills in the store's order (see ``FoldedFills``).

Each batch is two steps: the plan (``ArchivingPlanner``: read the aged orders, archive them,
fold their fills; see ``BatchPlanner``) and its application (``delete_orders`` with the folds,
here). The plan is the CPU-heavy part (parsing rows, compressing CSV, rebuilding performance):
with a store another process can open too, the container hands the sweep a planner that runs
``ArchivingPlanner`` in a worker process, so that its work never holds this process's GIL and
orders placed meanwhile are acknowledged as usual; only the deletion runs here, off the event loop
(SQLite in its writer thread, PostgreSQL on a pooled connection). With the in-memory store the
same planner runs inline. A run starts planning only when the store holds an order past the cutoff
(``aged_orders(cutoff, 1)``: one row of an index, not the counts of ``stats()``), so an idle
sweep starts no worker. A failed run is logged
(``retention_sweep_failed``) and the next interval tries again; it never stops the service.

At start and after each run the gauges are refreshed: ``store_rows{kind}``, ``store_size_bytes`` and
``store_oldest_terminal_order_age_seconds`` (which an alert compares with twice
``store_retention_seconds``, set at start).
A retention of zero keeps everything: the sweep then only refreshes the gauges.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

import structlog

from trading_engine.domain.ports.archive import OrderArchive
from trading_engine.domain.ports.clock import Clock
from trading_engine.domain.ports.metrics import MetricsPort
from trading_engine.domain.ports.repository import AgedOrder, StoreStats, TradingStore
from trading_engine.domain.ports.retention import BatchPlanner, PlannedBatch
from trading_engine.domain.strategy_record import FoldedFills
from trading_engine.domain.timefmt import isoformat_exact
from trading_engine.services.strategy_runtime.performance import PerformanceTrack

log = structlog.get_logger(__name__)

ROW_KINDS = ("orders", "fills", "open_orders")


class RetentionSweep:
    def __init__(
        self,
        store: TradingStore,
        planner: BatchPlanner,
        clock: Clock,
        metrics: MetricsPort,
        *,
        retention: timedelta,
        interval: timedelta,
        batch_size: int,
    ) -> None:
        if retention < timedelta(0) or interval <= timedelta(0) or batch_size < 1:
            raise ValueError(
                f"retention {retention} must be >= 0, interval {interval} > 0 and batch_size {batch_size} >= 1"
            )
        self._store = store
        self._planner = planner
        self._clock = clock
        self._retention = retention
        self._interval = interval.total_seconds()
        self._batch_size = batch_size
        self._archived = {kind: metrics.counter("archive_rows_total", {"kind": kind}) for kind in ("orders", "fills")}
        self._duration = metrics.histogram("retention_sweep_seconds")
        self._rows = {kind: metrics.gauge("store_rows", {"kind": kind}) for kind in ROW_KINDS}
        self._size = metrics.gauge("store_size_bytes")
        self._oldest = metrics.gauge("store_oldest_terminal_order_age_seconds")
        self._retention_gauge = metrics.gauge("store_retention_seconds")

    @property
    def enabled(self) -> bool:
        """Whether finished orders leave the store (a retention of zero keeps everything)."""
        return self._retention > timedelta(0)

    async def start(self) -> None:
        """Set the gauges (a scrape right after startup has them); a failure is only logged."""
        self._retention_gauge.set(self._retention.total_seconds())
        await self._attempt(self.refresh_gauges)

    async def close(self) -> None:
        """Release the planner (the archive, a worker process); a later sweep opens it again."""
        await self._planner.close()

    async def run(self) -> None:
        """Sweep every interval, until cancelled; a failed run waits for the next."""
        while True:
            await asyncio.sleep(self._interval)
            await self._attempt(self.sweep)

    async def _attempt(self, step: Callable[[], Awaitable[object]]) -> None:
        try:
            await step()
        except Exception as exc:
            log.error("retention_sweep_failed", error=str(exc) or type(exc).__name__,
                      retry_in_seconds=self._interval)

    async def sweep(self) -> int:
        """One run: every order aged past the retention, archived then deleted, batch by batch;
        then the gauges. Returns how many orders left the store."""
        removed = 0
        if self.enabled:
            started = self._clock.monotonic()
            cutoff = self._clock.now() - self._retention
            # Whether anything has aged: one row of the aged orders' index, where ``stats()``
            # counts every row (on PostgreSQL, 10-120 ms under load); the planner, and with it a
            # worker process, is asked only then.
            aged = bool(await self._store.aged_orders(cutoff, 1))
            while aged:
                planned = await self._planner.plan(cutoff, self._batch_size)
                if not planned.order_ids:
                    break
                self._archived["orders"].inc(planned.archived.orders)
                self._archived["fills"].inc(planned.archived.fills)
                removed += await self._store.delete_orders(planned.order_ids, planned.folded)
                if len(planned.order_ids) < self._batch_size:
                    break
            if removed:
                await self._store.reclaim_space()
            self._duration.observe(self._clock.monotonic() - started)
            if removed:
                log.info("retention_swept", orders=removed, cutoff=isoformat_exact(cutoff))
        self._set_gauges(await self._store.stats())  # once a run, after it
        return removed

    async def refresh_gauges(self) -> None:
        self._set_gauges(await self._store.stats())

    def _set_gauges(self, stats: StoreStats) -> None:
        for kind, count in zip(ROW_KINDS, (stats.orders, stats.fills, stats.open_orders), strict=True):
            self._rows[kind].set(count)
        if stats.size_bytes is not None:
            self._size.set(stats.size_bytes)
        oldest = stats.oldest_terminal_update
        age = 0.0 if oldest is None else max(0.0, (self._clock.now() - oldest).total_seconds())
        self._oldest.set(age)


class ArchivingPlanner:
    """The ``BatchPlanner`` over the store's reads and the archive: read the batch, archive it,
    fold it. The same code runs inline and in the sweep's worker process."""

    def __init__(self, store: TradingStore, archive: OrderArchive) -> None:
        self._store = store
        self._archive = archive
        self._archive_opened = False

    async def plan(self, cutoff: datetime, limit: int) -> PlannedBatch:
        batch = await self._store.aged_orders(cutoff, limit)
        if not batch:
            return PlannedBatch()
        if not self._archive_opened:  # the first time there is something to archive
            await self._archive.open()
            self._archive_opened = True
        archived = await self._archive.append(batch)
        folded = await self._fold(batch)
        return PlannedBatch(tuple(aged.order_id for aged in batch), tuple(folded), archived)

    async def close(self) -> None:
        """Release the archive; a later plan opens it again."""
        self._archive.close()
        self._archive_opened = False

    async def _fold(self, batch: Sequence[AgedOrder]) -> list[FoldedFills]:
        """Each strategy instance's ``FoldedFills`` extended through the newest of its fills in
        ``batch``: every fill of the instance up to that one that the fold does not hold yet, in
        the store's order, those of orders that stay in the store included (they are then kept,
        counted in ``kept_fills``). The fold stays a prefix of the instance's fills, so a rebuild
        from it and the fills it does not hold applies them all in the order the instance saw."""
        leaving: dict[str, list[str]] = {}  # each instance's newest fill of each order leaving
        for aged in batch:
            if (newest := aged.newest_strategy_fill) is not None:
                leaving.setdefault(newest[0], []).append(newest[1])
        if not leaving:
            return []
        deleted = {aged.order_id for aged in batch}
        stored = await self._store.folded_fills(list(leaving))
        reads = await self._store.fills_for_strategies_through(leaving)
        folded = []
        for strategy_id in leaving:
            through = reads[strategy_id]
            if not through:  # none of them is stored any more: nothing to fold
                continue
            track = PerformanceTrack.rebuilt(through[0].symbol, stored.get(strategy_id), through)
            kept = Counter(fill.order_id for fill in through if fill.order_id not in deleted)
            folded.append(track.folded(strategy_id, kept))
        return folded
