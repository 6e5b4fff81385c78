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


def resummed_signal(prices: list[Decimal], fast: int, slow: int) -> int | None:
    """The sign of the crossover, re-summing the windows in the current context (the reference)."""
    if len(prices) < slow:
        return None
    window = prices[-slow:]
    difference = sum(window[-fast:], D(0)) * slow - sum(window, D(0)) * fast
    return (difference > 0) - (difference < 0) if difference else None


def signs(strategy: Momentum, prices: list[Decimal]) -> list[int | None]:
    answers: list[int | None] = []
    for price in prices:
        strategy._add(price)
        target = strategy.signal()
        answers.append(None if target is None else 1 if target > 0 else -1 if target < 0 else 0)
    return answers


def test_running_sums_answer_what_re_summing_the_windows_answers() -> None:
    import random

    rng = random.Random(7)
    prices = [D(rng.randrange(9_000_000, 11_000_000)).scaleb(-rng.randrange(0, 6)) for _ in range(3000)]
    strategy = momentum(fast=10, slow=20, allow_short=1)
    got = signs(strategy, prices)
    expected = [resummed_signal(prices[: i + 1], 10, 20) for i in range(len(prices))]
    assert got == expected
    assert strategy._sums is not None  # narrow prices: the sums ran, they were not re-summed


def test_prices_with_more_digits_than_the_precision_fall_back_to_re_summing() -> None:
    # 9E27 + (9E27 + 1) needs 29 digits: re-summed at 28 the averages come out equal (no signal),
    # where exact sums would see the rise; the strategy answers what re-summing answers.
    big, bigger = D("9E+27"), D("9000000000000000000000000001")
    strategy = momentum(fast=1, slow=2, allow_short=1)
    assert signs(strategy, [big, bigger]) == [None, None]
    assert strategy._sums is None
    assert resummed_signal([big, bigger], 1, 2) is None
    # prices whose sums round: taken as narrow (running sums), some answer would differ
    prices = [D(p) for p in ("3E+27", "2", "8999999999999999999999999999", "1", "1", "1",
                             "9000000000000000000000000001", "1")]
    expected = [resummed_signal(prices[: i + 1], 1, 3) for i in range(len(prices))]
    assert signs(momentum(fast=1, slow=3, allow_short=1), prices) == expected
    unguarded = momentum(fast=1, slow=3, allow_short=1)
    unguarded._narrow = lambda price: True  # type: ignore[method-assign]
    assert signs(unguarded, prices) != expected
    # as many decimal places as the precision: sums of the window round too
    tiny = [D("1.000000000000000000000000001"), D("2.000000000000000000000000003"), D("1"), D("2"), D("3")]
    prices = [D("100"), D("101"), *tiny, D("99"), D("98"), D("97"), D("96"), D("95"), D("94")]
    strategy = momentum(fast=2, slow=3, allow_short=1)
    assert signs(strategy, prices) == [resummed_signal(prices[: i + 1], 2, 3) for i in range(len(prices))]
    # once the wide prices have left the window, the sums run again
    assert strategy._sums is not None


def test_running_sums_follow_a_change_of_precision() -> None:
    from decimal import localcontext

    prices = [D("1.5"), D("2.25"), D("2.0"), D("1.75"), D("3")]
    strategy = momentum(fast=2, slow=3, allow_short=1)
    with localcontext() as context:
        context.prec = 2
        got = signs(strategy, prices)
        assert strategy._sums is None
        assert got == [resummed_signal(prices[: i + 1], 2, 3) for i in range(len(prices))]
