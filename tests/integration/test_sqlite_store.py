"""The SQLite store on real files: schema and versions, group commit, the failure mode, durability
across a killed process, draining on stop, and no SQLite call on the event loop thread."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import sqlite3
import sys
import textwrap
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import closing
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from trading_engine.domain.errors import StoreUnavailable
from trading_engine.domain.orders import OrderStatus
from trading_engine.domain.portfolio import AccountSettings, CashBalance, Position
from trading_engine.domain.ports.repository import ChangeSet, OrderQuery
from trading_engine.domain.risk import CircuitBreaker
from trading_engine.domain.strategy_record import StrategyStatus
from trading_engine.domain.timefmt import isoformat_exact
from trading_engine.infrastructure.persistence import sqlite as sqlite_module
from trading_engine.infrastructure.persistence.records import to_json
from trading_engine.infrastructure.persistence.sqlite import IncompatibleSchema, SqliteTradingStore
from tests.support.process import REPO_ROOT
from tests.support.trading_data import (
    T0,
    Connections,
    account_change,
    at,
    make_order,
    order_change,
    strategy_record,
    trading_portfolio,
)

pytestmark = pytest.mark.integration


def query(path: Path, sql: str, *params: object) -> list[tuple]:
    """Read the file behind the store's back, with a connection of the test's own."""
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql, params).fetchall()


def store_threads() -> list[str]:
    return [thread.name for thread in threading.enumerate() if thread.name.startswith("sqlite-")]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "nested" / "trading.db"


@pytest.fixture
def connections() -> Connections:
    return Connections()


@pytest.fixture
async def store(db_path: Path, connections: Connections) -> AsyncIterator[SqliteTradingStore]:
    made = SqliteTradingStore(db_path, connect=connections)
    await made.start()
    try:
        yield made
    finally:
        await made.stop()


@pytest.fixture(autouse=True)
def no_threads_left_behind() -> Iterator[None]:
    yield
    assert store_threads() == []


async def test_first_start_creates_the_directory_the_file_and_a_versioned_schema(
    store: SqliteTradingStore, db_path: Path, connections: Connections
) -> None:
    assert db_path.is_file()
    versions = query(db_path, "SELECT version, applied_at FROM schema_version ORDER BY version")
    assert [version for version, _ in versions] == [1, 2, 3] and sqlite_module.SCHEMA_VERSION == 3
    assert all(datetime.fromisoformat(applied_at).tzinfo is not None for _, applied_at in versions)
    assert query(db_path, "PRAGMA journal_mode") == [("wal",)]
    names = {name for (name,) in query(db_path, "SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")}
    assert {"orders", "fills", "positions", "cash", "breaker", "account", "strategies", "schema_version"} <= names
    assert {"orders_status_seq", "orders_symbol_seq", "orders_strategy_seq", "fills_order_seq"} <= names
    assert {"strategies_status_created", "fills_strategy_seq"} <= names
    assert {"orders_aged", "folded_fills"} <= names
    assert query(db_path, "PRAGMA auto_vacuum") == [(2,)]  # incremental: freed pages can be returned
    assert connections.writer is not None
    assert connections.writer.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
    assert connections.writer.execute("PRAGMA foreign_keys").fetchone() == (1,)
    assert await store.is_ready()


async def test_list_queries_use_their_indexes(store: SqliteTradingStore, db_path: Path) -> None:
    for column, index in (
        ("status", "orders_status_seq"),
        ("symbol", "orders_symbol_seq"),
        ("strategy_id", "orders_strategy_seq"),
    ):
        plan = query(
            db_path, f"EXPLAIN QUERY PLAN SELECT seq, data FROM orders WHERE {column} = ? AND seq < ? "
            "ORDER BY seq DESC LIMIT ?", "x", 10, 5,
        )
        assert any(index in detail for *_ids, detail in plan), plan
    for sql, index in (
        ("SELECT data FROM fills WHERE order_id = ? ORDER BY seq", "fills_order_seq"),
        ("SELECT data FROM fills WHERE strategy_id = ? ORDER BY seq", "fills_strategy_seq"),
        ("SELECT data FROM strategies WHERE status = ? ORDER BY created_at, seq", "strategies_status_created"),
    ):
        plan = query(db_path, f"EXPLAIN QUERY PLAN {sql}", "x")
        assert any(index in detail for *_ids, detail in plan), plan
        assert not any("TEMP B-TREE" in detail for *_ids, detail in plan), plan  # no sort: the index has the order


async def test_everything_committed_is_there_after_a_restart(db_path: Path) -> None:
    portfolio = trading_portfolio()
    breaker = CircuitBreaker()
    breaker.trip("drawdown", at(5))
    orders = [make_order(f"o-{status.value}", status, seconds=n) for n, status in enumerate(OrderStatus)]
    first = SqliteTradingStore(db_path)
    await first.start()
    try:
        for order, fills in orders:
            await first.commit(order_change(order, fills))
        await first.commit(ChangeSet(breaker=breaker.state))
        await first.commit(account_change(portfolio))
    finally:
        await first.stop()
    assert not Path(f"{db_path}-wal").exists() or Path(f"{db_path}-wal").stat().st_size == 0

    second = SqliteTradingStore(db_path)
    await second.start()
    try:
        for order, fills in orders:
            stored = await second.get_order(order.order_id)
            assert stored is not None and stored.to_dict() == order.to_dict()
            assert await second.fills_for_order(order.order_id) == fills
        state = await second.load_state()
        assert state is not None
        account = account_change(portfolio)
        assert (state.account, state.cash, state.positions) == (account.account, account.cash, account.positions)
        assert [position.to_dict() for position in state.positions] == portfolio.to_dict()["positions"]
        assert state.breaker == breaker.state
        assert [o.order_id for o in state.open_orders] == ["o-open", "o-partially_filled"]
        # Stored exactly as text: no float, no rounding, no reformatting.
        [(balance, reserved)] = query(db_path, "SELECT balance, reserved FROM cash WHERE currency = 'USD'")
        assert (balance, reserved) == (portfolio.to_dict()["cash"]["USD"], "1234.5678")
        # Not applied twice.
        assert query(db_path, "SELECT version FROM schema_version ORDER BY version") == [(1,), (2,), (3,)]
    finally:
        await second.stop()


async def test_a_file_from_a_newer_version_is_refused_by_name(db_path: Path) -> None:
    store = SqliteTradingStore(db_path)
    await store.start()
    await store.stop()
    with closing(sqlite3.connect(db_path)) as conn, conn:
        conn.execute("INSERT INTO schema_version VALUES (7, '2030-01-01T00:00:00.000000Z')")

    newer = SqliteTradingStore(db_path)
    with pytest.raises(IncompatibleSchema) as caught:
        await newer.start()
    message = str(caught.value)
    assert "schema version 7" in message and "version 3" in message and str(db_path) in message
    assert not await newer.is_ready()
    await newer.stop()


async def test_an_older_file_is_migrated_and_keeps_its_data(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    order, fills = make_order("o-1", OrderStatus.PARTIALLY_FILLED)
    store = SqliteTradingStore(db_path)
    await store.start()
    await store.commit(order_change(order, fills))
    await store.stop()

    known = sqlite_module.SCHEMA_VERSION
    following = (known + 1, ("CREATE TABLE venue_sessions (session_id TEXT PRIMARY KEY)",))
    monkeypatch.setattr(sqlite_module, "MIGRATIONS", (*sqlite_module.MIGRATIONS, following))
    monkeypatch.setattr(sqlite_module, "SCHEMA_VERSION", known + 1)
    migrated = SqliteTradingStore(db_path)
    await migrated.start()
    try:
        versions = [v for (v,) in query(db_path, "SELECT version FROM schema_version ORDER BY version")]
        assert versions == list(range(1, known + 2))
        assert query(db_path, "SELECT count(*) FROM venue_sessions") == [(0,)]
        assert await migrated.get_order("o-1") == order
        assert await migrated.fills_for_order("o-1") == fills
    finally:
        await migrated.stop()


# The version 1 schema as it shipped, so the upgrade is tested from what is on disk out there even
# if someone edits MIGRATIONS[0] (which they must not: files already at version 1 would not follow).
V1_SCHEMA = (
    """CREATE TABLE orders (
                order_id TEXT PRIMARY KEY,
                seq INTEGER NOT NULL UNIQUE,
                client_order_id TEXT UNIQUE,
                symbol TEXT NOT NULL,
                side TEXT NOT NULL,
                type TEXT NOT NULL,
                status TEXT NOT NULL,
                strategy_id TEXT,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                data TEXT NOT NULL
            )""",
    "CREATE INDEX orders_status_seq ON orders (status, seq)",
    "CREATE INDEX orders_symbol_seq ON orders (symbol, seq)",
    "CREATE INDEX orders_strategy_seq ON orders (strategy_id, seq)",
    """CREATE TABLE fills (
                fill_id TEXT PRIMARY KEY,
                order_id TEXT NOT NULL REFERENCES orders (order_id),
                seq INTEGER NOT NULL UNIQUE,
                data TEXT NOT NULL
            )""",
    "CREATE INDEX fills_order_seq ON fills (order_id, seq)",
    "CREATE TABLE positions (symbol TEXT PRIMARY KEY, data TEXT NOT NULL)",
    "CREATE TABLE cash (currency TEXT PRIMARY KEY, balance TEXT NOT NULL, reserved TEXT NOT NULL)",
    "CREATE TABLE breaker (id INTEGER PRIMARY KEY CHECK (id = 1), data TEXT NOT NULL)",
    "CREATE TABLE account (id INTEGER PRIMARY KEY CHECK (id = 1), data TEXT NOT NULL)",
)


def test_the_version_1_migration_is_unchanged() -> None:
    assert sqlite_module.MIGRATIONS[0] == (1, V1_SCHEMA)


def write_version_1_file(path: Path, orders: list) -> None:
    """A database as version 1 of the service left it, holding ``orders`` and their fills."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
        for statement in V1_SCHEMA:
            conn.execute(statement)
        conn.execute("INSERT INTO schema_version VALUES (1, ?)", (isoformat_exact(at(0)),))
        fill_seq = 0
        for seq, (order, fills) in enumerate(orders, start=1):
            record = order.to_dict()
            conn.execute(
                "INSERT INTO orders (order_id, seq, client_order_id, symbol, side, type, status, strategy_id, "
                "created_at, updated_at, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    order.order_id, seq, order.client_order_id, order.symbol, record["side"], record["type"],
                    record["status"], order.strategy_id, record["created_at"], record["updated_at"],
                    to_json(record, what="order"),
                ),
            )
        # Fills of different orders interleaved, as they arrive.
        for fill in sorted((fill for _order, fills in orders for fill in fills), key=lambda f: f.timestamp):
            fill_seq += 1
            conn.execute(
                "INSERT INTO fills (fill_id, order_id, seq, data) VALUES (?, ?, ?, ?)",
                (fill.fill_id, fill.order_id, fill_seq, to_json(fill.to_dict(), what="fill")),
            )


