"""Each chaos strategy is contained by what the issue says contains it, over fakes with a fake
clock: ``runaway`` by the order-rate limit and then the circuit breaker, ``risk_ignorant`` by its
position limit, and ``slow_leak`` shows up in its own P&L and drawdown. Chaos strategies exist
only when enabled, and never in production.
"""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from structlog.testing import capture_logs

from tests.support.engine import counted, last_gauge
from tests.support.strategy_engine import (  # noqa: F401  (make_strategy_engine is a fixture)
    D,
    StrategyEngine,
    build_strategy_engine,
    make_strategy_engine,
    market,
    orders_of,
)
from trading_engine.containers import create_container
from trading_engine.domain.errors import ValidationError
from trading_engine.domain.orders import OrderStatus, RejectReason
from trading_engine.domain.strategy import MAX_POSITION, ORDER_RATE, PRE_TRADE
from trading_engine.infrastructure.config import ConfigError
from trading_engine.services.orders import OrderRejected
from trading_engine.domain.strategy_record import StrategyStatus

RUNNING, ERROR = StrategyStatus.RUNNING, StrategyStatus.ERROR

BREACHES = "trading_risk_limit_breaches_total"
CHAOS = ("runaway", "risk_ignorant", "slow_leak")


async def accepted_orders(se: StrategyEngine, strategy_id: str) -> list:
    page = await orders_of(se, strategy_id)
    return [o for o in page.orders if o.status is not OrderStatus.REJECTED]


# -- runaway ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("seconds", [4, 10])
async def test_runaway_gets_at_most_the_configured_order_rate_accepted(make_strategy_engine, seconds: int) -> None:
    se = await make_strategy_engine(enable_chaos=True, max_orders_per_second=5.0,
                                    breaker_after_limit_hits=1_000_000)
    runaway = await se.start("runaway", orders_per_tick=5, quantity="0.001")
    ticks_per_second = 4
    for _ in range(seconds * ticks_per_second):
        await se.tick("50000", advance=1 / ticks_per_second)
    emitted = seconds * ticks_per_second * 5
    accepted = await accepted_orders(se, runaway.strategy_id)
    burst = 5
    assert 5 * seconds <= len(accepted) <= 5 * seconds + burst
    assert all(o.strategy_id == runaway.strategy_id for o in accepted)
    refused = counted(se.recorded, BREACHES, limit_type=ORDER_RATE, strategy="runaway")
    assert refused == emitted - len(accepted)
    assert runaway.limits.hits == refused
    assert runaway.performance.trades == len(accepted)
    assert runaway.status == RUNNING  # the breaker threshold is out of reach here


async def test_runaway_trips_the_breaker_and_is_stopped_while_the_engine_keeps_serving(
    make_strategy_engine,
) -> None:
    se = await make_strategy_engine(enable_chaos=True, max_orders_per_second=5.0, breaker_after_limit_hits=20)
    bystander = await se.start("scripted")
    bystander.strategy.on_tick_hook = lambda price, context: [market("buy", "0.0001")]
    runaway = await se.start("runaway", orders_per_tick=5, quantity="0.001")
    with capture_logs() as logs:
        for _ in range(40):
            await se.tick("50000", advance=0.25)
            if runaway.status != RUNNING:
                break
    assert runaway.status == ERROR
    assert runaway.reason == "stopped after 20 refused orders within 60 s; circuit breaker tripped"
    assert runaway.limits.hits == 20
    assert counted(se.recorded, BREACHES, limit_type=ORDER_RATE, strategy="runaway") == 20
    breaker = se.engine.account.breaker
    assert breaker.is_open and runaway.strategy_id in (breaker.to_dict()["reason"] or "")
    assert [e["strategy_id"] for e in logs if e["event"] == "strategy_contained"] == [runaway.strategy_id]
    assert (await se.engine.store.get_strategy(runaway.strategy_id)).status == ERROR
    assert last_gauge(se.recorded, "risk_circuit_breaker_open") == 1.0

    # The engine still serves: an order through the API path is refused by the breaker ...
    with pytest.raises(OrderRejected) as rejected:
        await se.engine.place("BTC-USD", "buy", "0.001")
    assert rejected.value.reason is RejectReason.CIRCUIT_BREAKER_OPEN
    # ... the other instance keeps running; its refusals (breaker open) do not count against it.
    hits_before = bystander.limits.hits
    await se.ticks(["50000"] * 3, advance=1)
    assert bystander.status == RUNNING and bystander.limits.hits == hits_before
    assert bystander.strategy.risk_events[-1].reason is RejectReason.CIRCUIT_BREAKER_OPEN
    # ... and after a reset, orders work again.
    await se.engine.risk.reset("runaway contained")
    order = await se.engine.place("BTC-USD", "buy", "0.001")
    assert order.status is OrderStatus.FILLED
    trades = bystander.performance.trades
    await se.tick("50000", advance=1)
    assert bystander.performance.trades == trades + 1
    assert runaway.status == ERROR  # a reset does not restart it


