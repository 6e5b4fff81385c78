"""Positions and P&L at the current marks, and the portfolio gauges refreshed on each scrape."""

from __future__ import annotations

from decimal import Decimal

from trading_engine.domain.portfolio import PortfolioValuation, PositionValuation, convert
from trading_engine.services.account import Account
from trading_engine.services.market import MarketView
from trading_engine.services.trading_metrics import TradingMetrics


class PortfolioService:
    def __init__(self, account: Account, market: MarketView, metrics: TradingMetrics) -> None:
        self._account = account
        self._market = market
        self._metrics = metrics

    def valuation(self) -> PortfolioValuation:
        return self._account.portfolio.valuation(self._market.marks(), self._account.instruments)

    def equity(self) -> Decimal:
        """``valuation().equity`` alone, for a caller that needs nothing else."""
        return self._account.portfolio.equity(self._market.marks(), self._account.instruments)

    def in_reporting(self, item: PositionValuation, valuation: PortfolioValuation) -> Decimal:
        """The absolute market value of a position in the reporting currency."""
        return abs(convert(item.market_value, item.currency, valuation.reporting_currency,
                           self._market.marks(), self._account.instruments))

    def positions(self) -> tuple[PositionValuation, ...]:
        """Open (non-flat) positions."""
        return tuple(p for p in self.valuation().positions if p.quantity != 0)

    def refresh_gauges(self) -> None:
        """Collect hook: set the portfolio and market gauges from the state at scrape time."""
        port = self._metrics.port
        for symbol in self._market.symbols:
            age = self._market.age_seconds(symbol)
            if age is not None:
                port.set_gauge("market_data_age_seconds", age, {"symbol": symbol})
        port.set_gauge("risk_circuit_breaker_open", 1.0 if self._account.breaker.is_open else 0.0)
        valuation = self.valuation()
        held = {p.symbol: p for p in valuation.positions if p.quantity != 0}
        port.set_gauge("positions_active", float(len(held)))
        for symbol in self._market.symbols:
            notional = self.in_reporting(held[symbol], valuation) if symbol in held else 0
            port.set_gauge("position_notional", float(notional), {"symbol": symbol})
        port.set_gauge("portfolio_equity", float(valuation.equity))
        port.set_gauge("portfolio_pnl", float(valuation.realized_pnl), {"kind": "realized"})
        port.set_gauge("portfolio_pnl", float(valuation.unrealized_pnl), {"kind": "unrealized"})
