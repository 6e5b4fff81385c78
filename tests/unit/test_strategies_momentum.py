"""momentum: enters long when the fast average crosses above the slow one, exits (flat or short)
on the cross back, and trades only when its target and position disagree."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.support.strategies import Harness, places
from trading_engine.domain.orders import OrderType, Side
from trading_engine.domain.strategies.momentum import SPEC, Momentum
from trading_engine.domain.strategy import PlaceOrder

D = Decimal


def momentum(**params: Any) -> Momentum:
    strategy = SPEC.create(SPEC.validate_params({"fast": 2, "slow": 4, **params}), seed=1)
    assert isinstance(strategy, Momentum)
    return strategy


def run(harness: Harness, prices: list[str]) -> list[list[PlaceOrder]]:
    return [places(harness.tick(price)) for price in prices]


def buy(quantity: str) -> list[PlaceOrder]:
    return [PlaceOrder(Side.BUY, D(quantity), OrderType.MARKET)]


def sell(quantity: str) -> list[PlaceOrder]:
    return [PlaceOrder(Side.SELL, D(quantity), OrderType.MARKET)]


def test_no_signal_before_slow_prices_and_none_on_equal_averages() -> None:
    harness = Harness(momentum())
    assert run(harness, ["100", "101", "102"]) == [[], [], []]  # 3 of 4 prices: no signal yet
    harness = Harness(momentum())
    assert run(harness, ["100"] * 10) == [[]] * 10


def test_enters_long_on_the_cross_above_and_exits_flat_on_the_cross_back() -> None:
    harness = Harness(momentum())
    orders = run(harness, ["100", "100", "100", "100", "101", "102", "103", "103", "103", "99", "98", "97"])
    # 101: fast (100, 101) = 100.5 > slow 100.25 -> long; stays long while fast >= slow
    assert orders[:4] == [[]] * 4
    assert orders[4] == buy("0.01")
    assert orders[5:9] == [[]] * 4
    # 99: fast (103, 99) = 101 < slow (103, 103, 103, 99) = 102 -> flat
    assert orders[9] == sell("0.01")
    assert orders[10:] == [[], []]
    assert harness.position == 0


def test_allow_short_goes_from_long_to_short_on_the_cross_back() -> None:
    harness = Harness(momentum(allow_short=1))
    orders = run(harness, ["100", "100", "100", "100", "101", "102", "99", "98", "102", "104"])
    assert orders == [
        [], [], [], [],
        buy("0.01"),  # fast 100.5 > slow 100.25
        [],
        [],  # 99: fast (102, 99) = 100.5 = slow 100.5, keep long
        sell("0.02"),  # 98: fast 98.5 < slow 100: +0.01 -> -0.01
        [],  # 102: fast 100 < slow 100.25, stay short
        buy("0.02"),  # 104: fast 103 > slow 100.75: back to long
    ]
    assert harness.position == D("0.01")


def test_without_allow_short_a_falling_market_stays_flat() -> None:
    harness = Harness(momentum())
    assert run(harness, [str(200 - i) for i in range(20)]) == [[]] * 20
    assert harness.position == 0


def test_equal_averages_keep_the_current_target() -> None:
    harness = Harness(momentum())
    assert run(harness, ["100", "100", "100", "100", "104"])[-1] == buy("0.01")
    strategy = harness.strategy
    assert isinstance(strategy, Momentum)
    # then 100 (fast 102 > slow 101), 104 and 100: windows 100,104,100,104 and 104,100,104,100
    # have fast 102 = slow 102, which keeps the long target
    assert run(harness, ["100", "104", "100"]) == [[]] * 3
    assert strategy.signal() is None
    assert harness.position == D("0.01")


def test_no_churn_while_the_signal_holds() -> None:
    harness = Harness(momentum(fast=3, slow=6))
    prices = [str(100 + i) for i in range(40)]  # a steady rise: long all the way
    orders = run(harness, prices)
    assert sum(len(o) for o in orders) == 1
    assert harness.position == D("0.01")


def test_a_refused_order_is_retried_with_a_back_off() -> None:
    harness = Harness(momentum(), refuse_market=True)
    orders = run(harness, ["100", "100", "100", "100", "101"] + ["102"] * 11)
    # refused at tick 5; then sits out 1 tick, retries, 2 ticks, retries, 4 ticks, retries...
    traded = [i for i, o in enumerate(orders) if o]
    assert traded == [4, 6, 9, 14]
    assert all(o == buy("0.01") for o in orders if o)
    harness.refuse_market = False
    orders = run(harness, ["103"] * 8)
    assert sum(len(o) for o in orders) == 1 and harness.position == D("0.01")


def test_position_drift_is_corrected() -> None:
    harness = Harness(momentum())
    run(harness, ["100", "100", "100", "100", "101"])
    assert harness.position == D("0.01")
    harness.position = D("0.004")  # e.g. a partial fill elsewhere in the pipeline
    assert places(harness.tick("102")) == buy("0.006")


def test_sizes_floor_to_the_lot() -> None:
    harness = Harness(momentum(position_size="0.012345"))
    orders = run(harness, ["100", "100", "100", "100", "101"])
    assert orders[-1] == buy("0.0123")
