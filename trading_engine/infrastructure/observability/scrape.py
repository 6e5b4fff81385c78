"""Serving a scrape without stalling the event loop.

prometheus_client's ``make_aiohttp_handler`` does the content negotiation (text 0.0.4 by default,
OpenMetrics when ``Accept`` asks for it, the ``name[]`` filter) but renders synchronously inside
its coroutine. :class:`ScrapeRenderer` runs that handler in a worker thread instead, and coalesces
concurrent scrapes that ask for the same output into one render. gzip is left to aiohttp
(``enable_compression``), which negotiates it from ``Accept-Encoding`` and compresses large bodies
off the loop as well.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp import hdrs, web
from prometheus_client.aiohttp import make_aiohttp_handler
from prometheus_client.registry import Collector

Rendered = tuple[int, str, bytes]


class ScrapeRenderer:
    def __init__(
        self,
        registry: Collector,
        *,
        before_render: Callable[[], None] | None = None,
        compress: bool = True,
    ) -> None:
        self._handler = make_aiohttp_handler(registry, disable_compression=True)
        self._before_render = before_render
        self._compress = compress
        self._inflight: dict[tuple[str, str], asyncio.Future[Rendered]] = {}

    async def __call__(self, request: web.Request) -> web.Response:
        key = (",".join(request.headers.getall(hdrs.ACCEPT, [])), request.query_string)
        render = self._inflight.get(key)
        if render is None:
            if self._before_render is not None:
                self._before_render()  # on the loop: hooks read state owned by the loop
            render = asyncio.get_running_loop().run_in_executor(None, self._render, request)
            self._inflight[key] = render
            render.add_done_callback(lambda done: self._forget(key, done))
        status, content_type, body = await asyncio.shield(render)
        response = web.Response(status=status, body=body, headers={hdrs.CONTENT_TYPE: content_type})
        if self._compress:
            response.enable_compression()
        return response

    def _forget(self, key: tuple[str, str], done: asyncio.Future[Rendered]) -> None:
        if self._inflight.get(key) is done:
            del self._inflight[key]

    def _render(self, request: web.Request) -> Rendered:
        """Drive prometheus_client's handler coroutine to completion in this worker thread. It
        awaits nothing, so one ``send`` finishes it; if a future version ever suspends, fail loudly
        rather than run loop-bound code off the loop."""
        coroutine: Any = self._handler(request)
        try:
            coroutine.send(None)
        except StopIteration as finished:
            response: web.Response = finished.value
        else:
            coroutine.close()
            raise RuntimeError("prometheus_client's aiohttp handler suspended; cannot render off the loop")
        assert isinstance(response.body, bytes)
        return response.status, response.headers[hdrs.CONTENT_TYPE], response.body
