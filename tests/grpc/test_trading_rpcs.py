"""TradingService over a real grpc.aio channel: every RPC, its status codes, and the order seen
from both transports."""

from __future__ import annotations

from datetime import timedelta

import grpc
from dependency_injector import providers

from tests.conftest import AUTH as HTTP_AUTH
from tests.grpc.conftest import AUTH, GrpcApi, details, refused
from trading_engine.services.archive_hint import ArchiveHint
from trading_engine.v1 import risk_pb2
from trading_engine.v1 import trading_pb2 as pb


def buy(quantity: str = "0.01", **extra: object) -> pb.PlaceOrderRequest:
    return pb.PlaceOrderRequest(symbol="BTC-USD", side=pb.SIDE_BUY, quantity=quantity, **extra)  # type: ignore[arg-type]


async def test_place_get_list_and_cancel(api: GrpcApi) -> None:
    placed = await api.trading.PlaceOrder(buy(), metadata=AUTH)
    assert placed.created
    order = placed.order
    assert (order.symbol, order.side, order.type, order.status) == (
        "BTC-USD", pb.SIDE_BUY, pb.ORDER_TYPE_MARKET, pb.ORDER_STATUS_FILLED)
    assert (order.quantity, order.filled_quantity, order.average_fill_price) == ("0.01", "0.01", "50010.00")
    assert order.created_at.ToDatetime().year == api.clock.now().year

    got = await api.trading.GetOrder(pb.GetOrderRequest(order_id=order.order_id))
    assert got.order == order
    listed = await api.trading.ListOrders(pb.ListOrdersRequest(symbol="BTC-USD", limit=10))
    assert [o.order_id for o in listed.orders] == [order.order_id]
    assert not listed.HasField("next_cursor")

    resting = (await api.trading.PlaceOrder(
        buy(type=pb.ORDER_TYPE_LIMIT, limit_price="40000"), metadata=AUTH)).order
    assert resting.status == pb.ORDER_STATUS_OPEN
    cancelled = await api.trading.CancelOrder(pb.CancelOrderRequest(order_id=resting.order_id), metadata=AUTH)
    assert cancelled.order.status == pb.ORDER_STATUS_CANCELLED
    by_status = await api.trading.ListOrders(pb.ListOrdersRequest(status=pb.ORDER_STATUS_CANCELLED))
    assert [o.order_id for o in by_status.orders] == [resting.order_id]

    again = await refused(api.trading.CancelOrder(pb.CancelOrderRequest(order_id=resting.order_id), metadata=AUTH))
    assert again.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "only open or partially_filled orders can be cancelled" in again.details()


async def test_positions_and_portfolio(api: GrpcApi) -> None:
    await api.trading.PlaceOrder(buy("0.1"), metadata=AUTH)
    positions = (await api.trading.GetPositions(pb.GetPositionsRequest())).positions
    assert [(p.symbol, p.quantity, p.mark) for p in positions] == [("BTC-USD", "0.1", "50000")]
    portfolio = await api.trading.GetPortfolio(pb.GetPortfolioRequest())
    http = await (await api.http.get("/api/v1/portfolio/pnl")).json()
    assert portfolio.reporting_currency == "USD"
    assert dict(portfolio.cash) == http["cash"]
    for name in ("equity", "gross_exposure", "realized_pnl", "unrealized_pnl", "fees", "net_pnl"):
        assert getattr(portfolio, name) == http[name], name
    assert [p.symbol for p in portfolio.positions] == ["BTC-USD"]

    unknown = await refused(api.trading.GetPositions(pb.GetPositionsRequest(strategy_id="stg_nope")))
    assert unknown.code() == grpc.StatusCode.NOT_FOUND


async def test_an_order_placed_over_grpc_is_seen_over_http_and_the_reverse(api: GrpcApi) -> None:
    over_grpc = (await api.trading.PlaceOrder(buy(client_order_id="from-grpc"), metadata=AUTH)).order
    seen = await (await api.http.get(f"/api/v1/orders/{over_grpc.order_id}")).json()
    assert (seen["client_order_id"], seen["status"], seen["quantity"]) == ("from-grpc", "filled", "0.01")

    response = await api.http.post("/api/v1/orders", headers=HTTP_AUTH, json={
        "symbol": "ETH-USD", "side": "buy", "type": "limit", "quantity": "0.5", "limit_price": "2500"})
    over_http = await response.json()
    got = (await api.trading.GetOrder(pb.GetOrderRequest(order_id=over_http["order_id"]))).order
    assert (got.symbol, got.type, got.limit_price, got.status) == ("ETH-USD", pb.ORDER_TYPE_LIMIT, "2500",
                                                                     pb.ORDER_STATUS_OPEN)


