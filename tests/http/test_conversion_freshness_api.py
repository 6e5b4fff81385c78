"""An order quoted in another currency than the reporting one is valued through a conversion
price (ETH-BTC through BTC-USD): that price must be fresh too, for the order, the risk status and
readiness alike."""

from __future__ import annotations

from tests.conftest import AUTH
from tests.fakes import FakeClock, ScriptedMarketData
from tests.http.trading_api import ORDERS, expect_error, get_json, order_body, place_ok, script_market
from trading_engine.domain.instruments import Instrument
from trading_engine.services.market import MarketView

STATUS = "/api/v1/risk/status"
ETH_BTC = order_body(symbol="ETH-BTC", quantity="1")  # a market buy of 1 ETH for about 0.06 BTC


async def test_a_stale_conversion_price_rejects_the_order_naming_it(make_container, make_client) -> None:
    container = make_container({"account": {"initial_cash": "USD=10000,BTC=1"}})
    clock, feed = script_market(container)
    client = await make_client(container)
    clock.advance(7)  # every price is stale now
    feed.push_many({"ETH-BTC": "0.06", "ETH-USD": "3000"})  # BTC-USD alone stays stale

    error = await expect_error(await client.post(ORDERS, json=ETH_BTC, headers=AUTH), 422, "market_data_stale")
    assert error["message"] == (
        "market data for BTC-USD is stale (BTC-USD converts BTC into USD to value ETH-BTC); "
        "orders are accepted only while prices are fresh"
    )
    assert error["order"]["status"] == "rejected"
    await place_ok(client, symbol="ETH-USD", quantity="0.1")  # valued without BTC-USD: accepted

    market_data = (await get_json(client, STATUS))["market_data"]
    assert market_data["ETH-BTC"] == {"fresh": True, "age_seconds": 0.0, "stale_pricing": ["BTC-USD"]}
    assert market_data["BTC-USD"]["stale_pricing"] == ["BTC-USD"]
    assert market_data["ETH-USD"]["stale_pricing"] == []
    resp = await client.get("/api/v1/ready")
    assert resp.status == 503 and (await resp.json())["checks"]["market_data"] == "error"

    feed.push("BTC-USD", "50000")  # both fresh: accepted
    order = await place_ok(client, **ETH_BTC)
    assert order["status"] == "filled" and order["symbol"] == "ETH-BTC"
    market_data = (await get_json(client, STATUS))["market_data"]
    assert all(entry["stale_pricing"] == [] for entry in market_data.values())
    assert (await get_json(client, "/api/v1/ready"))["checks"]["market_data"] == "ok"


def instrument(symbol: str, price: str) -> Instrument:
    return Instrument.create(symbol, tick_size="0.00001", lot_size="0.001", min_quantity="0.001",
                             initial_price=price)


async def test_readiness_of_a_replay_waits_for_the_conversion_of_the_replayed_symbol() -> None:
    instruments = {i.symbol: i for i in (instrument("BTC-USD", "50000"), instrument("ETH-BTC", "0.06"),
                                         instrument("ETH-USD", "3000"))}
    clock = FakeClock()
    feed = ScriptedMarketData(clock)
    view = MarketView(feed, instruments, clock, reporting_currency="USD", stale_after_seconds=5,
                      watched=["ETH-BTC"])
    feed.push("ETH-BTC", "0.06")
    assert view.symbols == ("ETH-BTC",)
    # ETH-BTC alone cannot be valued in USD
    assert view.staleness() == ("stale prices: BTC-USD (no quote yet); a price counts as fresh up to "
                                "market.stale_after_seconds 5s")
    assert view.stale_pricing("ETH-BTC") == ("BTC-USD",)
    feed.push("BTC-USD", "50000")
    assert view.staleness() is None  # ETH-USD is neither replayed nor needed
    clock.advance(6)
    feed.push("ETH-BTC", "0.06")
    assert view.staleness() == ("stale prices: BTC-USD (last quote 6.0s ago); a price counts as fresh up to "
                                "market.stale_after_seconds 5s")
    assert view.stale_pricing("ETH-BTC") == ("BTC-USD",)
