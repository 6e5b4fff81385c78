"""The archive port: where finished orders and their fills go before they leave the store.

The retention sweep hands each batch to ``append`` and deletes the batch from the store only once
``append`` has returned, so a crash between the two leaves the rows in the store; ``append`` then
sees them again and, having written them already, does not write them twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from trading_engine.domain.ports.repository import AgedOrder


@dataclass(frozen=True)
class Archived:
    """What one ``append`` wrote: orders and fills (those written by an earlier call excluded)."""

    orders: int = 0
    fills: int = 0


class OrderArchive(Protocol):
    async def open(self) -> None:
        """Make the archive ready, repairing what a crash in the middle of a write left."""
        ...

    async def append(self, batch: Sequence[AgedOrder]) -> Archived:
        """Write ``batch`` durably. Orders of the previous call's batch (written, but perhaps not
        deleted from the store yet) are not written again."""
        ...

    def close(self) -> None:
        """Release the archive (another process may open it then)."""
        ...
