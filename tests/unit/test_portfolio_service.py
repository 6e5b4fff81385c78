"""PortfolioService over fakes: P&L through the use case, the equity identity, the gauges the
scrape hook sets, and bounded metric labels.

Default engine: 10,000 USD, fee 10 bps, slippage 2 bps, BTC-USD at 50,000, ETH-USD at 3,000.
"""

from __future__ import annotations

import pytest

from tests.fakes import RaisingMetrics
from tests.support.engine import (  # noqa: F401  (make_engine is a fixture)
    D,
    assert_durable_matches_memory,
    counted,
    last_gauge,
    make_engine,
)
from trading_engine.domain.errors import ValidationError
from trading_engine.domain.orders import OrderStatus, RejectReason, Side
from trading_engine.domain.ports.metrics import CATALOGUE
from trading_engine.domain.ports.repository import OrderQuery
from trading_engine.services.orders import OrderRejected
from trading_engine.services.trading_metrics import UNKNOWN_SYMBOL


# -- P&L through the use case -------------------------------------------------------------------


async def test_pnl_through_opening_adding_reducing_flipping_and_closing(make_engine) -> None:
    engine = await make_engine(fee_bps="0", slippage_bps="0")
    steps = [
        # mark, side, quantity -> quantity, average entry, realized, unrealized at the mark
        ("3000", "buy", "1", D("1"), D("3000"), D("0"), D("0")),        # open
        ("3100", "buy", "1", D("2"), D("3050"), D("0"), D("100")),      # add
        ("3200", "sell", "0.5", D("1.5"), D("3050"), D("75"), D("225")),  # reduce: (3200-3050)*0.5
        ("3000", "sell", "2.5", D("-1"), D("3000"), D("0"), D("0")),    # flip: -75 on 1.5, short 1 @ 3000
        ("2900", "buy", "1", D("0"), D("0"), D("100"), D("0")),         # close the short: +100
    ]
    for mark, side, quantity, held, average, realized, unrealized in steps:
        engine.market.push("ETH-USD", mark)
        await engine.place("ETH-USD", side, quantity)
        position = engine.account.portfolio.position("ETH-USD")
        assert (position.quantity, position.average_entry_price, position.realized_pnl) == (held, average, realized)
        valuation = engine.portfolio.valuation()
        assert valuation.realized_pnl == realized and valuation.unrealized_pnl == unrealized
        assert valuation.equity - D("10000") == valuation.realized_pnl + valuation.unrealized_pnl - valuation.fees
    assert engine.account.portfolio.cash_balance("USD") == D("10100")
    assert engine.portfolio.positions() == ()  # flat positions are not listed
    state = await engine.store.load_state()
    assert state is not None
    (eth,) = state.positions
    assert (eth.symbol, eth.quantity, eth.realized_pnl) == ("ETH-USD", 0, D("100"))


async def test_equity_identity_holds_exactly_after_a_mixed_sequence_with_fees(make_engine) -> None:
    engine = await make_engine(initial_cash={"USD": "100000"}, liquidity={"BTC-USD": "0.03"})
    await engine.place("BTC-USD", "buy", "0.25")
    await engine.place("ETH-USD", "buy", "3.333")
    resting = await engine.place("BTC-USD", "sell", "0.07", "50500.37")
    engine.market.push_many({"BTC-USD": "50731.19", "ETH-USD": "2987.43"})  # 0.03 of the sell fills
    await engine.place("ETH-USD", "sell", "5.001")  # flips ETH short
    engine.market.push("BTC-USD", "50600.01")  # another 0.03
    await engine.place("BTC-USD", "buy", "0.0123", "50700", time_in_force="ioc")
    await engine.orders.cancel(resting.order_id)
    engine.market.push_many({"BTC-USD": "49876.54", "ETH-USD": "3011.07"})
    await engine.settle()

    valuation = engine.portfolio.valuation()
    assert valuation.fees > 0 and valuation.realized_pnl != 0 and valuation.unrealized_pnl != 0
    assert valuation.equity - D("100000") == valuation.realized_pnl + valuation.unrealized_pnl - valuation.fees

    # The cash is exactly what the stored fills say.
    cash = D("100000")
    fees = D(0)
    for order in (await engine.store.list_orders(OrderQuery())).orders:
        for fill in await engine.store.fills_for_order(order.order_id):
            cash += -fill.notional - fill.fee if fill.side is Side.BUY else fill.notional - fill.fee
            fees += fill.fee
    assert engine.account.portfolio.cash_balance("USD") == cash
    assert valuation.fees == fees
    assert engine.account.portfolio.reserved == {}
    await assert_durable_matches_memory(engine)


# -- gauges refreshed on scrape ------------------------------------------------------------------


