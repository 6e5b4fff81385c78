"""``PostgresTradingStore``: the trading store in one PostgreSQL schema, shared by a fleet.

Driver
    asyncpg: native asyncio (no thread per connection), the binary protocol, prepared statements
    cached per connection and arrays as parameters, so a whole batch of change sets is written in
    one round trip, which is what group commit needs for thousands of acknowledged orders a second.

Connections
    One writer connection, held for the process's life, owns the schema: on ``start()`` it takes a
    session-level advisory lock on the schema's name (``pg_try_advisory_lock``); a second process
    on the same schema is refused with ``StoreUnavailable`` ("... is in use by another engine
    process"), so there are never two writers on one account. Reads go through a small pool of
    read connections. Every connection sets ``search_path`` to the schema and
    ``synchronous_commit = on``: ``commit`` returns once the server has flushed the transaction to
    its WAL, so an acknowledged change survives the engine and the server being killed.

Group commit and failures
    As in SQLite: ``commit`` turns the change set into rows on the caller's side, queues them, and
    one writer task writes everything queued (at most ``max_batch`` change sets) in ONE transaction,
    then resolves the futures. The transaction is one statement and one round trip: a CTE per
    table inserting its rows from arrays (``unnest``), later upserts of a key winning; only a batch
    with strategy records adds a read and a second statement. When a transaction fails (a
    constraint, the server going away, ...) every commit of the batch and every commit queued raises
    ``StoreUnavailable`` and the store refuses changes until the caller has reloaded the durable
    state and called ``reset()``. A commit whose connection broke while its COMMIT was on the way
    is answered the same way; the account reloads what the server holds.

Losing the server
    When the writer connection is lost, ``is_ready()`` is False and a supervisor task reconnects
    with exponential backoff (``reconnect_initial_seconds`` doubling up to
    ``reconnect_max_seconds``), taking the advisory lock again; until then commits raise
    ``StoreUnavailable`` and reads fail with it. ``store_disconnected`` and ``store_reconnected``
    are logged once each time. The URL is never logged or put in an error with its password:
    ``redact_url`` shows ``postgresql://engine:***@db:5432/trading``.

Schema
    Each engine instance has its own PostgreSQL schema (``schema``), created on first start;
    ``schema_version`` inside it records the migrations applied. ``MIGRATIONS`` mirror SQLite's
    versions; an older schema is migrated forward under the advisory lock, a newer one is refused
    with ``IncompatibleSchema``. Values are stored as their ``to_dict()`` JSON (``json`` columns
    keep the text exactly, key order included), the filtered columns beside them, timestamps as
    exact UTC text, cash as exact decimal text; ``seq`` (an identity) numbers orders, fills and
    strategies in insertion order. Version 3 adds the retention's partial index on finished orders
    (``orders_aged``) and ``folded_fills``.

Retention
    ``aged_orders``, ``stats`` and ``delete_orders`` use pooled connections, beside the writer (the
    rows deleted are finished orders, which no commit touches again); a batch is one transaction
    of a bounded number of rows; after a sweep that deleted rows, ``reclaim_space`` vacuums the
    tables so the space is reused at once. ``stats`` sizes the
    schema's tables with ``pg_total_relation_size`` (indexes and TOAST included).

Read-only
    ``PostgresTradingStore(url, schema, read_only=True)`` (what ``read_only_opener()`` makes, for
    the sweep's worker process) opens only a read pool on a schema the service has created and
    migrated, its sessions ``default_transaction_read_only``: no writer, no advisory lock (the
    service holds it), no migration; ``commit`` refuses and the server refuses any write.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg
import structlog

from trading_engine.domain.decimals import to_decimal
from trading_engine.domain.errors import StoreUnavailable
from trading_engine.domain.orders import Fill, Order, OrderStatus
from trading_engine.domain.portfolio import AccountSettings, CashBalance, PositionSnapshot
from trading_engine.domain.ports.repository import AgedOrder, OrderPage, OrderQuery, StoredState, StoreStats
from trading_engine.domain.risk import BreakerState
from trading_engine.domain.strategy_record import FoldedFills, StrategyRecord, StrategyStatus
from trading_engine.domain.timefmt import isoformat_exact, parse_timestamp
from trading_engine.infrastructure.persistence.database_url import hide_password, redact_url
from trading_engine.infrastructure.persistence.group_commit import GroupCommitStore
from trading_engine.infrastructure.persistence.records import (
    NOT_RUNNING,
    OPEN_STATUSES,
    TERMINAL_STATUSES,
    IncompatibleSchema,
    ListFilter,
    Rows,
    StrategyRow,
    aged_from_grouped_rows,
    check_aged_query,
    check_deletion,
    check_fill_ids,
    check_query,
    check_strategy_status,
    encode_cursor,
    keep_first_created,
    latest_of,
    strategy_record,
)

log = structlog.get_logger(__name__)

_T = TypeVar("_T")

# The terminal statuses as SQL literals: a partial index is used only when the query's condition
# is spelled as the index's (a parameter would not do).
_TERMINAL_SQL = ", ".join(f"'{status}'" for status in TERMINAL_STATUSES)

MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (
        1,
        (
            """CREATE TABLE orders (
                order_id TEXT PRIMARY KEY,
                seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
                client_order_id TEXT UNIQUE,
                symbol TEXT NOT NULL,
                side TEXT NOT NULL,
                type TEXT NOT NULL,
                status TEXT NOT NULL,
                strategy_id TEXT,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                data JSON NOT NULL
            )""",
            "CREATE INDEX orders_status_seq ON orders (status, seq)",
            "CREATE INDEX orders_symbol_seq ON orders (symbol, seq)",
            "CREATE INDEX orders_strategy_seq ON orders (strategy_id, seq)",
            """CREATE TABLE fills (
                fill_id TEXT PRIMARY KEY,
                order_id TEXT NOT NULL REFERENCES orders (order_id),
                seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
                data JSON NOT NULL
            )""",
            "CREATE INDEX fills_order_seq ON fills (order_id, seq)",
            "CREATE TABLE positions (symbol TEXT PRIMARY KEY, data JSON NOT NULL)",
            "CREATE TABLE cash (currency TEXT PRIMARY KEY, balance TEXT NOT NULL, reserved TEXT NOT NULL)",
            "CREATE TABLE breaker (id INTEGER PRIMARY KEY CHECK (id = 1), data JSON NOT NULL)",
            "CREATE TABLE account (id INTEGER PRIMARY KEY CHECK (id = 1), data JSON NOT NULL)",
        ),
    ),
    (
        2,
        (
            """CREATE TABLE strategies (
                strategy_id TEXT PRIMARY KEY,
                seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
                strategy TEXT NOT NULL,
                symbol TEXT NOT NULL,
                status TEXT NOT NULL,
                created_at TEXT COLLATE "C" NOT NULL,
                updated_at TEXT COLLATE "C" NOT NULL,
                data JSON NOT NULL
            )""",
            "CREATE INDEX strategies_status_created ON strategies (status, created_at, seq)",
            "ALTER TABLE fills ADD COLUMN strategy_id TEXT",
            "UPDATE fills SET strategy_id = data ->> 'strategy_id'",
            "CREATE INDEX fills_strategy_seq ON fills (strategy_id, seq)",
        ),
    ),
    (
        3,
        (
            'CREATE INDEX orders_aged ON orders (updated_at COLLATE "C", order_id COLLATE "C") '
            f"WHERE status IN ({_TERMINAL_SQL})",
            "CREATE TABLE folded_fills (strategy_id TEXT PRIMARY KEY, data JSON NOT NULL)",
        ),
    ),
    (
        # RESTRICT instead of the default NO ACTION: the same refusal (the constraint is not
        # deferred), without NO ACTION's look for another order with the deleted order's id,
        # which for each order the sweep deleted cost more than the rest of its deletion.
        4,
        (
            "ALTER TABLE fills DROP CONSTRAINT fills_order_id_fkey",
            "ALTER TABLE fills ADD CONSTRAINT fills_order_id_fkey FOREIGN KEY (order_id) "
            "REFERENCES orders (order_id) ON DELETE RESTRICT",
        ),
    ),
)
"""``(version, statements)`` in version order: the SQL that takes a schema to each version."""

SCHEMA_VERSION = MIGRATIONS[-1][0]
MAX_BATCH = 512
SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

# One CTE per table, each inserting the rows of its arrays in the order given (``ord``): the batch
# is one statement. Upserted keys appear once per statement (``_latest``): PostgreSQL refuses to
# update a row twice in one statement.
_ORDER_CTE = """orders_written AS (
    INSERT INTO orders (order_id, client_order_id, symbol, side, type, status, strategy_id,
                        created_at, updated_at, data)
    SELECT order_id, client_order_id, symbol, side, type, status, strategy_id, created_at, updated_at, data::json
    FROM unnest({0}) WITH ORDINALITY
        AS u (order_id, client_order_id, symbol, side, type, status, strategy_id, created_at, updated_at, data, ord)
    ORDER BY ord
    ON CONFLICT (order_id) DO UPDATE SET
        client_order_id = excluded.client_order_id, symbol = excluded.symbol, side = excluded.side,
        type = excluded.type, status = excluded.status, strategy_id = excluded.strategy_id,
        created_at = excluded.created_at, updated_at = excluded.updated_at, data = excluded.data
)"""
_FILL_CTE = """fills_written AS (
    INSERT INTO fills (fill_id, order_id, strategy_id, data)
    SELECT fill_id, order_id, strategy_id, data::json
    FROM unnest({0}) WITH ORDINALITY AS u (fill_id, order_id, strategy_id, data, ord) ORDER BY ord
)"""
_POSITION_CTE = """positions_written AS (
    INSERT INTO positions (symbol, data) SELECT symbol, data::json FROM unnest({0}) AS u (symbol, data)
    ON CONFLICT (symbol) DO UPDATE SET data = excluded.data
)"""
_CASH_CTE = """cash_written AS (
    INSERT INTO cash (currency, balance, reserved) SELECT * FROM unnest({0}) AS u (currency, balance, reserved)
    ON CONFLICT (currency) DO UPDATE SET balance = excluded.balance, reserved = excluded.reserved
)"""
_BREAKER_CTE = """breaker_written AS (
    INSERT INTO breaker (id, data) VALUES (1, {0}::json) ON CONFLICT (id) DO UPDATE SET data = excluded.data
)"""
_ACCOUNT_CTE = """account_written AS (
    INSERT INTO account (id, data) VALUES (1, {0}::json) ON CONFLICT (id) DO UPDATE SET data = excluded.data
)"""
# created_at is not updated: a record keeps the created_at of its first write.
_UPSERT_STRATEGY = """
INSERT INTO strategies (strategy_id, strategy, symbol, status, created_at, updated_at, data)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (strategy_id) DO UPDATE SET
    strategy = excluded.strategy, symbol = excluded.symbol, status = excluded.status,
    updated_at = excluded.updated_at, data = excluded.data
