"""The paper venue: taker prices with slippage, exact fees, resting orders, liquidity and expiry."""

from __future__ import annotations

import itertools
import re
from datetime import datetime, timedelta
from decimal import Decimal, localcontext

import pytest
from structlog.testing import capture_logs

from tests.fakes import FakeClock, ScriptedMarketData
from trading_engine.domain.errors import Conflict, Unavailable, ValidationError
from trading_engine.domain.instruments import Instrument
from trading_engine.domain.orders import Fill, Order, OrderStatus
from trading_engine.domain.ports.venue import ExecutionReport, ExecutionVenuePort
from trading_engine.infrastructure.market.paper_venue import (
    IOC_NOT_MARKETABLE,
    IOC_REMAINDER_CANCELLED,
    PaperVenue,
)

BTC = Instrument.create("BTC-USD", tick_size="0.01", lot_size="0.001", min_quantity="0.001",
                        initial_price="50000")
ETH = Instrument.create("ETH-USD", tick_size="0.05", lot_size="0.01", min_quantity="0.01",
                        initial_price="3000")
INSTRUMENTS = {BTC.symbol: BTC, ETH.symbol: ETH}
D = Decimal


class Recorder:
    """A VenueListener that records what it hears."""

    def __init__(self) -> None:
        self.fills: list[tuple[str, Fill]] = []
        self.expired: list[tuple[str, datetime]] = []

    def on_fill(self, order_id: str, fill: Fill) -> None:
        self.fills.append((order_id, fill))

    def on_expired(self, order_id: str, at: datetime) -> None:
        self.expired.append((order_id, at))


class Setup:
    def __init__(self, **settings: object) -> None:
        self.clock = FakeClock()
        self.market = ScriptedMarketData(self.clock)
        self.listener = Recorder()
        counter = itertools.count(1)
        settings.setdefault("fill_ids", lambda: f"fil-{next(counter)}")
        settings.setdefault("slippage_bps", D("5"))
        settings.setdefault("fee_bps", D("7.5"))
        self.venue = PaperVenue(self.market, INSTRUMENTS, self.clock, **settings)  # type: ignore[arg-type]
        self.venue.set_listener(self.listener)
        self._ids = itertools.count(1)

    def order(
        self,
        side: str = "buy",
        quantity: str = "1",
        limit: str | None = None,
        symbol: str = "BTC-USD",
        tif: str = "gtc",
        created_at: datetime | None = None,
        strategy_id: str | None = None,
    ) -> Order:
        return Order.create(
            order_id=f"ord-{next(self._ids)}",
            symbol=symbol,
            side=side,
            type="market" if limit is None else "limit",
            quantity=quantity,
            limit_price=limit,
            time_in_force=tif,
            created_at=created_at or self.clock.now(),
            strategy_id=strategy_id,
        )


@pytest.fixture
def s() -> Setup:
    return Setup()


def only_fill(report: ExecutionReport) -> Fill:
    assert len(report.fills) == 1
    return report.fills[0]


# -- market orders ------------------------------------------------------------------------------


async def test_market_buy_pays_slippage_rounded_up_to_a_tick(s: Setup) -> None:
    s.market.push("BTC-USD", "100.01")
    s.clock.advance(2)
    order = s.order("buy", "0.003", strategy_id="momentum-1")
    report = await s.venue.submit(order)
    assert report.resting is False and report.cancel_reason is None
    fill = only_fill(report)
    # 100.01 * 1.0005 = 100.060005 -> up to 100.07
    assert fill == Fill(
        fill_id="fil-1",
        order_id=order.order_id,
        symbol="BTC-USD",
        side=order.side,
        quantity=D("0.003"),
        price=D("100.07"),
        fee=D("0.0002251575"),  # 0.003 * 100.07 * 7.5 / 10000, exactly
        fee_currency="USD",
        timestamp=s.clock.now(),
        strategy_id="momentum-1",
    )
    assert s.venue.resting() == ()


