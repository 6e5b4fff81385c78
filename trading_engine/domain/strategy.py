"""The strategy contract: systematic strategies as pure decision functions.

The built-in strategies are in ``domain/strategies/``; the runtime that runs them is
``services/strategy_runtime/``.

A strategy instance trades one symbol. The runtime feeds it events
one at a time and it answers each with intents:

* ``on_tick(price, context)``: a new market price of its symbol;
* ``on_fill(fill, context)``: one of its own orders (partly) filled;
* ``on_risk_event(event, context)``: one of its intents was refused (a per-instance limit, or
  pre-trade risk), or the breaker halted trading;
* ``on_bar(bar, context)``: only for a strategy that asks for bars, by having a ``bar_interval``
  attribute that is not ``None`` (``"1m"``; see ``domain/bars.py``): each closed bar of its symbol
  and interval, *instead of* ``on_tick``. Live, the runtime makes the bars from ticks; on a file
  of bars they come from the file.

Intents are :class:`PlaceOrder` and :class:`CancelOrder`. A strategy never touches the venue,
the store or the metrics: every ``PlaceOrder`` goes through the same order use case and
pre-trade checks as an API order, tagged with the instance id. A strategy holds only its own
decision state (moving averages, last quote); what it owns in the market (position, resting
orders) is in the :class:`StrategyContext` the runtime passes with every event.

Strategies are described by a :class:`StrategySpec`: a name, a description, whether it is a
chaos strategy, and its :class:`Parameter` s, from which ``validate_params`` parses a request's
parameters (an error names the parameter and what is allowed).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any, NamedTuple, Protocol

from trading_engine.domain.bars import INTERVAL_RULE as INTERVAL_TEXT
from trading_engine.domain.bars import INTERVALS, Bar, interval_name, interval_seconds
from trading_engine.domain.errors import ValidationError
from trading_engine.domain.instruments import Instrument
from trading_engine.domain.orders import Fill, OrderType, RejectReason, Side, TimeInForce

# -- intents ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlaceOrder:
    """An order the strategy wants placed on its symbol; the runtime adds the symbol and the
    instance id and places it as an ``OrderRequest`` (whose fields these are a subset of)."""

    side: Side
    quantity: Decimal
    type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC

    def order_fields(self) -> dict[str, object]:
        """The ``OrderRequest`` fields this intent chooses, by name."""
        return {name: getattr(self, name) for name in _PLACE_ORDER_FIELDS}


_PLACE_ORDER_FIELDS = tuple(spec.name for spec in fields(PlaceOrder))


@dataclass(frozen=True)
class CancelOrder:
    order_id: str


Intent = PlaceOrder | CancelOrder


# -- what a strategy sees ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RestingOrder:
    """One of the instance's own orders resting on the venue."""

    order_id: str
    side: Side
    limit_price: Decimal | None
    remaining_quantity: Decimal


class StrategyContext(NamedTuple):
    """What the strategy sees at each call. An immutable named tuple (the runtime makes one per
    call, and a tuple is built in a third of a frozen dataclass's time)."""

    symbol: str
    instrument: Instrument
    now: datetime
    position: Decimal  # the instance's own signed position in the symbol
    resting_orders: tuple[RestingOrder, ...] = ()
    params: Mapping[str, Any] = MappingProxyType({})


# Kinds of risk event; ``limit_type`` on the metric trading_risk_limit_breaches_total.
ORDER_RATE = "order_rate"
MAX_POSITION = "max_position"
MAX_OPEN_ORDERS = "max_open_orders"
PRE_TRADE = "pre_trade"
LIMIT_TYPES = (ORDER_RATE, MAX_POSITION, MAX_OPEN_ORDERS, PRE_TRADE)


@dataclass(frozen=True)
class RiskEvent:
    """An intent the runtime or pre-trade risk refused. ``limit_type`` is one of LIMIT_TYPES;
    ``reason`` is the pre-trade reject reason when ``limit_type`` is ``pre_trade``."""

    limit_type: str
    message: str
    intent: Intent | None = None
    reason: RejectReason | None = None


class Strategy(Protocol):
    def on_tick(self, price: Decimal, context: StrategyContext) -> Sequence[Intent]: ...

    def on_fill(self, fill: Fill, context: StrategyContext) -> Sequence[Intent]: ...

    def on_risk_event(self, event: RiskEvent, context: StrategyContext) -> Sequence[Intent]: ...


class BarStrategy(Strategy, Protocol):
    """A strategy that decides on closed bars: ``bar_interval`` names the interval it asks for."""

    bar_interval: str | None

    def on_bar(self, bar: Bar, context: StrategyContext) -> Sequence[Intent]: ...


def bar_interval_of(strategy: Strategy) -> str | None:
    """The bar interval ``strategy`` asks for, or None for a strategy called on every tick."""
    interval = getattr(strategy, "bar_interval", None)
    return None if interval in (None, "") else str(interval)


# -- parameters ----------------------------------------------------------------------------------


MAX_DECIMAL_PARAMETER = Decimal("1E+15")
# An integer (a window, a count) without a maximum of its own: no deque of 10^29 prices.
MAX_INTEGER_PARAMETER = 1_000_000_000


