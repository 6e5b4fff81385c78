"""The TradingStore contract: the in-memory store, SQLite and PostgreSQL pass the same behavioural tests."""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import inspect
import itertools
from collections.abc import AsyncIterator
from dataclasses import FrozenInstanceError, dataclass, replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from trading_engine.domain.errors import StoreUnavailable, ValidationError
from trading_engine.domain.orders import Fill, Order, OrderStatus
from trading_engine.domain.decimals import plain
from trading_engine.domain.portfolio import AccountSettings, CashBalance, Portfolio, Position
from trading_engine.domain.ports.repository import ChangeSet, OrderQuery, StoredState, TradingStore
from trading_engine.domain.risk import CircuitBreaker
from trading_engine.domain.strategy_record import FoldedFills, StrategyRecord, StrategyStatus
from trading_engine.infrastructure.persistence.archive import GzipCsvArchive
from trading_engine.infrastructure.persistence.memory import InMemoryTradingStore
from trading_engine.infrastructure.persistence.postgres import PostgresTradingStore
from trading_engine.infrastructure.persistence.sqlite import SqliteTradingStore
from trading_engine.services.strategy_runtime.performance import PerformanceTrack
from tests.support.fill_history import History, random_history, state
from tests.support.postgres import PostgresSchema
from tests.fakes import FakeClock
from tests.support.trading_data import (
    KNOWN_FILL_LINES,
    KNOWN_ORDER_LINES,
    T0,
    Connections,
    account_change,
    at,
    known_finished_orders,
    make_order,
    order_change,
    strategy_record,
    trading_portfolio,
)


@dataclass
class Harness:
    """A started store and a way to make its storage refuse writes, whichever the store."""

    store: TradingStore
    kind: str
    connections: Connections | None = None
    postgres: PostgresSchema | None = None

    async def writable(self, on: bool) -> None:
        if isinstance(self.store, InMemoryTradingStore):
            self.store.fail_commits(None if on else OSError(28, "No space left on device"))
        elif self.postgres is not None:
            await self.postgres.writable(on)
        else:
            assert self.connections is not None
            self.connections.writable(on)


_schemas = itertools.count(1)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def harness(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    schema = None
    if request.param == "memory":
        made = Harness(InMemoryTradingStore(), "memory")
    elif request.param == "sqlite":
        connections = Connections()
        store = SqliteTradingStore(tmp_path / "store.db", synchronous="NORMAL", connect=connections)
        made = Harness(store, "sqlite", connections)
    else:
        cluster = request.getfixturevalue("postgres_cluster")
        schema = PostgresSchema(cluster.url(), f"contract_{next(_schemas)}")
        made = Harness(PostgresTradingStore(cluster.url(), schema.name), "postgres", postgres=schema)
    await made.store.start()
    try:
        yield made
    finally:
        await made.store.stop()
        if schema is not None:
            await schema.drop()


@pytest.fixture
def store(harness: Harness) -> TradingStore:
    return harness.store


async def all_pages(store: TradingStore, **filters: Any) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor = None
    while True:
        page = await store.list_orders(OrderQuery(cursor=cursor, **filters))
        pages.append([order.order_id for order in page.orders])
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor


def test_both_stores_implement_the_port() -> None:
    port = {name for name in dir(TradingStore) if not name.startswith("_")}
    for implementation in (InMemoryTradingStore, SqliteTradingStore, PostgresTradingStore):
        assert port <= set(dir(implementation)), implementation
        for name in port:
            wanted = inspect.iscoroutinefunction(getattr(TradingStore, name))
            assert inspect.iscoroutinefunction(getattr(implementation, name)) == wanted, name


# -- empty store, round trips ---------------------------------------------------------------------


async def test_an_empty_store_has_no_state(store: TradingStore) -> None:
    assert await store.load_state() is None
    await store.commit(ChangeSet())
    assert await store.load_state() is None
    assert await store.get_order("o-1") is None
    assert await store.get_order_by_client_id("c-1") is None
    assert await store.fills_for_order("o-1") == []
    page = await store.list_orders(OrderQuery())
    assert page.orders == () and page.next_cursor is None
    assert await store.get_strategy("s-1") is None
    assert await store.list_strategies() == []
    assert await store.fills_for_strategy("s-1") == []


@pytest.mark.parametrize("status", list(OrderStatus))
async def test_an_order_in_every_status_round_trips_exactly(store: TradingStore, status: OrderStatus) -> None:
    order, fills = make_order("o-1", status, client_order_id="client-1", strategy_id="momentum")
    await store.commit(order_change(order, fills))

    stored = await store.get_order("o-1")
    assert stored == order
    # Strings, not just values: 1.500000000000000001 and trailing zeros survive; so do microseconds.
    assert stored is not None and stored.to_dict() == order.to_dict()
    assert stored.created_at == T0 and stored.updated_at == order.updated_at
    assert await store.get_order_by_client_id("client-1") == order
    assert [fill.to_dict() for fill in await store.fills_for_order("o-1")] == [
        fill.to_dict() for fill in fills
    ]


async def test_fills_come_back_in_the_order_they_were_committed(store: TradingStore) -> None:
    order, fills = make_order("o-1", OrderStatus.FILLED)
    other, other_fills = make_order("o-2", OrderStatus.PARTIALLY_FILLED)
    await store.commit(ChangeSet(orders=(order.snapshot, other.snapshot), fills=(fills[0], other_fills[0])))
    await store.commit(ChangeSet(fills=(other_fills[1], fills[1])))
    assert await store.fills_for_order("o-1") == fills
    assert await store.fills_for_order("o-2") == other_fills


async def test_the_account_round_trips_into_an_equal_portfolio(store: TradingStore) -> None:
    portfolio = trading_portfolio()
    breaker = CircuitBreaker()
    breaker.trip("daily loss limit reached", at(60))
    await store.commit(ChangeSet(breaker=breaker.state))
    await store.commit(account_change(portfolio))

    state = await store.load_state()
    assert state is not None
    assert state.account == AccountSettings("USD")
    # Exact digits, not just values: '101.30', '1.0', ...
    assert [position.to_dict() for position in state.positions] == portfolio.to_dict()["positions"]
    assert [(c.currency, plain(c.balance), plain(c.reserved)) for c in state.cash] == [
        ("EUR", "250", "0"),
        ("USD", plain(portfolio.cash_balance("USD")), "1234.5678"),
    ]
    restored = Portfolio.restore(state.account, state.cash, state.positions)
    restored.reserve("USD", state.cash[1].reserved)
    assert restored == portfolio
    assert state.breaker == breaker.state and CircuitBreaker(state.breaker) == breaker
    assert state.open_orders == ()


async def test_cash_round_trips_by_value_a_zero_reservation_included(store: TradingStore) -> None:
    await store.commit(
        ChangeSet(cash=(CashBalance("USD", Decimal("10"), Decimal("0.000")),), account=AccountSettings("USD"))
    )
    state = await store.load_state()
    assert state is not None
    assert state == StoredState(account=AccountSettings("USD"), cash=(CashBalance("USD", Decimal("10")),))
    assert Portfolio.restore(state.account, state.cash, state.positions) == Portfolio("USD", {"USD": "10"})  # type: ignore[arg-type]


async def test_without_an_account_row_the_state_has_no_account(store: TradingStore) -> None:
    order, _ = make_order("o-1")
    await store.commit(order_change(order))
    state = await store.load_state()
    assert state == StoredState(open_orders=(order,))


async def test_load_state_returns_only_open_and_partially_filled_orders_oldest_first(
    store: TradingStore,
) -> None:
    statuses = list(OrderStatus) * 2
    for number, status in enumerate(statuses):
        order, fills = make_order(f"o-{number}", status, seconds=number)
        await store.commit(order_change(order, fills))
    state = await store.load_state()
    assert state is not None
    expected = [f"o-{n}" for n, status in enumerate(statuses) if status.is_open]
    assert [order.order_id for order in state.open_orders] == expected
    assert all(isinstance(order, Order) for order in state.open_orders)


# -- upserts -------------------------------------------------------------------------------------


async def test_later_snapshots_replace_earlier_ones_and_an_order_keeps_its_place(store: TradingStore) -> None:
    first, _ = make_order("o-1", OrderStatus.NEW)
    second, _ = make_order("o-2")
    await store.commit(order_change(first))
    await store.commit(order_change(second))
    first.accept(at(10))
    held = Position("BTC-USD")
    held.apply_fill("buy", "1", "5")
    await store.commit(
        ChangeSet(
            orders=(first.snapshot,),
            positions=(held.snapshot,),
            cash=(CashBalance("USD", Decimal("1")),),
            breaker=CircuitBreaker().state,
            account=AccountSettings("EUR"),
        )
    )
    flat = Position("BTC-USD").snapshot
    tripped = CircuitBreaker()
    tripped.trip("manual halt", at(20))
    await store.commit(
        ChangeSet(
            positions=(flat,),
            cash=(CashBalance("USD", Decimal("2.50"), Decimal("1")),),
            breaker=tripped.state,
            account=AccountSettings("USD"),
        )
    )

    assert await store.get_order("o-1") == first
    assert [order.order_id for order in (await store.list_orders(OrderQuery())).orders] == ["o-2", "o-1"]
    state = await store.load_state()
    assert state is not None
    assert state.account == AccountSettings("USD")
    assert state.cash == (CashBalance("USD", Decimal("2.50"), Decimal("1")),)
    assert state.positions == (flat,)
    assert state.breaker == tripped.state
    assert [order.order_id for order in state.open_orders] == ["o-1", "o-2"]


async def test_concurrent_commits_take_effect_in_call_order(store: TradingStore) -> None:
    order, _ = make_order("o-shared", OrderStatus.NEW)
    snapshots = []
    for number in range(200):
        snapshot = replace(order.snapshot, updated_at=at(number))
        snapshots.append(
            ChangeSet(
                orders=(snapshot, make_order(f"o-{number:03}")[0].snapshot),
                cash=(CashBalance("USD", Decimal(number)),),
            )
        )
    await asyncio.gather(*(store.commit(changes) for changes in snapshots))

    assert (await store.get_order("o-shared")).updated_at == at(199)  # type: ignore[union-attr]
    state = await store.load_state()
    assert state is not None and state.cash == (CashBalance("USD", Decimal(199)),)
    pages = await all_pages(store, limit=1000)
    assert pages == [[f"o-{number:03}" for number in reversed(range(200))] + ["o-shared"]]


async def test_what_a_caller_holds_or_gets_back_cannot_change_the_store(store: TradingStore) -> None:
    order, _ = make_order("o-1")
    breaker = CircuitBreaker()
    await store.commit(ChangeSet(orders=(order.snapshot,), breaker=breaker.state, account=AccountSettings("USD")))
    committed = Order(order.snapshot)
    # The in-memory objects move on after the hand-over; the store keeps what it was given.
    order.cancel(at(5), reason="moved on")
    breaker.trip("later", at(6))
    read = await store.get_order("o-1")
    assert read == committed and read is not await store.get_order("o-1")
    # What a read returns is the caller's own: changing it changes nothing stored.
    read.expire(at(7))  # type: ignore[union-attr]
    (listed,) = (await store.list_orders(OrderQuery())).orders
    listed.cancel(at(8))
    state = await store.load_state()
    assert state is not None
    (resting,) = state.open_orders
    resting.cancel(at(9))
    with pytest.raises(FrozenInstanceError):
        state.breaker.reason = "tampered"  # type: ignore[union-attr,misc]
    again = await store.load_state()
    assert again == StoredState(account=AccountSettings("USD"), open_orders=(committed,), breaker=CircuitBreaker().state)
    assert await store.get_order("o-1") == committed
    assert [o.status for o in (await store.list_orders(OrderQuery())).orders] == [OrderStatus.OPEN]


# -- listing -------------------------------------------------------------------------------------


@pytest.fixture
async def fifty_orders(store: TradingStore) -> list[Order]:
    orders = []
    for number in range(50):
        order, fills = make_order(
            f"o-{number:02}",
            list(OrderStatus)[number % len(OrderStatus)],
            symbol="ETH-USD" if number % 3 == 0 else "BTC-USD",
            strategy_id=None if number % 4 == 0 else f"s-{number % 2}",
            seconds=number,
        )
        orders.append(order)
        await store.commit(order_change(order, fills))
    return orders


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"status": OrderStatus.OPEN},
        {"status": "filled"},
        {"symbol": "ETH-USD"},
        {"strategy_id": "s-1"},
        {"status": OrderStatus.CANCELLED, "symbol": "BTC-USD", "strategy_id": "s-0"},
    ],
)
@pytest.mark.parametrize("limit", [1, 7, 10, 1000])
async def test_pages_walk_every_match_newest_first_without_gaps_or_repeats(
    store: TradingStore, fifty_orders: list[Order], filters: dict[str, Any], limit: int
) -> None:
    def matches(order: Order) -> bool:
        return all(getattr(order, name) == value for name, value in filters.items())

    expected = [order.order_id for order in reversed(fifty_orders) if matches(order)]
    assert expected, "every filter should match something"
    pages = await all_pages(store, limit=limit, **filters)
    assert [order_id for page in pages for order_id in page] == expected
    assert all(len(page) == limit for page in pages[:-1])
    assert 1 <= len(pages[-1]) <= limit  # never an empty last page when the count divides evenly


