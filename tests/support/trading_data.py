"""Orders, fills, accounts and strategy records for store tests, plus a SQLite connection factory
tests can steer."""

from __future__ import annotations

import itertools
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from trading_engine.domain.instruments import Instrument
from trading_engine.domain.orders import Fill, Order, OrderStatus, RejectReason
from trading_engine.domain.portfolio import Portfolio
from trading_engine.domain.ports.repository import ChangeSet
from trading_engine.domain.strategy_record import StrategyRecord, StrategyStatus

T0 = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
_fill_ids = itertools.count(1)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def make_order(
    order_id: str,
    status: OrderStatus | str = OrderStatus.OPEN,
    *,
    symbol: str = "BTC-USD",
    side: str = "buy",
    quantity: str = "1.500000000000000001",
    price: str = "100.25",
    strategy_id: str | None = None,
    client_order_id: str | None = None,
    seconds: float = 0,
) -> tuple[Order, list[Fill]]:
    """An order walked through its lifecycle to ``status``, with the fills that took it there."""
    status = OrderStatus(status)
    order = Order.create(
        order_id=order_id,
        symbol=symbol,
        side=side,
        type="limit",
        quantity=quantity,
        limit_price=price,
        created_at=at(seconds),
        client_order_id=client_order_id,
        strategy_id=strategy_id,
    )
    fills: list[Fill] = []

    def fill(amount: Decimal, offset: float) -> None:
        item = Fill(
            fill_id=f"f-{next(_fill_ids)}",
            order_id=order_id,
            symbol=order.symbol,
            side=order.side,
            quantity=amount,
            price=Decimal(price),
            fee=Decimal("0.0000001"),
            fee_currency=order.symbol.split("-")[1],
            timestamp=at(seconds + offset),
            strategy_id=strategy_id,
        )
        order.apply_fill(item)
        fills.append(item)

    if status is OrderStatus.NEW:
        return order, fills
    if status is OrderStatus.REJECTED:
        order.reject(RejectReason.INSUFFICIENT_FUNDS, "estimated cost 150.38 USD exceeds 10 USD", at(seconds + 0.000001))
        return order, fills
    order.accept(at(seconds + 0.000001))
    third = (order.quantity / 3).quantize(Decimal("0.000000000000000001"))
    if status is OrderStatus.PARTIALLY_FILLED:
        fill(third, 0.5)
        fill(third, 0.75)
    elif status is OrderStatus.FILLED:
        fill(third, 0.5)
        fill(order.remaining_quantity, 1.25)
    elif status is OrderStatus.CANCELLED:
        fill(third, 0.5)
        order.cancel(at(seconds + 2), reason="client asked")
    elif status is OrderStatus.EXPIRED:
        order.expire(at(seconds + 3))
    return order, fills


def order_change(order: Order, fills: list[Fill] | tuple[Fill, ...] = ()) -> ChangeSet:
    return ChangeSet(orders=(order.snapshot,), fills=tuple(fills))


def strategy_record(
    strategy_id: str,
    *,
    strategy: str = "momentum",
    symbol: str = "BTC-USD",
    params: dict[str, Any] | None = None,
    status: str = "running",
    reason: str | None = None,
    seconds: float = 0,
    updated: float | None = None,
) -> StrategyRecord:
    """A strategy record created ``seconds`` after T0 (updated ``updated`` seconds after it)."""
    return StrategyRecord(
        strategy_id=strategy_id,
        strategy=strategy,
        symbol=symbol,
        params={"fast": 5, "slow": 20, "quantity": "0.010"} if params is None else params,
        status=StrategyStatus(status),
        reason=reason,
        created_at=at(seconds),
        updated_at=at(seconds if updated is None else updated),
    )


INSTRUMENTS = {
    symbol: Instrument.create(
        symbol, tick_size="0.0001", lot_size="0.0001", min_quantity="0.0001", initial_price="100"
    )
    for symbol in ("BTC-USD", "ETH-USD")
}


def trading_portfolio() -> Portfolio:
    """An account with cash in two currencies, a reservation, an open and a flat position."""
    portfolio = Portfolio("USD", {"USD": "100000.123456789", "EUR": "250"})
    for order_id, symbol, side, quantity, price in (
        ("p-1", "BTC-USD", "buy", "0.3", "100.25"),
        ("p-2", "BTC-USD", "buy", "0.7", "101.75"),
        ("p-3", "ETH-USD", "buy", "2", "3000.5"),
        ("p-4", "ETH-USD", "sell", "2", "3100.0001"),
    ):
        fill = Fill(
            fill_id=f"pf-{order_id}",
            order_id=order_id,
            symbol=symbol,
            side=side,
            quantity=Decimal(quantity),
            price=Decimal(price),
            fee=Decimal("0.015"),
            fee_currency="USD",
            timestamp=T0,
        )
        portfolio.apply_fill(fill, INSTRUMENTS[symbol])
    portfolio.reserve("USD", "1234.5678")
    return portfolio


