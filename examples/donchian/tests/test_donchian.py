"""The strategy against scripted bars, the way a strategy author tests one: no engine running."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from trading_engine.domain.bars import Bar
from trading_engine.domain.errors import ValidationError
from trading_engine.domain.instruments import Instrument
from trading_engine.domain.orders import OrderType, Side
from trading_engine.domain.strategy import PlaceOrder, StrategyContext, bar_interval_of
from trading_engine_donchian import SPEC

BTC = Instrument.create(symbol="BTC-USD", tick_size="0.01", lot_size="0.0001", min_quantity="0.0001",
                        initial_price="100")
START = datetime(2026, 1, 5, tzinfo=UTC)


def bar(index: int, high: str, low: str, close: str) -> Bar:
    start = START + timedelta(minutes=index)
    return Bar("BTC-USD", "1m", Decimal(close), Decimal(high), Decimal(low), Decimal(close), Decimal(1),
               start, start + timedelta(minutes=1))


def context(position: str = "0") -> StrategyContext:
    return StrategyContext(symbol="BTC-USD", instrument=BTC, now=START, position=Decimal(position))


def test_it_asks_for_bars_of_its_interval() -> None:
    strategy = SPEC.create(SPEC.validate_params({"bar_interval": "5m"}), seed=0)
    assert bar_interval_of(strategy) == "5m"
    assert bar_interval_of(SPEC.create(SPEC.validate_params(None), seed=0)) == "1m"


def test_a_close_above_the_channel_goes_long_and_below_it_goes_flat() -> None:
    strategy = SPEC.create(SPEC.validate_params({"channel": 3, "position_size": "0.5"}), seed=0)
    for i, (high, low) in enumerate([("101", "99"), ("102", "98"), ("101", "99")]):
        assert strategy.on_bar(bar(i, high, low, "100"), context()) == []  # filling the channel
    assert strategy.on_bar(bar(3, "101.5", "100", "101.5"), context()) == []  # inside: 101.5 < 102
    assert strategy.on_bar(bar(4, "103", "101", "102.5"), context()) == [
        PlaceOrder(Side.BUY, Decimal("0.5"), OrderType.MARKET)
    ]
    assert strategy.on_bar(bar(5, "103", "102", "102.8"), context("0.5")) == []  # holds the target
    assert strategy.on_bar(bar(6, "100", "97", "97.5"), context("0.5")) == [
        PlaceOrder(Side.SELL, Decimal("0.5"), OrderType.MARKET)
    ]


def test_parameters_are_validated_with_names() -> None:
    with pytest.raises(ValidationError, match="params.channel"):
        SPEC.validate_params({"channel": 0})
    with pytest.raises(ValidationError, match="params.bar_interval"):
        SPEC.validate_params({"bar_interval": "7m"})
