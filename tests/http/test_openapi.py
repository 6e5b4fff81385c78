"""GET /api/v1/openapi.json documents exactly the routes the app registers."""

from __future__ import annotations

import json
import re

from tests.http.trading_api import get_json

IGNORED_METHODS = {"HEAD", "OPTIONS"}
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def registered(app) -> set[tuple[str, str]]:
    return {
        (route.method.upper(), route.resource.canonical)
        for route in app.router.routes()
        if route.method.upper() not in IGNORED_METHODS and route.resource is not None
    }


def documented(document: dict) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


async def test_document_is_openapi_3_json(client) -> None:
    resp = await client.get("/api/v1/openapi.json")
    assert resp.status == 200
    assert resp.content_type == "application/json"
    document = json.loads(await resp.text())
    assert re.fullmatch(r"3\.\d+\.\d+", document["openapi"])
    assert document["info"]["title"] and document["info"]["version"]
    assert document["paths"]


async def test_every_registered_route_is_documented_and_every_documented_one_registered(client) -> None:
    document = await get_json(client, "/api/v1/openapi.json")
    routes = registered(client.app)
    docs = documented(document)
    assert routes - docs == set(), "registered but not documented"
    assert docs - routes == set(), "documented but not registered"
    # The trading routes are among them.
    assert {("POST", "/api/v1/orders"), ("GET", "/api/v1/orders/{order_id}"), ("DELETE", "/api/v1/orders/{order_id}"),
            ("GET", "/api/v1/orders/{order_id}/fills"), ("POST", "/api/v1/risk/circuit-breaker"),
            ("GET", "/api/v1/market/prices/{symbol}")} <= routes


async def test_operations_document_bodies_parameters_errors_and_auth(client) -> None:
    document = await get_json(client, "/api/v1/openapi.json")
    schemas = document["components"]["schemas"]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            where = f"{method.upper()} {path}"
            assert operation.get("summary"), where
            assert operation["responses"], where
            for status, response in operation["responses"].items():
                assert re.fullmatch(r"[1-5]\d\d", status), where
                assert response.get("description"), (where, status)
            if method in ("post", "put", "patch"):
                body = operation.get("requestBody")
                assert body and body.get("required") is True, where
                assert body["content"]["application/json"]["schema"], where
            if method in ("post", "put", "patch", "delete"):
                assert operation.get("security") == [{"bearer": []}], where
                assert "401" in operation["responses"], where
            # Every path parameter is declared.
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == set(re.findall(r"{(\w+)}", path)), where
            # Every error response is in the one error shape.
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")) and path not in ("/api/v1/ready",):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (where, status)
    assert set(schemas["Error"]["properties"]["error"]["required"]) == {"code", "message", "request_id"}
    assert document["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}


async def test_order_body_schema_matches_what_the_api_accepts(client) -> None:
    document = await get_json(client, "/api/v1/openapi.json")
    schema = document["paths"]["/api/v1/orders"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert set(schema["properties"]) == {
        "symbol", "side", "type", "quantity", "limit_price", "time_in_force", "client_order_id",
    }
    assert set(schema["required"]) == {"symbol", "side", "quantity"}
    assert schema.get("additionalProperties") is False
    reasons = document["components"]["schemas"]["Order"]["properties"]["reject_reason"]["oneOf"][0]["enum"]
    assert set(reasons) == {
        "unknown_symbol", "quantity_below_minimum", "quantity_off_lot", "price_off_tick",
        "max_order_notional_exceeded", "max_position_exceeded", "gross_exposure_exceeded",
        "insufficient_funds", "circuit_breaker_open", "market_data_stale",
    }
    responses = document["paths"]["/api/v1/orders"]["post"]["responses"]
    assert {"200", "201", "400", "401", "409", "413", "415", "422", "503"} <= set(responses)
