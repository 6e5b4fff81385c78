"""The built-in strategy registry: names, parameters (defaults, validation errors naming
``params.<name>``, JSON schemas), valid intents on every shipped instrument, and purity."""

from __future__ import annotations

import ast
import json
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.support.strategies import BTC, ETH, ETH_BTC, Harness
from trading_engine.domain.errors import ValidationError
from trading_engine.domain.instruments import Instrument
from trading_engine.domain.orders import OrderType
from trading_engine.domain.strategies import BUILTIN, check_for_instrument
from trading_engine.domain.strategies.grid import order_quantity, snap_ask, snap_bid
from trading_engine.domain.ticks import ceil_to_tick, floor_to_tick
from trading_engine.domain.strategy import PRE_TRADE, Intent, Parameter, PlaceOrder, RiskEvent, StrategySpec
from trading_engine.services.strategy_runtime import StrategySettings, limit_parameters, with_limit_parameters

D = Decimal
PACKAGE = Path(__file__).resolve().parents[2] / "trading_engine" / "domain" / "strategies"

# The runtime's settings, and per-instance limits set away from their defaults.
RUNTIME_SETTINGS = StrategySettings(
    enable_chaos=True, resume_on_start=True, max_instances=10, max_position_notional=D("10000"),
    max_orders_per_second=10.0, max_open_orders=10, breaker_after_limit_hits=50,
    limit_hits_window_seconds=60.0, performance_interval_seconds=1.0,
)
LIMITS = {"max_position_notional": "2500", "max_orders_per_second": 3, "max_open_orders": 4}


def test_registry_holds_every_builtin_by_name() -> None:
    assert list(BUILTIN) == ["market_making", "momentum", "mean_reversion", "runaway", "risk_ignorant", "slow_leak"]
    assert all(spec.name == name for name, spec in BUILTIN.items())
    assert {name for name, spec in BUILTIN.items() if spec.chaos} == {"runaway", "risk_ignorant", "slow_leak"}
    assert all(spec.description for spec in BUILTIN.values())
    with pytest.raises(TypeError):
        BUILTIN["x"] = BUILTIN["momentum"]  # type: ignore[index]


def test_specs_leave_the_per_instance_limits_to_the_runtime() -> None:
    for spec in BUILTIN.values():
        names = {p.name for p in spec.parameters}
        assert not names & {p.name for p in limit_parameters(RUNTIME_SETTINGS)}, spec.name


EXPECTED_DEFAULTS: dict[str, dict[str, Any]] = {
    "market_making": {
        "spread_bps": D(20), "quote_size": D("0.01"), "max_inventory": D("0.1"),
        "skew_bps": D(10), "requote_bps": D(10),
    },
    "momentum": {"fast": 5, "slow": 20, "position_size": D("0.01"), "allow_short": 0, "bar_interval": ""},
    "mean_reversion": {"window": 20, "entry_z": 2.0, "exit_z": 0.5, "position_size": D("0.01"), "bar_interval": ""},
    "runaway": {"orders_per_tick": 5, "quantity": D("0.001")},
    "risk_ignorant": {"quantity": D("0.001"), "growth": 2.0},
    "slow_leak": {"quantity": D("0.001"), "base_probability": 0.05, "growth_per_trade": 0.02, "max_probability": 0.9},
}


@pytest.mark.parametrize("name", list(BUILTIN))
def test_defaults_apply_when_params_are_omitted(name: str) -> None:
    spec = BUILTIN[name]
    assert spec.validate_params(None) == EXPECTED_DEFAULTS[name]
    assert spec.validate_params({}) == EXPECTED_DEFAULTS[name]
    for p in spec.parameters:
        expected_type = {"integer": int, "decimal": Decimal, "number": float, "interval": str}[p.kind]
        assert type(p.default) is expected_type, (name, p.name)
    first = spec.parameters[0]
    given = spec.validate_params({first.name: first.default})
    assert given == EXPECTED_DEFAULTS[name]


