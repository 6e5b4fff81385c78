"""mean_reversion: short above entry_z, long below -entry_z, flat inside exit_z, hold in between,
and never trade on flat prices."""

from __future__ import annotations

import statistics
from decimal import Decimal
from typing import Any

from tests.support.strategies import Harness, places
from trading_engine.domain.orders import OrderType, Side
from trading_engine.domain.strategies.mean_reversion import SPEC, MeanReversion
from trading_engine.domain.strategy import PlaceOrder

D = Decimal
WINDOW = 5


def reverter(**params: Any) -> MeanReversion:
    base = {"window": WINDOW, "entry_z": 1.5, "exit_z": 0.5}
    strategy = SPEC.create(SPEC.validate_params({**base, **params}), seed=1)
    assert isinstance(strategy, MeanReversion)
    return strategy


def z_of(prices: list[str]) -> float:
    """The reference z-score of the last price against the last WINDOW prices."""
    window = [float(p) for p in prices[-WINDOW:]]
    return (window[-1] - statistics.fmean(window)) / statistics.pstdev(window)


def market(side: Side, quantity: str) -> list[PlaceOrder]:
    return [PlaceOrder(side, D(quantity), OrderType.MARKET)]


def test_z_score_is_the_population_z_of_the_latest_price() -> None:
    strategy = reverter()
    prices = ["100", "101", "100", "101", "110"]
    for price in prices:
        strategy.on_tick(D(price), Harness(strategy).context)
    assert strategy.last_z is not None
    assert abs(float(strategy.last_z) - z_of(prices)) < 1e-12


def test_enters_short_above_entry_z_holds_in_between_and_exits_inside_exit_z() -> None:
    harness = Harness(reverter())
    path = ["100", "101", "100", "101", "110"]
    orders = [places(harness.tick(p)) for p in path]
    assert orders[:4] == [[]] * 4  # window not full, then |z| = 0.82 between the bands, no target
    assert z_of(path) > 1.5
    assert orders[4] == market(Side.SELL, "0.01")

    path.append("108")  # z = 0.96: between exit_z and entry_z -> hold the short
    assert 0.5 < abs(z_of(path)) < 1.5
    assert places(harness.tick("108")) == []
    assert harness.position == D("-0.01")

    path.append("105")  # z = 0: inside exit_z -> flat
    assert abs(z_of(path)) < 0.5
    assert places(harness.tick("105")) == market(Side.BUY, "0.01")
    assert harness.position == 0


def test_enters_long_below_minus_entry_z_and_exits_inside_exit_z() -> None:
    harness = Harness(reverter())
    path = ["100", "99", "100", "99", "90", "93", "95"]
    orders = [places(harness.tick(p)) for p in path]
    assert orders[:4] == [[]] * 4
    assert z_of(path[:5]) < -1.5
    assert orders[4] == market(Side.BUY, "0.01")
    assert 0.5 < abs(z_of(path[:6])) < 1.5  # z = -0.81: hold the long
    assert orders[5] == []
    assert abs(z_of(path)) < 0.5  # z = -0.11: flat
    assert orders[6] == market(Side.SELL, "0.01")
    assert harness.position == 0


def test_holds_while_the_spike_persists_and_does_not_churn() -> None:
    harness = Harness(reverter())
    path = ["100", "101", "100", "101", "110", "112", "114"]
    orders = [places(harness.tick(p)) for p in path]
    assert sum(len(o) for o in orders) == 1
    assert harness.position == D("-0.01")


def test_no_trade_with_flat_prices() -> None:
    strategy = reverter()
    harness = Harness(strategy)
    assert [harness.tick("100") for _ in range(50)] == [[]] * 50
    assert strategy.last_z is None  # stdev 0: no signal


def test_flat_prices_leave_a_position_alone() -> None:
    harness = Harness(reverter())
    harness.position = D("-0.01")
    assert [harness.tick("100") for _ in range(20)] == [[]] * 20
    assert harness.position == D("-0.01")


def test_exit_z_zero_never_exits_on_the_band() -> None:
    harness = Harness(reverter(exit_z=0.0))
    for price in ["100", "101", "100", "101", "110", "108", "105", "105"]:
        harness.tick(price)
    assert harness.position == D("-0.01")


def test_sizes_floor_to_the_lot() -> None:
    harness = Harness(reverter(position_size="0.02999"))
    orders = [places(harness.tick(p)) for p in ["100", "101", "100", "101", "110"]]
    assert orders[-1] == market(Side.SELL, "0.0299")
