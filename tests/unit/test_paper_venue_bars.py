"""The paper venue on bars: orders decided on a close execute on the next bar's path."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

from tests.unit.test_paper_venue import Setup
from trading_engine.domain.bars import Bar
from trading_engine.domain.orders import Order


def bar(s: Setup, o: str, h: str, lo: str, c: str) -> Bar:
    start = s.clock.now()
    s.clock.advance(60)
    return Bar("BTC-USD", "1m", D(o), D(h), D(lo), D(c), D(1), start, start + timedelta(minutes=1))


async def test_a_market_order_on_a_close_fills_at_the_next_open_with_slippage() -> None:
    s = Setup()
    s.market.push_bar(bar(s, "100", "101", "99", "100.5"))
    report = await s.venue.submit(s.order("buy", "1"))
    assert report.resting is True and report.fills == ()  # nothing at the close
    s.market.push_bar(bar(s, "102", "103", "101", "102.5"))
    [(order_id, fill)] = s.listener.fills
    assert order_id == "ord-1" and fill.price == D("102.06")  # 102 * (1 + 5 bps), up to the tick
    assert fill.quantity == 1 and fill.fee == D("102.06") * D("0.00075")
    sell = await s.venue.submit(s.order("sell", "1"))
    assert sell.resting is True
    s.market.push_bar(bar(s, "90", "95", "89", "94"))
    assert s.listener.fills[-1][1].price == D("89.95")  # 90 * (1 - 5 bps), down to the tick


async def test_a_resting_limit_fills_at_its_limit_when_touched_and_at_the_open_when_opened_through() -> None:
    s = Setup()
    s.market.push_bar(bar(s, "100", "101", "99", "100"))
    await s.venue.submit(s.order("buy", "1", limit="98"))  # below the close: it rests
    await s.venue.submit(s.order("sell", "1", limit="99"))  # marketable at the close, yet it waits
    assert s.listener.fills == []
    s.market.push_bar(bar(s, "99.5", "100", "97.5", "99"))  # opens at/above 99: the sell at the open
    # oldest first, as live: the buy touched at its limit, the sell at the open it was opened through
    assert [(o, f.price) for o, f in s.listener.fills] == [("ord-1", D(98)), ("ord-2", D("99.5"))]


async def test_a_limit_the_path_does_not_reach_stays_and_liquidity_caps_each_bar() -> None:
    s = Setup(liquidity={"BTC-USD": D("0.5")})
    s.market.push_bar(bar(s, "100", "101", "99", "100"))
    await s.venue.submit(s.order("buy", "1", limit="95"))
    s.market.push_bar(bar(s, "100", "101", "96", "97"))
    assert s.listener.fills == [] and s.venue.resting() == ("ord-1",)
    s.market.push_bar(bar(s, "96", "97", "94", "95"))
    s.market.push_bar(bar(s, "95", "96", "93", "94"))
    assert [(f.quantity, f.price) for _, f in s.listener.fills] == [(D("0.5"), D(95)), (D("0.5"), D(95))]


async def test_ioc_orders_are_answered_at_once_against_the_close() -> None:
    s = Setup()
    s.market.push_bar(bar(s, "100", "101", "99", "100"))
    report = await s.venue.submit(s.order("buy", "1", limit="101", tif="ioc"))
    assert report.resting is False and report.fills[0].price == D("100.05")


def waiting(s: Setup, side: str, limit: str | None = None, minutes: int = 0) -> Order:
    """An order as the store has it after it was placed on a bar's close ``minutes`` from now
    (open, unfilled), as a restarted service finds it: the replay starts again before it."""
    order = s.order(side, "1", limit=limit, created_at=s.clock.now() + timedelta(minutes=minutes))
    order.accept(order.created_at)
    return order


async def test_a_restored_market_order_fills_at_the_open_of_the_first_bar_after_it() -> None:
    s = Setup()
    order = waiting(s, "buy", minutes=2)
    s.venue.restore([order])
    assert s.venue.resting() == (order.order_id,)
    s.market.push_bar(bar(s, "90", "91", "89", "90"))  # bars from before the order: not for it
    s.market.push_bar(bar(s, "95", "96", "94", "95"))
    assert s.listener.fills == [] and s.venue.resting() == (order.order_id,)
    s.market.push_bar(bar(s, "102", "103", "101", "102.5"))  # starts when the order was placed
    [(order_id, fill)] = s.listener.fills
    assert (order_id, fill.price, fill.quantity) == (order.order_id, D("102.06"), D(1))  # 102 + 5 bps, up
    assert s.venue.resting() == ()


async def test_a_restored_limit_order_is_not_touched_by_bars_from_before_it() -> None:
    s = Setup()
    order = waiting(s, "buy", limit="98", minutes=1)
    s.venue.restore([order])
    s.market.push_bar(bar(s, "99", "100", "90", "95"))  # would touch 98, but ended as the order came
    assert s.listener.fills == []
    s.market.push_bar(bar(s, "99", "100", "97", "99"))
    assert [(o, f.price) for o, f in s.listener.fills] == [(order.order_id, D(98))]


async def test_a_restored_market_order_on_trade_data_fills_at_the_first_quote() -> None:
    s = Setup()
    order = waiting(s, "sell")
    s.venue.restore([order])
    s.market.push("BTC-USD", "100")
    assert [(o, f.price) for o, f in s.listener.fills] == [(order.order_id, D("99.95"))]  # as on arrival
