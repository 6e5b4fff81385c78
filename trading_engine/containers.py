"""The composition root: the one module that sees every layer and wires them together.

Tests replace any provider with a fake before building the app::

    container = create_container(overrides={"logging": {"level": "DEBUG"}})
    container.clock.override(providers.Object(FakeClock()))
    app = create_app(container)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

from dependency_injector import containers, providers
from prometheus_client import CollectorRegistry

from trading_engine.infrastructure.clock import SystemClock
from trading_engine.infrastructure.config import load_settings
from trading_engine.domain.ports.metrics import MetricsLabels
from trading_engine.domain.instruments import Instrument
from trading_engine.domain.risk import RiskLimits
from trading_engine.infrastructure.logging import configure_logging
from trading_engine.infrastructure.market.paper_venue import PaperVenue
from trading_engine.infrastructure.backtests.store import FileBacktestStore
from trading_engine.infrastructure.backtests.worker import ProcessBacktestWorker
from trading_engine.infrastructure.market.replay import ReplayMarketData
from trading_engine.infrastructure.market.simulated import SimulatedMarketData
from trading_engine.infrastructure.observability.noop import NoopMetricsAdapter
from trading_engine.infrastructure.persistence.archive import GzipCsvArchive
from trading_engine.infrastructure.persistence.disk_space import LocalFreeSpace
from trading_engine.infrastructure.strategy_plugins import load_catalogue
from trading_engine.services.account import Account
from trading_engine.services.archive_hint import ArchiveHint
from trading_engine.services.backtest.service import BacktestService
from trading_engine.services.disk_guard import DatabaseReadiness, DiskGuard
from trading_engine.services.health import HealthService, Lifecycle, ServiceIdentity
from trading_engine.services.market import MarketDataReadiness, MarketView
from trading_engine.services.observability import GuardedMetrics
from trading_engine.services.orders import OrderService
from trading_engine.services.portfolio import PortfolioService
from trading_engine.services.retention import ArchivingPlanner, RetentionSweep
from trading_engine.services.risk import RiskService
from trading_engine.services.strategy_runtime import InstanceRunner, StrategyManager, StrategyMetrics, StrategySettings
from trading_engine.services.trading_metrics import TradingMetrics
from trading_engine.services.updates import UpdateHub


def _instrument_table(entries: list[Mapping[str, Any]]) -> dict[str, Instrument]:
    """config.instruments (validated entries) as the domain's instruments by symbol."""
    return {
        entry["symbol"]: Instrument.create(**{k: v for k, v in entry.items() if k != "liquidity"})
        for entry in entries
    }


def _liquidity_table(entries: list[Mapping[str, Any]]) -> dict[str, Any]:
    return {entry["symbol"]: entry["liquidity"] for entry in entries if entry["liquidity"] is not None}


def _local_data_directories(persistence: Mapping[str, Any]) -> list[str]:
    """What the disk guard watches: the SQLite file's directory and the archive directory. With
    PostgreSQL the server's disk is not visible from here: only the archive directory is watched."""
    archive = [persistence["archive_dir"]]
    if persistence["backend"] == "postgres":
        return archive
    return [str(Path(persistence["db_path"]).parent), *archive]


# -- adapters imported when their provider is first called ---------------------------------------
# Each is one choice among several (a metrics backend, a store) or a part a backtest never starts
# (the gRPC server, the sweep's worker process): importing it only when built keeps their
# libraries (OpenTelemetry, asyncpg, grpc, prometheus_client's exposition) out of the processes
# that do not use them, such as a backtest's. The imports stay ``import`` statements, so the
# layer contracts still see them.
def _prometheus_adapter(**settings: Any) -> Any:
    from trading_engine.infrastructure.observability.prometheus import PrometheusMetricsAdapter

    return PrometheusMetricsAdapter(**settings)


def _otel_adapter(**settings: Any) -> Any:
    from trading_engine.infrastructure.observability.otel import OtelMetricsAdapter

    return OtelMetricsAdapter(**settings)


