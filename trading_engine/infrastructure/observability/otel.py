"""The OpenTelemetry adapter: the same port, backed by the OpenTelemetry metrics SDK.

* Instruments come from a ``MeterProvider`` of the adapter's own (never the global one).
* The constant labels (``service``, ``instance``, ``version``) are resource attributes; the
  Prometheus reader copies exactly those onto every series, so they reach the exposition.
* ``get_http_handler()`` serves the metrics in Prometheus format through
  ``opentelemetry-exporter-prometheus``'s reader on the adapter's own registry (with the process,
  platform and GC collectors beside it), rendered off the loop like the Prometheus adapter's,
  so the same scrape config keeps working.
* With an OTLP endpoint, a periodic reader also pushes OTLP over HTTP to ``<endpoint>/v1/metrics``.

Counters and gauges are OpenTelemetry asynchronous instruments over values the adapter keeps (an
update costs one locked addition; the SDK reads them at each collection), histograms are
synchronous. Names: the port's counter names end in ``_total``; the instrument is created without
it and the Prometheus reader appends it, so the exposed name is the port's. Instruments carry no unit, so no
unit suffix is added. Histogram buckets are explicit-bucket aggregation views (catalogue
histograms) or the instrument's advisory boundaries (any other), both the configured buckets.
The label-set guard and misuse errors are the shared ones of :class:`BaseMetricsAdapter`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from prometheus_client import CollectorRegistry

from trading_engine.domain.ports.metrics import CATALOGUE, MetricKind, MetricSpec
from trading_engine.infrastructure.observability.base import DEFAULT_BUCKETS, Family
from trading_engine.infrastructure.observability.exposition import RegistryExposedAdapter

METER_NAME = "trading_engine"


class _Recorded:
    """One label set of a histogram: each observation goes to the SDK's synchronous instrument,
    with the label set's attributes built once. (A method, not a ``functools.partial`` with
    ``attributes=`` bound: a partial with keywords builds a kwargs dict per call, ~2,700
    instructions, five times this frame's cost.)"""

    __slots__ = ("_record", "_attributes")

    def __init__(self, record: Any, attributes: Mapping[str, str]) -> None:
        self._record = record
        self._attributes = dict(attributes)

    def observe(self, value: float) -> None:
        self._record(value, self._attributes)


class _Observed:
    """One label set of a counter or gauge, kept here and reported to the SDK by the instrument's
    callback at each collection (OpenTelemetry's asynchronous instruments). An update is then one
    addition under a lock, instead of the SDK's per-measurement attribute processing."""

    __slots__ = ("value", "attributes", "_lock")

    def __init__(self, attributes: Mapping[str, str]) -> None:
        self.value = 0.0
        self.attributes = dict(attributes)
        self._lock = threading.Lock()

    def inc(self, amount: float = 1.0) -> None:
        if amount < 0:
            raise ValueError(f"counters can only be incremented by non-negative amounts, got {amount}")
        with self._lock:
            self.value += amount

    def set(self, value: float) -> None:
        self.value = float(value)


class _ObservedFamily:
    """The series of one asynchronous instrument, observed together by its callback."""

    def __init__(self) -> None:
        self.series: list[_Observed] = []

    def observe(self, options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(s.value, s.attributes) for s in list(self.series)]


class OtelMetricsAdapter(RegistryExposedAdapter):
    def __init__(
        self,
        constant_labels: Mapping[str, str],
        registry: CollectorRegistry,
        *,
        buckets: Sequence[float] = DEFAULT_BUCKETS,
        max_series_per_metric: int = 1000,
        catalogue: Mapping[str, MetricSpec] = CATALOGUE,
        otlp_endpoint: str = "",
        otlp_export_interval_ms: int = 10_000,
        with_runtime_collectors: bool = True,
    ) -> None:
        super().__init__(
            constant_labels,
            registry,
            buckets=buckets,
            max_series_per_metric=max_series_per_metric,
            catalogue=catalogue,
            with_runtime_collectors=with_runtime_collectors,
        )
        names = frozenset(constant_labels)
        readers: list[MetricReader] = [
            PrometheusMetricReader(
                disable_target_info=True,
                scope_info_enabled=False,
                resource_attribute_filter=names.__contains__,
                registry=registry,
            )
        ]
        if otlp_endpoint:
            readers.append(
                PeriodicExportingMetricReader(
                    OTLPMetricExporter(endpoint=f"{otlp_endpoint.rstrip('/')}/v1/metrics"),
                    export_interval_millis=otlp_export_interval_ms,
                )
            )
        views = [
            View(
                instrument_name=name,
                aggregation=ExplicitBucketHistogramAggregation(list(spec.buckets or self._default_buckets)),
            )
            for name, spec in catalogue.items()
            if spec.kind is MetricKind.HISTOGRAM
        ]
        self._provider = MeterProvider(
            metric_readers=readers,
            resource=Resource.create(dict(constant_labels)),
            views=views,
            # The service records no traces, so there are no exemplars to keep; checking for one
            # on every measurement would be pure cost.
            exemplar_filter=AlwaysOffExemplarFilter(),
        )
        self._meter = self._provider.get_meter(METER_NAME)

    def close(self) -> None:
        """Flush and stop the readers (a last OTLP push included), giving up after 5 s."""
        self._provider.shutdown(timeout_millis=5_000)

    def _create_family(self, name: str, spec: MetricSpec, buckets: tuple[float, ...]) -> Any:
        if spec.kind is MetricKind.HISTOGRAM:
            return self._meter.create_histogram(
                name, description=spec.help, explicit_bucket_boundaries_advisory=list(buckets)
            ).record
        observed = _ObservedFamily()
        if spec.kind is MetricKind.COUNTER:
            self._meter.create_observable_counter(
                name.removesuffix("_total"), callbacks=[observed.observe], description=spec.help
            )
        else:
            self._meter.create_observable_gauge(name, callbacks=[observed.observe], description=spec.help)
        return observed

    def _create_series(self, family: Family, values: tuple[str, ...]) -> Any:
        attributes = dict(zip(family.spec.labels, values, strict=True))
        if family.spec.kind is MetricKind.HISTOGRAM:
            return _Recorded(family.backend, attributes)
        series = _Observed(attributes)
        family.backend.series.append(series)
        return series
