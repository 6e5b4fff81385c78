"""Every route of the HTTP API, in one place (the OpenAPI document lists the same ones)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from trading_engine.presentation.http.handlers.health import HealthHandlers
from trading_engine.presentation.http.handlers.market import MarketHandlers
from trading_engine.presentation.http.handlers.metrics import MetricsHandlers
from trading_engine.presentation.http.handlers.openapi import OpenApiHandlers
from trading_engine.presentation.http.handlers.orders import OrderHandlers
from trading_engine.presentation.http.handlers.portfolio import PortfolioHandlers
from trading_engine.presentation.http.handlers.risk import RiskHandlers
from trading_engine.presentation.http.handlers.strategies import StrategyHandlers

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