def account_change(portfolio: Portfolio) -> ChangeSet:
    """Everything ``load_state`` needs to rebuild ``portfolio``, as a use case would commit it."""
    currencies = sorted(set(portfolio.cash) | set(portfolio.reserved))
    return ChangeSet(
        positions=tuple(position.snapshot for _symbol, position in sorted(portfolio.positions.items())),
        cash=tuple(portfolio.cash_snapshot(currency) for currency in currencies),
        account=portfolio.settings,
    )


class Connections:
    """A ``connect`` hook: records every connection, the thread that opened it and, through
    SQLite's trace callback, the thread of every statement it ran. ``writable(False)`` makes the
    writer connection ``query_only``, so writes fail with SQLite's own error."""

    def __init__(self) -> None:
        self.writer: sqlite3.Connection | None = None
        self.opened_in: list[str] = []
        self.statement_threads: set[int] = set()
        self.statements: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, path: str) -> sqlite3.Connection:
        conn = sqlite3.connect(path, check_same_thread=False)
        thread = threading.current_thread()
        with self._lock:
            self.opened_in.append(thread.name)
            if thread.name.startswith("sqlite-writer"):
                self.writer = conn
        conn.set_trace_callback(self._trace)
        return conn

    def _trace(self, statement: str) -> None:
        with self._lock:
            self.statement_threads.add(threading.get_ident())
            self.statements.append(statement)

    def writable(self, on: bool) -> None:
        assert self.writer is not None, "the store has not opened its writer connection"
        self.writer.execute(f"PRAGMA query_only = {'OFF' if on else 'ON'}")


def known_finished_orders() -> list[tuple[Order, list[Fill]]]:
    """Three finished orders whose archive lines are pinned (``KNOWN_ORDER_LINES``,
    ``KNOWN_FILL_LINES``): a strategy's limit order filled in two fills (an average price of 28
    digits), a rejected market order whose message needs CSV quoting, a cancelled order with a
    client id and no fill."""
    filled = Order.create(order_id="k-filled", client_order_id="c-known", symbol="ETH-USD", side="buy", type="limit",
                          quantity="0.3", limit_price="2500.10", created_at=at(0), strategy_id="mm-1")
    filled.accept(at(0.000001))
    fills = []
    for number, (quantity, price, fee) in enumerate((("0.1", "2500.1", "0.25001"), ("0.2", "2499.9", "0.49998"))):
        fill = Fill(fill_id=f"k-fill-{number}", order_id="k-filled", symbol="ETH-USD", side="buy",
                    quantity=Decimal(quantity), price=Decimal(price), fee=Decimal(fee), fee_currency="USD",
                    timestamp=at(0.5 + number), strategy_id="mm-1")
        filled.apply_fill(fill)
        fills.append(fill)
    rejected = Order.create(order_id="k-rejected", symbol="BTC-USD", side="sell", type="market", quantity="1.5",
                            created_at=at(2))
    rejected.reject(RejectReason.MAX_ORDER_NOTIONAL_EXCEEDED, 'notional 150000 USD exceeds "max", 100000 USD', at(2))
    cancelled = Order.create(order_id="k-cancelled", client_order_id="c-2", symbol="BTC-USD", side="buy",
                             type="limit", quantity="0.0001", limit_price="99", time_in_force="ioc", created_at=at(3))
    cancelled.accept(at(3))
    cancelled.cancel(at(3.25), reason="client, by API")
    return [(filled, fills), (rejected, []), (cancelled, [])]


# The archive's text of ``known_finished_orders()``, as the files held it before their rows were
# built from the stored records: both files of 2026-01-02, header first.
KNOWN_ORDER_LINES = (
    "order_id,client_order_id,symbol,side,type,quantity,limit_price,time_in_force,strategy_id,status,"
    "filled_quantity,remaining_quantity,filled_notional,average_fill_price,fees,reject_reason,reject_message,"
    "cancel_reason,created_at,updated_at\n"
    "k-filled,c-known,ETH-USD,buy,limit,0.3,2500.10,gtc,mm-1,filled,0.3,0.0,749.99,2499.966666666666666666666667,"
    "0.74999,,,,2026-01-02T03:04:05.678901Z,2026-01-02T03:04:07.178901Z\n"
    'k-rejected,,BTC-USD,sell,market,1.5,,gtc,,rejected,0,1.5,0,,0,max_order_notional_exceeded,"notional 150000 '
    'USD exceeds ""max"", 100000 USD",,2026-01-02T03:04:07.678901Z,2026-01-02T03:04:07.678901Z\n'
    'k-cancelled,c-2,BTC-USD,buy,limit,0.0001,99,ioc,,cancelled,0,0.0001,0,,0,,,"client, by API",'
    "2026-01-02T03:04:08.678901Z,2026-01-02T03:04:08.928901Z\n"
)
KNOWN_FILL_LINES = (
    "fill_id,order_id,symbol,side,quantity,price,fee,fee_currency,timestamp,strategy_id\n"
    "k-fill-0,k-filled,ETH-USD,buy,0.1,2500.1,0.25001,USD,2026-01-02T03:04:06.178901Z,mm-1\n"
    "k-fill-1,k-filled,ETH-USD,buy,0.2,2499.9,0.49998,USD,2026-01-02T03:04:07.178901Z,mm-1\n"
)
