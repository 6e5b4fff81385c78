"""``SqliteTradingStore``: the durable trading store, one SQLite file in WAL mode.

Threads
    No SQLite call runs on the event loop. One writer thread (a single-worker executor) owns the
    only write connection; one reader thread owns a read-only connection (``query_only``) for
    every query. ``start()`` opens both connections in their threads, creating the file, its
    parent directory and the schema on first use (when it cannot, ``StoreUnavailable`` names the
    path and the cause); ``stop()`` lets the commits already queued
    finish, closes both connections in their threads and shuts the executors down. Under WAL,
    reads never wait for the writer and the writer never waits for reads.

Group commit
    ``commit(changes)`` checks the change set and turns it into rows on the caller's side (a
    malformed one fails only that caller, with a ValidationError), puts the rows and a future on
    a queue, and waits for the future. One writer task takes everything queued (at most
    ``max_batch`` change sets), writes it in ONE transaction in the writer thread
    (``BEGIN IMMEDIATE``; orders, fills, positions, cash, breaker, account and strategy rows with
    one ``executemany`` per table, change sets in queue order so later upserts win; ``COMMIT``), and
    only then resolves the futures. While a transaction is being written the next batch queues up,
    so under load one fsync covers hundreds of change sets; alone, a commit is one transaction.
    Commits take effect in the order ``commit`` was called. ``transactions`` counts transactions,
    ``commits`` change sets.

Durability
    ``PRAGMA synchronous=FULL`` (the default here) makes SQLite fsync the WAL at every commit, so
    once ``commit`` returns the change survives the process being killed and the machine losing
    power. ``synchronous="NORMAL"`` survives a killed process but may lose the last transactions
    on power loss; it is there for benchmarks and tests, not production.

Failure mode
    When a batch's transaction fails (any error: disk full, read-only file, I/O error, a
    constraint such as a fill id stored twice), it is rolled back, every commit in that batch and
    every commit still queued raises ``StoreUnavailable`` ("the database could not record the
    change (...); nothing was stored"), and ``store_commit_failed`` is logged once with the error
    and the batch size. The store is then FAILED: each new ``commit`` raises ``StoreUnavailable``
    at once, without touching the file, because the caller's in-memory state has run ahead of the
    file and must not be built on. The caller reloads ``load_state()`` and calls ``reset()``;
    commits are accepted again. Reads keep working while the file is readable, and
    ``is_ready()`` is False while failed.

Schema
    ``schema_version`` records every migration applied, with the time. ``MIGRATIONS`` lists the
    SQL of each version in order; a file at an older version is migrated on start, one at a newer
    version than this code knows is refused with ``IncompatibleSchema`` naming both versions.
    Each value of a change set is kept as its ``to_dict()`` JSON (read back through ``from_dict``,
    which validates), orders with the columns the queries filter on too, cash as two text columns;
    ``seq`` numbers orders (and fills) in insertion order, kept across upserts, and drives the
    newest-first pagination. Decimals are stored as text, exactly. Version 2 adds strategy records
    (``strategies``: the ``StrategyRecord`` as JSON in ``data``, its timestamps as exact UTC text to sort on,
    ``seq`` for insertion order) and ``fills.strategy_id``, filled in from the fills already stored.
    Version 3 adds the retention's partial index on finished orders (``orders_aged``) and
    ``folded_fills``; a file is created with ``auto_vacuum = INCREMENTAL``, and a file made before
    is rebuilt once (``VACUUM``) to have it.

Retention
    ``aged_orders`` and ``stats`` read on a connection and thread of their own (``sqlite-sweeper``),
    so API reads never queue behind the sweep; ``delete_orders`` is one transaction in the writer
    thread between group commits, followed by ``PRAGMA incremental_vacuum``, which hands the freed
    pages back to the file system: the file stops growing once orders age out.
    ``journal_size_limit`` cuts the WAL back after checkpoints. A failed deletion raises
    ``StoreUnavailable`` without failing the store: commits go on.

Read-only
    ``SqliteTradingStore(path, read_only=True)`` (what ``read_only_opener()`` makes, for the
    sweep's worker process) opens only the sweep's read connection (``query_only``) on a file the
    service has created and migrated: no writer, no migration, no schema change; ``commit`` and
    ``delete_orders`` refuse. Under WAL its reads run beside the service's writer.
"""

