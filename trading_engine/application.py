"""The app factory and runner: where aiohttp meets the container."""

from __future__ import annotations

import gc
import secrets
import sys
from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from trading_engine.containers import Container

from trading_engine.presentation.http.access_log import StructlogAccessLogger
from trading_engine.presentation.http.auth import api_token_middleware
from trading_engine.presentation.http.handlers.backtests import BacktestHandlers
from trading_engine.presentation.http.handlers.health import HealthHandlers
from trading_engine.presentation.http.handlers.market import MarketHandlers
from trading_engine.presentation.http.handlers.metrics import MetricsHandlers
from trading_engine.presentation.http.handlers.openapi import OpenApiHandlers
from trading_engine.presentation.http.handlers.orders import OrderHandlers
from trading_engine.presentation.http.handlers.portfolio import PortfolioHandlers
from trading_engine.presentation.http.handlers.risk import RiskHandlers
from trading_engine.presentation.http.handlers.strategies import StrategyHandlers
from trading_engine.presentation.http.keys import MAX_BODY_BYTES, OPENAPI
from trading_engine.presentation.http.metrics_middleware import red_metrics_middleware
from trading_engine.presentation.http.middlewares import error_middleware, request_context_middleware
from trading_engine.presentation.http.openapi import Offer, build_openapi
from trading_engine.presentation.http.routes import OPERATIONS, Handlers, setup_routes
from trading_engine.presentation.http.server_log import ServerLog

CONTAINER = web.AppKey("container", Container)

log = structlog.get_logger(__name__)


async def _container_resources(app: web.Application) -> AsyncIterator[None]:
    """Start the container's resources before serving; stop them after the last request."""
    container = app[CONTAINER]
    # The engine first, alone: when it cannot start (the store cannot open), that is the error,
    # before the resources that depend on it (the gRPC server) are attempted.
    engine = container.trading.init()
    if engine is not None:
        await engine
    started = container.init_resources()
    if started is not None:
        await started
    lifecycle = container.lifecycle()
    lifecycle.mark_serving()
    grpc_server = await container.grpc_server()
    log.info(
        "service_started",
        host=container.config.http.host(),
        port=container.config.http.port(),
        grpc_port=None if grpc_server is None else grpc_server.port,
        readiness_checks=container.health_service().check_names,
    )
    yield
    lifecycle.mark_stopping()
    stopped = container.shutdown_resources()
    if stopped is not None:
        await stopped


async def _stop_accepting_grpc(app: web.Application) -> None:
    """On shutdown, while HTTP drains its in-flight requests, gRPC stops accepting and drains too
    (the container's resource waits for it to finish)."""
    grpc_server = await app[CONTAINER].grpc_server()
    if grpc_server is not None:
        grpc_server.begin_stop()


def create_app(container: Container) -> web.Application:
    metrics = container.guarded_metrics()
    max_body = container.config.http.max_body_bytes()
    app = web.Application(
        middlewares=[
            request_context_middleware(),
            error_middleware(),
            red_metrics_middleware(metrics),
            api_token_middleware(container.config.auth.api_token()),
        ],
        client_max_size=max_body,
        # A request aiohttp cannot parse: one rate-limited warning, nothing of the request in it.
        handler_args={"logger": ServerLog()},
    )
    app[CONTAINER] = container
    app[MAX_BODY_BYTES] = max_body
    app.cleanup_ctx.append(_container_resources)
    app.on_shutdown.append(_stop_accepting_grpc)
    setup_routes(
        app,
        Handlers(
            health=HealthHandlers(container.health_service()),
            metrics=MetricsHandlers(metrics.get_http_handler(), container.config.metrics.bearer_token()),
            openapi=OpenApiHandlers(),
            orders=OrderHandlers(container.order_service()),
            portfolio=PortfolioHandlers(container.portfolio_service(), container.strategy_manager()),
            risk=RiskHandlers(container.risk_service()),
            market=MarketHandlers(container.market_view()),
            strategies=StrategyHandlers(container.strategy_manager()),
            backtests=BacktestHandlers(container.backtest_service()),
        ),
    )
    app[OPENAPI] = build_openapi(
        app.router,
        OPERATIONS,
        version=container.config.service.version(),
        offer=Offer(strategies=container.strategy_manager().available(), symbols=container.market_view().symbols),
    )
    return app


async def _freeze_startup_objects(app: web.Application) -> None:
    """Move everything built at startup out of the garbage collector's view: a full collection
    (triggered, e.g., by the many objects a scrape renders) then has less to walk while every
    thread, the event loop included, waits for it."""
    gc.collect()
    gc.freeze()


def provide_development_api_token(container: Container) -> bool:
    """Startup step: an empty ``auth.api_token`` (refused in production by validation) becomes a
    random token for this run, set before logging so the log can redact it. True when generated."""
    if container.config.auth.api_token():
        return False
    container.config.from_dict({"auth": {"api_token": secrets.token_urlsafe(32)}})
    return True


def run(container: Container) -> None:
    """Serve until SIGTERM/SIGINT, then drain in-flight requests within the shutdown timeout."""
    generated = provide_development_api_token(container)
    container.logging.init()
    for notice in container.startup_notices():
        fields = dict(notice)
        log.info(fields.pop("event"), **fields)
    if generated:
        log.info("api_token_generated", printed_to="stderr")
        print(
            "trading-engine: auth.api_token is not set; this run's API token is "
            f"{container.config.auth.api_token()} (set TRADING_ENGINE_API_TOKEN to choose one)",
            file=sys.stderr,
            flush=True,
        )
    app = create_app(container)
    app.on_startup.append(_freeze_startup_objects)
    web.run_app(
        app,
        host=container.config.http.host(),
        port=container.config.http.port(),
        shutdown_timeout=container.config.http.shutdown_timeout_seconds(),
        access_log_class=StructlogAccessLogger,
        print=None,
        handle_signals=True,
    )
    log.info("shutdown_complete")