async def test_a_page_shows_whole_orders(store: TradingStore, fifty_orders: list[Order]) -> None:
    page = await store.list_orders(OrderQuery(limit=3))
    assert list(page.orders) == fifty_orders[:-4:-1]


async def test_orders_committed_between_pages_do_not_disturb_the_walk(
    store: TradingStore, fifty_orders: list[Order]
) -> None:
    first = await store.list_orders(OrderQuery(limit=20))
    newer, _ = make_order("o-newer", seconds=100)
    await store.commit(order_change(newer))
    second = await store.list_orders(OrderQuery(limit=40, cursor=first.next_cursor))
    walked = [order.order_id for order in first.orders + second.orders]
    assert walked == [order.order_id for order in reversed(fifty_orders)]


async def test_no_match_is_an_empty_last_page(store: TradingStore, fifty_orders: list[Order]) -> None:
    page = await store.list_orders(OrderQuery(symbol="DOGE-USD"))
    assert page.orders == () and page.next_cursor is None


@pytest.mark.parametrize(
    "cursor", ["", "not a cursor!", "bzo", "eDox", "bzotMQ", "bzowMQ", "bzoxMA==", "bzox" + "A" * 100, "🙂"]
)
async def test_a_malformed_cursor_is_a_validation_error(
    store: TradingStore, fifty_orders: list[Order], cursor: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        await store.list_orders(OrderQuery(cursor=cursor))
    assert caught.value.field == "cursor"
    assert "next_cursor of the previous page" in caught.value.message


@pytest.mark.parametrize("limit", [0, -1, 1001, True, "10"])
async def test_limit_outside_1_to_1000_is_a_validation_error(store: TradingStore, limit: Any) -> None:
    with pytest.raises(ValidationError, match="from 1 to 1000") as caught:
        await store.list_orders(OrderQuery(limit=limit))
    assert caught.value.field == "limit"


async def test_an_unknown_status_filter_is_a_validation_error(store: TradingStore) -> None:
    with pytest.raises(ValidationError, match="allowed: new, open") as caught:
        await store.list_orders(OrderQuery(status="resting"))  # type: ignore[arg-type]
    assert caught.value.field == "status"


# -- malformed change sets -------------------------------------------------------------------------


_ORDER = make_order("o-1")[0]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        (ChangeSet(orders=(_ORDER.to_dict(),)), "orders"),  # its dict, not its snapshot
        (ChangeSet(orders=(_ORDER,)), "orders"),  # the live order, not its snapshot
        (ChangeSet(orders=(_ORDER.snapshot,), fills=(_ORDER.snapshot,)), "fills"),
        (ChangeSet(orders=(_ORDER.snapshot,), positions=(Position("BTC-USD"),)), "positions"),
        (ChangeSet(orders=(_ORDER.snapshot,), positions=({"symbol": "BTC-USD", "quantity": "1"},)), "positions"),
        (ChangeSet(orders=(_ORDER.snapshot,), cash=(("USD", {"balance": "1", "reserved": "0"}),)), "cash"),
        (ChangeSet(orders=(_ORDER.snapshot,), breaker=CircuitBreaker()), "breaker"),  # not its state
        (ChangeSet(orders=(_ORDER.snapshot,), breaker={"is_open": False}), "breaker"),
        (ChangeSet(orders=(_ORDER.snapshot,), account={"reporting_currency": "USD"}), "account"),
        ({"orders": (_ORDER.snapshot,)}, "changes"),
    ],
)
async def test_a_malformed_change_set_fails_its_caller_only(
    harness: Harness, changes: ChangeSet, field: str
) -> None:
    store = harness.store
    with pytest.raises(ValidationError) as caught:
        await store.commit(changes)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert await store.get_order("o-1") is None
    assert await store.load_state() is None
    assert await store.is_ready()
    order, _ = make_order("o-2")
    await store.commit(order_change(order))
    assert await store.get_order("o-2") == order


# -- failures ------------------------------------------------------------------------------------


async def test_a_failed_write_stores_nothing_and_the_store_refuses_changes_until_reset(
    harness: Harness,
) -> None:
    store = harness.store
    kept, _ = make_order("o-kept")
    await store.commit(ChangeSet(orders=(kept.snapshot,), account=AccountSettings("USD")))
    before = await store.load_state()
    commits = store.commits  # type: ignore[attr-defined]

    await harness.writable(False)
    lost, fills = make_order("o-lost", OrderStatus.PARTIALLY_FILLED)
    with pytest.raises(StoreUnavailable) as caught:
        await store.commit(
            ChangeSet(orders=(lost.snapshot,), fills=tuple(fills), cash=(CashBalance("USD", Decimal("1")),))
        )
    assert caught.value.code == "store_unavailable"
    assert caught.value.message.startswith("the database could not record the change (")
    assert caught.value.message.endswith("); nothing was stored")

    await harness.writable(True)  # even with the disk back, the store waits for the caller's reset
    with pytest.raises(StoreUnavailable, match="refuses changes since a write failed"):
        await store.commit(order_change(lost))
    assert not await store.is_ready()
    assert store.commits == commits  # type: ignore[attr-defined]
    # Reads keep working, and show only what was durable.
    assert await store.load_state() == before
    assert await store.get_order("o-lost") is None
    assert await store.fills_for_order("o-lost") == []
    assert await store.get_order("o-kept") == kept

    store.reset()
    assert await store.is_ready()
    await store.commit(order_change(lost, fills))
    assert await store.get_order("o-lost") == lost
    assert store.commits == commits + 1  # type: ignore[attr-defined]


async def test_reset_with_storage_still_broken_fails_again(harness: Harness) -> None:
    store = harness.store
    await harness.writable(False)
    order, _ = make_order("o-1")
    for _attempt in range(2):
        with pytest.raises(StoreUnavailable, match="could not record the change"):
            await store.commit(order_change(order))
        store.reset()
    await harness.writable(True)
    await store.commit(order_change(order))
    assert await store.get_order("o-1") == order


