"""Historical market data files, read row by row into quotes (and bars).

A file is CSV, gzip-compressed or not (recognised by its first bytes, not its name), of one of:

* **bars**, header ``timestamp,open,high,low,close,volume``; the timestamp is the bar's start. The
  interval is the gap between the first two bars (it must be one of the bar intervals: ``1s`` to
  ``1d``, dividing a day); every later bar starts at least one interval after the one before (a
  longer gap is a missing bar, which is allowed).
* **trades**, header ``timestamp,price`` or ``timestamp,price,quantity``.
* the headerless **12-column exchange kline export** (open time, open, high, low, close, volume,
  close time, quote volume, trades, taker base volume, taker quote volume, ignore), recognised by its
  shape: 12 columns, the first an integer. Open and close times are epoch milliseconds (or
  microseconds, as newer exports write them); the interval is close time + 1 unit - open time.

Timestamps are ISO 8601 with an offset or ``Z`` (``2024-03-01T00:00:00Z``) or integer epoch
milliseconds. A bar becomes one :class:`Quote` of its close stamped with its end and carrying the
:class:`Bar`; a trade becomes a quote of its price (and quantity as ``volume``).

Rows are streamed: memory does not grow with the file. A bad row (a missing column, a value that is
not a number, a price that is not positive, a negative volume or quantity, a high below the low or
an open or close outside them, a timestamp not after the previous one), an unknown header or an
empty file raises :class:`HistoryError`, one line naming the file, the line, the column and what
is allowed.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any

from trading_engine.domain.bars import Bar, interval_name, interval_seconds
from trading_engine.domain.ports.market_data import Quote

BAR_HEADER = ("timestamp", "open", "high", "low", "close", "volume")
TRADE_HEADERS = (("timestamp", "price"), ("timestamp", "price", "quantity"))
KLINE_COLUMNS = 12
FORMATS = ("timestamp,open,high,low,close,volume (bars), timestamp,price[,quantity] (trades), or the "
           "headerless 12-column kline export")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class HistoryError(ValueError):
    """A data file cannot be used; the text is one line naming the file, line and column."""


class _Source:
    """One open file: its rows, with their line numbers and how far into the file they are."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = max(path.stat().st_size, 1)
        self._raw: IO[bytes] = path.open("rb")
        magic = self._raw.read(2)
        self._raw.seek(0)
        stream: IO[bytes] = gzip.GzipFile(fileobj=self._raw) if magic == b"\x1f\x8b" else self._raw
        self._text = io.TextIOWrapper(stream, encoding="utf-8", newline="")
        self.rows = csv.reader(self._text)

    @property
    def line(self) -> int:
        return self.rows.line_num

    def consumed(self) -> float:
        """The share of the file (compressed bytes for gzip) read so far."""
        try:
            return min(self._raw.tell() / self.size, 1.0)
        except ValueError:  # closed
            return 1.0

    def error(self, column: str | None, problem: str) -> HistoryError:
        where = f"{self.path}:{self.line}" + (f": column {column}" if column else "")
        return HistoryError(f"{where}: {problem}")

    def close(self) -> None:
        self._text.close()
        self._raw.close()


class ReadProgress:
    """How far a reader of files has got, worked out when asked (reading a row costs nothing for
    it): the share of its files read, 0 to 1, each file counting as the share of its bytes read."""

    def __init__(self, files: int = 1) -> None:
        self._files = max(files, 1)
        self._done = 0  # files finished
        self._source: _Source | None = None  # the one being read

    def share(self) -> float:
        current = self._source.consumed() if self._source is not None else 0.0
        return min((self._done + current) / self._files, 1.0)

    def _reading(self, source: _Source) -> None:
        self._source = source

    def _finished(self) -> None:
        self._done, self._source = self._done + 1, None

    def _all_finished(self) -> None:
        self._done, self._source = self._files, None


def read_file(path: Path, symbol: str, progress: ReadProgress | None = None) -> Iterator[Quote]:
    """The quotes of one file, in order; ``progress`` follows the share of the file read."""
    if not path.is_file():
        raise HistoryError(f"{path}: no such file")
    source = _Source(path)
    if progress is not None:
        progress._reading(source)
    try:
        first = next(source.rows, None)
        while first is not None and not any(cell.strip() for cell in first):
            first = next(source.rows, None)
        if first is None:
            raise HistoryError(f"{path}: the file is empty; expected {FORMATS}")
        header = tuple(cell.strip().lower() for cell in first)
        if header == BAR_HEADER:
            rows = _bars(source, symbol)
        elif header in TRADE_HEADERS:
            rows = _trades(source, symbol, len(header))
        elif len(first) == KLINE_COLUMNS and first[0].strip().isdigit():
            rows = _klines(source, symbol, first)
        else:
            raise source.error(None, f"header {','.join(first)!r} is not allowed; expected {FORMATS}")
        first_quote = next(rows, None)
        if first_quote is None:
            raise HistoryError(f"{path}: the file has a header but no rows")
        yield first_quote
        yield from rows  # delegated: no loop of this generator's own per row
    finally:
        source.close()
        if progress is not None:
            progress._finished()