from __future__ import annotations

import asyncio
import functools
import json
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import structlog

from trading_engine.domain.decimals import to_decimal
from trading_engine.domain.errors import StoreUnavailable
from trading_engine.domain.orders import Fill, Order, OrderStatus
from trading_engine.domain.portfolio import AccountSettings, CashBalance, PositionSnapshot
from trading_engine.domain.ports.repository import AgedOrder, OrderPage, OrderQuery, StoredState, StoreStats
from trading_engine.domain.risk import BreakerState
from trading_engine.domain.strategy_record import FoldedFills, StrategyRecord, StrategyStatus
from trading_engine.domain.timefmt import isoformat_exact, parse_timestamp
from trading_engine.infrastructure.persistence.group_commit import GroupCommitStore
from trading_engine.infrastructure.persistence.records import (
    NOT_RUNNING,
    OPEN_STATUSES,
    TERMINAL_STATUSES,
    IncompatibleSchema,
    ListFilter,
    Rows,
    StrategyRow,
    aged_from_rows,
    check_aged_query,
    check_deletion,
    check_fill_ids,
    check_query,
    check_strategy_status,
    describe,
    encode_cursor,
    keep_first_created,
    latest_of,
    strategy_record,
)

log = structlog.get_logger(__name__)

_T = TypeVar("_T")

# The terminal statuses as SQL literals: a partial index is used only when the query's condition
# is spelled as the index's (a parameter would not do). Queries name it (INDEXED BY): without
# statistics the planner would prefer orders_status_seq and sort.
_TERMINAL_SQL = ", ".join(f"'{status}'" for status in TERMINAL_STATUSES)
_NOT_TERMINAL = tuple(status.value for status in OrderStatus if not status.is_terminal)

MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (
        1,
        (
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
        ),
    ),
    (
        2,
        (
            """CREATE TABLE strategies (
                strategy_id TEXT PRIMARY KEY,
                seq INTEGER NOT NULL UNIQUE,
                strategy TEXT NOT NULL,
                symbol TEXT NOT NULL,
                status TEXT NOT NULL,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                data TEXT NOT NULL
            )""",
            "CREATE INDEX strategies_status_created ON strategies (status, created_at, seq)",
            "ALTER TABLE fills ADD COLUMN strategy_id TEXT",
            "UPDATE fills SET strategy_id = json_extract(data, '$.strategy_id')",
            "CREATE INDEX fills_strategy_seq ON fills (strategy_id, seq)",
        ),
    ),
    (
        3,
        (
            f"CREATE INDEX orders_aged ON orders (updated_at, order_id) WHERE status IN ({_TERMINAL_SQL})",
            "CREATE TABLE folded_fills (strategy_id TEXT PRIMARY KEY, data TEXT NOT NULL)",
        ),
    ),
)
"""``(version, statements)`` in version order: the SQL that takes the schema to each version."""

SCHEMA_VERSION = MIGRATIONS[-1][0]
SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")
MAX_BATCH = 512
WAL_SIZE_LIMIT = 64 * 1024 * 1024

