"""The RED middleware, observed through a recording fake that replaces the container's metrics port."""

from __future__ import annotations

import pytest
from aiohttp import web
from dependency_injector import providers
from structlog.testing import capture_logs

from tests.fakes import RaisingMetrics, RecordingMetrics

REQ, DUR, ERR = "http_requests_total", "http_request_duration_seconds", "http_request_errors_total"


async def thing(request: web.Request) -> web.Response:
    if request.match_info["thing_id"] == "missing":
        raise web.HTTPNotFound(text="thing missing not found")
    return web.json_response({"id": request.match_info["thing_id"]})


async def boom(request: web.Request) -> web.Response:
    raise RuntimeError("handler bug")


def extra_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/things/{thing_id}", thing)
    app.router.add_get("/boom", boom)


@pytest.fixture
async def recorded(container, make_client):
    fake = RecordingMetrics()
    container.metrics_port.override(providers.Object(fake))
    client = await make_client(container, setup=extra_routes)
    return client, fake


def red(fake: RecordingMetrics) -> list[tuple[str, str, dict]]:
    """The RED calls without their values (durations vary)."""
    return [(kind, name, labels) for kind, name, labels, _ in fake.calls if name in (REQ, DUR, ERR)]


async def test_plain_200(recorded) -> None:
    client, fake = recorded
    resp = await client.get("/api/v1/health")
    assert resp.status == 200
    labels = {"method": "GET", "route": "/api/v1/health", "code": "200"}
    assert red(fake) == [("counter", REQ, labels), ("histogram", DUR, labels)]
    [(_, _, _, amount), (_, _, _, seconds)] = [c for c in fake.calls if c[1] in (REQ, DUR)]
    assert amount == 1.0
    assert 0 < seconds < 5


async def test_404_raised_on_a_templated_route_is_labelled_with_the_template(recorded) -> None:
    client, fake = recorded
    assert (await client.get("/api/v1/things/missing")).status == 404
    assert (await client.get("/api/v1/things/t-1")).status == 200
    missing = {"method": "GET", "route": "/api/v1/things/{thing_id}", "code": "404"}
    found = {"method": "GET", "route": "/api/v1/things/{thing_id}", "code": "200"}
    assert red(fake) == [
        ("counter", REQ, missing),
        ("histogram", DUR, missing),
        ("counter", ERR, missing),
        ("counter", REQ, found),
        ("histogram", DUR, found),
    ]


async def test_unmatched_path_has_one_fixed_route_value(recorded) -> None:
    client, fake = recorded
    for path in ("/nope", "/api/v1/health/extra", "/x/y/z?q=1"):
        assert (await client.get(path)).status == 404
    routes = {labels["route"] for _, _, labels in red(fake)}
    assert routes == {"unmatched"}


async def test_405_is_labelled_with_the_route_template(recorded) -> None:
    client, fake = recorded
    assert (await client.delete("/api/v1/things/t-1")).status == 405
    labels = {"method": "DELETE", "route": "/api/v1/things/{thing_id}", "code": "405"}
    assert ("counter", ERR, labels) in red(fake)


async def test_non_standard_method_is_labelled_other(recorded) -> None:
    client, fake = recorded
    resp = await client.request("PURGE", "/api/v1/health")
    assert resp.status == 405
    assert {labels["method"] for _, _, labels in red(fake)} == {"other"}


async def test_handler_exception_is_counted_as_500_and_reaches_the_error_middleware(recorded) -> None:
    client, fake = recorded
    resp = await client.get("/boom")
    assert resp.status == 500
    assert (await resp.json())["error"]["code"] == "internal_error"
    labels = {"method": "GET", "route": "/boom", "code": "500"}
    assert red(fake) == [("counter", REQ, labels), ("histogram", DUR, labels), ("counter", ERR, labels)]


async def test_a_raising_metrics_port_never_fails_the_request(container, make_client) -> None:
    container.metrics_port.override(providers.Object(RaisingMetrics()))
    client = await make_client(container, setup=extra_routes)
    with capture_logs() as logs:
        for _ in range(5):
            resp = await client.get("/api/v1/health")
            assert resp.status == 200
            assert (await resp.json())["status"] == "healthy"
        assert (await client.get("/api/v1/things/missing")).status == 404
        assert (await client.get("/boom")).status == 500
    failures = [e for e in logs if e["event"] == "metrics_update_failed"]
    # once per metric name per minute, however many requests failed to record
    assert sorted(e["metric"] for e in failures) == [DUR, ERR, REQ]
    assert all(e["error"] == "RuntimeError: metrics backend is down" for e in failures)


async def test_domain_and_api_errors_are_counted_with_the_status_the_client_gets(recorded) -> None:
    from tests.conftest import AUTH

    client, fake = recorded
    unauthorised = await client.post("/api/v1/orders", json={})
    invalid = await client.post("/api/v1/orders", json={"symbol": "BTC-USD"}, headers=AUTH)
    rejected = await client.post(
        "/api/v1/orders", json={"symbol": "BTC-USD", "side": "buy", "quantity": "1"}, headers=AUTH
    )
    missing = await client.get("/api/v1/orders/ord_nope")
    assert [r.status for r in (unauthorised, invalid, rejected, missing)] == [401, 422, 422, 404]
    codes = [(labels["route"], labels["code"]) for kind, name, labels in red(fake) if name == ERR]
    assert codes == [
        ("/api/v1/orders", "401"),
        ("/api/v1/orders", "422"),
        ("/api/v1/orders", "422"),
        ("/api/v1/orders/{order_id}", "404"),
    ]
