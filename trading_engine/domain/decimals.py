"""Exact numbers: every amount, price and quantity is a finite ``Decimal``, never a float.

Values enter the model through ``to_decimal``, which accepts a ``Decimal``, an ``int`` or a numeric
string and refuses floats (a float such as 0.1 is already inexact before it arrives), booleans,
NaN and infinities. Arithmetic then runs in the caller's ``decimal`` context (28 significant
digits by default): sums and products of typical prices and quantities are exact; divisions
(averages, cost shares, currency conversion) round to that precision. The one deliberate rounding
beyond that is the cost basis left by a partial close, kept to 1e-12 (see ``portfolio``).
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any

from trading_engine.domain.errors import ValidationError

ZERO = Decimal(0)
ONE = Decimal(1)
BPS = Decimal(10000)


def to_decimal(value: object, *, field: str) -> Decimal:
    """``value`` as a finite ``Decimal``; a ValidationError naming ``field`` otherwise."""
    if isinstance(value, bool):
        raise ValidationError(f"{field} must be a number, not a boolean", field=field)
    if isinstance(value, float):
        raise ValidationError(
            f"{field} {value!r} is a float; give it as a string or an integer so it stays exact",
            field=field,
        )
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise ValidationError(
                f"{field} {value!r} is not a number; expected a decimal such as 0.25", field=field
            ) from None
    else:
        raise ValidationError(
            f"{field} must be a decimal number (Decimal, int or numeric string), "
            f"not {type(value).__name__}",
            field=field,
        )
    if not number.is_finite():
        raise ValidationError(f"{field} {value} is not allowed; only finite numbers are", field=field)
    return number


def positive(value: object, *, field: str) -> Decimal:
    """``value`` as a ``Decimal`` greater than 0."""
    number = to_decimal(value, field=field)
    if number <= 0:
        raise ValidationError(
            f"{field} {plain(number)} is not allowed; it must be greater than 0", field=field
        )
    return number


def non_negative(value: object, *, field: str) -> Decimal:
    """``value`` as a ``Decimal`` of at least 0."""
    number = to_decimal(value, field=field)
    if number < 0:
        raise ValidationError(f"{field} {plain(number)} is not allowed; it must be 0 or more", field=field)
    return number


def is_multiple(value: Decimal, step: Decimal) -> bool:
    """Whether ``value`` is a whole number of ``step`` s, decided exactly.

    The remainder is taken with just enough precision for the integer quotient, so a huge value
    never trips ``decimal``'s DivisionImpossible and the answer never depends on rounding.
    """
    if value == 0:
        return True
    digits = max(value.adjusted() - step.adjusted() + 2, 1)
    with localcontext() as context:
        context.prec = max(context.prec, digits)
        return value % step == 0


def plain(number: Decimal) -> str:
    """``number`` in positional notation (never ``1E+5``), with the digits it carries: its ``str``
    when that has no exponent (the same text, made in half the time), else ``format(number, "f")``."""
    text = str(number)
    return text if "E" not in text else format(number, "f")


def _decimal_as_text(value: object) -> str:
    if isinstance(value, Decimal):
        return plain(value)
    raise TypeError(f"{type(value).__name__} {value!r} is not JSON serialisable")


def json_text(data: Any) -> str:
    """``data`` as compact JSON with every ``Decimal`` a string in positional notation (``"2500"``,
    never ``"2.5E+3"``): exact, and what clients parse. The one encoder of the API's bodies and the
    stores' rows; NaN and infinities are refused (``ValueError``), any other non-JSON value raises
    ``TypeError``."""
    return json.dumps(data, default=_decimal_as_text, separators=(",", ":"), allow_nan=False)


def trimmed(number: Decimal) -> str:
    """``number`` in positional notation without trailing zeros (``50025.0000`` -> ``50025``)."""
    with localcontext() as context:
        context.prec = max(context.prec, len(number.as_tuple().digits))
        return plain(number.normalize())


def amount(number: Decimal) -> str:
    """A computed money amount for a message: two decimals, or more when the value has more digits.

    Trailing zeros beyond the second decimal are dropped, significant digits never are.
    """
    with localcontext() as context:
        context.prec = max(context.prec, len(number.as_tuple().digits), number.adjusted() + 4)
        reduced = number.normalize()
        exponent = reduced.as_tuple().exponent
        if isinstance(exponent, int) and exponent >= -2:
            return plain(reduced.quantize(Decimal("0.01")))
        return plain(reduced)
