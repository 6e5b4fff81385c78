"""Timestamps on the wire: UTC ISO 8601 with a ``Z`` suffix and millisecond precision."""

from __future__ import annotations

from datetime import UTC, datetime


def isoformat_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
