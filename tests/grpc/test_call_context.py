"""Authentication, request ids, the grpc_request log event, oversize messages, unknown methods."""

from __future__ import annotations

import grpc
import pytest
from structlog.testing import capture_logs

from tests.conftest import API_TOKEN
from tests.grpc.conftest import AUTH, GrpcApi, details, refused
from trading_engine.v1 import risk_pb2, strategy_pb2
from trading_engine.v1 import trading_pb2 as pb

MUTATING = [
    ("trading", "PlaceOrder", pb.PlaceOrderRequest(symbol="BTC-USD", side=pb.SIDE_BUY, quantity="0.01")),
    ("trading", "CancelOrder", pb.CancelOrderRequest(order_id="ord_x")),
    ("strategies", "StartStrategy", strategy_pb2.StartStrategyRequest(strategy="momentum", symbol="BTC-USD")),
    ("strategies", "StopStrategy", strategy_pb2.StopStrategyRequest(strategy_id="stg_x")),
    ("risk", "TripCircuitBreaker", risk_pb2.TripCircuitBreakerRequest(reason="why")),
    ("risk", "ResetCircuitBreaker", risk_pb2.ResetCircuitBreakerRequest()),
]


@pytest.mark.parametrize("metadata", [(), (("authorization", "Bearer wrong-token-0123456789"),),
                                      (("authorization", API_TOKEN),), (("authorization", "Basic abc"),)],
                         ids=["none", "wrong", "no_scheme", "basic"])
async def test_every_mutating_rpc_needs_the_token(api: GrpcApi, metadata: tuple) -> None:
    for stub, method, request in MUTATING:
        error = await refused(getattr(getattr(api, stub), method)(request, metadata=metadata))
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED, method
        assert "authorization: Bearer <token>" in error.details()
        assert details(error)[0].reason == "unauthorized"
    orders = await (await api.http.get("/api/v1/orders")).json()
    assert orders["orders"] == []  # nothing was placed
    breaker = (await api.risk.GetRiskStatus(risk_pb2.GetRiskStatusRequest())).circuit_breaker
    assert not breaker.is_open


async def test_reads_are_open(api: GrpcApi) -> None:
    await api.trading.GetPortfolio(pb.GetPortfolioRequest())
    await api.trading.ListOrders(pb.ListOrdersRequest())
    await api.risk.GetRiskStatus(risk_pb2.GetRiskStatusRequest())
    await api.strategies.ListActiveStrategies(strategy_pb2.ListActiveStrategiesRequest())


async def test_request_id_is_the_clients_when_sane_and_logged_once_per_call_without_the_token(api: GrpcApi) -> None:
    with capture_logs() as logs:
        call = api.trading.PlaceOrder(MUTATING[0][2], metadata=(*AUTH, ("x-request-id", "client-id-1")))
        await call
        echoed = dict(await call.trailing_metadata())["x-request-id"]
        insane = api.trading.GetPortfolio(pb.GetPortfolioRequest(), metadata=(("x-request-id", "bad id!"),))
        await insane
        generated = dict(await insane.trailing_metadata())["x-request-id"]
        error = await refused(api.trading.GetOrder(pb.GetOrderRequest(order_id="ord_missing"),
                                                   metadata=(("x-request-id", "client-id-2"),)))
    assert echoed == "client-id-1"
    assert generated != "bad id!" and generated
    assert details(error)[0].metadata["request_id"] == "client-id-2"
    assert dict(error.trailing_metadata())["x-request-id"] == "client-id-2"
    events = [e for e in logs if e["event"] == "grpc_request"]
    assert [(e["grpc_method"], e["code"], e["request_id"]) for e in events] == [
        ("PlaceOrder", "OK", "client-id-1"), ("GetPortfolio", "OK", generated), ("GetOrder", "NOT_FOUND", "client-id-2")]
    assert all(e["grpc_service"] == "trading_engine.v1.TradingService" and e["duration_ms"] >= 0 for e in events)
    assert not any(API_TOKEN in repr(e) for e in logs)


async def test_a_message_over_the_size_limit_is_refused_cleanly(start_grpc) -> None:
    api = await start_grpc({"grpc": {"max_message_bytes": "1024"}})
    try:
        with capture_logs() as logs:
            error = await refused(api.trading.PlaceOrder(
                pb.PlaceOrderRequest(symbol="BTC-USD", side=pb.SIDE_BUY, quantity="0.01", client_order_id="x" * 2000),
                metadata=AUTH))
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert not [e for e in logs if e.get("log_level") == "error"]
        assert (await api.trading.GetPortfolio(pb.GetPortfolioRequest())).reporting_currency == "USD"
    finally:
        await api.channel.close()


async def test_an_unknown_method_is_unimplemented(api: GrpcApi) -> None:
    call = api.channel.unary_unary("/trading_engine.v1.TradingService/Nope")
    error = await refused(call(b""))
    assert error.code() == grpc.StatusCode.UNIMPLEMENTED
    other = api.channel.unary_unary("/some.Other/Thing")
    assert (await refused(other(b""))).code() == grpc.StatusCode.UNIMPLEMENTED
