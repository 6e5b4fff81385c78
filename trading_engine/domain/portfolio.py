"""Positions, cash and their valuation in one reporting currency.

Positions use the AVERAGE-COST method. A position's quantity is signed (long > 0, short < 0) and
its cost basis is the signed entry value of that quantity in the quote currency.

- A fill in the direction of the position (or opening a flat one) adds ``quantity * price`` to the
  cost basis; the average entry price becomes ``cost_basis / quantity``, the quantity-weighted
  average of the entries.
- A fill against the position reduces it. The closed part realizes
  ``(fill_price - average) * closed_quantity`` for a long, ``(average - fill_price) * closed`` for
  a short; the average entry price stays as it was and the cost basis shrinks in proportion.
- Closing to exactly zero resets the average entry price and the cost basis to 0.
- A fill larger than the position flips it: the whole position closes (realizing its P&L) and the
  remainder opens at the fill price.

Realized P&L is gross of fees (fees are tracked on their own) and is kept as
``trade cash flow + cost basis``: the sum of ``-signed quantity * price`` over all fills plus the
entry value still open. Both are sums of products, so closing a position realizes exactly
``proceeds - cost`` with no rounding, whatever the averages were. The average entry price keeps
the full precision of the context (``302 / 3`` stays ``100.6666666666666666666666667``).

One value is rounded: the cost basis left after a partial close, ``cost_basis * remaining / held``,
which may not terminate. It is rounded half-even to ``COST_BASIS_RESOLUTION`` (1e-12 of the quote
currency) when it needs more decimals than that, so the cost basis, and with it realized and
unrealized P&L, carries no more decimals than 12 or the fills' own products, whichever is more. That bound is what
keeps every later sum exact: with 28 significant digits, amounts below 1e15 add without rounding,
so ``cash + market value`` equals ``initial cash + realized + unrealized - fees`` exactly after
any sequence of fills in one currency. (Left at full precision, a 28-digit cost basis added to a
larger amount would round in the last digit, and the identity would break there.) A partial close
therefore realizes ``(fill_price - average) * closed`` to within 1e-12 of the exact value. Unrealized P&L at a mark is
``mark * quantity - cost_basis``, which is ``(mark - average) * quantity`` without the rounded
average.

Cash is held per currency. A buy debits the quote currency by ``quantity * price + fee``, a sell
credits ``quantity * price - fee``: fees are always paid in the quote currency. Cash reserved for
resting buy orders stays in the balance but is not available to new orders.

Valuation converts an amount in currency X into the reporting currency R with the mark of the
instrument ``X-R`` (multiply) if it is configured, else of ``R-X`` (divide); with neither it is a
ValidationError naming the currency, and a configured instrument without a mark is Unavailable.
Realized P&L and fees of a position convert at the current mark of its quote currency, not at the
rates of the days they were made.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, getcontext
from typing import Any

from trading_engine.domain.decimals import ZERO, non_negative, plain, positive, to_decimal
from trading_engine.domain.errors import Unavailable, ValidationError
from trading_engine.domain.instruments import Instrument, parse_currency, parse_symbol
from trading_engine.domain.orders import Fill, Side, parse_enum, required_field


COST_BASIS_RESOLUTION = Decimal("1e-12")


def _remaining_cost(value: Decimal) -> Decimal:
    """``value`` rounded to COST_BASIS_RESOLUTION if it has finer digits (and fits the context)."""
    exponent = value.as_tuple().exponent
    if not isinstance(exponent, int) or exponent >= COST_BASIS_RESOLUTION.as_tuple().exponent:
        return value
    if value.adjusted() - COST_BASIS_RESOLUTION.adjusted() + 1 > getcontext().prec:
        return value
    return value.quantize(COST_BASIS_RESOLUTION, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True, slots=True)
class PositionSnapshot:
    """A position's state at one moment: immutable, what a store keeps. The constructor trusts
    its arguments (``from_dict`` validates)."""

    symbol: str
    quantity: Decimal = ZERO
    average_entry_price: Decimal = ZERO
    cost_basis: Decimal = ZERO
    cash_flow: Decimal = ZERO
    fees_paid: Decimal = ZERO

    @property
    def realized_pnl(self) -> Decimal:
        return self.cash_flow + self.cost_basis

    def to_dict(self) -> dict[str, Any]:
        """Decimals as strings; ``realized_pnl`` is derived, included for readers, ignored on load."""
        return {
            "symbol": self.symbol,
            "quantity": plain(self.quantity),
            "average_entry_price": plain(self.average_entry_price),
            "cost_basis": plain(self.cost_basis),
            "cash_flow": plain(self.cash_flow),
            "realized_pnl": plain(self.realized_pnl),
            "fees_paid": plain(self.fees_paid),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PositionSnapshot:
        def get(key: str) -> Any:
            return required_field(data, key, record="position")

        snapshot = cls(
            symbol=parse_symbol(get("symbol"))[0],
            quantity=to_decimal(get("quantity"), field="quantity"),
            average_entry_price=non_negative(get("average_entry_price"), field="average_entry_price"),
            cost_basis=to_decimal(get("cost_basis"), field="cost_basis"),
            cash_flow=to_decimal(get("cash_flow"), field="cash_flow"),
            fees_paid=non_negative(get("fees_paid"), field="fees_paid"),
        )
        quantity, cost, average = snapshot.quantity, snapshot.cost_basis, snapshot.average_entry_price
        consistent = (
            cost == 0 and average == 0
            if quantity == 0
            else average > 0 and cost != 0 and (cost > 0) == (quantity > 0)
        )
        if not consistent:
            raise ValidationError(
                f"position {snapshot.symbol} record is inconsistent: quantity {plain(quantity)}, "
                f"cost_basis {plain(cost)}, average_entry_price {plain(average)}; a flat position has "
                "both 0, an open one a positive average and a cost basis of the quantity's sign",
                field="quantity",
            )
        return snapshot


class Position:
    """The holding in one symbol, under the average-cost method described in the module.

    The state is one immutable ``PositionSnapshot``, replaced at every fill."""

    __slots__ = ("_state",)

    def __init__(self, symbol: str) -> None:
        """A flat position in ``symbol``."""
        self._state = PositionSnapshot(parse_symbol(symbol)[0])

    @classmethod
    def from_snapshot(cls, snapshot: PositionSnapshot) -> Position:
        position = cls.__new__(cls)
        position._state = snapshot
        return position

    @property
    def snapshot(self) -> PositionSnapshot:
        """The position as it is now; unaffected by later fills."""
        return self._state

    @property
    def symbol(self) -> str:
        return self._state.symbol

    @property
    def quantity(self) -> Decimal:
        """Signed: long > 0, short < 0, flat 0."""
        return self._state.quantity

    @property
    def average_entry_price(self) -> Decimal:
        """Quantity-weighted average entry price of the open quantity; 0 when flat."""
        return self._state.average_entry_price

    @property
    def cost_basis(self) -> Decimal:
        """Signed entry value of the open quantity in the quote currency; 0 when flat."""
        return self._state.cost_basis

    @property
    def cash_flow(self) -> Decimal:
        """Sum over all fills of ``-signed quantity * price``: sale proceeds minus purchase costs."""
        return self._state.cash_flow

    @property
    def realized_pnl(self) -> Decimal:
        """P&L of the quantity closed so far, gross of fees, in the quote currency."""
        return self._state.realized_pnl

    @property
    def fees_paid(self) -> Decimal:
        return self._state.fees_paid

    @property
    def is_flat(self) -> bool:
        return self._state.quantity == 0

    def apply_fill(
        self,
        side: Side | str,
        quantity: Decimal | int | str,
        price: Decimal | int | str,
        fee: Decimal | int | str = ZERO,
    ) -> Decimal:
        """Apply one execution and return the P&L it realized (gross of ``fee``)."""
        side = parse_enum(Side, side, field="side")
        quantity = positive(quantity, field="quantity")
        price = positive(price, field="price")
        fee = non_negative(fee, field="fee")
        state = self._state
        signed = quantity if side is Side.BUY else -quantity
        held = state.quantity
        after = held + signed
        cost, average = state.cost_basis, state.average_entry_price
        if held == 0 or (held > 0) == (signed > 0):
            cost += signed * price
            average = cost / after
        elif after == 0:
            cost = average = ZERO
        elif (after > 0) == (held > 0):
            cost = _remaining_cost(cost * after / held)
        else:
            cost = after * price
            average = price
        self._state = PositionSnapshot(
            symbol=state.symbol,
            quantity=after,
            average_entry_price=average,
            cost_basis=cost,
            cash_flow=state.cash_flow - signed * price,
            fees_paid=state.fees_paid + fee,
        )
        return self._state.realized_pnl - state.realized_pnl

    def unrealized_pnl(self, mark: Decimal) -> Decimal:
        """``(mark - average) * quantity``, computed as ``mark * quantity - cost_basis``."""
        return mark * self._state.quantity - self._state.cost_basis

    def notional(self, mark: Decimal) -> Decimal:
        """``|quantity| * mark`` in the quote currency."""
        return abs(self._state.quantity) * mark

    def copy(self) -> Position:
        return Position.from_snapshot(self._state)

    def to_dict(self) -> dict[str, Any]:
        """Decimals as strings; ``realized_pnl`` is derived, included for readers, ignored on load."""
        return self._state.to_dict()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Position:
        return cls.from_snapshot(PositionSnapshot.from_dict(data))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Position):
            return NotImplemented
        return self._state == other._state

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        state = self._state
        return (
            f"Position({state.symbol}: {plain(state.quantity)} @ {plain(state.average_entry_price)}, "
            f"realized {plain(state.realized_pnl)}, fees {plain(state.fees_paid)})"
        )


@dataclass(frozen=True, slots=True)
class CashBalance:
    """The cash held in one currency: the balance, and the part of it reserved for resting buys."""

    currency: str
    balance: Decimal
    reserved: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class AccountSettings:
    """The account's own settings, stored with it."""

    reporting_currency: str

    def __post_init__(self) -> None:
        currency = parse_currency(self.reporting_currency, field="reporting_currency")
        object.__setattr__(self, "reporting_currency", currency)

    def to_dict(self) -> dict[str, Any]:
        return {"reporting_currency": self.reporting_currency}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AccountSettings:
        return cls(required_field(data, "reporting_currency", record="account"))