@pytest.mark.parametrize("problem", ["duplicate fill", "fill for an unknown order", "client id taken"])
async def test_a_constraint_violation_fails_the_whole_change_set(harness: Harness, problem: str) -> None:
    store = harness.store
    first, fills = make_order("o-1", OrderStatus.PARTIALLY_FILLED, client_order_id="c-1")
    await store.commit(order_change(first, fills[:1]))
    second, _ = make_order("o-2", client_order_id="c-2")
    if problem == "duplicate fill":
        bad = ChangeSet(orders=(second.snapshot,), fills=(fills[1], fills[0]))
    elif problem == "fill for an unknown order":
        orphan, orphan_fills = make_order("o-orphan", OrderStatus.FILLED)
        bad = ChangeSet(orders=(second.snapshot,), fills=(fills[1], *orphan_fills))
    else:
        thief, _ = make_order("o-3", client_order_id="c-1")
        bad = ChangeSet(orders=(second.snapshot, thief.snapshot), fills=(fills[1],))
    with pytest.raises(StoreUnavailable, match="constraint failed"):
        await store.commit(bad)
    assert await store.get_order("o-2") is None
    assert await store.get_order("o-3") is None
    assert await store.get_order_by_client_id("c-2") is None
    assert await store.get_order_by_client_id("c-1") == first
    assert await store.fills_for_order("o-1") == fills[:1]
    with pytest.raises(StoreUnavailable, match="refuses"):
        await store.commit(order_change(second))
    store.reset()
    await store.commit(order_change(second))
    assert [o.order_id for o in (await store.list_orders(OrderQuery())).orders] == ["o-2", "o-1"]


async def test_an_order_may_change_its_client_order_id(store: TradingStore) -> None:
    order, _ = make_order("o-1", client_order_id="c-old")
    await store.commit(order_change(order))
    renamed = replace(order.snapshot, request=replace(order.request, client_order_id="c-new"))
    await store.commit(ChangeSet(orders=(renamed,)))
    assert await store.get_order_by_client_id("c-old") is None
    assert (await store.get_order_by_client_id("c-new")).snapshot == renamed  # type: ignore[union-attr]
    other, _ = make_order("o-2", client_order_id="c-old")
    await store.commit(order_change(other))
    assert await store.get_order_by_client_id("c-old") == other


# -- lifecycle -----------------------------------------------------------------------------------


async def test_a_stopped_store_refuses_reads_and_writes(harness: Harness) -> None:
    store = harness.store
    await store.stop()
    assert not await store.is_ready()
    order, _ = make_order("o-1")
    with pytest.raises(StoreUnavailable, match="not running"):
        await store.commit(order_change(order))
    with pytest.raises(StoreUnavailable, match="not running"):
        await store.get_order("o-1")
    with pytest.raises(StoreUnavailable, match="not running"):
        await store.load_state()
    await store.stop()  # twice is harmless


async def test_timestamps_keep_their_microseconds(store: TradingStore) -> None:
    order, _ = make_order("o-1", OrderStatus.NEW, seconds=0.000001)
    order.accept(order.created_at + timedelta(microseconds=1))
    await store.commit(order_change(order))
    stored = await store.get_order("o-1")
    assert stored is not None
    assert (stored.created_at.microsecond, stored.updated_at.microsecond) == (678902, 678903)


# -- strategy records ------------------------------------------------------------------------------


async def test_a_strategy_record_round_trips_as_written(store: TradingStore) -> None:
    params = {
        "fast": 5,
        "ratio": 0.25,
        "threshold": "0.001500",  # decimals as strings, trailing zeros kept
        "enabled": True,
        "cap": None,
        "weights": [1, 2.5, "3"],
        "nested": {"a": {"b": []}},
    }
    record = strategy_record("mom.btc:1", params=params, status="error", reason="venue rejected")
    await store.commit(ChangeSet(strategies=(record,)))

    stored = await store.get_strategy("mom.btc:1")
    assert isinstance(stored, StrategyRecord) and stored == record
    assert stored.status is StrategyStatus.ERROR
    assert list(stored.params) == list(params)  # not reordered either
    assert await store.list_strategies() == [record]
    assert await store.get_strategy("mom.btc:2") is None


async def test_a_strategy_record_read_back_is_a_copy(store: TradingStore) -> None:
    record = strategy_record("s-1", params={"weights": [1, 2], "nested": {"a": 1}})
    await store.commit(ChangeSet(strategies=(record,)))
    stored = await store.get_strategy("s-1")
    assert stored == record and stored is not record
    stored.params["weights"].append(3)
    stored.params["nested"]["a"] = 2
    (listed,) = await store.list_strategies()
    listed.params["weights"].clear()
    assert await store.get_strategy("s-1") == strategy_record("s-1", params={"weights": [1, 2], "nested": {"a": 1}})
    assert await store.list_strategies() == [record]


async def test_timestamps_in_any_timezone_read_back_as_the_same_instants_in_utc(store: TradingStore) -> None:
    plus_two = timezone(timedelta(hours=2))
    record = dataclasses.replace(
        strategy_record("s-1"), created_at=T0.astimezone(plus_two), updated_at=at(1).astimezone(plus_two)
    )
    await store.commit(ChangeSet(strategies=(record,)))
    stored = await store.get_strategy("s-1")
    assert stored is not None and (stored.created_at, stored.updated_at) == (T0, at(1))
    assert stored.created_at.utcoffset() == stored.updated_at.utcoffset() == timedelta(0)


async def test_a_later_record_replaces_the_earlier_but_keeps_its_created_at_and_place(store: TradingStore) -> None:
    await store.commit(ChangeSet(strategies=(strategy_record("s-1", seconds=1), strategy_record("s-2", seconds=2))))
    stopped = strategy_record(
        "s-1", status="stopped", reason="operator stop", params={"fast": 7}, seconds=50, updated=60
    )
    await store.commit(ChangeSet(strategies=(stopped,)))

    expected = dataclasses.replace(stopped, created_at=at(1))
    assert await store.get_strategy("s-1") == expected
    assert await store.list_strategies() == [expected, strategy_record("s-2", seconds=2)]
    assert await store.list_strategies(StrategyStatus.STOPPED) == [expected]
    assert await store.list_strategies(StrategyStatus.RUNNING) == [strategy_record("s-2", seconds=2)]


