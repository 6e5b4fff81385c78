"""GET /api/v1/health and /api/v1/ready through a real aiohttp server and client."""

from __future__ import annotations

from dependency_injector import providers

from tests.fakes import FakeClock, RaisingCheck, SlowCheck, StaticCheck


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
    }
