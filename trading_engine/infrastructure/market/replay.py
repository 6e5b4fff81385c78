"""A market-data adapter that replays history files (see ``history.py`` for the formats).

Each symbol has its files, read one after the other; the symbols' quotes are merged by time and
quotes of one instant are published as one batch. Before each batch the feed moves its
:class:`DataClock` to the batch's time, so everything the engine stamps (orders, fills) carries the
data's time. After each batch it awaits the ``settle`` hook the engine sets (the strategy runtime
idle, venue events handed on), so every strategy decides on every event before the next one, at
any speed: that is what makes a run on a replay the same, fill for fill, wherever it runs.

``speed`` is how much faster than real time the replay runs: 1 is real time, 60 a minute of data
per second, 0 as fast as the engine takes it (a backtest). Waiting is the only thing that differs
between speeds. When the files are done the feed stops publishing; ``done`` is set. A file that
turns out bad part-way stops the feed with ``error`` set (logged as ``market_replay_failed``).

``resume_after(at)``, before ``start``, continues a replay a restarted service had got to: the
events at or before ``at`` are read and dropped, as fast as the files read, without publishing
them (no listener hears them, nothing waits for ``speed``); each symbol's last skipped quote stays
its latest and the clock moves to the last skipped event, so marks and time are where the service
had got to (logged once as ``replay_resumed``).
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from datetime import datetime
from operator import attrgetter
from pathlib import Path

import structlog

from trading_engine.domain.ports.market_data import Quote
from trading_engine.domain.timefmt import isoformat_exact
from trading_engine.infrastructure.clock import DataClock
from trading_engine.infrastructure.market.history import HistoryError, ReadProgress, read_files
from trading_engine.infrastructure.market.publisher import QuotePublisher, stop_task

log = structlog.get_logger(__name__)


async def _nothing_to_settle() -> None:
    return None


class ReplayMarketData(QuotePublisher):
    def __init__(self, files: Mapping[str, Sequence[Path | str]], *, speed: float, autostart: bool = True) -> None:
        """``autostart`` False: ``start()`` does nothing and the driver calls ``run()`` itself (a
        backtest, which starts its strategy first)."""
        super().__init__()
        self._autostart = autostart
        if not files:
            raise HistoryError("a replay needs at least one file")
        if speed < 0:
            raise ValueError(f"speed {speed!r} is not allowed; it must be 0 (as fast as possible) or more")
        self.speed = float(speed)
        self._progress = {symbol: ReadProgress(len(paths)) for symbol, paths in files.items()}
        streams = [read_files([Path(p) for p in paths], symbol, self._progress[symbol])
                   for symbol, paths in files.items()]
        # One symbol (the usual backtest) needs no merge, which costs a call of its key a quote; its
        # timestamps only go up (the readers check that), so each batch is one quote: ``zip`` makes
        # the one-quote tuples without a generator of ours in between.
        self._batches: Iterator[tuple[Quote, ...]] = (
            zip(streams[0]) if len(streams) == 1 else _batches(heapq.merge(*streams, key=_timestamp)))
        self._next = next(self._batches, None)  # reads (and checks) the first rows now
        assert self._next is not None  # read_file refuses a file without rows
        first = self._next[0]
        self.clock = DataClock(first.bar.start if first.bar is not None else first.timestamp)
        self.symbols = tuple(files)
        self.events = 0  # published
        self.skipped = 0  # dropped by resume_after
        self.done = asyncio.Event()
        self.error: HistoryError | None = None
        self._settle: Callable[[], Awaitable[None]] = _nothing_to_settle
        self._task: asyncio.Task[None] | None = None

    def set_settle(self, settle: Callable[[], Awaitable[None]]) -> None:
        """What to await after each batch before the next (the engine's ``settled``)."""
        self._settle = settle

    def progress(self) -> float:
        """The share of the files read, 0 to 1."""
        return sum(p.share() for p in self._progress.values()) / len(self._progress)

    async def resume_after(self, at: datetime | None) -> None:
        """Drop the events at or before ``at`` (None: none), in a worker thread (the files are read
        there, so a long skip holds up no other task); logs ``replay_resumed`` once when it drops
        any. A bad row among them stops the feed as in ``run``: ``error`` set, ``done`` set."""
        if at is None or self._next is None or self._next[0].timestamp > at:
            return
        try:
            await asyncio.to_thread(self._skip_through, at)
        except HistoryError as exc:
            self._failed(exc)
            return
        following = None if self._next is None else isoformat_exact(self._next[0].timestamp)
        log.info("replay_resumed", resumed_after=isoformat_exact(at), events_skipped=self.skipped,
                 data_time=isoformat_exact(self.clock.now()), next_event=following)

    def _skip_through(self, at: datetime) -> None:
        latest: dict[str, Quote] = {}
        batch = self._next
        while batch is not None and batch[0].timestamp <= at:
            for quote in batch:
                latest[quote.symbol] = quote
            self.skipped += len(batch)
            self.clock.advance_to(batch[0].timestamp)
            batch = self._next = next(self._batches, None)
        self._latest.update(latest)

    async def run(self) -> None:
        """Publish every batch in time order, pacing by ``speed``; raises HistoryError on a bad row."""
        loop = asyncio.get_running_loop()
        origin_data, origin_loop = self.clock.monotonic(), loop.time()
        while self._next is not None:
            batch = self._next
            at = batch[0].timestamp
            if self.speed > 0:
                due = origin_loop + (DataClock.seconds(at) - origin_data) / self.speed
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            self.clock.advance_to(at)
            self._publish(batch)
            self.events += len(batch)
            await self._settle()
            self._next = next(self._batches, None)
        self.done.set()

    # -- as the live service's feed -------------------------------------------------------------
    async def start(self) -> None:
        if not self._autostart or self.error is not None:
            return
        if self._task is not None:
            raise RuntimeError("the replay is already running")
        self._task = asyncio.get_running_loop().create_task(self._run_logged(), name="replay-market-data")

    async def stop(self) -> None:
        """Cancel the background task and wait for it to end; a no-op when not running."""
        task, self._task = self._task, None
        await stop_task(task)

    async def _run_logged(self) -> None:
        try:
            await self.run()
            log.info("market_replay_finished", events=self.events)
        except HistoryError as exc:
            self._failed(exc)

    def _failed(self, exc: HistoryError) -> None:
        self.error = exc
        self.done.set()
        log.error("market_replay_failed", error=str(exc), events=self.events)


_timestamp = attrgetter("timestamp")


def _batches(quotes: Iterator[Quote]) -> Iterator[tuple[Quote, ...]]:
    batch: list[Quote] = []
    for quote in quotes:
        if batch and quote.timestamp != batch[0].timestamp:
            yield tuple(batch)
            batch = []
        batch.append(quote)
    if batch:
        yield tuple(batch)
