"""A store that stops taking writes: every change whose commit failed is undone, memory and the
venue book go back to the last durable state, and trading resumes once the store is repaired.

``InMemoryTradingStore.fail_commits(exc)`` stands for a disk that refuses writes until
``fail_commits(None)``; the account reloads the durable state and calls ``reset()`` after each
failure, which lets the store try again but does not repair it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal

import pytest
from structlog.testing import capture_logs

from tests.support.engine import (  # noqa: F401  (make_engine is a fixture)
    D,
    Engine,
    SlowStore,
    assert_durable_matches_memory,
    build_engine,
    make_engine,
)
from trading_engine.domain.errors import StoreUnavailable, ValidationError
from trading_engine.domain.orders import OrderStatus
from trading_engine.domain.ports.repository import OrderQuery, StoredState
from trading_engine.infrastructure.persistence.memory import InMemoryTradingStore
from trading_engine.services.account import Account
from tests.support.trading_data import INSTRUMENTS, make_order, order_change

DISK_FULL = OSError(28, "No space left on device")


@dataclass
class Snapshot:
    cash: dict[str, Decimal]
    reserved: dict[str, Decimal]
    positions: dict
    open_orders: dict[str, dict]
    breaker: dict
    resting: set[str]
    orders_stored: int


async def snapshot(engine: Engine) -> Snapshot:
    """Memory and venue right now, after checking they equal the durable state."""
    await assert_durable_matches_memory(engine)
    account = engine.account
    return Snapshot(
        cash=account.portfolio.cash,
        reserved=account.portfolio.reserved,
        positions={s: p.to_dict() for s, p in account.portfolio.positions.items()},
        open_orders={i: o.to_dict() for i, o in account.open_orders.items()},
        breaker=account.breaker.to_dict(),
        resting=set(engine.venue.resting()),
        orders_stored=len((await engine.store.list_orders(OrderQuery(limit=1000))).orders),
    )


async def test_a_failed_place_undoes_itself_and_the_account_is_the_durable_one(make_engine) -> None:
    engine = await make_engine()
    resting = await engine.place("BTC-USD", "buy", "0.1", "49000")  # ord-1, before the failure
    await engine.place("ETH-USD", "buy", "1")  # ord-2
    before = await snapshot(engine)
    assert before.reserved == {"USD": D("4904.9")} and before.resting == {resting.order_id}

    engine.store.fail_commits(DISK_FULL)
    with capture_logs() as logs:
        with pytest.raises(StoreUnavailable, match="nothing was stored"):
            await engine.place("ETH-USD", "buy", "0.5")  # ord-3: filled on the venue, then not stored
    assert "account_reloaded_after_failed_write" in [e["event"] for e in logs]
    assert await snapshot(engine) == before

    with pytest.raises(StoreUnavailable):
        await engine.place("BTC-USD", "buy", "0.01", "48000")  # ord-4: rested on the venue, not stored
    assert "ord-4" not in engine.venue.resting() and "ord-4" not in engine.account.open_orders
    with pytest.raises(StoreUnavailable):
        await engine.place("BTC-USD", "buy", "1")  # ord-5: a rejection must be stored too
    with pytest.raises(StoreUnavailable):
        await engine.orders.cancel(resting.order_id)  # taken off the venue, then put back
    with pytest.raises(StoreUnavailable):
        await engine.risk.trip("cannot be recorded")
    assert not engine.account.breaker.is_open

    after = await snapshot(engine)
    assert after == before
    for order_id in ("ord-3", "ord-4", "ord-5"):
        assert await engine.store.get_order(order_id) is None
    assert (await engine.orders.get(resting.order_id)).status is OrderStatus.OPEN
    assert engine.store.failed is False  # reset after reloading; the "disk" is still broken though
    with pytest.raises(StoreUnavailable):
        await engine.place("ETH-USD", "buy", "0.5")

    engine.store.fail_commits(None)
    order = await engine.place("ETH-USD", "buy", "0.5")
    assert order.status is OrderStatus.FILLED
    # The order placed before the failure is still on the venue and fills when the price crosses.
    engine.market.push("BTC-USD", "48999.99")
    await engine.settle()
    filled = await engine.store.get_order(resting.order_id)
    assert filled is not None and filled.status is OrderStatus.FILLED
    assert engine.account.portfolio.reserved == {}
    # 10000 - ETH 1 @ 3000.6 (+3.0006) - ETH 0.5 @ 3000.6 (+1.5003) - BTC 0.1 @ 49000 (+4.9)
    assert engine.account.portfolio.cash_balance("USD") == D("10000") - D("3003.6006") - D("1501.8003") - D("4904.9")
    await assert_durable_matches_memory(engine)


async def test_a_venue_fill_while_commits_fail_is_undone_and_the_book_restored(make_engine) -> None:
    engine = await make_engine(liquidity={"BTC-USD": "0.05"})
    order = await engine.place("BTC-USD", "buy", "0.12", "49000")
    engine.market.push("BTC-USD", "48000")  # 0.05 fills and is stored
    await engine.settle()
    before = await snapshot(engine)
    assert before.reserved == {"USD": D("3433.43")}

    engine.store.fail_commits(DISK_FULL)
    with capture_logs() as logs:
        engine.market.push("BTC-USD", "48000")  # 0.05 more fills on the venue; its write fails
        await engine.settle()
    assert "venue_event_not_recorded" in [e["event"] for e in logs]
    assert await snapshot(engine) == before
    assert engine.account.open_orders[order.order_id].filled_quantity == D("0.05")
    assert len(await engine.store.fills_for_order(order.order_id)) == 1

    engine.store.fail_commits(None)
    for _ in range(3):  # the restored book holds the 0.07 left: 0.05 then 0.02
        engine.market.push("BTC-USD", "48000")
        await engine.settle()
    fills = await engine.store.fills_for_order(order.order_id)
    assert [f.quantity for f in fills] == [D("0.05"), D("0.05"), D("0.02")]
    assert (await engine.store.get_order(order.order_id)).status is OrderStatus.FILLED  # type: ignore[union-attr]
    assert engine.account.portfolio.cash_balance("USD") == D("10000") - D("5880") - D("5.88")
    assert engine.account.portfolio.reserved == {}
    await assert_durable_matches_memory(engine)


async def test_a_fill_not_yet_written_is_undone_by_a_failed_order_and_fills_again_later(make_engine) -> None:
    engine = await make_engine()
    resting = await engine.place("BTC-USD", "sell", "0.1", "50100")
    before = await snapshot(engine)
    engine.market.push("BTC-USD", "50200")  # filled in memory; its write is still to come
    engine.store.fail_commits(DISK_FULL)
    with pytest.raises(StoreUnavailable):
        await engine.place("ETH-USD", "buy", "1")  # carries the fill with it, and fails
    await engine.settle()
    assert await snapshot(engine) == before
    engine.store.fail_commits(None)
    await engine.settle()
    assert await engine.store.fills_for_order(resting.order_id) == []
    engine.market.push("BTC-USD", "50200")
    await engine.settle()
    (fill,) = await engine.store.fills_for_order(resting.order_id)
    assert fill.quantity == D("0.1")
    await assert_durable_matches_memory(engine)


async def test_an_expiry_while_commits_fail_is_undone_and_happens_again(make_engine) -> None:
    engine = await make_engine(order_timeout_seconds=30)
    order = await engine.place("BTC-USD", "buy", "0.1", "49000")
    before = await snapshot(engine)
    engine.store.fail_commits(DISK_FULL)
    engine.clock.advance(30)
    engine.market.push("BTC-USD", "50000")
    await engine.settle()
    assert await snapshot(engine) == before  # open again, its cash reserved again, back on the venue
    engine.store.fail_commits(None)
    engine.market.push("BTC-USD", "50000")
    await engine.settle()
    assert (await engine.store.get_order(order.order_id)).status is OrderStatus.EXPIRED  # type: ignore[union-attr]
    assert engine.account.portfolio.reserved == {}
    await assert_durable_matches_memory(engine)


async def test_a_tripped_breaker_stays_tripped_when_its_reset_fails(make_engine) -> None:
    engine = await make_engine()
    await engine.risk.trip("halt")
    before = await snapshot(engine)
    engine.store.fail_commits(DISK_FULL)
    with pytest.raises(StoreUnavailable):
        await engine.risk.reset("back")
    assert await snapshot(engine) == before and engine.account.breaker.is_open
    engine.store.fail_commits(None)
    assert (await engine.risk.reset("back")).changed
    assert (await engine.place("BTC-USD", "buy", "0.01")).status is OrderStatus.FILLED


async def test_concurrent_orders_during_a_failure_all_fail_and_none_survives() -> None:
    engine = await build_engine(store=SlowStore(), initial_cash={"USD": "100000"})
    try:
        resting = await engine.place("BTC-USD", "buy", "0.1", "49000")
        await engine.place("ETH-USD", "buy", "1")
        before = await snapshot(engine)
        engine.store.fail_commits(DISK_FULL)
        requests = [("ETH-USD", "buy", "0.1", None), ("BTC-USD", "sell", "0.01", None),
                    ("BTC-USD", "buy", "0.01", "48000"), ("ETH-USD", "sell", "0.2", "3100")] * 5
        outcomes = await asyncio.gather(*(engine.place(*r) for r in requests), return_exceptions=True)
        assert all(isinstance(o, StoreUnavailable) for o in outcomes), outcomes
        await engine.settle()
        assert await snapshot(engine) == before

        engine.store.fail_commits(None)
        outcomes = await asyncio.gather(*(engine.place(*r) for r in requests))
        assert {o.status for o in outcomes} == {OrderStatus.FILLED, OrderStatus.OPEN}
        engine.market.push_many({"BTC-USD": "47000", "ETH-USD": "3200"})
        await engine.settle()
        assert (await engine.store.get_order(resting.order_id)).status is OrderStatus.FILLED  # type: ignore[union-attr]
        state: StoredState = await assert_durable_matches_memory(engine)
        assert state.open_orders == ()
    finally:
        await engine.close()


async def test_a_fresh_account_whose_first_order_fails_goes_back_to_the_initial_cash(make_engine) -> None:
    engine = await make_engine()
    before = await snapshot(engine)
    engine.store.fail_commits(DISK_FULL)
    with pytest.raises(StoreUnavailable):
        await engine.place("BTC-USD", "buy", "0.1")
    assert await snapshot(engine) == before
    assert engine.account.portfolio.cash == {"USD": D("10000")}


class _RestoreRecorder:
    """The one venue call ``Account.load`` makes: handing back the resting orders."""

    def __init__(self) -> None:
        self.restored: tuple | None = None

    def restore(self, orders: tuple) -> None:
        self.restored = orders


async def test_a_store_holding_orders_but_no_account_settings_is_refused_by_name() -> None:
    store = InMemoryTradingStore()
    await store.start()
    order, _ = make_order("o-1")
    await store.commit(order_change(order))
    venue = _RestoreRecorder()
    account = Account(
        store, venue, INSTRUMENTS, reporting_currency="USD", initial_cash={"USD": Decimal("1")},  # type: ignore[arg-type]
        fee_bps=Decimal("0"),
    )
    with pytest.raises(ValidationError, match="reporting_currency") as caught:
        await account.load()
    assert caught.value.field == "reporting_currency"
    assert venue.restored is None and store.commits == 1  # nothing handed to the venue, nothing written
