"""The no-op adapter (``metrics.enabled: false``): every call is accepted and does nothing; the
metrics endpoint serves an empty exposition."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from trading_engine.domain.ports.metrics import Labels

if TYPE_CHECKING:  # aiohttp is imported where the endpoint is served, not by a backtest
    from aiohttp import web

EMPTY_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _NoopHandle:
    __slots__ = ()

    def inc(self, amount: float = 1.0) -> None:
        pass

    def observe(self, value: float) -> None:
        pass

    def set(self, value: float) -> None:
        pass


_HANDLE = _NoopHandle()


async def _empty_exposition(request: web.Request) -> web.Response:
    from aiohttp import web

    return web.Response(body=b"", headers={"Content-Type": EMPTY_CONTENT_TYPE})


class NoopMetricsAdapter:
    def inc_counter(self, name: str, labels: Labels | None = None, amount: float = 1.0) -> None:
        pass

    def observe_histogram(self, name: str, value: float, labels: Labels | None = None) -> None:
        pass

    def set_gauge(self, name: str, value: float, labels: Labels | None = None) -> None:
        pass

    def counter(self, name: str, labels: Labels | None = None) -> _NoopHandle:
        return _HANDLE

    def histogram(self, name: str, labels: Labels | None = None) -> _NoopHandle:
        return _HANDLE

    def gauge(self, name: str, labels: Labels | None = None) -> _NoopHandle:
        return _HANDLE

    def add_collect_hook(self, hook: Callable[[], None]) -> None:
        pass

    def get_http_handler(self) -> Callable[[web.Request], object]:
        return _empty_exposition
