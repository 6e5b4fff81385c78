"""``ProcessBatchPlanner``: the retention sweep's plan step (read, archive, fold) in a worker process.

Why a process
    Planning a batch is CPU work in Python: parsing the aged rows' JSON, writing the gzip CSV
    members, rebuilding each strategy instance's performance. In the service's
    process that work holds the GIL, and the event loop and the SQLite writer thread wait for it
    (up to the 5 ms switch interval at each hand-over), so acknowledged orders slow down while a
    sweep runs. In a worker process the service only pickles a request and the plan's ids and
    folds, and applies the deletion.

The worker
    One child process, started with the ``spawn`` method (never a fork of a process that has
    threads) on the first plan, i.e. on the first sweep that finds an order aged past the
    retention: an engine with nothing to sweep starts none. It runs the same
    ``ArchivingPlanner`` the in-memory store uses inline, over a read-only store on the same
    database (``read_only_opener()``: the SQLite file in WAL, or the PostgreSQL schema) and the
    ``GzipCsvArchive``, whose exclusive lock then lives in the child: the service's process never
    opens the archive. Its own event loop runs each plan to completion; plans come strictly one
    at a time (the next one reads the folds the previous deletion committed). The child logs
    through the service's structlog configuration (``logging``: the arguments of
    ``configure_logging``, secrets included so they are redacted there too), runs
    ``WORKER_NICENESS`` below the service's priority (on a small machine the event loop gets a
    core first), ignores SIGINT (the service shuts it down) and exits when the service's process
    is gone.

Failures
    A plan that raises, or a worker that dies (``BrokenProcessPool``), fails the sweep's run,
    which logs ``retention_sweep_failed``; the worker is shut down and the next plan starts a
    fresh one. Whatever the worker did, nothing is deleted that the archive does not hold: the
    service deletes only the ids a plan answered, after the archive was durable, and the archive
    repairs a member a killed worker left half written when it is opened again. ``close()``
    lets a plan in flight finish, closes the archive and the store in the child and waits for
    it to exit (killing it after ``stop_timeout_seconds``).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from trading_engine.domain.ports.repository import TradingStore
from trading_engine.domain.ports.retention import PlannedBatch
from trading_engine.infrastructure.logging import configure_logging
from trading_engine.infrastructure.persistence.archive import GzipCsvArchive
from trading_engine.services.retention import ArchivingPlanner

log = structlog.get_logger(__name__)

START_METHOD = "spawn"
WORKER_NICENESS = 10


class ProcessBatchPlanner:
    """The ``BatchPlanner`` in a worker process; see the module docstring."""

    def __init__(
        self,
        open_store: Callable[[], TradingStore],
        archive_dir: str | Path,
        *,
        logging: Mapping[str, Any] | None = None,
        stop_timeout_seconds: float = 30.0,
    ) -> None:
        self._initargs = (open_store, str(archive_dir), None if logging is None else dict(logging))
        self._stop_timeout = stop_timeout_seconds
        self._pool: ProcessPoolExecutor | None = None
        self._pid: int | None = None

    @property
    def worker_pid(self) -> int | None:
        """The worker's process id, while one runs."""
        return self._pid

    async def plan(self, cutoff: datetime, limit: int) -> PlannedBatch:
        try:
            pool = await self._running()
            planned: PlannedBatch = await asyncio.wrap_future(pool.submit(_plan, cutoff, limit))
        except Exception:  # raised in the worker, or the worker died: the next plan starts another
            await self.close()
            raise
        return planned

    async def close(self) -> None:
        pool, pid = self._pool, self._pid
        self._pool = self._pid = None
        if pool is not None:
            await asyncio.to_thread(_shut_down, pool, pid, self._stop_timeout)

    async def _running(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context(START_METHOD),
                initializer=_start_worker, initargs=self._initargs,
            )
            self._pid = await asyncio.wrap_future(self._pool.submit(os.getpid))
            log.info("retention_worker_started", pid=self._pid)
        return self._pool


def _shut_down(pool: ProcessPoolExecutor, pid: int | None, timeout: float) -> None:
    """In a thread: the worker closes what it holds, then exits (or is killed when it hangs)."""
    try:
        pool.submit(_stop).result(timeout=timeout)
    except TimeoutError:
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    except BrokenProcessPool:  # the worker is gone already: nothing to close
        pass
    except Exception as exc:  # it failed to close what it holds: it exits anyway
        log.warning("retention_worker_stop_failed", error=str(exc) or type(exc).__name__)
    pool.shutdown(wait=True, cancel_futures=True)


# -- in the worker process ---------------------------------------------------------------------


class _Worker:
    """The child's state: its event loop and, from the first plan on, the store and the planner."""

    def __init__(self, open_store: Callable[[], TradingStore], archive_dir: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._open_store = open_store
        self._archive_dir = archive_dir
        self._store: TradingStore | None = None
        self._planner: ArchivingPlanner | None = None

    def plan(self, cutoff: datetime, limit: int) -> PlannedBatch:
        return self.loop.run_until_complete(self._plan(cutoff, limit))

    async def _plan(self, cutoff: datetime, limit: int) -> PlannedBatch:
        if self._planner is None:
            store = self._open_store()
            await store.start()
            self._store = store
            self._planner = ArchivingPlanner(store, GzipCsvArchive(self._archive_dir))
        return await self._planner.plan(cutoff, limit)

    def close(self) -> None:
        self.loop.run_until_complete(self._close())
        self.loop.close()

    async def _close(self) -> None:
        planner, store = self._planner, self._store
        self._planner = self._store = None
        try:
            if planner is not None:
                await planner.close()
        finally:
            if store is not None:
                await store.stop()


_worker: _Worker | None = None
_logging: Iterator[None] | None = None  # the configure_logging resource, held open for the child's life


def _start_worker(open_store: Callable[[], TradingStore], archive_dir: str, logging: dict[str, Any] | None) -> None:
    global _worker, _logging
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C reaches the whole group: the service stops us
    os.setpriority(os.PRIO_PROCESS, 0, min(19, os.getpriority(os.PRIO_PROCESS, 0) + WORKER_NICENESS))
    if logging is not None:
        _logging = configure_logging(**logging)
        next(_logging)
    threading.Thread(target=_exit_with_parent, name="retention-worker-parent", daemon=True).start()
    _worker = _Worker(open_store, archive_dir)


def _exit_with_parent() -> None:
    """A service killed outright cannot stop its worker: the worker ends itself (and with it the
    archive lock), so that the restarted service's worker can take the archive."""
    parent = multiprocessing.parent_process()
    if parent is not None:
        parent.join()
        os._exit(1)


def _plan(cutoff: datetime, limit: int) -> PlannedBatch:
    assert _worker is not None
    return _worker.plan(cutoff, limit)


def _stop() -> None:
    global _worker
    worker, _worker = _worker, None
    if worker is not None:
        worker.close()