_UPSERT_ORDER = """
INSERT INTO orders (order_id, client_order_id, symbol, side, type, status, strategy_id,
                    created_at, updated_at, data, seq)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, (SELECT coalesce(max(seq), 0) + 1 FROM orders))
ON CONFLICT (order_id) DO UPDATE SET
    client_order_id = excluded.client_order_id, symbol = excluded.symbol, side = excluded.side,
    type = excluded.type, status = excluded.status, strategy_id = excluded.strategy_id,
    created_at = excluded.created_at, updated_at = excluded.updated_at, data = excluded.data
"""
_INSERT_FILL = """
INSERT INTO fills (fill_id, order_id, strategy_id, data, seq)
VALUES (?, ?, ?, ?, (SELECT coalesce(max(seq), 0) + 1 FROM fills))
"""
# created_at is not updated: a record keeps the created_at of its first write (keep_first_created
# has put it back into data already).
_UPSERT_STRATEGY = """
INSERT INTO strategies (strategy_id, strategy, symbol, status, created_at, updated_at, data, seq)
VALUES (?, ?, ?, ?, ?, ?, ?, (SELECT coalesce(max(seq), 0) + 1 FROM strategies))
ON CONFLICT (strategy_id) DO UPDATE SET
    strategy = excluded.strategy, symbol = excluded.symbol, status = excluded.status,
    updated_at = excluded.updated_at, data = excluded.data
"""
_STRATEGY_COLUMNS = "strategy_id, strategy, symbol, status, created_at, updated_at, data"
_MAX_PARAMETERS = 500  # per statement; SQLite before 3.32 allows 999
_UPSERT_POSITION = (
    "INSERT INTO positions (symbol, data) VALUES (?, ?) "
    "ON CONFLICT (symbol) DO UPDATE SET data = excluded.data"
)
_UPSERT_CASH = (
    "INSERT INTO cash (currency, balance, reserved) VALUES (?, ?, ?) "
    "ON CONFLICT (currency) DO UPDATE SET balance = excluded.balance, reserved = excluded.reserved"
)
_UPSERT_BREAKER = (
    "INSERT INTO breaker (id, data) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET data = excluded.data"
)
_UPSERT_FOLDED = (
    "INSERT INTO folded_fills (strategy_id, data) VALUES (?, ?) "
    "ON CONFLICT (strategy_id) DO UPDATE SET data = excluded.data"
)
_INCREMENTAL = 2  # PRAGMA auto_vacuum: freed pages go to a free list, returned by incremental_vacuum
_UPSERT_ACCOUNT = (
    "INSERT INTO account (id, data) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET data = excluded.data"
)


def _default_connect(path: str) -> sqlite3.Connection:
    return sqlite3.connect(path)


