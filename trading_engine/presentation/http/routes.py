"""Every route of the HTTP API, in one place, and beside it what each one does: the OpenAPI
document is generated from the router and these declarations (``openapi.py``)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from trading_engine.domain.orders import RejectReason
from trading_engine.presentation.http.handlers.backtests import BacktestHandlers
from trading_engine.presentation.http.handlers.health import HealthHandlers
from trading_engine.presentation.http.handlers.market import MarketHandlers
from trading_engine.presentation.http.handlers.metrics import MetricsHandlers
from trading_engine.presentation.http.handlers.openapi import OpenApiHandlers
from trading_engine.presentation.http.handlers.orders import OrderHandlers
from trading_engine.presentation.http.handlers.portfolio import PortfolioHandlers
from trading_engine.presentation.http.handlers.risk import RiskHandlers
from trading_engine.presentation.http.handlers.strategies import StrategyHandlers
from trading_engine.presentation.http.openapi import Operation, Reply
from trading_engine.presentation.http.responses import (
    AvailableStrategies,
    Backtest,
    Backtests,
    BreakerChange,
    Fills,
    Health,
    Instance,
    Instances,
    Order,
    OrderPage,
    Performance,
    Pnl,
    Positions,
    Price,
    Prices,
    Readiness,
    RiskStatus,
)
from trading_engine.presentation.http.schemas import (
    CircuitBreakerAction,
    StartBacktest,
    CreateOrder,
    OrderListQuery,
    StartStrategy,
    StopStrategy,
    StrategyFilter,
)

API = "/api/v1"


@dataclass(frozen=True)
class Handlers:
    health: HealthHandlers
    metrics: MetricsHandlers
    openapi: OpenApiHandlers
    orders: OrderHandlers
    portfolio: PortfolioHandlers
    risk: RiskHandlers
    market: MarketHandlers
    strategies: StrategyHandlers
    backtests: BacktestHandlers


def setup_routes(app: web.Application, h: Handlers) -> None:
    add = app.router
    add.add_get(f"{API}/health", h.health.health, name="health")
    add.add_get(f"{API}/ready", h.health.ready, name="ready")
    add.add_get(f"{API}/metrics", h.metrics.metrics, name="metrics")
    # The path Prometheus scrapes when a scrape config names no metrics_path.
    add.add_get("/metrics", h.metrics.metrics, name="metrics_default_path")
    add.add_get(f"{API}/openapi.json", h.openapi.document, name="openapi")

    add.add_post(f"{API}/orders", h.orders.create, name="create_order")
    add.add_get(f"{API}/orders", h.orders.list, name="list_orders")
    add.add_get(f"{API}/orders/{{order_id}}", h.orders.get, name="get_order")
    add.add_delete(f"{API}/orders/{{order_id}}", h.orders.cancel, name="cancel_order")
    add.add_get(f"{API}/orders/{{order_id}}/fills", h.orders.fills, name="order_fills")

    add.add_get(f"{API}/positions/current", h.portfolio.positions, name="positions")
    add.add_get(f"{API}/portfolio/pnl", h.portfolio.pnl, name="pnl")

    add.add_get(f"{API}/risk/status", h.risk.status, name="risk_status")
    add.add_post(f"{API}/risk/circuit-breaker", h.risk.circuit_breaker, name="circuit_breaker")

    add.add_get(f"{API}/market/prices", h.market.prices, name="prices")
    add.add_get(f"{API}/market/prices/{{symbol}}", h.market.price, name="price")

    add.add_get(f"{API}/strategies/available", h.strategies.available, name="strategies_available")
    add.add_post(f"{API}/strategies/start", h.strategies.start, name="strategy_start")
    add.add_post(f"{API}/strategies/stop", h.strategies.stop, name="strategy_stop")
    add.add_get(f"{API}/strategies/active", h.strategies.active, name="strategies_active")
    add.add_get(f"{API}/strategies/{{strategy_id}}/status", h.strategies.status, name="strategy_status")
    add.add_get(f"{API}/strategies/{{strategy_id}}/performance", h.strategies.performance,
                name="strategy_performance")

    add.add_post(f"{API}/backtests", h.backtests.submit, name="backtest_submit")
    add.add_get(f"{API}/backtests", h.backtests.list, name="backtests_list")
    add.add_get(f"{API}/backtests/{{backtest_id}}", h.backtests.get, name="backtest_get")
    add.add_delete(f"{API}/backtests/{{backtest_id}}", h.backtests.cancel, name="backtest_cancel")
    add.add_get(f"{API}/backtests/{{backtest_id}}/report", h.backtests.file("report"), name="backtest_report")
    add.add_get(f"{API}/backtests/{{backtest_id}}/equity.png", h.backtests.file("equity.png"), name="backtest_equity")
    add.add_get(f"{API}/backtests/{{backtest_id}}/fills.csv", h.backtests.file("fills.csv"), name="backtest_fills")


METRICS = Reply("Prometheus exposition.", media_types=("text/plain", "application/openmetrics-text"))
NO_ORDER = ("No such order in the store. With a retention (persistence.retention) the message says that "
            "finished orders older than it are in the archive files (persistence.archive_dir).")
NO_INSTANCE = "No such strategy instance."
NO_BACKTEST = "No such backtest."
NOT_DONE = "The backtest is not done (its files exist once it is)."
BACKTEST_ROUTES = ("backtest_get", "backtest_cancel", "backtest_report", "backtest_equity", "backtest_fills")
INSTANCE_ROUTES = ("strategy_status", "strategy_performance", "strategy_stop", "positions", "pnl", "list_orders")

OPERATIONS: dict[str, Operation] = {
    "health": Operation("Liveness and identity of this instance", {200: Reply("Healthy.", Health)}),
    "ready": Operation("Readiness: every registered check (database, market_data, ...)", {
        200: Reply("Every check is ok.", Readiness),
        503: Reply("At least one check failed or timed out.", Readiness),
    }),
    "metrics": Operation("Prometheus exposition (text 0.0.4; OpenMetrics when Accept asks)", {
        200: METRICS, 401: "metrics.bearer_token is set and the request lacks it.",
    }),
    "metrics_default_path": Operation("The same exposition on Prometheus's default path", {
        200: METRICS, 401: "metrics.bearer_token is set and the request lacks it.",
    }),
    "openapi": Operation("This document", {200: Reply("OpenAPI 3.1.")}),
    "create_order": Operation(
        "Place an order",
        {
            201: Reply("Created.", Order),
            200: Reply("An order with this client_order_id and the same fields already exists.", Order),
            409: "client_order_id already names an order with different fields.",
            422: "Invalid field, or rejected by pre-trade risk (error.code is the reason, error.order the "
                 "stored order).",
        },
        description=(
            "Answered once the order, its fills, position and cash are durable. A market order comes "
            "back filled. Pre-trade risk rejections are stored with status `rejected` and answered 422 "
            "with the reason as the error code: " + ", ".join(f"`{r.value}`" for r in RejectReason) + "."
        ),
        body=CreateOrder, links=("get_order", "cancel_order", "order_fills"), passes="order_id",
    ),
    "list_orders": Operation("List orders, newest first", {
        200: Reply("A page of orders; next_cursor is null on the last page.", OrderPage),
    }, query=OrderListQuery),
    "get_order": Operation("One order", {200: Reply("The order.", Order), 404: NO_ORDER}),
    "cancel_order": Operation("Cancel a resting order", {
        200: Reply("Cancelled; the order stays readable.", Order),
        404: NO_ORDER,
        409: "The order is no longer open (filled, cancelled, rejected or expired).",
    }),
    "order_fills": Operation("The fills of one order, oldest first", {200: Reply("Fills.", Fills), 404: NO_ORDER}),
    "positions": Operation("Open positions at the current marks", {
        200: Reply("Positions; with strategy_id, the one position that instance holds.", Positions),
        404: NO_INSTANCE,
    }, query=StrategyFilter),
    "pnl": Operation("Cash, equity, exposure and P&L in the reporting currency", {
        200: Reply("The account's valuation; with strategy_id, that instance's P&L.", Pnl),
        404: NO_INSTANCE,
    }, query=StrategyFilter),
    "risk_status": Operation(
        "Risk limits, their utilisation, the circuit breaker and market data freshness",
        {200: Reply("Risk status.", RiskStatus)},
    ),
    "circuit_breaker": Operation(
        "Trip or reset the circuit breaker",
        {200: Reply("The breaker after the action.", BreakerChange)},
        description="Tripping rejects every new order (circuit_breaker_open) and cancels resting orders; "
                    "it needs a reason.",
        body=CircuitBreakerAction,
    ),
    "prices": Operation("Latest price of every instrument", {200: Reply("Prices.", Prices)}),
    "price": Operation("Latest price of one instrument", {200: Reply("The price.", Price), 404: "Unknown symbol."}),
    "strategies_available": Operation(
        "Strategies that can be started, with their parameter schemas and defaults",
        {200: Reply("Strategies.", AvailableStrategies)},
    ),
    "strategy_start": Operation(
        "Start a strategy instance on one symbol",
        {
            201: Reply("Started; strategy_id names the instance.", Instance),
            409: "strategies.max_instances instances are running already.",
            422: "Unknown strategy or symbol, or a bad parameter (`field` is params.<name>).",
        },
        description="Every order the instance places goes through pre-trade risk and its own limits "
                    "(max_position_notional, max_orders_per_second, max_open_orders).",
        body=StartStrategy, links=INSTANCE_ROUTES, passes="strategy_id",
    ),
    "strategy_stop": Operation("Stop a strategy instance; its resting orders are cancelled", {
        200: Reply("Stopped.", Instance), 404: NO_INSTANCE, 409: "The instance is not running.",
    }, body=StopStrategy),
    "strategies_active": Operation("Running strategy instances", {200: Reply("Instances.", Instances)}),
    "strategy_status": Operation("One strategy instance", {200: Reply("The instance.", Instance), 404: NO_INSTANCE}),
    "strategy_performance": Operation(
        "Trades, P&L, win rate, maximum drawdown and Sharpe ratio of an instance",
        {200: Reply("Performance (README: formulas).", Performance), 404: NO_INSTANCE},
    ),
    "backtest_submit": Operation(
        "Run a backtest of a strategy on history files, in a worker process",
        {
            202: Reply("Queued; backtest_id names it.", Backtest),
            422: "Unknown strategy or symbol, a bad parameter, or a data name that is not a file under "
                 "backtests.data_dir (`..`, an absolute path and links leading out are refused).",
        },
        description="At most backtests.max_concurrent run at once; more wait. The run is the live engine's own "
                    "code on the data's clock (README: Historical market data and backtests).",
        body=StartBacktest, links=BACKTEST_ROUTES, passes="backtest_id",
    ),
    "backtests_list": Operation("Backtests, newest first", {200: Reply("Backtests.", Backtests)}),
    "backtest_get": Operation("One backtest: status, progress, and its statistics once done", {
        200: Reply("The backtest.", Backtest), 404: NO_BACKTEST,
    }),
    "backtest_cancel": Operation("Cancel a queued or running backtest", {
        200: Reply("Cancelled.", Backtest), 404: NO_BACKTEST, 409: "The backtest has finished.",
    }),
    "backtest_report": Operation("The backtest's self-contained HTML report", {
        200: Reply("The report.", media_types=("text/html",)), 404: NO_BACKTEST, 409: NOT_DONE,
    }),
    "backtest_equity": Operation("The equity curve, drawdown, entries and exits as a picture", {
        200: Reply("A PNG.", media_types=("image/png",)), 404: NO_BACKTEST, 409: NOT_DONE,
    }),
    "backtest_fills": Operation("The backtest's fills as CSV", {
        200: Reply("timestamp,order_id,side,quantity,price,fee,realized_pnl.", media_types=("text/csv",)),
        404: NO_BACKTEST, 409: NOT_DONE,
    }),
}
