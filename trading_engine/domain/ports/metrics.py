"""The metrics port: what the service measures, independent of the backend that exposes it.

Use cases and middlewares record through :class:`MetricsPort`; infrastructure provides the adapter
(Prometheus, OpenTelemetry, none), chosen by configuration in the container. Label values are
``str`` and every label has a bounded set of values; an adapter folds label sets past its
per-metric limit into one overflow series rather than growing without bound.

Two forms of every operation:

* ``inc_counter(name, labels)`` / ``observe_histogram`` / ``set_gauge``: one call, one update;
* ``counter(name, labels)`` / ``histogram`` / ``gauge``: resolve the name and label set once and
  get a bound handle whose ``inc``/``observe``/``set`` is a single operation. Hot paths (the HTTP
  middleware) keep handles instead of building label dicts per request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

Labels = Mapping[str, str]


class MetricKind(str, Enum):
    COUNTER = "counter"
    HISTOGRAM = "histogram"
    GAUGE = "gauge"


class BoundCounter(Protocol):
    def inc(self, amount: float = 1.0) -> None: ...


class BoundHistogram(Protocol):
    def observe(self, value: float) -> None: ...


class BoundGauge(Protocol):
    def set(self, value: float) -> None: ...


class MetricsPort(Protocol):
    def inc_counter(self, name: str, labels: Labels | None = None, amount: float = 1.0) -> None:
        """Add ``amount`` (>= 0) to the counter ``name`` (which ends in ``_total``)."""
        ...

    def observe_histogram(self, name: str, value: float, labels: Labels | None = None) -> None:
        """Record one observation (in base units: seconds, bytes) in the histogram ``name``."""
        ...

    def set_gauge(self, name: str, value: float, labels: Labels | None = None) -> None:
        """Set the gauge ``name`` to ``value``."""
        ...

    def counter(self, name: str, labels: Labels | None = None) -> BoundCounter:
        """A handle on one series of the counter ``name``."""
        ...

    def histogram(self, name: str, labels: Labels | None = None) -> BoundHistogram:
        """A handle on one series of the histogram ``name``."""
        ...

    def gauge(self, name: str, labels: Labels | None = None) -> BoundGauge:
        """A handle on one series of the gauge ``name``."""
        ...

    def add_collect_hook(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` before each scrape renders, to refresh gauges that are cheaper to compute
        on demand than to keep current."""
        ...

    def get_http_handler(self) -> Callable[[Any], Awaitable[Any]]:
        """An HTTP handler (for the web framework in use) that serves the metrics exposition."""
        ...


@dataclass(frozen=True)
class MetricsLabels:
    """The labels of the service's HTTP metrics; the first three are constant per instance."""

    service: str = ""
    instance: str = ""
    version: str = ""
    method: str = ""
    route: str = ""
    code: str = ""

    def to_dict(self) -> dict[str, str]:
        """Only the labels that are set."""
        return {k: v for k, v in self.__dict__.items() if v}

    def constant_labels(self) -> dict[str, str]:
        """The labels every series of this instance carries: service, instance, version."""
        return {"service": self.service, "instance": self.instance, "version": self.version}


@dataclass(frozen=True)
class MetricSpec:
    """A metric the service knows: its kind, help text and label names (constant labels excluded)."""

    kind: MetricKind
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] | None = None  # None: the configured default buckets


HTTP_LABELS = ("method", "route", "code")
GRPC_LABELS = ("grpc_type", "grpc_service", "grpc_method")

