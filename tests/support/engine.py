"""The trading use cases wired like ``containers.py`` does, over fakes: no HTTP, no files, no feed.

``build_engine`` mirrors the container's trading section: a real ``PaperVenue`` over
``ScriptedMarketData`` (quotes the test pushes, stamped by a ``FakeClock``), the
``InMemoryTradingStore``, ``Account``, ``OrderService``, ``RiskService``, ``PortfolioService``,
``MarketView`` and ``TradingMetrics`` over ``RecordingMetrics``. It starts what the container's
``run_trading`` resource starts (store, account load, collect hook) and publishes an opening quote
for every instrument; ``Engine.close`` undoes it all. Order ids are ``ord-1``, ``ord-2``, ... and
fill ids ``fil-1``, ... so a test can name an order whose placement failed.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from tests.fakes import FakeClock, RecordingMetrics, ScriptedMarketData
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
    initial_cash: dict[str, Decimal] = field(default_factory=dict)

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
        await self.orders.drain()
        await self.store.stop()


async def build_engine(
    *,
    instruments: Mapping[str, Instrument] = INSTRUMENTS,
    initial_cash: Mapping[str, str] | None = None,
    fee_bps: str = "10",
    slippage_bps: str = "2",
    limits: RiskLimits = WIDE_LIMITS,
    order_timeout_seconds: float = 0,
    liquidity: Mapping[str, str] | None = None,
    stale_after_seconds: float = 5,
    prices: Mapping[str, Decimal | str] | None = OPENING_PRICES,
    store: InMemoryTradingStore | None = None,
    metrics_port: RecordingMetrics | None = None,
) -> Engine:
    clock = FakeClock()
    market = ScriptedMarketData(clock)
    cash = {currency: D(amount) for currency, amount in (initial_cash or {"USD": "10000"}).items()}
    store = store or InMemoryTradingStore()
    fill_counter = itertools.count(1)
    order_counter = itertools.count(1)
    venue = PaperVenue(
        market,
        instruments,
        clock,
        slippage_bps=D(slippage_bps),
        fee_bps=D(fee_bps),
        order_timeout_seconds=order_timeout_seconds,
        liquidity={symbol: D(q) for symbol, q in (liquidity or {}).items()},
        fill_ids=lambda: f"fil-{next(fill_counter)}",
    )
    view = MarketView(market, instruments, clock, stale_after_seconds=stale_after_seconds)
    recorded = metrics_port if metrics_port is not None else RecordingMetrics()
    metrics = TradingMetrics(recorded, list(instruments))
    account = Account(store, venue, instruments, reporting_currency="USD", initial_cash=cash, fee_bps=D(fee_bps))
    orders = OrderService(
        account, store, venue, view, clock, metrics,
        limits=limits, fee_bps=D(fee_bps), slippage_bps=D(slippage_bps),
        order_ids=lambda: f"ord-{next(order_counter)}",
    )
    risk = RiskService(account, orders, view, clock, metrics, limits)
    portfolio = PortfolioService(account, view, metrics)
    # What run_trading does: open the store, load the account, hook the gauges, then the feed.
    await store.start()
    await account.load()
    metrics.port.add_collect_hook(portfolio.refresh_gauges)
    metrics.breaker(account.breaker.is_open)
    if prices:
        market.push_many(dict(prices))
    return Engine(clock, market, store, venue, account, orders, risk, portfolio, view, recorded, metrics, cash)


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
