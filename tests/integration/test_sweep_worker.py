"""The retention sweep's plan step in a worker process (``ProcessBatchPlanner``), on SQLite and
PostgreSQL: it sweeps exactly as the inline planner does (same archive, same rows left, the folds
rebuild every instance exactly), its work and the archive lock are in the child, a worker killed
in the middle of a run loses nothing, and a password in the database URL shows nowhere."""

from __future__ import annotations

import asyncio
import csv
import gzip
import itertools
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import traceback
from collections.abc import AsyncIterator, Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from dependency_injector import providers
from structlog.testing import capture_logs

from tests.fakes import FakeClock, RecordingMetrics
from tests.support.fill_history import random_history
from tests.support.postgres import PostgresSchema
from tests.support.process import REPO_ROOT
from tests.support.trading_data import at, make_order
from trading_engine.containers import Container
from trading_engine.domain.errors import StoreUnavailable
from trading_engine.domain.orders import OrderStatus
from trading_engine.domain.ports.repository import ChangeSet, OrderQuery, TradingStore
from trading_engine.infrastructure.persistence.archive import ArchiveInUse, GzipCsvArchive
from trading_engine.infrastructure.persistence.memory import InMemoryTradingStore
from trading_engine.infrastructure.persistence.postgres import PostgresTradingStore
from trading_engine.infrastructure.persistence.sqlite import SqliteTradingStore
from trading_engine.infrastructure.persistence.sweep_worker import ProcessBatchPlanner
from trading_engine.services.retention import ArchivingPlanner, RetentionSweep

DAY = 86400.0
_schemas = itertools.count(1)


@dataclass
class Stores:
    """Opens started stores of one kind on fresh databases (files or schemas), stops them after."""

    kind: str
    tmp_path: Path
    url: str | None = None

    def __post_init__(self) -> None:
        self.started: list[tuple[TradingStore, PostgresSchema | None]] = []

    async def open(self, url: str | None = None) -> TradingStore:
        schema = None
        if self.kind == "sqlite":
            store: TradingStore = SqliteTradingStore(self.tmp_path / f"store-{len(self.started)}.db",
                                                     synchronous="NORMAL")
        else:
            assert self.url is not None
            schema = PostgresSchema(self.url, f"sweep_worker_{next(_schemas)}")
            store = PostgresTradingStore(url or self.url, schema.name)
        await store.start()
        self.started.append((store, schema))
        return store

    async def close(self) -> None:
        for store, schema in self.started:
            await store.stop()
            if schema is not None:
                await schema.drop()


@pytest.fixture(params=["sqlite", "postgres"])
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stores]:
    url = request.getfixturevalue("postgres_cluster").url() if request.param == "postgres" else None
    made = Stores(request.param, tmp_path, url)
    yield made
    await made.close()


def worker(store: Any, archive: Path, **options: Any) -> ProcessBatchPlanner:
    return ProcessBatchPlanner(store.read_only_opener(), archive, **options)


def archive_contents(directory: Path) -> dict[str, list[list[str]]]:
    """Each archive file's rows (header first), by file name."""
    found = {}
    for path in sorted(directory.glob("*.csv.gz")):
        with gzip.open(path, "rt", newline="") as text:
            found[path.name] = list(csv.reader(text))
    return found


def archived_ids(directory: Path, kind: str) -> list[str]:
    """The ids (first column) of every row in the archive's ``kind`` files, sorted."""
    return sorted(row[0] for name, rows in archive_contents(directory).items() if name.startswith(f"{kind}-")
                  for row in rows[1:])


def aged_clock() -> FakeClock:
    """A clock two days on: every order ``commit_finished_orders`` wrote is past a day's retention."""
    clock = FakeClock()
    clock.advance(2 * DAY)
    return clock


async def contents(store: TradingStore) -> tuple[object, ...]:
    """What a store holds that the sweep touches: every order, the instances' fills and folds."""
    orders = []
    cursor = None
    while True:
        page = await store.list_orders(OrderQuery(cursor=cursor, limit=1000))
        orders += [order.to_dict() for order in page.orders]
        if (cursor := page.next_cursor) is None:
            break
    instances = ["s-1", "s-2"]
    fills = [[fill.to_dict() for fill in await store.fills_for_strategy(s)] for s in instances]
    folded = {s: f.to_dict() for s, f in (await store.folded_fills(instances)).items()}
    stats = await store.stats()
    return orders, fills, folded, (stats.orders, stats.fills, stats.open_orders)


