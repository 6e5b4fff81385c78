"""Positions under the average-cost method: opening, adding, reducing, flipping, closing, exactly."""

from __future__ import annotations

import json
import random
from decimal import Decimal

import pytest

from trading_engine.domain.errors import ValidationError
from trading_engine.domain.orders import Side
from trading_engine.domain.portfolio import Position

D = Decimal


def position(*fills: tuple[str, str, str]) -> Position:
    held = Position("BTC-USD")
    for side, quantity, price in fills:
        held.apply_fill(side, D(quantity), D(price))
    return held


def test_a_new_position_is_flat() -> None:
    held = Position("btc-usd")
    assert held.symbol == "BTC-USD"
    assert (held.quantity, held.average_entry_price, held.realized_pnl, held.fees_paid) == (0, 0, 0, 0)
    assert held.is_flat


def test_opening_a_long_sets_quantity_and_entry_and_realizes_nothing() -> None:
    held = Position("BTC-USD")
    assert held.apply_fill(Side.BUY, D(1), D(100)) == 0
    assert held.quantity == 1 and held.average_entry_price == 100 and held.realized_pnl == 0


def test_adding_re_averages_the_entry_price_with_full_precision() -> None:
    held = position(("buy", "1", "100"), ("buy", "2", "101"))
    assert held.quantity == 3
    assert held.average_entry_price == D(302) / D(3)
    assert held.realized_pnl == 0
    assert held.cost_basis == D(302)


def test_reducing_a_long_realizes_against_the_average_and_keeps_it() -> None:
    held = position(("buy", "2", "100"), ("buy", "2", "110"))
    assert held.apply_fill("sell", D(1), D(120)) == D(15)
    assert held.quantity == 3
    assert held.average_entry_price == D(105)
    assert held.apply_fill("sell", D(1), D(95)) == D(-10)
    assert held.realized_pnl == D(5)
    assert held.average_entry_price == D(105)


def test_a_partial_close_at_a_non_terminating_average_keeps_the_average_and_rounds_cost_at_1e_12() -> None:
    held = position(("buy", "1", "100"), ("buy", "2", "101"))
    average = D(302) / D(3)
    realized = held.apply_fill("sell", D(1), D(102))
    assert held.average_entry_price == average
    assert held.cost_basis == D("201.333333333333")
    assert realized == D("1.333333333333")
    assert abs(realized - (D(102) - average)) < D("1e-12")


def test_exact_cost_shares_are_not_rounded_or_padded() -> None:
    held = position(("buy", "4", "100.5"))
    held.apply_fill("sell", D(1), D(101))
    assert str(held.cost_basis) == "301.5"
    assert held.realized_pnl == D("0.5")


def test_closing_realizes_exactly_proceeds_minus_cost() -> None:
    held = position(("buy", "1", "100"), ("buy", "2", "101"))
    realized = held.apply_fill("sell", D(3), D(102))
    assert realized == D(4)
    naive = (D(102) - D(302) / D(3)) * 3
    assert naive != D(4)
    assert held.is_flat and held.average_entry_price == 0 and held.cost_basis == 0


def test_closing_in_pieces_adds_up_to_the_exact_total() -> None:
    held = position(("buy", "1", "100"), ("buy", "2", "101"))
    first = held.apply_fill("sell", D(1), D(102))
    second = held.apply_fill("sell", D(2), D(102))
    assert held.realized_pnl == D(4)
    assert first + second == D(4)
    assert held.is_flat and held.average_entry_price == 0


def test_a_short_realizes_with_the_inverse_sign() -> None:
    held = position(("sell", "1", "100"), ("sell", "1", "110"))
    assert held.quantity == -2 and held.average_entry_price == D(105)
    assert held.apply_fill("buy", D(1), D(95)) == D(10)
    assert held.average_entry_price == D(105)
    assert held.apply_fill("buy", D(1), D(115)) == D(-10)
    assert held.is_flat and held.realized_pnl == 0 and held.average_entry_price == 0


def test_flipping_long_to_short_closes_everything_then_opens_the_rest_at_the_fill_price() -> None:
    held = position(("buy", "2", "100"))
    assert held.apply_fill("sell", D(5), D(110)) == D(20)
    assert held.quantity == -3
    assert held.average_entry_price == D(110)
    assert held.unrealized_pnl(D(100)) == D(30)
    assert held.apply_fill("buy", D(3), D(100)) == D(30)
    assert held.realized_pnl == D(50)


def test_flipping_short_to_long() -> None:
    held = position(("sell", "2", "100"))
    assert held.apply_fill("buy", D(3), D(90)) == D(20)
    assert held.quantity == 1
    assert held.average_entry_price == D(90)
    assert held.unrealized_pnl(D(95)) == D(5)


def test_flipping_from_a_non_terminating_average_realizes_exactly() -> None:
    held = position(("buy", "1", "100"), ("buy", "2", "101"))
    assert held.apply_fill("sell", D(4), D(99)) == D(297) - D(302)
    assert held.quantity == -1 and held.average_entry_price == D(99) and held.cost_basis == D(-99)


