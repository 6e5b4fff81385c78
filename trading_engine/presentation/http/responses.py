"""Response bodies, as pydantic models: the OpenAPI document's response schemas are generated from
them, and the HTTP tests validate every response against them.

They describe the JSON exactly as it is sent: decimals are strings (never floats), timestamps are
UTC ISO 8601 strings. Where the domain's own dataclass is the answer (a position's and the account's
valuation), it is the schema. Every model forbids fields it does not name, so a field added to a
response without being added here fails the tests.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel
from pydantic.dataclasses import dataclass

from trading_engine.domain.orders import OrderStatus, OrderType, RejectReason, Side, TimeInForce
from trading_engine.domain.portfolio import PortfolioValuation, PositionValuation

DECIMAL_TEXT = r"^-?[0-9]+(\.[0-9]+)?$"  # how the API writes a decimal: positional, exact
DecimalText = Annotated[str, Field(pattern=DECIMAL_TEXT, description="Exact decimal, as a string.")]
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
InstanceStatus = Literal["running", "stopped", "error"]


class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Order(_Response):
    order_id: str
    client_order_id: str | None
    symbol: str
    side: Side
    type: OrderType
    quantity: DecimalText
    limit_price: DecimalText | None
    time_in_force: TimeInForce
    strategy_id: str | None
    status: OrderStatus
    filled_quantity: DecimalText
    remaining_quantity: DecimalText
    filled_notional: DecimalText
    average_fill_price: DecimalText | None
    fees: DecimalText
    reject_reason: RejectReason | None
    reject_message: str | None
    cancel_reason: str | None
    created_at: Timestamp
    updated_at: Timestamp


class OrderPage(_Response):
    orders: list[Order]
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null on the last page.")


class Fill(_Response):
    fill_id: str
    order_id: str
    symbol: str
    side: Side
    quantity: DecimalText
    price: DecimalText
    fee: DecimalText
    fee_currency: str
    timestamp: Timestamp
    strategy_id: str | None


class Fills(_Response):
    fills: list[Fill]


class StrategyPosition(_Response):
    """The position one strategy instance holds, attributed to it (``?strategy_id=``)."""

    symbol: str
    currency: str
    quantity: DecimalText
    average_entry_price: DecimalText
    unrealized_pnl: DecimalText
    realized_pnl: DecimalText
    fees_paid: DecimalText
    strategy_id: str


class Positions(_Response):
    positions: list[PositionValuation] | list[StrategyPosition]


@dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class AccountPnl(PortfolioValuation):
    """The account's valuation (the domain's), and its net P&L: realized + unrealized - fees."""

    net_pnl: Decimal


class StrategyPnl(_Response):
    """The P&L of one strategy instance (``?strategy_id=``), in its symbol's quote currency."""

    strategy_id: str
    symbol: str
    currency: str
    realized_pnl: DecimalText
    unrealized_pnl: DecimalText
    fees: DecimalText
    net_pnl: DecimalText
    trades: int


class Pnl(RootModel[AccountPnl | StrategyPnl]):
    pass


class CircuitBreaker(_Response):
    is_open: bool
    reason: str | None
    tripped_at: Timestamp | None
    reset_at: Timestamp | None


class BreakerChange(_Response):
    changed: bool = Field(description="False when the breaker was in that state already.")
    circuit_breaker: CircuitBreaker
    cancelled_orders: list[str] = Field(description="Ids of the resting orders a trip cancelled.")


class RiskLimits(_Response):
    max_order_notional: DecimalText
    max_position_notional: DecimalText
    max_gross_exposure: DecimalText
    allow_leverage: bool


class PositionUtilisation(_Response):
    quantity: DecimalText
    notional: DecimalText
    utilisation: DecimalText


class Utilisation(_Response):
    gross_exposure: DecimalText
    gross_exposure_utilisation: DecimalText
    positions: dict[str, PositionUtilisation]
    open_orders: int


class Freshness(_Response):
    fresh: bool
    age_seconds: float | None


class RiskStatus(_Response):
    reporting_currency: str
    limits: RiskLimits
    utilisation: Utilisation
    circuit_breaker: CircuitBreaker
    market_data: dict[str, Freshness]


class Price(_Response):
    symbol: str
    price: DecimalText | None
    timestamp: Timestamp | None
    age_seconds: float | None
    fresh: bool


class Prices(_Response):
    prices: list[Price]


class Health(_Response):
    status: Literal["healthy"]
    service: str
    instance: str
    version: str
    environment: str
    timestamp: Timestamp


class Readiness(_Response):
    status: Literal["ready", "not_ready"]
    checks: dict[str, Literal["ok", "error"]]


class StrategyParameter(_Response):
    type: Literal["integer", "number", "string"]
    default: int | float | str
    description: str
    minimum: int | float | str | None = None
    exclusiveMinimum: int | float | str | None = None  # noqa: N815 (the JSON schema keyword)
    maximum: int | float | str | None = None


class AvailableStrategy(_Response):
    name: str
    description: str
    chaos: bool = Field(description="A chaos strategy, offered only when chaos strategies are enabled.")
    parameters: dict[str, StrategyParameter]


class AvailableStrategies(_Response):
    strategies: list[AvailableStrategy]


class Instance(_Response):
    strategy_id: str
    strategy: str
    symbol: str
    params: dict[str, int | float | str]
    status: InstanceStatus
    reason: str | None
    position: DecimalText
    trades: int
    limit_hits: int
    created_at: Timestamp
    updated_at: Timestamp


class Instances(_Response):
    strategies: list[Instance]


class Performance(_Response):
    strategy_id: str
    strategy: str
    symbol: str
    currency: str
    status: InstanceStatus
    trades: int
    position: DecimalText
    average_entry_price: DecimalText
    realized_pnl: DecimalText
    unrealized_pnl: DecimalText
    fees: DecimalText
    net_pnl: DecimalText
    win_rate: float | None
    max_drawdown: float
    sharpe_ratio: float | None
    samples: int
    interval_seconds: float
    limit_hits: int
    ticks_processed: int


class ErrorDetail(_Response):
    code: str = Field(description="snake_case code; for a rejected order, its reject reason.")
    message: str = Field(description="What was wrong and what is allowed.")
    request_id: str = Field(description="Quote it when reporting a problem; also the X-Request-ID header.")
    field: str | None = Field(default=None, description="The input field at fault, when one is.")
    order_id: str | None = Field(default=None, description="For a rejected order: its id.")
    order: Order | None = Field(default=None, description="For a rejected order: the stored order.")


class Error(_Response):
    """The one error shape of every 4xx and 5xx answer."""

    error: ErrorDetail
