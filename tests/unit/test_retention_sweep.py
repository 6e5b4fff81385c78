"""The retention sweep through the container, on the fake clock: finished orders older than the
retention are archived, then leave the store; open orders, the account and strategy performance
stay; a client_order_id older than the retention names a new order; a failing run is retried."""

from __future__ import annotations

import asyncio
import csv
import gzip
from datetime import timedelta
from pathlib import Path

import pytest
from dependency_injector import providers
from structlog.testing import capture_logs

from tests.fakes import FakeClock, RecordingMetrics
from tests.support.engine import (
    D,
    Engine,
    assert_durable_matches_memory,
    build_engine,
    counted,
    last_gauge,
)
from tests.support.strategy_engine import build_strategy_engine, limit, market
from tests.support.trading_data import make_order, order_change
from trading_engine.containers import Container
from trading_engine.domain.errors import StoreUnavailable
from trading_engine.domain.orders import OrderStatus
from trading_engine.domain.ports.archive import Archived
from trading_engine.domain.ports.repository import AgedOrder
from trading_engine.infrastructure.persistence.archive import GzipCsvArchive
from trading_engine.infrastructure.persistence.memory import InMemoryTradingStore
from trading_engine.services.retention import ArchivingPlanner, RetentionSweep
from trading_engine.services.strategy_runtime.performance import PerformanceTrack

DAY = 86400.0
RETENTION_DAYS = 30  # the shipped default


def archived_ids(directory: Path, kind: str) -> list[str]:
    key = "order_id" if kind == "orders" else "fill_id"
    found = []
    for path in sorted(directory.glob(f"{kind}-*.csv.gz")):
        with gzip.open(path, "rt", newline="") as text:
            found.extend(row[key] for row in csv.DictReader(text))
    return found


def archive_in(tmp_path: Path):  # type: ignore[no-untyped-def]
    def configure(container: Container) -> None:
        container.order_archive.override(providers.Singleton(GzipCsvArchive, tmp_path / "archive"))

    return configure


@pytest.fixture
async def engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    built = await build_engine(configure=archive_in(tmp_path))
    yield built
    await built.close()


async def test_finished_orders_past_the_retention_are_archived_then_leave_the_store(
    engine: Engine, tmp_path: Path
) -> None:
    filled = await engine.place("BTC-USD", "buy", "0.01")
    resting = await engine.place("BTC-USD", "buy", "0.01", "40000")
    cancelled = await engine.place("BTC-USD", "buy", "0.01", "39000")
    await engine.orders.cancel(cancelled.order_id)
    fills = await engine.store.fills_for_order(filled.order_id)
    sweep: RetentionSweep = engine.container.retention_sweep()

    # Not old enough yet: nothing moves.
    engine.clock.advance(RETENTION_DAYS * DAY - 1)
    assert await sweep.sweep() == 0
    assert archived_ids(tmp_path / "archive", "orders") == []

    engine.clock.advance(2)
    before = await assert_durable_matches_memory(engine)
    assert await sweep.sweep() == 2

    assert await engine.store.get_order(filled.order_id) is None
    assert await engine.store.get_order(cancelled.order_id) is None
    assert await engine.store.fills_for_order(filled.order_id) == []
    assert await engine.store.get_order(resting.order_id) is not None  # open orders never leave
    assert await assert_durable_matches_memory(engine) == before  # cash, positions, open orders
    assert sorted(archived_ids(tmp_path / "archive", "orders")) == sorted([filled.order_id, cancelled.order_id])
    assert archived_ids(tmp_path / "archive", "fills") == [fill.fill_id for fill in fills]
    assert counted(engine.recorded, "archive_rows_total", kind="orders") == 2
    assert counted(engine.recorded, "archive_rows_total", kind="fills") == len(fills)
    assert last_gauge(engine.recorded, "store_rows", {"kind": "orders"}) == 1
    assert last_gauge(engine.recorded, "store_rows", {"kind": "open_orders"}) == 1
    assert last_gauge(engine.recorded, "store_oldest_terminal_order_age_seconds") == 0
    assert [c for c in engine.recorded.calls if c[1] == "retention_sweep_seconds"]
    assert await sweep.sweep() == 0  # idempotent: nothing left, nothing written again
    assert len(archived_ids(tmp_path / "archive", "orders")) == 2


async def test_the_oldest_finished_order_age_is_what_the_alert_reads(engine: Engine) -> None:
    await engine.place("BTC-USD", "buy", "0.01")
    engine.clock.advance(3600)
    await engine.container.retention_sweep().sweep()
    assert last_gauge(engine.recorded, "store_oldest_terminal_order_age_seconds") == 3600
    assert last_gauge(engine.recorded, "store_rows", {"kind": "fills"}) == 1


