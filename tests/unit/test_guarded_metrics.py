"""GuardedMetrics: recording never raises; failures are logged at most once per minute per metric."""

from __future__ import annotations

from structlog.testing import capture_logs

from tests.fakes import RaisingMetrics, RecordingMetrics
from trading_engine.infrastructure.observability.noop import NoopMetricsAdapter
from trading_engine.services.observability import FailureLog, GuardedMetrics


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_failures_are_swallowed_and_logged_once_per_minute_per_metric() -> None:
    clock = Clock()
    guarded = GuardedMetrics(RaisingMetrics(), FailureLog(60.0, clock))
    with capture_logs() as logs:
        for _ in range(10):
            guarded.inc_counter("a_total")
            guarded.observe_histogram("b_seconds", 1.0)
            guarded.counter("a_total").inc()
        clock.now = 59.0
        guarded.set_gauge("a_total", 1)
        clock.now = 60.0
        guarded.inc_counter("a_total")
    assert [(e["event"], e["metric"]) for e in logs] == [
        ("metrics_update_failed", "a_total"),
        ("metrics_update_failed", "b_seconds"),
        ("metrics_update_failed", "a_total"),
    ]
    assert guarded.failures.suppressed == 29


def test_handles_retry_binding_until_the_port_recovers() -> None:
    class Flaky(RecordingMetrics):
        healthy = False

        def counter(self, name, labels=None):
            if not self.healthy:
                raise ConnectionError("not yet")
            return super().counter(name, labels)

    port = Flaky()
    handle = GuardedMetrics(port).counter("x_total", {"k": "v"})
    handle.inc()
    port.healthy = True
    handle.inc(2)
    handle.inc()
    assert port.calls == [("counter", "x_total", {"k": "v"}, 2), ("counter", "x_total", {"k": "v"}, 1.0)]


def test_calls_pass_through_to_a_working_port() -> None:
    port = RecordingMetrics()
    guarded = GuardedMetrics(port)
    guarded.inc_counter("a_total", {"k": "v"}, 3)
    guarded.observe_histogram("b_seconds", 0.5)
    guarded.set_gauge("c", 7)
    guarded.gauge("c").set(8)
    assert port.calls == [
        ("counter", "a_total", {"k": "v"}, 3),
        ("histogram", "b_seconds", {}, 0.5),
        ("gauge", "c", {}, 7),
        ("gauge", "c", {}, 8),
    ]


async def test_noop_adapter_accepts_everything_and_serves_nothing() -> None:
    from aiohttp.test_utils import make_mocked_request

    noop = NoopMetricsAdapter()
    noop.inc_counter("anything at all", {"x": 1})  # type: ignore[dict-item]
    noop.observe_histogram("h", 1.0)
    noop.set_gauge("g", 1.0)
    noop.counter("c").inc()
    noop.histogram("h").observe(1)
    noop.gauge("g").set(1)
    noop.add_collect_hook(lambda: None)
    response = await noop.get_http_handler()(make_mocked_request("GET", "/metrics"))
    assert response.status == 200 and response.body == b""


def test_the_container_guards_the_port_once_for_every_recorder(container) -> None:
    guarded = container.guarded_metrics()
    assert isinstance(guarded, GuardedMetrics) and guarded.port is container.metrics_port()
    assert container.trading_metrics().port is guarded
    # (the RED middleware's share is shown by tests/http/test_red_metrics.py: a raising port
    # behind it never fails a request, and the middleware no longer wraps the port itself)
