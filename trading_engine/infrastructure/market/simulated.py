"""A simulated market: a seeded random walk per instrument, published on the tick grid.

Each instrument has its own ``random.Random``, seeded from ``(seed, symbol)`` through SHA-256, so
its path depends only on the seed, its symbol and its parameters: adding or removing another
instrument never changes it, and it is the same in every process.

The walk is geometric. Each step draws ``z`` from a normal distribution with a standard deviation
of ``volatility_bps`` basis points and multiplies a hidden, unrounded price by ``exp(z)``; the
published price is that hidden price rounded to the nearest whole number of ticks, and never less
than one tick. So the log return of a step has the configured standard deviation (plus the
rounding to ticks), the price can never reach zero, and a volatility smaller than one tick still
moves the price over several steps instead of rounding back to where it was every time. The float
is used only for the draw: ``exp(z)`` is converted to a ``Decimal`` exactly, the hidden price is
kept in a fixed 28-digit decimal context (independent of the caller's), and the published price is
an exact multiple of the tick size.

``step()`` advances every instrument once and publishes the batch; ``start()`` publishes the
current prices at once and then steps every ``tick_interval_seconds`` on the event loop until
``stop()``.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
from collections.abc import Mapping
from decimal import ROUND_HALF_EVEN, Context, Decimal

import structlog

from trading_engine.domain.instruments import Instrument
from trading_engine.domain.ports.clock import Clock
from trading_engine.domain.ports.market_data import Quote
from trading_engine.infrastructure.market.publisher import QuotePublisher, stop_task
from trading_engine.domain.ticks import nearest_tick

log = structlog.get_logger(__name__)

_WALK_CONTEXT = Context(prec=28, rounding=ROUND_HALF_EVEN)
_BPS = 10_000.0


def symbol_seed(seed: int, symbol: str) -> int:
    """The seed of ``symbol``'s own generator: stable across processes and Python versions."""
    digest = hashlib.sha256(f"{seed}\x00{symbol}".encode()).digest()
    return int.from_bytes(digest[:16], "big")


class _Walk:
    """One instrument's random walk."""

    __slots__ = ("instrument", "sigma", "rng", "hidden", "price")

    def __init__(self, instrument: Instrument, sigma: float, seed: int) -> None:
        self.instrument = instrument
        self.sigma = sigma
        self.rng = random.Random(symbol_seed(seed, instrument.symbol))
        self.hidden = instrument.initial_price
        self.price = self._published(self.hidden)

    def step(self) -> Decimal:
        if self.sigma > 0:
            factor = Decimal(math.exp(self.rng.gauss(0.0, self.sigma)))
            self.hidden = _WALK_CONTEXT.multiply(self.hidden, factor)
            self.price = self._published(self.hidden)
        return self.price

    def _published(self, hidden: Decimal) -> Decimal:
        tick = self.instrument.tick_size
        return max(nearest_tick(hidden, tick), tick)


class SimulatedMarketData(QuotePublisher):
    """A ``MarketDataPort`` over seeded random walks; see the module docstring for the model."""

    def __init__(
        self,
        instruments: Mapping[str, Instrument],
        clock: Clock,
        *,
        tick_interval_seconds: float,
        volatility_bps: float | Decimal | Mapping[str, float | Decimal],
        seed: int,
    ) -> None:
        if not _positive_finite(tick_interval_seconds):
            raise ValueError(
                f"tick_interval_seconds {tick_interval_seconds!r} is not allowed; "
                "it must be a finite number of seconds greater than 0"
            )
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed {seed!r} is not allowed; it must be an integer")
        for key, instrument in instruments.items():
            if key != instrument.symbol:
                raise ValueError(f"instrument {instrument.symbol} is listed under {key!r}; use its symbol")
        volatilities = _volatilities(volatility_bps, instruments)
        self._clock = clock
        self._interval = float(tick_interval_seconds)
        self._walks = {
            symbol: _Walk(instrument, volatilities[symbol] / _BPS, seed)
            for symbol, instrument in instruments.items()
        }
        super().__init__()
        self._task: asyncio.Task[None] | None = None

    # -- driving the walk -----------------------------------------------------------------------
    @property
    def tick_interval_seconds(self) -> float:
        return self._interval

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def step(self) -> tuple[Quote, ...]:
        """Advance every instrument one step, store and publish the batch, and return it."""
        now = self._clock.now()
        quotes = tuple(Quote(symbol, walk.step(), now) for symbol, walk in self._walks.items())
        self._publish(quotes)
        return quotes

    async def start(self) -> None:
        """Publish the current price of every instrument now, then step every tick interval in a
        background task. Raises RuntimeError when already running."""
        if self.running:
            raise RuntimeError("the simulated market is already running")
        now = self._clock.now()
        self._publish(tuple(Quote(symbol, walk.price, now) for symbol, walk in self._walks.items()))
        self._task = asyncio.get_running_loop().create_task(self._run(), name="simulated-market-data")

    async def stop(self) -> None:
        """Cancel the background task and wait for it to end; a no-op when not running."""
        task, self._task = self._task, None
        await stop_task(task)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._interval
        while True:
            await asyncio.sleep(max(deadline - loop.time(), 0.0))
            try:
                self.step()
            except Exception as exc:
                log.exception("market_data_step_failed", error=f"{type(exc).__name__}: {exc}")
            deadline, skipped = next_deadline(deadline, loop.time(), self._interval)
            if skipped:
                log.warning("market_data_ticks_skipped", skipped=skipped, interval_seconds=self._interval)


def next_deadline(deadline: float, now: float, interval: float) -> tuple[float, int]:
    """The loop time of the next tick after the one due at ``deadline`` ran, finishing at ``now``;
    and how many ticks were skipped.

    On schedule, ticks stay on the grid ``deadline + k * interval``, so small delays do not
    accumulate. A tick that finished a whole interval or more late (a slow subscriber, a busy
    loop) does not trigger a burst of catch-up ticks: the missed ticks are skipped and the
    schedule restarts one interval after ``now``.
    """
    upcoming = deadline + interval
    if upcoming > now:
        return upcoming, 0
    return now + interval, int((now - upcoming) // interval) + 1


def _positive_finite(value: object) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


def _volatilities(
    volatility_bps: float | Decimal | Mapping[str, float | Decimal],
    instruments: Mapping[str, Instrument],
) -> dict[str, float]:
    if isinstance(volatility_bps, Mapping):
        missing = sorted(set(instruments) - set(volatility_bps))
        unknown = sorted(set(volatility_bps) - set(instruments))
        if missing or unknown:
            raise ValueError(
                f"volatility_bps must name every instrument and nothing else; "
                f"missing: {missing or 'none'}, unknown: {unknown or 'none'}"
            )
        values = dict(volatility_bps)
    else:
        values = {symbol: volatility_bps for symbol in instruments}
    checked: dict[str, float] = {}
    for symbol, value in values.items():
        numeric = isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)
        number = float(value) if numeric else None
        if number is None or not math.isfinite(number) or number < 0:
            raise ValueError(
                f"volatility_bps {value!r} for {symbol} is not allowed; "
                "it must be a finite number of basis points, 0 or more"
            )
        checked[symbol] = number
    return checked