async def test_a_version_1_file_is_migrated_to_version_2_and_finds_fills_by_strategy(db_path: Path) -> None:
    orders = [
        make_order("o-a1", OrderStatus.FILLED, strategy_id="s-a", seconds=0),
        make_order("o-b1", OrderStatus.PARTIALLY_FILLED, strategy_id="s-b", seconds=0.25),
        make_order("o-manual", OrderStatus.FILLED, seconds=0.5),
        make_order("o-a2", OrderStatus.PARTIALLY_FILLED, strategy_id="s-a", seconds=0.6),
    ]
    write_version_1_file(db_path, orders)
    by_id = {order.order_id: (order, fills) for order, fills in orders}
    a_fills = sorted(by_id["o-a1"][1] + by_id["o-a2"][1], key=lambda fill: fill.timestamp)
    assert [fill.order_id for fill in a_fills] == ["o-a1", "o-a2", "o-a1", "o-a2"]  # interleaved

    with capture_logs() as logs:
        store = SqliteTradingStore(db_path)
        await store.start()
    try:
        assert [entry["schema_version"] for entry in logs if entry["event"] == "store_schema_migrated"] == [2, 3]
        assert [v for (v,) in query(db_path, "SELECT version FROM schema_version ORDER BY version")] == [1, 2, 3]
        assert await store.fills_for_strategy("s-a") == a_fills
        assert await store.fills_for_strategy("s-b") == by_id["o-b1"][1]
        assert query(db_path, "SELECT count(*) FROM fills WHERE strategy_id IS NULL") == [(2,)]  # o-manual's
        assert await store.list_strategies() == []
        # What version 1 stored reads back as before.
        for order, fills in orders:
            assert await store.get_order(order.order_id) == order
            assert await store.fills_for_order(order.order_id) == fills
        state = await store.load_state()
        assert state is not None and [o.order_id for o in state.open_orders] == ["o-b1", "o-a2"]

        # And the new tables take writes.
        more, more_fills = make_order("o-a3", OrderStatus.FILLED, strategy_id="s-a", seconds=5)
        record = strategy_record("s-a")
        await store.commit(ChangeSet(orders=(more.snapshot,), fills=tuple(more_fills), strategies=(record,)))
        assert await store.fills_for_strategy("s-a") == a_fills + more_fills
        assert await store.get_strategy("s-a") == record
    finally:
        await store.stop()

    again = SqliteTradingStore(db_path)  # a second start does not migrate again
    with capture_logs() as logs:
        await again.start()
    try:
        assert not [entry for entry in logs if entry["event"] == "store_schema_migrated"]
        assert await again.fills_for_strategy("s-a") == a_fills + more_fills
    finally:
        await again.stop()


