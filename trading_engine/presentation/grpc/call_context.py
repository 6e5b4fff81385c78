"""The call context interceptor: what the HTTP request-context, error and token middlewares do,
for every gRPC call.

* ``x-request-id`` metadata: the client's when it is sane (as over HTTP), else a fresh id; bound
  to the log context and sent back in the initial metadata;
* ``authorization: Bearer <token>`` on every mutating method (the same ``auth.api_token``,
  compared in constant time), else ``UNAUTHENTICATED``; reads are open;
* exceptions become statuses (``errors.refusal_for``); an unexpected one is logged with its
  traceback and answered ``INTERNAL`` with the request id;
* one ``grpc_request`` log event per call: service, method, code, duration, request id (never
  the token or any other metadata value).

An unknown method gets a handler answering ``UNIMPLEMENTED``, so it is logged and counted too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import grpc
import structlog

from trading_engine.domain.ids import IdGenerator
from trading_engine.presentation.grpc.errors import GrpcRefusal, Refusal, internal, refusal_for, rich_status
from trading_engine.presentation.grpc.handlers import Behavior, replace_behavior, responses, split_method
from trading_engine.presentation.http.auth import parse_bearer, token_matches
from trading_engine.presentation.http.middlewares import SANE_REQUEST_ID

log = structlog.get_logger("trading_engine.grpc")

REQUEST_ID_KEY = "x-request-id"


def _unimplemented(method: str) -> grpc.RpcMethodHandler:
    async def unimplemented(request: Any, context: grpc.aio.ServicerContext) -> None:
        raise GrpcRefusal(grpc.StatusCode.UNIMPLEMENTED, "unimplemented",
                          f"method {method[:200]} is not served here; list the services with server reflection")

    return grpc.unary_unary_rpc_method_handler(unimplemented)


class CallContextInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, api_token: str, mutating_methods: Iterable[str]) -> None:
        self._token = api_token
        self._mutating = frozenset(mutating_methods)
        self._ids = IdGenerator()
        # One wrapped handler per served method, built on its first call.
        self._handlers: dict[tuple[str, grpc.RpcMethodHandler], grpc.RpcMethodHandler] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None:  # not cached: any client can invent method names
            return self._wrapped(details.method, _unimplemented(details.method))
        key = (details.method, handler)
        wrapped = self._handlers.get(key)
        if wrapped is None:
            wrapped = self._handlers[key] = self._wrapped(details.method, handler)
        return wrapped

    def _wrapped(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        return replace_behavior(handler, lambda behavior: self._wrap(method, behavior, handler.response_streaming))

    def _wrap(self, method: str, behavior: Behavior, streaming: bool) -> Behavior:
        service, name = split_method(method)
        needs_token = method in self._mutating

        def request_id_of(metadata: dict[str, Any]) -> str:
            incoming = metadata.get(REQUEST_ID_KEY)
            return incoming if isinstance(incoming, str) and SANE_REQUEST_ID.fullmatch(incoming) else self._ids()

        def begin(context: grpc.aio.ServicerContext, request_id: str, metadata: dict[str, Any]) -> None:
            structlog.contextvars.bind_contextvars(request_id=request_id)
            # In the trailers (with the status): no extra send per call, and a refusal has it too.
            context.set_trailing_metadata(((REQUEST_ID_KEY, request_id),))
            authorization = metadata.get("authorization")
            presented = parse_bearer(authorization) if isinstance(authorization, str) else None
            if needs_token and not token_matches(presented, self._token):
                raise GrpcRefusal(
                    grpc.StatusCode.UNAUTHENTICATED, "unauthorized",
                    f"{name} needs 'authorization: Bearer <token>' metadata with the API token "
                    "(auth.api_token, env TRADING_ENGINE_API_TOKEN)",
                )

        async def finish(context: grpc.aio.ServicerContext, request_id: str, started: float,
                         exc: BaseException | None) -> None:
            code = grpc.StatusCode.OK
            try:
                if isinstance(exc, asyncio.CancelledError):  # the client went away
                    code = grpc.StatusCode.CANCELLED
                    raise exc
                if isinstance(exc, grpc.aio.AbortError):
                    code = context.code() or grpc.StatusCode.UNKNOWN
                    raise exc
                if exc is not None:
                    refusal = refusal_for(exc)
                    if refusal is None:
                        log.error("unhandled_exception", grpc_service=service, grpc_method=name, exc_info=exc)
                        refusal = internal(request_id)
                    code = refusal.code
                    await context.abort_with_status(rich_status(refusal, request_id))
            finally:
                log.info("grpc_request", grpc_service=service, grpc_method=name, code=code.name,
                         duration_ms=round((time.perf_counter() - started) * 1000, 3), request_id=request_id)
                structlog.contextvars.unbind_contextvars("request_id")

        if streaming:
            async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
                metadata = dict(context.invocation_metadata() or ())
                started, request_id, failure = time.perf_counter(), request_id_of(metadata), None
                try:
                    begin(context, request_id, metadata)
                    async for message in responses(behavior, request, context):
                        yield message
                except (Exception, asyncio.CancelledError) as exc:
                    failure = exc
                await finish(context, request_id, started, failure)

            return stream

        async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            metadata = dict(context.invocation_metadata() or ())
            started, request_id, failure, response = time.perf_counter(), request_id_of(metadata), None, None
            try:
                begin(context, request_id, metadata)
                response = await behavior(request, context)
            except (Exception, asyncio.CancelledError) as exc:
                failure = exc
            await finish(context, request_id, started, failure)
            return response

        return unary


__all__ = ["CallContextInterceptor", "Refusal", "REQUEST_ID_KEY"]