"""
_STRATEGY_COLUMNS = "strategy_id, strategy, symbol, status, created_at, updated_at, data"

# Errors that mean the connection (or the server) is gone, not that the change was wrong.
_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.InternalClientError,  # e.g. "cannot switch to state ...": a connection broken mid-query
)


class PostgresTradingStore(GroupCommitStore):
    """The ``TradingStore`` in PostgreSQL schema ``schema``; see the module docstring."""

    def __init__(
        self,
        url: str,
        schema: str,
        *,
        max_batch: int = MAX_BATCH,
        read_connections: int = 4,
        connect_timeout_seconds: float = 5.0,
        reconnect_initial_seconds: float = 0.05,
        reconnect_max_seconds: float = 2.0,
        lock_wait_seconds: float = 2.0,
        read_only: bool = False,
    ) -> None:
        if not isinstance(schema, str) or not SCHEMA_NAME.match(schema):
            raise ValueError(
                f"schema {schema!r} is not allowed; it must be 1-63 lowercase letters, digits and "
                "underscores, not starting with a digit"
            )
        super().__init__(max_batch)
        self._url = url
        self._shown = redact_url(url)
        self._schema = schema
        self._read_connections = read_connections
        self._connect_timeout = connect_timeout_seconds
        self._backoff = (reconnect_initial_seconds, reconnect_max_seconds)
        self._lock_wait = lock_wait_seconds
        self._conn: asyncpg.Connection | None = None
        self._pool: asyncpg.Pool | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()
        self._readable = False
        self._read_only = read_only
        self._analyzed_orders: int | None = None  # orders at the last ANALYZE of reclaim_space

    @property
    def schema(self) -> str:
        return self._schema

    @property
    def url(self) -> str:
        """The URL with its password redacted."""
        return self._shown

    def read_only_opener(self) -> Callable[[], PostgresTradingStore]:
        """What opens this schema again read-only (in another process: it pickles; its repr
        hides the password)."""
        return PostgresReader(self._url, self._schema, self._connect_timeout)

    @property
    def connected(self) -> bool:
        """Whether the writer connection (and with it the schema's lock) is held."""
        return self._conn is not None and not self._conn.is_closed()

    # -- lifecycle ---------------------------------------------------------------------------

    def _settings(self) -> dict[str, str]:
        if self._read_only:
            return {
                "search_path": self._schema,
                "default_transaction_read_only": "on",
                "plan_cache_mode": _PLAN_CACHE_MODE,
                "application_name": f"trading-engine:{self._schema}:reader",
            }
        return {
            "search_path": self._schema,
            "synchronous_commit": "on",
            "plan_cache_mode": _PLAN_CACHE_MODE,
            "application_name": f"trading-engine:{self._schema}",
        }

    async def _connect(self) -> asyncpg.Connection:
        try:
            return await asyncpg.connect(
                self._url, timeout=self._connect_timeout, server_settings=self._settings()
            )
        except (*_CONNECTION_ERRORS, asyncpg.PostgresError) as exc:
            raise StoreUnavailable(f"the database {self._shown} cannot be reached ({self._describe(exc)})") from exc

    async def _open_writer(self, *, migrate: bool) -> None:
        conn = await self._connect()
        try:
            if not await self._lock(conn):
                raise StoreUnavailable(
                    f"schema {self._schema} on {self._shown} is in use by another engine process; "
                    "one process writes one schema: stop the other or give this one another "
                    "service.instance_name (or persistence.schema)"
                )
            if migrate:
                await self._migrate(conn)
            else:
                await self._check_version(conn)
        except BaseException:
            await _close(conn)
            raise
        conn.add_termination_listener(self._connection_lost)
        self._conn = conn

    def _connection_lost(self, conn: asyncpg.Connection) -> None:
        """The writer connection ``conn`` is gone: have the supervisor reconnect (a connection
        already replaced, or none while reconnecting, changes nothing)."""
        if conn is self._conn:
            self._lost.set()

    async def _lock(self, conn: asyncpg.Connection) -> bool:
        """Take the schema's advisory lock, waiting up to ``lock_wait_seconds``: the session of a
        process that was just killed may take a moment to end on the server."""
        key = f"trading-engine:{self._schema}"
        for attempt in range(max(1, int(self._lock_wait / 0.1) + 1)):
            if await conn.fetchval("SELECT pg_try_advisory_lock(hashtextextended($1, 0))", key):
                return True
            if attempt * 0.1 < self._lock_wait:
                await asyncio.sleep(0.1)
        return False

    async def start(self) -> None:
        if self._writer_task is not None or self._pool is not None:
            raise RuntimeError(f"the store for schema {self._schema} is started already")
        if self._read_only:
            await self._start_reading()
            return
        await self._open_writer(migrate=True)
        try:
            self._pool = await self._create_pool()
        except StoreUnavailable:
            await _close(self._conn)
            self._conn = None
            raise
        self._lost.clear()
        self._start_writer("postgres-group-commit")
        self._supervisor = asyncio.create_task(self._supervise(), name="postgres-reconnect")
        self._readable = True
        log.info("store_started", database=self._shown, schema=self._schema, schema_version=SCHEMA_VERSION)

    async def _create_pool(self) -> asyncpg.Pool:
        try:
            return await asyncpg.create_pool(
                self._url, min_size=1, max_size=self._read_connections,
                timeout=self._connect_timeout, server_settings=self._settings(),
            )
        except (*_CONNECTION_ERRORS, asyncpg.PostgresError) as exc:
            raise StoreUnavailable(f"the database {self._shown} cannot be reached ({self._describe(exc)})") from exc

    async def _start_reading(self) -> None:
        """Read-only: the pool on the schema as the service left it (at this code's version)."""
        pool = await self._create_pool()
        try:
            async with pool.acquire(timeout=self._connect_timeout) as conn:
                await self._check_version(conn)
        except (*_CONNECTION_ERRORS, asyncpg.PostgresError) as exc:
            await _close_pool(pool)
            raise StoreUnavailable(f"the database {self._shown} cannot be read ({self._describe(exc)})") from exc
        except BaseException:
            await _close_pool(pool)
            raise
        self._pool = pool
        self._readable = True

    async def stop(self) -> None:
        """Finish the commits already queued, then close the connections."""
        if self._read_only:
            self._readable = False
            pool, self._pool = self._pool, None
            if pool is not None:
                await _close_pool(pool)
            return
        if self._writer_task is None:
            return
        supervisor, self._supervisor = self._supervisor, None
        try:
            await self._stop_writer()
        finally:
            self._readable = False
            if supervisor is not None:
                supervisor.cancel()
                await asyncio.gather(supervisor, return_exceptions=True)
            pool, self._pool = self._pool, None
            if pool is not None:
                await _close_pool(pool)
            conn, self._conn = self._conn, None
            await _close(conn)

    async def is_ready(self) -> bool:
        if not self._readable or self._failure is not None or not self.connected:
            return False
        try:
            return await self._read(lambda conn: conn.fetchval("SELECT 1")) == 1
        except StoreUnavailable:
            return False

    async def _supervise(self) -> None:
        """Reconnect the writer whenever its connection is lost, with exponential backoff."""
        while True:
            await self._lost.wait()
            self._lost.clear()
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.terminate()
            log.error("store_disconnected", database=self._shown, schema=self._schema)
            delay, ceiling = self._backoff
            while True:
                try:
                    await self._open_writer(migrate=False)
                    break
                except Exception as exc:  # the server is down, starting up, or went away again
                    error = exc.message if isinstance(exc, StoreUnavailable) else self._describe(exc)
                    log.warning("store_reconnect_failed", error=error, retry_in_seconds=delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, ceiling)
            if self._pool is not None:
                await self._pool.expire_connections()  # the read connections died with the server too
            log.info("store_reconnected", database=self._shown, schema=self._schema)

    # -- schema --------------------------------------------------------------------------------

    async def _version(self, conn: asyncpg.Connection) -> int:
        exists = await conn.fetchval("SELECT to_regclass('schema_version') IS NOT NULL")
        version = 0 if not exists else await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_version")
        if version > SCHEMA_VERSION:
            raise IncompatibleSchema(
                f"schema {self._schema} on {self._shown} has schema version {version}, newer than version "
                f"{SCHEMA_VERSION} that this version of the service knows; run the newer service, or give "
                "another schema"
            )
        return int(version)

    async def _check_version(self, conn: asyncpg.Connection) -> None:
        version = await self._version(conn)
        if version != SCHEMA_VERSION:
            raise StoreUnavailable(f"schema {self._schema} is at version {version}, not {SCHEMA_VERSION}")

    async def _migrate(self, conn: asyncpg.Connection, *, up_to: int = SCHEMA_VERSION) -> None:
        async with conn.transaction():
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self._schema}"')
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version "
                "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            current = await self._version(conn)
            for version, statements in MIGRATIONS:
                if version <= current or version > up_to:
                    continue
                for statement in statements:
                    await conn.execute(statement)
                await conn.execute(
                    "INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)",
                    version, isoformat_exact(datetime.now(UTC)),
                )
                log.info("store_schema_migrated", database=self._shown, schema=self._schema, schema_version=version)

    # -- writing -----------------------------------------------------------------------------

    async def _write(self, batch: list[Rows]) -> None:
        conn = self._conn
        if conn is None or conn.is_closed():
            raise ConnectionError(f"not connected to {self._shown}; reconnecting")
        try:
            await self._write_batch(conn, batch)
        except _CONNECTION_ERRORS:
            self._connection_lost(conn)
            raise

    async def _write_batch(self, conn: asyncpg.Connection, batch: list[Rows]) -> None:
        """The batch in one round trip where it can: one statement whose data-modifying CTEs
        upsert every table from arrays (``unnest``), atomic on its own. Strategy records need the
        stored ones first, so a batch holding some is one explicit transaction."""
        statement, params = _batch_statement(batch)
        strategies = [row for rows in batch for row in rows.strategies]
        if not strategies:
            if statement:
                await conn.execute(statement, *params)
            return
        async with conn.transaction():
            if statement:
                await conn.execute(statement, *params)
            ids = list(dict.fromkeys(row.strategy_id for row in strategies))
            found = await conn.fetch(
                f"SELECT {_STRATEGY_COLUMNS} FROM strategies WHERE strategy_id = ANY($1::text[])", ids
            )
            stored = {row["strategy_id"]: StrategyRow(*row.values()) for row in found}
            await conn.executemany(_UPSERT_STRATEGY, keep_first_created(strategies, stored))

    def _describe(self, exc: BaseException) -> str:
        """The error as one phrase, the URL's password never in it; a constraint says so."""
        text = str(exc) or type(exc).__name__
        if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
            text = f"constraint failed: {text}"
        return hide_password(text, self._url)

    # -- reading -----------------------------------------------------------------------------

    async def _read(self, query: Callable[[asyncpg.Connection], Awaitable[_T]], action: str = "be read") -> _T:
        """``query`` on a pooled connection; an error as ``StoreUnavailable`` saying the database
        could not ``action``."""
        if not self._readable or self._pool is None:
            raise StoreUnavailable(NOT_RUNNING)
        try:
            async with self._pool.acquire(timeout=self._connect_timeout) as conn:
                return await query(conn)
        except (*_CONNECTION_ERRORS, asyncpg.PostgresError) as exc:
            raise StoreUnavailable(f"the database could not {action} ({self._describe(exc)})") from exc

    async def get_order(self, order_id: str) -> Order | None:
        return await self._read(lambda c: _one_order(c, "SELECT data FROM orders WHERE order_id = $1", order_id))

    async def get_order_by_client_id(self, client_order_id: str) -> Order | None:
        sql = "SELECT data FROM orders WHERE client_order_id = $1"
        return await self._read(lambda c: _one_order(c, sql, client_order_id))

    async def fills_for_order(self, order_id: str) -> Sequence[Fill]:
        return await self._read(lambda c: _fills(c, "order_id", order_id))

    async def fills_for_strategy(self, strategy_id: str) -> Sequence[Fill]:
        return await self._read(lambda c: _fills(c, "strategy_id", strategy_id))

    async def list_orders(self, query: OrderQuery) -> OrderPage:
        wanted = check_query(query)
        return await self._read(lambda c: _list_orders(c, wanted))

    async def get_strategy(self, strategy_id: str) -> StrategyRecord | None:
        return await self._read(lambda c: _one_strategy(c, strategy_id))

    async def list_strategies(self, status: StrategyStatus | None = None) -> Sequence[StrategyRecord]:
        wanted = check_strategy_status(status)
        return await self._read(lambda c: _list_strategies(c, wanted))

    async def load_state(self) -> StoredState | None:
        return await self._read(_load_state)

    # -- retention: finished orders leave, in batches autovacuum keeps up with ------------------

    async def aged_orders(self, cutoff: datetime, limit: int) -> Sequence[AgedOrder]:
        before = check_aged_query(cutoff, limit)
        return await self._read(lambda c: _aged_orders(c, before, limit))

    async def delete_orders(self, order_ids: Sequence[str], folded: Sequence[FoldedFills] = ()) -> int:
        """On a pooled connection, beside the writer: the rows deleted are finished orders, which
        no commit touches again."""
        ids, rows = check_deletion(order_ids, folded)
        return await self._read(lambda c: _delete_orders(c, ids, rows), "delete aged orders")

    async def fills_for_strategies_through(
        self, fill_ids: Mapping[str, Sequence[str]]
    ) -> Mapping[str, Sequence[Fill]]:
        ids = check_fill_ids(fill_ids)
        return await self._read(lambda c: _fills_for_strategies_through(c, ids))

    async def folded_fills(self, strategy_ids: Sequence[str]) -> Mapping[str, FoldedFills]:
        ids = list(strategy_ids)
        return await self._read(lambda c: _folded_fills(c, ids))

    async def reclaim_space(self) -> None:
        """A plain ``VACUUM`` of the tables the sweep deletes from, on a pooled connection: the
        dead rows' space is reused by the next inserts at once, instead of whenever autovacuum's
        next round (a minute apart by default) gets to it. It takes no lock that writes wait for;
        pages already all-visible are skipped.

        The tables are analyzed too at the first reclaim of this store and whenever the number of
        orders has halved or doubled since its last ``ANALYZE``: the sweep's statements are
        planned from those statistics, and without them (a store that started empty, until
        autovacuum's own analyze) its reads of fills cost thirty times as much. Analyzing at
        every reclaim cost three times the vacuum itself."""
        await self._read(lambda c: c.execute("VACUUM orders, fills, folded_fills"), "be vacuumed")
        rows = await self._read(_estimated_orders)
        last = self._analyzed_orders
        if last is None or not max(last, _ANALYZE_FLOOR) / 2 <= rows <= max(last, _ANALYZE_FLOOR) * 2:
            await self._read(lambda c: c.execute("ANALYZE orders, fills, folded_fills"), "be analyzed")
            self._analyzed_orders = rows

    async def latest_update(self) -> datetime | None:
        return await self._read(_latest_update)

    async def stats(self) -> StoreStats:
        return await self._read(_stats)