STOPPED = StrategyStatus.STOPPED

# A strategy row as schema version 2 has stored it since strategy records existed: the record's
# JSON with the timestamps as exact UTC text (some files spell the offset "+00:00").
V2_ROW = {
    "strategy_id": "stg_7f3a9c:1",
    "strategy": "market_making",
    "symbol": "ETH-USD",
    "params": {"spread_bps": "10", "quote_size": "0.1", "max_orders_per_second": 10.0, "max_open_orders": 10},
    "status": "error",
    "reason": "stopped after 50 refused orders within 60 s; circuit breaker tripped",
    "created_at": "2026-01-02T03:04:05.678901Z",
    "updated_at": "2026-01-02T03:09:05.000000+00:00",
}


async def test_a_strategy_row_written_by_schema_version_2_reads_back_and_is_written_the_same_way(
    db_path: Path,
) -> None:
    store = SqliteTradingStore(db_path)
    await store.start()
    await store.stop()
    with closing(sqlite3.connect(db_path)) as conn, conn:
        conn.execute(
            "INSERT INTO strategies (strategy_id, seq, strategy, symbol, status, created_at, updated_at, data) "
            "VALUES (?, 1, ?, ?, ?, ?, ?, ?)",
            (V2_ROW["strategy_id"], V2_ROW["strategy"], V2_ROW["symbol"], V2_ROW["status"],
             "2026-01-02T03:04:05.678901Z", "2026-01-02T03:09:05.000000Z", json.dumps(V2_ROW)),
        )
    again = SqliteTradingStore(db_path)
    await again.start()
    try:
        record = await again.get_strategy(V2_ROW["strategy_id"])
        assert record is not None and await again.list_strategies(StrategyStatus.ERROR) == [record]
        assert (record.strategy, record.symbol, record.status, record.reason) == (
            "market_making", "ETH-USD", StrategyStatus.ERROR, V2_ROW["reason"])
        assert record.params == V2_ROW["params"]
        assert (record.created_at, record.updated_at) == (T0, datetime(2026, 1, 2, 3, 9, 5, tzinfo=UTC))
        await again.commit(ChangeSet(strategies=(record,)))
    finally:
        await again.stop()
    # Written back, the row is the same JSON, timestamps in the exact form.
    [(data,)] = query(db_path, "SELECT data FROM strategies")
    assert json.loads(data) == V2_ROW | {"updated_at": "2026-01-02T03:09:05.000000Z"}
    assert list(json.loads(data)) == list(V2_ROW)


