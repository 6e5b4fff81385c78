"""Exact decimal helpers for the market adapters: snapping prices onto a tick grid and products
that must not round.

Every function works in its own ``decimal`` context with enough precision for the operands, so
the results are exact and never depend on the caller's context. Values and steps must be greater
than 0.
"""

from __future__ import annotations

from decimal import Context, Decimal, Inexact, ROUND_HALF_EVEN
from functools import lru_cache


def _context(*numbers: Decimal) -> Context:
    """A context wide enough that every product, quotient to an integer and remainder of
    ``numbers`` is exact; ``Inexact`` is trapped so a mistake fails loudly instead of rounding."""
    digits = sum(len(number.as_tuple().digits) for number in numbers)
    spread = max(number.adjusted() for number in numbers) - min(number.adjusted() for number in numbers)
    return _context_of(max(28, digits + spread + 2))


@lru_cache(maxsize=256)
def _context_of(precision: int) -> Context:
    """One shared context per precision: contexts are costly to build, and these are only used
    through their methods, with Inexact trapped, so sharing them changes no result."""
    return Context(prec=precision, rounding=ROUND_HALF_EVEN, traps=[Inexact])


def _ticks(value: Decimal, tick: Decimal) -> tuple[Decimal, Decimal, Context]:
    """``(whole ticks in value, remainder, context)``, both exact."""
    context = _context(value, tick)
    whole = context.divide_int(value, tick)
    remainder = context.subtract(value, context.multiply(whole, tick))
    return whole, remainder, context


def floor_to_tick(value: Decimal, tick: Decimal) -> Decimal:
    """The largest whole number of ``tick`` s that is not above ``value``."""
    whole, _remainder, context = _ticks(value, tick)
    return context.multiply(whole, tick)


def ceil_to_tick(value: Decimal, tick: Decimal) -> Decimal:
    """The smallest whole number of ``tick`` s that is not below ``value``."""
    whole, remainder, context = _ticks(value, tick)
    if remainder > 0:
        whole = context.add(whole, 1)
    return context.multiply(whole, tick)


def nearest_tick(value: Decimal, tick: Decimal) -> Decimal:
    """``value`` rounded to the nearest whole number of ``tick`` s, halves to the even count."""
    whole, remainder, context = _ticks(value, tick)
    twice = context.multiply(remainder, 2)
    if twice > tick or (twice == tick and context.remainder(whole, 2) == 1):
        whole = context.add(whole, 1)
    return context.multiply(whole, tick)


def exact_product(*factors: Decimal) -> Decimal:
    """The product of ``factors`` without rounding."""
    context = _context(*factors)
    result = Decimal(1)
    for factor in factors:
        result = context.multiply(result, factor)
    return result


def exact_difference(minuend: Decimal, subtrahend: Decimal) -> Decimal:
    """``minuend - subtrahend`` without rounding."""
    return _context(minuend, subtrahend).subtract(minuend, subtrahend)


def scaled_by_bps(value: Decimal, bps: Decimal) -> Decimal:
    """``value * bps / 10000`` without rounding (a division by a power of ten is exact)."""
    product = exact_product(value, bps)
    return product.scaleb(-4, _context(product))
