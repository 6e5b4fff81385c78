"""What PostgreSQL adds to the store contract: one schema per instance, one writer per schema,
the schema migrated forward, the password never shown, and the server going away and coming back.

Each test takes a schema of its own on the session's throwaway cluster; the outage tests stop and
start a cluster of their own.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest
from structlog.testing import capture_logs

from tests.support.postgres import PostgresCluster, PostgresSchema
from tests.support.trading_data import make_order, order_change
from trading_engine.containers import create_container
from trading_engine.domain.errors import StoreUnavailable
from trading_engine.domain.orders import OrderStatus
from trading_engine.domain.ports.repository import ChangeSet, OrderQuery
from trading_engine.infrastructure.config import ConfigError
from trading_engine.infrastructure.persistence.database_url import redact_url, schema_for_instance
from trading_engine.infrastructure.persistence.postgres import MIGRATIONS, SCHEMA_VERSION, PostgresTradingStore
from trading_engine.infrastructure.persistence.records import IncompatibleSchema, rows_of

pytestmark = pytest.mark.integration

PASSWORD = "s3cret-Pa55word"
_names = itertools.count(1)


@pytest.fixture
async def schema(postgres_cluster: PostgresCluster) -> AsyncIterator[PostgresSchema]:
    made = PostgresSchema(postgres_cluster.url(), f"store_{next(_names)}")
    yield made
    await made.drop()


def test_urls_are_shown_without_their_password() -> None:
    assert redact_url(f"postgresql://engine:{PASSWORD}@db:5432/trading") == "postgresql://engine:***@db:5432/trading"
    assert redact_url("postgresql://engine@db/trading") == "postgresql://engine@db/trading"
    assert redact_url("postgres://db/trading?sslmode=require") == "postgres://db/trading?sslmode=require"
    assert schema_for_instance("trading-engine-lh") == "trading_engine_lh"
    assert schema_for_instance("7-Eleven") == "_7_eleven"


def test_the_backend_and_schema_come_from_the_configuration(postgres_cluster: PostgresCluster) -> None:
    container = create_container(overrides={
        "service": {"instance_name": "trading-engine-lh"},
        "persistence": {"backend": "postgres", "url": postgres_cluster.url()},
    })
    store = container.trading_store()
    assert isinstance(store, PostgresTradingStore) and store.schema == "trading_engine_lh"
    named = create_container(overrides={
        "persistence": {"backend": "postgres", "url": postgres_cluster.url(), "schema": "desk_a"},
    })
    assert named.trading_store().schema == "desk_a"


@pytest.mark.parametrize(
    ("persistence", "key", "shown"),
    [
        ({"backend": "postgres"}, "persistence.url", "= '': must be set when persistence.backend is postgres"),
        ({"backend": "postgres", "url": f"mysql://engine:{PASSWORD}@db/x"}, "persistence.url", "= 'mysql://engine:***@db/x'"),
        ({"backend": "oracle"}, "persistence.backend", "= 'oracle': must be one of"),
        ({"schema": "Desk-A"}, "persistence.schema", "= 'Desk-A': must be empty or 1-63 lowercase"),
    ],
)
def test_bad_persistence_settings_are_one_line_without_the_password(
    persistence: dict[str, str], key: str, shown: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        create_container(overrides={"persistence": persistence})
    assert caught.value.key == key and shown in str(caught.value)
    assert PASSWORD not in str(caught.value)


async def test_the_password_is_in_no_log_line_and_no_error(postgres_cluster: PostgresCluster, schema: PostgresSchema) -> None:
    # The throwaway cluster trusts loopback, so any password is accepted: the URL carries one.
    url = postgres_cluster.url(password=PASSWORD)
    store = PostgresTradingStore(url, schema.name)
    with capture_logs() as logs:
        await store.start()
        await store.stop()
    (started,) = [line for line in logs if line["event"] == "store_started"]
    assert started["database"] == redact_url(url) and "***" in started["database"]
    assert PASSWORD not in repr(logs)

    unreachable = PostgresTradingStore(f"postgresql://engine:{PASSWORD}@127.0.0.1:1/trading", "desk")
    with pytest.raises(StoreUnavailable) as caught:
        await unreachable.start()
    assert "postgresql://engine:***@127.0.0.1:1/trading cannot be reached" in caught.value.message
    assert PASSWORD not in caught.value.message


async def test_every_connection_commits_synchronously(postgres_cluster: PostgresCluster, schema: PostgresSchema) -> None:
    admin = await asyncpg.connect(postgres_cluster.url())
    try:  # even where the server's default is off
        await admin.execute("ALTER DATABASE postgres SET synchronous_commit = off")
        store = PostgresTradingStore(postgres_cluster.url(), schema.name)
        await store.start()
        try:
            assert await store._conn.fetchval("SHOW synchronous_commit") == "on"  # type: ignore[union-attr]
            assert await store._read(lambda conn: conn.fetchval("SHOW synchronous_commit")) == "on"
            # and plans every statement for the tables as they are, never on a cached generic plan
            assert await store._conn.fetchval("SHOW plan_cache_mode") == "force_custom_plan"  # type: ignore[union-attr]
            assert await store._read(lambda conn: conn.fetchval("SHOW plan_cache_mode")) == "force_custom_plan"
            reader = store.read_only_opener()()
            await reader.start()
            try:
                assert await reader._read(lambda conn: conn.fetchval("SHOW plan_cache_mode")) == "force_custom_plan"
            finally:
                await reader.stop()
        finally:
            await store.stop()
    finally:
        await admin.execute("ALTER DATABASE postgres RESET synchronous_commit")
        await admin.close()


async def test_concurrent_commits_share_transactions(postgres_cluster: PostgresCluster, schema: PostgresSchema) -> None:
    store = PostgresTradingStore(postgres_cluster.url(), schema.name)
    await store.start()
    try:
        orders = [make_order(f"o-{n}")[0] for n in range(300)]
        await asyncio.gather(*(store.commit(order_change(order)) for order in orders))
        assert store.commits == 300
        assert store.transactions < 300 / 4
        listed = await store.list_orders(OrderQuery(limit=1000))
        assert [o.order_id for o in listed.orders] == [o.order_id for o in reversed(orders)]
    finally:
        await store.stop()


async def test_schemas_keep_instances_apart(postgres_cluster: PostgresCluster) -> None:
    a, b = (PostgresSchema(postgres_cluster.url(), f"desk_{name}_{next(_names)}") for name in "ab")
    stores = [PostgresTradingStore(postgres_cluster.url(), s.name) for s in (a, b)]
    try:
        for store in stores:
            await store.start()
        mine, _ = make_order("o-1", client_order_id="same-client-id")
        theirs, _ = make_order("o-1", OrderStatus.FILLED, client_order_id="same-client-id", symbol="ETH-USD")
        await stores[0].commit(order_change(mine))
        await stores[1].commit(order_change(theirs))
        assert await stores[0].get_order("o-1") == mine
        assert await stores[1].get_order("o-1") == theirs
        assert (await stores[0].load_state()).open_orders == (mine,)  # type: ignore[union-attr]
    finally:
        for store in stores:
            await store.stop()
        for s in (a, b):
            await s.drop()


async def test_a_second_writer_on_a_schema_is_refused(postgres_cluster: PostgresCluster, schema: PostgresSchema) -> None:
    first = PostgresTradingStore(postgres_cluster.url(), schema.name)
    second = PostgresTradingStore(postgres_cluster.url(), schema.name, lock_wait_seconds=0.2)
    await first.start()
    try:
        with pytest.raises(StoreUnavailable) as caught:
            await second.start()
        assert caught.value.message.startswith(f"schema {schema.name} on {postgres_cluster.url()} is in use by another engine process")
        assert "\n" not in caught.value.message
        order, _ = make_order("o-1")
        await first.commit(order_change(order))  # the first one is untouched
    finally:
        await first.stop()
    await second.start()  # the lock went with the first process's session
    try:
        assert await second.get_order("o-1") == order
    finally:
        await second.stop()


async def test_an_older_schema_is_migrated_forward(postgres_cluster: PostgresCluster, schema: PostgresSchema) -> None:
    order, fills = make_order("o-1", OrderStatus.FILLED, strategy_id="s-1")
    conn = await asyncpg.connect(postgres_cluster.url(), server_settings={"search_path": schema.name})
    try:  # a version 1 schema, as the first release wrote it
        await conn.execute(f'CREATE SCHEMA "{schema.name}"')
        await conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
        for statement in MIGRATIONS[0][1]:
            await conn.execute(statement)
        await conn.execute("INSERT INTO schema_version VALUES (1, '2026-01-01T00:00:00Z')")
        rows = rows_of(order_change(order, fills))
        await conn.executemany(
            "INSERT INTO orders (order_id, client_order_id, symbol, side, type, status, strategy_id, created_at, "
            "updated_at, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)", rows.orders)
        await conn.executemany(
            "INSERT INTO fills (fill_id, order_id, data) VALUES ($1, $2, $3)",
            [(fill_id, order_id, data) for fill_id, order_id, _strategy, data in rows.fills],
        )
    finally:
        await conn.close()

    store = PostgresTradingStore(postgres_cluster.url(), schema.name)
    with capture_logs() as logs:
        await store.start()
    try:
        assert [line["schema_version"] for line in logs if line["event"] == "store_schema_migrated"] == [2, 3, 4]
        assert await store.get_order("o-1") == order
        # version 4: an order with fills is refused deletion by RESTRICT (no NO ACTION re-check)
        assert await store._read(lambda conn: conn.fetchval(
            "SELECT confdeltype FROM pg_constraint WHERE conname = 'fills_order_id_fkey' "
            "AND connamespace = current_schema()::regnamespace")) == b"r"
        with pytest.raises(StoreUnavailable, match="violates foreign key constraint"):
            await store._read(lambda conn: conn.execute("DELETE FROM orders WHERE order_id = 'o-1'"))
        assert await store.fills_for_strategy("s-1") == fills  # filled in from the stored fills
    finally:
        await store.stop()


async def test_a_newer_schema_is_refused(postgres_cluster: PostgresCluster, schema: PostgresSchema) -> None:
    store = PostgresTradingStore(postgres_cluster.url(), schema.name)
    await store.start()
    await store.stop()
    conn = await asyncpg.connect(postgres_cluster.url(), server_settings={"search_path": schema.name})
    try:
        await conn.execute("INSERT INTO schema_version VALUES ($1, '2030-01-01T00:00:00Z')", SCHEMA_VERSION + 1)
    finally:
        await conn.close()
    with pytest.raises(IncompatibleSchema) as caught:
        await store.start()
    assert f"has schema version {SCHEMA_VERSION + 1}, newer than version {SCHEMA_VERSION}" in str(caught.value)


# -- the server going away ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster().start()
    try:
        yield cluster
    finally:
        cluster.remove()


async def eventually(check: Any, seconds: float = 30.0) -> None:
    for _attempt in range(int(seconds / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{check} never became true in {seconds} s")


async def test_the_store_survives_the_server_restarting(own_cluster: PostgresCluster) -> None:
    store = PostgresTradingStore(own_cluster.url(), f"outage_{next(_names)}", reconnect_max_seconds=0.2)
    await store.start()
    try:
        kept, _ = make_order("o-kept")
        await store.commit(order_change(kept))
        assert await store.is_ready()

        lost, _ = make_order("o-lost")
        with capture_logs() as logs:
            await asyncio.to_thread(own_cluster.stop)
            with pytest.raises(StoreUnavailable, match="nothing was stored"):
                await store.commit(order_change(lost))
            assert not await store.is_ready()
            with pytest.raises(StoreUnavailable, match="could not be read"):
                await store.load_state()
            with pytest.raises(StoreUnavailable, match="refuses changes"):
                await store.commit(order_change(lost))

            await asyncio.to_thread(own_cluster.restart)
            await eventually(lambda: asyncio.sleep(0, store.connected))
        events = [line["event"] for line in logs]
        assert "store_disconnected" in events and "store_reconnected" in events

        # The caller reloads (reads work again), resets, and writes.
        async def readable() -> bool:
            try:
                return (await store.load_state()).open_orders == (kept,)  # type: ignore[union-attr]
            except StoreUnavailable:
                return False

        await eventually(readable)
        store.reset()
        assert await store.is_ready()
        await store.commit(order_change(lost))
        assert await store.get_order("o-lost") == lost
        assert await store.get_order("o-kept") == kept
    finally:
        await store.stop()


async def test_a_store_starting_while_the_server_is_down_says_so(own_cluster: PostgresCluster) -> None:
    await asyncio.to_thread(own_cluster.stop)
    try:
        store = PostgresTradingStore(own_cluster.url(), "nobody_home")
        with pytest.raises(StoreUnavailable, match=f"the database {own_cluster.url()} cannot be reached"):
            await store.start()
        assert not await store.is_ready()
        with pytest.raises(StoreUnavailable, match="not running"):
            await store.commit(ChangeSet(orders=(make_order("o-1")[0].snapshot,)))
    finally:
        await asyncio.to_thread(own_cluster.restart)


async def _rounds_of_finished_orders(store: PostgresTradingStore, *, reclaim: bool, rounds: int = 5) -> list[int]:
    """Rounds of 300 filled orders with their fills, each deleted as a sweep would; the store's
    size after each round."""
    sizes = []
    for round_ in range(rounds):
        made = [make_order(f"o-{round_}-{n}", OrderStatus.FILLED, seconds=n) for n in range(300)]
        await store.commit(ChangeSet(orders=tuple(order.snapshot for order, _ in made),
                                     fills=tuple(fill for _, fills in made for fill in fills)))
        assert await store.delete_orders([order.order_id for order, _ in made]) == 300
        if reclaim:
            await store.reclaim_space()
        size = (await store.stats()).size_bytes
        assert size is not None
        sizes.append(size)
    return sizes


async def test_reclaimed_space_is_reused_so_the_size_levels_off(postgres_cluster: PostgresCluster) -> None:
    """With ``reclaim_space`` after each deletion the tables stop growing after the first rounds;
    without it (and with autovacuum off for the tables, so that it cannot step in) every round
    adds as much again."""
    sizes = {}
    for reclaim in (True, False):
        schema = PostgresSchema(postgres_cluster.url(), f"store_{next(_names)}")
        store = PostgresTradingStore(postgres_cluster.url(), schema.name)
        await store.start()
        try:
            if not reclaim:
                for table in ("orders", "fills"):
                    await store._read(lambda c, table=table: c.execute(
                        f"ALTER TABLE {table} SET (autovacuum_enabled = false)"))
            sizes[reclaim] = await _rounds_of_finished_orders(store, reclaim=reclaim)
        finally:
            await store.stop()
            await schema.drop()
    reclaimed, kept = sizes[True], sizes[False]
    assert reclaimed[-1] <= reclaimed[1] * 1.05, reclaimed  # level after the second round
    assert kept[-1] >= kept[0] * 3, kept  # five rounds kept: several times the first's size


async def _last_histogram_bound(conn: asyncpg.Connection, schema: str) -> str | None:
    bounds = await conn.fetchval("SELECT histogram_bounds::text FROM pg_stats WHERE schemaname = $1 "
                                 "AND tablename = 'orders' AND attname = 'updated_at'", schema)
    return None if bounds is None else bounds.strip("{}").split(",")[-1].strip('"')


async def test_reclaim_analyzes_at_first_and_when_the_orders_have_doubled_or_halved_since(
    postgres_cluster: PostgresCluster, schema: PostgresSchema,
) -> None:
    """The planner's statistics follow the table's size (a store that started empty would
    otherwise plan every batch of the sweep as for an empty table), without an ANALYZE per sweep."""
    store = PostgresTradingStore(postgres_cluster.url(), schema.name)
    await store.start()
    conn = await asyncpg.connect(postgres_cluster.url())
    try:
        for table in ("orders", "fills"):  # only reclaim_space analyzes here
            await conn.execute(f"ALTER TABLE {schema.name}.{table} SET (autovacuum_enabled = false)")

        async def finished(first: int, count: int) -> str:
            made = [make_order(f"o-{n}", OrderStatus.FILLED, seconds=n) for n in range(first, first + count)]
            await store.commit(ChangeSet(orders=tuple(o.snapshot for o, _ in made),
                                         fills=tuple(f for _, fills in made for f in fills)))
            return made[-1][0].updated_at.isoformat()

        await finished(0, 1500)
        assert await _last_histogram_bound(conn, schema.name) is None  # never analyzed
        await store.reclaim_space()
        first = await _last_histogram_bound(conn, schema.name)
        assert first is not None  # the first reclaim analyzed
        await finished(1500, 500)
        await store.reclaim_space()
        assert await _last_histogram_bound(conn, schema.name) == first  # a third more: not again
        newest = await finished(2000, 2000)
        await store.reclaim_space()
        assert await _last_histogram_bound(conn, schema.name) != first  # doubled: analyzed
        assert (await _last_histogram_bound(conn, schema.name) or "")[:19] == newest[:19]
    finally:
        await conn.close()
        await store.stop()