# Every statement is planned for the tables as they are when it runs. The tables go from empty at
# a store's start to a retention's worth of orders, and a prepared statement (asyncpg prepares
# every one, and the foreign-key checks are prepared too) soon runs on a generic plan made once,
# from the statistics of when it was made. With the retention sweep on at 2,000 orders/s, the
# fills' foreign-key checks of each commit then cost about 30 times as much (60 us each against
# 2), tripling the server's CPU per order; with custom plans the sweep costs no order latency.
# Planning each time costs the server about 20 us more per order, on a core the service does not
# need.
_PLAN_CACHE_MODE = "force_custom_plan"

# Below this many orders a table is never analyzed again for its size changing (a few rows more
# or less would double it).
_ANALYZE_FLOOR = 1000


async def _estimated_orders(conn: asyncpg.Connection) -> int:
    """The number of orders as the last VACUUM or ANALYZE estimated it."""
    return max(0, int(await conn.fetchval("SELECT reltuples FROM pg_class WHERE oid = 'orders'::regclass")))


def _latest(rows: list[Any]) -> list[Any]:
    """One row per key (the first column): the last value written, in the place of the first."""
    latest: dict[Any, Any] = {}
    for row in rows:
        latest[row[0]] = row
    return list(latest.values())


def _batch_statement(batch: list[Rows]) -> tuple[str, list[Any]]:
    """The statement writing ``batch`` (strategy records aside) and its parameters: each table's
    columns as text arrays; empty when there is nothing to write."""
    params: list[Any] = []
    ctes: list[str] = []

    def arrays(rows: list[Any], width: int) -> str:
        placeholders = []
        for column in range(width):
            params.append([row[column] for row in rows])
            placeholders.append(f"${len(params)}::text[]")
        return ", ".join(placeholders)

    for template, rows, width in (
        (_ORDER_CTE, _latest([row for rows in batch for row in rows.orders]), 10),
        (_FILL_CTE, [row for rows in batch for row in rows.fills], 4),
        (_POSITION_CTE, _latest([row for rows in batch for row in rows.positions]), 2),
        (_CASH_CTE, _latest([row for rows in batch for row in rows.cash]), 3),
    ):
        if rows:
            ctes.append(template.format(arrays(rows, width)))
    for template, values in (
        (_BREAKER_CTE, [rows.breaker for rows in batch if rows.breaker is not None]),
        (_ACCOUNT_CTE, [rows.account for rows in batch if rows.account is not None]),
    ):
        if values:
            params.append(values[-1])
            ctes.append(template.format(f"${len(params)}"))
    if not ctes:
        return "", []
    return "WITH " + ",\n".join(ctes) + "\nSELECT 1", params


