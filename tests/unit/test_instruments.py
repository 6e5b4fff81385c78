"""Instruments, symbols and exact decimal input: the grid every price and quantity must sit on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from trading_engine.domain.decimals import amount, is_multiple, to_decimal, trimmed
from trading_engine.domain.errors import ValidationError
from trading_engine.domain.instruments import SYMBOL_PATTERN, Instrument, normalise_symbol, parse_symbol
from trading_engine.domain.timefmt import isoformat_exact, parse_timestamp, require_aware


def btc() -> Instrument:
    return Instrument.create(
        "btc-usd", tick_size="0.01", lot_size="0.001", min_quantity="0.001", initial_price="50000"
    )


def test_create_normalises_the_symbol_and_splits_base_and_quote() -> None:
    instrument = btc()
    assert (instrument.symbol, instrument.base, instrument.quote) == ("BTC-USD", "BTC", "USD")
    assert instrument.tick_size == Decimal("0.01")
    assert isinstance(instrument.lot_size, Decimal)


@pytest.mark.parametrize("text", [" btc-usd ", "BTC-USD", "Btc-Usd\n"])
def test_normalise_symbol_strips_and_upper_cases(text: str) -> None:
    assert normalise_symbol(text) == "BTC-USD"


@pytest.mark.parametrize("symbol", ["BTC-USD", "ETH-BTC", "USDT-EUR", "A1-B2", "ABCDEFGHIJ-XY"])
def test_symbol_pattern_accepts_canonical_symbols(symbol: str) -> None:
    assert SYMBOL_PATTERN.fullmatch(symbol)


@pytest.mark.parametrize(
    "symbol", ["BTCUSD", "BTC_USD", "B-USD", "BTC-USD-X", "ABCDEFGHIJK-USD", "btc-usd", "BTC-", "BTC-U$D"]
)
def test_symbol_pattern_refuses_everything_else(symbol: str) -> None:
    assert SYMBOL_PATTERN.fullmatch(symbol) is None


@pytest.mark.parametrize("symbol", ["BTCUSD", "BTC/USD", "B-USD", "", "BTC-USD-EUR"])
def test_malformed_symbols_are_validation_errors_naming_the_rule(symbol: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_symbol(symbol)
    assert caught.value.field == "symbol"
    assert repr(symbol) in caught.value.message
    assert "BASE-QUOTE" in caught.value.message


def test_base_and_quote_must_differ() -> None:
    with pytest.raises(ValidationError, match="base and quote must differ"):
        parse_symbol("USD-USD")


def test_direct_construction_must_be_canonical_and_consistent() -> None:
    with pytest.raises(ValidationError, match="not canonical; use BTC-USD"):
        Instrument("btc-usd", "BTC", "USD", Decimal(1), Decimal(1), Decimal(1), Decimal(1))
    with pytest.raises(ValidationError, match="expected base BTC and quote USD"):
        Instrument("BTC-USD", "ETH", "USD", Decimal(1), Decimal(1), Decimal(1), Decimal(1))


@pytest.mark.parametrize("field", ["tick_size", "lot_size", "min_quantity", "initial_price"])
@pytest.mark.parametrize("bad", ["0", "-1", "NaN", "Infinity"])
def test_every_size_and_price_must_be_a_finite_number_above_zero(field: str, bad: str) -> None:
    values = {"tick_size": "0.01", "lot_size": "0.001", "min_quantity": "0.001", "initial_price": "1"}
    values[field] = bad
    with pytest.raises(ValidationError) as caught:
        Instrument.create("BTC-USD", **values)
    assert f"BTC-USD {field}" in caught.value.message
    assert ("greater than 0" in caught.value.message) or ("finite" in caught.value.message)


def test_floats_are_refused_because_they_are_already_inexact() -> None:
    with pytest.raises(ValidationError, match="is a float; give it as a string or an integer"):
        Instrument.create("BTC-USD", tick_size=0.01, lot_size="1", min_quantity="1", initial_price="1")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("price", "on_tick"),
    [("100.00", True), ("100.01", True), ("100.005", False), ("0.01", True), ("99999999.99", True), ("-0.02", True)],
)
def test_is_on_tick_is_exact(price: str, on_tick: bool) -> None:
    assert btc().is_on_tick(Decimal(price)) is on_tick


@pytest.mark.parametrize(
    ("quantity", "on_lot"), [("0.001", True), ("1.5", True), ("0.0015", False), ("2", True), ("1E-4", False)]
)
def test_is_on_lot_is_exact(quantity: str, on_lot: bool) -> None:
    assert btc().is_on_lot(Decimal(quantity)) is on_lot


def test_lot_check_on_a_coarse_lot() -> None:
    instrument = Instrument.create("ETH-USD", tick_size="0.5", lot_size="0.1", min_quantity="0.1", initial_price="3000")
    assert instrument.is_on_lot(Decimal("0.3"))
    assert not instrument.is_on_lot(Decimal("0.15"))
    assert instrument.is_on_tick(Decimal("3000.5"))
    assert not instrument.is_on_tick(Decimal("3000.25"))


def test_multiples_of_huge_values_do_not_overflow_the_context() -> None:
    assert is_multiple(Decimal("1E+40"), Decimal("0.01"))
    assert not is_multiple(Decimal("1" + "0" * 40 + ".001"), Decimal("0.01"))


def test_notional_is_quantity_times_price_exactly() -> None:
    assert btc().notional(Decimal("0.003"), Decimal("50000.01")) == Decimal("150.00003")


def test_instruments_are_immutable() -> None:
    with pytest.raises(AttributeError):
        btc().tick_size = Decimal(1)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("value", "expected"), [(Decimal("1.10"), "1.10"), (7, "7"), (" 0.25 ", "0.25"), ("-3", "-3")]
)
def test_to_decimal_accepts_decimals_ints_and_numeric_strings(value: object, expected: str) -> None:
    assert str(to_decimal(value, field="x")) == expected


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (0.1, "is a float"),
        (True, "not a boolean"),
        ("abc", "is not a number"),
        ("NaN", "only finite numbers"),
        (Decimal("-Infinity"), "only finite numbers"),
        ("sNaN", "only finite numbers"),
        ([1], "not list"),
    ],
)
def test_to_decimal_refuses_what_is_not_an_exact_finite_number(value: object, says: str) -> None:
    with pytest.raises(ValidationError) as caught:
        to_decimal(value, field="price")
    assert caught.value.field == "price"
    assert says in caught.value.message


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("120000", "120000.00"),
        ("1E+5", "100000.00"),
        ("0.5", "0.50"),
        ("100050.00000", "100050.00"),
        ("1.2345", "1.2345"),
        ("1.23450", "1.2345"),
        ("-0.001", "-0.001"),
        ("1E+30", "1" + "0" * 30 + ".00"),
        ("0.1234567890123456789012345678", "0.1234567890123456789012345678"),
    ],
)
def test_amounts_in_messages_show_two_decimals_at_least_and_never_hide_digits(value: str, text: str) -> None:
    assert amount(Decimal(value)) == text


@pytest.mark.parametrize(("value", "text"), [("50025.0000", "50025"), ("1E+5", "100000"), ("0.50", "0.5"), ("10", "10")])
def test_trimmed_drops_only_trailing_zeros(value: str, text: str) -> None:
    assert trimmed(Decimal(value)) == text


def test_exact_timestamps_round_trip_to_the_microsecond() -> None:
    moment = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)
    assert isoformat_exact(moment) == "2026-03-04T05:06:07.891011Z"
    assert parse_timestamp(isoformat_exact(moment), field="t") == moment
    elsewhere = moment.astimezone(timezone(timedelta(hours=5)))
    assert parse_timestamp(isoformat_exact(elsewhere), field="t") == moment


def test_naive_and_malformed_timestamps_are_refused() -> None:
    with pytest.raises(ValidationError, match="has no timezone"):
        require_aware(datetime(2026, 1, 1), field="at")
    with pytest.raises(ValidationError, match="has no timezone"):
        parse_timestamp("2026-01-01T00:00:00", field="at")
    with pytest.raises(ValidationError, match="is not an ISO 8601 timestamp"):
        parse_timestamp("yesterday", field="at")