async def test_a_client_order_id_older_than_the_retention_names_a_new_order(engine: Engine) -> None:
    first = await engine.place_result("BTC-USD", "buy", "0.01", client_order_id="retry-1")
    again = await engine.place_result("BTC-USD", "buy", "0.01", client_order_id="retry-1")
    assert first.created and not again.created and again.order.order_id == first.order.order_id

    engine.clock.advance(RETENTION_DAYS * DAY + 1)
    await engine.container.retention_sweep().sweep()
    engine.market.push("BTC-USD", D("50000"))  # a fresh price, a month later
    later = await engine.place_result("BTC-USD", "buy", "0.01", client_order_id="retry-1")
    assert later.created and later.order.order_id != first.order.order_id
    assert (await engine.store.get_order_by_client_id("retry-1")) == later.order


async def test_a_retention_of_zero_keeps_everything(tmp_path: Path) -> None:
    def configure(container: Container) -> None:
        archive_in(tmp_path)(container)
        container.config.persistence.retention.override(timedelta(0))

    engine = await build_engine(configure=configure)
    try:
        order = await engine.place("BTC-USD", "buy", "0.01")
        engine.clock.advance(10 * 365 * DAY)
        sweep = engine.container.retention_sweep()
        assert not sweep.enabled
        assert await sweep.sweep() == 0
        assert await engine.store.get_order(order.order_id) == order
        assert last_gauge(engine.recorded, "store_rows", {"kind": "orders"}) == 1  # the gauges still move
        assert not (tmp_path / "archive").exists()
    finally:
        await engine.close()


