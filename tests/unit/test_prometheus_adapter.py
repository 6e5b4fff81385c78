"""The Prometheus adapter, checked on the exposition text it produces."""

from __future__ import annotations

import platform
import re
import threading

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from trading_engine.domain.ports.metrics import MetricsLabels
from trading_engine.infrastructure.observability.prometheus import PrometheusMetricsAdapter

CONSTANT = {"service": "svc", "instance": "svc-a", "version": "1.2.3"}


def adapter(**kwargs) -> PrometheusMetricsAdapter:
    return PrometheusMetricsAdapter(CONSTANT, CollectorRegistry(), **kwargs)


def samples(metrics: PrometheusMetricsAdapter) -> list:
    text = generate_latest(metrics.registry).decode()
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def value(metrics: PrometheusMetricsAdapter, name: str, **labels: str) -> float:
    wanted = {**CONSTANT, **labels}
    found = [s.value for s in samples(metrics) if s.name == name and s.labels == wanted]
    assert len(found) == 1, (name, wanted, [s for s in samples(metrics) if s.name == name])
    return found[0]


def test_metrics_labels_dataclass() -> None:
    labels = MetricsLabels(service="svc", instance="svc-a", version="1.2.3", method="GET", route="/x")
    assert labels.to_dict() == {**CONSTANT, "method": "GET", "route": "/x"}
    assert labels.constant_labels() == CONSTANT
    assert MetricsLabels().to_dict() == {}


def test_counter_histogram_gauge_reach_the_exposition() -> None:
    metrics = adapter()
    metrics.inc_counter("jobs_total", {"kind": "a"})
    metrics.inc_counter("jobs_total", {"kind": "a"}, 2.5)
    metrics.observe_histogram("job_seconds", 0.02, {"kind": "a"})
    metrics.observe_histogram("job_seconds", 3.0, {"kind": "a"})
    metrics.set_gauge("queue_depth", 7, {"queue": "q"})
    metrics.set_gauge("queue_depth", 4, {"queue": "q"})
    handle = metrics.counter("jobs_total", {"kind": "b"})
    handle.inc()
    assert value(metrics, "jobs_total", kind="a") == 3.5
    assert value(metrics, "jobs_total", kind="b") == 1.0
    assert value(metrics, "job_seconds_count", kind="a") == 2
    assert value(metrics, "job_seconds_sum", kind="a") == 3.02
    assert value(metrics, "job_seconds_bucket", kind="a", le="0.025") == 1
    assert value(metrics, "job_seconds_bucket", kind="a", le="2.5") == 1
    assert value(metrics, "job_seconds_bucket", kind="a", le="5.0") == 2
    assert value(metrics, "queue_depth", queue="q") == 4


def test_default_buckets_are_5ms_to_10s_and_configurable() -> None:
    metrics = adapter()
    metrics.observe_histogram("http_request_duration_seconds", 0.001, {"method": "GET", "route": "/", "code": "200"})
    les = [s.labels["le"] for s in samples(metrics) if s.name == "http_request_duration_seconds_bucket"]
    assert les == ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0", "+Inf"]
    custom = adapter(buckets=(0.1, 1.0))
    custom.observe_histogram("x_seconds", 0.5)
    assert [s.labels["le"] for s in samples(custom) if s.name == "x_seconds_bucket"] == ["0.1", "1.0", "+Inf"]


def test_constant_labels_are_on_every_series_including_runtime_ones() -> None:
    metrics = adapter()
    metrics.inc_counter("http_requests_total", {"method": "GET", "route": "/", "code": "200"})
    names = set()
    for sample in samples(metrics):
        names.add(sample.name)
        assert sample.labels["service"] == "svc"
        assert sample.labels["instance"] == "svc-a"
        assert sample.labels["version"] == "1.2.3"
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes", "python_info"} <= names
    [info] = [s for s in samples(metrics) if s.name == "python_info"]
    assert info.labels["python_version"] == platform.python_version()  # renamed, not lost
    assert any(n.startswith("python_gc_") for n in names)