async def test_upserts_of_one_record_in_one_change_set_and_across_concurrent_commits(store: TradingStore) -> None:
    first = strategy_record("s-1", seconds=1)
    second = strategy_record("s-1", status="stopped", reason="halted", seconds=9, updated=2)
    await store.commit(ChangeSet(strategies=(first, second)))
    assert await store.get_strategy("s-1") == dataclasses.replace(second, created_at=first.created_at)

    updates = [
        ChangeSet(strategies=(strategy_record("s-1", status="running", seconds=100 + n, updated=3 + n),))
        for n in range(100)
    ]
    await asyncio.gather(*(store.commit(changes) for changes in updates))
    last = strategy_record("s-1", status="running", seconds=199, updated=102)
    assert await store.get_strategy("s-1") == dataclasses.replace(last, created_at=first.created_at)
    assert len(await store.list_strategies()) == 1


async def test_strategies_are_listed_oldest_first_then_in_insertion_order(store: TradingStore) -> None:
    # Written out of creation order, several created at the same instant.
    layout = [("s-late", 30), ("s-b", 10), ("s-a", 10), ("s-early", 1), ("s-c", 10)]
    statuses = ["running", "stopped", "error", "running", "stopped"]
    records = {
        strategy_id: strategy_record(strategy_id, seconds=seconds, status=status)
        for (strategy_id, seconds), status in zip(layout, statuses, strict=True)
    }
    for record in records.values():
        await store.commit(ChangeSet(strategies=(record,)))

    def ids(listed: Any) -> list[str]:
        return [record.strategy_id for record in listed]

    assert ids(await store.list_strategies()) == ["s-early", "s-b", "s-a", "s-c", "s-late"]
    assert ids(await store.list_strategies(status=None)) == ["s-early", "s-b", "s-a", "s-c", "s-late"]
    assert ids(await store.list_strategies(StrategyStatus.RUNNING)) == ["s-early", "s-late"]
    assert ids(await store.list_strategies(StrategyStatus.STOPPED)) == ["s-b", "s-c"]
    assert await store.list_strategies(StrategyStatus.ERROR) == [records["s-a"]]

    # An update moves nothing: the place is the first write's.
    errored = dataclasses.replace(records["s-b"], status=StrategyStatus.ERROR, updated_at=at(86400))
    await store.commit(ChangeSet(strategies=(errored,)))
    assert ids(await store.list_strategies()) == ["s-early", "s-b", "s-a", "s-c", "s-late"]
    assert ids(await store.list_strategies(StrategyStatus.ERROR)) == ["s-b", "s-a"]


async def test_strategies_sort_by_instant_whatever_their_timezone(store: TradingStore) -> None:
    plus_two = timezone(timedelta(hours=2))
    later = dataclasses.replace(strategy_record("s-later"), created_at=at(0.5))
    earlier = dataclasses.replace(strategy_record("s-earlier"), created_at=at(0).astimezone(plus_two))
    earliest = dataclasses.replace(strategy_record("s-earliest"), created_at=at(-0.000001))
    await store.commit(ChangeSet(strategies=(later, earlier, earliest)))
    assert await store.list_strategies() == [earliest, earlier, later]


@pytest.mark.parametrize("status", ["paused", "RUNNING", "", 1, OrderStatus.OPEN])
async def test_an_unknown_strategy_status_filter_is_a_validation_error(store: TradingStore, status: Any) -> None:
    with pytest.raises(ValidationError, match="allowed: running, stopped, error") as caught:
        await store.list_strategies(status)
    assert caught.value.field == "status"


@pytest.mark.parametrize(
    "record",
    [
        {"strategy_id": "s-bad", "strategy": "momentum", "symbol": "BTC-USD", "params": {}, "status": "running",
         "reason": None, "created_at": "2026-01-02T03:04:05Z", "updated_at": "2026-01-02T03:04:05Z"},
        "s-bad",
        None,
    ],
)
async def test_anything_but_a_strategy_record_fails_its_caller_only(harness: Harness, record: Any) -> None:
    store = harness.store
    order, fills = make_order("o-1", OrderStatus.FILLED, strategy_id="s-bad")
    good = strategy_record("s-good")
    with pytest.raises(ValidationError, match="StrategyRecord") as caught:
        await store.commit(
            ChangeSet(orders=(order.snapshot,), fills=tuple(fills), strategies=(good, record))
        )
    assert caught.value.field == "strategies", caught.value.message
    # Nothing of the change set was stored, and the store carries on.
    assert await store.list_strategies() == []
    assert await store.get_order("o-1") is None
    assert await store.fills_for_strategy("s-bad") == []
    assert await store.is_ready()
    await store.commit(ChangeSet(orders=(order.snapshot,), fills=tuple(fills), strategies=(good,)))
    assert await store.list_strategies() == [good]
    assert await store.fills_for_strategy("s-bad") == fills


@pytest.mark.parametrize("problem", ["duplicate fill", "disk full"])
async def test_strategy_records_are_committed_with_the_rest_of_their_change_set_or_not_at_all(
    harness: Harness, problem: str
) -> None:
    store = harness.store
    kept = strategy_record("s-1", seconds=1)
    order, fills = make_order("o-1", OrderStatus.PARTIALLY_FILLED, strategy_id="s-1")
    await store.commit(ChangeSet(orders=(order.snapshot,), fills=(fills[0],), strategies=(kept,)))

    second, second_fills = make_order("o-2", OrderStatus.FILLED, strategy_id="s-2")
    changes = ChangeSet(
        orders=(second.snapshot,),
        fills=(*second_fills, fills[1]),
        strategies=(
            strategy_record("s-1", status="stopped", reason="halted", seconds=1, updated=5),
            strategy_record("s-2", seconds=2),
        ),
    )
    if problem == "duplicate fill":
        changes = ChangeSet(
            orders=changes.orders, fills=(*changes.fills, fills[0]), strategies=changes.strategies
        )
    else:
        await harness.writable(False)
    with pytest.raises(StoreUnavailable, match="nothing was stored"):
        await store.commit(changes)

    assert await store.get_strategy("s-1") == kept
    assert await store.get_strategy("s-2") is None
    assert await store.list_strategies() == [kept]
    assert await store.get_order("o-2") is None
    assert await store.fills_for_strategy("s-1") == fills[:1]
    assert await store.fills_for_strategy("s-2") == []

    await harness.writable(True)
    store.reset()
    await store.commit(ChangeSet(orders=changes.orders, fills=changes.fills[:3], strategies=changes.strategies))
    assert [record.strategy_id for record in await store.list_strategies()] == ["s-1", "s-2"]
    assert (await store.get_strategy("s-1")).status is StrategyStatus.STOPPED  # type: ignore[union-attr]
    assert await store.fills_for_strategy("s-1") == fills
    assert await store.fills_for_strategy("s-2") == second_fills