def test_unrealized_pnl_and_notional_for_long_and_short() -> None:
    long = position(("buy", "2", "100"))
    assert long.unrealized_pnl(D(103)) == D(6)
    assert long.notional(D(103)) == D(206)
    short = position(("sell", "2", "100"))
    assert short.unrealized_pnl(D(103)) == D(-6)
    assert short.notional(D(103)) == D(206)
    assert Position("BTC-USD").unrealized_pnl(D(103)) == 0


def test_unrealized_pnl_does_not_use_the_rounded_average() -> None:
    held = position(("buy", "1", "100"), ("buy", "2", "101"))
    assert held.unrealized_pnl(D(100)) == D(-2)


def test_fees_are_tracked_apart_from_gross_realized_pnl() -> None:
    held = Position("BTC-USD")
    held.apply_fill("buy", D(1), D(100), fee=D("0.10"))
    realized = held.apply_fill("sell", D(1), D(101), fee=D("0.101"))
    assert realized == D(1)
    assert held.realized_pnl == D(1)
    assert held.fees_paid == D("0.201")


def test_ten_buys_of_a_tenth_make_exactly_one() -> None:
    held = Position("BTC-USD")
    for _ in range(10):
        held.apply_fill("buy", D("0.1"), D("100.01"))
    assert held.quantity == D("1.0")
    assert held.average_entry_price == D("100.01")
    for _ in range(10):
        held.apply_fill("sell", D("0.1"), D("100.02"))
    assert held.quantity == 0 and held.is_flat
    assert held.average_entry_price == 0
    assert held.realized_pnl == D("0.01")


@pytest.mark.parametrize(
    ("args", "field", "says"),
    [
        (("buy", D(0), D(100)), "quantity", "greater than 0"),
        (("buy", D(-1), D(100)), "quantity", "greater than 0"),
        (("buy", D(1), D(0)), "price", "greater than 0"),
        (("buy", D(1), D(100), D("-0.01")), "fee", "0 or more"),
        (("buy", 0.1, D(100)), "quantity", "is a float"),
        (("buy", D(1), D("NaN")), "price", "only finite numbers"),
        (("hold", D(1), D(100)), "side", "allowed: buy, sell"),
    ],
)
def test_bad_fills_are_refused_and_change_nothing(args: tuple, field: str, says: str) -> None:
    held = position(("buy", "1", "100"))
    before = held.to_dict()
    with pytest.raises(ValidationError) as caught:
        held.apply_fill(*args)
    assert caught.value.field == field
    assert says in caught.value.message
    assert held.to_dict() == before


def test_returned_realized_pnl_is_per_fill_and_sums_to_the_position_total() -> None:
    held = Position("BTC-USD")
    fills = [("buy", "3", "100"), ("sell", "1", "104"), ("sell", "4", "98"), ("buy", "1", "97"), ("buy", "5", "101")]
    realized = [held.apply_fill(side, D(q), D(p)) for side, q, p in fills]
    assert realized == [0, 4, -4, 1, -3]
    assert held.realized_pnl == sum(realized) == D(-2)
    assert held.quantity == 4 and held.average_entry_price == D(101)


def test_total_pnl_equals_the_cash_flows_exactly_over_random_fills() -> None:
    rng = random.Random(20260102)
    held = Position("BTC-USD")
    cash = D(0)
    for _ in range(400):
        side = rng.choice(["buy", "sell"])
        quantity = D(rng.randint(1, 40)) / 10
        price = D(rng.randint(9000, 11000)) / 100
        held.apply_fill(side, quantity, price)
        cash += -quantity * price if side == "buy" else quantity * price
        mark = D(rng.randint(9000, 11000)) / 100
        assert held.realized_pnl + held.unrealized_pnl(mark) == cash + held.quantity * mark
        if held.quantity:
            assert held.average_entry_price > 0
        else:
            assert held.average_entry_price == 0


def test_positions_round_trip_exactly_through_dicts() -> None:
    held = position(("buy", "1", "100"), ("buy", "2", "101"), ("sell", "1", "102.5"))
    held.apply_fill("buy", D("0.5"), D("99.99"), fee=D("0.05"))
    data = json.loads(json.dumps(held.to_dict()))
    restored = Position.from_dict(data)
    assert restored == held
    assert restored.to_dict() == held.to_dict()
    assert restored.realized_pnl == held.realized_pnl


def test_from_dict_refuses_inconsistent_records() -> None:
    data = position(("buy", "2", "100")).to_dict()
    with pytest.raises(ValidationError, match="record is inconsistent"):
        Position.from_dict(data | {"cost_basis": "-200"})
    with pytest.raises(ValidationError, match="record is inconsistent"):
        Position.from_dict(data | {"quantity": "0"})
    with pytest.raises(ValidationError, match="position record has no 'cost_basis'"):
        Position.from_dict({k: v for k, v in data.items() if k != "cost_basis"})