def mark_of(symbol: str, marks: Mapping[str, Decimal]) -> Decimal:
    """The mark price of ``symbol``: Unavailable when there is none, ValidationError unless > 0."""
    mark = marks.get(symbol)
    if mark is None:
        raise Unavailable(f"no mark price for {symbol}; a current price is needed to value it")
    if mark.__class__ is Decimal and mark.is_finite() and mark > 0:  # the usual mark, checked without
        return mark  # building the name ``positive`` would report it under
    return positive(mark, field=f"mark of {symbol}")


def _instrument_of(symbol: str, instruments: Mapping[str, Instrument]) -> Instrument:
    instrument = instruments.get(symbol)
    if instrument is None:
        raise ValidationError(
            f"the portfolio holds {symbol}, which is not a configured instrument; "
            "every traded symbol must stay configured to be valued",
            field="symbol",
        )
    return instrument


def convert(
    amount: Decimal,
    currency: str,
    into: str,
    marks: Mapping[str, Decimal],
    instruments: Mapping[str, Instrument],
) -> Decimal:
    """``amount`` of ``currency`` expressed in ``into``, by the rule in the module docstring.

    A zero amount is zero in any currency and needs no rate.
    """
    if currency == into:
        return amount
    if amount == 0:
        return ZERO
    symbol = conversion_symbol(currency, into, instruments)
    mark = mark_of(symbol, marks)
    return amount * mark if instruments[symbol].base == currency else amount / mark


