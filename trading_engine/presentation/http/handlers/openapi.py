"""GET /api/v1/openapi.json."""

from __future__ import annotations

from typing import Any

from aiohttp import web


class OpenApiHandlers:
    def __init__(self, document: dict[str, Any]) -> None:
        self._document = document

    async def document(self, request: web.Request) -> web.Response:
        return web.json_response(self._document)
