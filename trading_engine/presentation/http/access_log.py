"""aiohttp's access log as one structlog event per request."""

from __future__ import annotations

import logging

import structlog
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

from trading_engine.presentation.http.keys import REQUEST_ID, ROUTE
from trading_engine.presentation.http.routing import UNMATCHED


class StructlogAccessLogger(AbstractAccessLogger):
    """Logs ``http_request`` with method, route template, path, status, duration and request id."""

    def __init__(self, logger: logging.Logger, log_format: str) -> None:
        super().__init__(logger, log_format)
        # Bound once per server (after logging is configured), so each request pays no lookup.
        self._log = structlog.get_logger("trading_engine.access").bind()

    @property
    def enabled(self) -> bool:
        return self._log.is_enabled_for(logging.INFO)

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        self._log.info(
            "http_request",
            method=request.method,
            route=request.get(ROUTE, UNMATCHED),
            path=request.path,
            status=response.status,
            duration_ms=round(time * 1000, 3),
            request_id=request.get(REQUEST_ID),
            remote=request.remote,
        )
