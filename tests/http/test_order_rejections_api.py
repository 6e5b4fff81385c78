"""Every pre-trade reject reason through the API: 422 with the reason as the error code, the
rejected order in the error and stored, and the account untouched."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.conftest import AUTH
from tests.http.trading_api import (
    D,
    ORDERS,
    account_snapshot,
    all_orders,
    expect_error,
    get_json,
    order_body,
    place_ok,
    script_market,
)


@dataclass
class Case:
    reason: str
    body: dict[str, Any]
    # Words the message must contain: it says what was wrong and what is allowed.
    mentions: tuple[str, ...]
    overrides: dict[str, Any] = field(default_factory=dict)
    # Run on the started app before the order (e.g. to build a position or trip the breaker).
    prepare: Callable[[Any, Any], Awaitable[None]] | None = None
    scripted: bool = False


async def _buy_btc(client: Any, feed: Any) -> None:
    await place_ok(client)  # 0.1 BTC: 5001 USD of gross exposure


async def _trip(client: Any, feed: Any) -> None:
    resp = await client.post("/api/v1/risk/circuit-breaker", json={"action": "trip", "reason": "test halt"}, headers=AUTH)
    assert resp.status == 200, await resp.text()


async def _go_stale(client: Any, feed: Any) -> None:
    feed.clock.advance(5.5)  # market.stale_after_seconds is 5


CASES = [
    Case("unknown_symbol", order_body(symbol="DOGE-USD"), ("DOGE-USD", "BTC-USD", "ETH-BTC", "ETH-USD")),
    Case("quantity_below_minimum", order_body(quantity="0.00001"), ("0.00001", "0.0001", "minimum")),
    Case("quantity_off_lot", order_body(quantity="0.00015"), ("0.00015", "0.0001", "lot")),
    Case(
        "price_off_tick",
        order_body(type="limit", limit_price="49000.005"),
        ("49000.005", "0.01", "tick"),
    ),
    Case(
        "max_order_notional_exceeded",
        # 0.6 BTC at 50010 is 30006 USD, over 25000; cash is no object with leverage allowed.
        order_body(quantity="0.6"),
        ("max_order_notional", "25000"),
        overrides={"risk": {"allow_leverage": "true"}},
    ),
    Case(
        "max_position_exceeded",
        order_body(quantity="0.1"),  # a 5000 USD position against a 4000 limit
        ("max_position_notional", "4000", "BTC-USD"),
        overrides={"risk": {"max_position_size": "4000"}},
    ),
    Case(
        "gross_exposure_exceeded",
        # Holding 5000 of BTC, 1 ETH (3000.60) would take gross exposure to 8000+ over 6000.
        order_body(symbol="ETH-USD", quantity="1"),
        ("max_gross_exposure", "6000"),
        overrides={"risk": {"limit_threshold": "6000"}},
        prepare=_buy_btc,
    ),
    Case(
        "insufficient_funds",
        order_body(quantity="0.2"),  # 10002 USD plus fees against 10000 of cash
        ("available cash", "10000"),
    ),
    Case("circuit_breaker_open", order_body(), ("circuit breaker", "reset"), prepare=_trip),
    Case("market_data_stale", order_body(), ("stale", "BTC-USD"), prepare=_go_stale, scripted=True),
]


@pytest.mark.parametrize("case", CASES, ids=[c.reason for c in CASES])
async def test_pre_trade_rejection_is_422_with_the_reason_and_the_order_is_stored(
    make_container, make_client, case: Case
) -> None:
    container = make_container(case.overrides)
    feed = None
    if case.scripted:
        _clock, feed = script_market(container)
    client = await make_client(container)
    if case.prepare is not None:
        await case.prepare(client, feed)
    count, cash, positions = await account_snapshot(client)

    resp = await client.post(ORDERS, json=case.body, headers=AUTH)
    error = await expect_error(resp, 422, case.reason)
    for word in case.mentions:
        assert word in error["message"], (word, error["message"])
    order = error["order"]
    assert order["status"] == "rejected"
    assert order["reject_reason"] == case.reason
    assert order["reject_message"] == error["message"]
    assert error["order_id"] == order["order_id"]
    assert order["filled_quantity"] == "0" and D(order["fees"]) == 0

    # Stored, with its reason, and listed.
    stored = await get_json(client, f"{ORDERS}/{order['order_id']}")
    assert stored == order
    assert await get_json(client, f"{ORDERS}/{order['order_id']}/fills") == {"fills": []}
    listed = await all_orders(client)
    assert len(listed) == count + 1
    assert listed[0]["order_id"] == order["order_id"]  # newest first
    rejected = await get_json(client, f"{ORDERS}?status=rejected")
    assert [o["order_id"] for o in rejected["orders"]] == [order["order_id"]]

    # Cash and positions are exactly what they were.
    assert (await account_snapshot(client))[1:] == (cash, positions)

    # A rejected order is final: it cannot be cancelled.
    await expect_error(await client.delete(f"{ORDERS}/{order['order_id']}", headers=AUTH), 409, "conflict")


async def test_market_data_stale_before_any_price_arrived(make_container, make_client) -> None:
    container = make_container()
    script_market(container, prices={})  # the feed has published nothing yet
    client = await make_client(container)
    error = await expect_error(await client.post(ORDERS, json=order_body(), headers=AUTH), 422, "market_data_stale")
    assert error["order"]["status"] == "rejected"


async def test_market_data_fresh_again_after_a_new_quote(make_container, make_client) -> None:
    container = make_container()
    clock, feed = script_market(container)
    client = await make_client(container)
    clock.advance(10)
    await expect_error(await client.post(ORDERS, json=order_body(), headers=AUTH), 422, "market_data_stale")
    feed.push("BTC-USD", "50000")
    order = await place_ok(client)
    assert order["status"] == "filled" and order["average_fill_price"] == "50010.00"
