"""Marks and freshness over the market data port; the ``market_data`` readiness check."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from trading_engine.domain.instruments import Instrument
from trading_engine.domain.ports.clock import Clock
from trading_engine.domain.ports.market_data import MarketDataPort, Quote


class MarketView:
    def __init__(
        self,
        market_data: MarketDataPort,
        instruments: Mapping[str, Instrument],
        clock: Clock,
        *,
        stale_after_seconds: float,
        watched: Iterable[str] | None = None,
    ) -> None:
        self._market_data = market_data
        # The symbols readiness waits for: every instrument, or those a replay has data for.
        self._symbols = tuple(sorted(instruments if not watched else watched))
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

    def all_fresh(self, symbols: Iterable[str] | None = None) -> bool:
        return all(self.is_fresh(s) for s in (self._symbols if symbols is None else symbols))

    async def is_ready(self) -> bool:
        """Readiness check ``market_data``: every instrument has a quote younger than the limit."""
        return self.all_fresh()
