"""The RED middleware: rate, errors and duration of every HTTP request, through the MetricsPort.

Labels are ``method`` (the standard HTTP methods, anything else ``other``), ``route`` (the matched
route's template, ``unmatched`` when none matched) and ``code``; all three have bounded value sets.
Handles are bound once per (method, route, code) and reused, so a request allocates no label dict.
It records through the container's :class:`GuardedMetrics`: a failing port never fails the request.
"""

from __future__ import annotations

import asyncio
import time

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from trading_engine.presentation.http.errors import status_of
from trading_engine.presentation.http.keys import ROUTE
from trading_engine.presentation.http.routing import route_template
from trading_engine.services.observability import GuardedMetrics

REQUESTS = "http_requests_total"
DURATION = "http_request_duration_seconds"
ERRORS = "http_request_errors_total"
STANDARD_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"}
)
OTHER_METHOD = "other"


def red_metrics_middleware(guarded: GuardedMetrics) -> Middleware:
    handles: dict[tuple[str, str, int], tuple] = {}
    clock = time.perf_counter

    def record(method: str, route: str, status: int, elapsed: float) -> None:
        key = (method, route, status)
        bound = handles.get(key)
        if bound is None:
            labels = {"method": method, "route": route, "code": str(status)}
            bound = (
                guarded.counter(REQUESTS, labels),
                guarded.histogram(DURATION, labels),
                guarded.counter(ERRORS, labels) if status >= 400 else None,
            )
            handles[key] = bound
        requests, duration, errors = bound
        requests.inc()
        duration.observe(elapsed)
        if errors is not None:
            errors.inc()

    @web.middleware
    async def red_metrics(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = clock()
        method = request.method if request.method in STANDARD_METHODS else OTHER_METHOD
        route = request.get(ROUTE) or await route_template(request)
        try:
            response = await handler(request)
        except asyncio.CancelledError:  # the client went away; there is no response to count
            raise
        except Exception as exc:
            # Counted with the status the error middleware will answer: an HTTPException's own, a
            # domain or API error's mapped one (401, 404, 409, 422, 503...), 500 for anything else.
            record(method, route, status_of(exc), clock() - started)
            raise
        record(method, route, response.status, clock() - started)
        return response

    return red_metrics