async def commit_finished_orders(store: TradingStore, count: int, instances: int = 2) -> None:
    """``count`` filled orders, one a second, spread over ``instances`` strategy instances."""
    made = [make_order(f"o-{n:03}", OrderStatus.FILLED, seconds=n, strategy_id=f"s-{n % instances + 1}")
            for n in range(count)]
    await store.commit(ChangeSet(orders=tuple(o.snapshot for o, _ in made), fills=tuple(f for _, fs in made for f in fs)))


def sweep_with(store: TradingStore, planner: Any, clock: FakeClock, batch_size: int = 4) -> RetentionSweep:
    return RetentionSweep(store, planner, clock, RecordingMetrics(), retention=timedelta(days=1),
                          interval=timedelta(seconds=60), batch_size=batch_size)


@pytest.mark.parametrize("seed", [1, 4, 7])
async def test_random_histories_swept_in_the_worker_rebuild_exactly_and_match_the_inline_sweep(
    stores: Stores, tmp_path: Path, seed: int
) -> None:
    inline_store, process_store = await stores.open(), await stores.open()
    inline = ArchivingPlanner(inline_store, GzipCsvArchive(tmp_path / "inline"))
    in_worker = worker(process_store, tmp_path / "worker")
    try:
        assert await random_history(inline_store, seed, events=60, planner=inline) == []
        assert await random_history(process_store, seed, events=60, planner=in_worker) == []
        assert in_worker.worker_pid not in (None, os.getpid())
    finally:
        await inline.close()
        await in_worker.close()
    assert archive_contents(tmp_path / "worker") == archive_contents(tmp_path / "inline") != {}
    assert await contents(process_store) == await contents(inline_store)


async def test_the_worker_holds_the_archive_lock_and_the_service_process_does_not(
    stores: Stores, tmp_path: Path
) -> None:
    store = await stores.open()
    await commit_finished_orders(store, 6)
    clock = aged_clock()
    planner = worker(store, tmp_path / "archive")
    try:
        assert await sweep_with(store, planner, clock).sweep() == 6
        pid = planner.worker_pid
        assert pid is not None and pid != os.getpid()
        inode = os.stat(tmp_path / "archive" / ".lock").st_ino
        holders = [line.split() for line in Path("/proc/locks").read_text().splitlines()
                   if line.split()[5].endswith(f":{inode}")]
        assert [int(fields[4]) for fields in holders] == [pid]  # the child's FLOCK, nobody else's
        with pytest.raises(ArchiveInUse):
            await GzipCsvArchive(tmp_path / "archive").open()
    finally:
        await planner.close()
    assert planner.worker_pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # stopped and reaped
    free = GzipCsvArchive(tmp_path / "archive")
    await free.open()  # the worker is gone, and the lock with it
    free.close()


SERVICE_THAT_DIES = """
import asyncio, logging, sys, time
import structlog
structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
from datetime import datetime, UTC
from trading_engine.infrastructure.persistence.sqlite import SqliteTradingStore
from trading_engine.infrastructure.persistence.sweep_worker import ProcessBatchPlanner

async def main():
    planner = ProcessBatchPlanner(SqliteTradingStore(sys.argv[1]).read_only_opener(), sys.argv[2])
    await planner.plan(datetime.now(UTC), 64)
    print(planner.worker_pid, flush=True)
    time.sleep(600)

if __name__ == "__main__":
    asyncio.run(main())
"""


