"""Middlewares, each built by a small factory. Order (outermost first): request context, errors,
then the metrics middleware, so metrics see exceptions before they become JSON responses."""

from __future__ import annotations

import asyncio
import re

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from trading_engine.domain.errors import DomainError, ValidationError
from trading_engine.domain.ids import IdGenerator
from trading_engine.presentation.http.errors import (
    ApiError,
    code_for_status,
    error_response,
    status_for_domain_error,
)
from trading_engine.presentation.http.keys import MAX_BODY_BYTES, REQUEST_ID, ROUTE
from trading_engine.presentation.http.routing import route_template

log = structlog.get_logger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_MAX_ECHO = 200  # characters of a client-sent path echoed back in an error message


def request_context_middleware() -> Middleware:
    """Give every request an id (the client's ``X-Request-ID`` when it is a sane token of at most
    128 characters, else a fresh one), bind it to the log context, and return it on the response.
    Also records the bounded route label that the access log and the metrics use."""

    new_request_id = IdGenerator()

    @web.middleware
    async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
        incoming = request.headers.get(REQUEST_ID_HEADER)
        request_id = incoming if incoming and SANE_REQUEST_ID.fullmatch(incoming) else new_request_id()
        request[REQUEST_ID] = request_id
        request[ROUTE] = await route_template(request)
        tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            response = await handler(request)
        finally:
            structlog.contextvars.reset_contextvars(**tokens)
        if not response.prepared:
            response.headers[REQUEST_ID_HEADER] = request_id
        return response

    return request_context


def _echo(text: str) -> str:
    return text if len(text) <= _MAX_ECHO else text[:_MAX_ECHO] + "..."


def _http_exception_message(request: web.Request, exc: web.HTTPException) -> str:
    if isinstance(exc, web.HTTPNotFound) and request[ROUTE] == "unmatched":
        return f"no route matches {request.method} {_echo(request.path)}"
    if isinstance(exc, web.HTTPMethodNotAllowed):
        allowed = ", ".join(sorted(exc.allowed_methods))
        return f"method {request.method} is not allowed on {_echo(request.path)}; allowed: {allowed}"
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return (
            f"request body exceeds the limit of {request.app[MAX_BODY_BYTES]} bytes "
            "(http.max_body_bytes); send a smaller body"
        )
    default_text = f"{exc.status}: {exc.reason}"
    return exc.reason if not exc.text or exc.text == default_text else exc.text


def error_middleware() -> Middleware:
    """Turn every error into the JSON error shape. Unhandled exceptions become a generic 500; their
    traceback is logged with the request id and never sent to the client."""

    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        request_id = request.get(REQUEST_ID)
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            headers = {k: v for k, v in exc.headers.items() if k.lower() in {"allow", "www-authenticate", "retry-after"}}
            return error_response(
                exc.status,
                code_for_status(exc.status),
                _http_exception_message(request, exc),
                request_id,
                headers=headers,
            )
        except ApiError as exc:
            return error_response(
                exc.status, exc.code, exc.message, request_id, field=exc.field, headers=exc.headers
            )
        except DomainError as exc:
            field = exc.field if isinstance(exc, ValidationError) else None
            return error_response(
                status_for_domain_error(exc),
                exc.code,
                exc.message,
                request_id,
                field=field,
                details=getattr(exc, "details", None),
            )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("unhandled_exception", method=request.method, route=request.get(ROUTE))
            return error_response(
                500,
                "internal_error",
                f"internal server error; quote request_id {request_id} when reporting it",
                request_id,
            )

    return errors
