"""Every error is JSON in one shape; every response carries its request id; nothing leaks a traceback."""

from __future__ import annotations

import json
import re

import pytest
from aiohttp import web
from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs


def error_of(body: dict) -> dict:
    assert set(body) == {"error"}
    return body["error"]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
async def test_other_methods_on_known_paths_are_405_json(client, method) -> None:
    for path in ("/api/v1/health", "/api/v1/ready"):
        resp = await client.request(method, path)
        assert resp.status == 405
        assert resp.headers["Allow"] == "GET,HEAD"
        error = error_of(await resp.json())
        assert error["code"] == "method_not_allowed"
        assert error["message"] == f"method {method} is not allowed on {path}; allowed: GET, HEAD"
        assert error["request_id"] == resp.headers["X-Request-ID"]


async def test_unknown_paths_are_404_json(client) -> None:
    resp = await client.get("/api/v1/nope?x=1")
    assert resp.status == 404
    assert resp.content_type == "application/json"
    error = error_of(await resp.json())
    assert error == {
        "code": "not_found",
        "message": "no route matches GET /api/v1/nope",
        "request_id": resp.headers["X-Request-ID"],
    }


async def test_sane_request_id_is_echoed(client) -> None:
    resp = await client.get("/api/v1/health", headers={"X-Request-ID": "trace-42.a:b_c"})
    assert resp.headers["X-Request-ID"] == "trace-42.a:b_c"
    resp = await client.get("/nope", headers={"X-Request-ID": "x" * 128})
    assert error_of(await resp.json())["request_id"] == "x" * 128


@pytest.mark.parametrize("bad", ["x" * 129, "has space", "semi;colon", "<script>"])
async def test_insane_request_id_is_replaced(client, bad) -> None:
    resp = await client.get("/api/v1/health", headers={"X-Request-ID": bad})
    generated = resp.headers["X-Request-ID"]
    assert generated != bad
    assert re.fullmatch(r"[0-9a-f]{26}", generated)


async def test_each_request_gets_its_own_id(client) -> None:
    ids = {(await client.get("/api/v1/health")).headers["X-Request-ID"] for _ in range(5)}
    assert len(ids) == 5


async def boom(request: web.Request) -> web.Response:
    raise RuntimeError("secret internal detail")


async def test_unhandled_exception_is_a_generic_500_and_logged_with_the_request_id(
    container, make_client
) -> None:
    client = await make_client(container, setup=lambda app: app.router.add_get("/boom", boom))
    with capture_logs(processors=[merge_contextvars]) as logs:
        resp = await client.get("/boom", headers={"X-Request-ID": "req-500"})
    assert resp.status == 500
    text = await resp.text()
    assert "secret internal detail" not in text and "Traceback" not in text
    assert error_of(json.loads(text)) == {
        "code": "internal_error",
        "message": "internal server error; quote request_id req-500 when reporting it",
        "request_id": "req-500",
    }
    [event] = [e for e in logs if e["event"] == "unhandled_exception"]
    assert event["request_id"] == "req-500"
    assert event["route"] == "/boom"
    assert event["log_level"] == "error"
    assert event["exc_info"] is True  # log.exception: the traceback goes to the log


async def test_access_log_is_one_structured_event_per_request(client) -> None:
    with capture_logs() as logs:
        await client.get("/api/v1/health", headers={"X-Request-ID": "acc-1"})
        await client.post("/api/v1/ready")
        await client.get("/random/path/123")
    access = [e for e in logs if e["event"] == "http_request"]
    assert [(e["method"], e["route"], e["status"], e["request_id"]) for e in access][0] == (
        "GET",
        "/api/v1/health",
        200,
        "acc-1",
    )
    assert [(e["method"], e["route"], e["status"]) for e in access[1:]] == [
        ("POST", "/api/v1/ready", 405),
        ("GET", "unmatched", 404),
    ]
    assert all(isinstance(e["duration_ms"], float) and e["duration_ms"] >= 0 for e in access)
