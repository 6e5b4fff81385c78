"""runaway: orders_per_tick market orders on every tick, random sides from its seed."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.support.strategies import ETH, Harness, context
from trading_engine.domain.orders import OrderType, Side
from trading_engine.domain.strategies.runaway import SPEC
from trading_engine.domain.strategy import MAX_POSITION, PlaceOrder, RiskEvent, Strategy

D = Decimal


def runaway(seed: int = 7, **params: Any) -> Strategy:
    return SPEC.create(SPEC.validate_params(params), seed=seed)


def sides(strategy: Strategy, ticks: int) -> list[list[Side]]:
    out = []
    for _ in range(ticks):
        intents = strategy.on_tick(D(50000), context())
        out.append([i.side for i in intents if isinstance(i, PlaceOrder)])
    return out


def test_emits_orders_per_tick_market_orders_on_every_tick() -> None:
    harness = Harness(runaway(orders_per_tick=7, quantity="0.002"))
    for price in ["50000", "50001", "49990"] * 10:
        intents = harness.tick(price)
        assert len(intents) == 7
        assert all(isinstance(i, PlaceOrder) for i in intents)
        assert {(i.type, i.quantity) for i in intents if isinstance(i, PlaceOrder)} == {
            (OrderType.MARKET, D("0.002"))
        }


def test_defaults_flood_five_orders_a_tick() -> None:
    assert [len(s) for s in sides(runaway(), 10)] == [5] * 10


def test_sides_are_random_but_reproducible_from_the_seed() -> None:
    first = sides(runaway(seed=42), 40)
    assert first == sides(runaway(seed=42), 40)
    assert first != sides(runaway(seed=43), 40)
    flat = [side for tick in first for side in tick]
    assert 40 <= flat.count(Side.BUY) <= 160 and 40 <= flat.count(Side.SELL) <= 160


def test_risk_events_and_fills_do_not_slow_it_down() -> None:
    strategy = runaway(orders_per_tick=3)
    harness = Harness(strategy, refuse_market=True)
    for _ in range(20):
        assert len(harness.tick("50000")) == 3
    assert strategy.on_risk_event(RiskEvent(MAX_POSITION, "no"), context()) == []


def test_quantity_floors_to_the_lot() -> None:
    intents = Harness(runaway(quantity="0.0019"), instrument=ETH).tick("3000")
    assert {i.quantity for i in intents if isinstance(i, PlaceOrder)} == {D("0.001")}
