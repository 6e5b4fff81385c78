"""GET /api/v1/openapi.json documents exactly the routes the app registers."""

from __future__ import annotations

import json
import re
from dataclasses import fields

import pytest
from jsonschema import Draft202012Validator

from tests.http.trading_api import expect_error, get_json
from trading_engine.domain.orders import OrderRequest

IGNORED_METHODS = {"HEAD", "OPTIONS"}
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def registered(app) -> set[tuple[str, str]]:
    return {
        (route.method.upper(), route.resource.canonical)
        for route in app.router.routes()
        if route.method.upper() not in IGNORED_METHODS and route.resource is not None
    }


def resolve(document: dict, schema: dict) -> dict:
    """``schema``, or the component its ``$ref`` names."""
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


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
    error = resolve(document, schemas["Error"]["properties"]["error"])
    assert set(error["required"]) == {"code", "message", "request_id"}
    assert document["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}


async def test_order_body_schema_matches_what_the_api_accepts(client) -> None:
    document = await get_json(client, "/api/v1/openapi.json")
    schema = document["paths"]["/api/v1/orders"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    schema = resolve(document, schema)
    assert set(schema["properties"]) == {
        "symbol", "side", "type", "quantity", "limit_price", "time_in_force", "client_order_id",
    }
    assert set(schema["required"]) == {"symbol", "side", "quantity"}
    assert schema.get("additionalProperties") is False
    # An order answer carries every field of the one request definition.
    order = document["components"]["schemas"]["Order"]
    assert {f.name for f in fields(OrderRequest)} <= set(order["required"])
    nullable = order["properties"]["reject_reason"]["anyOf"]
    assert {"type": "null"} in nullable
    reasons = next(resolve(document, s)["enum"] for s in nullable if s != {"type": "null"})
    assert set(reasons) == {
        "unknown_symbol", "quantity_below_minimum", "quantity_off_lot", "price_off_tick",
        "max_order_notional_exceeded", "max_position_exceeded", "gross_exposure_exceeded",
        "insufficient_funds", "circuit_breaker_open", "market_data_stale",
    }
    responses = document["paths"]["/api/v1/orders"]["post"]["responses"]
    assert {"200", "201", "400", "401", "409", "413", "415", "422", "503"} <= set(responses)


def body_validator(document: dict, path: str) -> Draft202012Validator:
    """A validator for the documented request body of POST ``path``."""
    schema = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return Draft202012Validator({**schema, "components": document["components"]})


async def test_order_quantities_are_documented_as_the_api_parses_them(client) -> None:
    document = await get_json(client, "/api/v1/openapi.json")
    valid = body_validator(document, "/api/v1/orders").is_valid
    order = {"symbol": "BTC-USD", "side": "buy"}
    for quantity in ("0.1", "1", "12.5", 0.1, 3):
        assert valid({**order, "quantity": quantity}), quantity
    for quantity in ("", " ", "0", "-1", "abc", "1e3", "0.0000000000001", 0, -1, None):
        assert not valid({**order, "quantity": quantity}), quantity
    assert not valid({**order, "quantity": "1", "symbol": "DOGE-USD"})  # not an instrument of this service


async def test_tripping_the_breaker_is_documented_to_need_a_reason(client) -> None:
    document = await get_json(client, "/api/v1/openapi.json")
    valid = body_validator(document, "/api/v1/risk/circuit-breaker").is_valid
    assert valid({"action": "trip", "reason": "venue incident"}) and valid({"action": "reset"})
    for body in ({"action": "trip"}, {"action": "trip", "reason": None}, {"action": "trip", "reason": "  "}):
        assert not valid(body), body


def strategy_names(document: dict) -> set[str]:
    start = resolve(document, document["paths"]["/api/v1/strategies/start"]["post"]["requestBody"]
                    ["content"]["application/json"]["schema"])
    return {variant["properties"]["strategy"]["const"] for variant in start["oneOf"]}


@pytest.mark.parametrize("chaos", [False, True])
async def test_the_strategies_documented_are_the_ones_this_service_offers(make_container, make_client, chaos) -> None:
    client = await make_client(make_container({"strategies": {"enable_chaos": str(chaos).lower()}}))
    document = await get_json(client, "/api/v1/openapi.json")
    offered = {s["name"] for s in (await get_json(client, "/api/v1/strategies/available"))["strategies"]}
    assert strategy_names(document) == offered
    assert len(offered) == (7 if chaos else 4)  # the built-ins and the example plug-in
    valid = body_validator(document, "/api/v1/strategies/start").is_valid
    assert valid({"strategy": "momentum", "symbol": "BTC-USD", "params": {"fast": 3, "position_size": "0.01"}})
    assert not valid({"strategy": "nope", "symbol": "BTC-USD"})
    assert not valid({"strategy": "momentum", "symbol": "BTC-USD", "params": {"no_such_param": 1}})
    assert not valid({"strategy": "momentum", "symbol": "BTC-USD", "params": {"position_size": "-1"}})


def query_parameter(document: dict, path: str, name: str) -> dict:
    return next(p for p in document["paths"][path]["get"]["parameters"] if p["name"] == name)


@pytest.mark.parametrize("path", ["/api/v1/positions/current", "/api/v1/portfolio/pnl"])
async def test_an_empty_strategy_filter_is_a_documented_400_and_an_unknown_one_a_404(client, path) -> None:
    document = await get_json(client, "/api/v1/openapi.json")
    responses = document["paths"][path]["get"]["responses"]
    assert {"200", "400", "404"} <= set(responses)
    schema = query_parameter(document, path, "strategy_id")["schema"]
    assert not Draft202012Validator(schema).is_valid("")
    await expect_error(await client.get(path, params={"strategy_id": ""}), 400, "bad_request", field="strategy_id")
    await expect_error(await client.get(path, params={"strategy_id": "stg_nope"}), 404, "not_found")


async def test_empty_order_filters_are_documented_as_invalid(client) -> None:
    document = await get_json(client, "/api/v1/openapi.json")
    for name in ("strategy_id", "cursor"):
        assert not Draft202012Validator(query_parameter(document, "/api/v1/orders", name)["schema"]).is_valid("")
        await expect_error(await client.get("/api/v1/orders", params={name: ""}), 400, "bad_request", field=name)


async def test_links_lead_from_created_resources_to_their_routes(client) -> None:
    document = await get_json(client, "/api/v1/openapi.json")
    operations = {op["operationId"]: op for item in document["paths"].values() for op in item.values()}
    for status in ("200", "201"):
        links = operations["create_order"]["responses"][status]["links"]
        assert {name: link["parameters"] for name, link in links.items()} == {
            target: {"path.order_id": "$response.body#/order_id"}
            for target in ("get_order", "cancel_order", "order_fills")
        }
    links = operations["strategy_start"]["responses"]["201"]["links"]
    assert set(links) == {"strategy_status", "strategy_performance", "strategy_stop", "positions", "pnl", "list_orders"}
    assert links["strategy_stop"]["requestBody"] == {"strategy_id": "$response.body#/strategy_id"}
    assert links["pnl"]["parameters"] == {"query.strategy_id": "$response.body#/strategy_id"}
    for link in (link for op in operations.values() for r in op["responses"].values() for link in r.get("links", {}).values()):
        assert link["operationId"] in operations