def test_known_metrics_have_real_help_text() -> None:
    metrics = adapter()
    metrics.inc_counter("http_requests_total", {"method": "GET", "route": "/", "code": "200"})
    metrics.inc_counter("unknown_things_total")
    text = generate_latest(metrics.registry).decode()
    assert "# HELP http_requests_total HTTP requests served, by method, route template and status code." in text
    assert "# HELP unknown_things_total unknown_things_total (no description in the metric catalogue)" in text


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m: m.inc_counter("bad-name_total"), "invalid metric name 'bad-name_total'"),
        (lambda m: m.inc_counter("9lives_total"), "invalid metric name"),
        (lambda m: m.inc_counter("jobs"), "counter name 'jobs' must end with '_total'"),
        (lambda m: m.set_gauge("jobs_total", 1), "gauge name 'jobs_total' must not end with '_total'"),
        (lambda m: m.inc_counter("a_total", {"bad-label": "x"}), "invalid label name 'bad-label'"),
        (lambda m: m.inc_counter("a_total", {"__x": "x"}), "invalid label name '__x'"),
        (lambda m: m.observe_histogram("h_seconds", 1, {"le": "x"}), "invalid label name 'le'"),
        (lambda m: m.inc_counter("a_total", {"instance": "x"}), "constant label the adapter adds itself"),
        (lambda m: m.inc_counter("a_total", {"k": 1}), "label 'k' of metric 'a_total' must be a str, got int"),
        (lambda m: m.inc_counter("a_total", {"k": "v"}, -1), "non-negative"),
        (lambda m: m.set_gauge("http_requests_total", 1), "'http_requests_total' is a counter; it cannot be used as a gauge"),
    ],
)
def test_misuse_is_a_clear_value_error(call, message) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        call(adapter())


def test_reuse_with_another_type_or_label_set_is_rejected() -> None:
    metrics = adapter()
    metrics.inc_counter("jobs_total", {"kind": "a"})
    with pytest.raises(ValueError, match="metric 'jobs_total' is a counter; it cannot be used as a histogram"):
        metrics.observe_histogram("jobs_total", 1.0, {"kind": "a"})
    with pytest.raises(ValueError, match=r"metric 'jobs_total' has labels \(kind\); got \(queue\)"):
        metrics.inc_counter("jobs_total", {"queue": "a"})
    with pytest.raises(ValueError, match=r"has labels \(kind\); got \(kind, extra\)"):
        metrics.counter("jobs_total", {"kind": "a", "extra": "b"})
    with pytest.raises(ValueError, match=r"has labels \(kind\); got \(\)"):
        metrics.inc_counter("jobs_total")
    assert value(metrics, "jobs_total", kind="a") == 1  # nothing was corrupted


def test_overflow_guard_folds_new_label_sets_and_counts_the_folds() -> None:
    metrics = adapter(max_series_per_metric=3)
    with capture_logs() as logs:
        for i in range(10):
            metrics.inc_counter("hits_total", {"user": f"u{i}"})
        metrics.inc_counter("hits_total", {"user": "u0"})  # an existing set is still its own series
        handle = metrics.counter("hits_total", {"user": "u-late"})
        handle.inc()
    series = {s.labels["user"]: s.value for s in samples(metrics) if s.name == "hits_total"}
    assert series == {"u0": 2, "u1": 1, "u2": 1, "__overflow__": 8}
    assert value(metrics, "metrics_series_overflow_total", metric="hits_total") == 8
    warnings = [e for e in logs if e["event"] == "metric_series_limit_reached"]
    assert len(warnings) == 1
    assert warnings[0]["metric"] == "hits_total" and warnings[0]["limit"] == 3
    assert warnings[0]["log_level"] == "warning"


def test_concurrent_first_use_is_thread_safe() -> None:
    metrics = adapter()
    start = threading.Barrier(16)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            start.wait()
            for i in range(200):
                metrics.inc_counter("race_total", {"shard": str(i % 10)})
                metrics.observe_histogram("race_seconds", 0.01, {"shard": str(n % 4)})
                metrics.gauge("race_gauge", {"shard": str(n)}).set(n)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(value(metrics, "race_total", shard=str(i)) for i in range(10)) == 16 * 200
    assert sum(value(metrics, "race_seconds_count", shard=str(i)) for i in range(4)) == 16 * 200
    assert value(metrics, "race_gauge", shard="15") == 15


def test_two_adapters_in_one_process_never_collide() -> None:
    first, second = adapter(), adapter()
    first.inc_counter("http_requests_total", {"method": "GET", "route": "/", "code": "200"})
    second.inc_counter("http_requests_total", {"method": "GET", "route": "/", "code": "200"}, 5)
    assert value(first, "http_requests_total", method="GET", route="/", code="200") == 1
    assert value(second, "http_requests_total", method="GET", route="/", code="200") == 5


def test_collect_hooks_run_before_each_render_and_failures_are_contained() -> None:
    metrics = adapter()
    seen = []

    def refresh() -> None:
        seen.append(1)
        metrics.set_gauge("refreshed_gauge", len(seen))

    def broken() -> None:
        raise RuntimeError("hook bug")

    metrics.add_collect_hook(broken)
    metrics.add_collect_hook(refresh)
    with capture_logs() as logs:
        metrics.run_collect_hooks()
        metrics.run_collect_hooks()
    assert value(metrics, "refreshed_gauge") == 2
    assert [e["event"] for e in logs] == ["metrics_collect_hook_failed"] * 2
