"""GET /api/v1/orders: newest first, filters by status and symbol, limit and cursor pagination, and
clear refusals of bad query parameters."""

from __future__ import annotations

import pytest

from tests.conftest import AUTH
from tests.http.trading_api import ORDERS, expect_error, get_json, place, place_ok


@pytest.fixture
async def placed(client):
    """Ten orders, in placement order: 5 BTC market buys (filled), 3 ETH-USD market buys (filled),
    1 ETH-USD resting limit buy (open), 1 DOGE-USD order (rejected)."""
    ids = []
    for _ in range(5):
        ids.append((await place_ok(client, quantity="0.01"))["order_id"])
    for _ in range(3):
        ids.append((await place_ok(client, symbol="ETH-USD", quantity="0.1"))["order_id"])
    ids.append((await place_ok(client, symbol="ETH-USD", type="limit", quantity="0.1", limit_price="2000"))["order_id"])
    resp = await place(client, symbol="DOGE-USD")
    assert resp.status == 422
    ids.append((await resp.json())["error"]["order_id"])
    return client, ids


async def ids_of(client, query: str) -> list[str]:
    return [o["order_id"] for o in (await get_json(client, f"{ORDERS}?{query}"))["orders"]]


async def test_lists_every_order_newest_first(placed) -> None:
    client, ids = placed
    page = await get_json(client, ORDERS)
    assert [o["order_id"] for o in page["orders"]] == ids[::-1]
    assert page["next_cursor"] is None
    assert page["orders"][0]["status"] == "rejected"


async def test_filters_by_status_and_symbol(placed) -> None:
    client, ids = placed
    assert await ids_of(client, "status=filled") == ids[:8][::-1]
    assert await ids_of(client, "status=open") == [ids[8]]
    assert await ids_of(client, "status=rejected") == [ids[9]]
    assert await ids_of(client, "status=cancelled") == []
    assert await ids_of(client, "symbol=ETH-USD") == ids[5:9][::-1]
    assert await ids_of(client, "symbol=eth-usd") == ids[5:9][::-1]  # symbols are case-insensitive
    assert await ids_of(client, "symbol=ETH-USD&status=filled") == ids[5:8][::-1]
    assert await ids_of(client, "symbol=BTC-USD&status=open") == []
    assert await ids_of(client, "symbol=ETH-BTC") == []
    # The rejected order is listed under the symbol it asked for.
    assert await ids_of(client, "symbol=DOGE-USD") == [ids[9]]


async def test_cancelled_orders_are_found_by_status(placed) -> None:
    client, ids = placed
    resp = await client.delete(f"{ORDERS}/{ids[8]}", headers=AUTH)
    assert resp.status == 200
    assert await ids_of(client, "status=cancelled") == [ids[8]]
    assert await ids_of(client, "status=open") == []


@pytest.mark.parametrize(("query", "expected"), [("limit=3", 10), ("limit=1", 10), ("symbol=BTC-USD&limit=2", 5),
                                                 ("status=filled&limit=4", 8), ("limit=10", 10), ("limit=1000", 10)])
async def test_cursor_pagination_walks_every_page_once(placed, query, expected) -> None:
    client, ids = placed
    limit = int(dict(p.split("=") for p in query.split("&"))["limit"])
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await get_json(client, f"{ORDERS}?{query}" + (f"&cursor={cursor}" if cursor else ""))
        pages += 1
        assert 1 <= len(page["orders"]) <= limit
        seen.extend(o["order_id"] for o in page["orders"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert len(page["orders"]) == limit  # only the last page is short
        assert pages <= 20
    assert len(seen) == len(set(seen)) == expected
    assert pages == -(-expected // limit)
    full = await ids_of(client, query.split("&limit")[0] if "&" in query else "")
    assert seen == full  # same order as one big page: newest first


async def test_pages_are_stable_while_new_orders_arrive(placed) -> None:
    client, ids = placed
    first = await get_json(client, f"{ORDERS}?limit=4")
    await place_ok(client, quantity="0.01")  # newer than every listed order
    second = await get_json(client, f"{ORDERS}?limit=4&cursor={first['next_cursor']}")
    assert [o["order_id"] for o in first["orders"] + second["orders"]] == ids[::-1][:8]


@pytest.mark.parametrize(
    ("query", "field", "mentions"),
    [
        ("status=bogus", "status", ("'open'", "'filled'", "'rejected'")),
        ("status=FILLED", "status", ("'filled'",)),
        ("limit=0", "limit", ("1",)),
        ("limit=1001", "limit", ("1000",)),
        ("limit=abc", "limit", ("integer",)),
        ("limit=1.5", "limit", ("integer",)),
        ("symbol=BTCUSD", "symbol", ("symbol",)),
        ("cursor=" + "c" * 201, "cursor", ("200",)),
        ("foo=1", "foo", ("unknown query parameter 'foo'", "status", "symbol", "limit", "cursor")),
        ("status=open&page=2", "page", ("unknown query parameter 'page'",)),
    ],
)
async def test_bad_query_parameters_are_400_naming_the_field(client, query, field, mentions) -> None:
    error = await expect_error(await client.get(f"{ORDERS}?{query}"), 400, "bad_request", field=field)
    for word in mentions:
        assert word in error["message"], (word, error["message"])


@pytest.mark.parametrize("cursor", ["zzz", "b246", "bzp4", "AAAA", "o:5", "-1"])
async def test_malformed_cursor_is_400_naming_the_cursor(client, cursor) -> None:
    await place_ok(client, quantity="0.01")
    error = await expect_error(await client.get(f"{ORDERS}?cursor={cursor}"), 400, "bad_request", field="cursor")
    assert "next_cursor" in error["message"]
