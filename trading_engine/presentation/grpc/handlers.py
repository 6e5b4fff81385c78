"""Wrapping a method handler's behaviour, whatever its arity: what both interceptors share."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc

UNARY, SERVER_STREAM, CLIENT_STREAM, BIDI_STREAM = "unary", "server_stream", "client_stream", "bidi_stream"

Behavior = Callable[..., Any]


def rpc_type(handler: grpc.RpcMethodHandler) -> str:
    """go-grpc-prometheus's ``grpc_type`` of a handler."""
    if handler.request_streaming:
        return BIDI_STREAM if handler.response_streaming else CLIENT_STREAM
    return SERVER_STREAM if handler.response_streaming else UNARY


def replace_behavior(handler: grpc.RpcMethodHandler, wrap: Callable[[Behavior], Behavior]) -> grpc.RpcMethodHandler:
    for name in ("unary_unary", "unary_stream", "stream_unary", "stream_stream"):
        behavior = getattr(handler, name)
        if behavior is not None:
            return handler._replace(**{name: wrap(behavior)})  # type: ignore[attr-defined]
    return handler


async def responses(behavior: Behavior, request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
    """The messages a streaming behaviour answers: yielded by an async generator, or written
    with ``context.write`` by a coroutine (then nothing is yielded here)."""
    result = behavior(request, context)
    if inspect.isasyncgen(result):
        async for message in result:
            yield message
    else:
        await result


def split_method(full_method: str) -> tuple[str, str]:
    """``/pkg.Service/Method`` -> (``pkg.Service``, ``Method``)."""
    _, service, method = full_method.split("/", 2) if full_method.count("/") >= 2 else ("", "", full_method)
    return service, method
