"""Pre-trade risk through the use case, and the circuit breaker.

The domain's own tests cover each pure check; these prove that ``OrderService.place`` feeds every
check the right input (the breaker, the instruments, the clock-based freshness of ``MarketView``,
the open orders, the reservations, the limits), stores the rejected order with its reason and
changes nothing else, and that ``RiskService`` trips and resets the breaker durably.

Engine here: 100,000 USD, fee 10 bps, slippage 2 bps, BTC-USD at 50,000, ETH-USD at 3,000; limits:
one order 25,000, one position 30,000, gross exposure 40,000.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal

import pytest

from tests.support.engine import (  # noqa: F401  (make_engine is a fixture)
    D,
    Engine,
    assert_durable_matches_memory,
    counted,
    last_gauge,
    make_engine,
)
from trading_engine.domain.errors import ValidationError
from trading_engine.domain.orders import OrderStatus, RejectReason
from trading_engine.domain.ports.repository import OrderQuery
from trading_engine.domain.risk import RiskLimits
from trading_engine.services.orders import OrderRejected
from trading_engine.services.risk import BREAKER_CANCEL_REASON

LIMITS = RiskLimits(max_order_notional=D("25000"), max_position_notional=D("30000"), max_gross_exposure=D("40000"))


@pytest.fixture
async def engine(make_engine) -> Engine:
    return await make_engine(initial_cash={"USD": "100000"}, limits=LIMITS)


async def rejected(engine: Engine, *args: str, **extra: object) -> OrderRejected:
    """Place an order that must be rejected; check it was stored as such and changed nothing."""
    cash_before = engine.account.portfolio.cash
    reserved_before = engine.account.portfolio.reserved
    positions_before = engine.account.portfolio.positions
    open_before = dict(engine.account.open_orders)
    resting_before = set(engine.venue.resting())
    with pytest.raises(OrderRejected) as caught:
        await engine.place(*args, **extra)
    exc = caught.value
    order = exc.order
    assert order.status is OrderStatus.REJECTED and order.reject_reason is exc.reason
    assert exc.code == exc.reason.value and exc.message == order.reject_message
    persisted = await engine.store.get_order(order.order_id)
    assert persisted == order
    assert (engine.account.portfolio.cash, engine.account.portfolio.reserved) == (cash_before, reserved_before)
    assert engine.account.portfolio.positions == positions_before
    assert engine.account.open_orders == open_before and set(engine.venue.resting()) == resting_before
    assert await engine.store.fills_for_order(order.order_id) == []
    assert counted(engine.recorded, "order_rejections_total", reason=exc.reason.value) >= 1
    await assert_durable_matches_memory(engine)
    return exc


async def _nothing(engine: Engine) -> None:
    return None


async def _trip(engine: Engine) -> None:
    await engine.risk.trip("risk desk halt")


async def _age_prices(engine: Engine) -> None:
    engine.clock.advance(5.001)  # stale after 5 s


async def _hold_btc(engine: Engine) -> None:
    await engine.place("BTC-USD", "buy", "0.4")


async def _rest_btc_buy(engine: Engine) -> None:
    await engine.place("BTC-USD", "buy", "0.4", "49000")


async def _hold_btc_for_gross(engine: Engine) -> None:
    await engine.place("BTC-USD", "buy", "0.45")  # 22,500 at the mark


REJECTIONS: list[tuple[RejectReason, Callable[[Engine], Awaitable[None]], tuple[str, ...], str]] = [
    (RejectReason.CIRCUIT_BREAKER_OPEN, _trip, ("BTC-USD", "buy", "0.01"), "circuit breaker"),
    (RejectReason.UNKNOWN_SYMBOL, _nothing, ("DOGE-USD", "buy", "1"), "DOGE-USD"),
    (RejectReason.QUANTITY_BELOW_MINIMUM, _nothing, ("BTC-USD", "buy", "0.00005"), "0.0001"),
    (RejectReason.QUANTITY_OFF_LOT, _nothing, ("ETH-USD", "sell", "0.0015"), "lot size 0.001"),
    (RejectReason.PRICE_OFF_TICK, _nothing, ("BTC-USD", "buy", "0.1", "49000.005"), "tick size 0.01"),
    (RejectReason.MARKET_DATA_STALE, _age_prices, ("BTC-USD", "buy", "0.01"), "stale"),
    (RejectReason.MAX_ORDER_NOTIONAL_EXCEEDED, _nothing, ("BTC-USD", "buy", "0.5"), "25005"),
    (RejectReason.MAX_POSITION_EXCEEDED, _hold_btc, ("BTC-USD", "buy", "0.3"), "0.7"),
    (RejectReason.MAX_POSITION_EXCEEDED, _rest_btc_buy, ("BTC-USD", "buy", "0.3", "49000"), "0.7"),
    (RejectReason.GROSS_EXPOSURE_EXCEEDED, _hold_btc_for_gross, ("ETH-USD", "buy", "6"), "40503.60"),
]


@pytest.mark.parametrize(("reason", "setup", "order", "mentions"), REJECTIONS,
                         ids=[f"{r[0].value}-{r[1].__name__.strip('_')}" for r in REJECTIONS])
async def test_every_reject_reason_is_raised_and_stored(
    engine: Engine, reason: RejectReason, setup, order: tuple[str, ...], mentions: str
) -> None:
    await setup(engine)
    exc = await rejected(engine, *order)
    assert exc.reason is reason
    assert mentions in exc.message
    assert counted(engine.recorded, "orders_total", status="rejected") == 1


@pytest.mark.parametrize("setup", [_hold_btc, _rest_btc_buy])
async def test_the_position_limit_counts_what_is_held_or_resting(engine: Engine, setup) -> None:
    """The same order passes on a fresh account: the rejection comes from the position or the
    resting order the use case handed to the check."""
    accepted = await engine.place("BTC-USD", "buy", "0.3", "49000")
    await engine.orders.cancel(accepted.order_id)
    await setup(engine)
    assert (await rejected(engine, "BTC-USD", "buy", "0.3", "49000")).reason is RejectReason.MAX_POSITION_EXCEEDED
    # The other side is not counted against it.
    await engine.place("BTC-USD", "sell", "0.3", "60000")


async def test_insufficient_funds_counts_cash_reserved_by_resting_buys(make_engine) -> None:
    engine = await make_engine()  # 10,000 USD
    assert (await rejected(engine, "BTC-USD", "buy", "0.2")).reason is RejectReason.INSUFFICIENT_FUNDS  # 10012.0...
    # 0.15 @ 49,000 reserves 7,357.35; then 0.06 at market (3,003.60 with fees) no longer fits ...
    resting = await engine.place("BTC-USD", "buy", "0.15", "49000")
    assert engine.account.portfolio.available_cash("USD") == D("2642.65")
    exc = await rejected(engine, "BTC-USD", "buy", "0.06")
    assert exc.reason is RejectReason.INSUFFICIENT_FUNDS and "3003.60" in exc.message
    # ... and fits again once the resting order is cancelled.
    await engine.orders.cancel(resting.order_id)
    assert (await engine.place("BTC-USD", "buy", "0.06")).status is OrderStatus.FILLED
    # Sells never need cash.
    await engine.place("BTC-USD", "sell", "0.06")


async def test_leverage_lets_a_buy_spend_more_than_the_cash(make_engine) -> None:
    limits = RiskLimits(max_order_notional=D("25000"), max_position_notional=D("30000"),
                        max_gross_exposure=D("40000"), allow_leverage=True)
    engine = await make_engine(limits=limits)
    order = await engine.place("BTC-USD", "buy", "0.3")
    assert order.status is OrderStatus.FILLED
    assert engine.account.portfolio.cash_balance("USD") < 0


async def test_freshness_comes_from_the_clock_and_each_symbol_own_quote(make_engine) -> None:
    engine = await make_engine(stale_after_seconds=5)
    engine.clock.advance(5)  # exactly the limit: still fresh
    assert (await engine.place("BTC-USD", "buy", "0.01")).status is OrderStatus.FILLED
    engine.clock.advance(0.001)
    assert (await rejected(engine, "BTC-USD", "buy", "0.01")).reason is RejectReason.MARKET_DATA_STALE
    assert engine.view.staleness() is not None
    engine.market.push("ETH-USD", "3000")  # a new ETH quote does not refresh BTC
    assert (await engine.place("ETH-USD", "buy", "0.01")).status is OrderStatus.FILLED
    assert (await rejected(engine, "BTC-USD", "sell", "0.01")).reason is RejectReason.MARKET_DATA_STALE
    engine.market.push("BTC-USD", "50000")
    assert (await engine.place("BTC-USD", "sell", "0.01")).status is OrderStatus.FILLED
    assert engine.view.staleness() is None


async def test_a_symbol_that_never_had_a_quote_is_stale(make_engine) -> None:
    engine = await make_engine(prices={"BTC-USD": "50000"})
    assert (await rejected(engine, "ETH-USD", "buy", "0.01")).reason is RejectReason.MARKET_DATA_STALE


async def test_rejections_with_a_client_order_id_are_idempotent(engine: Engine) -> None:
    exc = await rejected(engine, "BTC-USD", "buy", "0.5", client_order_id="big-1")
    again = await rejected(engine, "BTC-USD", "buy", "0.5", client_order_id="big-1")  # the same answer
    assert again.order.order_id == exc.order.order_id
    assert again.order.status is OrderStatus.REJECTED and again.reason is exc.reason
    assert len((await engine.store.list_orders(OrderQuery())).orders) == 1


# -- the circuit breaker -------------------------------------------------------------------------


async def test_trip_cancels_resting_orders_and_rejects_new_ones_until_reset(engine: Engine) -> None:
    buy = await engine.place("BTC-USD", "buy", "0.1", "49000")
    sell = await engine.place("ETH-USD", "sell", "1", "3100")
    held = await engine.place("ETH-USD", "buy", "0.5")
    assert engine.account.portfolio.reserved_cash("USD") == D("4904.9")
    assert last_gauge(engine.recorded, "risk_circuit_breaker_open") == 0.0

    change = await engine.risk.trip("  exchange outage  ")
    assert change.changed and change.breaker["is_open"] and change.breaker["reason"] == "exchange outage"
    assert change.breaker["tripped_at"] is not None
    assert {o.order_id for o in change.cancelled} == {buy.order_id, sell.order_id}
    for order_id in (buy.order_id, sell.order_id):
        persisted = await engine.store.get_order(order_id)
        assert persisted is not None
        assert (persisted.status, persisted.cancel_reason) == (OrderStatus.CANCELLED, BREAKER_CANCEL_REASON)
    assert (await engine.store.get_order(held.order_id)).status is OrderStatus.FILLED  # type: ignore[union-attr]
    assert engine.account.portfolio.reserved == {}
    assert engine.venue.resting() == () and engine.account.open_orders == {}
    assert last_gauge(engine.recorded, "risk_circuit_breaker_open") == 1.0
    assert counted(engine.recorded, "orders_total", status="cancelled") == 2
    state = await assert_durable_matches_memory(engine)
    assert state.breaker is not None and state.breaker.is_open

    # Prices crossing the cancelled orders fill nothing.
    engine.market.push_many({"BTC-USD": "48000", "ETH-USD": "3200"})
    await engine.settle()
    assert await engine.store.fills_for_order(buy.order_id) == []

    exc = await rejected(engine, "ETH-USD", "sell", "0.5")  # even an order that reduces a position
    assert exc.reason is RejectReason.CIRCUIT_BREAKER_OPEN

    again = await engine.risk.trip("another reason")
    assert not again.changed and again.breaker["reason"] == "exchange outage" and again.cancelled == ()
    assert engine.risk.status()["circuit_breaker"]["is_open"] is True

    reset = await engine.risk.reset("outage over")
    assert reset.changed and not reset.breaker["is_open"] and reset.breaker["reset_at"] is not None
    assert last_gauge(engine.recorded, "risk_circuit_breaker_open") == 0.0
    state = await assert_durable_matches_memory(engine)
    assert state.breaker is not None and not state.breaker.is_open
    assert not (await engine.risk.reset()).changed
    assert (await engine.place("ETH-USD", "sell", "0.5")).status is OrderStatus.FILLED


async def test_trip_needs_a_reason(engine: Engine) -> None:
    with pytest.raises(ValidationError):
        await engine.risk.trip("   ")
    with pytest.raises(ValidationError):
        await engine.risk.trip("x" * 501)
    assert not engine.account.breaker.is_open


async def test_status_reports_limits_utilisation_breaker_and_freshness(engine: Engine) -> None:
    await engine.place("BTC-USD", "buy", "0.2")
    await engine.place("ETH-USD", "sell", "2", "3100")
    engine.market.push("BTC-USD", "51000")
    engine.clock.advance(2)
    status = engine.risk.status()
    assert status["limits"] == {
        "max_order_notional": "25000", "max_position_notional": "30000",
        "max_gross_exposure": "40000", "allow_leverage": False,
    }
    utilisation = status["utilisation"]
    assert D(utilisation["gross_exposure"]) == D("10200")  # 0.2 * 51,000
    assert D(utilisation["gross_exposure_utilisation"]) == D("10200") / D("40000")
    assert utilisation["positions"] == {
        "BTC-USD": {"quantity": "0.2", "notional": "10200.0", "utilisation": str(D("10200.0") / D("30000"))}
    }
    assert utilisation["open_orders"] == 1
    assert status["circuit_breaker"]["is_open"] is False
    assert status["market_data"] == {
        "BTC-USD": {"fresh": True, "age_seconds": 2.0, "stale_pricing": []},
        "ETH-USD": {"fresh": True, "age_seconds": 2.0, "stale_pricing": []},
    }
    assert isinstance(D(status["utilisation"]["gross_exposure"]), Decimal)
