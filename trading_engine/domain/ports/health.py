"""Readiness: components that must work before the service takes traffic register a check."""

from __future__ import annotations

from typing import Protocol


class ReadinessCheck(Protocol):
    async def is_ready(self) -> bool:
        """True when the component can serve. Raising, or not answering in time, counts as not ready."""
        ...
