"""The runtime's metrics: trades, refusals, errors, decision latency, and the P&L and active
gauges refreshed by a collect hook just before each scrape."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from trading_engine.domain.decimals import ZERO
from trading_engine.domain.portfolio import convert
from trading_engine.services.account import Account
from trading_engine.services.market import MarketView
from trading_engine.services.observability import GuardedMetrics
from trading_engine.services.strategy_runtime.instance import Instance
from trading_engine.services.strategy_runtime.performance import mark_of


class StrategyMetrics:
    def __init__(self, metrics: GuardedMetrics, account: Account, market: MarketView) -> None:
        self._metrics = metrics
        self._account = account
        self._market = market
        self._decision_handles: dict[str, Any] = {}

    def trade(self, instance: Instance, side: str) -> None:
        self._metrics.inc_counter("trading_strategy_trades_total", {"strategy": instance.spec.name, "side": side})

    def refusal(self, instance: Instance, limit_type: str) -> None:
        self._metrics.inc_counter("trading_risk_limit_breaches_total",
                                  {"limit_type": limit_type, "strategy": instance.spec.name})

    def error(self, instance: Instance) -> None:
        self._metrics.inc_counter("trading_strategy_errors_total", {"strategy": instance.spec.name})

    def decision(self, instance: Instance, seconds: float) -> None:
        strategy = instance.spec.name
        handle = self._decision_handles.get(strategy)
        if handle is None:
            handle = self._decision_handles[strategy] = self._metrics.histogram(
                "trading_strategy_decision_seconds", {"strategy": strategy}
            )
        handle.observe(seconds)

    def none_active(self, names: Iterable[str]) -> None:
        for name in names:
            self._metrics.set_gauge("trading_strategy_active", 0.0, {"strategy": name})

    def refresh(self, names: Iterable[str], instances: Iterable[Instance]) -> None:
        """Net P&L per strategy name (in the reporting currency) and active counts."""
        names = list(names)
        totals: dict[str, Decimal] = {name: ZERO for name in names}
        active: dict[str, int] = {name: 0 for name in names}
        marks = self._market.marks()
        instruments = self._account.instruments
        reporting = self._account.portfolio.reporting_currency
        for instance in instances:
            net = instance.performance.net_pnl(mark_of(self._market, instance.symbol))
            currency = instruments[instance.symbol].quote
            totals[instance.spec.name] += convert(net, currency, reporting, marks, instruments)
            if instance.running:
                active[instance.spec.name] += 1
        for name in names:
            self._metrics.set_gauge("trading_strategy_pnl", float(totals[name]), {"strategy": name})
            self._metrics.set_gauge("trading_strategy_active", float(active[name]), {"strategy": name})
