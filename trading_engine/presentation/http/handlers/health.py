"""GET /api/v1/health (liveness) and GET /api/v1/ready (readiness)."""

from __future__ import annotations

from aiohttp import web

from trading_engine.services.health import HealthService


class HealthHandlers:
    def __init__(self, health: HealthService) -> None:
        self._health = health

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response(self._health.health())

    async def ready(self, request: web.Request) -> web.Response:
        readiness = await self._health.readiness()
        body = {"status": "ready" if readiness.ready else "not_ready", "checks": readiness.checks,
                "reasons": readiness.reasons}
        return web.json_response(body, status=200 if readiness.ready else 503)
