"""Every route of the HTTP API, in one place."""

from __future__ import annotations

from aiohttp import web

from trading_engine.presentation.http.handlers.health import HealthHandlers

API = "/api/v1"


def setup_routes(app: web.Application, *, health: HealthHandlers) -> None:
    app.router.add_get(f"{API}/health", health.health, name="health")
    app.router.add_get(f"{API}/ready", health.ready, name="ready")
