"""The execution venue: where accepted orders go to be filled.

The venue fills and cancels; it never touches positions or cash. What it reports (immediate fills
in the submit report, later fills and expiries through the listener) flows back into the order
and the portfolio in the use case, atomically with their persistence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from trading_engine.domain.orders import Fill, Order


@dataclass(frozen=True)
class ExecutionReport:
    """What happened to an order on submission: its fills, and whether the rest of it rests on
    the venue or was cancelled (immediate-or-cancel with nothing more to fill)."""

    fills: tuple[Fill, ...] = ()
    resting: bool = False
    cancel_reason: str | None = None


class VenueListener(Protocol):
    def on_fill(self, order_id: str, fill: Fill) -> None:
        """A resting order (partly) filled."""
        ...

    def on_expired(self, order_id: str, at: datetime) -> None:
        """A resting order reached its time limit; the venue no longer holds it."""
        ...


class ExecutionVenuePort(Protocol):
    def set_listener(self, listener: VenueListener) -> None: ...

    async def submit(self, order: Order) -> ExecutionReport:
        """Execute ``order`` (accepted by pre-trade risk); fills carry the order's id."""
        ...

    async def cancel(self, order_id: str) -> bool:
        """Remove a resting order; False when the venue does not hold it (any more)."""
        ...

    def restore(self, orders: Sequence[Order]) -> None:
        """Hold again the resting orders recovered from storage (at start-up, after recovery)."""
        ...

    def resting(self) -> Sequence[str]:
        """Ids of the orders resting on the venue."""
        ...
