"""Every route of the HTTP API, in one place."""

from __future__ import annotations

from aiohttp import web

from trading_engine.presentation.http.handlers.health import HealthHandlers
from trading_engine.presentation.http.handlers.metrics import MetricsHandlers

API = "/api/v1"


def setup_routes(app: web.Application, *, health: HealthHandlers, metrics: MetricsHandlers) -> None:
    app.router.add_get(f"{API}/health", health.health, name="health")
    app.router.add_get(f"{API}/ready", health.ready, name="ready")
    app.router.add_get(f"{API}/metrics", metrics.metrics, name="metrics")
    # The path Prometheus scrapes when a scrape config names no metrics_path.
    app.router.add_get("/metrics", metrics.metrics, name="metrics_default_path")
