"""grpc.health.v1 following readiness: every ``grpc.health_interval_seconds`` the readiness checks
run (the same ones as ``GET /api/v1/ready``) and the overall status (service ``""``) and every
served service's become ``SERVING`` or ``NOT_SERVING``; ``Watch`` streams each change. At shutdown
everything turns ``NOT_SERVING`` and each ``Watch`` ends with status OK after saying so."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from grpc_health.v1 import health, health_pb2

from trading_engine.services.health import HealthService

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class ReadinessHealth(health.aio.HealthServicer):
    def __init__(self, readiness: HealthService, services: Iterable[str], interval_seconds: float) -> None:
        super().__init__()
        self._readiness = readiness
        self._services = ("", *services)
        self._interval = interval_seconds
        self._closing = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def refresh(self) -> None:
        status = SERVING if (await self._readiness.readiness()).ready else NOT_SERVING
        for service in self._services:
            await self.set(service, status)

    async def start(self) -> None:
        await self.refresh()
        self._task = asyncio.get_running_loop().create_task(self._follow(), name="grpc-health")

    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.refresh()

    async def Watch(self, request: Any, context: Any) -> None:
        watch = asyncio.ensure_future(super().Watch(request, context))
        closing = asyncio.ensure_future(self._closing.wait())
        try:
            await asyncio.wait({watch, closing}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (watch, closing):
                task.cancel()
            await asyncio.gather(watch, closing, return_exceptions=True)
        if watch.done() and not watch.cancelled() and watch.exception() is not None:
            raise watch.exception()  # type: ignore[misc]

    async def close(self) -> None:
        """NOT_SERVING everywhere, then end every Watch."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.enter_graceful_shutdown()
        await asyncio.sleep(0)  # let each Watch send NOT_SERVING before it ends
        self._closing.set()
