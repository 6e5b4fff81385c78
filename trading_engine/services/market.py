"""Marks and freshness over the market data port; the ``market_data`` readiness check.

Freshness follows the pre-trade rule: orders in a symbol need its price and the price converting
its quote currency into the reporting currency fresh (ETH-BTC needs BTC-USD), so readiness waits
for those conversion prices too."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from trading_engine.domain.errors import Unavailable
from trading_engine.domain.instruments import Instrument
from trading_engine.domain.portfolio import pricing_symbols
from trading_engine.domain.ports.clock import Clock
from trading_engine.domain.ports.market_data import MarketDataPort, Quote
from trading_engine.domain.risk import stale_pricing


class MarketView:
    def __init__(
        self,
        market_data: MarketDataPort,
        instruments: Mapping[str, Instrument],
        clock: Clock,
        *,
        reporting_currency: str,
        stale_after_seconds: float,
        watched: Iterable[str] | None = None,
    ) -> None:
        self._market_data = market_data
        self._instruments = dict(instruments)
        self._reporting_currency = reporting_currency
        # The symbols served: every instrument, or those a replay has data for.
        self._symbols = tuple(sorted(instruments if not watched else watched))
        # What readiness waits for: those and the prices converting them into the reporting currency.
        self._needed = tuple(sorted({
            needed for symbol in self._symbols
            for needed in pricing_symbols(symbol, reporting_currency, self._instruments)
        }))
        self._clock = clock
        self.stale_after_seconds = stale_after_seconds

    @property
    def symbols(self) -> tuple[str, ...]:
        return self._symbols

    def quote(self, symbol: str) -> Quote | None:
        return self._market_data.latest(symbol)

    def marks(self) -> dict[str, Decimal]:
        return {symbol: quote.price for symbol, quote in self._market_data.snapshot().items()}

    def age_seconds(self, symbol: str) -> float | None:
        """Seconds since the last quote of ``symbol``; None before the first one."""
        quote = self._market_data.latest(symbol)
        if quote is None:
            return None
        return max(0.0, (self._clock.now() - quote.timestamp).total_seconds())

    def is_fresh(self, symbol: str) -> bool:
        age = self.age_seconds(symbol)
        return age is not None and age <= self.stale_after_seconds

    def stale_pricing(self, symbol: str) -> tuple[str, ...]:
        """The stale prices among those valuing ``symbol`` (itself, its conversion): while there
        is one, orders in ``symbol`` are rejected with ``market_data_stale``."""
        return stale_pricing(symbol, self._reporting_currency, self._instruments, self.is_fresh)

    def staleness(self) -> str | None:
        """None while every served symbol, and every price converting one into the reporting
        currency, has a quote younger than the limit; else the stale prices, each with its age,
        and the limit."""
        stale = [symbol for symbol in self._needed if not self.is_fresh(symbol)]
        if not stale:
            return None
        return ("stale prices: " + ", ".join(f"{symbol} ({self._described_age(symbol)})" for symbol in stale)
                + f"; a price counts as fresh up to market.stale_after_seconds {self.stale_after_seconds:g}s")

    def _described_age(self, symbol: str) -> str:
        age = self.age_seconds(symbol)
        return "no quote yet" if age is None else f"last quote {age:.1f}s ago"


class MarketDataReadiness:
    """Readiness check ``market_data``: the view's prices are fresh, else ``Unavailable`` naming
    each stale one and its age (the reason the readiness endpoint and its log line show)."""

    def __init__(self, view: MarketView) -> None:
        self._view = view

    async def is_ready(self) -> bool:
        stale = self._view.staleness()
        if stale is not None:
            raise Unavailable(stale)
        return True
