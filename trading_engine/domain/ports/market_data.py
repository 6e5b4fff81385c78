"""Market data: the latest price per instrument, and a stream of price updates."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple, Protocol

from trading_engine.domain.bars import Bar


class Quote(NamedTuple):
    """The last traded (or simulated) price of an instrument, on its tick grid.

    A feed of bars (a file of bars) publishes each bar when it closes, as a quote of its close
    stamped with its end that carries the ``bar``; the paper venue then fills on the bar's path
    and the strategy runtime hands the bar to the strategies that ask for bars. ``volume`` is the
    traded quantity a trade carried (0 when the feed does not know it).

    An immutable named tuple rather than a frozen dataclass: a feed makes one per price, and a
    tuple is built in a third of the time."""

    symbol: str
    price: Decimal
    timestamp: datetime
    bar: Bar | None = None
    volume: Decimal = Decimal(0)


QuoteListener = Callable[[Sequence[Quote]], None]


class MarketDataPort(Protocol):
    def latest(self, symbol: str) -> Quote | None:
        """The most recent quote of ``symbol``; None before the first one."""
        ...

    def snapshot(self) -> Mapping[str, Quote]:
        """The most recent quote of every instrument that has one."""
        ...

    def subscribe(self, listener: QuoteListener) -> Callable[[], None]:
        """Call ``listener`` with each batch of new quotes, on the event loop; returns an
        unsubscribe function. A listener that raises is logged and stays subscribed."""
        ...
