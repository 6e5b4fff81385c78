"""Readiness runs every registered check concurrently; failing, raising or hanging checks are errors."""

from __future__ import annotations

import time

from structlog.testing import capture_logs

from tests.fakes import FakeClock, RaisingCheck, SlowCheck, StaticCheck
from trading_engine.domain.errors import StoreUnavailable
from trading_engine.services.health import HealthService, Lifecycle, ServiceIdentity

IDENTITY = ServiceIdentity("svc", "svc-a", "1.0.0", "testing")


def service(checks: dict, timeout: float = 0.2) -> HealthService:
    return HealthService(IDENTITY, checks, timeout, FakeClock())


def test_health_reports_identity_and_utc_timestamp() -> None:
    assert service({}).health() == {
        "status": "healthy",
        "service": "svc",
        "instance": "svc-a",
        "version": "1.0.0",
        "environment": "testing",
        "timestamp": "2026-01-02T03:04:05.678Z",
    }


async def test_ready_when_every_check_passes() -> None:
    result = await service({"a": StaticCheck(True), "b": StaticCheck(True)}).readiness()
    assert result.ready is True
    assert result.checks == {"a": "ok", "b": "ok"}


async def test_false_raising_and_hanging_checks_are_errors_and_run_concurrently() -> None:
    checks = {
        "ok": StaticCheck(True),
        "down": StaticCheck(False),
        "broken": RaisingCheck(),
        "hangs": SlowCheck(30),
        "also_hangs": SlowCheck(30),
    }
    started = time.monotonic()
    with capture_logs() as logs:
        result = await service(checks, timeout=0.2).readiness()
    assert time.monotonic() - started < 5  # two hanging checks cost one timeout, not two
    assert result.ready is False
    assert result.checks == {
        "ok": "ok",
        "down": "error",
        "broken": "error",
        "hangs": "error",
        "also_hangs": "error",
    }
    reasons = {e["check"]: e["reason"] for e in logs if e["event"] == "readiness_check_failed"}
    assert reasons == {
        "down": "reported not ready",
        "broken": "ConnectionError: database connection refused",
        "hangs": "no answer within 0.2s",
        "also_hangs": "no answer within 0.2s",
    }
    # What the endpoint shows: a library's exception by its type only (the log line has the rest).
    assert result.reasons == {**reasons, "broken": "ConnectionError (the reason is in the log line readiness_check_failed)"}


async def test_the_engines_own_errors_are_shown_with_their_message() -> None:
    class ShortOfSpace:
        async def is_ready(self) -> bool:
            raise StoreUnavailable("free disk space 1.0 MiB at /data is below persistence.min_free_bytes 512.0 MiB")

    result = await service({"database": ShortOfSpace(), "lifecycle": StaticCheck(True)}).readiness()
    assert result.checks == {"database": "error", "lifecycle": "ok"}
    assert result.reasons == {"database": "StoreUnavailable: free disk space 1.0 MiB at /data is below "
                                          "persistence.min_free_bytes 512.0 MiB"}


async def test_only_state_changes_are_logged() -> None:
    check = StaticCheck(False)
    health = service({"db": check})
    with capture_logs() as logs:
        for _ in range(3):
            await health.readiness()
        check.ready = True
        await health.readiness()
        await health.readiness()
    assert [e["event"] for e in logs] == ["readiness_check_failed", "readiness_check_ok"]
    assert check.calls == 5


async def test_a_failing_check_warns_but_starting_and_stopping_are_info() -> None:
    lifecycle = Lifecycle()
    health = service({"lifecycle": lifecycle, "db": StaticCheck(False)})
    with capture_logs() as logs:
        await health.readiness()  # starting: lifecycle not ready yet
        lifecycle.mark_serving()
        await health.readiness()
        lifecycle.mark_stopping()
        await health.readiness()
    levels = [(e["event"], e.get("check"), e["log_level"]) for e in logs]
    assert ("readiness_check_failed", "db", "warning") in levels
    assert [level for _event, check, level in levels if check == "lifecycle"] == ["info", "info", "info"]


async def test_lifecycle_is_ready_only_while_serving() -> None:
    lifecycle = Lifecycle()
    assert await lifecycle.is_ready() is False
    lifecycle.mark_serving()
    assert await lifecycle.is_ready() is True
    lifecycle.mark_stopping()
    assert await lifecycle.is_ready() is False
