"""``OrderRequest`` is the one definition of an order's request fields: the API's body model, the
idempotency fingerprint and the order's dict follow from it, so a new field is added once."""

from __future__ import annotations

from dataclasses import fields, replace
from decimal import Decimal
from typing import Any

import pytest

from trading_engine.domain.orders import Order, OrderRequest, OrderType, Side, TimeInForce
from trading_engine.presentation.http.schemas import CreateOrder
from tests.support.trading_data import T0

REQUEST_FIELDS = [item.name for item in fields(OrderRequest)]
NOT_FROM_THE_API = {"strategy_id"}  # set by the strategy runtime, never by an HTTP client

REQUEST = OrderRequest(
    client_order_id="c-1",
    symbol="BTC-USD",
    side=Side.BUY,
    type=OrderType.LIMIT,
    quantity=Decimal("1.50"),
    limit_price=Decimal("100.25"),
    time_in_force=TimeInForce.GTC,
    strategy_id="s-1",
)
# Another valid value for every field; a field added without one here fails the tests below.
OTHER_VALUES: dict[str, Any] = {
    "client_order_id": "c-2",
    "symbol": "ETH-USD",
    "side": Side.SELL,
    "type": OrderType.MARKET,
    "quantity": Decimal("2"),
    "limit_price": Decimal("101"),
    "time_in_force": TimeInForce.IOC,
    "strategy_id": "s-2",
}


def other(name: str) -> OrderRequest:
    if name == "type":  # a market order has no limit price
        return replace(REQUEST, type=OrderType.MARKET, limit_price=None)
    return replace(REQUEST, **{name: OTHER_VALUES[name]})


def test_the_api_body_has_exactly_the_request_fields_a_client_chooses() -> None:
    assert set(CreateOrder.model_fields) == set(REQUEST_FIELDS) - NOT_FROM_THE_API
    assert NOT_FROM_THE_API <= set(REQUEST_FIELDS)


def test_a_validated_api_body_is_a_request() -> None:
    body = CreateOrder.model_validate(
        {"symbol": "BTC-USD", "side": "buy", "type": "limit", "quantity": "1.50", "limit_price": 100.25,
         "client_order_id": "c-1"}
    )
    assert OrderRequest(**body.model_dump()) == replace(REQUEST, strategy_id=None)


@pytest.mark.parametrize("name", REQUEST_FIELDS)
def test_every_field_but_the_client_order_id_is_part_of_the_fingerprint(name: str) -> None:
    changed = other(name)
    assert changed != REQUEST
    if name == "client_order_id":
        assert changed.fingerprint() == REQUEST.fingerprint()
    else:
        assert changed.fingerprint() != REQUEST.fingerprint()


@pytest.mark.parametrize("name", REQUEST_FIELDS)
def test_every_request_field_is_in_the_order_dict_and_read_back(name: str) -> None:
    request = other(name)
    order = Order.from_request(request, order_id="o-1", created_at=T0)
    data = order.to_dict()
    assert name in data
    assert Order.from_dict(data).request == request
    assert {key: data[key] for key in REQUEST_FIELDS} == request.to_dict()


def test_a_request_is_normalised_once_on_construction() -> None:
    request = OrderRequest(symbol="btc-usd", side="buy", type="limit", quantity="1.0", limit_price=100)  # type: ignore[arg-type]
    assert (request.symbol, request.side, request.type, request.time_in_force) == (
        "BTC-USD", Side.BUY, OrderType.LIMIT, TimeInForce.GTC,
    )
    assert (request.quantity, request.limit_price) == (Decimal("1.0"), Decimal("100"))
    assert request.fingerprint() == replace(REQUEST, client_order_id=None, quantity=Decimal("1"),
                                            limit_price=Decimal("100.00"), strategy_id=None).fingerprint()