# The catalogue of the service's own metrics. Adapters take help text and label names from here;
# a name missing from it still works, with a generic help text.
CATALOGUE: Mapping[str, MetricSpec] = {
    "http_requests_total": MetricSpec(
        MetricKind.COUNTER,
        "HTTP requests served, by method, route template and status code.",
        HTTP_LABELS,
    ),
    "http_request_duration_seconds": MetricSpec(
        MetricKind.HISTOGRAM,
        "Time from receiving an HTTP request to its response being ready, in seconds.",
        HTTP_LABELS,
    ),
    "http_request_errors_total": MetricSpec(
        MetricKind.COUNTER,
        "HTTP responses with a status of 400 or above, by method, route template and status code.",
        HTTP_LABELS,
    ),
    "grpc_server_started_total": MetricSpec(
        MetricKind.COUNTER,
        "gRPC calls started on the server, by type (unary, server_stream, ...), service and method.",
        GRPC_LABELS,
    ),
    "grpc_server_handled_total": MetricSpec(
        MetricKind.COUNTER,
        "gRPC calls completed on the server, by type, service, method and status code (OK, NotFound, ...: as Go spells them).",
        (*GRPC_LABELS, "grpc_code"),
    ),
    "grpc_server_handling_seconds": MetricSpec(
        MetricKind.HISTOGRAM,
        "Time from a gRPC call starting to its status being ready (a stream: to its end), in seconds.",
        GRPC_LABELS,
    ),
    "grpc_server_msg_received_total": MetricSpec(
        MetricKind.COUNTER, "Request messages received by gRPC calls, by type, service and method.", GRPC_LABELS
    ),
    "grpc_server_msg_sent_total": MetricSpec(
        MetricKind.COUNTER, "Response messages sent by gRPC calls, by type, service and method.", GRPC_LABELS
    ),
    "orders_total": MetricSpec(
        MetricKind.COUNTER,
        "Orders entering a status (open, partially_filled, filled, cancelled, rejected, expired), "
        "by symbol, side and type.",
        ("symbol", "side", "type", "status"),
    ),
    "order_rejections_total": MetricSpec(
        MetricKind.COUNTER, "Orders rejected by pre-trade risk, by reason code.", ("reason",)
    ),
    "fills_total": MetricSpec(
        MetricKind.COUNTER, "Fills received from the venue and stored, by symbol and side.", ("symbol", "side")
    ),
    "order_processing_seconds": MetricSpec(
        MetricKind.HISTOGRAM,
        "Time from accepting an order request to acknowledging it durably, in seconds.",
    ),
    "positions_active": MetricSpec(MetricKind.GAUGE, "Symbols with a non-zero position."),
    "position_notional": MetricSpec(
        MetricKind.GAUGE, "Absolute market value of the position, in the reporting currency.", ("symbol",)
    ),
    "portfolio_equity": MetricSpec(
        MetricKind.GAUGE, "Cash plus the market value of every position, in the reporting currency."
    ),
    "portfolio_pnl": MetricSpec(
        MetricKind.GAUGE,
        "Profit and loss in the reporting currency: kind=realized (closed, gross of fees) or "
        "kind=unrealized (open positions at the current mark).",
        ("kind",),
    ),
    "risk_circuit_breaker_open": MetricSpec(
        MetricKind.GAUGE, "1 while the circuit breaker halts trading, else 0."
    ),
    "market_data_age_seconds": MetricSpec(
        MetricKind.GAUGE, "Seconds since the last price of the instrument.", ("symbol",)
    ),
    "trading_strategy_active": MetricSpec(
        MetricKind.GAUGE, "Strategy instances running, by strategy name.", ("strategy",)
    ),
    "trading_strategy_trades_total": MetricSpec(
        MetricKind.COUNTER, "Fills of strategy orders, by strategy name and side.", ("strategy", "side")
    ),
    "trading_strategy_pnl": MetricSpec(
        MetricKind.GAUGE,
        "Net P&L (realized + unrealized - fees) of every instance of the strategy, in the reporting currency.",
        ("strategy",),
    ),
    "trading_strategy_errors_total": MetricSpec(
        MetricKind.COUNTER, "Strategy instances stopped by an error in the strategy, by strategy name.",
        ("strategy",),
    ),
    "trading_risk_limit_breaches_total": MetricSpec(
        MetricKind.COUNTER,
        "Strategy intents refused, by limit_type (order_rate, max_position, max_open_orders, pre_trade) "
        "and strategy name.",
        ("limit_type", "strategy"),
    ),
    "trading_strategy_decision_seconds": MetricSpec(
        MetricKind.HISTOGRAM,
        "Time from a price tick reaching a strategy instance to the strategy handing the runtime its "
        "intents (then submitted through the order use case), in seconds; ticks without intents are "
        "not observed.",
        ("strategy",),
        buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
    ),
    "backtests_total": MetricSpec(
        MetricKind.COUNTER, "Backtests submitted through the API that finished, by status (done, failed, cancelled).",
        ("status",),
    ),
    "backtests_running": MetricSpec(MetricKind.GAUGE, "Backtests running in worker processes now."),
    "backtest_events_total": MetricSpec(MetricKind.COUNTER, "Market data events replayed by finished backtests."),
    "backtest_duration_seconds": MetricSpec(
        MetricKind.HISTOGRAM, "Time a backtest took from starting in its worker to its report, in seconds.",
        buckets=(0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0),
    ),
    "store_rows": MetricSpec(
        MetricKind.GAUGE,
        "Rows in the trading store by kind (orders, fills, open_orders), refreshed by each retention sweep.",
        ("kind",),
    ),
    "store_size_bytes": MetricSpec(
        MetricKind.GAUGE,
        "Size of the trading store on disk in bytes (SQLite: the file and its WAL; PostgreSQL: the schema's "
        "tables with their indexes and TOAST), refreshed by each retention sweep.",
    ),
    "store_oldest_terminal_order_age_seconds": MetricSpec(
        MetricKind.GAUGE,
        "Seconds since the last update of the oldest finished order still in the store (0 when there is "
        "none), refreshed by each retention sweep.",
    ),
    "store_retention_seconds": MetricSpec(
        MetricKind.GAUGE,
        "The configured retention (persistence.retention) in seconds; 0 keeps everything.",
    ),
    "archive_rows_total": MetricSpec(
        MetricKind.COUNTER, "Rows written to the archive files, by kind (orders, fills).", ("kind",)
    ),
    "retention_sweep_seconds": MetricSpec(
        MetricKind.HISTOGRAM,
        "Time one retention sweep took (every aged order archived and deleted), in seconds.",
        buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0),
    ),
    "store_free_bytes": MetricSpec(
        MetricKind.GAUGE,
        "Free bytes on the filesystem of the local data directory (the SQLite file's or the "
        "archive's, whichever has less), as the disk guard last saw them; below "
        "persistence.min_free_bytes new orders are refused.",
    ),
    "metrics_series_overflow_total": MetricSpec(
        MetricKind.COUNTER,
        "Updates folded into a metric's overflow series because it reached its label-set limit.",
        ("metric",),
    ),
}

OVERFLOW_METRIC = "metrics_series_overflow_total"
OVERFLOW_LABEL_VALUE = "__overflow__"