async def test_market_sell_pays_slippage_rounded_down_to_a_tick(s: Setup) -> None:
    s.market.push("BTC-USD", "100.01")
    fill = only_fill(await s.venue.submit(s.order("sell", "2")))
    assert fill.price == D("99.95")  # 100.01 * 0.9995 = 99.959995 -> down to 99.95
    assert fill.quantity == D("2")
    assert fill.fee == D("0.1499250")  # 2 * 99.95 * 7.5 / 10000


async def test_rounding_against_the_trader_on_a_coarser_tick(s: Setup) -> None:
    s.market.push("ETH-USD", "3000.10")
    buy = only_fill(await s.venue.submit(s.order("buy", "0.5", symbol="ETH-USD")))
    sell = only_fill(await s.venue.submit(s.order("sell", "0.5", symbol="ETH-USD")))
    assert buy.price == D("3001.65")  # 3001.60005 up to a multiple of 0.05
    assert sell.price == D("2998.55")  # 2998.59995 down to a multiple of 0.05


async def test_market_orders_fill_whole_whatever_the_liquidity() -> None:
    s = Setup(liquidity={"BTC-USD": D("0.5")})
    s.market.push("BTC-USD", "100")
    fill = only_fill(await s.venue.submit(s.order("buy", "3")))
    assert fill.quantity == D("3")


async def test_a_sell_never_fills_below_one_tick(s: Setup) -> None:
    s.market.push("BTC-USD", "0.01")
    assert only_fill(await s.venue.submit(s.order("sell", "1"))).price == D("0.01")


async def test_fee_is_exact_and_zero_fee_is_zero() -> None:
    s = Setup(fee_bps=D("3.3333"), slippage_bps=D("0"))
    s.market.push("BTC-USD", "12345.67")
    with localcontext() as context:
        context.prec = 6  # the caller's decimal context does not round the venue's arithmetic
        fill = only_fill(await s.venue.submit(s.order("buy", "1.234")))
    assert fill.price == D("12345.67")
    assert fill.fee == D("1.234") * D("12345.67") * D("3.3333") / D("10000")
    assert fill.fee == D("5.0781348114774")  # every digit kept: nothing rounded
    free = Setup(fee_bps=D("0"))
    free.market.push("BTC-USD", "100")
    assert only_fill(await free.venue.submit(free.order("buy", "1"))).fee == 0


# -- limit orders on arrival ----------------------------------------------------------------------


async def test_marketable_limit_fills_at_the_taker_price_capped_at_the_limit(s: Setup) -> None:
    s.market.push("BTC-USD", "100.00")
    capped = only_fill(await s.venue.submit(s.order("buy", "1", limit="100.03")))
    uncapped = only_fill(await s.venue.submit(s.order("buy", "1", limit="100.10")))
    at_price = only_fill(await s.venue.submit(s.order("buy", "1", limit="100.00")))
    sell_capped = only_fill(await s.venue.submit(s.order("sell", "1", limit="99.97")))
    sell_uncapped = only_fill(await s.venue.submit(s.order("sell", "1", limit="99.00")))
    assert capped.price == D("100.03")  # 100.05 with slippage, but never worse than the limit
    assert uncapped.price == D("100.05")
    assert at_price.price == D("100.00")
    assert sell_capped.price == D("99.97")
    assert sell_uncapped.price == D("99.95")
    assert s.venue.resting() == ()


async def test_gtc_limit_not_marketable_rests_and_reports_nothing_yet(s: Setup) -> None:
    s.market.push("BTC-USD", "100.50")
    order = s.order("buy", "1", limit="100.00")
    report = await s.venue.submit(order)
    assert report == ExecutionReport(fills=(), resting=True, cancel_reason=None)
    assert s.venue.resting() == (order.order_id,)
    assert s.listener.fills == []


async def test_ioc_not_marketable_is_cancelled_with_nothing_filled(s: Setup) -> None:
    s.market.push("BTC-USD", "100.50")
    report = await s.venue.submit(s.order("buy", "1", limit="100.00", tif="ioc"))
    assert report == ExecutionReport(fills=(), resting=False, cancel_reason=IOC_NOT_MARKETABLE)
    assert s.venue.resting() == ()