async def test_fills_for_strategy_are_its_fills_only_oldest_first(store: TradingStore) -> None:
    a1, a1_fills = make_order("o-a1", OrderStatus.FILLED, strategy_id="s-a")
    b1, b1_fills = make_order("o-b1", OrderStatus.PARTIALLY_FILLED, strategy_id="s-b")
    a2, a2_fills = make_order("o-a2", OrderStatus.PARTIALLY_FILLED, strategy_id="s-a")
    manual, manual_fills = make_order("o-manual", OrderStatus.FILLED)
    await store.commit(
        ChangeSet(orders=(a1.snapshot, b1.snapshot, a2.snapshot, manual.snapshot), fills=(a2_fills[0],))
    )
    await store.commit(ChangeSet(fills=(b1_fills[0], a1_fills[0], manual_fills[0])))
    await store.commit(ChangeSet(fills=(a1_fills[1], manual_fills[1], b1_fills[1], a2_fills[1])))

    assert await store.fills_for_strategy("s-a") == [a2_fills[0], a1_fills[0], a1_fills[1], a2_fills[1]]
    assert await store.fills_for_strategy("s-b") == b1_fills
    assert await store.fills_for_strategy("s-unknown") == []
    assert await store.fills_for_order("o-manual") == manual_fills  # fills without a strategy stay out
    (fill,) = [f for f in await store.fills_for_strategy("s-b") if f == b1_fills[0]]
    assert fill.to_dict() == b1_fills[0].to_dict()


async def test_strategy_records_are_not_part_of_the_loaded_state(store: TradingStore) -> None:
    await store.commit(ChangeSet(strategies=(strategy_record("s-1"),)))
    assert await store.load_state() is None
    account = account_change(trading_portfolio())
    await store.commit(account)
    state = await store.load_state()
    assert state == StoredState(account=account.account, cash=account.cash, positions=account.positions)


async def test_a_stopped_store_refuses_strategy_reads(harness: Harness) -> None:
    store = harness.store
    await store.stop()
    for read in (store.get_strategy("s-1"), store.list_strategies(), store.fills_for_strategy("s-1")):
        with pytest.raises(StoreUnavailable, match="not running"):
            await read


# -- retention: finished orders leave the store -----------------------------------------------------


async def _orders_in_every_status(store: TradingStore) -> dict[OrderStatus, tuple[Order, list[Any]]]:
    """One order per status, each updated a second after the previous one's creation."""
    made = {}
    for index, status in enumerate(OrderStatus):
        made[status] = make_order(
            f"o-{status.value}", status, client_order_id=f"c-{status.value}", strategy_id="s-1", seconds=index
        )
    for order, fills in made.values():
        await store.commit(order_change(order, fills))
    return made


TERMINAL = [status for status in OrderStatus if status.is_terminal]


async def test_aged_orders_are_the_finished_ones_updated_before_the_cutoff_oldest_first(store: TradingStore) -> None:
    made = await _orders_in_every_status(store)
    aged = await store.aged_orders(at(3600), 100)
    expected = sorted((made[status][0] for status in TERMINAL), key=lambda o: (o.updated_at, o.order_id))
    assert [item.order for item in aged] == expected
    for item in aged:
        assert [f.to_dict() for f in item.fills] == [f.to_dict() for f in made[item.order.status][1]]
    # The cutoff is exclusive and the limit bounds the batch.
    filled = made[OrderStatus.FILLED][0]
    before_filled = await store.aged_orders(filled.updated_at, 100)
    assert filled not in [item.order for item in before_filled]
    assert all(item.order.updated_at < filled.updated_at for item in before_filled)
    assert [item.order for item in await store.aged_orders(at(3600), 2)] == expected[:2]
    assert await store.aged_orders(at(-1), 100) == []


async def test_the_memory_stores_forget_finished_deletes_what_aged_orders_names_and_delete_orders_would() -> None:
    """A backtest's clear-out: the finished orders updated before the cutoff leave with their fills,
    exactly those ``aged_orders`` answers, open ones stay."""
    store = InMemoryTradingStore()
    await store.start()
    made = await _orders_in_every_status(store)
    cutoff = max(order.updated_at for order, _fills in made.values() if order.status.is_terminal)
    leaving = {item.order.order_id for item in await store.aged_orders(cutoff, 100)}
    assert len(leaving) == len(TERMINAL) - 1  # the last finished one is not before the cutoff
    assert await store.forget_finished(cutoff) == len(leaving)
    for status, (order, fills) in made.items():
        kept = order.order_id not in leaving
        assert (await store.get_order(order.order_id) is not None) is kept, status
        assert len(await store.fills_for_order(order.order_id)) == (len(fills) if kept else 0), status
    assert await store.aged_orders(cutoff, 100) == []
    assert await store.forget_finished(cutoff) == 0
    with pytest.raises(ValidationError):
        await store.forget_finished(datetime(2026, 1, 1))


async def test_aged_orders_are_archived_as_the_exact_lines_of_their_records(
    store: TradingStore, tmp_path: Path
) -> None:
    for order, fills in known_finished_orders():
        await store.commit(order_change(order, fills))
    archive = GzipCsvArchive(tmp_path / "archive")
    await archive.append(await store.aged_orders(at(3600), 100))
    assert {path.name: gzip.decompress(path.read_bytes()).decode()
            for path in sorted((tmp_path / "archive").glob("*.csv.gz"))} == {
        "fills-2026-01-02.csv.gz": KNOWN_FILL_LINES, "orders-2026-01-02.csv.gz": KNOWN_ORDER_LINES,
    }


