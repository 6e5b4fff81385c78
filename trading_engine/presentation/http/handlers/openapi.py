"""GET /api/v1/openapi.json: the document generated for this app when it was built."""

from __future__ import annotations

from aiohttp import web

from trading_engine.presentation.http.keys import OPENAPI


class OpenApiHandlers:
    async def document(self, request: web.Request) -> web.Response:
        return web.json_response(request.app[OPENAPI])
