"""The OpenTelemetry adapter: the same port, backed by the OpenTelemetry metrics SDK.

* Instruments come from a ``MeterProvider`` of the adapter's own (never the global one).
* The constant labels (``service``, ``instance``, ``version``) are resource attributes; the
  Prometheus reader copies exactly those onto every series, so they reach the exposition.
* ``get_http_handler()`` serves the metrics in Prometheus format through
  ``opentelemetry-exporter-prometheus``'s reader on the adapter's own registry (with the process,
  platform and GC collectors beside it), rendered off the loop like the Prometheus adapter's,
  so the same scrape config keeps working.
* With an OTLP endpoint, a periodic reader also pushes OTLP over HTTP to ``<endpoint>/v1/metrics``.

Names: the port's counter names end in ``_total``; the instrument is created without it and the
Prometheus reader appends it, so the exposed name is the port's. Instruments carry no unit, so no
unit suffix is added. Histogram buckets are explicit-bucket aggregation views (catalogue
histograms) or the instrument's advisory boundaries (any other), both the configured buckets.
The label-set guard and misuse errors are the shared ones of :class:`BaseMetricsAdapter`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from prometheus_client import CollectorRegistry

from trading_engine.domain.ports.metrics import CATALOGUE, MetricKind, MetricSpec
from trading_engine.infrastructure.observability.base import DEFAULT_BUCKETS, BaseMetricsAdapter, Family
from trading_engine.infrastructure.observability.prometheus import ConstantLabelsCollector, runtime_collectors
from trading_engine.infrastructure.observability.scrape import ScrapeRenderer

METER_NAME = "trading_engine"


class _Series:
    """One label set of an OpenTelemetry instrument: the attributes are bound once."""

    __slots__ = ("_record", "_attributes")

    def __init__(self, record: Any, attributes: Mapping[str, str]) -> None:
        self._record = record
        self._attributes = dict(attributes)

    def inc(self, amount: float = 1.0) -> None:
        if amount < 0:
            raise ValueError(f"counters can only be incremented by non-negative amounts, got {amount}")
        self._record(amount, self._attributes)

    def observe(self, value: float) -> None:
        self._record(value, self._attributes)

    def set(self, value: float) -> None:
        self._record(value, self._attributes)


class OtelMetricsAdapter(BaseMetricsAdapter):
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
            constant_label_names=tuple(constant_labels),
            max_series_per_metric=max_series_per_metric,
            default_buckets=buckets,
            catalogue=catalogue,
        )
        self.registry = registry
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
            metric_readers=readers, resource=Resource.create(dict(constant_labels)), views=views
        )
        self._meter = self._provider.get_meter(METER_NAME)
        if with_runtime_collectors:
            registry.register(ConstantLabelsCollector(runtime_collectors(), constant_labels))
        self._scrape = ScrapeRenderer(registry, before_render=self.run_collect_hooks)

    def get_http_handler(self) -> ScrapeRenderer:
        return self._scrape

    def close(self) -> None:
        """Flush and stop the readers (a last OTLP push included), giving up after 5 s."""
        self._provider.shutdown(timeout_millis=5_000)

    def _create_family(self, name: str, spec: MetricSpec, buckets: tuple[float, ...]) -> Any:
        if spec.kind is MetricKind.COUNTER:
            return self._meter.create_counter(name.removesuffix("_total"), description=spec.help).add
        if spec.kind is MetricKind.HISTOGRAM:
            return self._meter.create_histogram(
                name, description=spec.help, explicit_bucket_boundaries_advisory=list(buckets)
            ).record
        return self._meter.create_gauge(name, description=spec.help).set

    def _create_series(self, family: Family, values: tuple[str, ...]) -> _Series:
        return _Series(family.backend, dict(zip(family.spec.labels, values, strict=True)))