async def test_strategy_records_are_there_after_a_restart(db_path: Path) -> None:
    records = [
        strategy_record("s-1", seconds=3, params={"fast": 3, "band": "0.50", "weights": [0.5, 1.5]}),
        strategy_record("s-2", strategy="mean_reversion", symbol="ETH-USD", status="error", reason="boom", seconds=1),
        strategy_record("s-3", status="stopped", reason="operator stop", seconds=2),
    ]
    order, fills = make_order("o-1", OrderStatus.FILLED, strategy_id="s-1")
    first = SqliteTradingStore(db_path)
    await first.start()
    try:
        await first.commit(ChangeSet(orders=(order.snapshot,), fills=tuple(fills), strategies=tuple(records)))
        await first.commit(ChangeSet(strategies=(dataclasses.replace(records[0], status=STOPPED, reason=None),)))
    finally:
        await first.stop()

    second = SqliteTradingStore(db_path)
    await second.start()
    try:
        stopped = dataclasses.replace(records[0], status=STOPPED, reason=None)
        assert await second.list_strategies() == [records[1], records[2], stopped]
        assert await second.list_strategies(STOPPED) == [records[2], stopped]
        assert await second.get_strategy("s-2") == records[1]
        assert await second.fills_for_strategy("s-1") == fills
        # A record written after the restart still keeps the first created_at and goes after the rest.
        await second.commit(ChangeSet(strategies=(dataclasses.replace(records[0], created_at=at(99)),)))
        assert await second.get_strategy("s-1") == records[0]
        await second.commit(ChangeSet(strategies=(strategy_record("s-4", seconds=3),)))
        listed = [record.strategy_id for record in await second.list_strategies()]
        assert listed == ["s-2", "s-3", "s-1", "s-4"]  # s-1 and s-4 share created_at: insertion order
    finally:
        await second.stop()


