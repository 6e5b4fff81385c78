"""client_order_id makes POST /api/v1/orders idempotent: a retry gets the same order, a different
request under the same id is a conflict, and concurrent retries create exactly one order."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from tests.conftest import AUTH
from tests.http.trading_api import D, ORDERS, all_orders, expect_error, order_body, pnl

CASH_AFTER_ONE_BUY = Decimal(10000) - Decimal("5001.000") - Decimal("5.001")


async def test_same_id_and_body_returns_the_same_order_with_200(client) -> None:
    body = order_body(client_order_id="retry-1")
    first = await client.post(ORDERS, json=body, headers=AUTH)
    assert first.status == 201, await first.text()
    created = await first.json()
    assert created["client_order_id"] == "retry-1"

    second = await client.post(ORDERS, json=body, headers=AUTH)
    assert second.status == 200, await second.text()
    assert await second.json() == created

    # The same fields written differently (a JSON number, defaults spelled out) are the same request.
    same = {**body, "quantity": 0.1, "time_in_force": "gtc"}
    third = await client.post(ORDERS, json=same, headers=AUTH)
    assert third.status == 200, await third.text()
    assert (await third.json())["order_id"] == created["order_id"]

    assert [o["order_id"] for o in await all_orders(client)] == [created["order_id"]]
    assert D((await pnl(client))["cash"]["USD"]) == CASH_AFTER_ONE_BUY


async def test_same_id_with_a_different_body_is_409(client) -> None:
    created = await (await client.post(ORDERS, json=order_body(client_order_id="k-1"), headers=AUTH)).json()
    for changed in (
        order_body(client_order_id="k-1", quantity="0.2"),
        order_body(client_order_id="k-1", side="sell"),
        order_body(client_order_id="k-1", symbol="ETH-USD"),
        order_body(client_order_id="k-1", type="limit", limit_price="49000"),
    ):
        error = await expect_error(await client.post(ORDERS, json=changed, headers=AUTH), 409, "conflict")
        assert "k-1" in error["message"] and created["order_id"] in error["message"]
    assert [o["order_id"] for o in await all_orders(client)] == [created["order_id"]]
    assert D((await pnl(client))["cash"]["USD"]) == CASH_AFTER_ONE_BUY


async def test_distinct_ids_make_distinct_orders(client) -> None:
    a = await (await client.post(ORDERS, json=order_body(client_order_id="a", quantity="0.01"), headers=AUTH)).json()
    b = await (await client.post(ORDERS, json=order_body(client_order_id="b", quantity="0.01"), headers=AUTH)).json()
    assert a["order_id"] != b["order_id"]
    assert len(await all_orders(client)) == 2


async def test_concurrent_identical_requests_create_exactly_one_order(client) -> None:
    body = order_body(client_order_id="burst-1")
    responses = await asyncio.gather(*(client.post(ORDERS, json=body, headers=AUTH) for _ in range(10)))
    statuses = sorted(r.status for r in responses)
    assert statuses == [200] * 9 + [201], [await r.text() for r in responses]
    orders = [await r.json() for r in responses]
    assert len({o["order_id"] for o in orders}) == 1
    assert all(o["status"] == "filled" for o in orders)

    stored = await all_orders(client)
    assert [o["order_id"] for o in stored] == [orders[0]["order_id"]]
    valuation = await pnl(client)
    assert D(valuation["cash"]["USD"]) == CASH_AFTER_ONE_BUY  # debited once
    [position] = valuation["positions"]
    assert position["quantity"] == "0.1"
    fills = await (await client.get(f"{ORDERS}/{orders[0]['order_id']}/fills")).json()
    assert len(fills["fills"]) == 1


async def test_concurrent_requests_with_one_id_but_different_bodies(client) -> None:
    """Whichever arrives first is placed; the others under that id are conflicts, or replays when
    they are the same request."""
    same = order_body(client_order_id="mixed")
    other = order_body(client_order_id="mixed", quantity="0.2")
    responses = await asyncio.gather(
        *(client.post(ORDERS, json=same if i % 2 == 0 else other, headers=AUTH) for i in range(6))
    )
    statuses = [r.status for r in responses]
    assert statuses.count(201) == 1, statuses
    assert set(statuses) <= {200, 201, 409}, statuses
    assert len(await all_orders(client)) == 1


async def test_retrying_a_rejected_order_does_not_place_it_again(client) -> None:
    body = order_body(client_order_id="too-big", quantity="0.2")  # insufficient funds
    error = await expect_error(await client.post(ORDERS, json=body, headers=AUTH), 422, "insufficient_funds")
    retry = await client.post(ORDERS, json=body, headers=AUTH)
    # The retry gets the first answer again, the same 422 naming the same stored order, and
    # nothing new is placed.
    again = await expect_error(retry, 422, "insufficient_funds")
    assert again["order_id"] == error["order_id"]
    assert (again["order"]["status"], again["order"]["reject_reason"]) == ("rejected", "insufficient_funds")
    assert len(await all_orders(client)) == 1