async def test_deleted_orders_and_their_fills_are_gone_and_the_account_is_untouched(store: TradingStore) -> None:
    account = account_change(trading_portfolio())
    await store.commit(account)
    made = await _orders_in_every_status(store)
    before = await store.load_state()
    ids = [order.order_id for order, _fills in made.values()]  # open ones too: they must stay

    assert await store.delete_orders(ids) == len(TERMINAL)

    for status, (order, fills) in made.items():
        if status.is_terminal:
            assert await store.get_order(order.order_id) is None
            assert await store.get_order_by_client_id(f"c-{status.value}") is None
            assert await store.fills_for_order(order.order_id) == []
        else:
            assert await store.get_order(order.order_id) == order
            assert await store.fills_for_order(order.order_id) == fills
    kept = [order.order_id for status, (order, _f) in made.items() if not status.is_terminal]
    assert (await store.list_orders(OrderQuery())).orders == tuple(
        made[status][0] for status in reversed(list(OrderStatus)) if not status.is_terminal
    )
    assert [f.order_id for f in await store.fills_for_strategy("s-1")] == [
        f.order_id for f in made[OrderStatus.PARTIALLY_FILLED][1]
    ]
    assert await store.load_state() == before  # cash, positions, account, open orders: as they were
    assert await store.aged_orders(at(3600), 100) == []
    assert await store.delete_orders(ids) == 0  # again: nothing left to delete
    stats = await store.stats()
    assert (stats.orders, stats.fills, stats.open_orders) == (len(kept), 2, 2)


async def test_a_client_order_id_of_a_deleted_order_names_a_new_order(store: TradingStore) -> None:
    old, fills = make_order("o-old", OrderStatus.FILLED, client_order_id="retry-me")
    await store.commit(order_change(old, fills))
    await store.delete_orders(["o-old"])
    new, new_fills = make_order("o-new", OrderStatus.FILLED, client_order_id="retry-me", seconds=10)
    await store.commit(order_change(new, new_fills))
    assert await store.get_order_by_client_id("retry-me") == new


async def test_folded_fills_are_stored_with_the_deletion_and_replaced_by_later_ones(store: TradingStore) -> None:
    order, fills = make_order("o-1", OrderStatus.FILLED, strategy_id="s-1")
    await store.commit(order_change(order, fills))
    position = Position("BTC-USD")
    for fill in fills:
        position.apply_fill(fill.side, fill.quantity, fill.price, fill.fee)
    first = FoldedFills("s-1", position.snapshot, trades=2, closing_fills=0, winning_fills=0)
    assert await store.folded_fills(["s-1", "s-2"]) == {}

    assert await store.delete_orders(["o-1"], [first]) == 1
    stored = await store.folded_fills(["s-1", "s-2"])
    assert stored == {"s-1": first} and stored["s-1"].to_dict() == first.to_dict()

    later = replace(first, trades=5, closing_fills=1, winning_fills=1)
    assert await store.delete_orders([], [later]) == 0
    assert await store.folded_fills(["s-1"]) == {"s-1": later}


async def test_stats_count_rows_and_name_the_oldest_finished_update(store: TradingStore) -> None:
    empty = await store.stats()
    assert (empty.orders, empty.fills, empty.open_orders, empty.oldest_terminal_update) == (0, 0, 0, None)
    made = await _orders_in_every_status(store)
    stats = await store.stats()
    assert stats.orders == len(OrderStatus)
    assert stats.fills == sum(len(fills) for _o, fills in made.values())
    assert stats.open_orders == 2
    assert stats.oldest_terminal_update == min(made[status][0].updated_at for status in TERMINAL)
    assert (stats.size_bytes is None) == isinstance(store, InMemoryTradingStore)
    assert stats.size_bytes is None or stats.size_bytes > 0


async def test_a_failed_deletion_changes_nothing_and_the_store_keeps_taking_commits(harness: Harness) -> None:
    store = harness.store
    order, fills = make_order("o-1", OrderStatus.FILLED, strategy_id="s-1")
    await store.commit(order_change(order, fills))
    folded = FoldedFills("s-1", Position("BTC-USD").snapshot, trades=2)
    await harness.writable(False)
    with pytest.raises(StoreUnavailable, match="could not delete aged orders"):
        await store.delete_orders(["o-1"], [folded])
    await harness.writable(True)

    assert await store.get_order("o-1") == order and await store.fills_for_order("o-1") == fills
    assert await store.folded_fills(["s-1"]) == {}
    assert await store.is_ready()  # not failed: a deletion that did not happen leaves memory right
    later, later_fills = make_order("o-2", OrderStatus.FILLED, seconds=5)
    await store.commit(order_change(later, later_fills))
    assert await store.delete_orders(["o-1"], [folded]) == 1


@pytest.mark.parametrize("limit", [0, 10_001, "5", True])
async def test_aged_orders_refuse_a_bad_limit(store: TradingStore, limit: Any) -> None:
    with pytest.raises(ValidationError, match="limit"):
        await store.aged_orders(at(0), limit)


async def test_aged_orders_refuse_a_naive_cutoff(store: TradingStore) -> None:
    with pytest.raises(ValidationError, match="cutoff"):
        await store.aged_orders(at(0).replace(tzinfo=None), 10)


async def test_delete_orders_refuses_anything_but_ids_and_folded_fills(store: TradingStore) -> None:
    with pytest.raises(ValidationError, match="order_ids"):
        await store.delete_orders("o-1")
    with pytest.raises(ValidationError, match="folded"):
        await store.delete_orders(["o-1"], [{"strategy_id": "s-1"}])  # type: ignore[list-item]


async def test_a_stopped_store_refuses_retention_calls(harness: Harness) -> None:
    store = harness.store
    await store.stop()
    for call in (store.aged_orders(at(0), 1), store.delete_orders(["o-1"]), store.folded_fills(["s-1"]),
                 store.fills_for_strategies_through({"s-1": ["f-1"]}), store.stats()):
        with pytest.raises(StoreUnavailable, match="not running"):
            await call


async def test_reclaiming_space_after_a_deletion_keeps_the_store_as_it_was(store: TradingStore) -> None:
    kept, kept_fills = make_order("o-open", OrderStatus.PARTIALLY_FILLED)
    gone, gone_fills = make_order("o-gone", OrderStatus.FILLED)
    await store.commit(ChangeSet(orders=(kept.snapshot, gone.snapshot), fills=(*kept_fills, *gone_fills)))
    assert await store.delete_orders(["o-gone"]) == 1
    before = await store.load_state()
    await store.reclaim_space()
    assert await store.load_state() == before
    assert await store.get_order("o-open") == kept and await store.get_order("o-gone") is None
    later, later_fills = make_order("o-later", OrderStatus.FILLED)
    await store.commit(order_change(later, later_fills))  # and it goes on taking commits
    assert await store.get_order("o-later") == later


async def through(store: TradingStore, strategy_id: str, fill_ids: list[str]) -> list[Fill]:
    """``fills_for_strategies_through`` for one instance."""
    found = await store.fills_for_strategies_through({strategy_id: fill_ids})
    assert list(found) == [strategy_id]
    return list(found[strategy_id])


