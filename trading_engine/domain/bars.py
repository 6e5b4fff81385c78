"""OHLCV bars, bar intervals, and the aggregation of prices (or finer bars) into time bars.

An interval is written ``<n><unit>`` with unit ``s``, ``m``, ``h`` or ``d``, from ``1s`` to ``1d``,
and must divide a day evenly (``7m`` does not), so that every bar starts on a multiple of its
interval counted from midnight UTC and bars of every interval line up with each other.

A bar covers ``[start, end)``. :class:`BarAggregator` builds bars of one interval:

* from prices (ticks): a tick at ``t`` belongs to the bar whose window holds ``t``; the bar is
  closed, and handed out, by the first tick at or after its ``end``. An interval without a tick
  yields no bar (there is no price to make one of), so bars are not always contiguous.
* from finer bars (a file of 1-minute bars asked for 5-minute bars): the finer bars of a window are
  merged, and the merged bar is handed out with the finer bar that reaches the window's end, or by
  the first finer bar of a later window. A bar of the requested interval passes through as it is.
  Asking for bars finer than the data's own is an error.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

from trading_engine.domain.errors import ValidationError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_INTERVAL = re.compile(r"^([1-9][0-9]*)([smhd])$")
_DAY = 86400
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
INTERVAL_RULE = "an interval such as 1s, 5m, 1h or 1d: from 1s to 1d, dividing a day evenly"


def interval_seconds(text: str) -> int:
    """Seconds of an interval written like ``5m`` (one of ``INTERVALS``); raises ValueError naming
    what is allowed."""
    match = _INTERVAL.match(text) if isinstance(text, str) else None
    seconds = int(match.group(1)) * _UNITS[match.group(2)] if match else 0
    if not match or seconds > _DAY or _DAY % seconds:
        raise ValueError(f"{text!r} is not {INTERVAL_RULE}")
    return seconds


def _spellings() -> tuple[str, ...]:
    out = []
    for seconds in range(1, _DAY + 1):
        if _DAY % seconds == 0:
            out += [f"{seconds // size}{unit}" for unit, size in _UNITS.items() if seconds % size == 0]
    return tuple(out)


def interval_name(seconds: int) -> str:
    """The canonical spelling of an interval of ``seconds``: the largest whole unit."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    raise AssertionError(seconds)


def window_start(at: datetime, seconds: int) -> datetime:
    """The start of the ``seconds``-long window that holds ``at`` (windows from midnight UTC)."""
    elapsed = at - _EPOCH
    whole = elapsed.days * _DAY + elapsed.seconds
    return _EPOCH + timedelta(seconds=whole - whole % seconds)


class Bar(NamedTuple):
    """One OHLCV bar of ``symbol`` over ``[start, end)``. A named tuple, like ``Quote``: a replay
    makes one per bar, and a tuple is built in a third of a frozen dataclass's time."""

    symbol: str
    interval: str  # canonical, e.g. "1m"
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    start: datetime
    end: datetime

    @property
    def rising(self) -> bool:
        """Closes at or above its open: the price path is then taken as open, low, high, close."""
        return self.close >= self.open

    def path(self) -> tuple[Decimal, Decimal, Decimal, Decimal]:
        """The price path within the bar: open → low → high → close when it closes at or above
        its open, open → high → low → close otherwise."""
        if self.rising:
            return (self.open, self.low, self.high, self.close)
        return (self.open, self.high, self.low, self.close)


class BarAggregator:
    """Bars of one symbol and interval from ticks or finer bars; see the module docstring."""

    def __init__(self, symbol: str, interval: str) -> None:
        self.symbol = symbol
        self.seconds = interval_seconds(interval)
        self.interval = interval_name(self.seconds)
        self._open: Bar | None = None

    def on_price(self, price: Decimal, at: datetime, volume: Decimal = Decimal(0)) -> Bar | None:
        """Add a tick; answer the bar it closes, if any."""
        closed = self._close_before(at)
        bar = self._open
        if bar is None:
            start = window_start(at, self.seconds)
            self._open = Bar(self.symbol, self.interval, price, price, price, price, volume, start,
                             start + timedelta(seconds=self.seconds))
        else:
            self._open = Bar(bar.symbol, bar.interval, bar.open, max(bar.high, price), min(bar.low, price),
                             price, bar.volume + volume, bar.start, bar.end)
        return closed

    def on_bar(self, source: Bar) -> tuple[Bar, ...]:
        """Add a bar of the data; answer the bars of this interval it completes (an earlier
        window's, and its own window's when it reaches that window's end)."""
        source_seconds = int((source.end - source.start).total_seconds())
        if source_seconds > self.seconds or self.seconds % source_seconds:
            raise ValidationError(
                f"bars of {self.interval} cannot be made of the data's {source.interval} bars; ask for "
                f"{source.interval} or a multiple of it"
            )
        if source_seconds == self.seconds:
            return (source,)
        earlier = self._close_before(source.start)
        closed = () if earlier is None else (earlier,)
        bar = self._open
        if bar is None:
            start = window_start(source.start, self.seconds)
            bar = Bar(self.symbol, self.interval, source.open, source.high, source.low, source.close,
                      source.volume, start, start + timedelta(seconds=self.seconds))
        else:
            bar = Bar(bar.symbol, bar.interval, bar.open, max(bar.high, source.high), min(bar.low, source.low),
                      source.close, bar.volume + source.volume, bar.start, bar.end)
        self._open = bar
        if source.end >= bar.end:
            self._open = None
            return (*closed, bar)
        return closed

    def _close_before(self, at: datetime) -> Bar | None:
        bar = self._open
        if bar is not None and at >= bar.end:
            self._open = None
            return bar
        return None


INTERVALS: tuple[str, ...] = _spellings()
"""Every way of writing an interval that is accepted (``60s`` and ``1m`` both), for schemas."""