def read_files(paths: Sequence[Path], symbol: str, progress: ReadProgress | None = None) -> Iterator[Quote]:
    """The quotes of several files of one symbol, one after the other: each file's first timestamp
    must be after the previous file's last. ``progress`` (for ``len(paths)`` files) follows the
    share of all of them read."""
    if len(paths) == 1:  # the usual backtest: each file's reader checks its own order already
        yield from read_file(paths[0], symbol, progress)
        if progress is not None:
            progress._all_finished()
        return
    last: datetime | None = None
    for path in paths:
        for quote in read_file(path, symbol, progress):
            at = quote.timestamp
            if last is not None and at <= last:
                raise HistoryError(f"{path}: starts at {at.isoformat()}, not after the previous "
                                   f"file's last timestamp {last.isoformat()}; list files in time order")
            last = at
            yield quote
    if progress is not None:
        progress._all_finished()


# -- formats ---------------------------------------------------------------------------------------
def _timed_rows(source: _Source, header: Sequence[str]) -> Iterator[tuple[datetime, list[str]]]:
    """The rows of a file with a header: (timestamp, cells), each timestamp after the one before."""
    previous: datetime | None = None
    for row in source.rows:
        if not row:
            continue
        cells = _cells(source, row, header)
        at = _timestamp(source, cells[0])
        if previous is not None and at <= previous:
            raise source.error("timestamp", f"{cells[0]} is not after the previous row's {previous.isoformat()}")
        previous = at
        yield at, cells


def _bars(source: _Source, symbol: str) -> Iterator[Quote]:
    """Each row is read by ``_clean_bar_row``, which takes only a row it can answer for exactly;
    any other row goes through the checks of ``_checked_bar_row``, which name what is wrong."""
    pending: tuple[datetime, Decimal, Decimal, Decimal, Decimal, Decimal] | None = None
    step: timedelta | None = None
    interval = ""
    previous: datetime | None = None
    due = _EPOCH  # the previous bar's end: the earliest start of the next
    for row in source.rows:
        values = _clean_bar_row(row)
        if values is None:
            if not row:
                continue
            values = _checked_bar_row(source, row, previous)
        start = values[0]
        if previous is not None and start <= previous:
            raise source.error("timestamp", f"{row[0].strip()} is not after the previous row's {previous.isoformat()}")
        if pending is None:
            pending, previous = values, start
            continue
        if step is None:
            gap = (start - pending[0]).total_seconds()
            try:
                seconds = interval_seconds(_seconds_text(gap))
            except ValueError:
                raise source.error("timestamp", f"the first two bars are {gap:g} s apart, which is not a bar "
                                   "interval (1s to 1d, dividing a day)") from None
            step, interval = timedelta(seconds=seconds), interval_name(seconds)
            yield _bar_quote(symbol, interval, step, pending)
        elif start < due:
            raise source.error("timestamp", f"{row[0].strip()} is less than the bars' interval "
                               f"{interval} after the previous bar")
        previous, due = start, start + step
        _, o, h, lo, c, volume = values  # what _bar_quote makes, without the call
        yield Quote(symbol, c, due, Bar(symbol, interval, o, h, lo, c, volume, start, due))
    if pending is not None and step is None:
        raise HistoryError(f"{source.path}: a file of bars needs at least two rows (their interval is the gap "
                           "between the first two)")


def _clean_bar_row(row: list[str]) -> tuple[datetime, Decimal, Decimal, Decimal, Decimal, Decimal] | None:
    """(start, open, high, low, close, volume) of a row every check would pass unchanged — six
    cells, a timestamp without spaces, finite numbers, prices above 0, a volume of 0 or more, open
    and close within low and high — else None (and ``_checked_bar_row`` says why)."""
    if len(row) != 6:
        return None
    text, o, h, lo, c, v = row
    try:
        if text.isdigit():
            start = _EPOCH + timedelta(milliseconds=int(text))
        else:
            start = datetime.fromisoformat(text)
            zone = start.tzinfo
            if zone is None:
                return None
            if zone is not UTC:
                start = start.astimezone(UTC)
        o, h, lo, c, v = Decimal(o), Decimal(h), Decimal(lo), Decimal(c), Decimal(v)  # spaces allowed
        # comparing a NaN raises InvalidOperation; low above 0 with open and close between low and
        # a finite high makes every price finite and above 0
        if lo > 0 and lo <= o <= h and lo <= c <= h and v >= 0 and h.is_finite() and v.is_finite():
            return start, o, h, lo, c, v
    except (ValueError, ArithmeticError):
        pass
    return None


