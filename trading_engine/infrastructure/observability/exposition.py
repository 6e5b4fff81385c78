"""What both real adapters share: a prometheus_client registry of their own, served by the
off-loop scrape renderer, with the process, platform and GC collectors beside their metrics.

The runtime collectors get the constant labels added to their samples. A collector's own label
that collides with a constant label is renamed with the family's prefix, so ``python_info``'s
Python version becomes ``python_version`` and ``version`` is the service's on every series.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from trading_engine.domain.ports.metrics import CATALOGUE, MetricSpec
from trading_engine.infrastructure.observability.base import DEFAULT_BUCKETS, BaseMetricsAdapter
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


class RegistryExposedAdapter(BaseMetricsAdapter):
    """Base of the adapters whose exposition is a prometheus_client registry."""

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
        self.registry = registry
        if with_runtime_collectors:
            registry.register(ConstantLabelsCollector(runtime_collectors(), constant_labels))
        self._scrape = ScrapeRenderer(registry, before_render=self.run_collect_hooks)

    def get_http_handler(self) -> ScrapeRenderer:
        return self._scrape
