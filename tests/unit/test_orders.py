"""Orders: validated creation, the one transition table, exact fills, exact round trips."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from trading_engine.domain.errors import Conflict, IllegalTransition, ValidationError
from trading_engine.domain.orders import (
    REJECT_REASON_DESCRIPTIONS,
    TRANSITIONS,
    Fill,
    Order,
    OrderStatus,
    OrderType,
    RejectReason,
    Side,
    TimeInForce,
)

T0 = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
S = OrderStatus
_fill_ids = itertools.count(1)


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def limit_order(quantity: str = "2", price: str = "100", side: str = "buy", **extra: object) -> Order:
    return Order.create(
        order_id="o-1",
        symbol="BTC-USD",
        side=side,
        type="limit",
        quantity=quantity,
        limit_price=price,
        created_at=T0,
        **extra,  # type: ignore[arg-type]
    )


def fill_for(
    order: Order, quantity: str | Decimal, price: str = "100", fee: str = "0", seconds: int = 5
) -> Fill:
    return Fill(
        fill_id=f"f-{next(_fill_ids)}",
        order_id=order.order_id,
        symbol=order.symbol,
        side=order.side,
        quantity=Decimal(quantity),
        price=Decimal(price),
        fee=Decimal(fee),
        fee_currency="USD",
        timestamp=at(seconds),
    )


def order_in(status: OrderStatus) -> Order:
    """A limit buy of 2 @ 100 brought to ``status`` through the public methods."""
    order = limit_order()
    if status is S.NEW:
        return order
    if status is S.REJECTED:
        order.reject(RejectReason.INSUFFICIENT_FUNDS, "estimated cost 200.00 USD exceeds available cash 0 USD", at(1))
        return order
    order.accept(at(1))
    if status is S.PARTIALLY_FILLED:
        order.apply_fill(fill_for(order, "1"))
    elif status is S.FILLED:
        order.apply_fill(fill_for(order, "2"))
    elif status is S.CANCELLED:
        order.cancel(at(2), "requested by client")
    elif status is S.EXPIRED:
        order.expire(at(2))
    assert order.status is status
    return order


def move(order: Order, target: OrderStatus) -> None:
    """Ask ``order`` to go to ``target`` by the method that leads there."""
    if target is S.OPEN:
        order.accept(at(10))
    elif target is S.REJECTED:
        order.reject(RejectReason.UNKNOWN_SYMBOL, "unknown symbol", at(10))
    elif target is S.PARTIALLY_FILLED:
        order.apply_fill(fill_for(order, "0.5", seconds=10))
    elif target is S.FILLED:
        remaining = order.remaining_quantity
        order.apply_fill(fill_for(order, remaining if remaining > 0 else Decimal(1), seconds=10))
    elif target is S.CANCELLED:
        order.cancel(at(10), "test")
    elif target is S.EXPIRED:
        order.expire(at(10))
    else:
        raise AssertionError(f"no method leads to {target}")


def test_the_transition_table_is_exactly_the_documented_lifecycle() -> None:
    assert TRANSITIONS == {
        (S.NEW, S.OPEN),
        (S.NEW, S.REJECTED),
        (S.NEW, S.FILLED),
        (S.NEW, S.PARTIALLY_FILLED),
        (S.NEW, S.CANCELLED),
        (S.OPEN, S.PARTIALLY_FILLED),
        (S.OPEN, S.FILLED),
        (S.OPEN, S.CANCELLED),
        (S.OPEN, S.EXPIRED),
        (S.PARTIALLY_FILLED, S.PARTIALLY_FILLED),
        (S.PARTIALLY_FILLED, S.FILLED),
        (S.PARTIALLY_FILLED, S.CANCELLED),
        (S.PARTIALLY_FILLED, S.EXPIRED),
    }


@pytest.mark.parametrize(("source", "target"), sorted(TRANSITIONS))
def test_every_allowed_transition_happens_through_its_method(source: OrderStatus, target: OrderStatus) -> None:
    order = order_in(source)
    move(order, target)
    assert order.status is target
    assert order.updated_at == at(10)


ILLEGAL = sorted(
    (source, target)
    for source in OrderStatus
    for target in OrderStatus
    if target is not S.NEW and (source, target) not in TRANSITIONS
)


@pytest.mark.parametrize(("source", "target"), ILLEGAL)
def test_every_other_transition_raises_and_changes_nothing(source: OrderStatus, target: OrderStatus) -> None:
    order = order_in(source)
    before = order.to_dict()
    with pytest.raises(IllegalTransition) as caught:
        move(order, target)
    assert order.to_dict() == before
    assert caught.value.order_id == "o-1"
    assert caught.value.status == source.value
    assert f"order o-1 is {source.value}; it cannot be" in caught.value.message


def test_illegal_transition_is_a_conflict_whose_message_says_what_is_allowed() -> None:
    order = order_in(S.FILLED)
    with pytest.raises(Conflict) as caught:
        order.cancel(at(3))
    assert isinstance(caught.value, IllegalTransition)
    assert caught.value.code == "illegal_transition"
    assert caught.value.message == (
        "order o-1 is filled; it cannot be cancelled (only new, open or partially_filled orders can)"
    )
    with pytest.raises(IllegalTransition, match=r"it cannot be expired \(only open or partially_filled orders can\)"):
        order_in(S.NEW).expire(at(3))
    with pytest.raises(IllegalTransition, match=r"it cannot be accepted \(only new orders can\)"):
        order_in(S.OPEN).accept(at(3))


@pytest.mark.parametrize("status", [S.FILLED, S.CANCELLED, S.REJECTED, S.EXPIRED])
def test_terminal_orders_never_change(status: OrderStatus) -> None:
    order = order_in(status)
    before = order.to_dict()
    for target in (S.OPEN, S.REJECTED, S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.EXPIRED):
        with pytest.raises(IllegalTransition):
            move(order, target)
    assert order.to_dict() == before
    assert order.status.is_terminal


def test_status_helpers() -> None:
    assert {s for s in OrderStatus if s.is_terminal} == {S.FILLED, S.CANCELLED, S.REJECTED, S.EXPIRED}
    assert {s for s in OrderStatus if s.is_open} == {S.OPEN, S.PARTIALLY_FILLED}
    assert not S.NEW.is_open and not S.NEW.is_terminal


def test_enum_values_are_the_lowercase_json_words() -> None:
    assert [s.value for s in Side] == ["buy", "sell"]
    assert [t.value for t in OrderType] == ["market", "limit"]
    assert [t.value for t in TimeInForce] == ["gtc", "ioc"]
    assert json.dumps([Side.BUY, S.PARTIALLY_FILLED]) == '["buy", "partially_filled"]'
    assert Side.BUY.sign == 1 and Side.SELL.sign == -1


def test_reject_reasons_are_distinct_codes_each_with_a_description() -> None:
    assert {r.value for r in RejectReason} == {
        "unknown_symbol",
        "quantity_below_minimum",
        "quantity_off_lot",
        "price_off_tick",
        "max_order_notional_exceeded",
        "max_position_exceeded",
        "gross_exposure_exceeded",
        "insufficient_funds",
        "circuit_breaker_open",
        "market_data_stale",
    }
    assert set(REJECT_REASON_DESCRIPTIONS) == set(RejectReason)
    descriptions = [reason.description for reason in RejectReason]
    assert all(text.endswith(".") and len(text) > 20 for text in descriptions)
    assert len(set(descriptions)) == len(descriptions)


def test_create_builds_a_new_order_from_request_fields() -> None:
    order = Order.create(
        order_id="7f3c9b2e-0d1a-4c55-9a51-5d3f1e2b7c10",
        client_order_id="client-42",
        symbol=" eth-usd ",
        side="sell",
        type="market",
        quantity="1.50",
        time_in_force="ioc",
        strategy_id="mean-revert",
        created_at=T0,
    )
    assert order.symbol == "ETH-USD"
    assert order.side is Side.SELL and order.type is OrderType.MARKET
    assert order.time_in_force is TimeInForce.IOC
    assert order.status is S.NEW
    assert str(order.quantity) == "1.50"
    assert order.limit_price is None
    assert order.filled_quantity == 0 and order.remaining_quantity == Decimal("1.50")
    assert order.average_fill_price is None and order.fees == 0
    assert order.created_at == order.updated_at == T0
    assert order.reject_reason is None and order.cancel_reason is None


def test_time_in_force_defaults_to_gtc() -> None:
    assert limit_order().time_in_force is TimeInForce.GTC


@pytest.mark.parametrize(
    ("changes", "field", "says"),
    [
        ({"type": "market", "limit_price": "100"}, "limit_price", "not allowed for a market order"),
        ({"type": "limit", "limit_price": None}, "limit_price", "required for a limit order"),
        ({"quantity": "0"}, "quantity", "must be greater than 0"),
        ({"quantity": "-1"}, "quantity", "must be greater than 0"),
        ({"quantity": "NaN"}, "quantity", "only finite numbers"),
        ({"quantity": Decimal("Infinity")}, "quantity", "only finite numbers"),
        ({"quantity": 0.1}, "quantity", "is a float"),
        ({"limit_price": "0"}, "limit_price", "must be greater than 0"),
        ({"limit_price": "-Infinity"}, "limit_price", "only finite numbers"),
        ({"limit_price": "sNaN"}, "limit_price", "only finite numbers"),
        ({"side": "hold"}, "side", "allowed: buy, sell"),
        ({"type": "stop"}, "type", "allowed: market, limit"),
        ({"time_in_force": "fok"}, "time_in_force", "allowed: gtc, ioc"),
        ({"symbol": "BTCUSD"}, "symbol", "expected upper-case BASE-QUOTE"),
        ({"order_id": ""}, "order_id", "1-64 letters, digits"),
        ({"client_order_id": "has space"}, "client_order_id", "1-64 letters, digits"),
        ({"client_order_id": "x" * 65}, "client_order_id", "1-64 letters, digits"),
        ({"strategy_id": "a/b"}, "strategy_id", "1-64 letters, digits"),
        ({"created_at": datetime(2026, 1, 1)}, "created_at", "has no timezone"),
    ],
)
def test_create_refuses_bad_requests_naming_field_and_rule(changes: dict, field: str, says: str) -> None:
    request: dict[str, object] = {
        "order_id": "o-1",
        "symbol": "BTC-USD",
        "side": "buy",
        "type": "limit",
        "quantity": "1",
        "limit_price": "100",
        "created_at": T0,
    }
    request.update(changes)
    with pytest.raises(ValidationError) as caught:
        Order.create(**request)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert says in caught.value.message


def test_average_fill_price_is_the_exact_volume_weighted_average() -> None:
    order = limit_order(quantity="3", price="101")
    order.accept(at(1))
    order.apply_fill(fill_for(order, "1", price="100"))
    assert order.average_fill_price == Decimal(100)
    order.apply_fill(fill_for(order, "2", price="101"))
    assert order.average_fill_price == Decimal(302) / Decimal(3)
    assert order.filled_notional == Decimal(302)
    assert order.status is S.FILLED


def test_average_does_not_drift_over_many_uneven_fills() -> None:
    order = limit_order(quantity="3", price="200")
    order.accept(at(1))
    prices = ["100.01", "199.99", "133.33"] * 10
    for price in prices:
        order.apply_fill(fill_for(order, "0.1", price=price))
    expected = sum(Decimal("0.1") * Decimal(p) for p in prices) / Decimal(3)
    assert order.average_fill_price == expected
    assert order.status is S.FILLED


def test_ten_fills_of_a_tenth_fill_one_exactly() -> None:
    order = limit_order(quantity="1.0")
    order.accept(at(1))
    for _ in range(9):
        order.apply_fill(fill_for(order, "0.1"))
        assert order.status is S.PARTIALLY_FILLED
    order.apply_fill(fill_for(order, "0.1"))
    assert order.filled_quantity == Decimal("1.0")
    assert order.remaining_quantity == 0
    assert order.status is S.FILLED


def test_fees_accumulate_and_the_last_fill_time_is_the_update_time() -> None:
    order = limit_order(quantity="3")
    order.accept(at(1))
    order.apply_fill(fill_for(order, "1", fee="0.10", seconds=7))
    order.apply_fill(fill_for(order, "1", fee="0.25", seconds=8))
    assert order.fees == Decimal("0.35")
    assert order.updated_at == at(8)


def test_a_market_order_can_fill_on_arrival() -> None:
    order = Order.create(order_id="o-1", symbol="BTC-USD", side="buy", type="market", quantity="2", created_at=T0)
    order.apply_fill(fill_for(order, "2", price="123.45"))
    assert order.status is S.FILLED
    assert order.average_fill_price == Decimal("123.45")


def test_a_fill_larger_than_the_remaining_quantity_is_refused_and_changes_nothing() -> None:
    order = order_in(S.PARTIALLY_FILLED)
    before = order.to_dict()
    with pytest.raises(ValidationError) as caught:
        order.apply_fill(fill_for(order, "1.5"))
    assert caught.value.field == "quantity"
    assert "quantity 1.5 exceeds the remaining quantity 1 of order o-1" in caught.value.message
    assert order.to_dict() == before


@pytest.mark.parametrize(
    ("field", "change", "says"),
    [
        ("order_id", {"order_id": "o-2"}, "is for order o-2, not o-1"),
        ("symbol", {"symbol": "ETH-USD"}, "has symbol ETH-USD but order o-1 has BTC-USD"),
        ("side", {"side": Side.SELL}, "has side sell but order o-1 has buy"),
    ],
)
def test_a_fill_for_something_else_is_refused(field: str, change: dict, says: str) -> None:
    order = order_in(S.OPEN)
    base = fill_for(order, "1").__dict__ | change
    with pytest.raises(ValidationError) as caught:
        order.apply_fill(Fill(**base))
    assert caught.value.field == field
    assert says in caught.value.message
    assert order.status is S.OPEN and order.filled_quantity == 0


def test_fills_must_respect_the_limit_price() -> None:
    buy = order_in(S.OPEN)
    with pytest.raises(ValidationError, match="price 100.01 is above the limit price 100 of buy order o-1"):
        buy.apply_fill(fill_for(buy, "1", price="100.01"))
    buy.apply_fill(fill_for(buy, "1", price="99.5"))
    sell = limit_order(side="sell")
    with pytest.raises(ValidationError, match="price 99.99 is below the limit price 100 of sell order o-1"):
        sell.apply_fill(fill_for(sell, "1", price="99.99"))
    sell.apply_fill(fill_for(sell, "1", price="100.5"))


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"quantity": Decimal(0)}, "quantity", "greater than 0"),
        ({"price": Decimal("-1")}, "price", "greater than 0"),
        ({"fee": Decimal("-0.01")}, "fee", "0 or more"),
        ({"fee_currency": "BTC"}, "fee_currency", "fees are charged in the quote currency USD"),
        ({"timestamp": datetime(2026, 1, 1)}, "timestamp", "has no timezone"),
        ({"quantity": 1.0}, "quantity", "is a float"),
    ],
)
def test_fills_validate_their_own_fields(change: dict, field: str, says: str) -> None:
    fields = fill_for(limit_order(), "1").__dict__ | change
    with pytest.raises(ValidationError) as caught:
        Fill(**fields)
    assert caught.value.field == field
    assert says in caught.value.message


def test_reject_records_reason_and_message_and_cancel_its_reason() -> None:
    rejected = order_in(S.REJECTED)
    assert rejected.reject_reason is RejectReason.INSUFFICIENT_FUNDS
    assert rejected.reject_message == "estimated cost 200.00 USD exceeds available cash 0 USD"
    cancelled = order_in(S.CANCELLED)
    assert cancelled.cancel_reason == "requested by client"
    assert cancelled.updated_at == at(2)


def test_a_partly_filled_order_keeps_its_fills_when_cancelled() -> None:
    order = order_in(S.PARTIALLY_FILLED)
    order.cancel(at(3))
    assert order.status is S.CANCELLED
    assert order.filled_quantity == 1 and order.remaining_quantity == 1


def test_transitions_need_aware_times() -> None:
    order = order_in(S.NEW)
    with pytest.raises(ValidationError, match="has no timezone"):
        order.accept(datetime(2026, 1, 1))
    assert order.status is S.NEW


@pytest.mark.parametrize("status", list(OrderStatus))
def test_orders_round_trip_exactly_through_dicts(status: OrderStatus) -> None:
    order = Order.create(
        order_id="o-1",
        client_order_id="c-9",
        symbol="BTC-USD",
        side="buy",
        type="limit",
        quantity="3.000",
        limit_price="101.50",
        strategy_id="s-1",
        created_at=T0,
    )
    if status is S.REJECTED:
        order.reject(RejectReason.PRICE_OFF_TICK, "limit price off tick", at(1))
    elif status is not S.NEW:
        order.accept(at(1))
        if status in (S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED):
            order.apply_fill(fill_for(order, "1.000", price="100.25", fee="0.0105"))
            order.apply_fill(fill_for(order, "1", price="101.5", fee="0.01", seconds=6))
        if status is S.FILLED:
            order.apply_fill(fill_for(order, "1", price="99", seconds=7))
        if status is S.CANCELLED:
            order.cancel(at(9), "client asked")
        if status is S.EXPIRED:
            order.expire(at(9))
    data = order.to_dict()
    wire = json.loads(json.dumps(data))
    restored = Order.from_dict(wire)
    assert restored == order
    assert restored.to_dict() == data
    assert restored.status is status
    assert restored.average_fill_price == order.average_fill_price
    assert isinstance(restored.quantity, Decimal) and str(restored.quantity) == "3.000"


def test_order_dicts_use_strings_for_decimals_and_iso_utc_times() -> None:
    order = order_in(S.PARTIALLY_FILLED)
    data = order.to_dict()
    assert data["quantity"] == "2" and data["filled_quantity"] == "1" and data["remaining_quantity"] == "1"
    assert data["average_fill_price"] == "100"
    assert data["status"] == "partially_filled" and data["side"] == "buy" and data["type"] == "limit"
    assert data["created_at"] == "2026-01-02T03:04:05.678901Z"


def test_from_dict_refuses_inconsistent_or_incomplete_records() -> None:
    data = order_in(S.PARTIALLY_FILLED).to_dict()
    with pytest.raises(ValidationError, match="status filled does not match filled_quantity 1 of 2"):
        Order.from_dict(data | {"status": "filled"})
    with pytest.raises(ValidationError, match="filled_quantity 3 exceeds quantity 2"):
        Order.from_dict(data | {"filled_quantity": "3"})
    with pytest.raises(ValidationError, match="status open allows no fills"):
        Order.from_dict(data | {"status": "open"})
    with pytest.raises(ValidationError, match="reject_reason is set exactly when the status is rejected"):
        Order.from_dict(data | {"reject_reason": "unknown_symbol"})
    with pytest.raises(ValidationError, match="order record has no 'status'"):
        Order.from_dict({k: v for k, v in data.items() if k != "status"})
    with pytest.raises(ValidationError, match="status 'done' is not allowed"):
        Order.from_dict(data | {"status": "done"})


def test_fills_round_trip_exactly_through_dicts() -> None:
    fill = Fill(
        fill_id="f-1",
        order_id="o-1",
        symbol="ETH-BTC",
        side=Side.SELL,
        quantity=Decimal("0.500"),
        price=Decimal("0.05123"),
        fee=Decimal("0.0000256150"),
        fee_currency="BTC",
        timestamp=T0,
        strategy_id="arb",
    )
    data = json.loads(json.dumps(fill.to_dict()))
    assert data["quantity"] == "0.500" and data["side"] == "sell" and data["timestamp"] == "2026-01-02T03:04:05.678901Z"
    restored = Fill.from_dict(data)
    assert restored == fill
    assert restored.to_dict() == fill.to_dict()
    assert fill.notional == Decimal("0.025615")


def test_same_client_fields_make_the_same_request() -> None:
    stored = limit_order(quantity="1", price="100", client_order_id="c-1", strategy_id="s")
    retried = Order.create(
        order_id="o-other",
        client_order_id="c-1",
        symbol="btc-usd",
        side=Side.BUY,
        type="limit",
        quantity="1.0",
        limit_price="100.00",
        strategy_id="s",
        created_at=at(60),
    )
    assert retried.request_fingerprint() == stored.request_fingerprint()
    assert retried.same_request(stored)


@pytest.mark.parametrize(
    "change",
    [
        {"quantity": "3"},
        {"price": "101"},
        {"side": "sell"},
        {"strategy_id": "other"},
        {"time_in_force": "ioc"},
    ],
)
def test_any_different_client_field_is_a_different_request(change: dict) -> None:
    stored = limit_order(client_order_id="c-1", strategy_id="s")
    fields: dict[str, object] = {"client_order_id": "c-1", "strategy_id": "s"} | change
    assert not limit_order(**fields).same_request(stored)  # type: ignore[arg-type]


def test_progress_does_not_change_the_request_fingerprint() -> None:
    order = order_in(S.PARTIALLY_FILLED)
    assert order.same_request(limit_order())
