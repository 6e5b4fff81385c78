"""slow_leak: random round trips whose frequency grows with its fills; seeded and reproducible."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.support.strategies import Harness, places
from trading_engine.domain.orders import OrderType, Side
from trading_engine.domain.strategies.slow_leak import SPEC, SlowLeak
from trading_engine.domain.strategy import PlaceOrder

D = Decimal


def leak(seed: int = 3, **params: Any) -> SlowLeak:
    strategy = SPEC.create(SPEC.validate_params(params), seed=seed)
    assert isinstance(strategy, SlowLeak)
    return strategy


def trade_ticks(harness: Harness, ticks: int) -> list[int]:
    """The indexes of the ticks on which it traded."""
    return [i for i in range(ticks) if harness.tick("50000")]


def test_round_trips_buy_when_flat_then_sell_the_position() -> None:
    harness = Harness(leak(base_probability=1.0))
    orders = [places(harness.tick("50000")) for _ in range(6)]
    assert orders == [
        [PlaceOrder(Side.BUY, D("0.001"), OrderType.MARKET)],
        [PlaceOrder(Side.SELL, D("0.001"), OrderType.MARKET)],
    ] * 3
    assert harness.position == 0


def test_a_short_position_is_closed_with_a_buy() -> None:
    harness = Harness(leak(base_probability=1.0))
    harness.position = D("-0.0042")
    assert places(harness.tick("50000")) == [PlaceOrder(Side.BUY, D("0.0042"), OrderType.MARKET)]
    assert harness.position == 0


def test_probability_grows_with_fills_up_to_the_cap() -> None:
    strategy = leak(base_probability=0.05, growth_per_trade=0.02, max_probability=0.9)
    harness = Harness(strategy, refuse_market=True)  # no fills: p stays at the base
    harness.tick("50000")
    assert strategy.probability == 0.05
    harness.refuse_market = False
    while not harness.fills:
        harness.tick("50000")
    assert strategy.trades == 1 and abs(strategy.probability - 0.07) < 1e-12
    strategy.trades = 100
    assert strategy.probability == 0.9


def test_trading_gets_more_frequent_as_it_trades() -> None:
    harness = Harness(leak(base_probability=0.02, growth_per_trade=0.01, max_probability=0.8))
    traded = trade_ticks(harness, 3000)
    early = sum(1 for i in traded if i < 300) / 300
    late = sum(1 for i in traded if i >= 2000) / 1000
    assert early < 0.3
    assert late > 0.7  # at the cap of 0.8 by then
    assert late > 2 * early


def test_without_growth_the_rate_stays_at_the_base() -> None:
    harness = Harness(leak(base_probability=0.1, growth_per_trade=0.0))
    traded = trade_ticks(harness, 4000)
    early = sum(1 for i in traded if i < 2000) / 2000
    late = sum(1 for i in traded if i >= 2000) / 2000
    assert 0.07 < early < 0.13 and 0.07 < late < 0.13


def test_seeded_runs_repeat_exactly() -> None:
    def run(seed: int) -> list[int]:
        return trade_ticks(Harness(leak(seed=seed)), 500)

    assert run(11) == run(11)
    assert run(11) != run(12)


def test_zero_probability_never_trades() -> None:
    harness = Harness(leak(base_probability=0.0, growth_per_trade=0.5))
    assert trade_ticks(harness, 200) == []
