"""The circuit breaker and the risk view: limits, how much of each is used, and the breaker."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import structlog

from trading_engine.domain.decimals import ZERO, plain
from trading_engine.domain.errors import ValidationError
from trading_engine.domain.orders import Order
from trading_engine.domain.portfolio import convert
from trading_engine.domain.ports.clock import Clock
from trading_engine.domain.risk import RiskLimits
from trading_engine.services.account import Account
from trading_engine.services.market import MarketView
from trading_engine.services.orders import OrderService
from trading_engine.services.trading_metrics import TradingMetrics

log = structlog.get_logger(__name__)

MAX_REASON_LENGTH = 500
BREAKER_CANCEL_REASON = "circuit_breaker_open"


@dataclass(frozen=True)
class BreakerChange:
    changed: bool
    breaker: dict[str, Any]
    cancelled: tuple[Order, ...]


def _reason(reason: str | None, *, required: bool) -> str | None:
    text = (reason or "").strip()
    if required and not text:
        raise ValidationError("reason is required to trip the breaker: say why trading halts", field="reason")
    if len(text) > MAX_REASON_LENGTH:
        raise ValidationError(f"reason must be at most {MAX_REASON_LENGTH} characters", field="reason")
    return text or None


class RiskService:
    def __init__(
        self,
        account: Account,
        orders: OrderService,
        market: MarketView,
        clock: Clock,
        metrics: TradingMetrics,
        limits: RiskLimits,
    ) -> None:
        self._account = account
        self._orders = orders
        self._market = market
        self._clock = clock
        self._metrics = metrics
        self._limits = limits

    async def trip(self, reason: str) -> BreakerChange:
        """Open the breaker: new orders are rejected and every resting order is cancelled."""
        text = _reason(reason, required=True)
        assert text is not None
        account = self._account
        account.ensure_writable()
        changed = account.breaker.trip(text, self._clock.now())
        cancelled = await self._orders.cancel_all(BREAKER_CANCEL_REASON)
        await account.save(cancelled, breaker=account.breaker.state)
        for order in cancelled:
            self._metrics.order_status(order)
        self._metrics.breaker(True)
        if changed:
            log.warning("circuit_breaker_tripped", reason=text, cancelled_orders=len(cancelled))
        return BreakerChange(changed, account.breaker.to_dict(), tuple(cancelled))

    async def reset(self, reason: str | None = None) -> BreakerChange:
        text = _reason(reason, required=False)
        account = self._account
        account.ensure_writable()
        changed = account.breaker.reset(self._clock.now())
        if changed:
            await account.save(breaker=account.breaker.state)
            log.warning("circuit_breaker_reset", reason=text)
        self._metrics.breaker(False)
        return BreakerChange(changed, account.breaker.to_dict(), ())

    def status(self) -> dict[str, Any]:
        account = self._account
        marks = self._market.marks()
        valuation = account.portfolio.valuation(marks, account.instruments)
        limits = self._limits

        def share(used: Decimal, limit: Decimal) -> str:
            return plain((used / limit) if limit > 0 else ZERO)

        positions = {}
        for item in valuation.positions:
            if item.quantity == 0:
                continue
            notional = abs(convert(item.market_value, item.currency, valuation.reporting_currency,
                                   marks, account.instruments))
            positions[item.symbol] = {
                "quantity": plain(item.quantity),
                "notional": plain(notional),
                "utilisation": share(notional, limits.max_position_notional),
            }
        return {
            "reporting_currency": valuation.reporting_currency,
            "limits": {
                "max_order_notional": plain(limits.max_order_notional),
                "max_position_notional": plain(limits.max_position_notional),
                "max_gross_exposure": plain(limits.max_gross_exposure),
                "allow_leverage": limits.allow_leverage,
            },
            "utilisation": {
                "gross_exposure": plain(valuation.gross_exposure),
                "gross_exposure_utilisation": share(valuation.gross_exposure, limits.max_gross_exposure),
                "positions": positions,
                "open_orders": len(account.open_orders),
            },
            "circuit_breaker": account.breaker.to_dict(),
            "market_data": {
                symbol: {
                    "fresh": self._market.is_fresh(symbol),
                    "age_seconds": self._market.age_seconds(symbol),
                    "stale_pricing": list(self._market.stale_pricing(symbol)),
                }
                for symbol in self._market.symbols
            },
        }