def conversion_symbol(currency: str, into: str, instruments: Mapping[str, Instrument]) -> str:
    """The instrument whose mark converts ``currency`` (not ``into`` itself) into ``into``, by the
    rule in the module docstring."""
    direct, inverse = f"{currency}-{into}", f"{into}-{currency}"
    if direct in instruments:
        return direct
    if inverse in instruments:
        return inverse
    raise ValidationError(
        f"cannot convert {currency} into {into}: neither {direct} nor {inverse} is a configured "
        "instrument; configure one of them to hold or trade in this currency",
        field="currency",
    )


def pricing_symbols(symbol: str, into: str, instruments: Mapping[str, Instrument]) -> tuple[str, ...]:
    """The instruments whose marks value ``symbol`` in ``into``: the symbol itself, then the one
    converting its quote currency (none when it is quoted in ``into``)."""
    quote = instruments[symbol].quote
    return (symbol,) if quote == into else (symbol, conversion_symbol(quote, into, instruments))


@dataclass(frozen=True)
class PositionValuation:
    """One position at its mark; every amount in ``currency``, the instrument's quote currency.

    ``mark`` is None for a flat position without a mark (a flat position needs none).
    """

    symbol: str
    currency: str
    quantity: Decimal
    average_entry_price: Decimal
    mark: Decimal | None
    market_value: Decimal
    unrealized_pnl: Decimal
    realized_pnl: Decimal
    fees_paid: Decimal


