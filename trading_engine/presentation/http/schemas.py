"""Request bodies and query parameters, as pydantic models (also the OpenAPI schemas)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from trading_engine.domain.orders import OrderStatus

IDENTIFIER = r"^[A-Za-z0-9._:-]{1,64}$"
# Numbers stay far inside what 28-digit decimal arithmetic computes exactly.
MAX_NUMBER = Decimal("1e15")
MAX_DECIMALS = 12
SYMBOL = r"^[A-Za-z0-9]{2,10}-[A-Za-z0-9]{2,10}$"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CreateOrder(_Body):
    """A new order. Numbers may be JSON numbers or strings; they are parsed exactly."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"symbol": "BTC-USD", "side": "buy", "type": "limit", "quantity": "0.01", "limit_price": "45000",
         "time_in_force": "gtc", "client_order_id": "example-limit-buy"},
    ]})

    symbol: str = Field(pattern=SYMBOL, description="Instrument, e.g. BTC-USD.", examples=["BTC-USD"])
    side: Literal["buy", "sell"]
    type: Literal["market", "limit"] = "market"
    quantity: Decimal = Field(
        gt=0, lt=MAX_NUMBER, decimal_places=MAX_DECIMALS, allow_inf_nan=False,
        description="Base currency units, on the lot grid.",
    )
    limit_price: Decimal | None = Field(
        default=None, gt=0, lt=MAX_NUMBER, decimal_places=MAX_DECIMALS, allow_inf_nan=False,
        description="Required for limit orders, refused for market orders.",
    )
    time_in_force: Literal["gtc", "ioc"] = "gtc"
    client_order_id: str | None = Field(
        default=None, pattern=IDENTIFIER,
        description="Idempotency key: the same id with the same body returns the existing order.",
    )


class CircuitBreakerAction(_Body):
    # The risk service refuses a trip without a reason; the document says so too.
    model_config = ConfigDict(json_schema_extra={
        "if": {"properties": {"action": {"const": "trip"}}},
        "then": {"required": ["reason"], "properties": {"reason": {"type": "string", "pattern": r"\S"}}},
    })

    action: Literal["trip", "reset"]
    reason: str | None = Field(default=None, max_length=500, description="Required to trip: why trading halts.")


StrategyId = Annotated[str | None, Field(pattern=IDENTIFIER, description="Only what this strategy instance traded.")]


class StrategyFilter(_Body):
    """The query of GET /positions/current and /portfolio/pnl."""

    strategy_id: StrategyId = None


class OrderListQuery(_Body):
    status: OrderStatus | None = None
    symbol: str | None = Field(default=None, pattern=SYMBOL)
    strategy_id: StrategyId = None
    limit: int = Field(default=100, ge=1, le=1000)
    cursor: str | None = Field(
        default=None, min_length=1, max_length=200, description="next_cursor of the previous page.",
    )


class StartStrategy(_Body):
    strategy: str = Field(min_length=1, max_length=64, description="A name from GET /api/v1/strategies/available.")
    symbol: str = Field(pattern=SYMBOL, description="Instrument the instance trades, e.g. BTC-USD.")
    params: dict[str, Any] = Field(default_factory=dict, description="Strategy parameters; omitted ones take their defaults.")


class StopStrategy(_Body):
    strategy_id: str = Field(pattern=IDENTIFIER)


class StartBacktest(_Body):
    strategy: str = Field(min_length=1, max_length=64, description="A name from GET /api/v1/strategies/available.")
    symbol: str = Field(pattern=SYMBOL, description="The configured instrument the data is of, e.g. BTC-USD.")
    params: dict[str, Any] = Field(default_factory=dict, description="Strategy parameters; omitted ones take their defaults.")
    data: list[Annotated[str, Field(min_length=1, max_length=255)]] = Field(
        min_length=1, max_length=100,
        description="File names under backtests.data_dir, replayed one after the other (no '..', no absolute path).",
    )
    cash: str | None = Field(default=None, max_length=200, description="Starting cash, CUR=AMOUNT pairs (default: account.initial_cash).")
    fee_bps: Decimal | None = Field(default=None, ge=0, lt=10000, description="Fee per fill (default: venue.fee_bps).")
    slippage_bps: Decimal | None = Field(default=None, ge=0, lt=10000, description="Market order slippage (default: venue.slippage_bps).")