async def test_concurrent_commits_share_transactions_in_call_order(store: SqliteTradingStore, db_path: Path) -> None:
    calls = 200
    changes = []
    for number in range(calls):
        order, _ = make_order(f"o-{number:03}", seconds=number)
        position = Position("BTC-USD")
        position.apply_fill("buy", number + 1, "1")
        changes.append(
            ChangeSet(
                orders=(order.snapshot,),
                cash=(CashBalance("USD", Decimal(f"{number}.00")),),
                positions=(position.snapshot,),
            )
        )
    before = store.transactions
    await asyncio.gather(*(store.commit(change) for change in changes))

    used = store.transactions - before
    assert 1 <= used < calls
    assert store.commits == calls
    assert query(db_path, "SELECT balance FROM cash") == [("199.00",)]
    state = await store.load_state()
    assert state is not None and [p.quantity for p in state.positions] == [200]
    assert [seq for (seq,) in query(db_path, "SELECT seq FROM orders ORDER BY order_id")] == list(range(1, calls + 1))


@pytest.mark.parametrize(("max_batch", "batch_size"), [(512, 50), (10, 10)])
async def test_an_unwritable_database_fails_the_batch_and_everything_queued(
    db_path: Path, connections: Connections, max_batch: int, batch_size: int
) -> None:
    store = SqliteTradingStore(db_path, connect=connections, max_batch=max_batch)
    await store.start()
    try:
        await _fail_and_recover(store, connections, db_path, batch_size)
    finally:
        await store.stop()


