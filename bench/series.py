"""Registering N synthetic series through the metrics port, shared by the in-process scrape
benchmark and ``bench.serve_with_series``.

Kinds (every series is one label set, label ``id``):

* ``counter``: N series of the counter ``bench_series_total``; each renders as 2 sample lines in the
  text format (``_total`` and ``_created``).
* ``gauge``: N series of the gauge ``bench_series_value``; 1 sample line each.
* ``histogram``: N series of the histogram ``bench_series_seconds``; with the 11 default buckets each
  renders as 15 sample lines (11 buckets, ``+Inf``, ``_count``, ``_sum``, ``_created``).
* ``mix``: 70 % counter, 20 % gauge, 10 % histogram series (about 3.1 sample lines per series).
"""

from __future__ import annotations

from typing import Any

KINDS = ("counter", "gauge", "histogram", "mix")

COUNTER = "bench_series_total"
GAUGE = "bench_series_value"
HISTOGRAM = "bench_series_seconds"


def register_series(metrics: Any, count: int, kind: str) -> None:
    """Create ``count`` series through ``metrics`` (a MetricsPort) and give each a value."""
    if kind not in KINDS:
        raise ValueError(f"series kind {kind!r}: expected one of {', '.join(KINDS)}")
    for i in range(count):
        labels = {"id": str(i)}
        which = kind if kind != "mix" else ("counter" if i % 10 < 7 else "gauge" if i % 10 < 9 else "histogram")
        if which == "counter":
            metrics.counter(COUNTER, labels).inc(i % 97 + 1)
        elif which == "gauge":
            metrics.gauge(GAUGE, labels).set(i * 0.5)
        else:
            metrics.histogram(HISTOGRAM, labels).observe((i % 1000) / 1000.0)
