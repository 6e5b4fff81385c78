"""The Prometheus adapter: prometheus_client metrics on a registry of the adapter's own.

Every series the adapter creates carries the constant labels (``service``, ``instance``,
``version``) as real labels, so they reach the exposition; the runtime collectors get them too
(see ``exposition.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from trading_engine.domain.ports.metrics import MetricKind, MetricSpec
from trading_engine.infrastructure.observability.base import Family
from trading_engine.infrastructure.observability.exposition import RegistryExposedAdapter


class PrometheusMetricsAdapter(RegistryExposedAdapter):
    def __init__(self, constant_labels: Mapping[str, str], registry: CollectorRegistry, **options: Any) -> None:
        """``options``: those of :class:`RegistryExposedAdapter` (buckets, series limit, ...)."""
        super().__init__(constant_labels, registry, **options)
        self._const_names = tuple(constant_labels)
        self._const_values = tuple(constant_labels.values())

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