async def _fail_and_recover(
    store: SqliteTradingStore, connections: Connections, db_path: Path, batch_size: int
) -> None:
    kept, _ = make_order("o-kept")
    await store.commit(order_change(kept))
    connections.writable(False)

    changes = [order_change(make_order(f"o-{n}")[0]) for n in range(50)]
    with capture_logs() as logs:
        results = await asyncio.gather(*(store.commit(change) for change in changes), return_exceptions=True)
    assert all(isinstance(result, StoreUnavailable) for result in results), results
    assert len({id(result) for result in results}) == 50  # one exception each
    assert "attempt to write a readonly database" in results[0].message  # type: ignore[union-attr]
    failures = [entry for entry in logs if entry["event"] == "store_commit_failed"]
    assert len(failures) == 1
    assert failures[0]["log_level"] == "error"
    assert "readonly" in failures[0]["error"]
    assert (failures[0]["batch_size"], failures[0]["queued"]) == (batch_size, 50 - batch_size)
    assert query(db_path, "SELECT order_id FROM orders") == [("o-kept",)]

    # Failed: refused at once, without touching the file.
    statements = len(connections.statements)
    connections.writable(True)
    statements += 1
    with pytest.raises(StoreUnavailable, match="refuses changes"):
        await store.commit(changes[0])
    assert len(connections.statements) == statements
    assert store.failed and not await store.is_ready()
    assert await store.get_order("o-kept") == kept  # reads still work

    store.reset()
    assert await store.is_ready()
    await store.commit(changes[0])
    assert query(db_path, "SELECT count(*) FROM orders") == [(2,)]


async def test_stop_writes_every_commit_already_queued(db_path: Path) -> None:
    store = SqliteTradingStore(db_path, synchronous="NORMAL")
    await store.start()
    pending = [
        asyncio.create_task(store.commit(order_change(make_order(f"o-{n:03}")[0]))) for n in range(300)
    ]
    await asyncio.sleep(0)  # every commit is queued; most are not written yet
    assert store.commits < 300
    await store.stop()
    assert all(task.done() and task.exception() is None for task in pending)
    assert query(db_path, "SELECT count(*) FROM orders") == [(300,)]
    with pytest.raises(StoreUnavailable, match="not running"):
        await store.commit(ChangeSet())


async def test_no_sqlite_call_runs_on_the_event_loop_thread(db_path: Path, connections: Connections) -> None:
    loop_thread = threading.get_ident()
    store = SqliteTradingStore(db_path, connect=connections)
    await store.start()
    try:
        order, fills = make_order("o-1", OrderStatus.PARTIALLY_FILLED, client_order_id="c-1")
        await asyncio.gather(*(store.commit(order_change(make_order(f"o-x{n}")[0])) for n in range(20)))
        await store.commit(order_change(order, fills))
        await store.commit(account_change(trading_portfolio()))
        await store.get_order("o-1")
        await store.get_order_by_client_id("c-1")
        await store.fills_for_order("o-1")
        await store.commit(ChangeSet(strategies=(strategy_record("s-1"),)))
        await store.get_strategy("s-1")
        await store.list_strategies(StrategyStatus.RUNNING)
        await store.fills_for_strategy("s-1")
        await store.list_orders(OrderQuery(status=OrderStatus.OPEN, limit=5))
        await store.load_state()
        assert await store.is_ready()
    finally:
        await store.stop()
    assert sorted(name.rsplit("_", 1)[0] for name in connections.opened_in) == ["sqlite-reader", "sqlite-writer"]
    assert connections.statement_threads and loop_thread not in connections.statement_threads
    assert len(connections.statement_threads) == 2  # one writer thread, one reader thread
    assert any(s.startswith("BEGIN IMMEDIATE") for s in connections.statements)