async def test_ioc_partly_filled_cancels_the_remainder() -> None:
    s = Setup(liquidity={"BTC-USD": D("0.5")})
    s.market.push("BTC-USD", "100")
    report = await s.venue.submit(s.order("buy", "1.2", limit="101", tif="ioc"))
    assert only_fill(report).quantity == D("0.5")
    assert report.resting is False
    assert report.cancel_reason == IOC_REMAINDER_CANCELLED
    assert s.venue.resting() == ()


async def test_ioc_filled_whole_has_no_cancel_reason(s: Setup) -> None:
    s.market.push("BTC-USD", "100")
    report = await s.venue.submit(s.order("sell", "1.2", limit="99", tif="ioc"))
    assert only_fill(report).quantity == D("1.2")
    assert report.cancel_reason is None and report.resting is False


async def test_marketable_gtc_beyond_liquidity_fills_part_now_and_rests_the_rest() -> None:
    s = Setup(liquidity={"BTC-USD": D("0.5")})
    s.market.push("BTC-USD", "100")
    order = s.order("buy", "1.2", limit="101")
    report = await s.venue.submit(order)
    assert only_fill(report).quantity == D("0.5") and only_fill(report).price == D("100.05")
    assert report.resting is True
    s.market.push("BTC-USD", "100.50")
    s.market.push("BTC-USD", "100.60")
    assert [(f.quantity, f.price) for _, f in s.listener.fills] == [(D("0.5"), D("101")), (D("0.2"), D("101"))]
    assert s.venue.resting() == ()


# -- resting orders ---------------------------------------------------------------------------------


async def test_resting_buy_fills_at_its_limit_once_the_price_crosses(s: Setup) -> None:
    s.market.push("BTC-USD", "100.50")
    order = s.order("buy", "1", limit="100.00", strategy_id="mean-rev")
    await s.venue.submit(order)
    s.market.push("BTC-USD", "100.01")  # not crossed
    assert s.listener.fills == []
    s.clock.advance(5)
    s.market.push("BTC-USD", "99.50")  # crossed: fills at the limit, not at 99.50
    [(order_id, fill)] = s.listener.fills
    assert order_id == order.order_id
    assert (fill.order_id, fill.quantity, fill.price) == (order.order_id, D("1"), D("100.00"))
    assert fill.fee == D("0.07500")
    assert fill.timestamp == s.clock.now()
    assert fill.strategy_id == "mean-rev"
    assert s.venue.resting() == ()
    s.market.push("BTC-USD", "99.00")
    assert len(s.listener.fills) == 1  # forgotten once filled


async def test_resting_sell_fills_at_its_limit_when_the_price_reaches_it(s: Setup) -> None:
    s.market.push("BTC-USD", "100")
    await s.venue.submit(s.order("sell", "2", limit="101"))
    s.market.push("BTC-USD", "100.99")
    assert s.listener.fills == []
    s.market.push("BTC-USD", "101")
    [(_, fill)] = s.listener.fills
    assert (fill.quantity, fill.price) == (D("2"), D("101"))


async def test_large_resting_order_fills_over_several_quotes_within_liquidity() -> None:
    s = Setup(liquidity={"BTC-USD": D("0.5")})
    s.market.push("BTC-USD", "105")
    order = s.order("buy", "1.2", limit="100")
    await s.venue.submit(order)
    order.accept(s.clock.now())
    s.market.push("BTC-USD", "99")
    s.market.push("BTC-USD", "99.5")
    assert s.venue.resting() == (order.order_id,)
    s.market.push("BTC-USD", "101")  # not crossed: nothing
    s.market.push("BTC-USD", "100")
    quantities = [f.quantity for _, f in s.listener.fills]
    assert quantities == [D("0.5"), D("0.5"), D("0.2")]
    assert len({f.fill_id for _, f in s.listener.fills}) == 3
    for _, fill in s.listener.fills:  # the order accepts every fill the venue reported
        order.apply_fill(fill)
    assert order.status is OrderStatus.FILLED
    assert s.venue.resting() == ()