class SqliteTradingStore(GroupCommitStore):
    """The durable ``TradingStore``; see the module docstring for threads, batching and failures.

    ``connect`` opens a connection to a path (default ``sqlite3.connect``); tests pass their own
    to observe or break the connections. It is called once in the writer thread (first) and once
    in the reader thread.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str = "FULL",
        busy_timeout_ms: int = 5000,
        connect: Callable[[str], sqlite3.Connection] | None = None,
        max_batch: int = MAX_BATCH,
        read_only: bool = False,
    ) -> None:
        if str(path) in ("", ":memory:") or str(path).startswith("file:"):
            raise ValueError(f"path {str(path)!r} is not allowed; give the path of a database file")
        mode = synchronous.upper() if isinstance(synchronous, str) else synchronous
        if mode not in SYNCHRONOUS_MODES:
            raise ValueError(f"synchronous {synchronous!r} is not allowed; allowed: {', '.join(SYNCHRONOUS_MODES)}")
        if isinstance(busy_timeout_ms, bool) or not isinstance(busy_timeout_ms, int) or busy_timeout_ms < 0:
            raise ValueError(f"busy_timeout_ms {busy_timeout_ms!r} is not allowed; it must be an int >= 0")
        super().__init__(max_batch)
        self._path = Path(path)
        self._synchronous = mode
        self._busy_timeout_ms = busy_timeout_ms
        self._connect = connect or _default_connect
        self._writer: ThreadPoolExecutor | None = None
        self._reader: ThreadPoolExecutor | None = None
        self._write_conn: sqlite3.Connection | None = None
        self._read_conn: sqlite3.Connection | None = None
        self._sweeper: ThreadPoolExecutor | None = None  # the retention sweep's reads, opened on first use
        self._sweep_conn: sqlite3.Connection | None = None
        self._readable = False
        self._read_only = read_only

    @property
    def path(self) -> Path:
        return self._path

    def read_only_opener(self) -> Callable[[], SqliteTradingStore]:
        """What opens this file again read-only (in another process: it pickles)."""
        return functools.partial(
            SqliteTradingStore, self._path, busy_timeout_ms=self._busy_timeout_ms, read_only=True
        )

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        if self._writer is not None or self._sweeper is not None:
            raise RuntimeError(f"the store for {self._path} is started already")
        if self._read_only:
            await self._start_reading()
            return
        loop = asyncio.get_running_loop()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-reader")
        self._sweeper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-sweeper")
        try:
            await loop.run_in_executor(self._writer, self._open_writer)
            await loop.run_in_executor(self._reader, self._open_reader)
        except (OSError, sqlite3.Error) as exc:  # no directory, not a database, no permission, ...
            await self._close()
            raise StoreUnavailable(f"the database {self._path} cannot be opened ({describe(exc)})") from exc
        except BaseException:
            await self._close()
            raise
        self._start_writer("sqlite-group-commit")
        self._readable = True
        log.info(
            "store_started", path=str(self._path), schema_version=SCHEMA_VERSION, synchronous=self._synchronous
        )

    async def _start_reading(self) -> None:
        """Read-only: the sweep's connection on the file as the service left it."""
        self._sweeper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-sweeper")
        try:
            await asyncio.get_running_loop().run_in_executor(self._sweeper, self._open_sweep_reader)
        except (OSError, sqlite3.Error) as exc:
            await self._close()
            raise StoreUnavailable(f"the database {self._path} cannot be opened ({describe(exc)})") from exc
        except BaseException:
            await self._close()
            raise
        self._readable = True

    async def stop(self) -> None:
        """Finish the commits already queued, then close the connections and the threads."""
        if self._read_only:
            await self._close()
            return
        if self._writer is None:
            return
        try:
            await self._stop_writer()
        finally:
            await self._close()

    async def _close(self) -> None:
        self._accepting = self._readable = False
        loop = asyncio.get_running_loop()
        writer, reader, sweeper = self._writer, self._reader, self._sweeper
        self._writer = self._reader = self._sweeper = None
        try:
            if sweeper is not None:
                await loop.run_in_executor(sweeper, self._close_sweeper)
                sweeper.shutdown(wait=True)
            if reader is not None:
                await loop.run_in_executor(reader, self._close_reader)
        finally:
            try:
                if writer is not None:
                    await loop.run_in_executor(writer, self._close_writer)
            finally:
                # Their one job is done, so the threads exit at once: joining them is immediate.
                for executor in (reader, writer):
                    if executor is not None:
                        executor.shutdown(wait=True)

    async def is_ready(self) -> bool:
        if not self._readable or self._failure is not None:
            return False
        try:
            return await self._read(_select_one)
        except StoreUnavailable:
            return False

    # -- writing -----------------------------------------------------------------------------

    async def _write(self, batch: list[Rows]) -> None:
        await asyncio.get_running_loop().run_in_executor(self._writer, self._write_rows, batch)

    # -- reading -----------------------------------------------------------------------------

    async def _read(self, query: Callable[..., _T], *args: Any) -> _T:
        return await self._in_thread(self._reader, "be read", query, self._read_conn, *args)

    async def _in_thread(
        self, executor: ThreadPoolExecutor | None, action: str, call: Callable[..., _T], *args: Any
    ) -> _T:
        """``call(*args)`` in ``executor``'s thread; a SQLite error as ``StoreUnavailable`` saying
        the database could not ``action``."""
        if not self._readable or executor is None:
            raise StoreUnavailable(NOT_RUNNING)
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, call, *args)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"the database could not {action} ({describe(exc)})") from exc

    async def get_order(self, order_id: str) -> Order | None:
        return await self._read(_one_order, "SELECT data FROM orders WHERE order_id = ?", order_id)

    async def get_order_by_client_id(self, client_order_id: str) -> Order | None:
        return await self._read(_one_order, "SELECT data FROM orders WHERE client_order_id = ?", client_order_id)

    async def fills_for_order(self, order_id: str) -> Sequence[Fill]:
        return await self._read(_fills_for_order, order_id)

    async def list_orders(self, query: OrderQuery) -> OrderPage:
        return await self._read(_list_orders, check_query(query))

    async def get_strategy(self, strategy_id: str) -> StrategyRecord | None:
        return await self._read(_one_strategy, strategy_id)

    async def list_strategies(self, status: StrategyStatus | None = None) -> Sequence[StrategyRecord]:
        return await self._read(_list_strategies, check_strategy_status(status))

    async def fills_for_strategy(self, strategy_id: str) -> Sequence[Fill]:
        return await self._read(_fills_for_strategy, strategy_id)

    async def load_state(self) -> StoredState | None:
        return await self._read(_load_state)

    # -- retention: finished orders leave -----------------------------------------------------

    async def aged_orders(self, cutoff: datetime, limit: int) -> Sequence[AgedOrder]:
        return await self._sweep_read(_aged_orders, check_aged_query(cutoff, limit), limit)

    async def delete_orders(self, order_ids: Sequence[str], folded: Sequence[FoldedFills] = ()) -> int:
        ids, rows = check_deletion(order_ids, folded)
        return await self._in_thread(self._writer, "delete aged orders", self._delete_rows, ids, rows)

    async def fills_for_strategies_through(
        self, fill_ids: Mapping[str, Sequence[str]]
    ) -> Mapping[str, Sequence[Fill]]:
        return await self._sweep_read(_fills_for_strategies_through, check_fill_ids(fill_ids))

    async def folded_fills(self, strategy_ids: Sequence[str]) -> Mapping[str, FoldedFills]:
        return await self._sweep_read(_folded_fills, list(strategy_ids))

    async def reclaim_space(self) -> None:
        """Nothing more to do: ``delete_orders`` hands the freed pages back (incremental vacuum)
        in its own transaction."""

    async def latest_update(self) -> datetime | None:
        return await self._read(_latest_update)

    async def stats(self) -> StoreStats:
        counts = await self._sweep_read(_counts)
        size = sum(
            found.stat().st_size for found in (self._path, self._path.with_name(self._path.name + "-wal"))
            if found.exists()
        )
        return StoreStats(*counts[:3], size_bytes=size, oldest_terminal_update=counts[3])

    async def _sweep_read(self, query: Callable[..., _T], *args: Any) -> _T:
        """``query`` on the sweep's own read connection (in a thread of its own), so that API
        reads never queue behind the retention sweep."""
        return await self._in_thread(self._sweeper, "be read", self._in_sweeper, query, args)

    def _in_sweeper(self, query: Callable[..., _T], args: tuple[Any, ...]) -> _T:
        if self._sweep_conn is None:
            self._sweep_conn = self._open_read_only()
        return query(self._sweep_conn, *args)

    def _open_sweep_reader(self) -> None:
        if not self._path.is_file():  # never created here: the service makes and migrates it
            raise FileNotFoundError(f"no database file {self._path}")
        conn = self._sweep_conn = self._open_read_only()
        version = _schema_version(conn, self._path)
        if version != SCHEMA_VERSION:
            raise StoreUnavailable(
                f"the database {self._path} has schema version {version}, not {SCHEMA_VERSION}; the service "
                "migrates it when it starts"
            )

    def _close_sweeper(self) -> None:
        conn, self._sweep_conn = self._sweep_conn, None
        if conn is not None:
            conn.close()

    # -- in the writer thread ----------------------------------------------------------------

    def _open_writer(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        conn = self._write_conn = self._connect(str(self._path))
        conn.isolation_level = None  # transactions are explicit: BEGIN IMMEDIATE ... COMMIT
        conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
        if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0:
            conn.execute(f"PRAGMA auto_vacuum = {_INCREMENTAL}")  # only before the first table
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError(f"{self._path} could not be switched to WAL journal mode (it is {mode})")
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")  # the WAL shrinks back after checkpoints
        conn.execute("PRAGMA foreign_keys = ON")
        if _schema_version(conn, self._path) < SCHEMA_VERSION:
            self._migrate(conn)
        if conn.execute("PRAGMA auto_vacuum").fetchone()[0] != _INCREMENTAL:
            # A file made before version 3: rebuilt once so that freed pages can be returned.
            conn.execute(f"PRAGMA auto_vacuum = {_INCREMENTAL}")
            conn.execute("VACUUM")
            log.info("store_vacuumed", path=str(self._path), auto_vacuum="incremental")

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version "
                "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            current = _schema_version(conn, self._path)  # again, now that no one else can write
            for version, statements in MIGRATIONS:
                if version <= current:
                    continue
                for statement in statements:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                    (version, isoformat_exact(datetime.now(UTC))),
                )
                log.info("store_schema_migrated", path=str(self._path), schema_version=version)
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise

    def _write_rows(self, batch: list[Rows]) -> None:
        conn = self._write_conn
        assert conn is not None
        conn.execute("BEGIN IMMEDIATE")
        try:
            orders = [row for rows in batch for row in rows.orders]
            if orders:
                conn.executemany(_UPSERT_ORDER, orders)
            fills = [row for rows in batch for row in rows.fills]
            if fills:
                conn.executemany(_INSERT_FILL, fills)
            positions = [row for rows in batch for row in rows.positions]
            if positions:
                conn.executemany(_UPSERT_POSITION, positions)
            cash = [row for rows in batch for row in rows.cash]
            if cash:
                conn.executemany(_UPSERT_CASH, cash)
            breakers = [rows.breaker for rows in batch if rows.breaker is not None]
            if breakers:
                conn.execute(_UPSERT_BREAKER, (breakers[-1],))
            accounts = [rows.account for rows in batch if rows.account is not None]
            if accounts:
                conn.execute(_UPSERT_ACCOUNT, (accounts[-1],))
            strategies = [row for rows in batch for row in rows.strategies]
            if strategies:
                stored = _stored_strategies(conn, strategies)
                conn.executemany(_UPSERT_STRATEGY, keep_first_created(strategies, stored))
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise

    def _delete_rows(self, order_ids: list[str], folded: list[tuple[str, str]]) -> int:
        conn = self._write_conn
        assert conn is not None
        deleted = 0
        conn.execute("BEGIN IMMEDIATE")
        try:
            for start in range(0, len(order_ids), _MAX_PARAMETERS):
                chunk = order_ids[start : start + _MAX_PARAMETERS]
                fills, orders = deletion_statements(len(chunk))
                conn.execute(fills, chunk)
                deleted += conn.execute(orders, chunk).rowcount
            if folded:
                conn.executemany(_UPSERT_FOLDED, folded)
            # The freed pages back to the file system, in the same transaction (one fsync). Each
            # execute() steps the pragma once, which frees one page.
            (free,) = conn.execute("PRAGMA freelist_count").fetchone()
            for _ in range(free):
                conn.execute("PRAGMA incremental_vacuum")
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise
        return deleted

    def _close_writer(self) -> None:
        conn, self._write_conn = self._write_conn, None
        if conn is not None:
            conn.close()

    # -- in the reader thread ----------------------------------------------------------------

    def _open_reader(self) -> None:
        self._read_conn = self._open_read_only()

    def _open_read_only(self) -> sqlite3.Connection:
        conn = self._connect(str(self._path))
        conn.isolation_level = None  # each query its own snapshot; load_state takes one explicitly
        conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
        conn.execute("PRAGMA query_only = ON")
        return conn

    def _close_reader(self) -> None:
        conn, self._read_conn = self._read_conn, None
        if conn is not None:
            conn.close()


