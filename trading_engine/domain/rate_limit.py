"""A token bucket: at most ``rate`` events per second on average, bursts up to ``burst``."""

from __future__ import annotations

from collections.abc import Callable


class TokenBucket:
    """``rate`` tokens per second, holding at most ``burst``; starts full. ``clock`` gives seconds
    (monotonic)."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float]) -> None:
        self._rate = rate
        self._burst = burst
        self._clock = clock
        self._tokens = burst
        self._at = clock()

    def take(self) -> bool:
        """Take one token if there is one."""
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False
