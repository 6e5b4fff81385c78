"""Fakes that implement the domain's ports, for tests that replace providers in the container."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

from typing import Any

import structlog

from trading_engine.domain.decimals import positive
from trading_engine.domain.ports.disk_space import FreeSpace
from trading_engine.domain.ports.market_data import Quote


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
        self._mono = 1000.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
        self._mono += seconds


class StaticCheck:
    """A readiness check with a fixed answer; counts how often it was asked."""

    def __init__(self, ready: bool) -> None:
        self.ready = ready
        self.calls = 0

    async def is_ready(self) -> bool:
        self.calls += 1
        return self.ready


class RaisingCheck:
    def __init__(self, message: str = "database connection refused") -> None:
        self.message = message

    async def is_ready(self) -> bool:
        raise ConnectionError(self.message)


class SlowCheck:
    """Answers ready after ``seconds``; with a long delay it stands for a check that hangs."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def is_ready(self) -> bool:
        await asyncio.sleep(self.seconds)
        return True


class FakeFreeSpace:
    """A FreeSpaceProbe whose answer the test sets (``free_bytes``, or ``error`` to raise); counts
    how often it was asked."""

    GIB = 1024**3

    def __init__(self, free_bytes: int = 100 * GIB, path: str = "/srv/engine/data") -> None:
        self.free_bytes = free_bytes
        self.path = path
        self.error: OSError | None = None
        self.calls = 0

    def free_space(self) -> FreeSpace:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return FreeSpace(self.path, self.free_bytes)


