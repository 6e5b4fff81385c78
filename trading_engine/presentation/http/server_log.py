"""aiohttp's server logger, with malformed requests logged as one short, rate-limited event.

When aiohttp cannot parse a request (a bare LF in a header value, an invalid character, a line too
long...) it answers 400 and logs ``Error handling request`` at ERROR with the parser's exception,
whose text quotes the raw request line, header values (an ``Authorization`` token) included.
:class:`ServerLog` is handed to aiohttp as the request handler's ``logger`` (through the
application's ``handler_args``): a parse error becomes one ``malformed_request`` WARNING naming the
error class and the client, with no traceback and nothing of the request; past ``limit`` events in
``interval_seconds`` the rest are counted, and the count is reported by the next event let
through. Everything else aiohttp logs passes to its ``aiohttp.server`` logger unchanged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import structlog
from aiohttp.http_exceptions import HttpProcessingError

MALFORMED_LIMIT = 10
MALFORMED_INTERVAL_SECONDS = 60.0

log = structlog.get_logger("trading_engine.http")


class _Budget:
    """At most ``limit`` events per window of ``interval`` seconds, the window opened by the first
    event past the previous one; refused events are counted."""

    def __init__(self, limit: int, interval: float, clock: Callable[[], float]) -> None:
        self._limit = limit
        self._interval = interval
        self._clock = clock
        self._window_end = float("-inf")
        self._used = 0
        self.suppressed = 0

    def take(self) -> int | None:
        """None when the event is refused; else the number refused since the last one let through."""
        now = self._clock()
        if now >= self._window_end:
            self._window_end = now + self._interval
            self._used = 0
        if self._used >= self._limit:
            self.suppressed += 1
            return None
        self._used += 1
        suppressed, self.suppressed = self.suppressed, 0
        return suppressed


class ServerLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """The ``logger`` of aiohttp's ``RequestHandler``: see the module docstring."""

    def __init__(
        self,
        logger: logging.Logger | None = None,
        *,
        limit: int = MALFORMED_LIMIT,
        interval_seconds: float = MALFORMED_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(logger or logging.getLogger("aiohttp.server"), {})
        self._budget = _Budget(limit, interval_seconds, clock)

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info")
        if isinstance(exc, HttpProcessingError):
            self._malformed(level, exc, args)
        else:
            super().log(level, msg, *args, **kwargs)

    def _malformed(self, level: int, exc: HttpProcessingError, args: tuple[Any, ...]) -> None:
        # aiohttp logs a first request with a bad method (TLS or other non-HTTP traffic on the
        # port) at DEBUG on purpose; that stays DEBUG, every other parse error is a WARNING.
        at_warning = level >= logging.WARNING
        if not (at_warning or self.logger.isEnabledFor(logging.DEBUG)):
            return
        suppressed = self._budget.take()
        if suppressed is None:
            return
        fields: dict[str, Any] = {
            "status": exc.code,
            "error": type(exc).__name__,
            # aiohttp's message is "Error handling request from %s" % request.remote
            "remote": args[0] if args else None,
        }
        if suppressed:
            fields["suppressed"] = suppressed
        (log.warning if at_warning else log.debug)("malformed_request", **fields)
