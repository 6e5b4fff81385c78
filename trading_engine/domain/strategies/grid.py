"""Snapping numbers onto an instrument's grid, so every intent a strategy emits is valid as sent.

Prices live on the tick grid and quantities on the lot grid (``Instrument.is_on_tick`` /
``is_on_lot``). Strategies compute prices and sizes with ordinary ``Decimal`` arithmetic and snap
the result here:

* a quantity floors to a whole number of lots (never more than the strategy asked for);
* a bid floors to a tick and an ask ceils to a tick (rounding never makes a quote more
  aggressive than computed);
* ``order_quantity`` is the snapped quantity, or ``None`` when that is below the instrument's
  minimum order size, in which case a strategy emits nothing (never a zero quantity).

All rounding is exact (``domain/ticks.py``, the engine's one floor/ceil-to-step arithmetic), so a
large value never loses digits to the default 28-digit context.
"""

from __future__ import annotations

from decimal import Decimal

from trading_engine.domain.instruments import Instrument
from trading_engine.domain.ticks import ceil_to_tick, floor_to_tick


def snap_quantity(quantity: Decimal, instrument: Instrument) -> Decimal:
    """``|quantity|`` floored to the instrument's lot (0 when less than one lot)."""
    return floor_to_tick(abs(quantity), instrument.lot_size)


def order_quantity(quantity: Decimal, instrument: Instrument) -> Decimal | None:
    """``|quantity|`` floored to the lot, or ``None`` when that is below the minimum order size
    (or zero): the quantity a strategy may put on an order, if any."""
    snapped = snap_quantity(quantity, instrument)
    if snapped <= 0 or snapped < instrument.min_quantity:
        return None
    return snapped


def snap_bid(price: Decimal, instrument: Instrument) -> Decimal:
    """A buy price floored to the tick."""
    return floor_to_tick(price, instrument.tick_size)


def snap_ask(price: Decimal, instrument: Instrument) -> Decimal:
    """A sell price ceiled to the tick."""
    return ceil_to_tick(price, instrument.tick_size)