@pytest.mark.parametrize("name", list(BUILTIN))
def test_every_parameter_has_a_json_schema_whose_default_parses_back(name: str) -> None:
    spec = BUILTIN[name]
    schemas = {p.name: p.schema() for p in spec.parameters}
    assert json.loads(json.dumps(schemas)) == schemas
    for p in spec.parameters:
        assert schemas[p.name]["description"]
        assert p.parse(schemas[p.name]["default"]) == p.default


def test_parameters_parse_from_json_values() -> None:
    params = BUILTIN["market_making"].validate_params({"spread_bps": "12.5", "quote_size": 0.02, "skew_bps": 0})
    assert (params["spread_bps"], params["quote_size"], params["skew_bps"]) == (D("12.5"), D("0.02"), D(0))
    assert BUILTIN["momentum"].validate_params({"fast": "3", "slow": 10.0})["fast"] == 3
    assert BUILTIN["mean_reversion"].validate_params({"entry_z": "2.5", "exit_z": 1})["exit_z"] == 1.0


BAD = [
    ("market_making", {"spread_bps": "wide"}, "spread_bps"),
    ("market_making", {"spread_bps": 0}, "spread_bps"),
    ("market_making", {"quote_size": "-0.01"}, "quote_size"),
    ("market_making", {"quote_size": True}, "quote_size"),
    ("market_making", {"skew_bps": -1}, "skew_bps"),
    ("market_making", {"requote_bps": "0"}, "requote_bps"),
    ("market_making", {"max_inventory": "NaN"}, "max_inventory"),
    ("market_making", {"max_inventory": "0.005"}, "max_inventory"),  # below one quote
    ("market_making", {"spread": 10}, "spread"),
    ("momentum", {"fast": 0}, "fast"),
    ("momentum", {"fast": 2.5}, "fast"),
    ("momentum", {"fast": "five"}, "fast"),
    ("momentum", {"fast": 20, "slow": 20}, "slow"),
    ("momentum", {"fast": 30}, "slow"),
    ("momentum", {"allow_short": 2}, "allow_short"),
    ("momentum", {"allow_short": False}, "allow_short"),
    ("momentum", {"position_size": None}, "position_size"),
    ("momentum", {"window": 5}, "window"),
    ("mean_reversion", {"window": 1}, "window"),
    ("mean_reversion", {"entry_z": 0}, "entry_z"),
    ("mean_reversion", {"entry_z": "inf"}, "entry_z"),
    ("mean_reversion", {"exit_z": -0.1}, "exit_z"),
    ("mean_reversion", {"exit_z": 2.0}, "exit_z"),
    ("mean_reversion", {"entry_z": 1.0, "exit_z": 1.5}, "exit_z"),
    ("mean_reversion", {"window": 4, "entry_z": 2.0}, "entry_z"),  # |z| <= sqrt(3) < 2
    ("runaway", {"orders_per_tick": 0}, "orders_per_tick"),
    ("runaway", {"orders_per_tick": 1001}, "orders_per_tick"),  # a tick's orders are built at once
    ("runaway", {"quantity": "0"}, "quantity"),
    ("risk_ignorant", {"growth": 1}, "growth"),
    ("risk_ignorant", {"growth": "x"}, "growth"),
    ("slow_leak", {"base_probability": 1.5}, "base_probability"),
    ("slow_leak", {"base_probability": -0.1}, "base_probability"),
    ("slow_leak", {"growth_per_trade": -0.01}, "growth_per_trade"),
    ("slow_leak", {"max_probability": 0}, "max_probability"),
    ("slow_leak", {"max_probability": 1.01}, "max_probability"),
    ("slow_leak", {"seed": 1}, "seed"),
]