async def test_the_venue_does_not_rely_on_the_order_object_after_submit() -> None:
    s = Setup(liquidity={"BTC-USD": D("0.5")})
    s.market.push("BTC-USD", "100")
    order = s.order("buy", "1", limit="100")
    report = await s.venue.submit(order)
    order.apply_fill(only_fill(report))  # the caller updates its order: 0.5 remains
    s.market.push("BTC-USD", "100")
    s.market.push("BTC-USD", "100")  # would fill more if the venue read the order again
    assert [f.quantity for _, f in s.listener.fills] == [D("0.5")]


async def test_orders_only_match_quotes_of_their_own_symbol(s: Setup) -> None:
    s.market.push_many({"BTC-USD": "105", "ETH-USD": "3100"})
    btc_buy = s.order("buy", "1", limit="100")
    btc_sell = s.order("sell", "1", limit="110")
    eth_buy = s.order("buy", "1", limit="3000", symbol="ETH-USD")
    eth_sell = s.order("sell", "1", limit="3200", symbol="ETH-USD")
    for order in (btc_buy, btc_sell, eth_buy, eth_sell):
        assert (await s.venue.submit(order)).resting
    s.market.push("BTC-USD", "99")  # would cross eth_buy if symbols were mixed up
    assert [o for o, _ in s.listener.fills] == [btc_buy.order_id]
    s.market.push("ETH-USD", "3250")  # would cross btc_sell if symbols were mixed up
    assert [o for o, _ in s.listener.fills] == [btc_buy.order_id, eth_sell.order_id]
    s.market.push_many({"BTC-USD": "111", "ETH-USD": "2990"})
    assert [o for o, _ in s.listener.fills][2:] == [btc_sell.order_id, eth_buy.order_id]
    assert {f.symbol for o, f in s.listener.fills if o.startswith("ord")} == {"BTC-USD", "ETH-USD"}
    assert all(f.symbol == ("ETH-USD" if o in (eth_buy.order_id, eth_sell.order_id) else "BTC-USD")
               for o, f in s.listener.fills)
    assert s.venue.resting() == ()


async def test_resting_orders_wait_for_a_listener() -> None:
    s = Setup()
    venue = PaperVenue(s.market, INSTRUMENTS, s.clock, slippage_bps=D(0), fee_bps=D(0))
    s.market.push("BTC-USD", "105")
    order = s.order("buy", "1", limit="100")
    await venue.submit(order)
    s.market.push("BTC-USD", "99")  # nobody to tell: the order keeps resting
    assert venue.resting() == (order.order_id,)
    listener = Recorder()
    venue.set_listener(listener)
    s.market.push("BTC-USD", "99")
    assert [o for o, _ in listener.fills] == [order.order_id]


# -- expiry -----------------------------------------------------------------------------------------


async def test_resting_order_expires_once_its_age_reaches_the_timeout() -> None:
    s = Setup(order_timeout_seconds=60)
    s.market.push("BTC-USD", "105")
    order = s.order("buy", "1", limit="100")
    await s.venue.submit(order)
    s.clock.advance(59.9)
    s.market.push("BTC-USD", "104")
    assert s.listener.expired == [] and s.venue.resting() == (order.order_id,)
    s.clock.advance(0.1)
    s.market.push("BTC-USD", "99")  # crossed, but the order's time is up first
    assert s.listener.expired == [(order.order_id, s.clock.now())]
    assert s.listener.fills == []
    assert s.venue.resting() == ()


