"""GET /api/v1/health and /api/v1/ready through a real aiohttp server and client."""

from __future__ import annotations

from dependency_injector import providers

from tests.fakes import FakeClock, RaisingCheck, SlowCheck, StaticCheck
from tests.http.trading_api import script_market


async def test_health_reports_the_service_identity(client) -> None:
    resp = await client.get("/api/v1/health")
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "healthy"
    assert body["service"] == "trading-system-engine"
    assert body["instance"] == "trading-system-engine"
    assert body["environment"] == "testing"
    assert body["version"]
    assert body["timestamp"].endswith("Z")


async def test_health_uses_the_container_clock(make_container, make_client) -> None:
    container = make_container({"service": {"instance_name": "Engine-A"}})
    container.clock.override(providers.Object(FakeClock()))
    client = await make_client(container)
    body = await (await client.get("/api/v1/health")).json()
    assert body["timestamp"] == "2026-01-02T03:04:05.678Z"
    assert body["instance"] == "engine-a"


async def test_ready_when_the_service_is_serving(client) -> None:
    resp = await client.get("/api/v1/ready")
    assert resp.status == 200
    assert await resp.json() == {
        "status": "ready",
        "checks": {"lifecycle": "ok", "database": "ok", "market_data": "ok"},
        "reasons": {},
    }


async def test_readiness_checks_are_replaced_through_the_container(make_container, make_client) -> None:
    container = make_container({"health": {"readiness_timeout_seconds": "0.1"}})
    container.readiness_checks.override(
        providers.Dict(
            database=providers.Object(StaticCheck(True)),
            market_data=providers.Object(RaisingCheck()),
            broker=providers.Object(SlowCheck(10)),
        )
    )
    client = await make_client(container)
    resp = await client.get("/api/v1/ready")
    assert resp.status == 503
    assert await resp.json() == {
        "status": "not_ready",
        "checks": {"database": "ok", "market_data": "error", "broker": "error"},
        "reasons": {
            "market_data": "ConnectionError (the reason is in the log line readiness_check_failed)",
            "broker": "no answer within 0.1s",
        },
    }


async def test_readiness_names_the_stale_price_and_shows_no_library_message(make_container, make_client) -> None:
    """The endpoint answers without a token: the engine's own reasons are shown, a library's
    exception only by its type (its message, which may quote a connection, stays in the log)."""
    container = make_container({"market": {"stale_after_seconds": "5"}})
    clock, feed = script_market(container)
    client = await make_client(container)
    assert (await (await client.get("/api/v1/ready")).json())["reasons"] == {}
    clock.advance(7)
    feed.push("ETH-USD", "3000")  # BTC-USD and the others stay stale
    body = await (await client.get("/api/v1/ready")).json()
    assert body["checks"]["market_data"] == "error"
    reason = body["reasons"]["market_data"]
    assert reason.startswith("Unavailable: stale prices: BTC-USD (last quote 7.0s ago), ")
    assert reason.endswith("; a price counts as fresh up to market.stale_after_seconds 5s")

    container = make_container()
    container.readiness_checks.override(providers.Dict(
        database=providers.Object(RaisingCheck("password authentication failed: s3cret-Pa55word"))))
    client = await make_client(container)
    resp = await client.get("/api/v1/ready")
    assert resp.status == 503
    assert "s3cret-Pa55word" not in await resp.text()
    assert (await resp.json())["reasons"] == {
        "database": "ConnectionError (the reason is in the log line readiness_check_failed)"}
