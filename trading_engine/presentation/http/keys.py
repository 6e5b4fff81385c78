"""Typed keys for values the middlewares keep on each request."""

from __future__ import annotations

from typing import Any

from aiohttp import web

REQUEST_ID = web.RequestKey("request_id", str)
ROUTE = web.RequestKey("route", str)

# The body size limit, kept on the app for the 413 message.
MAX_BODY_BYTES = web.AppKey("max_body_bytes", int)

# The OpenAPI document, generated from the app's router once its routes are registered.
OPENAPI = web.AppKey("openapi", dict[str, Any])
