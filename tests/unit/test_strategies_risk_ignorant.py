"""risk_ignorant: a market buy every tick, its size multiplied by growth after each risk event."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.support.strategies import Harness, context, places
from trading_engine.domain.orders import OrderType, Side
from trading_engine.domain.strategies.risk_ignorant import MAX_MULTIPLE, SPEC, RiskIgnorant
from trading_engine.domain.strategy import LIMIT_TYPES, PRE_TRADE, PlaceOrder, RiskEvent

D = Decimal


def ignorant(**params: Any) -> RiskIgnorant:
    strategy = SPEC.create(SPEC.validate_params(params), seed=1)
    assert isinstance(strategy, RiskIgnorant)
    return strategy


def test_buys_its_size_on_every_tick() -> None:
    harness = Harness(ignorant())
    for _ in range(5):
        assert harness.tick("50000") == [PlaceOrder(Side.BUY, D("0.001"), OrderType.MARKET)]
    assert harness.position == D("0.005")


def test_doubles_its_size_after_every_rejection() -> None:
    harness = Harness(ignorant(), refuse_market=True)
    sizes = [places(harness.tick("50000"))[0].quantity for _ in range(6)]
    assert sizes == [D("0.001"), D("0.002"), D("0.004"), D("0.008"), D("0.016"), D("0.032")]
    assert harness.position == 0


@pytest.mark.parametrize("limit_type", LIMIT_TYPES)
def test_any_risk_event_grows_it(limit_type: str) -> None:
    strategy = ignorant()
    strategy.on_tick(D(50000), context())
    assert strategy.on_risk_event(RiskEvent(limit_type, "refused"), context()) == []
    assert places(strategy.on_tick(D(50000), context()))[0].quantity == D("0.002")


def test_growth_is_snapped_to_the_lot_and_always_grows() -> None:
    strategy = ignorant(quantity="0.001", growth=1.5)
    sizes = []
    for _ in range(4):
        sizes.append(places(strategy.on_tick(D(50000), context()))[0].quantity)
        strategy.on_risk_event(RiskEvent(PRE_TRADE, "refused"), context())
    assert sizes == [D("0.001"), D("0.0015"), D("0.0022"), D("0.0033")]  # 0.00225 floors to 0.0022

    slow = ignorant(quantity="0.0001", growth=1.001)
    slow.on_risk_event(RiskEvent(PRE_TRADE, "refused"), context())
    assert places(slow.on_tick(D(50000), context()))[0].quantity == D("0.0002")  # one lot more


def test_growth_is_capped_so_the_numbers_stay_printable() -> None:
    strategy = ignorant(quantity="0.001")
    for _ in range(200):
        strategy.on_risk_event(RiskEvent(PRE_TRADE, "breaker open"), context())
    (order,) = places(strategy.on_tick(D(50000), context()))
    assert order.quantity == D("0.001") * MAX_MULTIPLE
