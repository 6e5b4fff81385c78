"""The app factory and runner: where aiohttp meets the container."""

from __future__ import annotations

from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from trading_engine.containers import Container
from trading_engine.presentation.http.access_log import StructlogAccessLogger
from trading_engine.presentation.http.handlers.health import HealthHandlers
from trading_engine.presentation.http.handlers.metrics import MetricsHandlers
from trading_engine.presentation.http.metrics_middleware import red_metrics_middleware
from trading_engine.presentation.http.middlewares import error_middleware, request_context_middleware
from trading_engine.presentation.http.routes import setup_routes

CONTAINER = web.AppKey("container", Container)

log = structlog.get_logger(__name__)


async def _container_resources(app: web.Application) -> AsyncIterator[None]:
    """Start the container's resources before serving; stop them after the last request."""
    container = app[CONTAINER]
    started = container.init_resources()
    if started is not None:
        await started
    lifecycle = container.lifecycle()
    lifecycle.mark_serving()
    identity = container.identity()
    log.info(
        "service_started",
        host=container.config.http.host(),
        port=container.config.http.port(),
        readiness_checks=container.health_service().check_names,
        service=identity.name,
    )
    yield
    lifecycle.mark_stopping()
    stopped = container.shutdown_resources()
    if stopped is not None:
        await stopped


def create_app(container: Container) -> web.Application:
    metrics = container.metrics_port()
    app = web.Application(
        middlewares=[
            request_context_middleware(),
            error_middleware(),
            red_metrics_middleware(metrics),
        ],
    )
    app[CONTAINER] = container
    app.cleanup_ctx.append(_container_resources)
    setup_routes(
        app,
        health=HealthHandlers(container.health_service()),
        metrics=MetricsHandlers(metrics.get_http_handler(), container.config.metrics.bearer_token()),
    )
    return app


def run(container: Container) -> None:
    """Serve until SIGTERM/SIGINT, then drain in-flight requests within the shutdown timeout."""
    container.logging.init()
    for notice in container.startup_notices():
        fields = dict(notice)
        log.info(fields.pop("event"), **fields)
    web.run_app(
        create_app(container),
        host=container.config.http.host(),
        port=container.config.http.port(),
        shutdown_timeout=container.config.http.shutdown_timeout_seconds(),
        access_log_class=StructlogAccessLogger,
        print=None,
        handle_signals=True,
    )
    log.info("shutdown_complete")
