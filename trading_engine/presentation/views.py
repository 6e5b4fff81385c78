"""What the HTTP and gRPC APIs both answer, as JSON-ready dicts built from the use cases: one
definition per answer, which each transport renders (JSON, protobuf messages with the same
field names)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from trading_engine.domain.timefmt import isoformat_utc
from trading_engine.services.market import MarketView
from trading_engine.services.portfolio import PortfolioService
from trading_engine.services.strategy_runtime import Instance, StrategyManager


def instance_view(instance: Instance) -> dict[str, Any]:
    record = instance.record()
    return {
        "strategy_id": record.strategy_id,
        "strategy": record.strategy,
        "symbol": record.symbol,
        "params": dict(record.params),
        "status": record.status,
        "reason": record.reason,
        "created_at": isoformat_utc(record.created_at),
        "updated_at": isoformat_utc(record.updated_at),
        "position": instance.performance.position.quantity,
        "trades": instance.performance.trades,
        "limit_hits": instance.limits.hits,
    }


async def positions_view(
    portfolio: PortfolioService, strategies: StrategyManager, strategy_id: str | None
) -> list[dict[str, Any]]:
    """Open positions at the current marks; with ``strategy_id``, the one symbol that instance
    trades, attributed to it (NotFound for an unknown instance)."""
    if strategy_id is None:
        return [asdict(p) for p in portfolio.positions()]
    perf = strategies.performance_of(await strategies.find(strategy_id))
    if perf["position"] == 0:
        return []
    return [{
        "symbol": perf["symbol"], "currency": perf["currency"], "quantity": perf["position"],
        "average_entry_price": perf["average_entry_price"], "unrealized_pnl": perf["unrealized_pnl"],
        "realized_pnl": perf["realized_pnl"], "fees_paid": perf["fees"], "strategy_id": strategy_id,
    }]


def portfolio_view(portfolio: PortfolioService) -> dict[str, Any]:
    v = portfolio.valuation()
    return {**asdict(v), "net_pnl": v.realized_pnl + v.unrealized_pnl - v.fees}


def price_view(market: MarketView, symbol: str) -> dict[str, Any]:
    quote = market.quote(symbol)
    return {
        "symbol": symbol,
        "price": None if quote is None else quote.price,
        "timestamp": None if quote is None else isoformat_utc(quote.timestamp),
        "age_seconds": market.age_seconds(symbol),
        "fresh": market.is_fresh(symbol),
    }