def _checked_bar_row(source: _Source, row: list[str],
                     previous: datetime | None) -> tuple[datetime, Decimal, Decimal, Decimal, Decimal, Decimal]:
    """A row with every check in order, raising HistoryError at the first that fails."""
    cells = _cells(source, row, BAR_HEADER)
    at = _timestamp(source, cells[0])
    if previous is not None and at <= previous:
        raise source.error("timestamp", f"{cells[0]} is not after the previous row's {previous.isoformat()}")
    return (at, *_ohlcv(source, cells[1:]))  # type: ignore[return-value]


def _klines(source: _Source, symbol: str, first: list[str]) -> Iterator[Quote]:
    previous: datetime | None = None
    closed_at = _EPOCH  # the previous bar's end (its quote's timestamp)
    row: list[str] | None = first
    while row is not None:
        if row:
            if len(row) != KLINE_COLUMNS:
                raise source.error(None, f"has {len(row)} columns; a kline export row has {KLINE_COLUMNS}")
            opened, closed = _integer(source, "open_time", row[0]), _integer(source, "close_time", row[6])
            unit = 1_000_000 if opened >= 10**14 else 1000
            start = _EPOCH + timedelta(microseconds=opened * (1_000_000 // unit))
            span = (closed + 1 - opened) / unit
            try:
                seconds = interval_seconds(_seconds_text(span))
            except ValueError:
                raise source.error("close_time", f"{row[6]} - open time {row[0]} is not a bar interval "
                                   "(1s to 1d, dividing a day)") from None
            if previous is not None and start <= previous:
                raise source.error("open_time", f"{row[0]} is not after the previous row's")
            quote = _bar_quote(symbol, interval_name(seconds), timedelta(seconds=seconds),
                               (start, *_ohlcv(source, row[1:6])))
            # A bar is published at its close: the closes must go up too (bars of mixed intervals may not)
            if previous is not None and quote.timestamp <= closed_at:
                raise source.error("close_time", f"{row[6]} is not after the previous row's close time; "
                                   "a bar must close after the bar before it")
            previous, closed_at = start, quote.timestamp
            yield quote
        row = next(source.rows, None)


def _trades(source: _Source, symbol: str, columns: int) -> Iterator[Quote]:
    for at, cells in _timed_rows(source, TRADE_HEADERS[columns - 2]):
        price = _number(source, "price", cells[1], positive=True)
        quantity = _number(source, "quantity", cells[2]) if columns == 3 else Decimal(0)
        yield Quote(symbol, price, at, volume=quantity)


# -- cells -----------------------------------------------------------------------------------------
def _cells(source: _Source, row: list[str], header: Sequence[str]) -> list[str]:
    if len(row) < len(header):
        raise source.error(header[len(row)], f"is missing; rows are {','.join(header)}")
    if len(row) > len(header):
        raise source.error(None, f"has {len(row)} columns; rows are {','.join(header)}")
    return [cell.strip() for cell in row]


def _ohlcv(source: _Source, cells: Sequence[str]) -> tuple[Decimal, ...]:
    names = BAR_HEADER[1:]
    o, h, lo, c = (_number(source, name, cell, positive=True) for name, cell in zip(names[:4], cells[:4]))
    volume = _number(source, "volume", cells[4])
    if h < lo:
        raise source.error("high", f"{cells[1]} is below low {cells[2]}; a bar's high is at least its low")
    for name, value in (("open", o), ("close", c)):
        if not lo <= value <= h:
            raise source.error(name, f"{value} is outside low {lo} and high {h}")
    return (o, h, lo, c, volume)


def _number(source: _Source, column: str, text: str, *, positive: bool = False) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite():
        raise source.error(column, f"{text!r} is not a number; expected a decimal number")
    if value < 0 or (positive and value == 0):
        raise source.error(column, f"{text} is not allowed; it must be {'greater than 0' if positive else '0 or more'}")
    return value


def _integer(source: _Source, column: str, text: str) -> int:
    text = text.strip()
    if not text.isdigit():
        raise source.error(column, f"{text!r} is not an integer; expected epoch milliseconds")
    return int(text)


def _timestamp(source: _Source, text: str) -> datetime:
    if text.isdigit():
        return _EPOCH + timedelta(milliseconds=int(text))
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        raise source.error("timestamp", f"{text!r} is not allowed; expected ISO 8601 with an offset or Z "
                           "(2024-03-01T09:30:00Z) or integer epoch milliseconds")
    return at.astimezone(UTC)


def _seconds_text(seconds: float) -> str:
    return f"{int(seconds)}s" if seconds == int(seconds) else f"{seconds}s"


def _bar_quote(symbol: str, interval: str, step: timedelta, values: tuple[Any, ...]) -> Quote:
    start, o, h, lo, c, volume = values
    end = start + step
    return Quote(symbol, c, end, Bar(symbol, interval, o, h, lo, c, volume, start, end))
