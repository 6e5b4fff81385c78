"""Fakes that implement the domain's ports, for tests that replace providers in the container."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
        self._mono = 1000.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
        self._mono += seconds


class StaticCheck:
    """A readiness check with a fixed answer; counts how often it was asked."""

    def __init__(self, ready: bool) -> None:
        self.ready = ready
        self.calls = 0

    async def is_ready(self) -> bool:
        self.calls += 1
        return self.ready


class RaisingCheck:
    async def is_ready(self) -> bool:
        raise ConnectionError("database connection refused")


class SlowCheck:
    """Answers ready after ``seconds``; with a long delay it stands for a check that hangs."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def is_ready(self) -> bool:
        await asyncio.sleep(self.seconds)
        return True