@dataclass(frozen=True)
class PostgresReader:
    """Opens a read-only ``PostgresTradingStore`` on ``schema`` (see the module docstring); a
    plain value, so that it pickles to a worker process, shown without the URL."""

    url: str = field(repr=False)
    schema: str
    connect_timeout_seconds: float

    def __call__(self) -> PostgresTradingStore:
        return PostgresTradingStore(self.url, self.schema, read_connections=1,
                                    connect_timeout_seconds=self.connect_timeout_seconds, read_only=True)


async def _close(conn: asyncpg.Connection | None) -> None:
    if conn is None or conn.is_closed():
        return
    try:
        await asyncio.wait_for(conn.close(), 5)
    except Exception:
        conn.terminate()


async def _close_pool(pool: asyncpg.Pool) -> None:
    try:
        await asyncio.wait_for(pool.close(), 5)
    except Exception:
        pool.terminate()


async def _one_order(conn: asyncpg.Connection, sql: str, key: str) -> Order | None:
    data = await conn.fetchval(sql, key)
    return None if data is None else Order.from_dict(json.loads(data))


async def _fills(conn: asyncpg.Connection, column: str, key: str) -> list[Fill]:
    rows = await conn.fetch(f"SELECT data FROM fills WHERE {column} = $1 ORDER BY seq", key)
    return [Fill.from_dict(json.loads(row[0])) for row in rows]


