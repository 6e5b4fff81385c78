"""Bearer-token checks, in constant time."""

from __future__ import annotations

import hmac

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

from trading_engine.presentation.http.errors import ApiError


def bearer_token(request: web.Request) -> str | None:
    return parse_bearer(request.headers.get(hdrs.AUTHORIZATION))


def parse_bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` value (HTTP header or gRPC metadata)."""
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def token_matches(presented: str | None, expected: str) -> bool:
    """Compare without leaking, through timing, how much of the token was right."""
    if presented is None:
        return False
    return hmac.compare_digest(presented.encode("utf-8"), expected.encode("utf-8"))


MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def api_token_middleware(expected: str) -> Middleware:
    """Every mutating request needs ``Authorization: Bearer <auth.api_token>``; reads are open."""

    @web.middleware
    async def require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        if (
            request.method in MUTATING_METHODS
            and request.match_info.http_exception is None  # a 404 or 405 stays what it is
            and not token_matches(bearer_token(request), expected)
        ):
            raise ApiError(
                401,
                f"{request.method} requests need 'Authorization: Bearer <token>' with the API token "
                "(auth.api_token, env TRADING_ENGINE_API_TOKEN)",
                headers={"WWW-Authenticate": 'Bearer realm="trading-system-engine"'},
            )
        return await handler(request)

    return require_token
