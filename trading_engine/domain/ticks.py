"""Exact decimal helpers: snapping a number onto a grid of steps (prices onto the tick grid,
quantities onto the lot grid) and products that must not round.

The one place the engine floors, ceils or rounds to a step: the paper venue, the simulated feed
and the built-in strategies all call these. Every function works in one ``decimal`` context of its
own, wide enough for the operands, so the results are exact and never depend on the caller's
context. Steps must be greater than 0; values may have any sign.
"""

from __future__ import annotations

from decimal import Context, Decimal, Inexact, ROUND_HALF_EVEN


# Wide enough that every product, integer quotient and remainder these helpers compute on prices,
# quantities and rates is exact (two 28-digit operands need 56 digits; the spread between a
# 1e15 price and a 1e-12 step adds 27); Inexact is trapped, so anything wider fails loudly
# instead of rounding. Operations cost what their operands' digits cost, not the precision.
_EXACT = Context(prec=200, rounding=ROUND_HALF_EVEN, traps=[Inexact])


def _context_for(value: Decimal, tick: Decimal) -> Context:
    """``_EXACT``, or a wider exact context when ``value`` holds more whole ticks than it can
    count (a strategy parameter such as 1e307 lots): snapping is exact for any finite value."""
    digits = value.adjusted() - tick.adjusted() + len(tick.as_tuple().digits) + 2
    if value and digits > _EXACT.prec:
        return Context(prec=digits, rounding=ROUND_HALF_EVEN, traps=[Inexact])
    return _EXACT


def _ticks(value: Decimal, tick: Decimal) -> tuple[Decimal, Decimal, Context]:
    """``(whole ticks in value, truncated toward zero; remainder, with value's sign; context)``,
    both exact."""
    if not tick > 0:
        raise ValueError(f"step {tick} must be greater than 0")
    context = _context_for(value, tick)
    whole = context.divide_int(value, tick)
    remainder = context.subtract(value, context.multiply(whole, tick))
    return whole, remainder, context


def floor_to_tick(value: Decimal, tick: Decimal) -> Decimal:
    """The largest whole number of ``tick`` s that is not above ``value``."""
    whole, remainder, context = _ticks(value, tick)
    if remainder < 0:
        whole = context.subtract(whole, 1)
    return context.multiply(whole, tick)


def ceil_to_tick(value: Decimal, tick: Decimal) -> Decimal:
    """The smallest whole number of ``tick`` s that is not below ``value``."""
    whole, remainder, context = _ticks(value, tick)
    if remainder > 0:
        whole = context.add(whole, 1)
    return context.multiply(whole, tick)


def nearest_tick(value: Decimal, tick: Decimal) -> Decimal:
    """``value`` rounded to the nearest whole number of ``tick`` s, halves to the even count."""
    if value < 0:
        return -nearest_tick(-value, tick)
    whole, remainder, context = _ticks(value, tick)
    twice = context.multiply(remainder, 2)
    if twice > tick or (twice == tick and context.remainder(whole, 2) == 1):
        whole = context.add(whole, 1)
    return context.multiply(whole, tick)


def exact_product(*factors: Decimal) -> Decimal:
    """The product of ``factors`` without rounding."""
    context = _EXACT
    result = Decimal(1)
    for factor in factors:
        result = context.multiply(result, factor)
    return result


def exact_difference(minuend: Decimal, subtrahend: Decimal) -> Decimal:
    """``minuend - subtrahend`` without rounding."""
    return _EXACT.subtract(minuend, subtrahend)


def scaled_by_bps(value: Decimal, bps: Decimal) -> Decimal:
    """``value * bps / 10000`` without rounding (a division by a power of ten is exact)."""
    product = exact_product(value, bps)
    return product.scaleb(-4, _EXACT)
