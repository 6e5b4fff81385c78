"""The Prometheus adapter: prometheus_client metrics on a registry of the adapter's own.

Every series the adapter creates carries the constant labels (``service``, ``instance``,
``version``) as real labels, so they reach the exposition. The process, platform and GC
collectors are registered too, with the constant labels added to their samples. A collector's own
label that collides with a constant label is renamed with the family's prefix, so
``python_info``'s Python version becomes ``python_version`` and ``version`` is the service's on
every series.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from trading_engine.domain.ports.metrics import CATALOGUE, MetricKind, MetricSpec
from trading_engine.infrastructure.observability.base import DEFAULT_BUCKETS, BaseMetricsAdapter, Family
from trading_engine.infrastructure.observability.scrape import ScrapeRenderer


class ConstantLabelsCollector(Collector):
    """Adds labels to every sample of the wrapped collectors (for collectors we do not create)."""

    def __init__(self, collectors: Iterable[Collector], labels: Mapping[str, str]) -> None:
        self._collectors = list(collectors)
        self._labels = dict(labels)

    def collect(self) -> Iterator[Metric]:
        for collector in self._collectors:
            for family in collector.collect():
                prefix = family.name.split("_", 1)[0]
                labelled = Metric(family.name, family.documentation, family.type, family.unit)
                labelled.samples = [
                    sample._replace(labels=self._relabel(sample.labels, prefix))
                    for sample in family.samples
                ]
                yield labelled

    def _relabel(self, own: dict[str, str], prefix: str) -> dict[str, str]:
        labels = dict(self._labels)
        for name, value in own.items():
            labels[f"{prefix}_{name}" if name in self._labels else name] = value
        return labels


def runtime_collectors() -> list[Collector]:
    # GCCollector insists on registering itself somewhere: give it a registry nobody exposes.
    gc_collector = GCCollector(registry=CollectorRegistry())
    return [ProcessCollector(registry=None), PlatformCollector(registry=None), gc_collector]


class PrometheusMetricsAdapter(BaseMetricsAdapter):
    def __init__(
        self,
        constant_labels: Mapping[str, str],
        registry: CollectorRegistry,
        *,
        buckets: Sequence[float] = DEFAULT_BUCKETS,
        max_series_per_metric: int = 1000,
        catalogue: Mapping[str, MetricSpec] = CATALOGUE,
        with_runtime_collectors: bool = True,
    ) -> None:
        super().__init__(
            constant_label_names=tuple(constant_labels),
            max_series_per_metric=max_series_per_metric,
            default_buckets=buckets,
            catalogue=catalogue,
        )
        self._const_names = tuple(constant_labels)
        self._const_values = tuple(constant_labels.values())
        self.registry = registry
        if with_runtime_collectors:
            registry.register(ConstantLabelsCollector(runtime_collectors(), constant_labels))
        self._scrape = ScrapeRenderer(registry, before_render=self.run_collect_hooks)

    def get_http_handler(self) -> ScrapeRenderer:
        return self._scrape

    def _create_family(self, name: str, spec: MetricSpec, buckets: tuple[float, ...]) -> Any:
        names = (*self._const_names, *spec.labels)
        try:
            if spec.kind is MetricKind.COUNTER:
                # prometheus_client appends _total itself.
                return Counter(name.removesuffix("_total"), spec.help, names, registry=self.registry)
            if spec.kind is MetricKind.HISTOGRAM:
                return Histogram(name, spec.help, names, buckets=buckets, registry=self.registry)
            return Gauge(name, spec.help, names, registry=self.registry)
        except ValueError as exc:  # e.g. a name that collides with another metric's series
            raise ValueError(f"metric {name!r} cannot be registered: {exc}") from None

    def _create_series(self, family: Family, values: tuple[str, ...]) -> Any:
        if not self._const_names and not values:
            return family.backend
        return family.backend.labels(*self._const_values, *values)
