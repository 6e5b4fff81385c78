"""Tradable instruments: a symbol ``BASE-QUOTE`` and the grid its prices and quantities live on.

A symbol is canonical when it is upper case with one hyphen between a base and a quote currency of
2 to 10 letters or digits each (``BTC-USD``). Prices are quoted in the quote currency per unit of
base; a price is valid when it is a whole number of ticks, a quantity when it is a whole number of
lots, both decided exactly on the ``Decimal`` values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from trading_engine.domain.decimals import is_multiple, positive
from trading_engine.domain.errors import ValidationError

CURRENCY_PATTERN = re.compile(r"[A-Z0-9]{2,10}")
SYMBOL_PATTERN = re.compile(r"(?P<base>[A-Z0-9]{2,10})-(?P<quote>[A-Z0-9]{2,10})")

SYMBOL_RULE = "upper-case BASE-QUOTE with 2-10 letters or digits on each side, e.g. BTC-USD"
CURRENCY_RULE = "2-10 upper-case letters or digits, e.g. USD"


def normalise_symbol(text: str) -> str:
    """``text`` stripped and upper-cased; whether it is then valid is ``parse_symbol``'s question."""
    return text.strip().upper()


def parse_symbol(text: object, *, field: str = "symbol") -> tuple[str, str, str]:
    """``(symbol, base, quote)`` for ``text`` after normalising; a ValidationError if it is malformed."""
    if not isinstance(text, str):
        raise ValidationError(f"{field} must be a string ({SYMBOL_RULE})", field=field)
    symbol = normalise_symbol(text)
    match = SYMBOL_PATTERN.fullmatch(symbol)
    if match is None:
        raise ValidationError(f"{field} {text!r} is not valid; expected {SYMBOL_RULE}", field=field)
    if match["base"] == match["quote"]:
        raise ValidationError(
            f"{field} {symbol} names the same currency twice; base and quote must differ", field=field
        )
    return symbol, match["base"], match["quote"]


def parse_currency(text: object, *, field: str = "currency") -> str:
    """A currency code, upper-cased; a ValidationError if it is not 2-10 letters or digits."""
    if not isinstance(text, str) or CURRENCY_PATTERN.fullmatch(text.strip().upper()) is None:
        raise ValidationError(f"{field} {text!r} is not valid; expected {CURRENCY_RULE}", field=field)
    return text.strip().upper()


@dataclass(frozen=True)
class Instrument:
    """One tradable pair. Every numeric field is a ``Decimal`` greater than 0.

    ``base`` and ``quote`` must be the two halves of ``symbol``; ``Instrument.create`` derives
    them. ``initial_price`` is where a simulated market starts; ``min_quantity`` is the smallest
    order size accepted (an order must also be a whole number of lots).
    """

    symbol: str
    base: str
    quote: str
    tick_size: Decimal
    lot_size: Decimal
    min_quantity: Decimal
    initial_price: Decimal

    def __post_init__(self) -> None:
        symbol, base, quote = parse_symbol(self.symbol)
        if symbol != self.symbol:
            raise ValidationError(
                f"symbol {self.symbol!r} is not canonical; use {symbol}", field="symbol"
            )
        if (base, quote) != (self.base, self.quote):
            raise ValidationError(
                f"base {self.base!r} and quote {self.quote!r} do not match symbol {symbol}; "
                f"expected base {base} and quote {quote}",
                field="symbol",
            )
        for name in ("tick_size", "lot_size", "min_quantity", "initial_price"):
            object.__setattr__(self, name, positive(getattr(self, name), field=f"{symbol} {name}"))

    @classmethod
    def create(
        cls,
        symbol: str,
        *,
        tick_size: Decimal | int | str,
        lot_size: Decimal | int | str,
        min_quantity: Decimal | int | str,
        initial_price: Decimal | int | str,
    ) -> Instrument:
        """An instrument from a symbol in any case; base and quote come from the symbol."""
        canonical, base, quote = parse_symbol(symbol)
        return cls(
            symbol=canonical,
            base=base,
            quote=quote,
            tick_size=positive(tick_size, field=f"{canonical} tick_size"),
            lot_size=positive(lot_size, field=f"{canonical} lot_size"),
            min_quantity=positive(min_quantity, field=f"{canonical} min_quantity"),
            initial_price=positive(initial_price, field=f"{canonical} initial_price"),
        )

    def is_on_tick(self, price: Decimal) -> bool:
        return is_multiple(price, self.tick_size)

    def is_on_lot(self, quantity: Decimal) -> bool:
        return is_multiple(quantity, self.lot_size)

    def notional(self, quantity: Decimal, price: Decimal) -> Decimal:
        """The value of ``quantity`` base units at ``price``, in the quote currency."""
        return quantity * price