def _sqlite_store(db_path: str, synchronous: str) -> Any:
    from trading_engine.infrastructure.persistence.sqlite import SqliteTradingStore

    return SqliteTradingStore(db_path, synchronous=synchronous)


def _postgres_store(url: str, schema_name: str) -> Any:
    from trading_engine.infrastructure.persistence.postgres import PostgresTradingStore

    return PostgresTradingStore(url, schema_name)


def _grpc_use_cases(**use_cases: Any) -> Any:
    from trading_engine.presentation.grpc.server import UseCases

    return UseCases(**use_cases)


async def _serve_grpc(**arguments: Any) -> AsyncIterator[Any]:
    """Resource: ``serve_grpc``'s, imported when gRPC is started."""
    from trading_engine.presentation.grpc.server import serve_grpc

    async for server in serve_grpc(**arguments):
        yield server


def _batch_planner(store: Any, archive: GzipCsvArchive, logging: Mapping[str, Any]) -> Any:
    """The retention sweep's plan step: in a worker process for a store that another process can
    open too (SQLite, PostgreSQL), so that its CPU work never holds this process's GIL while
    orders are acknowledged; inline for the in-memory store (nothing to share)."""
    opener = getattr(store, "read_only_opener", None)
    if opener is None:
        return ArchivingPlanner(store, archive)
    from trading_engine.infrastructure.persistence.sweep_worker import ProcessBatchPlanner

    return ProcessBatchPlanner(opener(), archive.directory, logging=logging)


def _replayed_symbols(source: str, files: Mapping[str, Any]) -> list[str] | None:
    """On a replay, readiness waits for the symbols it has data for, not every instrument."""
    return list(files) if source == "replay" else None


def _configured_logging(settings: Mapping[str, Any]) -> Iterator[None]:
    """Resource: structlog and stdlib logging configured with ``settings`` until shutdown."""
    yield from configure_logging(**settings)


async def close_at_shutdown(component: Any) -> AsyncIterator[None]:
    """Resource: nothing to start; call the component's ``close()``, if it has one, at shutdown,
    in a worker thread (a last push to a slow collector must not block the event loop)."""
    yield
    close = getattr(component, "close", None)
    if close is not None:
        await asyncio.to_thread(close)


async def run_trading(
    store: Any, account: Account, feed: Any, venue: Any, orders: OrderService, portfolio: PortfolioService,
    metrics: TradingMetrics, strategies: StrategyManager, disk_guard: DiskGuard, replay_resume: bool = False,
) -> AsyncIterator[None]:
    """Resource: connect the venue's reports to the order use case and its fills to the strategy
    runtime, open the store, (on a replay with ``replay_resume``) skip the events up to the newest
    time stored, load the account (resting orders go back to the venue), resume the strategy
    runtime, start the price feed; on shutdown stop them in reverse, finish writing venue events,
    close the store."""
    venue.set_listener(orders)
    orders.add_fill_listener(strategies.on_fill)
    orders.add_fill_listener(strategies.count_trade, durable=True)
    if isinstance(feed, ReplayMarketData):
        feed.set_settle(strategies.settle_each_batch())
    await store.start()
    try:
        if replay_resume and isinstance(feed, ReplayMarketData):
            # Before anything reads the clock: the account, the strategies and the marks start
            # where the last run had got to, not at the data's beginning.
            await feed.resume_after(await store.latest_update())
        await account.load()
        metrics.port.add_collect_hook(portfolio.refresh_gauges)
        metrics.port.add_collect_hook(strategies.refresh_gauges)
        metrics.port.add_collect_hook(disk_guard.refresh)
        metrics.breaker(account.breaker.is_open)
        # Strategies resume before the first price: no fill of theirs can come before they do.
        await strategies.start_runtime()
        try:
            await feed.start()
            try:
                yield
            finally:
                await feed.stop()
        finally:
            await strategies.shutdown()
            await orders.drain()
    finally:
        await store.stop()


