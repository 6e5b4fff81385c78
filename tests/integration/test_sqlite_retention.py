"""On a real SQLite file: once the sweep runs, the file stops growing with the number of orders.

Each round writes the same number of finished orders (two fills each), lets them age past the
retention on the fake clock and sweeps them into the archive. With incremental auto-vacuum the
pages they freed go back to the file system, so after every round the database is the size it was
after the first (within 10%: b-tree pages are not always equally full), and while a round is held
it takes what the first took: pages are reused, not added. The WAL beside it is bounded by SQLite's
checkpoints and ``journal_size_limit``, not by the number of orders: the disk total
(``store_size_bytes``) stays within twice that of the first round, where four rounds kept would
take four times the database.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import timedelta
from pathlib import Path

from tests.fakes import FakeClock, RecordingMetrics
from tests.support.trading_data import T0, make_order
from trading_engine.domain.orders import OrderStatus
from trading_engine.domain.ports.repository import ChangeSet
from trading_engine.infrastructure.persistence.archive import GzipCsvArchive
from trading_engine.infrastructure.persistence.sqlite import SqliteTradingStore, deletion_statements
from trading_engine.services.retention import ArchivingPlanner, RetentionSweep

ORDERS_PER_ROUND = 1500
ROUNDS = 4


async def write_round(store: SqliteTradingStore, round_number: int, seconds: float) -> None:
    for start in range(0, ORDERS_PER_ROUND, 250):
        made = [
            make_order(f"o-{round_number}-{n}", OrderStatus.FILLED, seconds=seconds, client_order_id=f"c-{round_number}-{n}")
            for n in range(start, start + 250)
        ]
        await store.commit(ChangeSet(orders=tuple(o.snapshot for o, _ in made),
                                     fills=tuple(f for _, fills in made for f in fills)))


def pragma(path: Path, name: str) -> int:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(f"PRAGMA {name}").fetchone()[0]


def database_bytes(path: Path) -> int:
    """The database's own size: its pages, wherever the latest copy of each is (file or WAL)."""
    return pragma(path, "page_count") * pragma(path, "page_size")


async def test_the_file_levels_off_instead_of_growing_with_the_orders(tmp_path: Path) -> None:
    path = tmp_path / "trading.db"
    store = SqliteTradingStore(path, synchronous="NORMAL")
    await store.start()
    clock = FakeClock(T0)
    sweep = RetentionSweep(store, ArchivingPlanner(store, GzipCsvArchive(tmp_path / "archive")), clock,
                           RecordingMetrics(),
                           retention=timedelta(hours=1), interval=timedelta(seconds=60), batch_size=500)
    sizes: list[int] = []
    unswept: list[int] = []
    disk: list[int] = []
    try:
        for round_number in range(ROUNDS):
            await write_round(store, round_number, seconds=clock.now().timestamp() - T0.timestamp())
            unswept.append(database_bytes(path))
            clock.advance(7200)
            assert await sweep.sweep() == ORDERS_PER_ROUND
            stats = await store.stats()
            assert (stats.orders, stats.fills) == (0, 0)
            sizes.append(database_bytes(path))
            disk.append(stats.size_bytes)
        assert pragma(path, "freelist_count") == 0  # freed pages were handed back, not kept inside the file
    finally:
        await store.stop()
    assert all(size <= sizes[0] * 1.10 for size in sizes), sizes
    assert all(size <= unswept[0] * 1.10 for size in unswept), unswept
    assert unswept[0] > 10 * sizes[0], (unswept, sizes)  # a round held is what the sweep takes away
    assert all(total <= disk[0] * 2 for total in disk), disk


async def test_a_deletion_finds_its_orders_by_id_not_among_every_finished_order(tmp_path: Path) -> None:
    """The batch's ids go through the primary key: with ``status IN (...)`` on the status index
    instead, each batch would read every finished order in the store."""
    path = tmp_path / "trading.db"
    store = SqliteTradingStore(path, synchronous="NORMAL")
    await store.start()
    await store.stop()
    with closing(sqlite3.connect(path)) as conn:
        for count in (3, 64, 500):  # from 64 ids on, SQLite would pick the status index
            for statement in deletion_statements(count):
                ids = [f"o-{n}" for n in range(count)]
                plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {statement}", ids)]
                on_orders = [step for step in plan if step.startswith(("SEARCH orders", "SCAN orders"))]
                assert on_orders and all("sqlite_autoindex_orders_1 (order_id=?)" in s for s in on_orders), plan


async def test_the_sweeps_reads_hold_no_snapshot_while_they_parse(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Each row is fetched before any is parsed: while the sweep's reads parse, a checkpoint can
    reset the WAL (a statement still stepping would hold it, and the WAL grows behind it)."""
    path = tmp_path / "t.db"
    store = SqliteTradingStore(path)
    await store.start()
    try:
        for n in range(40):
            order, fills = make_order(f"o-{n}", OrderStatus.FILLED, seconds=n, strategy_id="s-1")
            await store.commit(ChangeSet(orders=(order.snapshot,), fills=tuple(fills)))
        import trading_engine.infrastructure.persistence.sqlite as sqlite_store

        busy: dict[str, list[int]] = {"aged": [], "through": []}

        def checkpoint(read: str) -> None:
            with closing(sqlite3.connect(path)) as other:
                busy[read].append(other.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0])

        parse, build = sqlite_store.Fill.from_dict, sqlite_store.aged_from_rows

        def parsing(data):  # type: ignore[no-untyped-def]
            checkpoint("through")
            return parse(data)

        def building(orders, fills):  # type: ignore[no-untyped-def]
            checkpoint("aged")
            return build(orders, fills)

        monkeypatch.setattr(sqlite_store.Fill, "from_dict", staticmethod(parsing))
        monkeypatch.setattr(sqlite_store, "aged_from_rows", building)
        reader = store.read_only_opener()()
        await reader.start()
        try:
            aged = await reader.aged_orders(T0 + timedelta(days=1), 40)
            newest = aged[-1].newest_strategy_fill
            assert newest is not None
            through = (await reader.fills_for_strategies_through({"s-1": [newest[1]]}))["s-1"]
        finally:
            await reader.stop()
        assert len(aged) == 40 and len(through) == sum(len(a.fill_records) for a in aged)
        # Every checkpoint while the rows were parsed reset the WAL.
        assert busy["aged"] == [0] and busy["through"] and busy["through"] == [0] * len(busy["through"])
    finally:
        await store.stop()