def deletion_statements(count: int) -> tuple[str, str]:
    """The statements deleting ``count`` aged orders by id: their fills, then the orders. The
    unary ``+`` keeps SQLite from taking ``orders_status_seq`` for ``status IN (...)``, which reads
    every finished order in the store: the ids go through the primary key, so a batch costs its
    own rows, however many orders the store holds."""
    aged = f"order_id IN ({', '.join('?' for _ in range(count))}) AND +status IN ({_TERMINAL_SQL})"
    return (f"DELETE FROM fills WHERE order_id IN (SELECT order_id FROM orders WHERE {aged})",
            f"DELETE FROM orders WHERE {aged}")


def _schema_version(conn: sqlite3.Connection, path: Path) -> int:
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if exists is None:
        return 0
    (version,) = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
    if version > SCHEMA_VERSION:
        raise IncompatibleSchema(
            f"database {path} has schema version {version}, newer than version {SCHEMA_VERSION} that "
            "this version of the service knows; run the newer service, or give another file"
        )
    return int(version)


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # SQLite has rolled back already, or the connection is broken: nothing is kept


def _stored_strategies(conn: sqlite3.Connection, rows: list[StrategyRow]) -> dict[str, StrategyRow]:
    """The stored rows of the strategy ids in ``rows``, by id."""
    ids = list(dict.fromkeys(row.strategy_id for row in rows))
    stored: dict[str, StrategyRow] = {}
    for start in range(0, len(ids), _MAX_PARAMETERS):
        chunk = ids[start : start + _MAX_PARAMETERS]
        placeholders = ", ".join("?" for _ in chunk)
        for found in conn.execute(
            f"SELECT {_STRATEGY_COLUMNS} FROM strategies WHERE strategy_id IN ({placeholders})", chunk
        ):
            row = StrategyRow(*found)
            stored[row.strategy_id] = row
    return stored


