"""Bad input to POST /api/v1/orders: never a 500, always the error shape with a code and a message
naming the field, and nothing stored (no order, no cash moved). Numbers are parsed exactly."""

from __future__ import annotations

import json

import pytest

from tests.conftest import AUTH
from tests.http.trading_api import ORDERS, account_snapshot, expect_error, get_json

JSON = {**AUTH, "Content-Type": "application/json"}
GOOD = {"symbol": "BTC-USD", "side": "buy", "type": "market", "quantity": "0.1"}


def body(**fields) -> str:
    data = dict(GOOD)
    for key, value in fields.items():
        if value is ...:
            data.pop(key)
        else:
            data[key] = value
    return json.dumps(data)


# (id, raw body, status, code, field, words the message must contain)
BAD_BODIES = [
    ("malformed_json", '{"symbol": "BTC-USD", ', 400, "invalid_json", None, ("not valid JSON",)),
    ("json_array", json.dumps([GOOD]), 400, "invalid_json", None, ("JSON object", "list")),
    ("json_string", '"buy"', 400, "invalid_json", None, ("JSON object",)),
    ("json_null", "null", 400, "invalid_json", None, ("JSON object",)),
    ("empty_body", "", 400, "invalid_json", None, ("empty",)),
    ("whitespace_body", "  \n ", 400, "invalid_json", None, ("empty",)),
    ("not_utf8", b'{"symbol": "\xff\xfe"}', 400, "invalid_json", None, ("UTF-8",)),
    ("nan_literal", '{"symbol": "BTC-USD", "side": "buy", "quantity": NaN}', 400, "invalid_json", None, ("NaN", "finite")),
    ("infinity_literal", '{"symbol": "BTC-USD", "side": "buy", "quantity": Infinity}', 400, "invalid_json", None, ("Infinity",)),
    ("quantity_true", body(quantity=True), 422, "validation_error", "quantity", ("quantity",)),
    ("quantity_object", body(quantity={"v": 1}), 422, "validation_error", "quantity", ("quantity",)),
    ("quantity_word", body(quantity="abc"), 422, "validation_error", "quantity", ("quantity", "decimal")),
    ("quantity_zero", body(quantity=0), 422, "validation_error", "quantity", ("quantity", "greater than 0")),
    ("quantity_zero_string", body(quantity="0"), 422, "validation_error", "quantity", ("greater than 0",)),
    ("quantity_negative", body(quantity=-1), 422, "validation_error", "quantity", ("quantity", "greater than 0")),
    ("quantity_nan_string", body(quantity="NaN"), 422, "validation_error", "quantity", ("quantity", "finite")),
    ("quantity_infinity_string", body(quantity="Infinity"), 422, "validation_error", "quantity", ("quantity", "finite")),
    ("quantity_minus_infinity", body(quantity="-Infinity"), 422, "validation_error", "quantity", ("quantity",)),
    ("side_number", body(side=5), 422, "validation_error", "side", ("side", "'buy'", "'sell'")),
    ("side_unknown", body(side="hold"), 422, "validation_error", "side", ("'buy'", "'sell'")),
    ("type_unknown", body(type="stop"), 422, "validation_error", "type", ("'market'", "'limit'")),
    ("time_in_force_unknown", body(time_in_force="fok"), 422, "validation_error", "time_in_force", ("'gtc'", "'ioc'")),
    ("symbol_missing", body(symbol=...), 422, "validation_error", "symbol", ("symbol is required",)),
    ("side_missing", body(side=...), 422, "validation_error", "side", ("side is required",)),
    ("quantity_missing", body(quantity=...), 422, "validation_error", "quantity", ("quantity is required",)),
    ("symbol_number", body(symbol=123), 422, "validation_error", "symbol", ("symbol",)),
    ("symbol_malformed", body(symbol="BTCUSD"), 422, "validation_error", "symbol", ("symbol",)),
    ("unknown_field", body(leverage="10"), 422, "validation_error", "leverage",
     ("unknown field 'leverage'", "symbol", "quantity", "limit_price", "client_order_id")),
    ("limit_price_on_market_order", body(limit_price="50000"), 422, "validation_error", "limit_price",
     ("limit_price", "market")),
    ("limit_order_without_price", body(type="limit"), 422, "validation_error", "limit_price",
     ("limit_price is required",)),
    ("limit_price_zero", body(type="limit", limit_price="0"), 422, "validation_error", "limit_price",
     ("greater than 0",)),
    ("limit_price_nan", body(type="limit", limit_price="NaN"), 422, "validation_error", "limit_price", ("finite",)),
    ("client_order_id_too_long", body(client_order_id="c" * 65), 422, "validation_error", "client_order_id",
     ("client_order_id",)),
    ("client_order_id_empty", body(client_order_id=""), 422, "validation_error", "client_order_id",
     ("client_order_id",)),
    ("client_order_id_bad_characters", body(client_order_id="a b/c"), 422, "validation_error", "client_order_id",
     ("client_order_id",)),
]


