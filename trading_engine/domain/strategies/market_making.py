"""``market_making``: two-sided limit quotes around the mid, skewed by inventory.

Rules (``mid`` is the tick's price; bps are 1/10,000):

* ``half = spread_bps / 2 / 10000`` and ``skew = skew_bps / 10000 * clamp(position /
  max_inventory, -1, 1)``;
* bid ``= mid * (1 - half - skew)`` floored to the tick, ask ``= mid * (1 + half - skew)``
  ceiled to the tick. As the raw ask is above the raw bid (``spread_bps > 0``) and snapping
  only widens them, the ask is always at least one tick above the bid. Long inventory shifts
  both quotes down (less eager to buy, more eager to sell), short inventory shifts them up;
* both quotes are gtc limit orders. The bid's size is ``min(quote_size, max_inventory -
  position)`` and the ask's ``min(quote_size, max_inventory + position)``, floored to the lot,
  so no fill can take ``|position|`` beyond ``max_inventory``; a side whose size is below the
  instrument's minimum order size (or a bid at a price of 0 or less) is not quoted;
* it requotes (a ``CancelOrder`` for every resting order of the instance, then the new quotes)
  when it has never quoted, when one of its orders filled (even partly) since the last quotes,
  when the mid moved more than ``requote_bps`` from the mid of the last quotes, or when none of
  its orders rest any more (cancelled elsewhere, expired) although its last quotes were not
  refused; otherwise it emits nothing. A refused quote (a risk event) is not retried until a
  fill or a mid move past ``requote_bps``, so a refusal never turns into a quote every tick.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from trading_engine.domain.decimals import BPS, ZERO
from trading_engine.domain.errors import ValidationError
from trading_engine.domain.orders import Fill, OrderType, Side, TimeInForce
from trading_engine.domain.strategies.grid import order_quantity, snap_ask, snap_bid
from trading_engine.domain.strategy import (
    CancelOrder,
    Intent,
    Parameter,
    PlaceOrder,
    RiskEvent,
    StrategyContext,
    StrategySpec,
)

ONE = Decimal(1)


class MarketMaking:
    def __init__(
        self,
        *,
        spread_bps: Decimal,
        quote_size: Decimal,
        max_inventory: Decimal,
        skew_bps: Decimal,
        requote_bps: Decimal,
    ) -> None:
        self.half_spread = spread_bps / 2 / BPS
        self.quote_size = quote_size
        self.max_inventory = max_inventory
        self.skew = skew_bps / BPS
        self.requote_bps = requote_bps
        self.last_mid: Decimal | None = None  # mid of the last quotes placed
        self._filled = False  # one of its orders filled since the last quotes
        self._refused = False  # a risk event refused something since the last quotes

    # -- pricing -----------------------------------------------------------------------------------

    def quotes(self, mid: Decimal, context: StrategyContext) -> list[PlaceOrder]:
        """The bid and ask (either may be left out) for ``mid`` and the current position."""
        instrument = context.instrument
        position = context.position
        inventory = max(-ONE, min(ONE, position / self.max_inventory))
        skew = self.skew * inventory
        bid_price = snap_bid(mid * (ONE - self.half_spread - skew), instrument)
        ask_price = snap_ask(mid * (ONE + self.half_spread - skew), instrument)
        out = []
        bid_size = _size(min(self.quote_size, self.max_inventory - position), context)
        if bid_size is not None and bid_price > ZERO:
            out.append(_limit(Side.BUY, bid_size, bid_price))
        ask_size = _size(min(self.quote_size, self.max_inventory + position), context)
        if ask_size is not None:
            out.append(_limit(Side.SELL, ask_size, ask_price))
        return out

    def _due(self, mid: Decimal, context: StrategyContext) -> bool:
        if self.last_mid is None or self._filled:
            return True
        if abs(mid - self.last_mid) * BPS > self.requote_bps * self.last_mid:
            return True
        return not context.resting_orders and not self._refused

    # -- events ------------------------------------------------------------------------------------

    def on_tick(self, price: Decimal, context: StrategyContext) -> Sequence[Intent]:
        if not self._due(price, context):
            return []
        intents: list[Intent] = [CancelOrder(order.order_id) for order in context.resting_orders]
        intents.extend(self.quotes(price, context))
        self.last_mid = price
        self._filled = self._refused = False
        return intents

    def on_fill(self, fill: Fill, context: StrategyContext) -> Sequence[Intent]:
        self._filled = True
        return []

    def on_risk_event(self, event: RiskEvent, context: StrategyContext) -> Sequence[Intent]:
        self._refused = True
        return []


def _size(room: Decimal, context: StrategyContext) -> Decimal | None:
    """The quote size that fits in ``room`` (none when there is no room)."""
    return order_quantity(room, context.instrument) if room > 0 else None


def _limit(side: Side, quantity: Decimal, price: Decimal) -> PlaceOrder:
    return PlaceOrder(
        side=side,
        quantity=quantity,
        type=OrderType.LIMIT,
        limit_price=price,
        time_in_force=TimeInForce.GTC,
    )


def _checks(params: Mapping[str, Any]) -> None:
    if params["max_inventory"] < params["quote_size"]:
        raise ValidationError(
            f"params.max_inventory {params['max_inventory']} is below params.quote_size "
            f"{params['quote_size']}; it must be at least one quote",
            field="params.max_inventory",
        )


def _create(params: Mapping[str, Any], seed: int) -> MarketMaking:
    return MarketMaking(
        spread_bps=params["spread_bps"],
        quote_size=params["quote_size"],
        max_inventory=params["max_inventory"],
        skew_bps=params["skew_bps"],
        requote_bps=params["requote_bps"],
    )


SPEC = StrategySpec(
    name="market_making",
    description=(
        "Two-sided gtc limit quotes around the mid price, spread_bps apart, skewed against "
        "inventory and never beyond max_inventory; requotes after a fill or when the mid moves "
        "more than requote_bps."
    ),
    parameters=(
        Parameter(
            "spread_bps", "decimal", Decimal(20),
            "Distance between bid and ask before skew, in basis points of the mid.",
            minimum=ZERO, exclusive_minimum=True,
        ),
        Parameter(
            "quote_size", "decimal", Decimal("0.01"),
            "Size of each quote in the base currency (floored to the lot).",
            minimum=ZERO, exclusive_minimum=True,
            order_size=True,
        ),
        Parameter(
            "max_inventory", "decimal", Decimal("0.1"),
            "Largest absolute position the quotes may build, in the base currency.",
            minimum=ZERO, exclusive_minimum=True,
        ),
        Parameter(
            "skew_bps", "decimal", Decimal(10),
            "How far both quotes shift, in basis points of the mid, at a full max_inventory "
            "(down when long, up when short; proportional in between).",
            minimum=ZERO,
        ),
        Parameter(
            "requote_bps", "decimal", Decimal(10),
            "Requote when the mid moves more than this many basis points from the last quotes' mid.",
            minimum=ZERO, exclusive_minimum=True,
        ),
    ),
    factory=_create,
    checks=_checks,
)