def _select_one(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1").fetchone() == (1,)


def _one_order(conn: sqlite3.Connection, sql: str, key: str) -> Order | None:
    row = conn.execute(sql, (key,)).fetchone()
    return None if row is None else Order.from_dict(json.loads(row[0]))


def _fills_for_order(conn: sqlite3.Connection, order_id: str) -> list[Fill]:
    rows = conn.execute("SELECT data FROM fills WHERE order_id = ? ORDER BY seq", (order_id,))
    return [Fill.from_dict(json.loads(data)) for (data,) in rows]


def _fills_for_strategy(conn: sqlite3.Connection, strategy_id: str) -> list[Fill]:
    rows = conn.execute("SELECT data FROM fills WHERE strategy_id = ? ORDER BY seq", (strategy_id,))
    return [Fill.from_dict(json.loads(data)) for (data,) in rows]


def _one_strategy(conn: sqlite3.Connection, strategy_id: str) -> StrategyRecord | None:
    row = conn.execute("SELECT data FROM strategies WHERE strategy_id = ?", (strategy_id,)).fetchone()
    return None if row is None else strategy_record(row[0])


def _list_strategies(conn: sqlite3.Connection, status: str | None) -> list[StrategyRecord]:
    if status is None:
        rows = conn.execute("SELECT data FROM strategies ORDER BY created_at, seq")
    else:
        rows = conn.execute("SELECT data FROM strategies WHERE status = ? ORDER BY created_at, seq", (status,))
    return [strategy_record(data) for (data,) in rows]


def _list_orders(conn: sqlite3.Connection, wanted: ListFilter) -> OrderPage:
    clauses, params = [], []
    for column, value in (
        ("status", wanted.status),
        ("symbol", wanted.symbol),
        ("strategy_id", wanted.strategy_id),
    ):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if wanted.before_seq is not None:
        clauses.append("seq < ?")
        params.append(wanted.before_seq)
    where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
    rows = conn.execute(
        f"SELECT seq, data FROM orders {where}ORDER BY seq DESC LIMIT ?", (*params, wanted.limit + 1)
    ).fetchall()
    page = rows[: wanted.limit]
    return OrderPage(
        orders=tuple(Order.from_dict(json.loads(data)) for _seq, data in page),
        next_cursor=encode_cursor(page[-1][0]) if len(rows) > wanted.limit else None,
    )


def _load_state(conn: sqlite3.Connection) -> StoredState | None:
    conn.execute("BEGIN")  # one snapshot for every table
    try:
        (anything,) = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM orders) OR EXISTS (SELECT 1 FROM fills) "
            "OR EXISTS (SELECT 1 FROM positions) OR EXISTS (SELECT 1 FROM cash) "
            "OR EXISTS (SELECT 1 FROM breaker) OR EXISTS (SELECT 1 FROM account)"
        ).fetchone()
        if not anything:
            return None
        account = conn.execute("SELECT data FROM account WHERE id = 1").fetchone()
        positions = [data for (data,) in conn.execute("SELECT data FROM positions ORDER BY symbol")]
        cash = conn.execute("SELECT currency, balance, reserved FROM cash ORDER BY currency").fetchall()
        breaker = conn.execute("SELECT data FROM breaker WHERE id = 1").fetchone()
        placeholders = ", ".join("?" for _ in OPEN_STATUSES)
        open_orders = conn.execute(
            f"SELECT data FROM orders WHERE status IN ({placeholders}) ORDER BY seq", OPEN_STATUSES
        ).fetchall()
    finally:
        _rollback(conn)  # a read-only transaction: ending it keeps nothing either way
    return StoredState(
        account=None if account is None else AccountSettings.from_dict(json.loads(account[0])),
        cash=tuple(
            CashBalance(currency, to_decimal(balance, field=f"cash {currency} balance"),
                        to_decimal(reserved, field=f"cash {currency} reserved"))
            for currency, balance, reserved in cash
        ),
        positions=tuple(PositionSnapshot.from_dict(json.loads(data)) for data in positions),
        open_orders=tuple(Order.from_dict(json.loads(data)) for (data,) in open_orders),
        breaker=None if breaker is None else BreakerState.from_dict(json.loads(breaker[0])),
    )


