"""The account: cash moves with fills and fees, reservations, valuation and currency conversion."""

from __future__ import annotations

import itertools
import json
import random
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from trading_engine.domain.errors import Unavailable, ValidationError
from trading_engine.domain.instruments import Instrument
from trading_engine.domain.orders import Fill, Side
from trading_engine.domain.portfolio import Portfolio, convert

D = Decimal
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
_ids = itertools.count(1)


def instrument(symbol: str, tick: str = "0.01", lot: str = "0.001", price: str = "100") -> Instrument:
    return Instrument.create(symbol, tick_size=tick, lot_size=lot, min_quantity=lot, initial_price=price)


INSTRUMENTS = {
    i.symbol: i
    for i in (
        instrument("BTC-USD", price="50000"),
        instrument("ETH-USD", price="3000"),
        instrument("ETH-BTC", tick="0.00001", price="0.05"),
        instrument("EUR-USD", tick="0.0001", lot="1", price="1.1"),
    )
}


def fill(symbol: str, side: str, quantity: str, price: str, fee: str = "0") -> Fill:
    return Fill(
        fill_id=f"f-{next(_ids)}",
        order_id=f"o-{next(_ids)}",
        symbol=symbol,
        side=Side(side),
        quantity=D(quantity),
        price=D(price),
        fee=D(fee),
        fee_currency=INSTRUMENTS[symbol].quote,
        timestamp=T0,
    )


def trade(portfolio: Portfolio, symbol: str, side: str, quantity: str, price: str, fee: str = "0") -> Decimal:
    return portfolio.apply_fill(fill(symbol, side, quantity, price, fee), INSTRUMENTS[symbol])


def test_a_buy_debits_notional_plus_fee_and_a_sell_credits_notional_minus_fee() -> None:
    account = Portfolio("USD", {"USD": "10000"})
    assert trade(account, "BTC-USD", "buy", "2", "100", fee="0.20") == 0
    assert account.cash_balance("USD") == D("9799.80")
    assert account.position("BTC-USD").quantity == 2
    assert trade(account, "BTC-USD", "sell", "1", "110", fee="0.11") == D(10)
    assert account.cash_balance("USD") == D("9909.69")
    held = account.position("BTC-USD")
    assert held.quantity == 1 and held.realized_pnl == 10 and held.fees_paid == D("0.31")


def test_fees_and_cash_are_in_the_quote_currency_of_a_cross_pair() -> None:
    account = Portfolio("USD", {"USD": "1000", "BTC": "2"})
    trade(account, "ETH-BTC", "buy", "10", "0.05", fee="0.0005")
    assert account.cash == {"USD": D(1000), "BTC": D("1.4995")}


def test_selling_what_is_not_held_opens_a_short_and_credits_cash() -> None:
    account = Portfolio("USD", {"USD": "0"})
    trade(account, "ETH-USD", "sell", "2", "3000", fee="6")
    assert account.position("ETH-USD").quantity == -2
    assert account.cash_balance("USD") == D(5994)


def test_a_fill_with_the_wrong_instrument_changes_nothing() -> None:
    account = Portfolio("USD", {"USD": "1000"})
    before = account.to_dict()
    with pytest.raises(ValidationError, match="fill .* is for BTC-USD but the instrument given is ETH-USD"):
        account.apply_fill(fill("BTC-USD", "buy", "1", "100"), INSTRUMENTS["ETH-USD"])
    assert account.to_dict() == before


def test_positions_handed_out_are_copies() -> None:
    account = Portfolio("USD", {"USD": "1000"})
    trade(account, "BTC-USD", "buy", "1", "100")
    account.position("BTC-USD").apply_fill("buy", D(5), D(100))
    account.positions["BTC-USD"].apply_fill("buy", D(5), D(100))
    assert account.position("BTC-USD").quantity == 1
    assert account.cash_balance("USD") == D(900)


def test_reservations_reduce_available_cash_but_not_the_balance() -> None:
    account = Portfolio("USD", {"USD": "1000"})
    account.reserve("USD", D("250.50"))
    account.reserve("USD", D("100"))
    assert account.reserved_cash("USD") == D("350.50")
    assert account.available_cash("USD") == D("649.50")
    assert account.cash_balance("USD") == D(1000)
    account.release("USD", D("100"))
    assert account.available_cash("USD") == D("749.50")
    account.release("USD", D("250.50"))
    assert account.reserved == {}
    assert account.available_cash("USD") == D(1000)


def test_reservations_refuse_bad_amounts_and_over_release() -> None:
    account = Portfolio("USD", {"USD": "1000"})
    account.reserve("USD", D(10))
    with pytest.raises(ValidationError, match="cannot release 11 USD: only 10 USD is reserved"):
        account.release("USD", D(11))
    with pytest.raises(ValidationError, match="must be greater than 0"):
        account.reserve("USD", D(0))
    with pytest.raises(ValidationError, match="is a float"):
        account.reserve("USD", 1.5)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="expected 2-10 upper-case letters or digits"):
        account.reserve("U$D", D(1))
    assert account.reserved == {"USD": D(10)}