class FlakyStore(InMemoryTradingStore):
    """Fails ``aged_orders`` the first ``failures`` times, as a database that went away would."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.calls = 0

    async def aged_orders(self, cutoff, limit):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.calls <= self.failures:
            raise StoreUnavailable("the database could not be read (connection refused)")
        return await super().aged_orders(cutoff, limit)


async def test_a_failed_run_is_logged_and_the_next_interval_tries_again(tmp_path: Path) -> None:
    store = FlakyStore(failures=1)

    def configure(container: Container) -> None:
        archive_in(tmp_path)(container)
        container.config.persistence.retention_sweep_interval.override(timedelta(milliseconds=1))

    engine = await build_engine(store=store, configure=configure)
    try:
        order = await engine.place("BTC-USD", "buy", "0.01")
        engine.clock.advance(RETENTION_DAYS * DAY + 1)
        with capture_logs() as logs:
            await engine.container.retention.init()  # the background task, as the service runs it
            for _ in range(2000):
                if await store.get_order(order.order_id) is None:
                    break
                await asyncio.sleep(0.001)
            await engine.container.retention.shutdown()
        assert await store.get_order(order.order_id) is None
        (failed,) = [line for line in logs if line["event"] == "retention_sweep_failed"]
        assert "connection refused" in failed["error"] and failed["log_level"] == "error"
        assert [line["orders"] for line in logs if line["event"] == "retention_swept"] == [1]
        assert last_gauge(engine.recorded, "store_retention_seconds") == RETENTION_DAYS * DAY  # set at start
    finally:
        await engine.close()


async def test_batches_are_bounded_and_taken_oldest_first(tmp_path: Path) -> None:
    store = InMemoryTradingStore()
    await store.start()
    for n in range(7):
        order, fills = make_order(f"o-{n}", OrderStatus.FILLED, seconds=n)
        await store.commit(order_change(order, fills))
    seen: list[list[str]] = []

    class Watching(GzipCsvArchive):
        async def append(self, batch):  # type: ignore[no-untyped-def]
            seen.append([aged.order.order_id for aged in batch])
            return await super().append(batch)

    clock = FakeClock()
    clock.advance(2 * DAY)
    sweep = RetentionSweep(store, ArchivingPlanner(store, Watching(tmp_path)), clock, RecordingMetrics(),
                           retention=timedelta(days=1),
                           interval=timedelta(seconds=60), batch_size=3)
    assert await sweep.sweep() == 7
    assert seen == [["o-0", "o-1", "o-2"], ["o-3", "o-4", "o-5"], ["o-6"]]


async def test_space_is_reclaimed_once_per_run_that_removed_orders(tmp_path: Path) -> None:
    class Counting(InMemoryTradingStore):
        reclaimed = 0

        async def reclaim_space(self) -> None:
            self.reclaimed += 1
            await super().reclaim_space()

    store = Counting()
    await store.start()
    for n in range(5):
        order, fills = make_order(f"o-{n}", OrderStatus.FILLED, seconds=n)
        await store.commit(order_change(order, fills))
    clock = FakeClock()
    sweep = RetentionSweep(store, ArchivingPlanner(store, GzipCsvArchive(tmp_path)), clock, RecordingMetrics(),
                           retention=timedelta(days=1),
                           interval=timedelta(seconds=60), batch_size=2)
    assert await sweep.sweep() == 0 and store.reclaimed == 0  # nothing aged: nothing to reclaim
    clock.advance(2 * DAY)
    assert await sweep.sweep() == 5 and store.reclaimed == 1  # three batches, one reclaim
    assert await sweep.sweep() == 0 and store.reclaimed == 1


async def test_a_run_counts_the_store_once_after_it_and_plans_only_when_an_order_has_aged(tmp_path: Path) -> None:
    class Counting(InMemoryTradingStore):
        counted = 0

        async def stats(self):  # type: ignore[no-untyped-def]
            self.counted += 1
            return await super().stats()

    class Planner(ArchivingPlanner):
        plans = 0

        async def plan(self, cutoff, limit):  # type: ignore[no-untyped-def]
            self.plans += 1
            return await super().plan(cutoff, limit)

    store = Counting()
    await store.start()
    for n in range(5):
        order, fills = make_order(f"o-{n}", OrderStatus.FILLED, seconds=n)
        await store.commit(order_change(order, fills))
    clock, metrics = FakeClock(), RecordingMetrics()
    planner = Planner(store, GzipCsvArchive(tmp_path))
    sweep = RetentionSweep(store, planner, clock, metrics, retention=timedelta(days=1),
                           interval=timedelta(seconds=60), batch_size=2)
    assert await sweep.sweep() == 0
    assert (store.counted, planner.plans) == (1, 0)  # nothing aged: no plan, the gauges refreshed
    assert last_gauge(metrics, "store_rows", {"kind": "orders"}) == 5
    clock.advance(2 * DAY)
    assert await sweep.sweep() == 5
    assert (store.counted, planner.plans) == (2, 3)  # three batches, one count after them
    assert last_gauge(metrics, "store_rows", {"kind": "orders"}) == 0  # what the run left


async def test_a_strategy_instance_rebuilt_after_its_fills_left_keeps_its_performance(tmp_path: Path) -> None:
    se = await build_strategy_engine()
    se.engine.container.order_archive.override(providers.Singleton(GzipCsvArchive, tmp_path))
    store = se.engine.store
    one = await se.manager.start("scripted", "BTC-USD", {})
    one.strategy.queue.append([market("buy", "0.02")])
    await se.tick("50000")
    one.strategy.queue.append([market("sell", "0.01"), limit("buy", "0.01", "40000")])
    await se.tick("51000", advance=1)
    kept = ("trades", "position", "average_entry_price", "realized_pnl", "fees", "win_rate")
    live = {key: one.performance.report(None)[key] for key in kept}
    assert live["trades"] == 2 and live["realized_pnl"] != 0

    se.clock.advance(RETENTION_DAYS * DAY + 10)
    assert await se.engine.container.retention_sweep().sweep() == 2
    assert await store.fills_for_strategy(one.strategy_id) == []  # every fill of it has left

    await se.close()
    again = await build_strategy_engine(store=store, prices=None)
    try:
        (resumed,) = again.manager.active()
        assert resumed.strategy_id == one.strategy_id
        assert {key: resumed.performance.report(None)[key] for key in kept} == live
        assert len(again.resting(resumed.strategy_id)) == 1
    finally:
        await again.close()


async def test_a_long_lived_order_filled_before_orders_that_age_out_rebuilds_exactly(tmp_path: Path) -> None:
    """A resting order's first fill comes before fills of orders that age out while it stays: after
    the sweep and a restart the instance has exactly what it had, as a rebuild with no sweep."""
    se = await build_strategy_engine(liquidity={"BTC-USD": "0.01"})
    se.engine.container.order_archive.override(providers.Singleton(GzipCsvArchive, tmp_path))
    store = se.engine.store
    one = await se.manager.start("scripted", "BTC-USD", {})
    one.strategy.queue.append([limit("buy", "0.05", "50000")])  # fills 0.01 now, the rest rests
    await se.tick("50000")
    one.strategy.queue.append([market("buy", "0.02")])
    await se.tick("52000", advance=1)
    one.strategy.queue.append([market("sell", "0.02")])
    await se.tick("53000", advance=1)
    (resting,) = se.resting(one.strategy_id)
    assert resting.status is OrderStatus.PARTIALLY_FILLED
    counts = ("trades", "closing_fills", "winning_fills")

    def held(track: PerformanceTrack) -> tuple[object, ...]:
        return track.position.snapshot, *(getattr(track, name) for name in counts)

    live = held(one.performance)
    unswept = PerformanceTrack.rebuilt("BTC-USD", None, await store.fills_for_strategy(one.strategy_id))
    assert held(unswept) == live and one.performance.position.realized_pnl != 0

    se.clock.advance(RETENTION_DAYS * DAY + 10)
    assert await se.engine.container.retention_sweep().sweep() == 2  # the market orders; the limit stays
    assert [f.order_id for f in await store.fills_for_strategy(one.strategy_id)] == [resting.order_id]

    await se.close()
    again = await build_strategy_engine(store=store, prices=None)
    try:
        (resumed,) = again.manager.active()
        assert held(resumed.performance) == live
        assert len(again.resting(resumed.strategy_id)) == 1
    finally:
        await again.close()


async def test_folding_aged_fills_then_the_rest_equals_applying_them_all() -> None:
    """Fills oldest first: what is folded plus what is still stored is the whole history."""
    orders = [make_order(f"o-{n}", OrderStatus.FILLED, strategy_id="s-1", side=side, seconds=n,
                         price=price) for n, (side, price) in enumerate(
        [("buy", "100"), ("buy", "110"), ("sell", "120"), ("sell", "90"), ("buy", "95")])]
    every = [fill for _order, fills in orders for fill in fills]
    whole = PerformanceTrack.starting_from("BTC-USD", None)
    for fill in every:
        whole.apply_fill(fill)

    store = InMemoryTradingStore()
    await store.start()
    for order, fills in orders:
        await store.commit(order_change(order, fills))

    class Memory:
        async def open(self) -> None: ...

        async def append(self, batch: list[AgedOrder]) -> Archived:
            return Archived(len(batch), sum(len(a.fill_records) for a in batch))

        def close(self) -> None: ...

    clock = FakeClock(orders[0][0].created_at)
    clock.advance(5.3)  # the first three orders (last updated 1.25 s, 2.25 s, 3.25 s in) are older than 2 s
    sweep = RetentionSweep(store, ArchivingPlanner(store, Memory()), clock, RecordingMetrics(),
                           retention=timedelta(seconds=2),
                           interval=timedelta(seconds=60), batch_size=2)
    assert await sweep.sweep() == 3
    folded = (await store.folded_fills(["s-1"]))["s-1"]
    rebuilt = PerformanceTrack.rebuilt("BTC-USD", folded, await store.fills_for_strategy("s-1"))
    assert rebuilt.report(None) == whole.report(None)
    assert folded.trades == 6


class DeletionFailsOnce(InMemoryTradingStore):
    """Refuses the first deletion, as a store that went away between archive and delete would."""

    def __init__(self) -> None:
        super().__init__()
        self.refused = False

    async def delete_orders(self, order_ids, folded=()):  # type: ignore[no-untyped-def]
        if not self.refused:
            self.refused = True
            raise StoreUnavailable("the database could not delete aged orders (server closed the connection)")
        return await super().delete_orders(order_ids, folded)


async def test_a_batch_archived_but_not_deleted_is_deleted_next_time_without_being_archived_again(
    tmp_path: Path,
) -> None:
    store = DeletionFailsOnce()
    await store.start()
    for n in range(3):
        order, fills = make_order(f"o-{n}", OrderStatus.FILLED, seconds=n)
        await store.commit(order_change(order, fills))
    clock = FakeClock()
    clock.advance(2 * DAY)
    recorded = RecordingMetrics()

    def sweep() -> RetentionSweep:  # a new process each time: a fresh archive object on the same files
        return RetentionSweep(store, ArchivingPlanner(store, GzipCsvArchive(tmp_path)), clock, recorded,
                              retention=timedelta(days=1),
                              interval=timedelta(seconds=60), batch_size=10)

    first = sweep()
    with pytest.raises(StoreUnavailable):
        await first.sweep()
    await first.close()  # the process ends
    assert len((await store.aged_orders(clock.now(), 10))) == 3  # still in the store
    assert await sweep().sweep() == 3
    assert archived_ids(tmp_path, "orders") == ["o-0", "o-1", "o-2"]  # once each
    assert counted(recorded, "archive_rows_total", kind="orders") == 3