@pytest.mark.parametrize(("name", "params", "field"), BAD, ids=[f"{n}-{f}-{i}" for i, (n, _, f) in enumerate(BAD)])
def test_validation_errors_name_the_parameter(name: str, params: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        BUILTIN[name].validate_params(params)
    assert caught.value.field == f"params.{field}"
    assert f"params.{field}" in caught.value.message or f"{field!r}" in caught.value.message


def test_edges_of_the_allowed_ranges_are_accepted() -> None:
    BUILTIN["momentum"].validate_params({"fast": 1, "slow": 2, "allow_short": 1})
    BUILTIN["mean_reversion"].validate_params({"window": 2, "entry_z": 0.9, "exit_z": 0})
    BUILTIN["slow_leak"].validate_params({"base_probability": 0, "max_probability": 1, "growth_per_trade": 0})
    BUILTIN["market_making"].validate_params({"skew_bps": 0, "max_inventory": "0.01"})


@pytest.mark.parametrize("name", list(BUILTIN))
def test_factories_ignore_the_limit_parameters_the_runtime_adds(name: str) -> None:
    """The runtime creates a strategy from its own parameters plus the per-instance limits: that
    succeeds, and the strategy decides exactly what one created from its own parameters alone
    decides, tick after tick, fill after fill."""
    spec = BUILTIN[name]
    own = spec.validate_params(None)
    with_limits = with_limit_parameters(spec, RUNTIME_SETTINGS).validate_params(LIMITS)
    assert set(with_limits) == set(own) | set(LIMITS)
    assert with_limits["max_position_notional"] == D("2500") and with_limits["max_open_orders"] == 4
    alone = Harness(spec.create(own, seed=5))
    limited = Harness(spec.create(with_limits, seed=5))
    rng = random.Random(3)
    decided: list[Intent] = []
    for price in random_walk(BTC, seed=4, ticks=400):
        intents = alone.tick(price)
        assert limited.tick(price) == intents, price
        decided += intents
        if alone.resting and rng.random() < 0.1:  # now and then a quote fills, in both
            side = rng.choice([o.side for o in alone.resting.values()])
            assert limited.fill_resting(side) == alone.fill_resting(side)
        if rng.random() < 0.05:  # and now and then an order is refused, in both
            event = RiskEvent(PRE_TRADE, "refused")
            assert list(limited.strategy.on_risk_event(event, limited.context)) == list(
                alone.strategy.on_risk_event(event, alone.context))
    assert decided, name  # two strategies that never decide anything would agree trivially
    assert limited.position == alone.position


def random_walk(instrument: Instrument, seed: int, ticks: int) -> list[Decimal]:
    rng = random.Random(seed)
    price = instrument.initial_price
    out = []
    for _ in range(ticks):
        price = floor_to_tick(price * D(str(1 + rng.gauss(0, 0.002))), instrument.tick_size)
        out.append(price)
    return out


@pytest.mark.parametrize("instrument", [BTC, ETH, ETH_BTC], ids=lambda i: i.symbol)
@pytest.mark.parametrize("name", list(BUILTIN))
def test_every_intent_is_on_the_instruments_grid(name: str, instrument: Instrument) -> None:
    spec = BUILTIN[name]
    harness = Harness(spec.create(spec.validate_params(None), seed=9), instrument=instrument)
    emitted: list[PlaceOrder] = []
    rng = random.Random(1)
    for price in random_walk(instrument, seed=2, ticks=400):
        intents = harness.tick(price)
        emitted += [i for i in intents if isinstance(i, PlaceOrder)]
        if harness.resting and rng.random() < 0.1:  # now and then a quote fills
            harness.fill_resting(rng.choice([o.side for o in harness.resting.values()]))
        if name == "risk_ignorant" and rng.random() < 0.05:
            harness.strategy.on_risk_event(RiskEvent(PRE_TRADE, "refused"), harness.context)
    assert emitted, name
    for order in emitted:
        assert order.quantity > 0 and order.quantity >= instrument.min_quantity
        assert instrument.is_on_lot(order.quantity), order
        if order.type is OrderType.LIMIT:
            assert order.limit_price is not None and order.limit_price > 0
            assert instrument.is_on_tick(order.limit_price), order
        else:
            assert order.limit_price is None


def test_check_for_instrument_refuses_sizes_below_the_minimum_order() -> None:
    spec = BUILTIN["market_making"]
    params = spec.validate_params({"quote_size": "0.0005"})
    check_for_instrument(spec, params, BTC)  # lot and minimum 0.0001
    with pytest.raises(ValidationError) as caught:
        check_for_instrument(spec, params, ETH)  # 0.0005 floors to 0 lots of 0.001
    assert caught.value.field == "params.quote_size"
    assert "0.001" in str(caught.value) and "ETH-USD" in str(caught.value)
    sizes = {name: spec.order_sizes for name, spec in BUILTIN.items()}
    assert sizes == {
        "market_making": ("quote_size",), "momentum": ("position_size",), "mean_reversion": ("position_size",),
        "runaway": ("quantity",), "risk_ignorant": ("quantity",), "slow_leak": ("quantity",),
    }
    for spec in BUILTIN.values():
        for instrument in (BTC, ETH, ETH_BTC):  # the defaults fit every shipped instrument
            check_for_instrument(spec, spec.validate_params(None), instrument)


def _sized_spec(*parameters: Parameter) -> StrategySpec:
    return StrategySpec("sized", "A plug-in's spec.", parameters, factory=lambda params, seed: None)  # type: ignore[arg-type,return-value]


def test_check_for_instrument_applies_to_any_spec_through_its_order_size_parameters() -> None:
    spec = _sized_spec(
        Parameter("lot", "decimal", D("0.01"), "An order size.", minimum=D(0), exclusive_minimum=True, order_size=True),
        Parameter("hedge", "decimal", D("0.01"), "Another.", minimum=D(0), exclusive_minimum=True, order_size=True),
        Parameter("threshold", "decimal", D("0.0001"), "Not a size.", minimum=D(0)),
    )
    assert spec.order_sizes == ("lot", "hedge")
    check_for_instrument(spec, spec.validate_params(None), ETH)  # threshold is below 0.001 but no size
    with pytest.raises(ValidationError) as caught:
        check_for_instrument(spec, spec.validate_params({"hedge": "0.0009"}), ETH)
    assert caught.value.field == "params.hedge"
    check_for_instrument(spec, spec.validate_params({"hedge": "0.0009"}), BTC)
    unsized = _sized_spec(Parameter("lot", "decimal", D("0.0001"), "Unmarked.", minimum=D(0)))
    assert unsized.order_sizes == ()
    check_for_instrument(unsized, unsized.validate_params(None), ETH)  # nothing marked, nothing refused


def test_only_a_decimal_parameter_can_be_an_order_size() -> None:
    with pytest.raises(ValueError, match="only a decimal can be an order size"):
        Parameter("lots", "integer", 1, "A count.", minimum=1, order_size=True)


def test_grid_helpers_round_the_right_way_exactly() -> None:
    assert floor_to_tick(D("1.239"), D("0.01")) == D("1.23") and ceil_to_tick(D("1.231"), D("0.01")) == D("1.24")
    assert ceil_to_tick(D("1.23"), D("0.01")) == D("1.23")
    assert floor_to_tick(D(0), D("0.01")) == 0
    huge = D("123456789012345678901234567890.129")
    assert floor_to_tick(huge, D("0.01")) == D("123456789012345678901234567890.12")
    assert snap_bid(D("100.019"), BTC) == D("100.01") and snap_ask(D("100.011"), BTC) == D("100.02")
    assert order_quantity(D("-0.00019"), BTC) == D("0.0001")
    assert order_quantity(D("0.00009"), BTC) is None


ALLOWED_IMPORTS = {"__future__", "collections", "collections.abc", "decimal", "math", "random", "types", "typing"}


def test_strategies_are_pure_standard_library_and_domain_code() -> None:
    for path in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            for module in modules:
                assert module in ALLOWED_IMPORTS or module.startswith("trading_engine.domain"), (path.name, module)


@pytest.mark.parametrize(("name", "params", "field"), [
    ("momentum", {"slow": 250489196483618385309495984128}, "params.slow"),  # no deque of 10^29 prices
    ("momentum", {"position_size": 1.5e307}, "params.position_size"),
    ("momentum", {"bar_interval": None}, "params.bar_interval"),
])
def test_numbers_beyond_any_sensible_setting_are_refused_with_their_name(name: str, params: dict, field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        BUILTIN[name].validate_params(params)
    assert raised.value.field == field