async def test_refresh_gauges_sets_the_portfolio_and_market_gauges(make_engine) -> None:
    engine = await make_engine(prices={"BTC-USD": "50000"})  # ETH-USD has no quote yet
    await engine.place("BTC-USD", "buy", "0.1")  # 5,001 + 5.001 fee
    await engine.place("BTC-USD", "sell", "0.04")  # at 49,990: realizes (49990 - 50010) * 0.04 = -0.8
    engine.market.push("BTC-USD", "51000")
    engine.clock.advance(2.5)
    hook, _strategies, _disk_guard = engine.recorded.hooks  # registered by run_trading; the scrape runs them
    engine.recorded.calls.clear()
    hook()

    gauges = {(c[1], tuple(sorted(c[2].items()))): c[3] for c in engine.recorded.calls if c[0] == "gauge"}
    cash = D("10000") - D("5001") - D("5.001") + D("1999.6") - D("1.9996")
    assert engine.account.portfolio.cash_balance("USD") == cash
    assert gauges == {
        ("market_data_age_seconds", (("symbol", "BTC-USD"),)): 2.5,
        ("risk_circuit_breaker_open", ()): 0.0,
        ("positions_active", ()): 1.0,
        ("position_notional", (("symbol", "BTC-USD"),)): 3060.0,  # 0.06 * 51,000
        ("position_notional", (("symbol", "ETH-USD"),)): 0.0,
        ("portfolio_equity", ()): float(cash + D("3060")),
        ("portfolio_pnl", (("kind", "realized"),)): -0.8,
        ("portfolio_pnl", (("kind", "unrealized"),)): float(D("3060") - D("0.06") * D("50010")),
    }

    engine.market.push("ETH-USD", "3000")
    await engine.place("ETH-USD", "sell", "1")
    await engine.risk.trip("halt")
    hook()
    assert last_gauge(engine.recorded, "positions_active") == 2.0
    assert last_gauge(engine.recorded, "position_notional", {"symbol": "ETH-USD"}) == 3000.0
    assert last_gauge(engine.recorded, "market_data_age_seconds", {"symbol": "ETH-USD"}) == 0.0
    assert last_gauge(engine.recorded, "risk_circuit_breaker_open") == 1.0


async def test_positions_lists_open_positions_only(make_engine) -> None:
    engine = await make_engine(fee_bps="0", slippage_bps="0")
    await engine.place("BTC-USD", "buy", "0.01")
    await engine.place("ETH-USD", "buy", "1")
    await engine.place("ETH-USD", "sell", "1")
    (btc,) = engine.portfolio.positions()
    assert (btc.symbol, btc.quantity, btc.mark, btc.market_value) == ("BTC-USD", D("0.01"), D("50000"), D("500.00"))


# -- metric labels stay bounded ------------------------------------------------------------------


async def test_metric_labels_come_from_bounded_sets(make_engine) -> None:
    engine = await make_engine(liquidity={"BTC-USD": "0.05"})
    with pytest.raises(OrderRejected) as caught:
        await engine.place("XYZ-USD", "buy", "1")
    assert caught.value.reason is RejectReason.UNKNOWN_SYMBOL
    for symbol in ("ABC-USD", "QQQ-EUR", "lower-case"):  # well-formed, not configured
        with pytest.raises(OrderRejected):
            await engine.place(symbol, "sell", "1")
    with pytest.raises(ValidationError):  # malformed: refused before it is an order at all
        await engine.place("BTCUSD", "sell", "1")
    assert counted(engine.recorded, "orders_total", symbol=UNKNOWN_SYMBOL, status="rejected") == 4
    assert counted(engine.recorded, "order_rejections_total", reason="unknown_symbol") == 4

    await engine.place("BTC-USD", "buy", "0.1", "49000")
    await engine.place("ETH-USD", "sell", "0.5")
    await engine.place("BTC-USD", "buy", "0.01", "48000", time_in_force="ioc")
    engine.market.push("BTC-USD", "48000")
    engine.clock.advance(6)
    with pytest.raises(OrderRejected):
        await engine.place("ETH-USD", "buy", "0.5")
    await engine.settle()
    engine.recorded.hooks[0]()

    allowed = {
        "symbol": {"BTC-USD", "ETH-USD", UNKNOWN_SYMBOL},
        "side": {s.value for s in Side},
        "type": {"market", "limit"},
        "status": {s.value for s in OrderStatus},
        "reason": {r.value for r in RejectReason},
        "kind": {"realized", "unrealized"},
        # the runtime's gauges, one series per offered strategy (built-ins and installed plug-ins)
        "strategy": set(engine.container.strategy_catalogue()),
    }
    for kind, name, labels, value in engine.recorded.calls:
        assert name in CATALOGUE, name
        assert set(labels) == set(CATALOGUE[name].labels), (name, labels)
        for label, label_value in labels.items():
            assert label_value in allowed[label], (name, label, label_value)
    assert counted(engine.recorded, "fills_total", symbol="BTC-USD", side="buy") == 1
    assert counted(engine.recorded, "fills_total", symbol="ETH-USD", side="sell") == 1


async def test_metrics_that_fail_never_break_trading(make_engine) -> None:
    engine = await make_engine(metrics_port=RaisingMetrics())
    assert (await engine.place("BTC-USD", "buy", "0.01")).status is OrderStatus.FILLED
    resting = await engine.place("ETH-USD", "sell", "1", "3100")
    engine.market.push("ETH-USD", "3100")
    await engine.settle()
    assert (await engine.orders.get(resting.order_id)).status is OrderStatus.FILLED
    await engine.risk.trip("halt")
    engine.recorded.hooks[0]()
    await assert_durable_matches_memory(engine)