async def run_retention(sweep: RetentionSweep, trading: Any = None) -> AsyncIterator[RetentionSweep]:
    """Resource: the retention sweep in the background while trading runs (after ``trading``
    started, stopped before it stops)."""
    await sweep.start()
    task = asyncio.create_task(sweep.run(), name="retention-sweep")
    try:
        yield sweep
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await sweep.close()


async def run_backtests(service: BacktestService) -> AsyncIterator[None]:
    """Resource: read the stored backtests (those left running are recorded cancelled); at
    shutdown cancel the running and queued ones, recorded as cancelled."""
    await service.start()
    try:
        yield
    finally:
        await service.shutdown()


class Container(containers.DeclarativeContainer):
    config = providers.Configuration(strict=True)

    # Notices from config validation (e.g. an instance name normalised), logged once at startup.
    startup_notices = providers.Object(())

    # The arguments of configure_logging: the service's, and the retention worker's process.
    logging_settings = providers.Dict(
        level=config.logging.level,
        fmt=config.logging.format,
        service=config.service.name,
        instance=config.service.instance_name,
        version=config.service.version,
        environment=config.service.environment,
        # Redacted from every log line (the API token as it ends up in the config, generated or not).
        secrets=providers.List(config.auth.api_token, config.metrics.bearer_token),
    )
    logging = providers.Resource(_configured_logging, logging_settings)

    # -- market data: the random walk, or a replay of files whose clock is the data's --------------
    replay = providers.Singleton(
        ReplayMarketData,
        files=config.market.replay_files,
        speed=config.market.replay_speed,
    )
    clock = providers.Selector(
        config.market.source,
        simulated=providers.Singleton(SystemClock),
        replay=replay.provided.clock,
    )
    # Time on this machine, also on a replay (whose clock is the data's).
    wall_clock = providers.Singleton(SystemClock)

    identity = providers.Singleton(
        ServiceIdentity,
        name=config.service.name,
        instance=config.service.instance_name,
        version=config.service.version,
        environment=config.service.environment,
    )

    # -- metrics: the port the domain owns, the adapter chosen by config.metrics.backend --------
    metrics_constant_labels = providers.Callable(
        lambda identity: MetricsLabels(identity.name, identity.instance, identity.version).constant_labels(),
        identity,
    )
    # A registry per container (never prometheus_client's global REGISTRY).
    metrics_registry = providers.Singleton(CollectorRegistry)
    metrics_port = providers.Selector(
        config.metrics.backend,
        prometheus=providers.Singleton(
            _prometheus_adapter,
            constant_labels=metrics_constant_labels,
            registry=metrics_registry,
            buckets=config.metrics.histogram_buckets,
            max_series_per_metric=config.metrics.max_series_per_metric,
        ),
        opentelemetry=providers.Singleton(
            _otel_adapter,
            constant_labels=metrics_constant_labels,
            registry=metrics_registry,
            buckets=config.metrics.histogram_buckets,
            max_series_per_metric=config.metrics.max_series_per_metric,
            otlp_endpoint=config.metrics.otlp_endpoint,
            otlp_export_interval_ms=config.metrics.otlp_export_interval_ms,
        ),
        none=providers.Singleton(NoopMetricsAdapter),
    )
    # Flushes and stops a backend that pushes (OpenTelemetry's OTLP reader) at shutdown.
    metrics_shutdown = providers.Resource(close_at_shutdown, metrics_port)
    # The port every use case and middleware records through: a failing backend never fails them.
    guarded_metrics = providers.Singleton(GuardedMetrics, metrics_port)

    # -- trading: instruments, market data, venue, store, use cases ------------------------------
    instruments = providers.Callable(_instrument_table, config.instruments)

    market_data = providers.Selector(
        config.market.source,
        simulated=providers.Singleton(
            SimulatedMarketData,
            instruments=instruments,
            clock=clock,
            tick_interval_seconds=config.market.tick_interval_seconds,
            volatility_bps=config.market.volatility_bps,
            seed=config.market.seed,
        ),
        replay=replay,
    )
    market_view = providers.Singleton(
        MarketView, market_data, instruments, clock, stale_after_seconds=config.market.stale_after_seconds,
        reporting_currency=config.account.reporting_currency,
        watched=providers.Callable(_replayed_symbols, config.market.source, config.market.replay_files),
    )
    venue = providers.Singleton(
        PaperVenue,
        market_data=market_data,
        instruments=instruments,
        clock=clock,
        slippage_bps=config.venue.slippage_bps,
        fee_bps=config.venue.fee_bps,
        order_timeout_seconds=config.orders.timeout_seconds,
        liquidity=providers.Callable(_liquidity_table, config.instruments),
    )
    trading_store = providers.Selector(
        config.persistence.backend,
        sqlite=providers.Singleton(
            _sqlite_store, config.persistence.db_path, synchronous=config.persistence.synchronous
        ),
        postgres=providers.Singleton(_postgres_store, config.persistence.url, config.persistence.schema_name),
    )
    # New orders are refused while the local data directory's disk is nearly full.
    free_space_probe = providers.Singleton(
        LocalFreeSpace, providers.Callable(_local_data_directories, config.persistence)
    )
    disk_guard = providers.Singleton(
        DiskGuard, free_space_probe, wall_clock, guarded_metrics, min_free_bytes=config.persistence.min_free_bytes
    )
    risk_limits = providers.Singleton(
        RiskLimits,
        max_order_notional=config.risk.max_order_notional,
        max_position_notional=config.risk.max_position_size,
        max_gross_exposure=config.risk.limit_threshold,
        allow_leverage=config.risk.allow_leverage,
    )
    trading_metrics = providers.Singleton(TradingMetrics, guarded_metrics, providers.Callable(list, instruments))
    account = providers.Singleton(
        Account,
        trading_store,
        venue,
        instruments,
        reporting_currency=config.account.reporting_currency,
        initial_cash=config.account.initial_cash,
        fee_bps=config.venue.fee_bps,
    )
    # What a 404 for an unknown order id says: finished orders older than the retention are archived.
    archive_hint = providers.Singleton(
        ArchiveHint,
        retention=config.persistence.retention,
        archive_dir=config.persistence.archive_dir,
    )
    order_service = providers.Singleton(
        OrderService,
        account,
        trading_store,
        venue,
        market_view,
        clock,
        trading_metrics,
        limits=risk_limits,
        fee_bps=config.venue.fee_bps,
        slippage_bps=config.venue.slippage_bps,
        archive_hint=archive_hint,
        disk_guard=disk_guard,
    )
    risk_service = providers.Singleton(
        RiskService, account, order_service, market_view, clock, trading_metrics, risk_limits
    )
    portfolio_service = providers.Singleton(PortfolioService, account, market_view, trading_metrics)

    # -- strategies ---------------------------------------------------------------------------------
    # The built-ins, the installed entry points and strategies.modules (see strategy_plugins).
    strategy_catalogue = providers.Singleton(load_catalogue, config.strategies.modules)
    strategy_settings = providers.Singleton(
        StrategySettings,
        enable_chaos=config.strategies.enable_chaos,
        resume_on_start=config.strategies.resume_on_start,
        max_instances=config.strategies.max_instances,
        max_position_notional=config.strategies.max_position_notional,
        max_orders_per_second=config.strategies.max_orders_per_second,
        max_open_orders=config.strategies.max_open_orders,
        breaker_after_limit_hits=config.strategies.breaker_after_limit_hits,
        limit_hits_window_seconds=config.strategies.limit_hits_window_seconds,
        performance_interval_seconds=config.strategies.performance_interval_seconds,
    )
    strategy_metrics = providers.Singleton(StrategyMetrics, guarded_metrics, account, market_view)
    # Status changes, fills and P&L samples of the instances, for the gRPC stream's subscribers.
    strategy_updates = providers.Singleton(UpdateHub, capacity=config.grpc.stream_buffer)
    strategy_runner = providers.Singleton(
        InstanceRunner, order_service, risk_service, account, market_view, clock, strategy_metrics, strategy_settings,
        updates=strategy_updates,
    )
    strategy_manager = providers.Singleton(
        StrategyManager,
        strategy_runner,
        account,
        market_data,
        market_view,
        trading_store,
        clock,
        strategy_metrics,
        strategy_settings,
        strategy_catalogue,
        environment=config.service.environment,
    )

    trading = providers.Resource(
        run_trading,
        store=trading_store,
        account=account,
        feed=market_data,
        venue=venue,
        orders=order_service,
        portfolio=portfolio_service,
        metrics=trading_metrics,
        strategies=strategy_manager,
        disk_guard=disk_guard,
        replay_resume=config.market.replay_resume,
    )

    # -- retention: finished orders older than persistence.retention go to the archive files ------
    order_archive = providers.Singleton(GzipCsvArchive, config.persistence.archive_dir)
    retention_planner = providers.Singleton(_batch_planner, trading_store, order_archive, logging_settings)
    retention_sweep = providers.Singleton(
        RetentionSweep,
        trading_store,
        retention_planner,
        clock,
        guarded_metrics,
        retention=config.persistence.retention,
        interval=config.persistence.retention_sweep_interval,
        batch_size=config.persistence.retention_batch_size,
    )
    retention = providers.Resource(run_retention, retention_sweep, trading=trading)

    # -- backtests submitted through the API: worker processes, records on disk -----------------
    backtest_store = providers.Singleton(FileBacktestStore, config.backtests.results_dir)
    backtest_worker = providers.Singleton(ProcessBacktestWorker, config)
    backtest_service = providers.Singleton(
        BacktestService,
        backtest_store,
        backtest_worker,
        guarded_metrics,  # a failing metrics backend never fails a backtest
        clock=wall_clock,  # a backtest's own times are wall times, even on a replay
        check_strategy=strategy_manager.provided.check,
        data_dir=config.backtests.data_dir,
        max_concurrent=config.backtests.max_concurrent,
    )
    backtests = providers.Resource(run_backtests, backtest_service)

    lifecycle = providers.Singleton(Lifecycle)

    # Readiness checks by name; components add theirs here.
    readiness_checks = providers.Dict(
        lifecycle=lifecycle,
        database=providers.Singleton(DatabaseReadiness, trading_store, disk_guard),
        market_data=providers.Singleton(MarketDataReadiness, market_view),
    )

    health_service = providers.Singleton(
        HealthService,
        identity=identity,
        checks=readiness_checks,
        timeout_seconds=config.health.readiness_timeout_seconds,
        clock=clock,
    )

    # -- the gRPC API: served beside HTTP, after trading starts and stopped before it stops -------
    grpc_server = providers.Resource(
        _serve_grpc,
        enabled=config.grpc.enabled,
        settings=config.grpc,
        shutdown_timeout_seconds=config.http.shutdown_timeout_seconds,
        api_token=config.auth.api_token,
        use_cases=providers.Factory(
            _grpc_use_cases,
            orders=order_service,
            portfolio=portfolio_service,
            risk=risk_service,
            market=market_view,
            strategies=strategy_manager,
            health=health_service,
        ),
        metrics=guarded_metrics,
        market_data=market_data,
        strategy_updates=strategy_updates,
        trading=trading,
    )


def create_container(
    config_path: Path | None = None, overrides: Mapping[str, Any] | None = None
) -> Container:
    """Load the shipped config.yml, merge ``config_path`` and ``overrides`` over it, validate, and
    hand the container the typed values.

    Raises :class:`ConfigError` (one line, names key, value and what is allowed) on any bad value,
    and :class:`StrategyLoadError` (one line) when a strategy plug-in cannot be loaded.
    """
    settings = load_settings(config_path, overrides)
    container = Container()
    container.config.from_dict(settings.model_dump())
    container.startup_notices.override(providers.Object(settings.notices()))
    container.strategy_catalogue()  # a plug-in that cannot load refuses startup here
    return container
