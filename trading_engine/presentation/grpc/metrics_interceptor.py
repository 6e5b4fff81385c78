"""The RED interceptor: go-grpc-prometheus's server metrics, through the MetricsPort.

``grpc_server_started_total``, ``grpc_server_handled_total`` (with ``grpc_code``),
``grpc_server_handling_seconds``, ``grpc_server_msg_received_total`` and
``grpc_server_msg_sent_total``, labelled ``grpc_type``, ``grpc_service`` and ``grpc_method``.
Labels are bounded: service and method are those of a registered method, anything else is
``unknown``; codes are the 17 gRPC status codes, spelled as Go spells them (``OK``,
``InvalidArgument``, ``Unavailable``), as go-grpc-prometheus labels them. Handles are bound once per method (and code)
and reused, and it records through the container's one :class:`GuardedMetrics`, so a failing port
never fails a call. It runs outside the call context interceptor, so it counts the status that interceptor
answers, refusals included.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import grpc

from trading_engine.presentation.grpc.handlers import Behavior, replace_behavior, rpc_type, split_method
from trading_engine.services.observability import GuardedMetrics

STARTED = "grpc_server_started_total"
HANDLED = "grpc_server_handled_total"
HANDLING = "grpc_server_handling_seconds"
RECEIVED = "grpc_server_msg_received_total"
SENT = "grpc_server_msg_sent_total"
UNKNOWN = "unknown"


def go_code_name(code: grpc.StatusCode) -> str:
    """A status code as Go's ``codes.Code.String()`` spells it (``InvalidArgument``, ``Canceled``):
    the ``grpc_code`` values go-grpc-prometheus dashboards and alerts select on."""
    if code is grpc.StatusCode.OK:
        return "OK"
    if code is grpc.StatusCode.CANCELLED:
        return "Canceled"
    return "".join(part.capitalize() for part in code.name.split("_"))


GRPC_CODES = {code: go_code_name(code) for code in grpc.StatusCode}


class _Series:
    """The bound handles of one method."""

    def __init__(self, metrics: GuardedMetrics, labels: dict[str, str]) -> None:
        self._metrics = metrics
        self._labels = labels
        self.started = metrics.counter(STARTED, labels)
        self.handling = metrics.histogram(HANDLING, labels)
        self.received = metrics.counter(RECEIVED, labels)
        self.sent = metrics.counter(SENT, labels)
        self._handled: dict[grpc.StatusCode, Any] = {}

    def handled(self, code: grpc.StatusCode) -> None:
        bound = self._handled.get(code)
        if bound is None:
            bound = self._metrics.counter(HANDLED, {**self._labels, "grpc_code": GRPC_CODES[code]})
            self._handled[code] = bound
        bound.inc()


class GrpcMetricsInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, metrics: GuardedMetrics, known_methods: Iterable[str]) -> None:
        self._metrics = metrics
        self._known = frozenset(known_methods)
        self._series: dict[tuple[str, str], _Series] = {}
        self._handlers: dict[grpc.RpcMethodHandler, grpc.RpcMethodHandler] = {}

    def _series_of(self, method: str, kind: str) -> _Series:
        key = (method if method in self._known else UNKNOWN, kind)
        series = self._series.get(key)
        if series is None:
            service, name = split_method(method) if method in self._known else (UNKNOWN, UNKNOWN)
            series = _Series(self._metrics, {"grpc_type": kind, "grpc_service": service, "grpc_method": name})
            self._series[key] = series
        return series

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None:
            return handler
        known = details.method in self._known
        wrapped = self._handlers.get(handler) if known else None
        if wrapped is None:
            series = self._series_of(details.method, rpc_type(handler))
            measure = _stream if handler.response_streaming else _unary
            wrapped = replace_behavior(handler, lambda behavior: measure(series, behavior, handler.request_streaming))
            if known:  # an unknown method's handler is made per call: not kept
                self._handlers[handler] = wrapped
        return wrapped


def _code(context: grpc.aio.ServicerContext, exc: BaseException | None) -> grpc.StatusCode:
    if isinstance(exc, asyncio.CancelledError):
        return grpc.StatusCode.CANCELLED
    code = context.code()
    if code is not None:
        return code
    return grpc.StatusCode.OK if exc is None else grpc.StatusCode.UNKNOWN


async def _counted(series: _Series, requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for message in requests:
        series.received.inc()
        yield message


def _begin(series: _Series, request: Any, request_streaming: bool) -> tuple[float, Any]:
    """A call starts: count it and its request (a streamed request's messages as they come)."""
    started = time.perf_counter()
    series.started.inc()
    if request_streaming:
        return started, _counted(series, request)
    series.received.inc()
    return started, request


def _unary(series: _Series, behavior: Behavior, request_streaming: bool) -> Behavior:
    async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
        started, request = _begin(series, request, request_streaming)
        failure: BaseException | None = None
        try:
            response = await behavior(request, context)
            return response
        except BaseException as exc:
            failure = exc
            raise
        finally:
            code = _code(context, failure)
            if code is grpc.StatusCode.OK:
                series.sent.inc()
            series.handled(code)
            series.handling.observe(time.perf_counter() - started)

    return unary


def _stream(series: _Series, behavior: Behavior, request_streaming: bool) -> Behavior:
    async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        started, request = _begin(series, request, request_streaming)
        failure: BaseException | None = None
        try:
            async for message in behavior(request, context):
                series.sent.inc()
                yield message
        except BaseException as exc:
            failure = exc
            raise
        finally:
            series.handled(_code(context, failure))
            series.handling.observe(time.perf_counter() - started)

    return stream
