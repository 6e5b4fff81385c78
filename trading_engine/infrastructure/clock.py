"""The system clock adapter."""

from __future__ import annotations

import time
from datetime import UTC, datetime


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class DataClock:
    """The clock of a replay: the time of the data, moved forward by the feed as it publishes.

    ``now()`` is the timestamp of the latest event published (the data's start before the first);
    ``monotonic()`` is the same instant in seconds, so per-instance order rates and sampling follow
    the data, not the machine. It never reads the wall clock and never goes backwards."""

    EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._seconds = self.seconds(start)

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._seconds

    @classmethod
    def seconds(cls, at: datetime) -> float:
        return (at - cls.EPOCH).total_seconds()

    def advance_to(self, at: datetime) -> None:
        if at > self._now:
            self._now = at
            self._seconds = (at - self.EPOCH).total_seconds()  # ``seconds(at)``, without its call