async def _one_strategy(conn: asyncpg.Connection, strategy_id: str) -> StrategyRecord | None:
    data = await conn.fetchval("SELECT data FROM strategies WHERE strategy_id = $1", strategy_id)
    return None if data is None else strategy_record(data)


async def _list_strategies(conn: asyncpg.Connection, status: str | None) -> list[StrategyRecord]:
    if status is None:
        rows = await conn.fetch("SELECT data FROM strategies ORDER BY created_at, seq")
    else:
        rows = await conn.fetch("SELECT data FROM strategies WHERE status = $1 ORDER BY created_at, seq", status)
    return [strategy_record(row[0]) for row in rows]


async def _list_orders(conn: asyncpg.Connection, wanted: ListFilter) -> OrderPage:
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (("status", wanted.status), ("symbol", wanted.symbol), ("strategy_id", wanted.strategy_id)):
        if value is not None:
            params.append(value)
            clauses.append(f"{column} = ${len(params)}")
    if wanted.before_seq is not None:
        params.append(wanted.before_seq)
        clauses.append(f"seq < ${len(params)}")
    where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
    params.append(wanted.limit + 1)
    rows = await conn.fetch(f"SELECT seq, data FROM orders {where}ORDER BY seq DESC LIMIT ${len(params)}", *params)
    page = rows[: wanted.limit]
    return OrderPage(
        orders=tuple(Order.from_dict(json.loads(row[1])) for row in page),
        next_cursor=encode_cursor(page[-1][0]) if len(rows) > wanted.limit else None,
    )


