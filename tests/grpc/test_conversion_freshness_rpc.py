"""A stale conversion price over gRPC: PlaceOrder in ETH-BTC is refused naming BTC-USD, and
GetRiskStatus lists it among the stale prices of ETH-BTC."""

from __future__ import annotations

import grpc

from tests.grpc.conftest import AUTH, GrpcApi, details, refused
from trading_engine.v1 import risk_pb2
from trading_engine.v1 import trading_pb2 as pb


async def test_a_stale_conversion_price_refuses_the_order_and_shows_in_the_risk_status(api: GrpcApi) -> None:
    sell = pb.PlaceOrderRequest(symbol="ETH-BTC", side=pb.SIDE_SELL, quantity="0.1")
    api.clock.advance(7)
    api.market.push_many({"ETH-BTC": "0.06", "ETH-USD": "3000"})

    stale = await refused(api.trading.PlaceOrder(sell, metadata=AUTH))
    assert (stale.code(), details(stale)[0].reason) == (grpc.StatusCode.UNAVAILABLE, "market_data_stale")
    assert stale.details().startswith("market data for BTC-USD is stale (BTC-USD converts BTC into USD")
    status = await api.risk.GetRiskStatus(risk_pb2.GetRiskStatusRequest())
    eth_btc = status.market_data["ETH-BTC"]
    assert eth_btc.fresh and list(eth_btc.stale_pricing) == ["BTC-USD"]
    assert list(status.market_data["ETH-USD"].stale_pricing) == []

    api.market.push("BTC-USD", "50000")
    placed = await api.trading.PlaceOrder(sell, metadata=AUTH)
    assert placed.order.status == pb.ORDER_STATUS_FILLED
    status = await api.risk.GetRiskStatus(risk_pb2.GetRiskStatusRequest())
    assert list(status.market_data["ETH-BTC"].stale_pricing) == []
