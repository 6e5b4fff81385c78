"""GET /api/v1/metrics and GET /metrics: the metrics port's exposition, optionally behind a token."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from trading_engine.presentation.http.auth import bearer_token, token_matches
from trading_engine.presentation.http.errors import ApiError


class MetricsHandlers:
    def __init__(self, exposition: Callable[[web.Request], Awaitable[Any]], bearer_token: str = "") -> None:
        self._exposition = exposition
        self._token = bearer_token

    async def metrics(self, request: web.Request) -> web.StreamResponse:
        if self._token and not token_matches(bearer_token(request), self._token):
            raise ApiError(
                401,
                "the metrics endpoint requires 'Authorization: Bearer <token>' with the configured "
                "metrics.bearer_token",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        response: web.StreamResponse = await self._exposition(request)
        return response