async def _load_state(conn: asyncpg.Connection) -> StoredState | None:
    async with conn.transaction(isolation="repeatable_read", readonly=True):  # one snapshot for every table
        anything = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM orders) OR EXISTS (SELECT 1 FROM fills) "
            "OR EXISTS (SELECT 1 FROM positions) OR EXISTS (SELECT 1 FROM cash) "
            "OR EXISTS (SELECT 1 FROM breaker) OR EXISTS (SELECT 1 FROM account)"
        )
        if not anything:
            return None
        account = await conn.fetchval("SELECT data FROM account WHERE id = 1")
        positions = await conn.fetch('SELECT data FROM positions ORDER BY symbol COLLATE "C"')
        cash = await conn.fetch('SELECT currency, balance, reserved FROM cash ORDER BY currency COLLATE "C"')
        breaker = await conn.fetchval("SELECT data FROM breaker WHERE id = 1")
        open_orders = await conn.fetch(
            "SELECT data FROM orders WHERE status = ANY($1::text[]) ORDER BY seq", list(OPEN_STATUSES)
        )
    return StoredState(
        account=None if account is None else AccountSettings.from_dict(json.loads(account)),
        cash=tuple(
            CashBalance(currency, to_decimal(balance, field=f"cash {currency} balance"),
                        to_decimal(reserved, field=f"cash {currency} reserved"))
            for currency, balance, reserved in cash
        ),
        positions=tuple(PositionSnapshot.from_dict(json.loads(row[0])) for row in positions),
        open_orders=tuple(Order.from_dict(json.loads(row[0])) for row in open_orders),
        breaker=None if breaker is None else BreakerState.from_dict(json.loads(breaker)),
    )


