"""Liveness and readiness: who this instance is, and whether every registered component can serve."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

import structlog

from trading_engine.domain.errors import DomainError
from trading_engine.domain.ports.clock import Clock
from trading_engine.domain.ports.health import ReadinessCheck
from trading_engine.domain.timefmt import isoformat_utc

log = structlog.get_logger(__name__)

OK = "ok"
ERROR = "error"


@dataclass(frozen=True)
class ServiceIdentity:
    name: str
    instance: str
    version: str
    environment: str


@dataclass(frozen=True)
class Readiness:
    """``checks``: each check's outcome, ``ok`` or ``error``. ``reasons``: why, for each failed
    check, as the readiness endpoint shows it to whoever asks (see ``HealthService._run``)."""

    ready: bool
    checks: dict[str, str]
    reasons: dict[str, str]


class Lifecycle:
    """Readiness check ``lifecycle``: ready from the end of startup until shutdown begins."""

    def __init__(self) -> None:
        self._serving = False

    def mark_serving(self) -> None:
        self._serving = True

    def mark_stopping(self) -> None:
        self._serving = False

    async def is_ready(self) -> bool:
        return self._serving


class HealthService:
    def __init__(
        self,
        identity: ServiceIdentity,
        checks: Mapping[str, ReadinessCheck],
        timeout_seconds: float,
        clock: Clock,
    ) -> None:
        self._identity = identity
        self._checks = dict(checks)
        self._timeout = timeout_seconds
        self._clock = clock
        self._last: dict[str, str] = {}

    @property
    def identity(self) -> ServiceIdentity:
        return self._identity

    @property
    def check_names(self) -> list[str]:
        return sorted(self._checks)

    def health(self) -> dict[str, str]:
        ident = self._identity
        return {
            "status": "healthy",
            "service": ident.name,
            "instance": ident.instance,
            "version": ident.version,
            "environment": ident.environment,
            "timestamp": isoformat_utc(self._clock.now()),
        }

    async def readiness(self) -> Readiness:
        names = list(self._checks)
        outcomes = await asyncio.gather(*(self._run(name) for name in names))
        reasons = {name: shown for name, shown in zip(names, outcomes, strict=True) if shown is not None}
        checks = {name: OK if name not in reasons else ERROR for name in names}
        return Readiness(ready=not reasons, checks=checks, reasons=reasons)

    async def _run(self, name: str) -> str | None:
        """None when the check passes, else why it failed as the endpoint shows it. The log line
        ``readiness_check_failed`` has the whole reason. The endpoint answers without a token, so
        it shows an exception's message only for the engine's own errors (a ``DomainError``, such
        as the disk guard's ``StoreUnavailable``, whose messages are written for clients); for
        any other exception, which may quote a library's view of a connection, only its type."""
        reason = shown = None
        try:
            async with asyncio.timeout(self._timeout):
                ok = await self._checks[name].is_ready()
            if not ok:
                reason = shown = "reported not ready"
        except TimeoutError:
            reason = shown = f"no answer within {self._timeout:g}s"
        except DomainError as exc:
            reason = shown = f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # a broken check is a failed check, never a failed probe
            reason = f"{type(exc).__name__}: {exc}"
            shown = f"{type(exc).__name__} (the reason is in the log line readiness_check_failed)"
        outcome = OK if reason is None else ERROR
        if self._last.get(name) != outcome:  # log transitions, not every probe
            self._last[name] = outcome
            if reason is None:
                log.info("readiness_check_ok", check=name)
            elif isinstance(self._checks[name], Lifecycle):
                # Not ready while starting or stopping is the service's own schedule, not a fault.
                log.info("readiness_check_failed", check=name, reason=reason)
            else:
                log.warning("readiness_check_failed", check=name, reason=reason)
        return shown
