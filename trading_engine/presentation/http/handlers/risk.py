"""/api/v1/risk/status and /api/v1/risk/circuit-breaker."""

from __future__ import annotations

from aiohttp import web

from trading_engine.presentation.http.bodies import json_response, read_json
from trading_engine.presentation.http.schemas import CircuitBreakerAction
from trading_engine.services.risk import RiskService


class RiskHandlers:
    def __init__(self, risk: RiskService) -> None:
        self._risk = risk

    async def status(self, request: web.Request) -> web.Response:
        return json_response(self._risk.status())

    async def circuit_breaker(self, request: web.Request) -> web.Response:
        body = await read_json(request, CircuitBreakerAction)
        if body.action == "trip":
            change = await self._risk.trip(body.reason or "")
        else:
            change = await self._risk.reset(body.reason)
        return json_response(
            {
                "changed": change.changed,
                "circuit_breaker": change.breaker,
                "cancelled_orders": [order.order_id for order in change.cancelled],
            }
        )