_AGED_ORDERS = f"""
WITH aged AS (
    SELECT order_id, data, updated_at FROM orders WHERE status IN ({_TERMINAL_SQL}) AND updated_at COLLATE "C" < $1
    ORDER BY updated_at COLLATE "C", order_id COLLATE "C" LIMIT $2
)
SELECT aged.order_id, aged.data,
       (SELECT coalesce(json_agg(fills.data ORDER BY fills.seq), '[]') FROM fills WHERE fills.order_id = aged.order_id)
FROM aged ORDER BY aged.updated_at COLLATE "C", aged.order_id COLLATE "C"
"""
"""The batch and each order's fills in one statement (one snapshot, one round trip): ``json_agg``
of ``json`` values keeps each fill's stored text."""


async def _aged_orders(conn: asyncpg.Connection, before: str, limit: int) -> list[AgedOrder]:
    return aged_from_grouped_rows(await conn.fetch(_AGED_ORDERS, before, limit))


async def _delete_orders(conn: asyncpg.Connection, ids: list[str], folded: list[tuple[str, str]]) -> int:
    async with conn.transaction():
        aged = f"order_id = ANY($1::text[]) AND status IN ({_TERMINAL_SQL})"
        await conn.execute(f"DELETE FROM fills WHERE order_id IN (SELECT order_id FROM orders WHERE {aged})", ids)
        status = await conn.execute(f"DELETE FROM orders WHERE {aged}", ids)
        if folded:
            await conn.executemany(
                "INSERT INTO folded_fills (strategy_id, data) VALUES ($1, $2::json) "
                "ON CONFLICT (strategy_id) DO UPDATE SET data = excluded.data",
                folded,
            )
    return int(status.split()[-1])  # "DELETE n"


