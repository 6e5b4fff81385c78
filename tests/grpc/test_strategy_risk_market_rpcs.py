"""StrategyService, RiskService and MarketService over a real grpc.aio channel."""

from __future__ import annotations

import grpc
from google.protobuf import struct_pb2

from tests.grpc.conftest import AUTH, GrpcApi, details, refused
from trading_engine.v1 import market_pb2, risk_pb2
from trading_engine.v1 import strategy_pb2 as pb


def params(**values: object) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(values)
    return struct


async def test_strategy_lifecycle(api: GrpcApi) -> None:
    available = (await api.strategies.ListAvailableStrategies(pb.ListAvailableStrategiesRequest())).strategies
    names = [s.name for s in available]
    assert "market_making" in names and "runaway" not in names  # chaos strategies are off
    maker = available[names.index("market_making")]
    assert maker.parameters["spread_bps"]["default"] == "20" and maker.origin == "built-in"

    started = (await api.strategies.StartStrategy(pb.StartStrategyRequest(
        strategy="market_making", symbol="ETH-USD", params=params(spread_bps="10", max_open_orders=4)),
        metadata=AUTH)).strategy
    assert (started.strategy, started.symbol, started.status) == ("market_making", "ETH-USD", pb.STRATEGY_STATUS_RUNNING)
    assert started.params["spread_bps"] == "10" and started.params["max_open_orders"] == 4

    status = (await api.strategies.GetStrategyStatus(pb.GetStrategyStatusRequest(strategy_id=started.strategy_id))).strategy
    assert status.strategy_id == started.strategy_id
    active = (await api.strategies.ListActiveStrategies(pb.ListActiveStrategiesRequest())).strategies
    assert [s.strategy_id for s in active] == [started.strategy_id]
    performance = (await api.strategies.GetStrategyPerformance(
        pb.GetStrategyPerformanceRequest(strategy_id=started.strategy_id))).performance
    http = await (await api.http.get(f"/api/v1/strategies/{started.strategy_id}/performance")).json()
    assert (performance.net_pnl, performance.trades, performance.currency) == (http["net_pnl"], http["trades"], "USD")
    assert not performance.HasField("sharpe_ratio")

    stopped = (await api.strategies.StopStrategy(pb.StopStrategyRequest(strategy_id=started.strategy_id),
                                                 metadata=AUTH)).strategy
    assert (stopped.status, stopped.reason) == (pb.STRATEGY_STATUS_STOPPED, "stopped by client")
    again = await refused(api.strategies.StopStrategy(pb.StopStrategyRequest(strategy_id=started.strategy_id),
                                                      metadata=AUTH))
    assert again.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_strategy_refusals(api: GrpcApi) -> None:
    cases = [
        (pb.StartStrategyRequest(strategy="nope", symbol="BTC-USD"), "strategy"),
        (pb.StartStrategyRequest(strategy="momentum", symbol="BTC-USD", params=params(fast="x")), "params.fast"),
        (pb.StartStrategyRequest(strategy="momentum", symbol="BTC-USD", params=params(bogus=1)), "params.bogus"),
        (pb.StartStrategyRequest(strategy="momentum"), "symbol"),
        (pb.StartStrategyRequest(strategy="momentum", symbol="DOGE-USD"), "symbol"),
    ]
    for request, field in cases:
        error = await refused(api.strategies.StartStrategy(request, metadata=AUTH))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (request, error.details())
        assert [f for f, _ in details(error)[1]] == [field], error.details()
    missing = await refused(api.strategies.GetStrategyStatus(pb.GetStrategyStatusRequest(strategy_id="stg_nope")))
    assert missing.code() == grpc.StatusCode.NOT_FOUND
    bad_id = await refused(api.strategies.StopStrategy(pb.StopStrategyRequest(strategy_id="a b"), metadata=AUTH))
    assert bad_id.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_max_instances_is_resource_exhausted(start_grpc) -> None:
    api = await start_grpc({"strategies": {"max_instances": "1"}})
    try:
        request = pb.StartStrategyRequest(strategy="momentum", symbol="BTC-USD")
        await api.strategies.StartStrategy(request, metadata=AUTH)
        error = await refused(api.strategies.StartStrategy(request, metadata=AUTH))
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "strategies.max_instances" in error.details()
    finally:
        await api.channel.close()


async def test_risk_status_and_the_breaker(api: GrpcApi) -> None:
    status = await api.risk.GetRiskStatus(risk_pb2.GetRiskStatusRequest())
    assert (status.reporting_currency, status.limits.max_order_notional) == ("USD", "25000")
    assert set(status.market_data) == {"BTC-USD", "ETH-USD", "ETH-BTC"}
    assert status.market_data["BTC-USD"].fresh and not status.circuit_breaker.is_open

    no_reason = await refused(api.risk.TripCircuitBreaker(risk_pb2.TripCircuitBreakerRequest(), metadata=AUTH))
    assert no_reason.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in details(no_reason)[1]] == ["reason"]

    tripped = await api.risk.TripCircuitBreaker(risk_pb2.TripCircuitBreakerRequest(reason="maintenance"), metadata=AUTH)
    assert tripped.changed and tripped.circuit_breaker.is_open and tripped.circuit_breaker.reason == "maintenance"
    assert tripped.circuit_breaker.tripped_at.ToDatetime().year == api.clock.now().year
    http = await (await api.http.get("/api/v1/risk/status")).json()
    assert http["circuit_breaker"]["is_open"] is True
    reset = await api.risk.ResetCircuitBreaker(risk_pb2.ResetCircuitBreakerRequest(reason="done"), metadata=AUTH)
    assert reset.changed and not reset.circuit_breaker.is_open
    idle = await api.risk.ResetCircuitBreaker(risk_pb2.ResetCircuitBreakerRequest(), metadata=AUTH)
    assert not idle.changed


async def test_prices(api: GrpcApi) -> None:
    prices = (await api.prices.GetPrices(market_pb2.GetPricesRequest())).prices
    assert sorted((p.symbol, p.price, p.fresh) for p in prices) == [
        ("BTC-USD", "50000", True), ("ETH-BTC", "0.06", True), ("ETH-USD", "3000", True)]
    one = (await api.prices.GetPrices(market_pb2.GetPricesRequest(symbols=["eth-usd"]))).prices
    assert [p.symbol for p in one] == ["ETH-USD"]
    unknown = await refused(api.prices.GetPrices(market_pb2.GetPricesRequest(symbols=["DOGE-USD"])))
    assert unknown.code() == grpc.StatusCode.NOT_FOUND and "configured: BTC-USD" in unknown.details()
