"""What a client is told about an order id the store does not hold.

With a retention (``persistence.retention``), finished orders leave the store once their last update
is older than it, written first to the archive files under ``persistence.archive_dir``: an order id
the store does not know may name one of them, and the 404 (gRPC ``NOT_FOUND``) says so and where to
look. Without a retention the store keeps every order, and the message is the plain one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from trading_engine.domain.orders import OrderStatus

_UNITS = (("d", 86_400), ("h", 3_600), ("m", 60))


def format_duration(duration: timedelta) -> str:
    """A duration as the configuration spells it: the largest unit that holds it whole (``30d``,
    ``12h``, ``90m``, ``45s``, ``1.5s``)."""
    seconds = duration.total_seconds()
    for suffix, size in _UNITS:
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{suffix}"
    return f"{seconds:g}s"


@dataclass(frozen=True)
class ArchiveHint:
    """``retention`` None or 0: the store keeps every order (no hint)."""

    retention: timedelta | None = None
    archive_dir: str = ""

    def order_not_found(self, order_id: str) -> str:
        plain = f"order {order_id!r} not found"
        if not self.retention:
            return plain
        finished = ", ".join(status.value for status in OrderStatus if status.is_terminal)
        return (
            f"{plain}; orders that finished ({finished}) more than {format_duration(self.retention)} "
            f"ago (persistence.retention) leave the store for the archive files under {self.archive_dir} "
            "(persistence.archive_dir)"
        )
