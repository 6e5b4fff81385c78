"""A schema-version-2 database written before the store took typed values still opens and reads.

``tests/fixtures/schema_v2.db`` was written by the store of commit 84d226e (change sets of dicts;
``tests/fixtures/make_schema_v2.py`` says how); ``schema_v2.json`` holds what it was given, as the
``to_dict()`` of each value. The test reads a copy, so the fixture itself never changes.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from trading_engine.domain.decimals import plain
from trading_engine.domain.orders import Order, OrderStatus
from trading_engine.domain.portfolio import AccountSettings, CashBalance, Portfolio
from trading_engine.domain.ports.repository import ChangeSet, OrderQuery
from trading_engine.domain.strategy_record import StrategyRecord, StrategyStatus
from trading_engine.infrastructure.persistence.sqlite import SqliteTradingStore
from tests.integration.test_sqlite_store import query
from tests.support.trading_data import at, make_order

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
EXPECTED: dict[str, Any] = json.loads((FIXTURES / "schema_v2.json").read_text())


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteTradingStore]:
    path = tmp_path / "schema_v2.db"
    shutil.copyfile(FIXTURES / "schema_v2.db", path)
    opened = SqliteTradingStore(path, synchronous="NORMAL")
    await opened.start()
    try:
        yield opened
    finally:
        await opened.stop()


def test_the_fixture_is_a_version_2_file() -> None:
    assert query(FIXTURES / "schema_v2.db", "SELECT version FROM schema_version ORDER BY version") == [(1,), (2,)]
    assert len(EXPECTED["orders"]) == len(OrderStatus) and len(EXPECTED["fills"]) > 0


async def test_its_orders_and_fills_read_back_exactly(store: SqliteTradingStore) -> None:
    for record in EXPECTED["orders"]:
        order = await store.get_order(record["order_id"])
        assert order is not None and order.to_dict() == record
        assert await store.get_order_by_client_id(record["client_order_id"]) == order
        fills = [fill for fill in EXPECTED["fills"] if fill["order_id"] == record["order_id"]]
        assert [fill.to_dict() for fill in await store.fills_for_order(record["order_id"])] == fills
    page = await store.list_orders(OrderQuery(limit=1000))
    assert [order.to_dict() for order in page.orders] == EXPECTED["orders"][::-1]


async def test_its_finished_orders_age_out_as_the_records_to_dict_writes(store: SqliteTradingStore) -> None:
    """The archive writes the stored records as they are: for this older file too they are what
    ``to_dict`` of the parsed order and fills gives, so its archive lines are those of the values."""
    aged = await store.aged_orders(datetime.fromisoformat("2100-01-01T00:00:00+00:00"), 100)
    finished = [record for record in EXPECTED["orders"] if OrderStatus(record["status"]).is_terminal]
    assert sorted(item.order_id for item in aged) == sorted(record["order_id"] for record in finished)
    for item in aged:
        assert item.record == item.order.to_dict() and list(item.record) == list(item.order.to_dict())
        assert list(item.fill_records) == [fill.to_dict() for fill in item.fills]
        assert list(item.fill_records) == [f for f in EXPECTED["fills"] if f["order_id"] == item.order_id]


async def test_its_account_positions_cash_and_breaker_load(store: SqliteTradingStore) -> None:
    state = await store.load_state()
    assert state is not None
    portfolio = EXPECTED["portfolio"]
    assert state.account == AccountSettings(portfolio["reporting_currency"])
    assert [position.to_dict() for position in state.positions] == portfolio["positions"]
    assert {cash.currency: plain(cash.balance) for cash in state.cash} == portfolio["cash"]
    assert {cash.currency: plain(cash.reserved) for cash in state.cash if cash.reserved} == portfolio["reserved"]
    restored = Portfolio.restore(state.account, state.cash, state.positions)
    for currency, amount in portfolio["reserved"].items():
        restored.reserve(currency, amount)
    assert restored == Portfolio.from_dict(portfolio)
    assert state.breaker is not None and state.breaker.to_dict() == EXPECTED["breaker"]
    open_orders = [record for record in EXPECTED["orders"] if OrderStatus(record["status"]).is_open]
    assert [order.to_dict() for order in state.open_orders] == open_orders


def _expected_record(stored: dict[str, Any]) -> StrategyRecord:
    return StrategyRecord(
        strategy_id=stored["strategy_id"],
        strategy=stored["strategy"],
        symbol=stored["symbol"],
        params=stored["params"],
        status=StrategyStatus(stored["status"]),
        reason=stored["reason"],
        created_at=datetime.fromisoformat(stored["created_at"]),
        updated_at=datetime.fromisoformat(stored["updated_at"]),
    )


async def test_its_strategy_records_and_their_fills_read_back(store: SqliteTradingStore) -> None:
    expected = [_expected_record(stored) for stored in EXPECTED["strategies"]]
    assert await store.list_strategies() == expected
    for record in expected:
        assert await store.get_strategy(record.strategy_id) == record
    strategy_fills = [fill for fill in EXPECTED["fills"] if fill["strategy_id"] == "s-1"]
    assert strategy_fills, "the fixture should hold fills of a strategy instance"
    assert [fill.to_dict() for fill in await store.fills_for_strategy("s-1")] == strategy_fills


async def test_it_is_migrated_to_version_3_and_takes_new_writes(store: SqliteTradingStore) -> None:
    state = await store.load_state()
    assert state is not None
    (resting, *_rest) = state.open_orders
    order, made = make_order("o-new", OrderStatus.FILLED, seconds=100)
    fills = [replace(fill, fill_id=f"new-{fill.fill_id}") for fill in made]  # ids unused in the file
    resting.cancel(at(200), reason="after the upgrade")
    await store.commit(
        ChangeSet(
            orders=(order.snapshot, resting.snapshot),
            fills=tuple(fills),
            cash=(CashBalance("USD", Decimal("1.50")),),
        )
    )
    assert await store.get_order("o-new") == order
    assert await store.fills_for_order("o-new") == fills
    assert await store.get_order(resting.order_id) == resting
    again = await store.load_state()
    assert again is not None and resting.order_id not in [o.order_id for o in again.open_orders]
    assert [cash for cash in again.cash if cash.currency == "USD"] == [CashBalance("USD", Decimal("1.50"))]
    # Version 3 adds the retention's index and table, and the file is rebuilt once with incremental
    # auto-vacuum (the reads above are of the migrated file).
    assert query(store.path, "SELECT version FROM schema_version ORDER BY version") == [(1,), (2,), (3,)]
    assert query(store.path, "PRAGMA auto_vacuum") == [(2,)]
    assert isinstance((await store.list_orders(OrderQuery(limit=1))).orders[0], Order)
