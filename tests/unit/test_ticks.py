"""Rounding onto a grid of steps and exact products: the one arithmetic the market adapters and
the strategies snap with."""

from __future__ import annotations

from decimal import Decimal as D
from decimal import localcontext

import pytest

from trading_engine.domain.ticks import (
    ceil_to_tick,
    exact_difference,
    exact_product,
    floor_to_tick,
    nearest_tick,
    scaled_by_bps,
)


@pytest.mark.parametrize(
    ("value", "tick", "floor", "ceil", "nearest"),
    [
        ("100.060005", "0.01", "100.06", "100.07", "100.06"),
        ("100.07", "0.01", "100.07", "100.07", "100.07"),
        ("100.125", "0.01", "100.12", "100.13", "100.12"),  # a half goes to the even count
        ("100.135", "0.01", "100.13", "100.14", "100.14"),
        ("1.3", "0.25", "1.25", "1.50", "1.25"),
        ("0.9", "0.3", "0.9", "0.9", "0.9"),  # exact even when 1/tick does not terminate
        ("7", "10", "0", "10", "10"),
        ("12345678901234567890123456789.0001", "0.001", "12345678901234567890123456789.000",
         "12345678901234567890123456789.001", "12345678901234567890123456789.000"),
        ("-1.3", "0.25", "-1.50", "-1.25", "-1.25"),  # floor goes down, ceil up, for any sign
        ("-100.125", "0.01", "-100.13", "-100.12", "-100.12"),
        ("0", "0.01", "0", "0", "0"),
        ("2.6618815392926997e+307", "0.0001", "2.6618815392926997e+307", "2.6618815392926997e+307",
         "2.6618815392926997e+307"),  # more whole steps than 200 digits count
        ("1.00005e+250", "0.0001", "1.00005e+250", "1.00005e+250", "1.00005e+250"),
    ],
)
def test_rounding_onto_the_grid_is_exact(value, tick, floor, ceil, nearest) -> None:
    assert floor_to_tick(D(value), D(tick)) == D(floor)
    assert ceil_to_tick(D(value), D(tick)) == D(ceil)
    assert nearest_tick(D(value), D(tick)) == D(nearest)


def test_results_do_not_depend_on_the_callers_context() -> None:
    with localcontext() as context:
        context.prec = 3
        assert ceil_to_tick(D("50000.001"), D("0.01")) == D("50000.01")
        assert exact_product(D("0.003"), D("100.07"), D("7.5")) == D("2.251575")
        assert scaled_by_bps(D("1234567.891"), D("2.5")) == D("308.64197275")
        assert exact_difference(D("1234567.891"), D("0.5")) == D("1234567.391")


@pytest.mark.parametrize("step", ["0", "-0.01"])
def test_a_step_must_be_positive(step) -> None:
    for snap in (floor_to_tick, ceil_to_tick, nearest_tick):
        with pytest.raises(ValueError, match="must be greater than 0"):
            snap(D("1.23"), D(step))


def test_a_value_with_more_whole_steps_than_the_usual_precision_still_snaps_exactly() -> None:
    whole = "1" + "0" * 250
    value, tick = D(whole + ".00015"), D("0.0001")
    assert floor_to_tick(value, tick) == D(whole + ".0001")
    assert ceil_to_tick(value, tick) == D(whole + ".0002")
    assert nearest_tick(value, tick) == D(whole + ".0002")  # a half goes to the even count