@dataclass(frozen=True)
class Parameter:
    """A strategy parameter: ``kind`` is ``"integer"``, ``"decimal"``, ``"number"`` (float) or
    ``"interval"`` (a bar interval such as ``5m``, canonicalised; ``""`` for none).

    A decimal without a ``maximum`` of its own is bounded by ``MAX_DECIMAL_PARAMETER``, as every
    number the API takes is: sizes and notionals stay where exact arithmetic is cheap; an integer
    by ``MAX_INTEGER_PARAMETER``.

    ``order_size`` marks a decimal that is the size of an order the strategy places: starting an
    instance refuses a value that, floored to the instrument's lot, is below the instrument's
    minimum order size (such an instance would run and never trade)."""

    name: str
    kind: str
    default: Any
    description: str
    minimum: Any = None
    maximum: Any = None
    exclusive_minimum: bool = False
    order_size: bool = False

    def __post_init__(self) -> None:
        if self.order_size and self.kind != "decimal":
            raise ValueError(f"parameter {self.name}: only a decimal can be an order size, not {self.kind!r}")

    @property
    def upper(self) -> Any:
        """The largest value allowed: ``maximum``, or ``MAX_DECIMAL_PARAMETER`` for a decimal and
        ``MAX_INTEGER_PARAMETER`` for an integer without one."""
        if self.maximum is None and self.kind == "decimal":
            return MAX_DECIMAL_PARAMETER
        if self.maximum is None and self.kind == "integer":
            return MAX_INTEGER_PARAMETER
        return self.maximum

    def schema(self) -> dict[str, Any]:
        """JSON-schema-like description for the API (decimals as strings)."""
        out: dict[str, Any] = {
            "type": {"integer": "integer", "number": "number", "decimal": "string", "interval": "string"}[self.kind],
            "default": _json(self.default),
            "description": self.description,
        }
        if self.kind == "interval":
            out["enum"] = ["", *INTERVALS]
        if self.minimum is not None:
            out["exclusiveMinimum" if self.exclusive_minimum else "minimum"] = _json(self.minimum)
        if self.upper is not None:
            out["maximum"] = _json(self.upper)
        return out

    def parse(self, value: Any) -> Any:
        field_name = f"params.{self.name}"
        bounds = self._bounds()
        if self.kind == "interval":
            return self._parse_interval(value, field_name)
        if isinstance(value, bool):
            raise ValidationError(f"{field_name} must be {self._kind_text()}{bounds}, not a boolean", field=field_name)
        try:
            if self.kind == "integer":
                if isinstance(value, float) and not value.is_integer():
                    raise ValueError
                parsed: Any = int(Decimal(str(value)))
                if Decimal(str(value)) != parsed:
                    raise ValueError
            elif self.kind == "decimal":
                if isinstance(value, float):
                    value = str(value)
                parsed = Decimal(str(value).strip())
                if not parsed.is_finite():
                    raise ValueError
            else:
                parsed = float(value)
                if parsed != parsed or parsed in (float("inf"), float("-inf")):
                    raise ValueError
        except (ValueError, TypeError, InvalidOperation):
            raise ValidationError(
                f"{field_name} {value!r} is not {self._kind_text()}; expected {self._kind_text()}{bounds}",
                field=field_name,
            ) from None
        low_fails = self.minimum is not None and (
            parsed <= self.minimum if self.exclusive_minimum else parsed < self.minimum
        )
        if low_fails or (self.upper is not None and parsed > self.upper):
            raise ValidationError(f"{field_name} {value} is out of range; it must be{bounds}", field=field_name)
        return parsed

    def _parse_interval(self, value: Any, field_name: str) -> str:
        if isinstance(value, str) and value == "":
            return ""
        try:
            return interval_name(interval_seconds(value))
        except ValueError:
            raise ValidationError(
                f"{field_name} {value!r} is not allowed; it must be empty (every tick) or {INTERVAL_TEXT}",
                field=field_name,
            ) from None

    def _kind_text(self) -> str:
        return {"integer": "an integer", "decimal": "a decimal number", "number": "a number"}[self.kind]

    def _bounds(self) -> str:
        parts = []
        if self.minimum is not None:
            parts.append(f"{'greater than' if self.exclusive_minimum else 'at least'} {self.minimum}")
        if self.upper is not None:
            parts.append(f"at most {self.upper}")
        return (" " + " and ".join(parts)) if parts else ""


def _json(value: Any) -> Any:
    return format(value, "f") if isinstance(value, Decimal) else value  # positional, never 1E+15


@dataclass(frozen=True)
class StrategySpec:
    name: str
    description: str
    parameters: tuple[Parameter, ...]
    factory: Callable[[Mapping[str, Any], int], Strategy]  # (validated params, seed) -> instance
    chaos: bool = False
    checks: Callable[[Mapping[str, Any]], None] | None = None  # cross-parameter rules
    # Where the spec comes from: "built-in", "entry point <name> (<distribution>)" or
    # "strategies.modules <package.module:NAME>"; set by the loader, never by the spec itself.
    origin: str = "built-in"

    @property
    def order_sizes(self) -> tuple[str, ...]:
        """The names of the parameters marked ``order_size``."""
        return tuple(p.name for p in self.parameters if p.order_size)

    def validate_params(self, raw: Mapping[str, Any] | None) -> dict[str, Any]:
        """Parse ``raw`` against the parameters; unknown names and bad values are errors that
        name the parameter; missing ones take their defaults."""
        raw = dict(raw or {})
        known = {p.name: p for p in self.parameters}
        unknown = sorted(set(raw) - set(known))
        if unknown:
            raise ValidationError(
                f"unknown parameter {unknown[0]!r} for strategy {self.name}; allowed: {', '.join(known)}",
                field=f"params.{unknown[0]}",
            )
        params = {name: (p.parse(raw[name]) if name in raw else p.default) for name, p in known.items()}
        if self.checks is not None:
            self.checks(params)
        return params

    def create(self, params: Mapping[str, Any], seed: int) -> Strategy:
        return self.factory(params, seed)
