"""Helpers for the HTTP tests of the trading API: placing orders, reading errors, a scripted feed.

Not a test module; the HTTP tests import it. Fixtures live in ``tests/conftest.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from aiohttp.test_utils import TestClient
from dependency_injector import providers

from tests.conftest import AUTH
from tests.fakes import FakeClock, ScriptedMarketData

ORDERS = "/api/v1/orders"
INITIAL_PRICES = {"BTC-USD": "50000", "ETH-USD": "3000", "ETH-BTC": "0.06"}


def error_of(body: Any) -> dict[str, Any]:
    """The ``error`` object of an error body, after checking the one error shape."""
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert {"code", "message", "request_id"} <= set(error), error
    assert isinstance(error["code"], str) and error["code"] == error["code"].lower()
    assert isinstance(error["message"], str) and error["message"]
    return error


async def expect_error(resp: Any, status: int, code: str, *, field: str | None = None) -> dict[str, Any]:
    """Assert ``resp`` is a JSON error with this status, code (and field), quoting its request id."""
    text = await resp.text()
    assert resp.status == status, text
    assert resp.content_type == "application/json", text
    error = error_of(await resp.json())
    assert error["code"] == code, error
    assert error["request_id"] == resp.headers["X-Request-ID"]
    if field is not None:
        assert error.get("field") == field, error
    return error


def order_body(**fields: Any) -> dict[str, Any]:
    """A market buy of 0.1 BTC-USD, with ``fields`` replacing or adding keys."""
    body: dict[str, Any] = {"symbol": "BTC-USD", "side": "buy", "type": "market", "quantity": "0.1"}
    body.update(fields)
    return body


async def place(client: TestClient, **fields: Any) -> Any:
    return await client.post(ORDERS, json=order_body(**fields), headers=AUTH)


async def place_ok(client: TestClient, *, status: int = 201, **fields: Any) -> dict[str, Any]:
    resp = await place(client, **fields)
    text = await resp.text()
    assert resp.status == status, text
    return await resp.json()


async def get_json(client: TestClient, path: str, status: int = 200) -> Any:
    resp = await client.get(path)
    text = await resp.text()
    assert resp.status == status, text
    return await resp.json()


async def all_orders(client: TestClient) -> list[dict[str, Any]]:
    """Every stored order, following the cursor through every page."""
    orders: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": "1000"} if cursor is None else {"limit": "1000", "cursor": cursor}
        resp = await client.get(ORDERS, params=params)
        assert resp.status == 200, await resp.text()
        page = await resp.json()
        orders.extend(page["orders"])
        cursor = page["next_cursor"]
        if cursor is None:
            return orders


async def pnl(client: TestClient) -> dict[str, Any]:
    return await get_json(client, "/api/v1/portfolio/pnl")


async def account_snapshot(client: TestClient) -> tuple[int, dict[str, Any], list[dict[str, Any]]]:
    """(number of stored orders, cash, positions): what must not change after refused input."""
    valuation = await pnl(client)
    return len(await all_orders(client)), valuation["cash"], valuation["positions"]


async def eventually(predicate: Any, timeout: float = 3.0) -> Any:
    """Await ``predicate()`` until it returns something truthy (for background commits)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value {value!r}")
        await asyncio.sleep(0.01)


def D(value: Any) -> Decimal:
    return Decimal(str(value))


def script_market(container: Any, prices: Mapping[str, Any] | None = None) -> tuple[FakeClock, ScriptedMarketData]:
    """Replace the clock and the price feed of ``container`` (before its app is built): prices move
    only when the test pushes them, time only when it advances the clock."""
    clock = FakeClock()
    feed = ScriptedMarketData(clock, INITIAL_PRICES if prices is None else prices)
    container.clock.override(providers.Object(clock))
    container.market_data.override(providers.Object(feed))
    return clock, feed