def _aged_orders(conn: sqlite3.Connection, before: str, limit: int) -> list[AgedOrder]:
    orders = conn.execute(
        f"SELECT order_id, data FROM orders INDEXED BY orders_aged WHERE status IN ({_TERMINAL_SQL}) AND updated_at < ? "
        "ORDER BY updated_at, order_id LIMIT ?",
        (before, limit),
    ).fetchall()
    # Every row is fetched before any is parsed, here and in the sweep's other reads: a statement
    # still stepping holds its snapshot, and no checkpoint can reset the WAL past it. The sweep's
    # worker runs at a lower priority, so parsing with a statement open kept the snapshot for as
    # long as the worker waited for a core, and the WAL grew (the file then keeps its size).
    ids = [order_id for order_id, _data in orders]
    rows: list[tuple[str, str]] = []
    for start in range(0, len(ids), _MAX_PARAMETERS):
        chunk = ids[start : start + _MAX_PARAMETERS]
        rows += conn.execute(
            f"SELECT order_id, data FROM fills WHERE order_id IN ({', '.join('?' for _ in chunk)}) ORDER BY seq",
            chunk,
        ).fetchall()
    return aged_from_rows(orders, rows)


def _fills_for_strategies_through(conn: sqlite3.Connection, fill_ids: dict[str, list[str]]) -> dict[str, list[Fill]]:
    rows: dict[str, list[tuple[str]]] = {}
    for strategy_id, named in fill_ids.items():
        last = 0  # the newest of its fill ids by seq (fill_id is the key), then the instance's fills up to it
        for start in range(0, len(named), _MAX_PARAMETERS):
            chunk = named[start : start + _MAX_PARAMETERS]
            (found,) = conn.execute(
                "SELECT coalesce(max(seq), 0) FROM fills WHERE strategy_id = ? "
                f"AND fill_id IN ({', '.join('?' for _ in chunk)})",
                (strategy_id, *chunk),
            ).fetchone()
            last = max(last, found)
        rows[strategy_id] = conn.execute(
            "SELECT data FROM fills INDEXED BY fills_strategy_seq WHERE strategy_id = ? AND seq <= ? ORDER BY seq",
            (strategy_id, last),
        ).fetchall()
    return {strategy_id: [Fill.from_dict(json.loads(data)) for (data,) in found] for strategy_id, found in rows.items()}


