"""The interceptor's go-grpc-prometheus metrics, exactly, after a known sequence of calls, as
the exposition on /api/v1/metrics shows them."""

from __future__ import annotations

import asyncio

from prometheus_client.parser import text_string_to_metric_families

from tests.grpc.conftest import AUTH, GrpcApi, refused
from trading_engine.v1 import market_pb2
from trading_engine.v1 import trading_pb2 as pb

TRADING = "trading_engine.v1.TradingService"


async def samples(api: GrpcApi, name: str) -> dict[tuple, float]:
    text = await (await api.http.get("/api/v1/metrics")).text()
    found: dict[tuple, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels.get("grpc_service") != "grpc.health.v1.Health":
                labels = {k: v for k, v in sample.labels.items() if k not in {"service", "instance", "version"}}
                found[tuple(sorted(labels.items()))] = sample.value
    return found


def key(method: str, service: str = TRADING, kind: str = "unary", **more: str) -> tuple:
    return tuple(sorted({"grpc_type": kind, "grpc_service": service, "grpc_method": method, **more}.items()))


async def test_exact_values_after_a_known_sequence(api: GrpcApi) -> None:
    await api.trading.GetPortfolio(pb.GetPortfolioRequest())
    await api.trading.GetPortfolio(pb.GetPortfolioRequest())
    await refused(api.trading.PlaceOrder(pb.PlaceOrderRequest(symbol="BTC-USD", side=pb.SIDE_BUY, quantity="1")))
    await api.trading.PlaceOrder(pb.PlaceOrderRequest(symbol="BTC-USD", side=pb.SIDE_BUY, quantity="0.01"),
                                 metadata=AUTH)
    await refused(api.trading.GetOrder(pb.GetOrderRequest(order_id="ord_missing")))
    await refused(api.channel.unary_unary("/trading_engine.v1.TradingService/Invented")(b""))
    await refused(api.channel.unary_unary("/x.Y/Z")(b""))
    stream = api.prices.StreamPrices(market_pb2.StreamPricesRequest(symbols=["BTC-USD"]))
    server = await api.server()
    async with asyncio.timeout(5):
        while server.price_subscribers == 0:
            await asyncio.sleep(0.005)
        api.market.push("BTC-USD", "50100")
        api.market.push("BTC-USD", "50200")
        assert (await stream.read()).price.price == "50100"
        assert (await stream.read()).price.price == "50200"
        stream.cancel()
        while server.price_subscribers:
            await asyncio.sleep(0.005)

    assert await samples(api, "grpc_server_started_total") == {
        key("GetPortfolio"): 2, key("PlaceOrder"): 2, key("GetOrder"): 1, key("unknown", "unknown"): 2,
        key("StreamPrices", "trading_engine.v1.MarketService", "server_stream"): 1,
    }
    assert await samples(api, "grpc_server_handled_total") == {
        key("GetPortfolio", grpc_code="OK"): 2,
        key("PlaceOrder", grpc_code="Unauthenticated"): 1,
        key("PlaceOrder", grpc_code="OK"): 1,
        key("GetOrder", grpc_code="NotFound"): 1,
        key("unknown", "unknown", grpc_code="Unimplemented"): 2,
        key("StreamPrices", "trading_engine.v1.MarketService", "server_stream", grpc_code="Canceled"): 1,
    }
    assert await samples(api, "grpc_server_msg_received_total") == {
        key("GetPortfolio"): 2, key("PlaceOrder"): 2, key("GetOrder"): 1, key("unknown", "unknown"): 2,
        key("StreamPrices", "trading_engine.v1.MarketService", "server_stream"): 1,
    }
    assert await samples(api, "grpc_server_msg_sent_total") == {
        key("GetPortfolio"): 2, key("PlaceOrder"): 1,  # a refused call sends no message
        key("StreamPrices", "trading_engine.v1.MarketService", "server_stream"): 2,
    }
    counts = await samples(api, "grpc_server_handling_seconds_count")
    assert counts == {key("GetPortfolio"): 2, key("PlaceOrder"): 2, key("GetOrder"): 1, key("unknown", "unknown"): 2,
                      key("StreamPrices", "trading_engine.v1.MarketService", "server_stream"): 1}
