"""Pre-trade checks: each reject reason on its own, the first-failure order, and the circuit breaker."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from trading_engine.domain.errors import ValidationError
from trading_engine.domain.instruments import Instrument
from trading_engine.domain.orders import Fill, Order, RejectReason, Side
from trading_engine.domain.portfolio import Portfolio
from trading_engine.domain.risk import CircuitBreaker, RiskDecision, RiskLimits, check_pre_trade

D = Decimal
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
R = RejectReason
_ids = itertools.count(1)


def instrument(symbol: str, tick: str, lot: str, minimum: str, price: str) -> Instrument:
    return Instrument.create(symbol, tick_size=tick, lot_size=lot, min_quantity=minimum, initial_price=price)


INSTRUMENTS = {
    i.symbol: i
    for i in (
        instrument("BTC-USD", "0.01", "0.001", "0.01", "50000"),
        instrument("ETH-USD", "0.01", "0.01", "0.1", "3000"),
        instrument("SOL-USD", "0.01", "1", "1", "100"),
        instrument("ETH-BTC", "0.00001", "0.01", "0.01", "0.06"),
    )
}
MARKS = {"BTC-USD": D(50000), "ETH-USD": D(3000), "SOL-USD": D(100), "ETH-BTC": D("0.06")}
LIMITS = RiskLimits(
    max_order_notional=D(100000), max_position_notional=D(150000), max_gross_exposure=D(300000)
)


def order(
    quantity: str, symbol: str = "BTC-USD", side: str = "buy", price: str | None = "50000", **extra: object
) -> Order:
    return Order.create(
        order_id=f"o-{next(_ids)}",
        symbol=symbol,
        side=side,
        type="market" if price is None else "limit",
        quantity=quantity,
        limit_price=price,
        created_at=T0,
        **extra,  # type: ignore[arg-type]
    )


def account(cash: str = "1000000", holdings: Sequence[tuple[str, str, str]] = ()) -> Portfolio:
    """A USD account left with ``cash`` after buying or selling the ``(symbol, signed quantity,
    price)`` holdings, all USD-quoted."""
    spent = sum((D(quantity) * D(price) for _symbol, quantity, price in holdings), D(0))
    portfolio = Portfolio("USD", {"USD": D(cash) + spent})
    for symbol, quantity, price in holdings:
        signed = D(quantity)
        portfolio.apply_fill(
            Fill(
                fill_id=f"f-{next(_ids)}",
                order_id="seed",
                symbol=symbol,
                side=Side.BUY if signed > 0 else Side.SELL,
                quantity=abs(signed),
                price=D(price),
                fee=D(0),
                fee_currency="USD",
                timestamp=T0,
            ),
            INSTRUMENTS[symbol],
        )
    assert portfolio.cash_balance("USD") == D(cash)
    return portfolio


@dataclass
class Check:
    """One call of check_pre_trade with sensible defaults that pass every check."""

    portfolio: Portfolio = field(default_factory=account)
    instruments: dict[str, Instrument] = field(default_factory=lambda: dict(INSTRUMENTS))
    marks: dict[str, Decimal] = field(default_factory=lambda: dict(MARKS))
    limits: RiskLimits = LIMITS
    breaker_open: bool = False
    stale: set[str] = field(default_factory=set)  # symbols whose price is stale
    open_orders: Sequence[Order] = ()
    fee_bps: Decimal = D(10)
    slippage_bps: Decimal = D(5)

    def run(self, candidate: Order) -> RiskDecision:
        return check_pre_trade(
            candidate,
            self.instruments,
            self.portfolio,
            self.marks,
            self.limits,
            breaker_open=self.breaker_open,
            is_fresh=lambda symbol: symbol not in self.stale,
            open_orders=self.open_orders,
            fee_bps=self.fee_bps,
            slippage_bps=self.slippage_bps,
        )


def rejected(decision: RiskDecision, reason: RejectReason) -> str:
    assert not decision.accepted, "expected a rejection, the order was accepted"
    assert decision.reason is reason, decision.message
    assert decision.message
    return decision.message


def test_a_reasonable_order_is_accepted() -> None:
    decision = Check().run(order("1"))
    assert decision.accepted and decision.reason is None and decision.message is None
    assert Check().run(order("1", price=None)).accepted
    assert Check().run(order("1", side="sell", price=None)).accepted


def test_circuit_breaker_open() -> None:
    message = rejected(Check(breaker_open=True).run(order("1")), R.CIRCUIT_BREAKER_OPEN)
    assert "circuit breaker is open" in message and "until it is reset" in message


def test_unknown_symbol_names_the_known_ones() -> None:
    message = rejected(Check().run(order("1", symbol="DOGE-USD")), R.UNKNOWN_SYMBOL)
    assert message == "unknown symbol DOGE-USD; known symbols: BTC-USD, ETH-BTC, ETH-USD, SOL-USD"


def test_quantity_below_minimum() -> None:
    message = rejected(Check().run(order("0.05", symbol="ETH-USD", price="3000")), R.QUANTITY_BELOW_MINIMUM)
    assert message == "quantity 0.05 is below the minimum quantity 0.1 for ETH-USD"


def test_quantity_off_lot() -> None:
    message = rejected(Check().run(order("0.0155")), R.QUANTITY_OFF_LOT)
    assert message == "quantity 0.0155 is not a multiple of the lot size 0.001 for BTC-USD"


def test_price_off_tick_for_limit_orders() -> None:
    message = rejected(Check().run(order("1", price="50000.005")), R.PRICE_OFF_TICK)
    assert message == "limit price 50000.005 is not a multiple of the tick size 0.01 for BTC-USD"


def test_market_data_stale() -> None:
    message = rejected(Check(stale={"BTC-USD"}).run(order("1")), R.MARKET_DATA_STALE)
    assert message == "market data for BTC-USD is stale; orders are accepted only while prices are fresh"
    assert Check(stale={"ETH-USD", "ETH-BTC"}).run(order("1")).accepted  # other symbols' prices


def test_a_stale_conversion_price_rejects_an_order_quoted_in_another_currency() -> None:
    eth_btc = order("1", symbol="ETH-BTC", side="sell", price="0.06")
    message = rejected(Check(stale={"BTC-USD"}).run(eth_btc), R.MARKET_DATA_STALE)
    assert message == (
        "market data for BTC-USD is stale (BTC-USD converts BTC into USD to value ETH-BTC); "
        "orders are accepted only while prices are fresh"
    )
    both = rejected(Check(stale={"BTC-USD", "ETH-BTC"}).run(eth_btc), R.MARKET_DATA_STALE)
    assert both.startswith("market data for ETH-BTC and BTC-USD are stale (BTC-USD converts BTC")
    assert Check(stale={"ETH-USD"}).run(eth_btc).accepted
    assert Check().run(eth_btc).accepted


@pytest.mark.parametrize(
    ("missing", "candidate", "holdings"),
    [
        ("BTC-USD", order("1"), ()),
        ("BTC-USD", order("1", symbol="ETH-BTC", price="0.06"), ()),
        ("ETH-USD", order("1"), (("ETH-USD", "2", "3000"),)),
    ],
    ids=["own-mark", "quote-conversion", "open-position"],
)
def test_a_missing_mark_the_checks_need_is_stale_market_data(
    missing: str, candidate: Order, holdings: tuple
) -> None:
    marks = {k: v for k, v in MARKS.items() if k != missing}
    message = rejected(Check(portfolio=account(holdings=holdings), marks=marks).run(candidate), R.MARKET_DATA_STALE)
    assert f"no mark price for {missing}" in message


def test_max_order_notional_names_both_numbers() -> None:
    message = rejected(Check().run(order("2.5")), R.MAX_ORDER_NOTIONAL_EXCEEDED)
    assert message == "order notional 125000.00 USD exceeds max_order_notional 100000 USD"
    assert Check().run(order("2")).accepted


def test_market_orders_are_valued_at_the_mark_moved_by_slippage_against_them() -> None:
    message = rejected(Check().run(order("2", price=None)), R.MAX_ORDER_NOTIONAL_EXCEEDED)
    assert message == "order notional 100050.00 USD exceeds max_order_notional 100000 USD"
    assert Check(slippage_bps=D(0)).run(order("2", price=None)).accepted
    assert Check().run(order("2", side="sell", price=None, symbol="BTC-USD")).accepted


def test_order_notional_is_converted_into_the_reporting_currency() -> None:
    cross = order("40", symbol="ETH-BTC", price="0.06")
    message = rejected(Check(portfolio=account(cash="0")).run(cross), R.MAX_ORDER_NOTIONAL_EXCEEDED)
    assert message.startswith("order notional 120000.00 USD")


def test_max_position_counts_the_position_and_same_side_open_orders() -> None:
    holding = account(holdings=[("BTC-USD", "2.5", "50000")])
    message = rejected(Check(portfolio=holding).run(order("0.6")), R.MAX_POSITION_EXCEEDED)
    assert message == (
        "BTC-USD position after this order and open buy orders would be 3.1 (notional 155000.00 USD "
        "at mark 50000), exceeding max_position_notional 150000 USD"
    )
    assert Check(portfolio=holding).run(order("0.5")).accepted


def test_open_orders_on_the_same_side_and_symbol_count_until_they_finish() -> None:
    holding = account(holdings=[("BTC-USD", "2", "50000")])
    resting = order("1.5")
    resting.accept(T0)
    resting.apply_fill(
        Fill("f-r", resting.order_id, "BTC-USD", Side.BUY, D("0.6"), D(50000), D(0), "USD", T0)
    )
    assert resting.remaining_quantity == D("0.9")
    check = Check(portfolio=holding, open_orders=[resting])
    rejected(check.run(order("0.2")), R.MAX_POSITION_EXCEEDED)
    assert check.run(order("0.1")).accepted
    resting.cancel(T0 + timedelta(seconds=1))
    assert check.run(order("0.2")).accepted


def test_open_orders_on_the_other_side_or_another_symbol_do_not_count() -> None:
    holding = account(holdings=[("BTC-USD", "2", "50000")])
    others = [order("1.5", side="sell"), order("10", symbol="ETH-USD", price="3000")]
    assert Check(portfolio=holding, open_orders=others).run(order("0.9")).accepted
    candidate = order("0.9")
    assert Check(portfolio=holding, open_orders=[candidate]).run(candidate).accepted


def test_position_limit_applies_to_shorts_too() -> None:
    short = account(holdings=[("BTC-USD", "-2.5", "50000")])
    message = rejected(Check(portfolio=short).run(order("0.6", side="sell")), R.MAX_POSITION_EXCEEDED)
    assert "would be -3.1" in message


def test_reducing_orders_pass_position_and_exposure_checks_even_over_the_limits() -> None:
    over = account(holdings=[("BTC-USD", "4", "50000"), ("ETH-USD", "60", "3000")])
    assert over.valuation(MARKS, INSTRUMENTS).gross_exposure == D(380000)
    check = Check(portfolio=over)
    assert check.run(order("0.5", side="sell")).accepted
    assert check.run(order("5", symbol="ETH-USD", side="sell", price="3000")).accepted
    rejected(check.run(order("1", symbol="SOL-USD", price="100")), R.GROSS_EXPOSURE_EXCEEDED)


def test_gross_exposure_adds_the_order_to_the_current_exposure() -> None:
    holding = account(holdings=[("BTC-USD", "2.9", "50000"), ("ETH-USD", "40", "3000")])
    message = rejected(
        Check(portfolio=holding).run(order("400", symbol="SOL-USD", price="100")), R.GROSS_EXPOSURE_EXCEEDED
    )
    assert message == (
        "gross exposure after this order would be 305000.00 USD (current 265000.00 + order 40000.00), "
        "exceeding max_gross_exposure 300000 USD"
    )
    assert Check(portfolio=holding).run(order("350", symbol="SOL-USD", price="100")).accepted


def test_a_flipping_order_counts_only_the_excess_over_the_position() -> None:
    holding = account(holdings=[("BTC-USD", "2.9", "50000"), ("ETH-USD", "40", "3000")])
    limits = replace(LIMITS, max_order_notional=D(1000000), max_position_notional=D(1000000))
    flip_small = order("50", symbol="ETH-USD", side="sell", price="3000")
    assert Check(portfolio=holding, limits=limits).run(flip_small).accepted
    flip_large = order("52", symbol="ETH-USD", side="sell", price="3000")
    message = rejected(Check(portfolio=holding, limits=limits).run(flip_large), R.GROSS_EXPOSURE_EXCEEDED)
    assert "(current 265000.00 + order 36000.00)" in message


def test_insufficient_funds_counts_fees_and_only_unreserved_cash() -> None:
    poor = account(cash="10000")
    message = rejected(Check(portfolio=poor).run(order("0.2")), R.INSUFFICIENT_FUNDS)
    assert message == (
        "estimated cost 10010.00 USD (quantity 0.2 at 50000 plus 10 bps fees) exceeds available cash "
        "10000.00 USD"
    )
    assert Check(portfolio=poor, fee_bps=D(0)).run(order("0.2")).accepted
    string_fee = Check(portfolio=poor, fee_bps="2.50")  # type: ignore[arg-type]
    assert "plus 2.5 bps fees" in rejected(string_fee.run(order("0.2")), R.INSUFFICIENT_FUNDS)
    poor.reserve("USD", D(1))
    rejected(Check(portfolio=poor, fee_bps=D(0)).run(order("0.2")), R.INSUFFICIENT_FUNDS)


def test_market_buys_need_funds_at_the_slipped_price() -> None:
    exact = account(cash="10010")
    assert Check(portfolio=exact, slippage_bps=D(0)).run(order("0.2", price=None)).accepted
    message = rejected(Check(portfolio=exact).run(order("0.2", price=None)), R.INSUFFICIENT_FUNDS)
    assert "at 50025 plus 10 bps fees" in message


def test_sells_and_leveraged_buys_never_fail_the_funds_check() -> None:
    broke = account(cash="0")
    assert Check(portfolio=broke).run(order("1", side="sell")).accepted
    leveraged = replace(LIMITS, allow_leverage=True)
    assert Check(portfolio=broke, limits=leveraged).run(order("1")).accepted


def test_funds_are_checked_in_the_quote_currency() -> None:
    portfolio = Portfolio("USD", {"USD": "1000000", "BTC": "0.5"})
    cross = order("10", symbol="ETH-BTC", price="0.06")
    message = rejected(Check(portfolio=portfolio).run(cross), R.INSUFFICIENT_FUNDS)
    assert "exceeds available cash 0.50 BTC" in message
    assert Check(portfolio=portfolio, fee_bps=D(0)).run(order("8", symbol="ETH-BTC", price="0.06")).accepted


def test_the_first_failing_check_wins_in_the_documented_order() -> None:
    small, big = D(1000), D(10**9)
    check = Check(
        portfolio=account(cash="0"),
        instruments={},
        limits=RiskLimits(small, small, small),
        breaker_open=True,
        stale={"BTC-USD"},
    )
    request = {"quantity": "0.0055", "price": "50000.005"}
    fixes = [
        lambda: setattr(check, "breaker_open", False),
        lambda: check.instruments.update(INSTRUMENTS),
        lambda: request.update(quantity="0.0155"),
        lambda: request.update(quantity="3"),
        lambda: request.update(price="50000"),
        lambda: check.stale.clear(),
        lambda: setattr(check, "limits", RiskLimits(big, small, small)),
        lambda: setattr(check, "limits", RiskLimits(big, big, small)),
        lambda: setattr(check, "limits", RiskLimits(big, big, big)),
        lambda: setattr(check, "portfolio", account()),
    ]
    seen = []
    for fix in fixes:
        seen.append(check.run(order(request["quantity"], price=request["price"])).reason)
        fix()
    assert check.run(order(request["quantity"], price=request["price"])).accepted
    assert seen == [
        R.CIRCUIT_BREAKER_OPEN,
        R.UNKNOWN_SYMBOL,
        R.QUANTITY_BELOW_MINIMUM,
        R.QUANTITY_OFF_LOT,
        R.PRICE_OFF_TICK,
        R.MARKET_DATA_STALE,
        R.MAX_ORDER_NOTIONAL_EXCEEDED,
        R.MAX_POSITION_EXCEEDED,
        R.GROSS_EXPOSURE_EXCEEDED,
        R.INSUFFICIENT_FUNDS,
    ]


def test_check_parameters_are_validated() -> None:
    with pytest.raises(ValidationError, match="fee_bps -1 is not allowed"):
        Check(fee_bps=D(-1)).run(order("1"))
    with pytest.raises(ValidationError, match="slippage_bps 10000 is not allowed; it must be below 10000"):
        Check(slippage_bps=D(10000)).run(order("1", price=None))


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"max_order_notional": D(0)}, "max_order_notional 0 is not allowed; it must be greater than 0"),
        ({"max_gross_exposure": 1e6}, "max_gross_exposure 1000000.0 is a float"),
        ({"allow_leverage": "yes"}, "allow_leverage 'yes' is not allowed; use true or false"),
    ],
)
def test_risk_limits_are_validated(kwargs: dict, says: str) -> None:
    fields: dict[str, object] = {
        "max_order_notional": D(1),
        "max_position_notional": D(1),
        "max_gross_exposure": D(1),
    } | kwargs
    with pytest.raises(ValidationError, match=says):
        RiskLimits(**fields)  # type: ignore[arg-type]


def test_risk_limits_accept_integers_and_strings_exactly() -> None:
    limits = RiskLimits("100000.50", 5, D(7))  # type: ignore[arg-type]
    assert limits.max_order_notional == D("100000.50") and limits.allow_leverage is False


def test_risk_decisions() -> None:
    assert RiskDecision.accept().accepted
    no = RiskDecision.reject(R.INSUFFICIENT_FUNDS, "not enough")
    assert not no.accepted and no.reason is R.INSUFFICIENT_FUNDS and no.message == "not enough"


def test_circuit_breaker_trips_once_and_keeps_the_first_reason() -> None:
    breaker = CircuitBreaker()
    assert not breaker.is_open and breaker.reason is None and breaker.tripped_at is None
    assert breaker.trip("daily loss limit reached", T0) is True
    assert breaker.trip("venue disconnected", T0 + timedelta(seconds=5)) is False
    assert breaker.is_open
    assert breaker.reason == "daily loss limit reached"
    assert breaker.tripped_at == T0


def test_circuit_breaker_reset() -> None:
    breaker = CircuitBreaker()
    assert breaker.reset(T0) is False
    breaker.trip("manual halt", T0)
    assert breaker.reset(T0 + timedelta(minutes=1)) is True
    assert not breaker.is_open and breaker.reason is None and breaker.tripped_at is None
    assert breaker.reset_at == T0 + timedelta(minutes=1)
    assert breaker.trip("again", T0 + timedelta(minutes=2)) is True
    assert breaker.reason == "again"


def test_circuit_breaker_refuses_empty_reasons_and_naive_times() -> None:
    breaker = CircuitBreaker()
    with pytest.raises(ValidationError, match="reason must be a non-empty string"):
        breaker.trip("  ", T0)
    with pytest.raises(ValidationError, match="has no timezone"):
        breaker.trip("halt", datetime(2026, 1, 1))
    assert not breaker.is_open


def test_circuit_breaker_round_trips_through_dicts() -> None:
    never = CircuitBreaker()
    tripped = CircuitBreaker()
    tripped.trip("daily loss limit reached", T0 + timedelta(microseconds=123456))
    cycled = CircuitBreaker()
    cycled.trip("first", T0)
    cycled.reset(T0 + timedelta(seconds=30))
    for breaker in (never, tripped, cycled):
        data = json.loads(json.dumps(breaker.to_dict()))
        restored = CircuitBreaker.from_dict(data)
        assert restored == breaker
        assert restored.to_dict() == breaker.to_dict()
    assert tripped.to_dict() == {
        "is_open": True,
        "reason": "daily loss limit reached",
        "tripped_at": "2026-01-02T03:04:05.123456Z",
        "reset_at": None,
    }


def test_circuit_breaker_refuses_inconsistent_records() -> None:
    with pytest.raises(ValidationError, match="circuit breaker record is inconsistent"):
        CircuitBreaker.from_dict({"is_open": True, "reason": None, "tripped_at": None, "reset_at": None})
