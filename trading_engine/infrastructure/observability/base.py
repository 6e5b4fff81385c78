"""What every metrics adapter shares: name and label validation, lazy thread-safe creation, the
label-set (cardinality) guard and the handle cache. A backend supplies two factories: one for a
metric family, one for a series of it.

Misuse is a ``ValueError`` with a message that says what was wrong and what is allowed: an invalid
metric or label name, a counter not ending in ``_total``, a name reused with another kind or
another label set.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from trading_engine.domain.ports.metrics import (
    CATALOGUE,
    OVERFLOW_LABEL_VALUE,
    OVERFLOW_METRIC,
    Labels,
    MetricKind,
    MetricSpec,
)

log = structlog.get_logger(__name__)

DEFAULT_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_RESERVED_LABELS = frozenset({"le", "quantile"})
MAX_FAMILIES = 1000


@dataclass
class Family:
    name: str
    spec: MetricSpec
    backend: Any
    children: dict[tuple[str, ...], Any] = field(default_factory=dict)
    overflow: Any = None


class OverflowHandle:
    """A series past the label-set limit: updates the overflow series and counts the fold."""

    __slots__ = ("_child", "_folds")

    def __init__(self, child: Any, folds: Any) -> None:
        self._child = child
        self._folds = folds

    def inc(self, amount: float = 1.0) -> None:
        self._child.inc(amount)
        self._folds.inc()

    def observe(self, value: float) -> None:
        self._child.observe(value)
        self._folds.inc()

    def set(self, value: float) -> None:
        self._child.set(value)
        self._folds.inc()


def validate_buckets(buckets: Sequence[float]) -> tuple[float, ...]:
    result = tuple(float(b) for b in buckets)
    if not result or any(b <= 0 for b in result) or list(result) != sorted(set(result)):
        raise ValueError(
            f"histogram buckets {list(buckets)!r} must be positive and strictly increasing"
        )
    return result


class BaseMetricsAdapter:
    """Backend-neutral bookkeeping; subclasses implement ``_create_family`` and ``_create_series``."""

    def __init__(
        self,
        *,
        constant_label_names: Sequence[str] = (),
        max_series_per_metric: int = 1000,
        default_buckets: Sequence[float] = DEFAULT_BUCKETS,
        catalogue: Mapping[str, MetricSpec] = CATALOGUE,
    ) -> None:
        if max_series_per_metric < 1:
            raise ValueError(f"max_series_per_metric must be at least 1, got {max_series_per_metric}")
        self._constant_names = frozenset(constant_label_names)
        self._max_series = max_series_per_metric
        self._default_buckets = validate_buckets(default_buckets)
        self._catalogue = catalogue
        self._families: dict[str, Family] = {}
        self._handles: dict[tuple[Any, ...], Any] = {}
        self._lock = threading.RLock()
        self._collect_hooks: list[Callable[[], None]] = []

    # -- backend hooks ------------------------------------------------------------------------
    def _create_family(self, name: str, spec: MetricSpec, buckets: tuple[float, ...]) -> Any:
        raise NotImplementedError

    def _create_series(self, family: Family, values: tuple[str, ...]) -> Any:
        raise NotImplementedError

    # -- the port -----------------------------------------------------------------------------
    def counter(self, name: str, labels: Labels | None = None) -> Any:
        return self._handle(MetricKind.COUNTER, name, labels)

    def histogram(self, name: str, labels: Labels | None = None) -> Any:
        return self._handle(MetricKind.HISTOGRAM, name, labels)

    def gauge(self, name: str, labels: Labels | None = None) -> Any:
        return self._handle(MetricKind.GAUGE, name, labels)

    def inc_counter(self, name: str, labels: Labels | None = None, amount: float = 1.0) -> None:
        self._cached(MetricKind.COUNTER, name, labels).inc(amount)

    def observe_histogram(self, name: str, value: float, labels: Labels | None = None) -> None:
        self._cached(MetricKind.HISTOGRAM, name, labels).observe(value)

    def set_gauge(self, name: str, value: float, labels: Labels | None = None) -> None:
        self._cached(MetricKind.GAUGE, name, labels).set(value)

    def add_collect_hook(self, hook: Callable[[], None]) -> None:
        self._collect_hooks.append(hook)

    def run_collect_hooks(self) -> None:
        """Refresh on-demand gauges; a failing hook is logged and does not stop the scrape."""
        for hook in self._collect_hooks:
            try:
                hook()
            except Exception as exc:
                log.warning("metrics_collect_hook_failed", hook=getattr(hook, "__qualname__", repr(hook)),
                            error=f"{type(exc).__name__}: {exc}")

    # -- bookkeeping --------------------------------------------------------------------------
    def _cached(self, kind: MetricKind, name: str, labels: Labels | None) -> Any:
        key = (kind, name, tuple(labels.items()) if labels else ())
        try:
            handle = self._handles.get(key)
        except TypeError:  # an unhashable label value: let _handle name the problem
            handle = None
        if handle is None:
            handle = self._handle(kind, name, labels)
            if not isinstance(handle, OverflowHandle) and len(self._handles) < 64 * self._max_series:
                self._handles[key] = handle
        return handle

    def _handle(self, kind: MetricKind, name: str, labels: Labels | None) -> Any:
        labels = labels or {}
        family = self._families.get(name)
        if family is None:
            family = self._family(kind, name, tuple(labels))
        elif family.spec.kind is not kind:
            raise ValueError(
                f"metric {name!r} is a {family.spec.kind.value}; it cannot be used as a {kind.value}"
            )
        expected = family.spec.labels
        if len(labels) != len(expected) or any(n not in labels for n in expected):
            raise ValueError(
                f"metric {name!r} has labels ({', '.join(expected)}); got ({', '.join(labels)})"
            )
        values = tuple(labels[n] for n in expected)
        for label_name, value in zip(expected, values, strict=True):
            if not isinstance(value, str):
                raise ValueError(
                    f"label {label_name!r} of metric {name!r} must be a str, got {type(value).__name__}"
                )
        child = family.children.get(values)
        if child is not None:
            return child
        with self._lock:
            child = family.children.get(values)
            if child is not None:
                return child
            # The fold counter is exempt: its label values are metric names, already bounded.
            if len(family.children) < self._max_series or family.name == OVERFLOW_METRIC:
                child = self._create_series(family, values)
                family.children[values] = child
                return child
            return self._overflow(family)

    def _overflow(self, family: Family) -> OverflowHandle:
        if family.overflow is None:
            values = tuple(OVERFLOW_LABEL_VALUE for _ in family.spec.labels)
            series = self._create_series(family, values)
            folds = self._handle(MetricKind.COUNTER, OVERFLOW_METRIC, {"metric": family.name})
            family.overflow = OverflowHandle(series, folds)
            log.warning(
                "metric_series_limit_reached",
                metric=family.name,
                limit=self._max_series,
                overflow_label_value=OVERFLOW_LABEL_VALUE,
            )
        return family.overflow

    def _family(self, kind: MetricKind, name: str, label_names: tuple[str, ...]) -> Family:
        with self._lock:
            family = self._families.get(name)
            if family is not None:
                return family
            spec = self._spec(kind, name, label_names)
            if len(self._families) >= MAX_FAMILIES:
                raise ValueError(f"cannot create metric {name!r}: at most {MAX_FAMILIES} metric names")
            buckets = spec.buckets or self._default_buckets
            family = Family(name, spec, self._create_family(name, spec, buckets))
            self._families[name] = family
            return family

    def _spec(self, kind: MetricKind, name: str, label_names: tuple[str, ...]) -> MetricSpec:
        if not isinstance(name, str) or not _METRIC_NAME.fullmatch(name):
            raise ValueError(
                f"invalid metric name {name!r}: use letters, digits, '_' and ':', not starting with a digit"
            )
        known = self._catalogue.get(name)
        if known is not None:
            if known.kind is not kind:
                raise ValueError(
                    f"metric {name!r} is a {known.kind.value}; it cannot be used as a {kind.value}"
                )
            label_names = known.labels
        if kind is MetricKind.COUNTER and not name.endswith("_total"):
            raise ValueError(f"counter name {name!r} must end with '_total'")
        if kind is not MetricKind.COUNTER and name.endswith("_total"):
            raise ValueError(f"{kind.value} name {name!r} must not end with '_total' (counters only)")
        for label in label_names:
            if (
                not isinstance(label, str)
                or not _LABEL_NAME.fullmatch(label)
                or label.startswith("__")
                or label in _RESERVED_LABELS
            ):
                raise ValueError(
                    f"invalid label name {label!r} for metric {name!r}: use letters, digits and '_', "
                    "not starting with a digit or '__', and not 'le' or 'quantile'"
                )
            if label in self._constant_names:
                raise ValueError(
                    f"label {label!r} of metric {name!r} is a constant label the adapter adds itself"
                )
        if known is not None:
            return known
        return MetricSpec(kind, f"{name} (no description in the metric catalogue)", label_names)