class RecordingMetrics:
    """A MetricsPort that records every update as (kind, name, labels, value)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, str], float]] = []
        self.hooks: list = []

    def inc_counter(self, name, labels=None, amount=1.0) -> None:
        self.calls.append(("counter", name, dict(labels or {}), amount))

    def observe_histogram(self, name, value, labels=None) -> None:
        self.calls.append(("histogram", name, dict(labels or {}), value))

    def set_gauge(self, name, value, labels=None) -> None:
        self.calls.append(("gauge", name, dict(labels or {}), value))

    def counter(self, name, labels=None):
        return _RecordingHandle(self, "counter", name, labels)

    def histogram(self, name, labels=None):
        return _RecordingHandle(self, "histogram", name, labels)

    def gauge(self, name, labels=None):
        return _RecordingHandle(self, "gauge", name, labels)

    def add_collect_hook(self, hook) -> None:
        self.hooks.append(hook)

    def get_http_handler(self):
        """Renders what was recorded in the Prometheus text format (counters summed, gauges last
        value, histograms bucketed like the adapters), with ``constant_labels`` on every series."""
        from aiohttp import web
        from prometheus_client import generate_latest

        async def exposition(request):
            for hook in self.hooks:
                hook()
            return web.Response(body=generate_latest(_RecordedCollector(self)),
                                content_type="text/plain", charset="utf-8")

        return exposition

    constant_labels: dict[str, str] = {}
    buckets: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

    def named(self, name: str) -> list[tuple[str, str, dict[str, str], float]]:
        return [c for c in self.calls if c[1] == name]


class _RecordingHandle:
    def __init__(self, port: RecordingMetrics, kind: str, name: str, labels) -> None:
        self._port, self._kind, self._name, self._labels = port, kind, name, dict(labels or {})

    def inc(self, amount: float = 1.0) -> None:
        self._port.calls.append((self._kind, self._name, self._labels, amount))

    def observe(self, value: float) -> None:
        self._port.calls.append((self._kind, self._name, self._labels, value))

    def set(self, value: float) -> None:
        self._port.calls.append((self._kind, self._name, self._labels, value))


class RaisingMetrics(RecordingMetrics):
    """A MetricsPort whose every recording call fails."""

    def _fail(self, *args, **kwargs):
        raise RuntimeError("metrics backend is down")

    inc_counter = observe_histogram = set_gauge = counter = histogram = gauge = _fail


class ScriptedMarketData:
    """A MarketDataPort whose quotes the test pushes, stamped with the clock's current time.

    Like the real feed, every push notifies the subscribers synchronously with the batch, and a
    subscriber that raises is logged (``market_data_listener_failed``) and stays subscribed.
    It has the feed lifecycle the container's trading resource drives: ``start()`` publishes the
    ``opening`` prices once (like the simulated feed's first tick); nothing ticks after that
    unless the test pushes.
    """

    def __init__(self, clock: FakeClock | None = None, opening: Mapping | None = None) -> None:
        self.clock = clock or FakeClock()
        self.opening = dict(opening or {})
        self._latest: dict = {}
        self._listeners: dict = {}
        self._tokens = itertools.count()
        self.batches: list = []
        self.started = False

    async def start(self) -> None:
        self.started = True
        if self.opening:
            self.push_many(self.opening)

    async def stop(self) -> None:
        self.started = False

    def push(self, symbol: str, price) -> Quote:
        """Publish one quote (price as a Decimal, int or numeric string) and return it."""
        return self.push_many({symbol: price})[0]

    def push_many(self, prices: Mapping) -> tuple[Quote, ...]:
        """Publish one batch with a quote per ``{symbol: price}`` entry, in the mapping's order."""
        now = self.clock.now()
        quotes = tuple(
            Quote(symbol, positive(price, field=f"{symbol} price"), now) for symbol, price in prices.items()
        )
        return self.publish(quotes)

    def push_bar(self, bar: Any) -> Quote:
        """Publish a bar as a feed of bars does: a quote of its close at its end, carrying it."""
        return self.publish((Quote(bar.symbol, bar.close, bar.end, bar=bar),))[0]

    def publish(self, quotes: tuple[Quote, ...]) -> tuple[Quote, ...]:
        for quote in quotes:
            self._latest[quote.symbol] = quote
        self.batches.append(quotes)
        for listener in tuple(self._listeners.values()):
            try:
                listener(quotes)
            except Exception as exc:
                structlog.get_logger(__name__).exception(
                    "market_data_listener_failed", error=f"{type(exc).__name__}: {exc}"
                )
        return quotes

    def latest(self, symbol: str) -> Quote | None:
        return self._latest.get(symbol)

    def snapshot(self) -> Mapping:
        return dict(self._latest)

    def subscribe(self, listener) -> Callable[[], None]:
        token = next(self._tokens)
        self._listeners[token] = listener

        def unsubscribe() -> None:
            self._listeners.pop(token, None)

        return unsubscribe

    @property
    def subscriber_count(self) -> int:
        return len(self._listeners)


class _RecordedCollector:
    """The recording fake's calls, aggregated into Prometheus metric families."""

    def __init__(self, port: RecordingMetrics) -> None:
        self._port = port

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        constant = self._port.constant_labels
        series: dict[tuple[str, str, tuple], list[float]] = {}
        for kind, name, labels, value in self._port.calls:
            key = (kind, name, tuple(sorted({**constant, **labels}.items())))
            series.setdefault(key, []).append(value)
        families: dict[str, object] = {}
        for (kind, name, pairs), values in sorted(series.items()):
            names, label_values = [k for k, _ in pairs], [v for _, v in pairs]
            if kind == "counter":
                family = families.setdefault(name, CounterMetricFamily(name, name, labels=names))
                family.add_metric(label_values, sum(values))
            elif kind == "gauge":
                family = families.setdefault(name, GaugeMetricFamily(name, name, labels=names))
                family.add_metric(label_values, values[-1])
            else:
                family = families.setdefault(name, HistogramMetricFamily(name, name, labels=names))
                bounds = [*self._port.buckets, float("inf")]
                cumulative = [(str(b) if b != float("inf") else "+Inf", sum(1 for v in values if v <= b))
                              for b in bounds]
                family.add_metric(label_values, cumulative, sum(values))
        yield from families.values()
