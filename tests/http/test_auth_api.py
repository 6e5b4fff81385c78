"""Bearer-token auth: every mutating request needs the API token; reads are open; the token is
never echoed back."""

from __future__ import annotations

import pytest

from tests.conftest import API_TOKEN, AUTH
from tests.http.trading_api import ORDERS, account_snapshot, expect_error, get_json, order_body, place_ok

BREAKER = "/api/v1/risk/circuit-breaker"

BAD_HEADERS = {
    "no_header": {},
    "wrong_token": {"Authorization": "Bearer not-the-api-token-0000"},
    "token_prefix": {"Authorization": f"Bearer {API_TOKEN[:-1]}"},
    "token_longer": {"Authorization": f"Bearer {API_TOKEN}x"},
    "basic_scheme": {"Authorization": f"Basic {API_TOKEN}"},
    "bare_token": {"Authorization": API_TOKEN},
    "empty_bearer": {"Authorization": "Bearer "},
}


async def expect_401(resp) -> dict:
    error = await expect_error(resp, 401, "unauthorized")
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in error["message"]
    assert API_TOKEN not in await resp.text()
    return error


@pytest.mark.parametrize("headers", BAD_HEADERS.values(), ids=BAD_HEADERS.keys())
async def test_post_order_without_the_right_token_is_401_and_stores_nothing(client, headers) -> None:
    before = await account_snapshot(client)
    await expect_401(await client.post(ORDERS, json=order_body(), headers=headers))
    assert await account_snapshot(client) == before


async def test_delete_needs_the_token(client) -> None:
    order = await place_ok(client, type="limit", limit_price="49000")
    path = f"{ORDERS}/{order['order_id']}"
    await expect_401(await client.delete(path))
    await expect_401(await client.delete(path, headers=BAD_HEADERS["wrong_token"]))
    assert (await get_json(client, path))["status"] == "open"
    resp = await client.delete(path, headers=AUTH)
    assert resp.status == 200, await resp.text()
    # Auth comes before the lookup: an unknown order without the token is still 401.
    await expect_401(await client.delete(f"{ORDERS}/ord_unknown"))


async def test_circuit_breaker_needs_the_token(client) -> None:
    await expect_401(await client.post(BREAKER, json={"action": "trip", "reason": "x"}))
    assert (await get_json(client, "/api/v1/risk/status"))["circuit_breaker"]["is_open"] is False
    resp = await client.post(BREAKER, json={"action": "trip", "reason": "x"}, headers=AUTH)
    assert resp.status == 200, await resp.text()


async def test_correct_token_is_accepted_with_any_case_of_the_scheme(client) -> None:
    resp = await client.post(ORDERS, json=order_body(quantity="0.01"), headers={"Authorization": f"bearer {API_TOKEN}"})
    assert resp.status == 201, await resp.text()
    resp = await client.post(ORDERS, json=order_body(quantity="0.01"), headers=AUTH)
    assert resp.status == 201, await resp.text()


GET_ROUTES = [
    "/api/v1/health",
    "/api/v1/ready",
    "/api/v1/metrics",
    "/metrics",
    "/api/v1/openapi.json",
    "/api/v1/orders",
    "/api/v1/positions/current",
    "/api/v1/portfolio/pnl",
    "/api/v1/risk/status",
    "/api/v1/market/prices",
    "/api/v1/market/prices/BTC-USD",
]


async def test_reads_need_no_token(client) -> None:
    order = await place_ok(client)
    for path in [*GET_ROUTES, f"{ORDERS}/{order['order_id']}", f"{ORDERS}/{order['order_id']}/fills"]:
        resp = await client.get(path)
        assert resp.status == 200, (path, resp.status, await resp.text())


async def test_unknown_paths_and_methods_are_404_and_405_not_401(client) -> None:
    error = await expect_error(await client.post("/api/v1/nope", json={}), 404, "not_found")
    assert "POST /api/v1/nope" in error["message"]
    await expect_error(await client.delete("/api/v1/positions/current"), 405, "method_not_allowed")
    await expect_error(await client.post(f"{ORDERS}/ord_x"), 405, "method_not_allowed")
    await expect_error(await client.put(ORDERS, json=order_body()), 405, "method_not_allowed")


async def test_the_token_never_appears_in_a_response(client) -> None:
    texts: list[str] = []
    order = await place_ok(client, type="limit", limit_price="49000")
    requests = [
        *(("GET", path, None, None) for path in GET_ROUTES),
        ("GET", f"{ORDERS}/{order['order_id']}", None, None),
        ("POST", ORDERS, order_body(), {"Authorization": f"Bearer {API_TOKEN}-wrong"}),
        ("POST", ORDERS, order_body(symbol="DOGE-USD"), AUTH),
        ("POST", ORDERS, order_body(quantity="abc"), AUTH),
        ("POST", BREAKER, {"action": "trip"}, AUTH),
        ("DELETE", f"{ORDERS}/{order['order_id']}", None, {"Authorization": "Basic x"}),
        ("DELETE", f"{ORDERS}/{order['order_id']}", None, AUTH),
        ("GET", "/api/v1/nope", None, AUTH),
    ]
    for method, path, body, headers in requests:
        resp = await client.request(method, path, json=body, headers=headers or {})
        assert resp.status < 500, (method, path, await resp.text())
        texts.append(await resp.text())
        texts.extend(f"{k}: {v}" for k, v in resp.headers.items())
    texts.append(await (await client.get("/api/v1/metrics")).text())
    assert [t[:200] for t in texts if API_TOKEN in t] == []