@pytest.mark.parametrize(
    ("raw", "status", "code", "field", "mentions"),
    [case[1:] for case in BAD_BODIES],
    ids=[case[0] for case in BAD_BODIES],
)
async def test_bad_order_body_is_refused_and_nothing_is_stored(client, raw, status, code, field, mentions) -> None:
    before = await account_snapshot(client)
    resp = await client.post(ORDERS, data=raw, headers=JSON)
    error = await expect_error(resp, status, code, field=field)
    for word in mentions:
        assert word in error["message"], (word, error["message"])
    if field is None:
        assert "field" not in error
    assert await account_snapshot(client) == before
    assert before[0] == 0


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
async def test_non_json_content_type_is_415(client, content_type) -> None:
    before = await account_snapshot(client)
    resp = await client.post(ORDERS, data=json.dumps(GOOD), headers={**AUTH, "Content-Type": content_type})
    error = await expect_error(resp, 415, "unsupported_media_type")
    assert "application/json" in error["message"] and content_type in error["message"]
    assert await account_snapshot(client) == before


async def test_body_over_the_size_limit_is_413(make_container, make_client) -> None:
    client = await make_client(make_container({"http": {"max_body_bytes": "1024"}}))
    before = await account_snapshot(client)
    big = json.dumps({**GOOD, "client_order_id": "x" * 2000})
    resp = await client.post(ORDERS, data=big, headers=JSON)
    error = await expect_error(resp, 413, "payload_too_large")
    assert "1024" in error["message"] and "http.max_body_bytes" in error["message"]
    assert await account_snapshot(client) == before
    # A normal order fits well under the limit.
    resp = await client.post(ORDERS, data=json.dumps(GOOD), headers=JSON)
    assert resp.status == 201, await resp.text()


async def test_json_numbers_are_parsed_exactly(client) -> None:
    raw = '{"symbol": "ETH-USD", "side": "buy", "type": "market", "quantity": 0.1}'
    resp = await client.post(ORDERS, data=raw, headers={**AUTH, "Content-Type": "application/json; charset=utf-8"})
    assert resp.status == 201, await resp.text()
    order = await resp.json()
    assert order["quantity"] == "0.1"
    assert order["filled_quantity"] == "0.1"

    raw = '{"symbol": "ETH-USD", "side": "buy", "type": "limit", "quantity": 0.123, "limit_price": 2999.99}'
    resp = await client.post(ORDERS, data=raw, headers=JSON)
    assert resp.status == 201, await resp.text()
    order = await resp.json()
    assert (order["quantity"], order["limit_price"]) == ("0.123", "2999.99")
    assert (await get_json(client, f"{ORDERS}/{order['order_id']}"))["limit_price"] == "2999.99"


async def test_integers_are_accepted_as_quantities(client) -> None:
    raw = '{"symbol": "ETH-USD", "side": "buy", "quantity": 1}'
    resp = await client.post(ORDERS, data=raw, headers=JSON)
    assert resp.status == 201, await resp.text()
    order = await resp.json()
    assert order["quantity"] == "1" and order["type"] == "market" and order["time_in_force"] == "gtc"


async def test_bad_circuit_breaker_bodies_are_refused(client) -> None:
    cases = [
        ('{"action": "explode", "reason": "x"}', 422, "validation_error", "action"),
        ('{"reason": "x"}', 422, "validation_error", "action"),
        ('{"action": "trip", "reason": "x", "force": true}', 422, "validation_error", "force"),
        ('{"action": "trip", "reason": 5}', 422, "validation_error", "reason"),
        ("[]", 400, "invalid_json", None),
        ("{", 400, "invalid_json", None),
    ]
    for raw, status, code, field in cases:
        await expect_error(
            await client.post("/api/v1/risk/circuit-breaker", data=raw, headers=JSON), status, code, field=field
        )
    status = await get_json(client, "/api/v1/risk/status")
    assert status["circuit_breaker"]["is_open"] is False