async def test_a_worker_whose_service_was_killed_ends_and_frees_the_archive(tmp_path: Path) -> None:
    store = SqliteTradingStore(tmp_path / "trading.db", synchronous="NORMAL")
    await store.start()
    await commit_finished_orders(store, 2)
    await store.stop()
    script = tmp_path / "service.py"
    script.write_text(SERVICE_THAT_DIES)
    service = subprocess.Popen([sys.executable, str(script), str(tmp_path / "trading.db"), str(tmp_path / "archive")],
                               cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert service.stdout is not None
        pid = int(service.stdout.readline())
        with pytest.raises(ArchiveInUse):
            await GzipCsvArchive(tmp_path / "archive").open()
    finally:
        service.kill()  # SIGKILL: the service cannot stop its worker
        service.wait()
        if service.stdout is not None:
            service.stdout.close()
    for _ in range(1000):  # the worker notices its parent is gone (a bounded wait, not a timing)
        if not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]:
            break
        await asyncio.sleep(0.01)
    else:
        pytest.fail(f"the worker {pid} outlived its service")
    # The leader shows "Z" as soon as it exits; its other threads may still hold the file table
    # (and with it the lock) a moment longer. Again a bounded wait for the lock, not a timing.
    for _ in range(1000):
        free = GzipCsvArchive(tmp_path / "archive")
        try:
            await free.open()
        except ArchiveInUse:
            await asyncio.sleep(0.01)
            continue
        free.close()
        break
    else:
        pytest.fail(f"the archive is still locked after its worker {pid} ended")


async def test_a_worker_killed_mid_run_loses_nothing_and_the_next_run_finishes_the_sweep(
    stores: Stores, tmp_path: Path
) -> None:
    store = await stores.open()
    await commit_finished_orders(store, 120)
    every_order = [f"o-{n:03}" for n in range(120)]
    every_fill = sorted([fill.fill_id for s in ("s-1", "s-2") for fill in await store.fills_for_strategy(s)])
    clock = aged_clock()
    planner = worker(store, tmp_path / "archive")
    plan = planner.plan
    calls = itertools.count(1)

    async def killing_at_the_fourth(*args: Any) -> Any:
        if next(calls) == 4:  # the worker is killed a moment after the fourth batch reaches it
            pid = planner.worker_pid
            assert pid is not None
            threading.Timer(0.002, os.kill, (pid, signal.SIGKILL)).start()
        return await plan(*args)

    planner.plan = killing_at_the_fourth  # type: ignore[method-assign]
    sweep = sweep_with(store, planner, clock)
    try:
        with pytest.raises(BrokenProcessPool):
            await sweep.sweep()
        assert planner.worker_pid is None  # the dead worker is dropped
        left = (await store.stats()).orders
        assert 0 < left <= 120 - 3 * 4  # three batches were deleted before the kill
        assert await sweep.sweep() == left  # a new worker: the rest leaves
        assert planner.worker_pid is not None
    finally:
        await planner.close()
    assert (await store.stats()).orders == 0
    assert archived_ids(tmp_path / "archive", "orders") == every_order  # each once: none lost, none twice
    assert archived_ids(tmp_path / "archive", "fills") == every_fill


async def test_a_plan_that_fails_in_the_worker_fails_the_run_and_the_next_run_starts_a_new_worker(
    stores: Stores, tmp_path: Path
) -> None:
    store = await stores.open()
    await commit_finished_orders(store, 3)
    clock = aged_clock()
    planner = worker(store, tmp_path / "archive")
    blocker = GzipCsvArchive(tmp_path / "archive")
    await blocker.open()  # another process's archive: the worker cannot take it
    sweep = sweep_with(store, planner, clock)
    try:
        with pytest.raises(ArchiveInUse):
            await sweep.sweep()
        assert planner.worker_pid is None and (await store.stats()).orders == 3
        blocker.close()
        assert await sweep.sweep() == 3
    finally:
        blocker.close()
        await planner.close()
    assert archived_ids(tmp_path / "archive", "orders") == ["o-000", "o-001", "o-002"]


async def test_the_worker_opens_the_database_read_only(stores: Stores, tmp_path: Path) -> None:
    store = await stores.open()
    opened = store.read_only_opener()()  # type: ignore[attr-defined]
    await opened.start()
    try:
        order, fills = make_order("o-1", OrderStatus.FILLED)
        with pytest.raises(StoreUnavailable):
            await opened.commit(ChangeSet(orders=(order.snapshot,), fills=tuple(fills)))
        await store.commit(ChangeSet(orders=(order.snapshot,), fills=tuple(fills)))
        with pytest.raises(StoreUnavailable):
            await opened.delete_orders(["o-1"])
        assert [aged.order.order_id for aged in await opened.aged_orders(order.updated_at + timedelta(1), 10)] == ["o-1"]
    finally:
        await opened.stop()
    assert await store.get_order("o-1") == order


