"""Metrics that can never hurt the work they measure.

:class:`GuardedMetrics` wraps any ``MetricsPort``: a call that raises is swallowed, and the
failure is logged at most once per ``interval`` seconds per metric name. Bound handles it returns
bind lazily and retry on use, so a port that recovers is used again. Use cases and middlewares
record through it; the adapter stays simple and strict (misuse raises there, where tests see it).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from trading_engine.domain.ports.metrics import Labels, MetricsPort

log = structlog.get_logger(__name__)


class FailureLog:
    """Logs ``metrics_update_failed`` at most once per interval per metric name."""

    def __init__(self, interval_seconds: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval_seconds
        self._clock = clock
        self._last: dict[str, float] = {}
        self.suppressed = 0

    def report(self, metric: str, exc: BaseException) -> None:
        now = self._clock()
        last = self._last.get(metric)
        if last is not None and now - last < self._interval:
            self.suppressed += 1
            return
        if len(self._last) >= 10_000:  # metric names are bounded; this is a backstop
            self._last.clear()
        self._last[metric] = now
        log.warning("metrics_update_failed", metric=metric, error=f"{type(exc).__name__}: {exc}")


class _GuardedHandle:
    """A handle that binds on first use, retries binding after a failure, and never raises.

    Each method binds inline rather than through a helper method: this is the per-request path of
    every recorder, and one Python call more is ~500 instructions, a measurable share of a cheap
    backend's cost."""

    __slots__ = ("_bind", "_name", "_failures", "_bound")

    def __init__(self, bind: Callable[[], Any], name: str, failures: FailureLog) -> None:
        self._bind = bind
        self._name = name
        self._failures = failures
        self._bound: Any = None

    def inc(self, amount: float = 1.0) -> None:
        try:
            bound = self._bound
            if bound is None:
                bound = self._bound = self._bind()
            bound.inc(amount)
        except Exception as exc:
            self._failures.report(self._name, exc)

    def observe(self, value: float) -> None:
        try:
            bound = self._bound
            if bound is None:
                bound = self._bound = self._bind()
            bound.observe(value)
        except Exception as exc:
            self._failures.report(self._name, exc)

    def set(self, value: float) -> None:
        try:
            bound = self._bound
            if bound is None:
                bound = self._bound = self._bind()
            bound.set(value)
        except Exception as exc:
            self._failures.report(self._name, exc)


class GuardedMetrics:
    """A ``MetricsPort`` whose recording calls never raise."""

    def __init__(self, port: MetricsPort, failures: FailureLog | None = None) -> None:
        self.port = port
        self.failures = failures or FailureLog()

    def inc_counter(self, name: str, labels: Labels | None = None, amount: float = 1.0) -> None:
        try:
            self.port.inc_counter(name, labels, amount)
        except Exception as exc:
            self.failures.report(name, exc)

    def observe_histogram(self, name: str, value: float, labels: Labels | None = None) -> None:
        try:
            self.port.observe_histogram(name, value, labels)
        except Exception as exc:
            self.failures.report(name, exc)

    def set_gauge(self, name: str, value: float, labels: Labels | None = None) -> None:
        try:
            self.port.set_gauge(name, value, labels)
        except Exception as exc:
            self.failures.report(name, exc)

    def counter(self, name: str, labels: Labels | None = None) -> _GuardedHandle:
        return _GuardedHandle(lambda: self.port.counter(name, labels), name, self.failures)

    def histogram(self, name: str, labels: Labels | None = None) -> _GuardedHandle:
        return _GuardedHandle(lambda: self.port.histogram(name, labels), name, self.failures)

    def gauge(self, name: str, labels: Labels | None = None) -> _GuardedHandle:
        return _GuardedHandle(lambda: self.port.gauge(name, labels), name, self.failures)

    def add_collect_hook(self, hook: Callable[[], None]) -> None:
        self.port.add_collect_hook(hook)

    def get_http_handler(self) -> Callable[[Any], Awaitable[Any]]:
        return self.port.get_http_handler()
