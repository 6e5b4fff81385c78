"""``BacktestService``: backtests submitted through the API, run by workers away from the loop.

A submission is checked at once (the strategy, symbol and parameters as a strategy start checks
them; each data file a plain name under ``data_dir``, never ``..``, an absolute path or a symlink
leading out) and answered ``queued``; at most ``max_concurrent`` run at a time, the rest wait in
submission order. Each status change is saved whole, so results survive a restart; at startup a
backtest saved as queued or running (the service stopped under it) is recorded as ``cancelled``,
and at shutdown the running and queued ones are cancelled and recorded so — never lost
half-written. Progress and events are kept in memory while a backtest runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import structlog

from trading_engine.domain.backtest import BacktestRecord, BacktestSpec, BacktestStatus
from trading_engine.domain.errors import Conflict, NotFound, ValidationError
from trading_engine.domain.ids import IdGenerator
from trading_engine.domain.ports.backtests import BacktestFailed, BacktestStore, BacktestWorker
from trading_engine.domain.ports.clock import Clock
from trading_engine.domain.ports.metrics import MetricsPort

log = structlog.get_logger(__name__)

FILES = {"report": "report.html", "equity.png": "equity.png", "fills.csv": "fills.csv"}


class BacktestService:
    def __init__(
        self,
        store: BacktestStore,
        worker: BacktestWorker,
        metrics: MetricsPort,
        clock: Clock,
        check_strategy: Callable[[str, str, Mapping[str, Any] | None], None],
        *,
        data_dir: str,
        max_concurrent: int,
        ids: Callable[[], str] | None = None,
    ) -> None:
        self._store = store
        self._worker = worker
        self._metrics = metrics
        self._clock = clock
        self._check_strategy = check_strategy
        self._data_dir = Path(data_dir)
        self._slots = asyncio.Semaphore(max_concurrent)
        self._ids = ids or IdGenerator("bkt_")
        self._records: dict[str, BacktestRecord] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    # -- start and shutdown ---------------------------------------------------------------------
    async def start(self) -> None:
        for record in self._store.load_all():
            if not record.status.finished:
                record = record.replace(status=BacktestStatus.CANCELLED, finished_at=self._clock.now(),
                                        error="the service stopped before it finished")
                self._store.save(record)
            self._records[record.backtest_id] = record
        self._metrics.set_gauge("backtests_running", 0)

    async def shutdown(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- the API's operations -----------------------------------------------------------------
    async def submit(self, spec: BacktestSpec) -> BacktestRecord:
        self._check_strategy(spec.strategy, spec.symbol, spec.params)
        if not spec.data:
            raise ValidationError("data must name at least one file under backtests.data_dir", field="data")
        for name in spec.data:
            self._data_file(name)
        record = BacktestRecord(self._ids(), spec, BacktestStatus.QUEUED, self._clock.now())
        self._save(record)
        self._tasks[record.backtest_id] = asyncio.get_running_loop().create_task(
            self._run(record.backtest_id), name=f"backtest-{record.backtest_id}")
        log.info("backtest_queued", backtest_id=record.backtest_id, strategy=spec.strategy, symbol=spec.symbol)
        return record

    def list(self) -> list[BacktestRecord]:
        return sorted(self._records.values(), key=lambda r: (r.created_at, r.backtest_id), reverse=True)

    def get(self, backtest_id: str) -> BacktestRecord:
        record = self._records.get(backtest_id)
        if record is None:
            raise NotFound(f"backtest {backtest_id!r} not found")
        return record

    async def cancel(self, backtest_id: str) -> BacktestRecord:
        record = self.get(backtest_id)
        task = self._tasks.get(backtest_id)
        if record.status.finished or task is None:
            raise Conflict(f"backtest {backtest_id} is {record.status}; only a queued or running one can be cancelled")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return self.get(backtest_id)

    def file(self, backtest_id: str, name: str) -> Path:
        record = self.get(backtest_id)
        if record.status is not BacktestStatus.DONE:
            raise Conflict(f"backtest {backtest_id} is {record.status}; its files exist once it is done")
        return self._store.directory(backtest_id) / FILES[name]

    # -- running ----------------------------------------------------------------------------------
    def _data_file(self, name: str) -> Path:
        allowed = (
            "a file name under backtests.data_dir (printable characters; no '..', no absolute path, "
            "no link leading out)"
        )
        root = self._data_dir.resolve()
        candidate = Path(name)
        # A NUL, a control character or a lone surrogate is no file name: the OS would refuse it.
        if not name or not name.isprintable() or candidate.is_absolute() or ".." in candidate.parts:
            raise ValidationError(f"data {name!r} is not allowed; it must be {allowed}", field="data")
        resolved = (root / candidate).resolve()
        if not resolved.is_relative_to(root):
            raise ValidationError(f"data {name!r} is not allowed; it must be {allowed}", field="data")
        if not resolved.is_file():
            raise ValidationError(f"data {name!r} is not a file under backtests.data_dir", field="data")
        return resolved

    async def _run(self, backtest_id: str) -> None:
        try:
            async with self._slots:
                record = self.get(backtest_id).replace(status=BacktestStatus.RUNNING, started_at=self._clock.now())
                self._save(record)
                self._running()
                started = self._clock.monotonic()
                try:
                    report = await self._worker.run(
                        backtest_id, record.spec, [self._data_file(n) for n in record.spec.data],
                        self._store.directory(backtest_id), lambda share, events: self._progress(backtest_id, share, events))
                except BacktestFailed as exc:
                    self._finish(backtest_id, BacktestStatus.FAILED, error=str(exc))
                except ValidationError as exc:  # a data file gone since submission
                    self._finish(backtest_id, BacktestStatus.FAILED, error=exc.message)
                else:
                    self._metrics.inc_counter("backtest_events_total", amount=report.get("events", 0))
                    self._metrics.observe_histogram("backtest_duration_seconds", self._clock.monotonic() - started)
                    self._finish(backtest_id, BacktestStatus.DONE, statistics=report, progress=1.0,
                                 events=report.get("events", 0))
                finally:
                    self._running()
        except asyncio.CancelledError:
            self._finish(backtest_id, BacktestStatus.CANCELLED, error="cancelled")
        finally:
            self._tasks.pop(backtest_id, None)

    def _progress(self, backtest_id: str, share: float, events: int) -> None:
        record = self._records.get(backtest_id)
        if record is not None and record.status is BacktestStatus.RUNNING:
            self._records[backtest_id] = record.replace(progress=round(min(max(share, 0.0), 1.0), 4), events=events)

    def _finish(self, backtest_id: str, status: BacktestStatus, **changes: Any) -> None:
        record = self.get(backtest_id)
        if record.status.finished:
            return
        self._save(record.replace(status=status, finished_at=self._clock.now(), **changes))
        self._metrics.inc_counter("backtests_total", {"status": status.value})
        log.info("backtest_finished", backtest_id=backtest_id, status=status.value, error=changes.get("error"))

    def _running(self) -> None:
        running = sum(1 for r in self._records.values() if r.status is BacktestStatus.RUNNING)
        self._metrics.set_gauge("backtests_running", running)

    def _save(self, record: BacktestRecord) -> None:
        self._records[record.backtest_id] = record
        self._store.save(record)