@dataclass(frozen=True)
class PortfolioValuation:
    """The account at a set of marks. ``cash`` and ``reserved`` are per currency, unconverted;
    every other amount is in ``reporting_currency``.

    ``equity`` is converted cash plus the signed market value of every position;
    ``gross_exposure`` sums ``|quantity| * mark``, ``net_exposure`` sums ``quantity * mark``.
    """

    reporting_currency: str
    cash: Mapping[str, Decimal]
    reserved: Mapping[str, Decimal]
    equity: Decimal
    gross_exposure: Decimal
    net_exposure: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    fees: Decimal
    positions: tuple[PositionValuation, ...]


class Portfolio:
    """The account: cash and reservations per currency, positions by symbol.

    Cash may go negative (a leveraged buy); whether an order may do that is the pre-trade checks'
    decision, not the account's.
    """

    __slots__ = ("_reporting_currency", "_cash", "_reserved", "_positions")

    def __init__(
        self, reporting_currency: str, cash: Mapping[str, Decimal | int | str] | None = None
    ) -> None:
        self._reporting_currency = parse_currency(reporting_currency, field="reporting_currency")
        self._cash: dict[str, Decimal] = {}
        self._reserved: dict[str, Decimal] = {}
        self._positions: dict[str, Position] = {}
        for currency, balance in (cash or {}).items():
            code = parse_currency(currency, field="cash currency")
            self._cash[code] = to_decimal(balance, field=f"cash {code}")

    @classmethod
    def restore(
        cls, settings: AccountSettings, cash: Iterable[CashBalance], positions: Iterable[PositionSnapshot]
    ) -> Portfolio:
        """The account from stored values, without reservations: they are derived from the
        resting orders, which the caller reserves for again."""
        portfolio = cls(settings.reporting_currency, {entry.currency: entry.balance for entry in cash})
        for snapshot in positions:
            portfolio._positions[snapshot.symbol] = Position.from_snapshot(snapshot)
        return portfolio

    @property
    def settings(self) -> AccountSettings:
        return AccountSettings(self._reporting_currency)

    @property
    def reporting_currency(self) -> str:
        return self._reporting_currency

    @property
    def cash(self) -> dict[str, Decimal]:
        """Balance per currency, reserved amounts included."""
        return dict(self._cash)

    @property
    def reserved(self) -> dict[str, Decimal]:
        return dict(self._reserved)

    @property
    def positions(self) -> dict[str, Position]:
        """Copies of every position ever traded, flat ones included (they carry realized P&L)."""
        return {symbol: position.copy() for symbol, position in self._positions.items()}

    def position(self, symbol: str) -> Position:
        """A copy of the position in ``symbol``; a flat one if it was never traded."""
        held = self._positions.get(symbol)
        return Position(symbol) if held is None else held.copy()

    def cash_balance(self, currency: str) -> Decimal:
        return self._cash.get(currency, ZERO)

    def cash_snapshot(self, currency: str) -> CashBalance:
        """The balance and the reservation in ``currency``, as one value."""
        return CashBalance(currency, self.cash_balance(currency), self.reserved_cash(currency))

    def reserved_cash(self, currency: str) -> Decimal:
        return self._reserved.get(currency, ZERO)

    def available_cash(self, currency: str) -> Decimal:
        """The balance less what resting buy orders have reserved."""
        return self.cash_balance(currency) - self.reserved_cash(currency)

    def reserve(self, currency: str, amount: Decimal | int | str) -> None:
        """Set ``amount`` (> 0) aside for a resting buy order.

        Reserving more than is available is allowed (a leveraged account may); the funds check
        happens before, in the pre-trade checks.
        """
        code = parse_currency(currency)
        value = positive(amount, field="amount")
        self._reserved[code] = self.reserved_cash(code) + value

    def release(self, currency: str, amount: Decimal | int | str) -> None:
        """Return ``amount`` (> 0, at most what is reserved) to available cash."""
        code = parse_currency(currency)
        value = positive(amount, field="amount")
        held = self.reserved_cash(code)
        if value > held:
            raise ValidationError(
                f"cannot release {plain(value)} {code}: only {plain(held)} {code} is reserved",
                field="amount",
            )
        if value == held:
            self._reserved.pop(code, None)
        else:
            self._reserved[code] = held - value

    def apply_fill(self, fill: Fill, instrument: Instrument) -> Decimal:
        """Update the position and the quote cash for ``fill`` together; return the realized P&L."""
        if fill.symbol != instrument.symbol:
            raise ValidationError(
                f"fill {fill.fill_id} is for {fill.symbol} but the instrument given is {instrument.symbol}; "
                "pass the fill's own instrument",
                field="symbol",
            )
        position = self.position(fill.symbol)
        realized = position.apply_fill(fill.side, fill.quantity, fill.price, fill.fee)
        if fill.side is Side.BUY:
            change = -(fill.notional + fill.fee)
        else:
            change = fill.notional - fill.fee
        self._cash[instrument.quote] = self.cash_balance(instrument.quote) + change
        self._positions[fill.symbol] = position
        return realized

    def valuation(
        self, marks: Mapping[str, Decimal], instruments: Mapping[str, Instrument]
    ) -> PortfolioValuation:
        """Value the account at ``marks`` in the reporting currency (see the module docstring)."""
        into = self._reporting_currency

        def to_reporting(value: Decimal, currency: str) -> Decimal:
            return convert(value, currency, into, marks, instruments)

        positions = self._position_valuations(marks, instruments)
        equity = sum((to_reporting(balance, currency) for currency, balance in self._cash.items()), ZERO)
        gross = net = realized = unrealized = fees = ZERO
        for item in positions:
            market_value = to_reporting(item.market_value, item.currency)
            equity += market_value
            net += market_value
            gross += abs(market_value)
            realized += to_reporting(item.realized_pnl, item.currency)
            unrealized += to_reporting(item.unrealized_pnl, item.currency)
            fees += to_reporting(item.fees_paid, item.currency)
        return PortfolioValuation(
            reporting_currency=into,
            cash=dict(self._cash),
            reserved=dict(self._reserved),
            equity=equity,
            gross_exposure=gross,
            net_exposure=net,
            realized_pnl=realized,
            unrealized_pnl=unrealized,
            fees=fees,
            positions=positions,
        )

    def equity(self, marks: Mapping[str, Decimal], instruments: Mapping[str, Instrument]) -> Decimal:
        """The ``equity`` of ``valuation(marks, instruments)``, summed the same way (so equal to
        the digit), without the per-position breakdown: what a backtest samples after every event."""
        into = self._reporting_currency
        equity = ZERO
        for currency, balance in self._cash.items():  # a loop, not sum() over a generator: per event
            equity += balance if currency == into else convert(balance, currency, into, marks, instruments)
        positions = self._positions
        for symbol in positions if len(positions) < 2 else sorted(positions):
            position = positions[symbol]
            currency = _instrument_of(symbol, instruments).quote
            value = ZERO if position.is_flat else position.quantity * mark_of(symbol, marks)
            equity += convert(value, currency, into, marks, instruments)
        return equity

    def needs_marks(self) -> bool:
        """Whether the equity depends on marks: a position is open, or cash is held in a currency
        other than the reporting one. Without either it stays what it is until the next fill."""
        into = self._reporting_currency
        return (any(not position.is_flat for position in self._positions.values())
                or any(balance != 0 for currency, balance in self._cash.items() if currency != into))

    def gross_exposure(self, marks: Mapping[str, Decimal], instruments: Mapping[str, Instrument]) -> Decimal:
        """Sum of ``|quantity| * mark`` over open positions, in the reporting currency."""
        total = ZERO
        for item in self._position_valuations(marks, instruments, open_only=True):
            value = convert(item.market_value, item.currency, self._reporting_currency, marks, instruments)
            total += abs(value)
        return total

    def _position_valuations(
        self,
        marks: Mapping[str, Decimal],
        instruments: Mapping[str, Instrument],
        *,
        open_only: bool = False,
    ) -> tuple[PositionValuation, ...]:
        valued = []
        for symbol in sorted(self._positions):
            position = self._positions[symbol]
            if open_only and position.is_flat:
                continue
            instrument = _instrument_of(symbol, instruments)
            if position.is_flat:
                mark = None if symbol not in marks else mark_of(symbol, marks)
                market_value = unrealized = ZERO
            else:
                mark = mark_of(symbol, marks)
                market_value = position.quantity * mark
                unrealized = position.unrealized_pnl(mark)
            valued.append(
                PositionValuation(
                    symbol=symbol,
                    currency=instrument.quote,
                    quantity=position.quantity,
                    average_entry_price=position.average_entry_price,
                    mark=mark,
                    market_value=market_value,
                    unrealized_pnl=unrealized,
                    realized_pnl=position.realized_pnl,
                    fees_paid=position.fees_paid,
                )
            )
        return tuple(valued)

    def to_dict(self) -> dict[str, Any]:
        return {
            "reporting_currency": self._reporting_currency,
            "cash": {currency: plain(balance) for currency, balance in sorted(self._cash.items())},
            "reserved": {currency: plain(amount) for currency, amount in sorted(self._reserved.items())},
            "positions": [self._positions[symbol].to_dict() for symbol in sorted(self._positions)],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Portfolio:
        fields = {
            key: required_field(data, key, record="portfolio")
            for key in ("reporting_currency", "cash", "reserved", "positions")
        }
        portfolio = cls(fields["reporting_currency"], fields["cash"])
        for currency, amount in fields["reserved"].items():
            portfolio.reserve(currency, amount)
        for record in fields["positions"]:
            position = Position.from_dict(record)
            portfolio._positions[position.symbol] = position
        return portfolio

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Portfolio):
            return NotImplemented
        return (
            self._reporting_currency == other._reporting_currency
            and self._cash == other._cash
            and self._reserved == other._reserved
            and self._positions == other._positions
        )

    __hash__ = None  # type: ignore[assignment]