async def test_fills_for_strategies_through_end_at_the_newest_fill_named(store: TradingStore) -> None:
    a1, a1_fills = make_order("o-a1", OrderStatus.FILLED, strategy_id="s-a")
    long, long_fills = make_order("o-long", OrderStatus.PARTIALLY_FILLED, strategy_id="s-a")
    b1, b1_fills = make_order("o-b1", OrderStatus.FILLED, strategy_id="s-b")
    await store.commit(ChangeSet(orders=(a1.snapshot, long.snapshot, b1.snapshot), fills=(long_fills[0],)))
    await store.commit(ChangeSet(fills=(a1_fills[0], b1_fills[0], a1_fills[1])))
    await store.commit(ChangeSet(fills=(long_fills[1], b1_fills[1])))

    # Up to the newest named, in commit order, the open order's fills included; other instances out.
    assert await through(store, "s-a", [a1_fills[1].fill_id, a1_fills[0].fill_id]) == [
        long_fills[0], a1_fills[0], a1_fills[1]
    ]
    assert await through(store, "s-a", [long_fills[0].fill_id]) == [long_fills[0]]
    everything = await through(store, "s-a", [long_fills[1].fill_id, a1_fills[0].fill_id])
    assert everything == await store.fills_for_strategy("s-a")
    assert await through(store, "s-b", [b1_fills[0].fill_id]) == [b1_fills[0]]
    # A fill that is not stored, or another instance's, bounds nothing.
    assert await through(store, "s-a", ["f-unknown"]) == []
    assert await through(store, "s-a", []) == []
    assert await through(store, "s-b", [a1_fills[0].fill_id]) == []
    await store.delete_orders(["o-a1"])
    assert await through(store, "s-a", [a1_fills[1].fill_id]) == []
    # Several instances in one read: each its own range, the other's ids bounding nothing.
    both = await store.fills_for_strategies_through(
        {"s-a": [a1_fills[0].fill_id, long_fills[0].fill_id], "s-b": [b1_fills[1].fill_id, long_fills[1].fill_id]}
    )
    assert {key: list(value) for key, value in both.items()} == {"s-a": [long_fills[0]], "s-b": list(b1_fills)}
    assert await store.fills_for_strategies_through({}) == {}
    for bad in ({"s-a": "f-1"}, ["s-a"], {"s-a": [1]}):
        with pytest.raises(ValidationError, match="fill_ids"):
            await store.fills_for_strategies_through(bad)  # type: ignore[arg-type]


async def test_a_sweep_never_changes_what_an_instance_rebuilds_to(store: TradingStore) -> None:
    """A long-lived partially filled order whose first fill precedes fills of orders that age out,
    and a finished order not aged yet: the rebuild after each sweep is the live instance exactly."""
    clock = FakeClock(T0)
    history = History(store, clock)
    long = await history.place("buy", "10")
    clock.advance(1)
    await history.fill(long, "2", "100")
    for side, price in (("buy", "120"), ("sell", "130")):
        clock.advance(1)
        await history.fill(await history.place(side, {"buy": "2", "sell": "3"}[side]), None, price)
    clock.advance(1)
    late = await history.place("sell", "2")
    await history.fill(late, "1", "90")
    clock.advance(1)
    await history.fill(await history.place("sell", "1"), None, "110")
    clock.advance(45)
    await history.cancel(late)  # finished, but later than the first cutoff
    live = history.tracks["s-1"]
    assert state(await history.rebuilt("s-1")) == state(live)  # the rebuild without a sweep
    assert live.position.realized_pnl == Decimal("40") and live.closing_fills == 2 and live.winning_fills == 1

    clock.advance(10)
    assert await history.sweep(timedelta(seconds=30)) == 3  # the orders filled at 2, 3 and 5 s
    folded = (await store.folded_fills(["s-1"]))["s-1"]
    assert dict(folded.kept_fills) == {long: 1, late: 1}  # folded, but still stored
    assert folded.trades == 5
    assert state(await history.rebuilt("s-1")) == state(live)

    clock.advance(1)
    await history.fill(long, "3", "95")  # the long-lived order fills on after the sweep
    clock.advance(30)
    assert await history.sweep(timedelta(seconds=30)) == 1  # the cancelled order leaves now
    assert dict((await store.folded_fills(["s-1"]))["s-1"].kept_fills) == {long: 1}
    assert state(await history.rebuilt("s-1")) == state(live)

    await history.fill(long, None, "105")
    clock.advance(60)
    assert await history.sweep(timedelta(seconds=30)) == 1
    assert await store.fills_for_strategy("s-1") == []
    folded = (await store.folded_fills(["s-1"]))["s-1"]
    assert dict(folded.kept_fills) == {}
    assert state(PerformanceTrack.starting_from("BTC-USD", folded)) == state(live)


@pytest.mark.parametrize("seed", range(6))
async def test_random_histories_with_sweeps_at_random_cutoffs_rebuild_exactly(store: TradingStore, seed: int) -> None:
    assert await random_history(store, seed, events=60) == []


# -- the newest time stored (where a replay resumes) ------------------------------------------------


async def test_the_latest_update_is_the_newest_time_of_any_order_strategy_or_breaker(store: TradingStore) -> None:
    assert await store.latest_update() is None
    filled, fills = make_order("o-filled", OrderStatus.FILLED, seconds=10)  # last fill at 11.25
    resting, _ = make_order("o-open", OrderStatus.OPEN, seconds=5)  # accepted at 5.000001
    await store.commit(ChangeSet(orders=(filled.snapshot, resting.snapshot), fills=tuple(fills)))
    assert await store.latest_update() == at(11.25)

    # An older order updated later (a resting order that fills) moves it on; so does a record.
    resting.cancel(at(20), reason="client asked")
    await store.commit(order_change(resting))
    assert await store.latest_update() == at(20)
    await store.commit(ChangeSet(strategies=(strategy_record("s-1", seconds=1, updated=30.5),)))
    assert await store.latest_update() == at(30.5)
    new, _ = make_order("o-new", OrderStatus.NEW, seconds=31)
    await store.commit(order_change(new))
    assert await store.latest_update() == at(31)

    breaker = CircuitBreaker()
    breaker.trip("daily loss limit reached", at(40).astimezone(timezone(timedelta(hours=2))))
    await store.commit(ChangeSet(breaker=breaker.state))
    assert await store.latest_update() == at(40)
    breaker.reset(at(41))
    await store.commit(ChangeSet(breaker=breaker.state))
    assert await store.latest_update() == at(41)