async def test_a_database_the_service_never_created_is_not_created_by_the_worker(tmp_path: Path) -> None:
    reader = SqliteTradingStore(tmp_path / "none.db", read_only=True)
    with pytest.raises(StoreUnavailable, match="none.db"):
        await reader.start()
    assert not (tmp_path / "none.db").exists()


async def test_a_password_in_the_database_url_shows_in_no_log_line_of_either_process(
    postgres_cluster: Any, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    url = postgres_cluster.url(password="pw-not-to-be-seen")  # trust auth: any password is accepted
    service = PostgresTradingStore(url, f"sweep_worker_{next(_schemas)}")
    await service.start()
    await commit_finished_orders(service, 2)
    clock = aged_clock()
    settings = {"level": "DEBUG", "fmt": "json", "service": "trading-engine", "instance": "test",
                "version": "0", "environment": "test", "secrets": []}
    planner = ProcessBatchPlanner(service.read_only_opener(), tmp_path / "archive", logging=settings)
    # A worker whose schema does not exist: it fails in the child, with the URL in its hands.
    missing = ProcessBatchPlanner(PostgresTradingStore(url, "no_such_schema").read_only_opener(), tmp_path / "other",
                                  logging=settings)
    try:
        assert "pw-not-to-be-seen" not in repr(service.read_only_opener())
        with capture_logs() as logs:
            assert await sweep_with(service, planner, clock).sweep() == 2
            await planner.close()
            await commit_finished_orders(service, 2)
            with pytest.raises(StoreUnavailable, match="no_such_schema") as raised:
                await sweep_with(service, missing, clock).sweep()
    finally:
        await planner.close()
        await missing.close()
        await service.stop()
        await PostgresSchema(postgres_cluster.url(), service.schema).drop()
    printed = capfd.readouterr()
    shown = "".join(traceback.format_exception(raised.value)) + repr(logs) + printed.out + printed.err
    assert "pw-not-to-be-seen" not in shown
    assert "127.0.0.1" in shown  # the server is named, without its password


def test_the_container_plans_in_a_worker_for_a_database_and_inline_for_the_memory_store(
    make_container: Callable[..., Container],
) -> None:
    assert isinstance(make_container().retention_planner(), ProcessBatchPlanner)
    container = make_container()
    container.trading_store.override(providers.Object(InMemoryTradingStore()))
    assert isinstance(container.retention_planner(), ArchivingPlanner)


async def test_a_sweep_with_nothing_aged_starts_no_worker(stores: Stores, tmp_path: Path) -> None:
    store = await stores.open()
    clock = FakeClock()
    planner = worker(store, tmp_path / "archive")
    sweep = sweep_with(store, planner, clock)
    try:
        assert await sweep.sweep() == 0  # an empty store
        await commit_finished_orders(store, 2)
        clock.advance(DAY - 60)  # finished, not aged yet
        assert await sweep.sweep() == 0
        assert planner.worker_pid is None and not (tmp_path / "archive").exists()
        clock.advance(120)
        assert await sweep.sweep() == 2
        assert planner.worker_pid is not None
    finally:
        await planner.close()


def ended(pid: int) -> bool:
    """Whether ``pid`` is gone and reaped (no zombie left)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def planner_over_finished_orders(stores: Stores, tmp_path: Path, count: int,
                                       **options: Any) -> tuple[TradingStore, ProcessBatchPlanner]:
    """A store holding ``count`` finished orders (aged past a cutoff of ``at(DAY)``) and a worker
    planner over it."""
    store = await stores.open()
    await commit_finished_orders(store, count)
    return store, worker(store, tmp_path / "archive", **options)


async def paused_worker(planner: ProcessBatchPlanner) -> int:
    """The worker after a first plan, stopped (SIGSTOP): it answers nothing more."""
    await planner.plan(at(DAY), 4)
    pid = planner.worker_pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    return pid


async def test_plans_start_no_thread_in_the_service_process(stores: Stores, tmp_path: Path) -> None:
    _, planner = await planner_over_finished_orders(stores, tmp_path, 6)
    before = set(threading.enumerate())
    try:
        first = await planner.plan(at(DAY), 4)  # the worker starts
        assert first.order_ids == ("o-000", "o-001", "o-002", "o-003")
        assert set(threading.enumerate()) == before
        for _ in range(3):
            assert (await planner.plan(at(DAY), 4)).order_ids == first.order_ids  # nothing deleted
            assert set(threading.enumerate()) == before
    finally:
        await planner.close()
    assert set(threading.enumerate()) == before


async def test_an_answer_larger_than_the_sockets_buffers_arrives_whole(tmp_path: Path) -> None:
    stores = Stores("sqlite", tmp_path)  # the framing is the same for either store
    inline_store, process_store = await stores.open(), await stores.open()
    count = 3000  # each order of its own instance, a fold each: some 600 kB pickled
    await commit_finished_orders(inline_store, count, instances=count)
    await commit_finished_orders(process_store, count, instances=count)
    inline = ArchivingPlanner(inline_store, GzipCsvArchive(tmp_path / "inline"))
    in_worker = worker(process_store, tmp_path / "worker")
    try:
        expected = await inline.plan(at(DAY), count)
        planned = await in_worker.plan(at(DAY), count)
    finally:
        await inline.close()
        await in_worker.close()
        await stores.close()
    ours, theirs = socket.socketpair()  # what the worker's socket holds in flight at most
    with ours, theirs:
        in_flight = theirs.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) + ours.getsockopt(
            socket.SOL_SOCKET, socket.SO_RCVBUF)
    assert len(pickle.dumps(planned)) > in_flight  # the child had to wait for the service to read
    assert len(planned.folded) == count and planned.order_ids == tuple(f"o-{n:03}" for n in range(count))
    assert planned == expected


async def test_a_worker_killed_while_a_plan_waits_for_it_fails_that_plan_and_the_next_starts_another(
    stores: Stores, tmp_path: Path
) -> None:
    _, planner = await planner_over_finished_orders(stores, tmp_path, 6)
    try:
        pid = await paused_worker(planner)  # it cannot answer the next request
        in_flight = asyncio.ensure_future(planner.plan(at(DAY), 4))
        await asyncio.sleep(0)  # the request is sent
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(BrokenProcessPool, match=f"pid {pid}"):
            await in_flight
        assert planner.worker_pid is None and ended(pid)  # dropped, and reaped
        assert (await planner.plan(at(DAY), 4)).order_ids == ("o-000", "o-001", "o-002", "o-003")
        assert planner.worker_pid not in (None, pid)
    finally:
        await planner.close()


async def test_close_lets_a_plan_whose_caller_was_cancelled_finish_and_the_worker_end(
    stores: Stores, tmp_path: Path
) -> None:
    store, planner = await planner_over_finished_orders(stores, tmp_path, 3)
    in_flight = asyncio.ensure_future(planner.plan(at(DAY), 4))
    for _ in range(100):  # the plan starts the worker and sends its request (a bounded wait)
        if planner.worker_pid is not None:
            break
        await asyncio.sleep(0)
    pid = planner.worker_pid
    assert pid is not None
    in_flight.cancel()
    await planner.close()
    assert in_flight.cancelled()
    assert planner.worker_pid is None and ended(pid)
    assert archived_ids(tmp_path / "archive", "orders") == ["o-000", "o-001", "o-002"]  # the plan finished
    assert (await store.stats()).orders == 3  # and only the sweep deletes


async def test_a_worker_that_does_not_stop_in_time_is_killed(stores: Stores, tmp_path: Path) -> None:
    _, planner = await planner_over_finished_orders(stores, tmp_path, 2, stop_timeout_seconds=0.2)
    try:
        pid = await paused_worker(planner)  # it cannot answer the stop request
        await planner.close()
        assert planner.worker_pid is None and ended(pid)
        assert len((await planner.plan(at(DAY), 4)).order_ids) == 2  # a new worker takes the archive
    finally:
        await planner.close()