async def test_expiry_counts_from_the_orders_created_at_and_on_any_symbols_quote() -> None:
    s = Setup(order_timeout_seconds=60)
    s.market.push_many({"BTC-USD": "105", "ETH-USD": "3000"})
    old = s.order("buy", "1", limit="100", created_at=s.clock.now() - timedelta(seconds=50))
    young = s.order("buy", "1", limit="100")
    await s.venue.submit(old)
    await s.venue.submit(young)
    s.clock.advance(10)
    s.market.push("ETH-USD", "3001")  # a quote of another symbol still checks the clock
    assert [o for o, _ in s.listener.expired] == [old.order_id]
    assert s.venue.resting() == (young.order_id,)


async def test_without_a_timeout_orders_never_expire(s: Setup) -> None:
    s.market.push("BTC-USD", "105")
    await s.venue.submit(s.order("buy", "1", limit="100"))
    s.clock.advance(86_400 * 365)
    s.market.push("BTC-USD", "105")
    assert s.listener.expired == [] and len(s.venue.resting()) == 1


# -- cancel and restore -----------------------------------------------------------------------------


async def test_cancel_removes_a_resting_order_once(s: Setup) -> None:
    s.market.push("BTC-USD", "105")
    order = s.order("buy", "1", limit="100")
    await s.venue.submit(order)
    assert await s.venue.cancel(order.order_id) is True
    assert await s.venue.cancel(order.order_id) is False
    assert await s.venue.cancel("ord-unknown") is False
    s.market.push("BTC-USD", "99")
    assert s.listener.fills == [] and s.venue.resting() == ()


def recovered(order_id: str, quantity: str, filled: str, limit: str, clock: FakeClock, **extra) -> Order:
    order = Order.create(order_id=order_id, symbol=extra.pop("symbol", "BTC-USD"), side=extra.pop("side", "buy"),
                         type="limit", quantity=quantity, limit_price=limit, created_at=clock.now(), **extra)
    order.accept(clock.now())
    if D(filled):
        order.apply_fill(Fill(fill_id=f"old-{order_id}", order_id=order_id, symbol=order.symbol, side=order.side,
                              quantity=D(filled), price=D(limit), fee=D(0), fee_currency="USD",
                              timestamp=clock.now()))
    return order


async def test_restore_rebuilds_the_book_from_the_remaining_quantities(s: Setup) -> None:
    s.market.push("BTC-USD", "105")
    await s.venue.submit(s.order("buy", "1", limit="90"))  # replaced by the restore
    partly = recovered("ord-a", "2", "0.75", "100", s.clock, strategy_id="grid")
    whole = recovered("ord-b", "1", "0", "110", s.clock, side="sell")
    s.venue.restore([partly, whole])
    assert s.venue.resting() == ("ord-a", "ord-b")
    s.market.push("BTC-USD", "100")
    s.market.push("BTC-USD", "110")
    assert [(o, f.quantity, f.price, f.strategy_id) for o, f in s.listener.fills] == [
        ("ord-a", D("1.25"), D("100"), "grid"),
        ("ord-b", D("1"), D("110"), None),
    ]
    partly.apply_fill(s.listener.fills[0][1])
    assert partly.status is OrderStatus.FILLED


async def test_restore_refuses_orders_that_cannot_rest_and_changes_nothing(s: Setup) -> None:
    s.market.push("BTC-USD", "105")
    resting = s.order("buy", "1", limit="90")
    await s.venue.submit(resting)
    good = recovered("ord-a", "2", "0", "100", s.clock)
    filled = recovered("ord-f", "1", "1", "100", s.clock)
    new = s.order("buy", "1", limit="100")
    unknown = recovered("ord-x", "1", "0", "100", s.clock, symbol="DOGE-USD")
    for bad, reason in ((filled, "filled"), (new, "new"), (unknown, "does not trade DOGE-USD"), (good, "twice")):
        with pytest.raises(ValidationError, match=reason):
            s.venue.restore([good, bad])
    assert s.venue.resting() == (resting.order_id,)


# -- errors and edge cases -----------------------------------------------------------------------------


async def test_no_quote_yet_is_unavailable_and_nothing_happens(s: Setup) -> None:
    order = s.order("buy", "1", limit="100")
    with pytest.raises(Unavailable, match="no market price for BTC-USD"):
        await s.venue.submit(order)
    assert order.status is OrderStatus.NEW
    assert s.venue.resting() == ()


