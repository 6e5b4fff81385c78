"""The one JSON encoder of the API's bodies and the stores' rows: decimals exact and positional."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from trading_engine.domain.decimals import json_text
from trading_engine.domain.orders import Order
from trading_engine.infrastructure.persistence.records import to_json
from trading_engine.presentation.http.bodies import json_response


@pytest.mark.parametrize(
    ("value", "text"),
    [(D("2.5E+3"), '"2500"'), (D("1E-8"), '"0.00000001"'), (D("0.10"), '"0.10"'), (D("-3"), '"-3"')],
)
def test_decimals_are_strings_in_positional_notation_with_their_digits(value, text) -> None:
    assert json_text(value) == text
    assert D(json.loads(json_text({"x": value}))["x"]) == value


def test_output_is_compact_and_refuses_what_json_cannot_hold() -> None:
    assert json_text({"a": [1, D("2")], "b": None}) == '{"a":[1,"2"],"b":null}'
    with pytest.raises(ValueError):
        json_text(float("nan"))
    with pytest.raises(TypeError, match="object"):
        json_text(object())


def test_the_api_and_the_store_write_the_same_text() -> None:
    order = Order.create(
        order_id="ord_1", created_at=datetime(2026, 1, 1, tzinfo=UTC),
        symbol="BTC-USD", side="buy", type="limit", quantity=D("1E+1"), limit_price=D("5E+4"),
    ).to_dict()
    stored = to_json(order, what="order")
    served = json_response(order).text
    assert stored == served
    assert '"quantity":"10"' in stored and '"limit_price":"50000"' in stored


def test_plain_is_the_positional_format_of_every_decimal() -> None:
    import random

    from trading_engine.domain.decimals import plain

    rng = random.Random(5)
    values = [D(s) for s in ("0", "-0", "0.000", "0E-10", "0E+3", "1E+2", "1E-7", "0.000001", "0.0000001",
                             "123.456E-3", "-1.5E+30", "NaN", "-Infinity")]
    values += [D(f"{rng.choice('-+')}{rng.randint(0, 10 ** rng.randint(1, 28))}E{rng.randint(-30, 8)}")
               for _ in range(5000)]
    assert [plain(v) for v in values] == [format(v, "f") for v in values]
