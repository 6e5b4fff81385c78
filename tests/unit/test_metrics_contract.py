"""One contract for every MetricsPort implementation.

The same sequence of calls must yield the same metric names, label sets and values once each
adapter's exposition is parsed with ``prometheus_client.parser``. Renaming by a backend is stated
here as an explicit mapping instead of loosening the comparison:

* prometheus_client adds a ``<name>_created`` companion (creation timestamp) to every counter and
  histogram series in the text format; OpenTelemetry's exporter does not. ``_created`` samples are
  dropped before comparing (their value is a wall-clock time, not something the calls set).
* Counters: the port's name ends in ``_total``; prometheus_client and the OpenTelemetry exporter
  both append ``_total`` to the instrument name they are given, so the exposed name is the port's.
* No unit suffix: instruments carry no unit, so OpenTelemetry adds none.

The no-op adapter passes the calls-never-raise half: every call is accepted and its exposition
is empty.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from aiohttp.test_utils import make_mocked_request
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes import RecordingMetrics
from trading_engine.infrastructure.observability.noop import NoopMetricsAdapter
from trading_engine.infrastructure.observability.otel import OtelMetricsAdapter
from trading_engine.infrastructure.observability.prometheus import PrometheusMetricsAdapter

CONSTANT = {"service": "svc", "instance": "svc-a", "version": "1.2.3"}
RUNTIME_PREFIXES = ("process_", "python_")
RENAMED_AWAY = ("_created",)


def prometheus() -> PrometheusMetricsAdapter:
    return PrometheusMetricsAdapter(CONSTANT, CollectorRegistry())


def opentelemetry() -> OtelMetricsAdapter:
    return OtelMetricsAdapter(CONSTANT, CollectorRegistry())


def recording() -> RecordingMetrics:
    fake = RecordingMetrics()
    fake.constant_labels = dict(CONSTANT)
    return fake


ADAPTERS: dict[str, Callable[[], object]] = {
    "prometheus": prometheus,
    "opentelemetry": opentelemetry,
    "recording_fake": recording,
}


def exercise(port) -> None:
    """The sequence every adapter receives: each form of every kind, several label sets."""
    red = {"method": "GET", "route": "/api/v1/orders/{order_id}", "code": "200"}
    missing = {**red, "code": "404"}
    port.inc_counter("http_requests_total", red)
    port.inc_counter("http_requests_total", red)
    port.counter("http_requests_total", missing).inc()
    port.counter("http_request_errors_total", missing).inc(1)
    for seconds in (0.004, 0.02, 0.3, 0.3, 7.5, 12.0):
        port.observe_histogram("http_request_duration_seconds", seconds, red)
    port.histogram("http_request_duration_seconds", missing).observe(0.001)
    port.inc_counter("orders_total", {"symbol": "BTC-USD", "side": "buy", "type": "market", "status": "filled"}, 3)
    port.inc_counter("order_rejections_total", {"reason": "insufficient_funds"})
    port.set_gauge("portfolio_equity", 10_000.5)
    port.set_gauge("portfolio_equity", 9_990.25)
    port.gauge("position_notional", {"symbol": "ETH-USD"}).set(1234.5)
    port.set_gauge("portfolio_pnl", -4.75, {"kind": "unrealized"})


async def scrape(port) -> str:
    response = await port.get_http_handler()(make_mocked_request("GET", "/api/v1/metrics"))
    return response.body.decode()


def samples(text: str) -> set[tuple[str, tuple, float]]:
    return {
        (s.name, tuple(sorted(s.labels.items())), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if not s.name.startswith(RUNTIME_PREFIXES) and not s.name.endswith(RENAMED_AWAY)
    }


@pytest.fixture(params=sorted(ADAPTERS))
async def port(request):
    adapter = ADAPTERS[request.param]()
    yield adapter
    close = getattr(adapter, "close", None)
    if close is not None:
        close()


async def test_same_calls_same_exposition(port) -> None:
    reference = recording()
    exercise(reference)
    expected = samples(await scrape(reference))
    exercise(port)
    assert samples(await scrape(port)) == expected


async def test_reference_exposition_has_the_expected_values() -> None:
    """The reference itself, checked by hand, so the comparison above cannot be vacuous."""
    reference = recording()
    exercise(reference)
    found = samples(await scrape(reference))
    labels = tuple(sorted({**CONSTANT, "method": "GET", "route": "/api/v1/orders/{order_id}", "code": "200"}.items()))
    assert ("http_requests_total", labels, 2.0) in found
    assert ("http_request_duration_seconds_count", labels, 6.0) in found
    assert ("http_request_duration_seconds_sum", labels, sum((0.004, 0.02, 0.3, 0.3, 7.5, 12.0))) in found
    assert ("http_request_duration_seconds_bucket", tuple(sorted((*labels, ("le", "0.005")))), 1.0) in found
    assert ("http_request_duration_seconds_bucket", tuple(sorted((*labels, ("le", "10.0")))), 5.0) in found
    assert ("http_request_duration_seconds_bucket", tuple(sorted((*labels, ("le", "+Inf")))), 6.0) in found
    assert ("portfolio_equity", tuple(sorted(CONSTANT.items())), 9990.25) in found
    assert len(found) == 2 * (12 + 2) + 5 + 3  # two histogram series, five counters, three gauges


@pytest.mark.parametrize("make", [prometheus, opentelemetry], ids=["prometheus", "opentelemetry"])
async def test_constant_labels_reach_runtime_series_too(make) -> None:
    adapter = make()
    try:
        families = list(text_string_to_metric_families(await scrape(adapter)))
        runtime = [s for f in families for s in f.samples if s.name.startswith(RUNTIME_PREFIXES)]
        assert runtime and all({k: s.labels[k] for k in CONSTANT} == CONSTANT for s in runtime)
    finally:
        getattr(adapter, "close", lambda: None)()


@pytest.mark.parametrize("make", [prometheus, opentelemetry], ids=["prometheus", "opentelemetry"])
def test_misuse_is_the_same_value_error(make) -> None:
    adapter = make()
    try:
        adapter.inc_counter("jobs_total", {"kind": "a"})
        with pytest.raises(ValueError, match="is a counter; it cannot be used as a gauge"):
            adapter.set_gauge("jobs_total", 1, {"kind": "a"})
        with pytest.raises(ValueError, match=r"has labels \(kind\); got \(other\)"):
            adapter.inc_counter("jobs_total", {"other": "a"})
        with pytest.raises(ValueError, match="invalid metric name"):
            adapter.inc_counter("bad name_total")
        with pytest.raises(ValueError, match="non-negative"):
            adapter.inc_counter("jobs_total", {"kind": "a"}, -1)
    finally:
        getattr(adapter, "close", lambda: None)()


@pytest.mark.parametrize("make", [prometheus, opentelemetry], ids=["prometheus", "opentelemetry"])
async def test_overflow_guard_holds_for_each_backend(make) -> None:
    adapter = (PrometheusMetricsAdapter if make is prometheus else OtelMetricsAdapter)(
        CONSTANT, CollectorRegistry(), max_series_per_metric=2
    )
    try:
        for user in ("a", "b", "c", "d"):
            adapter.inc_counter("hits_total", {"user": user})
        found = samples(await scrape(adapter))
        users = {dict(labels).get("user"): value for name, labels, value in found if name == "hits_total"}
        assert users == {"a": 1.0, "b": 1.0, "__overflow__": 2.0}
        folds = [v for name, labels, v in found
                 if name == "metrics_series_overflow_total" and dict(labels)["metric"] == "hits_total"]
        assert folds == [2.0]
    finally:
        getattr(adapter, "close", lambda: None)()


async def test_noop_adapter_accepts_every_call_and_exposes_nothing() -> None:
    noop = NoopMetricsAdapter()
    exercise(noop)
    noop.inc_counter("not even a valid name", {"x": "y"})
    assert await scrape(noop) == ""
