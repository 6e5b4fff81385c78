"""The database stops taking writes: orders fail with 503 store_unavailable, nothing is half-written
(cash, positions and orders are those of before), and trading resumes once the disk is repaired."""

from __future__ import annotations

import asyncio

from dependency_injector import providers

from tests.conftest import AUTH
from tests.http.trading_api import (
    D,
    ORDERS,
    all_orders,
    expect_error,
    get_json,
    order_body,
    place,
    place_ok,
    pnl,
)
from trading_engine.domain.errors import StoreUnavailable
from trading_engine.infrastructure.persistence.memory import InMemoryTradingStore


async def failing_client(make_container, make_client):
    container = make_container()
    store = InMemoryTradingStore()
    container.trading_store.override(providers.Object(store))
    return await make_client(container), store


async def test_unwritable_database_is_503_and_nothing_is_half_written(make_container, make_client) -> None:
    client, store = await failing_client(make_container, make_client)
    first = await place_ok(client)
    before = await pnl(client)

    store.fail_commits(OSError("disk full"))
    error = await expect_error(await place(client, symbol="ETH-USD", quantity="1"), 503, "store_unavailable")
    assert "database" in error["message"] and "disk full" in error["message"]
    assert "nothing was stored" in error["message"]

    # Memory was reloaded from the store: the failed order left no trace.
    after = await pnl(client)
    assert after == before
    assert [o["order_id"] for o in await all_orders(client)] == [first["order_id"]]
    assert (await get_json(client, "/api/v1/positions/current"))["positions"] == before["positions"]

    # Still broken: every write keeps failing the same way, and still stores nothing.
    await expect_error(await place(client, quantity="0.01"), 503, "store_unavailable")
    await expect_error(await place(client, symbol="DOGE-USD"), 503, "store_unavailable")  # even a rejection
    await expect_error(
        await client.post("/api/v1/risk/circuit-breaker", json={"action": "trip", "reason": "x"}, headers=AUTH),
        503, "store_unavailable",
    )
    assert await pnl(client) == before
    assert len(await all_orders(client)) == 1
    assert (await get_json(client, "/api/v1/risk/status"))["circuit_breaker"]["is_open"] is False

    # Repaired: trading resumes on top of the last durable state.
    store.fail_commits(None)
    second = await place_ok(client, symbol="ETH-USD", quantity="1")
    assert second["status"] == "filled"
    valuation = await pnl(client)
    assert D(valuation["cash"]["USD"]) == D(before["cash"]["USD"]) - D(second["filled_notional"]) - D(second["fees"])
    assert {p["symbol"] for p in valuation["positions"]} == {"BTC-USD", "ETH-USD"}
    assert [o["order_id"] for o in await all_orders(client)] == [second["order_id"], first["order_id"]]

    # The failed attempts left no trace in the business metrics either.
    text = await (await client.get("/api/v1/metrics")).text()
    filled = [line for line in text.splitlines() if line.startswith("orders_total{") and 'status="filled"' in line]
    assert len(filled) == 2 and all(line.endswith(" 1.0") for line in filled)
    assert "order_rejections_total{" not in text


async def test_failed_cancel_leaves_the_order_resting(make_container, make_client) -> None:
    client, store = await failing_client(make_container, make_client)
    order = await place_ok(client, type="limit", limit_price="49000")
    reserved = (await pnl(client))["reserved"]

    store.fail_commits(PermissionError("read-only file system"))
    error = await expect_error(await client.delete(f"{ORDERS}/{order['order_id']}", headers=AUTH),
                               503, "store_unavailable")
    assert "read-only file system" in error["message"]
    assert (await get_json(client, f"{ORDERS}/{order['order_id']}"))["status"] == "open"
    assert (await pnl(client))["reserved"] == reserved

    store.fail_commits(None)
    resp = await client.delete(f"{ORDERS}/{order['order_id']}", headers=AUTH)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["status"] == "cancelled"


async def test_idempotent_retry_after_a_failed_write_places_the_order(make_container, make_client) -> None:
    client, store = await failing_client(make_container, make_client)
    body = order_body(client_order_id="retry-after-503")
    store.fail_commits(OSError("I/O error"))
    await expect_error(await client.post(ORDERS, json=body, headers=AUTH), 503, "store_unavailable")
    store.fail_commits(None)
    resp = await client.post(ORDERS, json=body, headers=AUTH)
    assert resp.status == 201, await resp.text()  # the failed attempt did not claim the id
    assert len(await all_orders(client)) == 1


class UnreadableOnce(InMemoryTradingStore):
    """A store whose reads also fail for a while after a failed write (the reload retries)."""

    def __init__(self) -> None:
        super().__init__()
        self.failing_loads = 0

    async def load_state(self):
        if self.failing_loads > 0:
            self.failing_loads -= 1
            raise StoreUnavailable("disk unreadable")
        return await super().load_state()


async def test_readiness_reports_the_database_while_the_store_is_failed(make_container, make_client) -> None:
    container = make_container()
    store = UnreadableOnce()
    container.trading_store.override(providers.Object(store))
    client = await make_client(container)
    await place_ok(client, quantity="0.01")
    ready = await get_json(client, "/api/v1/ready")
    assert ready["checks"]["database"] == "ok"

    store.fail_commits(OSError("disk full"))
    store.failing_loads = 1  # the reload after the failed write needs one retry (1 s)
    failing = asyncio.create_task(place(client, quantity="0.01"))
    for _ in range(200):
        if store.failed:
            break
        await asyncio.sleep(0.005)
    assert store.failed

    resp = await client.get("/api/v1/ready")
    assert resp.status == 503
    body = await resp.json()
    assert body["status"] == "not_ready" and body["checks"]["database"] == "error"

    # While the account reloads, new orders are refused at once, without waiting.
    error = await expect_error(await place(client, quantity="0.01"), 503, "store_unavailable")
    assert "retry" in error["message"]

    await expect_error(await failing, 503, "store_unavailable")
    store.fail_commits(None)
    ready = await get_json(client, "/api/v1/ready")
    assert ready["checks"]["database"] == "ok"
    await place_ok(client, quantity="0.01")
    assert len(await all_orders(client)) == 2