def _folded_fills(conn: sqlite3.Connection, strategy_ids: list[str]) -> dict[str, FoldedFills]:
    found: dict[str, FoldedFills] = {}
    for start in range(0, len(strategy_ids), _MAX_PARAMETERS):
        chunk = strategy_ids[start : start + _MAX_PARAMETERS]
        for strategy_id, data in conn.execute(
            f"SELECT strategy_id, data FROM folded_fills WHERE strategy_id IN ({', '.join('?' for _ in chunk)})",
            chunk,
        ).fetchall():
            found[strategy_id] = FoldedFills.from_dict(json.loads(data))
    return found


def _latest_update(conn: sqlite3.Connection) -> datetime | None:
    """Each maximum from an index: finished orders' from ``orders_aged``, the others' from the
    few rows of their statuses; strategy records are few."""
    others = ", ".join("?" for _ in _NOT_TERMINAL)
    conn.execute("BEGIN")
    try:
        updated = conn.execute(
            f"SELECT (SELECT max(updated_at) FROM orders INDEXED BY orders_aged WHERE status IN ({_TERMINAL_SQL})), "
            f"(SELECT max(updated_at) FROM orders WHERE status IN ({others})), "
            "(SELECT max(updated_at) FROM strategies)",
            _NOT_TERMINAL,
        ).fetchone()
        breaker = conn.execute("SELECT data FROM breaker WHERE id = 1").fetchone()
    finally:
        _rollback(conn)
    return latest_of(updated, None if breaker is None else BreakerState.from_dict(json.loads(breaker[0])))


def _counts(conn: sqlite3.Connection) -> tuple[int, int, int, datetime | None]:
    """Orders, fills, open orders, and the last update of the oldest finished order."""
    placeholders = ", ".join("?" for _ in OPEN_STATUSES)
    conn.execute("BEGIN")
    try:
        (orders,) = conn.execute("SELECT count(*) FROM orders").fetchone()
        (fills,) = conn.execute("SELECT count(*) FROM fills").fetchone()
        (open_orders,) = conn.execute(
            f"SELECT count(*) FROM orders WHERE status IN ({placeholders})", OPEN_STATUSES
        ).fetchone()
        (oldest,) = conn.execute(
            f"SELECT min(updated_at) FROM orders INDEXED BY orders_aged WHERE status IN ({_TERMINAL_SQL})"
        ).fetchone()
    finally:
        _rollback(conn)
    return orders, fills, open_orders, None if oldest is None else parse_timestamp(oldest, field="updated_at")