def test_reserving_beyond_available_cash_is_the_risk_checks_business() -> None:
    account = Portfolio("USD", {"USD": "100"})
    account.reserve("USD", D(150))
    assert account.available_cash("USD") == D(-50)


def test_the_constructor_validates_currencies_and_amounts() -> None:
    with pytest.raises(ValidationError, match="reporting_currency 'usd\\$'"):
        Portfolio("usd$")
    with pytest.raises(ValidationError, match="cash USD 100.0 is a float"):
        Portfolio("USD", {"USD": 100.0})  # type: ignore[dict-item]
    assert Portfolio("usd", {"usd": 5}).cash == {"USD": D(5)}


def test_convert_uses_the_direct_pair_else_the_inverse() -> None:
    marks = {"BTC-USD": D(50000), "EUR-USD": D("1.25")}
    assert convert(D(2), "USD", "USD", marks, INSTRUMENTS) == D(2)
    assert convert(D("0.5"), "BTC", "USD", marks, INSTRUMENTS) == D(25000)
    assert convert(D(100), "USD", "EUR", marks, INSTRUMENTS) == D(80)
    assert convert(D(1), "USD", "BTC", marks, INSTRUMENTS) == D(1) / D(50000)


def test_convert_without_a_configured_pair_is_a_validation_error_naming_the_currency() -> None:
    with pytest.raises(ValidationError) as caught:
        convert(D(1), "JPY", "USD", {}, INSTRUMENTS)
    assert caught.value.field == "currency"
    assert caught.value.message.startswith("cannot convert JPY into USD: neither JPY-USD nor USD-JPY")
    assert convert(D(0), "JPY", "USD", {}, INSTRUMENTS) == 0


def test_convert_with_a_configured_pair_but_no_mark_is_unavailable() -> None:
    with pytest.raises(Unavailable, match="no mark price for BTC-USD"):
        convert(D(1), "BTC", "USD", {}, INSTRUMENTS)
    with pytest.raises(ValidationError, match="mark of BTC-USD 0 is not allowed"):
        convert(D(1), "USD", "BTC", {"BTC-USD": D(0)}, INSTRUMENTS)


def test_cross_pair_is_valued_in_usd_through_btc_usd() -> None:
    account = Portfolio("USD", {"USD": "100000", "BTC": "2"})
    trade(account, "ETH-BTC", "buy", "10", "0.05", fee="0.0005")
    marks = {"ETH-BTC": D("0.06"), "BTC-USD": D(50000)}
    value = account.valuation(marks, INSTRUMENTS)
    assert value.reporting_currency == "USD"
    assert value.cash == {"USD": D(100000), "BTC": D("1.4995")}
    assert value.equity == D(100000) + D("1.4995") * 50000 + D("0.6") * 50000 == D(204975)
    assert value.gross_exposure == value.net_exposure == D(30000)
    assert value.unrealized_pnl == D(5000)
    assert value.realized_pnl == 0
    assert value.fees == D(25)
    [eth] = value.positions
    assert (eth.symbol, eth.currency, eth.quantity, eth.mark) == ("ETH-BTC", "BTC", D(10), D("0.06"))
    assert eth.market_value == D("0.6") and eth.unrealized_pnl == D("0.1")
    initial_equity = D(100000) + D(2) * 50000
    assert value.equity - initial_equity == value.unrealized_pnl - value.fees
    assert str(account.equity(marks, INSTRUMENTS)) == str(value.equity)


def test_realized_pnl_converts_at_the_current_mark_of_its_quote_currency() -> None:
    account = Portfolio("USD", {"BTC": "1"})
    trade(account, "ETH-BTC", "buy", "10", "0.05")
    trade(account, "ETH-BTC", "sell", "10", "0.06")
    assert account.position("ETH-BTC").realized_pnl == D("0.1")
    at_50k = account.valuation({"BTC-USD": D(50000)}, INSTRUMENTS)
    at_60k = account.valuation({"BTC-USD": D(60000)}, INSTRUMENTS)
    assert at_50k.realized_pnl == D(5000)
    assert at_60k.realized_pnl == D(6000)
    [flat] = at_60k.positions
    assert flat.quantity == 0 and flat.mark is None and flat.market_value == 0


def test_gross_and_net_exposure_with_a_long_and_a_short() -> None:
    account = Portfolio("USD", {"USD": "1000000"})
    trade(account, "BTC-USD", "buy", "2", "50000")
    trade(account, "ETH-USD", "sell", "10", "3000")
    marks = {"BTC-USD": D(51000), "ETH-USD": D(2900)}
    value = account.valuation(marks, INSTRUMENTS)
    assert value.gross_exposure == D(102000) + D(29000)
    assert value.net_exposure == D(102000) - D(29000)
    assert value.unrealized_pnl == D(2000) + D(1000)
    assert value.equity == D(1000000) - D(100000) + D(30000) + D(102000) - D(29000)
    assert [p.symbol for p in value.positions] == ["BTC-USD", "ETH-USD"]
    assert [p.unrealized_pnl for p in value.positions] == [D(2000), D(1000)]
    assert account.gross_exposure(marks, INSTRUMENTS) == value.gross_exposure


