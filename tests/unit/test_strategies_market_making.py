"""market_making: quotes both sides around the mid, skews on inventory, respects max_inventory,
requotes only when it should and cancels its old quotes when it does."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.support.strategies import ETH_BTC, Harness, cancels, context, places
from trading_engine.domain.orders import OrderType, Side, TimeInForce
from trading_engine.domain.strategies.market_making import SPEC, MarketMaking
from trading_engine.domain.strategy import PRE_TRADE, PlaceOrder, RiskEvent

D = Decimal


def maker(**params: Any) -> MarketMaking:
    strategy = SPEC.create(SPEC.validate_params(params), seed=1)
    assert isinstance(strategy, MarketMaking)
    return strategy


def quote(intents: list[Any], side: Side) -> PlaceOrder:
    (order,) = [p for p in places(intents) if p.side is side]
    return order


def test_first_tick_quotes_both_sides_around_the_mid_with_the_spread() -> None:
    intents = Harness(maker()).tick("50000")
    assert intents == [
        PlaceOrder(Side.BUY, D("0.01"), OrderType.LIMIT, D("49950.00"), TimeInForce.GTC),
        PlaceOrder(Side.SELL, D("0.01"), OrderType.LIMIT, D("50050.00"), TimeInForce.GTC),
    ]


def test_quotes_are_on_ticks_bid_floored_ask_ceiled() -> None:
    intents = Harness(maker()).tick("50000.37")
    bid, ask = quote(intents, Side.BUY), quote(intents, Side.SELL)
    # raw bid 49950.36963, raw ask 50050.37037
    assert (bid.limit_price, ask.limit_price) == (D("49950.36"), D("50050.38"))


def test_ask_stays_above_bid_even_with_a_tiny_spread_and_a_coarse_tick() -> None:
    harness = Harness(maker(spread_bps="0.01", quote_size="0.01"), instrument=ETH_BTC)
    intents = harness.tick("0.06")
    bid, ask = quote(intents, Side.BUY), quote(intents, Side.SELL)
    assert bid.limit_price is not None and ask.limit_price is not None
    assert ask.limit_price - bid.limit_price >= ETH_BTC.tick_size
    assert ETH_BTC.is_on_tick(bid.limit_price) and ETH_BTC.is_on_tick(ask.limit_price)


@pytest.mark.parametrize(
    ("position", "bid", "ask"),
    [
        ("0", "49950.00", "50050.00"),
        ("0.05", "49925.00", "50025.00"),  # long half the limit: both down 5 bps
        ("0.1", None, "50000.00"),  # long the full limit: down 10 bps, no bid
        ("-0.05", "49975.00", "50075.00"),  # short: both up
        ("-0.1", "50000.00", None),
    ],
)
def test_inventory_skews_both_quotes_away_from_the_side_that_grows_it(
    position: str, bid: str | None, ask: str | None
) -> None:
    intents = maker().quotes(D(50000), context(position))
    prices = {p.side: p.limit_price for p in intents}
    assert prices.get(Side.BUY) == (D(bid) if bid else None)
    assert prices.get(Side.SELL) == (D(ask) if ask else None)


def test_skew_is_capped_at_a_full_max_inventory() -> None:
    at_limit = maker().quotes(D(50000), context("0.1"))
    beyond = maker().quotes(D(50000), context("0.3"))
    assert [p.limit_price for p in beyond] == [p.limit_price for p in at_limit]


def test_no_side_whose_fill_would_take_inventory_past_the_limit() -> None:
    near_long = maker().quotes(D(50000), context("0.095"))
    assert [(p.side, p.quantity) for p in near_long] == [(Side.BUY, D("0.005")), (Side.SELL, D("0.01"))]
    assert [p.side for p in maker().quotes(D(50000), context("0.1"))] == [Side.SELL]
    assert [p.side for p in maker().quotes(D(50000), context("0.25"))] == [Side.SELL]
    assert [p.side for p in maker().quotes(D(50000), context("-0.1"))] == [Side.BUY]
    near_short = maker().quotes(D(50000), context("-0.09995"))
    assert [(p.side, p.quantity) for p in near_short] == [(Side.BUY, D("0.01"))]  # ask room 0.00005 < lot


def test_filling_the_bid_until_the_limit_then_only_asks_are_quoted() -> None:
    harness = Harness(maker(max_inventory="0.03"))
    for _ in range(3):
        harness.tick("50000")
        harness.fill_resting(Side.BUY)
    assert harness.position == D("0.03")
    intents = harness.tick("50000")
    assert [p.side for p in places(intents)] == [Side.SELL]
    assert len(cancels(intents)) == 1  # the ask left from the previous quotes


def test_requotes_only_when_the_mid_moves_more_than_requote_bps() -> None:
    harness = Harness(maker(requote_bps="5"))
    first = harness.tick("50000")
    old_ids = set(harness.resting)
    assert harness.tick("50000") == []
    assert harness.tick("50024.99") == []
    assert harness.tick("50025") == []  # exactly 5 bps: not more than
    assert harness.tick("49975") == []
    intents = harness.tick("50025.01")
    assert {c.order_id for c in cancels(intents)} == old_ids
    assert intents[: len(old_ids)] == cancels(intents)  # cancels come before the new quotes
    assert [p.side for p in places(intents)] == [Side.BUY, Side.SELL]
    assert quote(first, Side.BUY).limit_price == D("49950.00")
    # 50025.01 * 0.999 = 49974.98499 floored, 50025.01 * 1.001 = 50075.03501 ceiled
    assert (quote(intents, Side.BUY).limit_price, quote(intents, Side.SELL).limit_price) == (
        D("49974.98"),
        D("50075.04"),
    )
    # the reference is now the new mid
    assert harness.tick("50040") == []


def test_requotes_after_a_fill_with_the_new_skew() -> None:
    harness = Harness(maker())
    harness.tick("50000")
    harness.fill_resting(Side.SELL, "0.004")  # partly: short 0.004
    still_resting = set(harness.resting)  # the bid and the rest of the ask
    intents = harness.tick("50000")
    assert {c.order_id for c in cancels(intents)} == still_resting
    assert len(still_resting) == 2
    bid, ask = quote(intents, Side.BUY), quote(intents, Side.SELL)
    # short 0.004 of 0.1: both quotes up by 0.4 bps of 50000 = 2.00
    assert (bid.limit_price, ask.limit_price) == (D("49952.00"), D("50052.00"))
    assert harness.tick("50000") == []


def test_requotes_when_its_quotes_are_gone_but_not_after_a_refusal() -> None:
    harness = Harness(maker())
    harness.tick("50000")
    harness.resting.clear()  # cancelled elsewhere
    assert [p.side for p in places(harness.tick("50000"))] == [Side.BUY, Side.SELL]

    strategy = maker()
    intents = strategy.on_tick(D(50000), context())
    for intent in places(intents):
        strategy.on_risk_event(RiskEvent(PRE_TRADE, "refused", intent=intent), context())
    assert strategy.on_tick(D(50000), context()) == []  # not retried on the same mid
    assert len(places(strategy.on_tick(D(50060), context()))) == 2  # retried past requote_bps (10 bps = 50)


def test_quote_sizes_floor_to_the_lot() -> None:
    intents = Harness(maker(quote_size="0.012345")).tick("50000")
    assert {p.quantity for p in places(intents)} == {D("0.0123")}


def test_emits_nothing_below_the_minimum_order_size() -> None:
    assert Harness(maker(quote_size="0.00001", max_inventory="0.1")).tick("50000") == []