async def test_starting_twice_is_an_error(store: SqliteTradingStore) -> None:
    with pytest.raises(RuntimeError, match="started already"):
        await store.start()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"synchronous": "SOMETIMES"}, "synchronous 'SOMETIMES' is not allowed"),
        ({"busy_timeout_ms": -1}, "busy_timeout_ms -1 is not allowed"),
        ({"max_batch": 0}, "max_batch 0 is not allowed"),
    ],
)
def test_settings_are_checked_when_the_store_is_built(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SqliteTradingStore(tmp_path / "x.db", **kwargs)


def test_an_in_memory_database_is_refused() -> None:
    with pytest.raises(ValueError, match="database file"):
        SqliteTradingStore(":memory:")


CHILD = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from trading_engine.domain.portfolio import AccountSettings
    from trading_engine.domain.ports.repository import ChangeSet
    from trading_engine.infrastructure.persistence.sqlite import SqliteTradingStore
    from tests.support.trading_data import make_order, strategy_record

    async def main(path, count):
        store = SqliteTradingStore(path)
        await store.start()
        changes = []
        for n in range(count):
            strategy_id = f"s-{n % STRATEGIES}"
            order, fills = make_order(
                f"o-{n:04}", "partially_filled", client_order_id=f"c-{n}", strategy_id=strategy_id
            )
            record = strategy_record(strategy_id, seconds=n % STRATEGIES, updated=n, params={"n": n})
            changes.append(ChangeSet(orders=(order.snapshot,), fills=tuple(fills), strategies=(record,)))
        await asyncio.gather(*(store.commit(change) for change in changes))
        await store.commit(ChangeSet(account=AccountSettings("USD")))
        print("committed", store.transactions, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)  # no stop(), no close, no checkpoint

    STRATEGIES = int(sys.argv[3])
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    """
)


async def test_an_acknowledged_commit_survives_the_process_being_killed(db_path: Path) -> None:
    count, strategies = 500, 7
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, str(db_path), str(count), str(strategies),
        cwd=REPO_ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(child.communicate(), timeout=50)
    assert child.returncode == -signal.SIGKILL, stderr.decode()
    [line] = [line for line in stdout.decode().splitlines() if line.startswith("committed")]
    assert int(line.split()[1]) < count  # group commit was in play
    assert Path(f"{db_path}-wal").stat().st_size > 0  # the commits live in the WAL, not yet checkpointed

    store = SqliteTradingStore(db_path)
    await store.start()
    try:
        for n in (0, count // 2, count - 1):
            order, fills = make_order(f"o-{n:04}", "partially_filled", client_order_id=f"c-{n}")
            stored = await store.get_order(order.order_id)
            assert stored is not None and stored.status is OrderStatus.PARTIALLY_FILLED
            assert len(await store.fills_for_order(order.order_id)) == 2
        state = await store.load_state()
        assert state is not None and len(state.open_orders) == count
        assert state.account == AccountSettings("USD")
        # Every strategy record, at its last acknowledged update; every fill of every instance.
        last = {n % strategies: n for n in range(count)}
        assert await store.list_strategies() == [
            strategy_record(f"s-{s}", seconds=s, updated=last[s], params={"n": last[s]}) for s in range(strategies)
        ]
        for s in range(strategies):
            fills_of_s = await store.fills_for_strategy(f"s-{s}")
            assert [fill.order_id for fill in fills_of_s[::2]] == [f"o-{n:04}" for n in range(s, count, strategies)]
    finally:
        await store.stop()
    assert query(db_path, "SELECT count(*) FROM fills") == [(2 * count,)]
