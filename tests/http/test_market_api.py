"""GET /api/v1/market/prices and /api/v1/market/prices/{symbol}."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.http.trading_api import D, expect_error, get_json, script_market

PRICES = "/api/v1/market/prices"


async def test_prices_of_every_instrument_from_the_simulated_feed(client) -> None:
    prices = (await get_json(client, PRICES))["prices"]
    assert [p["symbol"] for p in prices] == ["BTC-USD", "ETH-BTC", "ETH-USD"]
    by_symbol = {p["symbol"]: p for p in prices}
    # A still market: each instrument at its initial price, on its tick grid, as a string.
    assert by_symbol["BTC-USD"]["price"] == "50000.00"
    assert by_symbol["ETH-USD"]["price"] == "3000.00"
    assert by_symbol["ETH-BTC"]["price"] == "0.06000"
    for price in prices:
        assert price["fresh"] is True
        assert isinstance(price["age_seconds"], float) and 0 <= price["age_seconds"] < 5
        assert price["timestamp"].endswith("Z")


@pytest.mark.parametrize("asked", ["BTC-USD", "btc-usd", "Btc-Usd"])
async def test_one_price_accepts_any_case(client, asked) -> None:
    price = await get_json(client, f"{PRICES}/{asked}")
    assert price["symbol"] == "BTC-USD"
    assert D(price["price"]) == 50000
    assert price["fresh"] is True


@pytest.mark.parametrize("asked", ["DOGE-USD", "BTCUSD", "nope"])
async def test_unknown_symbol_is_404_naming_the_configured_ones(client, asked) -> None:
    error = await expect_error(await client.get(f"{PRICES}/{asked}"), 404, "not_found")
    assert asked in error["message"]
    assert "BTC-USD, ETH-BTC, ETH-USD" in error["message"]


async def test_prices_follow_the_feed_and_go_stale(make_container, make_client) -> None:
    container = make_container()
    clock, feed = script_market(container)
    client = await make_client(container)
    feed.push("ETH-USD", "3100.25")
    price = await get_json(client, f"{PRICES}/ETH-USD")
    assert price == {
        "symbol": "ETH-USD",
        "price": "3100.25",
        "timestamp": "2026-01-02T03:04:05.678Z",
        "age_seconds": 0.0,
        "fresh": True,
    }
    clock.advance(5)  # exactly market.stale_after_seconds: still fresh
    assert (await get_json(client, f"{PRICES}/ETH-USD"))["fresh"] is True
    clock.advance(0.5)
    stale = await get_json(client, f"{PRICES}/ETH-USD")
    assert (stale["fresh"], stale["age_seconds"], D(stale["price"])) == (False, 5.5, Decimal("3100.25"))


async def test_price_before_the_first_quote_is_null(make_container, make_client) -> None:
    container = make_container()
    script_market(container, prices={"BTC-USD": "50000"})
    client = await make_client(container)
    eth = await get_json(client, f"{PRICES}/ETH-USD")
    assert eth == {"symbol": "ETH-USD", "price": None, "timestamp": None, "age_seconds": None, "fresh": False}
    listed = {p["symbol"]: p["fresh"] for p in (await get_json(client, PRICES))["prices"]}
    assert listed == {"BTC-USD": True, "ETH-BTC": False, "ETH-USD": False}
