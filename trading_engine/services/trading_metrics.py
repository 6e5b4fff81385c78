"""The business metrics, recorded through the metrics port with bounded labels.

``symbol`` takes only configured instrument symbols (anything else is ``unknown``); ``side``,
``type``, ``status``, ``reason`` and ``kind`` come from enumerations. Gauges that are cheaper to
compute than to keep current (equity, P&L, exposure, market data age) are refreshed by a collect
hook just before each scrape renders, never on a timer.
"""

from __future__ import annotations

from collections.abc import Iterable

from trading_engine.domain.orders import Fill, Order, OrderSnapshot, OrderStatus, RejectReason
from trading_engine.services.observability import GuardedMetrics

UNKNOWN_SYMBOL = "unknown"


class TradingMetrics:
    def __init__(self, metrics: GuardedMetrics, symbols: Iterable[str]) -> None:
        self.port = metrics
        self._symbols = frozenset(symbols)
        self._processing = self.port.histogram("order_processing_seconds")

    def symbol(self, symbol: str) -> str:
        return symbol if symbol in self._symbols else UNKNOWN_SYMBOL

    def order_status(self, order: Order | OrderSnapshot) -> None:
        """Count ``order`` entering its status (an order's current one, or a snapshot's)."""
        request = order.request
        self.port.inc_counter(
            "orders_total",
            {
                "symbol": self.symbol(request.symbol),
                "side": request.side.value,
                "type": request.type.value,
                "status": order.status.value,
            },
        )

    def rejection(self, reason: RejectReason) -> None:
        self.port.inc_counter("order_rejections_total", {"reason": reason.value})

    def fill(self, fill: Fill) -> None:
        self.port.inc_counter("fills_total", {"symbol": self.symbol(fill.symbol), "side": fill.side.value})

    def processing(self, seconds: float) -> None:
        self._processing.observe(seconds)

    def breaker(self, is_open: bool) -> None:
        self.port.set_gauge("risk_circuit_breaker_open", 1.0 if is_open else 0.0)


def entered_new_status(before: OrderStatus, order: Order) -> bool:
    """Whether ``order`` moved to a status it was not in (repeated partial fills count once)."""
    return order.status is not before