async def test_bad_input_is_invalid_argument_naming_the_field(api: GrpcApi) -> None:
    cases = [
        (pb.PlaceOrderRequest(symbol="BTC-USD", quantity="0.01"), "side", "side is required"),
        (buy(quantity=""), "quantity", "quantity is required"),
        (buy(quantity="abc"), "quantity", "quantity: Input should be a valid decimal"),
        (buy(quantity="-1"), "quantity", "quantity: Input should be greater than 0"),
        (buy(limit_price="100"), "limit_price", None),
        (pb.PlaceOrderRequest(symbol="nope", side=pb.SIDE_BUY, quantity="1"), "symbol", None),
        (buy(client_order_id="has space"), "client_order_id", None),
        (pb.PlaceOrderRequest(symbol="BTC-USD", side=7, quantity="1"), "side", None),  # type: ignore[arg-type]
        (buy(quantity="0.00001"), "quantity", None),  # below the lot
        (pb.PlaceOrderRequest(symbol="DOGE-USD", side=pb.SIDE_BUY, quantity="1"), "symbol", None),
    ]
    for request, field, message in cases:
        error = await refused(api.trading.PlaceOrder(request, metadata=AUTH))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (request, error.details())
        info, violations = details(error)
        assert [f for f, _ in violations] == [field], (request, violations)
        assert info.domain == "trading-system-engine" and info.metadata["request_id"]
        if message is not None:
            assert error.details().startswith(message), error.details()

    for request, field in [(pb.ListOrdersRequest(limit=5000), "limit"), (pb.ListOrdersRequest(cursor="!!"), "cursor"),
                           (pb.ListOrdersRequest(symbol="x"), "symbol")]:
        error = await refused(api.trading.ListOrders(request))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (request, error.details())
        assert [f for f, _ in details(error)[1]] == [field]


async def test_refusals_map_to_their_status_codes(api: GrpcApi) -> None:
    missing = await refused(api.trading.GetOrder(pb.GetOrderRequest(order_id="ord_missing")))
    assert missing.code() == grpc.StatusCode.NOT_FOUND and "ord_missing" in missing.details()

    too_big = await refused(api.trading.PlaceOrder(buy("5"), metadata=AUTH))  # $250k on a $10k account
    assert too_big.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    info, _ = details(too_big)
    assert info.reason == "max_order_notional_exceeded" and info.metadata["order_id"].startswith("ord_")
    no_cash = await refused(api.trading.PlaceOrder(buy("0.3"), metadata=AUTH))
    assert (no_cash.code(), details(no_cash)[0].reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "insufficient_funds")

    first = await api.trading.PlaceOrder(buy(client_order_id="retry-me"), metadata=AUTH)
    retry = await api.trading.PlaceOrder(buy(client_order_id="retry-me"), metadata=AUTH)
    assert (retry.created, retry.order.order_id) == (False, first.order.order_id)
    conflict = await refused(api.trading.PlaceOrder(buy("0.02", client_order_id="retry-me"), metadata=AUTH))
    assert conflict.code() == grpc.StatusCode.ALREADY_EXISTS
    assert [f for f, _ in details(conflict)[1]] == ["client_order_id"]

    await api.risk.TripCircuitBreaker(risk_pb2.TripCircuitBreakerRequest(reason="test halt"), metadata=AUTH)
    halted = await refused(api.trading.PlaceOrder(buy(), metadata=AUTH))
    assert (halted.code(), details(halted)[0].reason) == (grpc.StatusCode.FAILED_PRECONDITION, "circuit_breaker_open")

    await api.risk.ResetCircuitBreaker(risk_pb2.ResetCircuitBreakerRequest(), metadata=AUTH)
    api.clock.advance(60)  # the prices are now stale
    stale = await refused(api.trading.PlaceOrder(buy(), metadata=AUTH))
    assert (stale.code(), details(stale)[0].reason) == (grpc.StatusCode.UNAVAILABLE, "market_data_stale")


async def test_the_store_failing_is_unavailable(api: GrpcApi) -> None:
    store = api.container.trading_store()
    await store.stop()  # writes are now refused: nothing can be stored
    error = await refused(api.trading.PlaceOrder(buy(), metadata=AUTH))
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert details(error)[0].reason == "store_unavailable"


async def test_get_order_of_an_unknown_id_with_a_retention_points_to_the_archive(start_grpc) -> None:
    def retention(container) -> None:
        container.archive_hint.override(providers.Object(ArchiveHint(timedelta(days=30), "./data/archive")))

    api = await start_grpc(setup=retention)
    try:
        missing = await refused(api.trading.GetOrder(pb.GetOrderRequest(order_id="ord_aged_out")))
        assert missing.code() == grpc.StatusCode.NOT_FOUND
        assert missing.details().startswith("order 'ord_aged_out' not found; orders that finished")
        assert "more than 30d ago" in missing.details() and "./data/archive" in missing.details()
    finally:
        await api.channel.close()