# -- risk_ignorant ----------------------------------------------------------------------------------
async def test_risk_ignorant_is_held_at_its_position_limit_while_its_size_doubles(make_strategy_engine) -> None:
    se = await make_strategy_engine(enable_chaos=True, breaker_after_limit_hits=8)
    ignorant = await se.start("risk_ignorant", quantity="0.001", growth=2.0, max_position_notional="1000")
    strategy = ignorant.strategy
    sizes = []
    for _ in range(40):
        await se.tick("50000", advance=1)
        # Never beyond 1,000 USD at the mark (0.02 BTC at 50,000).
        assert abs(ignorant.performance.position.quantity) * D("50000") <= D("1000")
        sizes.append(strategy.size)
        if ignorant.status != RUNNING:
            break
    assert ignorant.performance.position.quantity == D("0.02")  # twenty buys of 0.001 filled
    # Each of the first seven refusals doubles its size; the eighth stops it before it hears of it.
    assert sizes[20:] == [D("0.002"), D("0.004"), D("0.008"), D("0.016"), D("0.032"), D("0.064"),
                          D("0.128"), D("0.128")]
    assert counted(se.recorded, BREACHES, limit_type=MAX_POSITION, strategy="risk_ignorant") == 8
    # Past breaker_after_limit_hits refusals it is stopped and trading halts.
    assert ignorant.status == ERROR and se.engine.account.breaker.is_open
    assert ignorant.performance.trades == 20
    assert se.engine.account.portfolio.position("BTC-USD").quantity == D("0.02")


async def test_risk_ignorant_refused_by_pre_trade_risk_also_doubles(make_strategy_engine) -> None:
    # Its own limit generous, the account's cash (10,000 USD) is what stops it.
    se = await make_strategy_engine(enable_chaos=True, breaker_after_limit_hits=1000)
    ignorant = await se.start("risk_ignorant", quantity="0.05", growth=2.0, max_position_notional="1000000")
    for _ in range(8):
        await se.tick("50000", advance=1)
    events = [c for c in se.recorded.named(BREACHES)]
    assert events and all(c[2] == {"limit_type": PRE_TRADE, "strategy": "risk_ignorant"} for c in events)
    assert se.engine.account.portfolio.cash_balance("USD") >= 0
    assert ignorant.strategy.size > D("0.05")


# -- slow_leak --------------------------------------------------------------------------------------
async def run_slow_leak(ticks: int = 300) -> dict:
    se = await build_strategy_engine(enable_chaos=True)
    try:
        leak = await se.start("slow_leak", quantity="0.01")
        wiggle = random.Random(7)
        for _ in range(ticks):
            await se.tick(Decimal(50000 + wiggle.randint(-5, 5)), advance=1)
        return se.manager.performance(leak.strategy_id)
    finally:
        await se.close()


async def test_slow_leak_bleeds_p_and_l_and_draws_down_deterministically() -> None:
    perf = await run_slow_leak()
    assert perf["trades"] >= 20
    assert perf["net_pnl"] < 0
    assert perf["fees"] > 0
    assert perf["max_drawdown"] > 0
    assert perf["win_rate"] is not None and perf["win_rate"] < 0.5
    # Seeded by its instance id: the same run gives exactly the same figures.
    again = await run_slow_leak()
    assert again == perf


async def test_slow_leak_trades_faster_as_its_trade_count_grows(make_strategy_engine) -> None:
    se = await make_strategy_engine(enable_chaos=True)
    leak = await se.start("slow_leak", quantity="0.01", base_probability=0.05, growth_per_trade=0.02)
    per_hundred = []
    for _ in range(3):
        before = leak.performance.trades
        await se.ticks(["50000"] * 100, advance=1)
        per_hundred.append(leak.performance.trades - before)
    assert per_hundred[0] < per_hundred[2]
    assert leak.strategy.probability > 0.05


# -- availability -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("enable", "environment"), [(False, "testing"), (True, "production")])
async def test_chaos_strategies_are_neither_offered_nor_startable_unless_allowed(
    make_strategy_engine, enable: bool, environment: str
) -> None:
    se = await make_strategy_engine(enable_chaos=enable, environment=environment)
    names = {s["name"] for s in se.manager.available()}
    assert not names & set(CHAOS)
    assert {"market_making", "momentum", "mean_reversion"} <= names
    for name in CHAOS:
        with pytest.raises(ValidationError) as refused:
            await se.manager.start(name, "BTC-USD", {})
        assert refused.value.field == "strategy"
        assert "ENABLE_CHAOS_STRATEGIES" in refused.value.message
    assert se.manager.instances() == []


async def test_chaos_strategies_are_offered_when_enabled(make_strategy_engine) -> None:
    se = await make_strategy_engine(enable_chaos=True)
    offered = {s["name"]: s for s in se.manager.available()}
    assert set(CHAOS) <= set(offered)
    assert all(offered[name]["chaos"] is True for name in CHAOS)
    assert offered["market_making"]["chaos"] is False


def test_chaos_in_production_is_a_config_error_naming_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENABLE_CHAOS_STRATEGIES", "true")
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("TRADING_ENGINE_API_TOKEN", "production-token-0123456789")
    with pytest.raises(ConfigError) as error:
        create_container()
    assert error.value.key == "strategies.enable_chaos"
    assert error.value.env == "ENABLE_CHAOS_STRATEGIES"
    assert "strategies.enable_chaos" in str(error.value) and "production" in str(error.value)
    # Outside production the same setting is accepted.
    monkeypatch.setenv("ENVIRONMENT", "testing")
    assert create_container().config.strategies.enable_chaos() is True


async def test_refusals_spread_wider_than_the_window_never_add_up_to_a_halt(make_strategy_engine) -> None:
    """Containment counts refusals within strategies.limit_hits_window_seconds only: a strategy that
    brushes its order rate now and then keeps running however long it runs."""
    se = await make_strategy_engine(max_orders_per_second=1.0, breaker_after_limit_hits=5)
    instance = await se.start("scripted")
    instance.strategy.on_tick_hook = lambda price, context: [market("buy", "0.0001"), market("sell", "0.0001")]
    for _ in range(30):  # one refusal (the second order of each tick) every 20 s
        await se.tick("50000", advance=20)
    assert instance.status == RUNNING
    assert instance.limits.hits == 30
    assert not se.engine.account.breaker.is_open
