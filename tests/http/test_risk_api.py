"""GET /api/v1/risk/status and POST /api/v1/risk/circuit-breaker."""

from __future__ import annotations

from decimal import Decimal

from tests.conftest import AUTH
from tests.http.trading_api import D, ORDERS, expect_error, get_json, place_ok, pnl, script_market

BREAKER = "/api/v1/risk/circuit-breaker"
STATUS = "/api/v1/risk/status"


async def breaker(client, action: str, reason: str | None = None, status: int = 200) -> dict:
    body = {"action": action} if reason is None else {"action": action, "reason": reason}
    resp = await client.post(BREAKER, json=body, headers=AUTH)
    assert resp.status == status, await resp.text()
    return await resp.json()


async def test_status_of_a_fresh_account(client) -> None:
    status = await get_json(client, STATUS)
    assert status["reporting_currency"] == "USD"
    assert status["limits"] == {
        "max_order_notional": "25000",
        "max_position_notional": "50000",
        "max_gross_exposure": "100000",
        "allow_leverage": False,
    }
    assert D(status["utilisation"]["gross_exposure"]) == 0
    assert D(status["utilisation"]["gross_exposure_utilisation"]) == 0
    assert status["utilisation"]["positions"] == {}
    assert status["utilisation"]["open_orders"] == 0
    assert status["circuit_breaker"] == {"is_open": False, "reason": None, "tripped_at": None, "reset_at": None}
    assert set(status["market_data"]) == {"BTC-USD", "ETH-USD", "ETH-BTC"}
    for entry in status["market_data"].values():
        assert entry["fresh"] is True
        assert isinstance(entry["age_seconds"], float) and 0 <= entry["age_seconds"] < 5


async def test_status_after_a_trade_and_a_resting_order(client) -> None:
    await place_ok(client)  # 0.1 BTC, marked at 50000: 5000 USD
    await place_ok(client, symbol="ETH-USD", type="limit", quantity="1", limit_price="2500")
    status = await get_json(client, STATUS)
    utilisation = status["utilisation"]
    assert D(utilisation["gross_exposure"]) == 5000
    assert D(utilisation["gross_exposure_utilisation"]) == Decimal("0.05")
    assert set(utilisation["positions"]) == {"BTC-USD"}
    btc = utilisation["positions"]["BTC-USD"]
    assert btc["quantity"] == "0.1"
    assert D(btc["notional"]) == 5000
    assert D(btc["utilisation"]) == Decimal("0.1")
    assert utilisation["open_orders"] == 1


async def test_status_shows_stale_market_data(make_container, make_client) -> None:
    container = make_container()
    clock, _feed = script_market(container)
    client = await make_client(container)
    clock.advance(7)
    status = await get_json(client, STATUS)
    assert status["market_data"] == {
        "BTC-USD": {"fresh": False, "age_seconds": 7.0, "stale_pricing": ["BTC-USD"]},
        "ETH-USD": {"fresh": False, "age_seconds": 7.0, "stale_pricing": ["ETH-USD"]},
        "ETH-BTC": {"fresh": False, "age_seconds": 7.0, "stale_pricing": ["ETH-BTC", "BTC-USD"]},
    }


async def test_trip_cancels_resting_orders_and_rejects_new_ones_until_reset(client) -> None:
    filled = await place_ok(client, quantity="0.01")
    buy = await place_ok(client, type="limit", quantity="0.01", limit_price="45000")
    sell = await place_ok(client, symbol="ETH-USD", side="sell", type="limit", quantity="1", limit_price="3500")
    assert D((await pnl(client))["reserved"]["USD"]) > 0

    tripped = await breaker(client, "trip", "operator halt: venue incident")
    assert tripped["changed"] is True
    assert sorted(tripped["cancelled_orders"]) == sorted([buy["order_id"], sell["order_id"]])
    state = tripped["circuit_breaker"]
    assert state["is_open"] is True
    assert state["reason"] == "operator halt: venue incident"
    assert state["tripped_at"] and state["reset_at"] is None

    for order_id in (buy["order_id"], sell["order_id"]):
        order = await get_json(client, f"{ORDERS}/{order_id}")
        assert order["status"] == "cancelled"
        assert order["cancel_reason"] == "circuit_breaker_open"
    assert (await get_json(client, f"{ORDERS}/{filled['order_id']}"))["status"] == "filled"
    assert all(D(v) == 0 for v in (await pnl(client))["reserved"].values())

    status = await get_json(client, STATUS)
    assert status["circuit_breaker"] == state
    assert status["utilisation"]["open_orders"] == 0

    # Every new order is rejected while it is open, whatever else is wrong with it.
    for body in ({"symbol": "BTC-USD", "side": "buy", "quantity": "0.01"},
                 {"symbol": "DOGE-USD", "side": "sell", "quantity": "1"}):
        error = await expect_error(await client.post(ORDERS, json=body, headers=AUTH), 422, "circuit_breaker_open")
        assert error["order"]["status"] == "rejected"

    # Tripping again changes nothing and keeps the first reason.
    again = await breaker(client, "trip", "second reason")
    assert again["changed"] is False and again["cancelled_orders"] == []
    assert again["circuit_breaker"]["reason"] == "operator halt: venue incident"

    reset = await breaker(client, "reset", "incident over")
    assert reset["changed"] is True and reset["cancelled_orders"] == []
    assert reset["circuit_breaker"]["is_open"] is False
    assert reset["circuit_breaker"]["reason"] is None and reset["circuit_breaker"]["reset_at"]
    assert (await get_json(client, STATUS))["circuit_breaker"] == reset["circuit_breaker"]

    order = await place_ok(client, quantity="0.01")
    assert order["status"] == "filled"

    # Resetting a closed breaker is harmless.
    assert (await breaker(client, "reset"))["changed"] is False


async def test_trip_needs_a_reason(client) -> None:
    for body in ({"action": "trip"}, {"action": "trip", "reason": ""}, {"action": "trip", "reason": "   "},
                 {"action": "trip", "reason": None}):
        error = await expect_error(await client.post(BREAKER, json=body, headers=AUTH), 422, "validation_error",
                                   field="reason")
        assert "reason" in error["message"]
    error = await expect_error(
        await client.post(BREAKER, json={"action": "trip", "reason": "r" * 501}, headers=AUTH),
        422, "validation_error", field="reason",
    )
    assert "500" in error["message"]
    assert (await get_json(client, STATUS))["circuit_breaker"]["is_open"] is False
    order = await place_ok(client, quantity="0.01")
    assert order["status"] == "filled"


async def test_trip_with_nothing_resting_cancels_nothing(client) -> None:
    tripped = await breaker(client, "trip", "quiet halt")
    assert tripped == {
        "changed": True,
        "circuit_breaker": tripped["circuit_breaker"],
        "cancelled_orders": [],
    }
