"""OrderService over fakes: fills, resting orders, reservations, expiry, cancels, idempotency and
exact decimals, with the paper venue matching against quotes the test pushes.

Numbers used below (default engine: fee 10 bps, slippage 2 bps, 10,000 USD, BTC-USD at 50,000):
a market buy of BTC pays ``ceil_tick(50000 * 1.0002) = 50010`` plus a fee of ``notional * 0.001``;
a resting buy reserves ``remaining * limit * 1.001``.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from tests.support.engine import (  # noqa: F401  (make_engine is a fixture)
    D,
    Engine,
    SlowStore,
    assert_durable_matches_memory,
    build_engine,
    counted,
    make_engine,
)
from trading_engine.domain.errors import Conflict, NotFound, ValidationError
from trading_engine.domain.orders import OrderStatus, Side
from trading_engine.domain.ports.repository import OrderQuery
from trading_engine.infrastructure.market.paper_venue import IOC_NOT_MARKETABLE, IOC_REMAINDER_CANCELLED
from trading_engine.services.orders import OrderRejected, OrderRequest


async def stored(engine: Engine, order_id: str):
    order = await engine.store.get_order(order_id)
    assert order is not None, f"{order_id} is not in the store"
    return order


async def durable_cash(engine: Engine) -> dict[str, tuple[Decimal, Decimal]]:
    state = await engine.store.load_state()
    assert state is not None
    return {cash.currency: (cash.balance, cash.reserved) for cash in state.cash}


# -- market orders ------------------------------------------------------------------------------


async def test_market_buy_fills_at_once_with_exact_cash_position_and_stored_fill(make_engine) -> None:
    engine = await make_engine()
    order = await engine.place("BTC-USD", "buy", "0.1")

    assert order.status is OrderStatus.FILLED
    assert order.filled_quantity == D("0.1")
    assert order.average_fill_price == D("50010")
    assert order.fees == D("5.001")
    portfolio = engine.account.portfolio
    assert portfolio.cash_balance("USD") == D("4993.999")  # 10000 - 5001 - 5.001
    assert portfolio.available_cash("USD") == D("4993.999")
    position = portfolio.position("BTC-USD")
    assert (position.quantity, position.average_entry_price, position.fees_paid) == (D("0.1"), D("50010"), D("5.001"))

    # Durable before place returned: the order, its fill, the position and the cash.
    assert await stored(engine, order.order_id) == order
    (fill,) = await engine.store.fills_for_order(order.order_id)
    assert (fill.quantity, fill.price, fill.fee, fill.side) == (D("0.1"), D("50010"), D("5.001"), Side.BUY)
    assert await durable_cash(engine) == {"USD": (D("4993.999"), D(0))}
    state = await engine.store.load_state()
    assert state is not None and state.open_orders == ()
    assert [p.to_dict()["quantity"] for p in state.positions] == ["0.1"]
    assert engine.account.open_orders == {}
    assert engine.venue.resting() == ()

    assert counted(engine.recorded, "orders_total", symbol="BTC-USD", side="buy", type="market",
                   status="filled") == 1
    assert counted(engine.recorded, "fills_total", symbol="BTC-USD", side="buy") == 1
    assert len(engine.recorded.named("order_processing_seconds")) == 1


async def test_market_sell_opens_a_short_and_credits_the_proceeds_less_the_fee(make_engine) -> None:
    engine = await make_engine()
    order = await engine.place("BTC-USD", "sell", "0.1")
    assert (order.status, order.average_fill_price) == (OrderStatus.FILLED, D("49990"))  # floor(50000 * 0.9998)
    assert engine.account.portfolio.cash_balance("USD") == D("14994.001")  # 10000 + 4999 - 4.999
    assert engine.account.portfolio.position("BTC-USD").quantity == D("-0.1")


# -- limit orders: resting, reservations, fills later -------------------------------------------


async def test_resting_limit_reserves_cash_then_fills_when_the_price_crosses(make_engine) -> None:
    engine = await make_engine()
    order = await engine.place("BTC-USD", "buy", "0.1", "49000")

    assert order.status is OrderStatus.OPEN
    portfolio = engine.account.portfolio
    assert portfolio.cash_balance("USD") == D("10000")
    assert portfolio.reserved_cash("USD") == D("4904.9")  # 0.1 * 49000 * 1.001
    assert portfolio.available_cash("USD") == D("5095.1")
    assert engine.portfolio.valuation().reserved == {"USD": D("4904.9")}
    assert engine.venue.resting() == (order.order_id,)
    assert (await stored(engine, order.order_id)).status is OrderStatus.OPEN
    assert await durable_cash(engine) == {"USD": (D("10000"), D("4904.9"))}

    engine.market.push("BTC-USD", "49000.01")  # not crossed yet
    await engine.settle()
    assert order.status is OrderStatus.OPEN and await engine.store.fills_for_order(order.order_id) == []

    engine.market.push("BTC-USD", "48990")  # crossed: fills at the limit, not at the quote
    await engine.settle()

    filled = await stored(engine, order.order_id)
    assert filled.status is OrderStatus.FILLED
    assert (filled.filled_quantity, filled.average_fill_price, filled.fees) == (D("0.1"), D("49000"), D("4.9"))
    (fill,) = await engine.store.fills_for_order(order.order_id)
    assert (fill.quantity, fill.price, fill.fee) == (D("0.1"), D("49000"), D("4.9"))
    assert portfolio.reserved_cash("USD") == 0 and "USD" not in portfolio.reserved
    assert portfolio.cash_balance("USD") == D("5095.1")  # 10000 - 4900 - 4.9: the reservation, exactly
    assert portfolio.position("BTC-USD").quantity == D("0.1")
    assert await durable_cash(engine) == {"USD": (D("5095.1"), D(0))}
    assert engine.account.open_orders == {} and engine.venue.resting() == ()
    assert (await engine.orders.get(order.order_id)).status is OrderStatus.FILLED


async def test_resting_sell_reserves_nothing_and_fills_at_its_limit(make_engine) -> None:
    engine = await make_engine()
    order = await engine.place("ETH-USD", "sell", "2", "3100")
    assert order.status is OrderStatus.OPEN and engine.account.portfolio.reserved == {}
    engine.market.push("ETH-USD", "3150")
    await engine.settle()
    assert (await stored(engine, order.order_id)).average_fill_price == D("3100")
    assert engine.account.portfolio.cash_balance("USD") == D("16193.8")  # 10000 + 6200 - 6.2


async def test_partial_fills_across_quotes_release_the_reservation_fill_by_fill(make_engine) -> None:
    engine = await make_engine(liquidity={"BTC-USD": "0.05"})
    order = await engine.place("BTC-USD", "buy", "0.12", "49000")
    portfolio = engine.account.portfolio
    assert portfolio.reserved_cash("USD") == D("5885.88")

    expected = [
        (D("0.05"), OrderStatus.PARTIALLY_FILLED, D("3433.43")),
        (D("0.1"), OrderStatus.PARTIALLY_FILLED, D("980.98")),
        (D("0.12"), OrderStatus.FILLED, D("0")),
    ]
    for price, (filled_quantity, status, reserved) in zip(("48900", "48800", "48700"), expected):
        engine.market.push("BTC-USD", price)
        await engine.settle()
        persisted = await stored(engine, order.order_id)
        assert (persisted.filled_quantity, persisted.status) == (filled_quantity, status)
        assert portfolio.reserved_cash("USD") == reserved
        assert (await durable_cash(engine))["USD"][1] == reserved

    fills = await engine.store.fills_for_order(order.order_id)
    assert [f.quantity for f in fills] == [D("0.05"), D("0.05"), D("0.02")]
    assert {f.price for f in fills} == {D("49000")}
    assert portfolio.cash_balance("USD") == D("4114.12")  # 10000 - 5880 - 5.88
    assert portfolio.position("BTC-USD").quantity == D("0.12")
    assert engine.venue.resting() == () and engine.account.open_orders == {}


async def test_repeated_partial_fills_count_the_order_entering_partially_filled_once(make_engine) -> None:
    engine = await make_engine(liquidity={"BTC-USD": "0.05"})
    await engine.place("BTC-USD", "buy", "0.12", "49000")
    for price in ("48900", "48800", "48700"):
        engine.market.push("BTC-USD", price)
    await engine.settle()
    assert counted(engine.recorded, "fills_total", symbol="BTC-USD") == 3
    # orders_total counts orders entering a status: open, partially_filled, filled once each.
    by_status = {s: counted(engine.recorded, "orders_total", status=s) for s in ("open", "partially_filled", "filled")}
    assert by_status == {"open": 1, "partially_filled": 1, "filled": 1}


async def test_ioc_fills_what_it_can_now_and_cancels_the_rest(make_engine) -> None:
    engine = await make_engine(liquidity={"BTC-USD": "0.05"})
    order = await engine.place("BTC-USD", "buy", "0.12", "50100", time_in_force="ioc")

    assert order.status is OrderStatus.CANCELLED
    assert order.cancel_reason == IOC_REMAINDER_CANCELLED
    assert (order.filled_quantity, order.average_fill_price) == (D("0.05"), D("50010"))
    portfolio = engine.account.portfolio
    assert portfolio.cash_balance("USD") == D("7496.9995")  # 10000 - 2500.5 - 2.5005
    assert portfolio.reserved == {}
    assert engine.venue.resting() == () and engine.account.open_orders == {}
    assert await stored(engine, order.order_id) == order
    assert len(await engine.store.fills_for_order(order.order_id)) == 1

    missed = await engine.place("BTC-USD", "buy", "0.01", "49000", time_in_force="ioc")
    assert (missed.status, missed.cancel_reason, missed.filled_quantity) == (
        OrderStatus.CANCELLED, IOC_NOT_MARKETABLE, D(0))
    assert portfolio.cash_balance("USD") == D("7496.9995") and portfolio.reserved == {}


async def test_resting_order_expires_after_the_timeout_and_frees_its_cash(make_engine) -> None:
    engine = await make_engine(order_timeout_seconds=30)
    order = await engine.place("BTC-USD", "buy", "0.1", "49000")
    assert engine.account.portfolio.reserved_cash("USD") == D("4904.9")

    engine.clock.advance(29.999)
    engine.market.push("BTC-USD", "49500")
    await engine.settle()
    assert order.status is OrderStatus.OPEN

    engine.clock.advance(0.001)
    engine.market.push("BTC-USD", "48000")  # would cross, but the order is past its time first
    await engine.settle()
    expired = await stored(engine, order.order_id)
    assert expired.status is OrderStatus.EXPIRED and expired.filled_quantity == 0
    assert await engine.store.fills_for_order(order.order_id) == []
    assert engine.account.portfolio.reserved == {}
    assert engine.account.portfolio.cash_balance("USD") == D("10000")
    assert await durable_cash(engine) == {"USD": (D("10000"), D(0))}
    assert engine.venue.resting() == () and engine.account.open_orders == {}
    assert counted(engine.recorded, "orders_total", status="expired") == 1


# -- cancelling ---------------------------------------------------------------------------------


async def test_cancel_a_resting_order_releases_its_reservation_durably(make_engine) -> None:
    engine = await make_engine()
    order = await engine.place("BTC-USD", "buy", "0.1", "49000")
    cancelled = await engine.orders.cancel(order.order_id)

    assert cancelled.status is OrderStatus.CANCELLED and cancelled.cancel_reason == "cancelled by client"
    assert (await stored(engine, order.order_id)).status is OrderStatus.CANCELLED
    assert engine.account.portfolio.reserved == {} and await durable_cash(engine) == {"USD": (D("10000"), D(0))}
    assert engine.venue.resting() == ()
    engine.market.push("BTC-USD", "40000")  # no longer on the venue: never fills
    await engine.settle()
    assert await engine.store.fills_for_order(order.order_id) == []

    with pytest.raises(Conflict, match="cancelled"):
        await engine.orders.cancel(order.order_id)
    filled = await engine.place("BTC-USD", "buy", "0.01")
    with pytest.raises(Conflict, match="filled"):
        await engine.orders.cancel(filled.order_id)
    with pytest.raises(NotFound):
        await engine.orders.cancel("ord-unknown")
    with pytest.raises(NotFound):
        await engine.orders.get("ord-unknown")
    with pytest.raises(NotFound):
        await engine.orders.fills("ord-unknown")


async def test_cancel_a_partially_filled_order_keeps_the_filled_part(make_engine) -> None:
    engine = await make_engine(liquidity={"BTC-USD": "0.05"})
    order = await engine.place("BTC-USD", "buy", "0.12", "49000")
    engine.market.push("BTC-USD", "48000")
    await engine.settle()
    cancelled = await engine.orders.cancel(order.order_id)
    assert (cancelled.status, cancelled.filled_quantity) == (OrderStatus.CANCELLED, D("0.05"))
    assert engine.account.portfolio.reserved == {}
    assert engine.account.portfolio.cash_balance("USD") == D("7547.55")  # 10000 - 2450 - 2.45
    assert engine.account.portfolio.position("BTC-USD").quantity == D("0.05")


# -- idempotency --------------------------------------------------------------------------------


async def test_same_client_order_id_returns_the_existing_order_and_trades_once(make_engine) -> None:
    engine = await make_engine()
    first = await engine.place_result("BTC-USD", "buy", "0.1", client_order_id="cid-1")
    again = await engine.place_result("BTC-USD", "buy", "0.10", client_order_id="cid-1")  # 0.10 == 0.1
    assert first.created and not again.created
    assert again.order.order_id == first.order.order_id and again.order.status is OrderStatus.FILLED
    assert engine.account.portfolio.position("BTC-USD").quantity == D("0.1")
    assert len((await engine.store.list_orders(OrderQuery())).orders) == 1

    with pytest.raises(Conflict, match="cid-1"):
        await engine.place("BTC-USD", "buy", "0.2", client_order_id="cid-1")
    with pytest.raises(Conflict):
        await engine.place("BTC-USD", "buy", "0.1", "49000", client_order_id="cid-1")
    assert len((await engine.store.list_orders(OrderQuery())).orders) == 1


async def test_concurrent_requests_with_one_client_order_id_make_one_order() -> None:
    engine = await build_engine(store=SlowStore())
    try:
        results = await asyncio.gather(
            *(engine.place_result("ETH-USD", "buy", "0.1", client_order_id="same") for _ in range(10))
        )
        assert sum(r.created for r in results) == 1
        assert len({r.order.order_id for r in results}) == 1
        assert len((await engine.store.list_orders(OrderQuery())).orders) == 1
        assert engine.account.portfolio.position("ETH-USD").quantity == D("0.1")
        assert counted(engine.recorded, "fills_total") == 1

        # Different bodies racing on one id: one order, the others are conflicts.
        outcomes = await asyncio.gather(
            *(engine.place_result("ETH-USD", "buy", q, client_order_id="race") for q in ("0.1", "0.2", "0.3")),
            return_exceptions=True,
        )
        created = [o for o in outcomes if not isinstance(o, BaseException)]
        assert len(created) == 1 and created[0].created
        assert all(isinstance(o, Conflict) for o in outcomes if isinstance(o, BaseException))
        assert len((await engine.store.list_orders(OrderQuery())).orders) == 2
    finally:
        await engine.close()


async def test_concurrent_retries_of_a_rejected_request_store_one_rejected_order() -> None:
    engine = await build_engine(store=SlowStore())
    try:
        outcomes = await asyncio.gather(
            *(engine.place_result("BTC-USD", "buy", "1", client_order_id="too-big") for _ in range(5)),
            return_exceptions=True,
        )
        rejected = [o for o in outcomes if isinstance(o, OrderRejected)]
        assert len(rejected) >= 1
        ids = {o.order.order_id for o in outcomes}  # type: ignore[union-attr]
        assert len(ids) == 1
        page = await engine.store.list_orders(OrderQuery())
        assert [o.status for o in page.orders] == [OrderStatus.REJECTED]
    finally:
        await engine.close()


async def test_concurrent_orders_each_apply_exactly_once() -> None:
    engine = await build_engine(store=SlowStore(), fee_bps="0", slippage_bps="0")
    try:
        orders = await asyncio.gather(*(engine.place("ETH-USD", "buy", "0.1") for _ in range(10)))
        assert {o.status for o in orders} == {OrderStatus.FILLED}
        assert engine.account.portfolio.position("ETH-USD").quantity == D("1.0")
        assert engine.account.portfolio.cash_balance("USD") == D("7000")
        assert await durable_cash(engine) == {"USD": (D("7000"), D(0))}
    finally:
        await engine.close()


async def test_malformed_request_raises_validation_error_and_stores_nothing(make_engine) -> None:
    engine = await make_engine()
    with pytest.raises(ValidationError):
        await engine.orders.place(
            OrderRequest(symbol="BTC-USD", side="buy", type="market", quantity=D("0.1"), limit_price=D("50000"))
        )
    with pytest.raises(ValidationError):
        await engine.place("BTC-USD", "hold", "0.1")
    with pytest.raises(ValidationError):
        await engine.place("BTC-USD", "buy", "-1")
    assert (await engine.store.list_orders(OrderQuery())).orders == ()


# -- exact decimals -----------------------------------------------------------------------------


async def test_ten_market_buys_of_a_tenth_make_exactly_one(make_engine) -> None:
    engine = await make_engine(fee_bps="0", slippage_bps="0")
    for _ in range(10):
        await engine.place("ETH-USD", "buy", "0.1")
    position = engine.account.portfolio.position("ETH-USD")
    assert position.quantity == Decimal("1.0") and str(position.quantity) == "1.0"
    assert position.average_entry_price == D("3000")
    assert engine.account.portfolio.cash_balance("USD") == D("7000")
    for _ in range(10):
        await engine.place("ETH-USD", "sell", "0.1")
    assert engine.account.portfolio.position("ETH-USD").is_flat
    assert engine.account.portfolio.cash_balance("USD") == D("10000")


async def test_ten_buys_with_fees_and_slippage_are_exact_to_the_last_digit(make_engine) -> None:
    engine = await make_engine()
    for _ in range(10):
        order = await engine.place("ETH-USD", "buy", "0.1")
        assert (order.average_fill_price, order.fees) == (D("3000.6"), D("0.30006"))
    position = engine.account.portfolio.position("ETH-USD")
    assert str(position.quantity) == "1.0"
    assert position.fees_paid == D("3.0006")
    assert engine.account.portfolio.cash_balance("USD") == D("6996.3994")  # 10000 - 10 * 300.36006
    assert await durable_cash(engine) == {"USD": (D("6996.3994"), D(0))}


# -- venue events and the durable state ---------------------------------------------------------


async def test_ioc_buy_leaves_other_orders_reservations_alone(make_engine) -> None:
    engine = await make_engine(initial_cash={"USD": "20000"}, liquidity={"BTC-USD": "0.05"})
    await engine.place("BTC-USD", "buy", "0.1", "49000")
    assert engine.account.portfolio.reserved == {"USD": D("4904.9")}
    await engine.place("BTC-USD", "buy", "0.01", "48000", time_in_force="ioc")  # not marketable
    await engine.place("BTC-USD", "buy", "0.12", "50100", time_in_force="ioc")  # 0.05 fills, rest cancelled
    assert engine.account.portfolio.reserved == {"USD": D("4904.9")}
    assert engine.account.portfolio.cash_balance("USD") == D("17496.9995")
    await assert_durable_matches_memory(engine)


async def test_a_fill_written_after_a_later_order_does_not_roll_the_durable_account_back(make_engine) -> None:
    engine = await make_engine()
    resting = await engine.place("BTC-USD", "sell", "0.1", "50100")
    engine.market.push("BTC-USD", "50100")  # the venue fills the resting sell now ...
    await engine.place("ETH-USD", "buy", "1")  # ... and this order is placed before its write ran
    await engine.settle()

    assert (await stored(engine, resting.order_id)).status is OrderStatus.FILLED
    assert len(await engine.store.fills_for_order(resting.order_id)) == 1
    memory_cash = engine.account.portfolio.cash_balance("USD")
    assert memory_cash == D("10000") + D("5010") - D("5.01") - D("3000.6") - D("3.0006")
    await assert_durable_matches_memory(engine)


async def test_fills_and_expiries_racing_with_placements_keep_the_store_equal_to_memory() -> None:
    engine = await build_engine(store=SlowStore(0.001), initial_cash={"USD": "1000000"},
                                order_timeout_seconds=3, liquidity={"BTC-USD": "0.01", "ETH-USD": "0.1"})
    try:
        prices = {"BTC-USD": D("50000"), "ETH-USD": D("3000")}

        async def trader(symbol: str, step: int) -> None:
            for i in range(12):
                price = prices[symbol] + (D(i % 5) - 2) * step
                side = "buy" if i % 2 == 0 else "sell"
                quantity = "0.03" if symbol == "BTC-USD" else "0.3"
                limit = str(price) if i % 3 else None
                await engine.place(symbol, side, quantity, limit)
                await asyncio.sleep(0)

        async def feed() -> None:
            for i in range(40):
                engine.clock.advance(0.25)
                engine.market.push_many({s: p + (D(i % 7) - 3) * 10 for s, p in prices.items()})
                await asyncio.sleep(0.001)

        await asyncio.gather(trader("BTC-USD", 10), trader("ETH-USD", 1), feed())
        await engine.settle()
        assert counted(engine.recorded, "fills_total") > 20
        await assert_durable_matches_memory(engine)
    finally:
        await engine.close()
