"""Response bodies, as pydantic models: the OpenAPI document's response schemas are generated from
them, and the HTTP tests validate every response against them.

They describe the JSON exactly as it is sent: a Decimal is a string (never a float), a timestamp a
UTC ISO 8601 string. Where the domain's own dataclass is the answer (a fill, a position's and the
account's valuation), it is the schema. Every model forbids fields it does not name, so a field added to a
response without being added here fails the tests.
"""

from __future__ import annotations

from dataclasses import fields
from decimal import Decimal
from typing import Annotated, Any, Literal, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, RootModel, create_model
from pydantic.dataclasses import dataclass

from trading_engine.domain.backtest import BacktestStatus
from trading_engine.domain.orders import Fill, OrderRequest, OrderStatus, RejectReason
from trading_engine.domain.portfolio import PortfolioValuation, PositionValuation
from trading_engine.domain.strategy_record import StrategyStatus

# How the API writes a Decimal: a string, positional and exact (the document's schema of every
# Decimal field below, through openapi.py's schema generator).
DECIMAL_TEXT = r"^-?[0-9]+(\.[0-9]+)?$"
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


_REQUEST_HINTS = get_type_hints(OrderRequest)
# The request part of an order is OrderRequest's fields, whatever they are: a field added there
# is in the document (and required of every order answer) without a line here.
Order = create_model(
    "Order",
    __base__=_Response,
    __doc__="An order: what the client asked for (OrderRequest's fields) and where it stands.",
    order_id=(str, ...),
    **{f.name: (_REQUEST_HINTS[f.name], ...) for f in fields(OrderRequest)},
    status=(OrderStatus, ...),
    filled_quantity=(Decimal, ...),
    remaining_quantity=(Decimal, ...),
    filled_notional=(Decimal, ...),
    average_fill_price=(Decimal | None, ...),
    fees=(Decimal, ...),
    reject_reason=(RejectReason | None, ...),
    reject_message=(str | None, ...),
    cancel_reason=(str | None, ...),
    created_at=(Timestamp, ...),
    updated_at=(Timestamp, ...),
)


class OrderPage(_Response):
    orders: list[Order]
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null on the last page.")


class Fills(_Response):
    fills: list[Fill]


class StrategyPosition(_Response):
    """The position one strategy instance holds, attributed to it (``?strategy_id=``)."""

    symbol: str
    currency: str
    quantity: Decimal
    average_entry_price: Decimal
    unrealized_pnl: Decimal
    realized_pnl: Decimal
    fees_paid: Decimal
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
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    fees: Decimal
    net_pnl: Decimal
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
    max_order_notional: Decimal
    max_position_notional: Decimal
    max_gross_exposure: Decimal
    allow_leverage: bool


class PositionUtilisation(_Response):
    quantity: Decimal
    notional: Decimal
    utilisation: Decimal


class Utilisation(_Response):
    gross_exposure: Decimal
    gross_exposure_utilisation: Decimal
    positions: dict[str, PositionUtilisation]
    open_orders: int


class Freshness(_Response):
    fresh: bool
    age_seconds: float | None
    stale_pricing: list[str] = Field(description=(
        "The stale prices among those valuing orders in this symbol: its own and the one converting "
        "its quote currency into the reporting currency. While any is listed, orders in the symbol "
        "are rejected with market_data_stale."
    ))


class RiskStatus(_Response):
    reporting_currency: str
    limits: RiskLimits
    utilisation: Utilisation
    circuit_breaker: CircuitBreaker
    market_data: dict[str, Freshness]


class Price(_Response):
    symbol: str
    price: Decimal | None
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
    reasons: dict[str, str] = Field(description=(
        "Why each failed check failed (empty when ready): the engine's own message, a timeout, "
        "or, for any other exception, only its type (the whole reason is in the log line "
        "readiness_check_failed)."))


class StrategyParameter(_Response):
    type: Literal["integer", "number", "string"]
    default: int | float | str
    description: str
    minimum: int | float | str | None = None
    exclusiveMinimum: int | float | str | None = None  # noqa: N815 (the JSON schema keyword)
    maximum: int | float | str | None = None
    enum: list[str] | None = Field(default=None, description="The values allowed (a bar interval).")


class AvailableStrategy(_Response):
    name: str
    description: str
    chaos: bool = Field(description="A chaos strategy, offered only when chaos strategies are enabled.")
    origin: str = Field(
        description="Where the strategy comes from: built-in, an installed distribution's entry point "
        "(group trading_engine.strategies) or a module named in strategies.modules.",
        examples=["built-in", "entry point donchian (trading-engine-donchian)", "strategies.modules mypkg.mod:SPEC"],
    )
    parameters: dict[str, StrategyParameter]


class AvailableStrategies(_Response):
    strategies: list[AvailableStrategy]


class Instance(_Response):
    strategy_id: str
    strategy: str
    symbol: str
    params: dict[str, int | float | str]
    status: StrategyStatus
    reason: str | None
    position: Decimal
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
    status: StrategyStatus
    trades: int
    position: Decimal
    average_entry_price: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    fees: Decimal
    net_pnl: Decimal
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


class BacktestRequest(_Response):
    strategy: str
    symbol: str
    params: dict[str, Any]
    data: list[str]
    cash: str | None
    fee_bps: str | None
    slippage_bps: str | None


class Backtest(_Response):
    backtest_id: str
    status: BacktestStatus
    progress: float = Field(ge=0, le=1, description="Share of the data replayed, 0 to 1.")
    events: int = Field(description="Market data events processed so far.")
    request: BacktestRequest
    created_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None
    statistics: dict[str, Any] | None = Field(description="The report (README: formulas) once done, else null.")
    error: str | None = Field(description="Why it failed or was cancelled, else null.")


class Backtests(_Response):
    backtests: list[Backtest]
