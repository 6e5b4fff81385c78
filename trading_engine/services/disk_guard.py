"""The disk-space guard: new orders are refused while the filesystem of the local data directory
has less free space than ``persistence.min_free_bytes``, so the service says no before a full
disk fails a write; the ``database`` readiness check fails for the same reason.

Only new orders are refused. Reads go on, and so do the writes that reduce risk or record what
already happened: cancels, the circuit breaker, and the fills and expiries the venue reports.
Writes resume by themselves once space returns.

The probe (one ``statvfs`` per watched directory) runs at most once per
``PROBE_INTERVAL_SECONDS`` of the clock given, on whichever asks first: an order, a readiness
probe, a scrape; in between, the last answer holds. An order thus costs a clock read, and space
that returns is seen within the interval. ``min_free_bytes`` 0 turns the guard off (no probe).
"""

from __future__ import annotations

import structlog

from trading_engine.domain.errors import StoreUnavailable
from trading_engine.domain.ports.clock import Clock
from trading_engine.domain.ports.disk_space import FreeSpace, FreeSpaceProbe
from trading_engine.domain.ports.health import ReadinessCheck
from trading_engine.services.observability import GuardedMetrics

log = structlog.get_logger(__name__)

MIB = 1024 * 1024


def mib(size: int) -> str:
    return f"{size / MIB:.1f} MiB"


class DiskGuard:
    PROBE_INTERVAL_SECONDS = 1.0

    def __init__(
        self, probe: FreeSpaceProbe, clock: Clock, metrics: GuardedMetrics, *, min_free_bytes: int
    ) -> None:
        self._probe = probe
        self._clock = clock
        self._min_free_bytes = min_free_bytes
        self._free_bytes = metrics.gauge("store_free_bytes")
        self._probed_at: float | None = None
        self._shortage: str | None = None
        self._probe_failing = False

    @property
    def enabled(self) -> bool:
        return self._min_free_bytes > 0

    def refresh(self) -> None:
        """Probe again unless the last answer is younger than the interval (also a collect hook,
        so ``store_free_bytes`` is as fresh as the scrape)."""
        if not self.enabled:
            return
        now = self._clock.monotonic()
        if self._probed_at is not None and now - self._probed_at < self.PROBE_INTERVAL_SECONDS:
            return
        self._probed_at = now
        try:
            space = self._probe.free_space()
        except OSError as exc:  # the last answer holds; a broken probe refuses nothing by itself
            if not self._probe_failing:
                log.warning("disk_space_probe_failed", error=f"{type(exc).__name__}: {exc}")
            self._probe_failing = True
            return
        self._probe_failing = False
        self._free_bytes.set(float(space.free_bytes))
        self._judge(space)

    def _judge(self, space: FreeSpace) -> None:
        shortage = None
        if space.free_bytes < self._min_free_bytes:
            shortage = (
                f"free disk space {mib(space.free_bytes)} at {space.path} is below "
                f"persistence.min_free_bytes {mib(self._min_free_bytes)}; new orders are refused "
                "until space returns"
            )
        if shortage is not None and self._shortage is None:
            log.warning("disk_space_low", path=space.path, free_bytes=space.free_bytes,
                        min_free_bytes=self._min_free_bytes)
        elif shortage is None and self._shortage is not None:
            log.info("disk_space_recovered", path=space.path, free_bytes=space.free_bytes,
                     min_free_bytes=self._min_free_bytes)
        self._shortage = shortage

    @property
    def shortage(self) -> str | None:
        """Why new orders are refused (free space, threshold, path), or None while there is room."""
        self.refresh()
        return self._shortage

    def ensure_room(self) -> None:
        """Raise ``StoreUnavailable`` naming the shortage while the free space is below the threshold."""
        shortage = self.shortage
        if shortage is not None:
            raise StoreUnavailable(shortage)


class DatabaseReadiness:
    """Readiness check ``database``: the store can be read and takes writes, and its disk has
    room for new orders (else the check fails with the guard's reason, which the
    ``readiness_check_failed`` log line carries)."""

    def __init__(self, store: ReadinessCheck, guard: DiskGuard) -> None:
        self._store = store
        self._guard = guard

    async def is_ready(self) -> bool:
        self._guard.ensure_room()
        return await self._store.is_ready()