async def test_submit_refuses_non_new_orders_duplicates_and_unknown_symbols(s: Setup) -> None:
    s.market.push_many({"BTC-USD": "105", "XRP-USD": "1"})
    order = s.order("buy", "1", limit="100")
    await s.venue.submit(order)
    with pytest.raises(Conflict, match="already resting"):
        await s.venue.submit(order)
    accepted = s.order("buy", "1", limit="100")
    accepted.accept(s.clock.now())
    with pytest.raises(Conflict, match="only a new order"):
        await s.venue.submit(accepted)
    with pytest.raises(ValidationError, match="does not trade XRP-USD") as info:
        await s.venue.submit(s.order("buy", "1", limit="1", symbol="XRP-USD"))
    assert info.value.code == "unknown_symbol"


async def test_listener_failures_are_logged_and_matching_goes_on() -> None:
    class Broken(Recorder):
        def on_fill(self, order_id: str, fill: Fill) -> None:
            super().on_fill(order_id, fill)
            raise RuntimeError("store is down")

        def on_expired(self, order_id: str, at: datetime) -> None:
            super().on_expired(order_id, at)
            raise RuntimeError("store is down")

    s = Setup(order_timeout_seconds=30)
    broken = Broken()
    s.venue.set_listener(broken)
    s.market.push("BTC-USD", "105")
    stale = s.order("buy", "1", limit="100", created_at=s.clock.now() - timedelta(seconds=31))
    first, second = s.order("buy", "1", limit="100"), s.order("buy", "1", limit="99")
    for order in (stale, first, second):
        await s.venue.submit(order)
    with capture_logs() as logs:
        s.market.push("BTC-USD", "98")
    assert [o for o, _ in broken.expired] == [stale.order_id]
    assert [o for o, _ in broken.fills] == [first.order_id, second.order_id]
    assert s.venue.resting() == ()
    failures = [e for e in logs if e["event"] == "venue_listener_failed"]
    assert [(e["callback"], e["order_id"]) for e in failures] == [
        ("on_expired", stale.order_id),
        ("on_fill", first.order_id),
        ("on_fill", second.order_id),
    ]
    assert failures[1]["fill_id"] == broken.fills[0][1].fill_id
    assert failures[1]["error"] == "RuntimeError: store is down"
    s.market.push("BTC-USD", "98")  # and the venue keeps working


async def test_default_fill_ids_are_unique_and_not_derived_from_the_order() -> None:
    s = Setup(fill_ids=None)
    s.market.push("BTC-USD", "100")
    ids = [only_fill(await s.venue.submit(s.order("buy", "1"))).fill_id for _ in range(50)]
    assert all(re.fullmatch(r"fil_[0-9a-f]{26}", fill_id) for fill_id in ids)
    assert len(set(ids)) == 50


def test_subscribes_at_construction_and_close_unsubscribes() -> None:
    s = Setup()
    venue: ExecutionVenuePort = s.venue
    assert s.market.subscriber_count == 1
    s.venue.close()
    s.venue.close()
    assert s.market.subscriber_count == 0
    assert venue.resting() == ()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"slippage_bps": D("10000")}, "slippage_bps 10000 is not allowed"),
        ({"slippage_bps": 0.5}, "float"),
        ({"fee_bps": D("-1")}, "fee_bps -1 is not allowed"),
        ({"liquidity": {"BTC-USD": D("0.0005")}}, "whole number of lots of 0.001"),
        ({"liquidity": {"DOGE-USD": D("1")}}, "not a configured instrument"),
        ({"liquidity": {"BTC-USD": D("0")}}, "greater than 0"),
    ],
)
def test_bad_settings_are_refused(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Setup(**settings)


def test_bad_timeout_is_refused() -> None:
    with pytest.raises(ValueError, match="order_timeout_seconds"):
        Setup(order_timeout_seconds=-1)
