"""The built-in strategies: ``BUILTIN`` maps each name to its :class:`StrategySpec`.

Each module holds one strategy class and its ``SPEC`` and documents its exact rules. They are
pure decision functions over the events the runtime feeds them (see ``domain/strategy.py``):
standard library only, time only from ``context.now``, randomness only from the
``random.Random(seed)`` their factory builds. Every price and quantity they emit is snapped onto
the instrument's grid (``grid``): quantities floor to the lot, bids floor and asks ceil to the
tick, and nothing below the instrument's minimum order size is emitted.

The specs declare only each strategy's own parameters; the runtime adds the per-instance limits
(``max_position_notional``, ``max_orders_per_second``, ``max_open_orders``) to every spec.

``check_for_instrument`` is the one rule a spec cannot check on its own: whether a size parameter
(a parameter marked ``order_size``) is at least the minimum order size of the instrument the
instance will trade (the spec's ``checks`` never see the instrument). Without it such an instance would run and never trade.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from trading_engine.domain.decimals import plain
from trading_engine.domain.errors import ValidationError
from trading_engine.domain.instruments import Instrument
from trading_engine.domain.strategies import (
    market_making,
    mean_reversion,
    momentum,
    risk_ignorant,
    runaway,
    slow_leak,
)
from trading_engine.domain.strategies.grid import snap_quantity
from trading_engine.domain.strategy import StrategySpec

BUILTIN: Mapping[str, StrategySpec] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            market_making.SPEC,
            momentum.SPEC,
            mean_reversion.SPEC,
            runaway.SPEC,
            risk_ignorant.SPEC,
            slow_leak.SPEC,
        )
    }
)

def check_for_instrument(spec: StrategySpec, params: Mapping[str, Any], instrument: Instrument) -> None:
    """Refuse validated ``params`` whose order sizes (the parameters ``spec`` marks
    ``order_size``, built-in or plug-in alike), floored to the instrument's lot, are below its
    minimum order size; the error names the parameter."""
    for name in spec.order_sizes:
        if name not in params:
            continue
        value = params[name]
        if snap_quantity(value, instrument) < instrument.min_quantity:
            raise ValidationError(
                f"params.{name} {plain(value)} is too small for {instrument.symbol}: orders must be "
                f"at least {plain(instrument.min_quantity)} in lots of {plain(instrument.lot_size)}",
                field=f"params.{name}",
            )


__all__ = ["BUILTIN", "check_for_instrument"]
