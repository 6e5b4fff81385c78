"""What every market-data adapter shares: the latest quote per symbol and the listeners."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

import structlog

from trading_engine.domain.ports.market_data import Quote, QuoteListener

log = structlog.get_logger(__name__)


def listener_name(listener: Callable[..., object]) -> str:
    return getattr(listener, "__qualname__", None) or repr(listener)


class QuotePublisher:
    """The ``MarketDataPort`` half of a feed: ``latest``, ``snapshot``, ``subscribe``, and
    ``_publish`` for the feed to store a batch and hand it to every listener, in subscription
    order (a listener that raises is logged and stays subscribed)."""

    def __init__(self) -> None:
        self._latest: dict[str, Quote] = {}
        self._listeners: dict[int, QuoteListener] = {}
        self._calling: tuple[QuoteListener, ...] = ()  # the listeners' values, kept: read on every batch
        self._tokens = itertools.count()

    def latest(self, symbol: str) -> Quote | None:
        return self._latest.get(symbol)

    def snapshot(self) -> Mapping[str, Quote]:
        return MappingProxyType(dict(self._latest))

    def subscribe(self, listener: QuoteListener) -> Callable[[], None]:
        token = next(self._tokens)
        self._listeners[token] = listener
        self._calling = tuple(self._listeners.values())

        def unsubscribe() -> None:
            self._listeners.pop(token, None)
            self._calling = tuple(self._listeners.values())

        return unsubscribe

    def _publish(self, quotes: Sequence[Quote]) -> None:
        for quote in quotes:
            self._latest[quote.symbol] = quote
        for listener in self._calling:  # a listener (un)subscribing meanwhile changes the next batch's
            try:
                listener(quotes)
            except Exception as exc:
                log.exception(
                    "market_data_listener_failed",
                    listener=listener_name(listener),
                    error=f"{type(exc).__name__}: {exc}",
                )


async def stop_task(task: asyncio.Task[None] | None) -> None:
    """Cancel a feed's background task and wait for it to end; a no-op for None. The caller's own
    cancellation, if it is being cancelled too, goes through."""
    if task is None:
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise
