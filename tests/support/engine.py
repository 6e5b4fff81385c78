"""The engine's container over fakes: no HTTP, no files, no random feed.

``build_engine`` builds the container with ``create_container`` (the settings as config
overrides) and overrides only the I/O seams: a ``FakeClock`` (also as the wall clock),
``ScriptedMarketData`` (quotes the test pushes, stamped by the clock), the ``InMemoryTradingStore``,
``RecordingMetrics`` as the metrics port and a ``FakeFreeSpace`` probe with room to spare
(``Engine.disk``). It then runs the container's own ``trading`` resource (``run_trading``: listeners,
store, account load, collect hooks, strategy runtime, then the feed, whose start publishes the
opening quotes); ``Engine.close`` shuts the resource down. Order ids are ``ord-1``, ``ord-2``,
... and fill ids ``fil-1``, ... so a test can name an order whose placement failed.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from dependency_injector import providers

from tests.fakes import FakeClock, FakeFreeSpace, RecordingMetrics, ScriptedMarketData
from trading_engine.containers import Container, create_container
from trading_engine.domain.instruments import Instrument
from trading_engine.domain.orders import Order
from trading_engine.domain.portfolio import Portfolio
from trading_engine.domain.ports.repository import StoredState
from trading_engine.domain.risk import CircuitBreaker, RiskLimits
from trading_engine.infrastructure.market.paper_venue import PaperVenue
from trading_engine.infrastructure.persistence.memory import InMemoryTradingStore
from trading_engine.services.account import Account
from trading_engine.services.market import MarketView
from trading_engine.services.orders import OrderRequest, OrderService, PlaceResult
from trading_engine.services.portfolio import PortfolioService
from trading_engine.services.risk import RiskService
from trading_engine.services.strategy_runtime import StrategyManager
from trading_engine.services.trading_metrics import TradingMetrics

D = Decimal

BTC = Instrument.create("BTC-USD", tick_size="0.01", lot_size="0.0001", min_quantity="0.0001",
                        initial_price="50000")
ETH = Instrument.create("ETH-USD", tick_size="0.01", lot_size="0.001", min_quantity="0.001",
                        initial_price="3000")
INSTRUMENTS: dict[str, Instrument] = {BTC.symbol: BTC, ETH.symbol: ETH}
OPENING_PRICES: dict[str, Decimal] = {"BTC-USD": D("50000"), "ETH-USD": D("3000")}

# Generous limits, so a test meets only the limit it is about.
WIDE_LIMITS = RiskLimits(
    max_order_notional=D("1000000"), max_position_notional=D("1000000"), max_gross_exposure=D("1000000")
)


@dataclass
class Engine:
    container: Container
    clock: FakeClock
    market: ScriptedMarketData
    store: InMemoryTradingStore
    venue: PaperVenue
    account: Account
    orders: OrderService
    risk: RiskService
    portfolio: PortfolioService
    view: MarketView
    recorded: RecordingMetrics
    metrics: TradingMetrics
    strategies: StrategyManager
    disk: FakeFreeSpace

    async def place(self, symbol: str, side: str, quantity: str, limit_price: str | None = None,
                    **extra: object) -> Order:
        """Place an order and return it (raises what ``OrderService.place`` raises)."""
        result = await self.place_result(symbol, side, quantity, limit_price, **extra)
        return result.order

    async def place_result(self, symbol: str, side: str, quantity: str, limit_price: str | None = None,
                           **extra: object) -> PlaceResult:
        return await self.orders.place(self.request(symbol, side, quantity, limit_price, **extra))

    @staticmethod
    def request(symbol: str, side: str, quantity: str, limit_price: str | None = None,
                **extra: object) -> OrderRequest:
        return OrderRequest(
            symbol=symbol,
            side=side,
            type="market" if limit_price is None else "limit",
            quantity=D(quantity),
            limit_price=None if limit_price is None else D(limit_price),
            **extra,  # type: ignore[arg-type]
        )

    async def settle(self) -> None:
        """Wait until every venue event (later fill, expiry) is committed."""
        await self.orders.drain()

    async def close(self) -> None:
        self.venue.close()
        await self.container.trading.shutdown()


def engine_settings(
    *,
    instruments: Mapping[str, Instrument] = INSTRUMENTS,
    initial_cash: Mapping[str, str] | None = None,
    fee_bps: str = "10",
    slippage_bps: str = "2",
    limits: RiskLimits = WIDE_LIMITS,
    order_timeout_seconds: float = 0,
    liquidity: Mapping[str, str] | None = None,
    stale_after_seconds: float = 5,
    environment: str = "testing",
) -> dict[str, Any]:
    """These settings as overrides of the shipped config.yml, for ``create_container``."""
    return {
        "service": {"environment": environment},
        "auth": {"api_token": "engine-test-token-0123456789"},
        "instruments": [
            {
                "symbol": i.symbol,
                "tick_size": str(i.tick_size),
                "lot_size": str(i.lot_size),
                "min_quantity": str(i.min_quantity),
                "initial_price": str(i.initial_price),
                "liquidity": (liquidity or {}).get(i.symbol, ""),
            }
            for i in instruments.values()
        ],
        "account": {
            "reporting_currency": "USD",
            "initial_cash": ",".join(f"{c}={a}" for c, a in (initial_cash or {"USD": "10000"}).items()),
        },
        "venue": {"fee_bps": fee_bps, "slippage_bps": slippage_bps},
        "orders": {"timeout_seconds": str(order_timeout_seconds)},
        "market": {"stale_after_seconds": str(stale_after_seconds)},
        "risk": {
            "max_order_notional": str(limits.max_order_notional),
            "max_position_size": str(limits.max_position_notional),
            "limit_threshold": str(limits.max_gross_exposure),
            "allow_leverage": limits.allow_leverage,
        },
    }


def engine_container(
    settings: Mapping[str, Any], *, clock: FakeClock, market: ScriptedMarketData,
    store: InMemoryTradingStore, metrics_port: RecordingMetrics,
) -> Container:
    """``create_container`` with ``settings``; the clock (and wall clock), market data, store and
    metrics port replaced by the fakes given, the free-space probe by a ``FakeFreeSpace``; ids
    counted from 1."""
    container = create_container(overrides=settings)
    container.clock.override(providers.Object(clock))
    container.wall_clock.override(providers.Object(clock))
    container.free_space_probe.override(providers.Object(FakeFreeSpace()))
    container.market_data.override(providers.Object(market))
    container.trading_store.override(providers.Object(store))
    container.metrics_port.override(providers.Object(metrics_port))
    fill_counter, order_counter = itertools.count(1), itertools.count(1)
    container.venue.add_kwargs(fill_ids=lambda: f"fil-{next(fill_counter)}")
    container.order_service.add_kwargs(order_ids=lambda: f"ord-{next(order_counter)}")
    return container


async def start_engine(container: Container) -> Engine:
    """Run the container's ``trading`` resource: what the service does at startup."""
    await container.trading.init()
    return Engine(
        container=container,
        clock=container.clock(),
        market=container.market_data(),
        store=container.trading_store(),
        venue=container.venue(),
        account=container.account(),
        orders=container.order_service(),
        risk=container.risk_service(),
        portfolio=container.portfolio_service(),
        view=container.market_view(),
        recorded=container.metrics_port(),
        metrics=container.trading_metrics(),
        strategies=container.strategy_manager(),
        disk=container.free_space_probe(),
    )


async def build_engine(
    *,
    prices: Mapping[str, Decimal | str] | None = OPENING_PRICES,
    store: InMemoryTradingStore | None = None,
    metrics_port: RecordingMetrics | None = None,
    configure: Callable[[Container], None] | None = None,
    **settings: Any,
) -> Engine:
    """An engine over fakes, started; ``settings`` are ``engine_settings``'s; ``configure`` may
    override more providers before it starts."""
    clock = FakeClock()
    container = engine_container(
        engine_settings(**settings),
        clock=clock,
        market=ScriptedMarketData(clock, prices),
        store=store or InMemoryTradingStore(),
        metrics_port=metrics_port if metrics_port is not None else RecordingMetrics(),
    )
    if configure is not None:
        configure(container)
    return await start_engine(container)


class SlowStore(InMemoryTradingStore):
    """The in-memory store with reads and commits that yield to the event loop (as SQLite's do),
    so concurrent use cases really interleave."""

    def __init__(self, delay: float = 0.005) -> None:
        super().__init__()
        self.delay = delay

    async def commit(self, changes) -> None:  # type: ignore[no-untyped-def]
        await asyncio.sleep(self.delay)
        await super().commit(changes)

    async def get_order_by_client_id(self, client_order_id: str):  # type: ignore[no-untyped-def]
        await asyncio.sleep(self.delay)
        return await super().get_order_by_client_id(client_order_id)

    async def load_state(self):  # type: ignore[no-untyped-def]
        await asyncio.sleep(self.delay)
        return await super().load_state()


@pytest.fixture
async def make_engine() -> AsyncIterator[Callable[..., Awaitable[Engine]]]:
    """``await make_engine(**settings)`` builds an engine (see ``build_engine``); all are closed
    when the test ends."""
    engines: list[Engine] = []

    async def make(**settings: Any) -> Engine:
        engine = await build_engine(**settings)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        await engine.close()


def last_gauge(recorded: RecordingMetrics, name: str, labels: Mapping[str, str] | None = None) -> float | None:
    """The value the gauge ``name`` with exactly ``labels`` was last set to; None if never."""
    values = [c[3] for c in recorded.calls if c[0] == "gauge" and c[1] == name and c[2] == dict(labels or {})]
    return values[-1] if values else None


def counted(recorded: RecordingMetrics, name: str, **labels: str) -> float:
    """The total added to the counter ``name`` over series whose labels include ``labels``."""
    return sum(
        c[3] for c in recorded.calls
        if c[0] == "counter" and c[1] == name and all(c[2].get(k) == v for k, v in labels.items())
    )


async def assert_durable_matches_memory(engine: Engine) -> StoredState:
    """The store's state is exactly the account in memory: cash balances, positions, open orders
    (by id and content), the breaker; the venue holds exactly the open orders. Returns the state."""
    state = await engine.store.load_state()
    assert state is not None
    assert state.account == engine.account.portfolio.settings
    durable = Portfolio.restore(state.account, state.cash, state.positions)
    memory = engine.account.portfolio
    assert durable.cash == memory.cash
    assert durable.positions == memory.positions
    assert {o.order_id: o for o in state.open_orders} == engine.account.open_orders
    assert set(engine.venue.resting()) == set(engine.account.open_orders)
    assert CircuitBreaker(state.breaker) == engine.account.breaker
    return state