async def _fills_for_strategies_through(conn: asyncpg.Connection, ids: dict[str, list[str]]) -> dict[str, list[Fill]]:
    """One statement per instance (each a range of the fills-by-strategy index), on one connection."""
    found = {}
    for strategy_id, named in ids.items():
        rows = await conn.fetch(
            "SELECT data FROM fills WHERE strategy_id = $1 "
            "AND seq <= (SELECT coalesce(max(seq), 0) FROM fills WHERE strategy_id = $1 AND fill_id = ANY($2::text[])) "
            "ORDER BY seq",
            strategy_id, named,
        )
        found[strategy_id] = [Fill.from_dict(json.loads(row[0])) for row in rows]
    return found


async def _folded_fills(conn: asyncpg.Connection, ids: list[str]) -> dict[str, FoldedFills]:
    rows = await conn.fetch("SELECT strategy_id, data FROM folded_fills WHERE strategy_id = ANY($1::text[])", ids)
    return {row[0]: FoldedFills.from_dict(json.loads(row[1])) for row in rows}


async def _latest_update(conn: asyncpg.Connection) -> datetime | None:
    """Finished orders' maximum from ``orders_aged``, the others' from the few rows of their
    statuses; strategy records are few."""
    others = ", ".join(f"'{status.value}'" for status in OrderStatus if not status.is_terminal)
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        row = await conn.fetchrow(
            f'SELECT (SELECT max(updated_at COLLATE "C") FROM orders WHERE status IN ({_TERMINAL_SQL})), '
            f'(SELECT max(updated_at COLLATE "C") FROM orders WHERE status IN ({others})), '
            '(SELECT max(updated_at COLLATE "C") FROM strategies), '
            "(SELECT data FROM breaker WHERE id = 1)"
        )
    *updated, breaker = row.values()
    return latest_of(updated, None if breaker is None else BreakerState.from_dict(json.loads(breaker)))


async def _stats(conn: asyncpg.Connection) -> StoreStats:
    placeholders = ", ".join(f"'{status}'" for status in OPEN_STATUSES)
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        row = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM fills), "
            f"(SELECT count(*) FROM orders WHERE status IN ({placeholders})), "
            f'(SELECT min(updated_at COLLATE "C") FROM orders WHERE status IN ({_TERMINAL_SQL})), '
            "(SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind = 'r')"
        )
    orders, fills, open_orders, oldest, size = row.values()
    return StoreStats(
        orders=orders, fills=fills, open_orders=open_orders, size_bytes=int(size),
        oldest_terminal_update=None if oldest is None else parse_timestamp(oldest, field="updated_at"),
    )