def test_equity_needs_marks_only_with_an_open_position_or_cash_in_another_currency() -> None:
    account = Portfolio("USD", {"USD": "100000"})
    assert account.needs_marks() is False
    trade(account, "BTC-USD", "buy", "1", "50000")
    assert account.needs_marks() is True
    trade(account, "BTC-USD", "sell", "1", "51000", fee="5")
    assert account.needs_marks() is False  # flat again, cash in USD only: the marks cannot move it
    assert account.equity({}, INSTRUMENTS) == D(100995)
    assert Portfolio("USD", {"USD": "1", "BTC": "0.5"}).needs_marks() is True
    assert Portfolio("USD", {"USD": "1", "BTC": "0"}).needs_marks() is False


def test_reserved_cash_still_counts_in_equity() -> None:
    account = Portfolio("USD", {"USD": "1000"})
    account.reserve("USD", D(400))
    value = account.valuation({}, INSTRUMENTS)
    assert value.equity == D(1000)
    assert value.reserved == {"USD": D(400)}


def test_valuation_needs_a_mark_for_every_open_position_and_a_configured_instrument() -> None:
    account = Portfolio("USD", {"USD": "1000"})
    trade(account, "BTC-USD", "buy", "1", "100")
    for value in (account.valuation, account.equity):
        with pytest.raises(Unavailable, match="no mark price for BTC-USD"):
            value({}, INSTRUMENTS)
        with pytest.raises(ValidationError, match="holds BTC-USD, which is not a configured instrument"):
            value({"BTC-USD": D(100)}, {})


def test_valuation_refuses_cash_it_cannot_convert() -> None:
    account = Portfolio("USD", {"USD": "1", "JPY": "100"})
    with pytest.raises(ValidationError, match="cannot convert JPY into USD"):
        account.valuation({}, INSTRUMENTS)
    with pytest.raises(ValidationError, match="cannot convert JPY into USD"):
        account.equity({}, INSTRUMENTS)


def price_from_ints(rng: random.Random, low: int, high: int) -> Decimal:
    return D(rng.randint(low * 100, high * 100)) / 100


@pytest.mark.parametrize("seed", [1, 7, 2026, 424242])
def test_equity_change_equals_realized_plus_unrealized_minus_fees_exactly(seed: int) -> None:
    rng = random.Random(seed)
    initial = D("1000000")
    account = Portfolio("USD", {"USD": initial})
    bands = {"BTC-USD": (45000, 55000), "ETH-USD": (2500, 3500)}
    marks = {symbol: price_from_ints(rng, *band) for symbol, band in bands.items()}
    partial_closes = flips = 0
    for _ in range(300):
        symbol = rng.choice(sorted(bands))
        held = account.position(symbol).quantity
        side = rng.choice(["buy", "sell"])
        quantity = D(rng.randint(1, 3000)) / 1000
        price = price_from_ints(rng, *bands[symbol])
        fee = (quantity * price * rng.randint(0, 25) / 10000).quantize(D("0.000001"))
        signed = quantity if side == "buy" else -quantity
        if held and (held > 0) != (signed > 0):
            if abs(signed) < abs(held):
                partial_closes += 1
            elif abs(signed) > abs(held):
                flips += 1
        trade(account, symbol, side, str(quantity), str(price), str(fee))
        marks[symbol] = price_from_ints(rng, *bands[symbol])
        value = account.valuation(marks, INSTRUMENTS)
        assert value.equity - initial == value.realized_pnl + value.unrealized_pnl - value.fees
        assert str(account.equity(marks, INSTRUMENTS)) == str(value.equity)  # the same digits
    assert partial_closes > 50 and flips > 3


def test_snapshot_round_trips_exactly_and_behaves_the_same() -> None:
    account = Portfolio("USD", {"USD": "100000.00", "BTC": "1.5"})
    trade(account, "BTC-USD", "buy", "1", "100", fee="0.1")
    trade(account, "BTC-USD", "buy", "2", "101", fee="0.2")
    trade(account, "BTC-USD", "sell", "1", "102.5", fee="0.1")
    trade(account, "ETH-BTC", "sell", "3", "0.05", fee="0.00015")
    account.reserve("USD", D("123.45"))
    data = json.loads(json.dumps(account.to_dict()))
    restored = Portfolio.from_dict(data)
    assert restored == account
    assert restored.to_dict() == account.to_dict()
    assert restored.reserved == {"USD": D("123.45")}
    same = fill("BTC-USD", "sell", "2", "99", fee="0.2")
    assert restored.apply_fill(same, INSTRUMENTS["BTC-USD"]) == account.apply_fill(same, INSTRUMENTS["BTC-USD"])
    assert restored == account


def test_restore_refuses_incomplete_records() -> None:
    data = Portfolio("USD", {"USD": "1"}).to_dict()
    del data["positions"]
    with pytest.raises(ValidationError, match="portfolio record has no 'positions'"):
        Portfolio.from_dict(data)
