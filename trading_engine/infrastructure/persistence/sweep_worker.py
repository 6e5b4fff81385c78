"""``ProcessBatchPlanner``: the retention sweep's plan step (read, archive, fold) in a worker process.

Why a process
    Planning a batch is CPU work in Python: parsing the aged rows' JSON, writing the gzip CSV
    members, rebuilding each strategy instance's performance. In the service's
    process that work holds the GIL, and the event loop and the SQLite writer thread wait for it
    (up to the 5 ms switch interval at each hand-over), so acknowledged orders slow down while a
    sweep runs. In a worker process the service only pickles a request and the plan's ids and
    folds, and applies the deletion.

Why no thread in the service
    A ``ProcessPoolExecutor`` would put two threads in the service's process (its management
    thread and its queue's feeder thread). Under order load the event loop holds the GIL nearly
    all the time, and each hand-over to one of those threads (about three per plan) takes the GIL
    from the loop in the middle of a request. So the service talks to its worker
    over a socket pair (what ``multiprocessing.Pipe`` is on Unix) with its event loop alone: it
    writes a request of a few hundred bytes (the socket's buffer takes it at once), reads the
    answer with the loop's ``sock_recv_into`` (a reader on the socket), a length-prefixed pickle
    assembled over as many reads as it takes (an answer with many instances' folds is larger
    than the socket's buffer), and waits for the child's exit on its sentinel, a reader too.
    Starting the child, once per worker, is the one synchronous step (launching the interpreter
    and writing it a short preparation message, as an executor's start does).

The worker
    One child process, started with the ``spawn`` method (never a fork of a process that has
    threads) on the first plan, i.e. on the first sweep that finds an order aged past the
    retention: an engine with nothing to sweep starts none. It runs the same
    ``ArchivingPlanner`` the in-memory store uses inline, over a read-only store on the same
    database (``read_only_opener()``: the SQLite file in WAL, or the PostgreSQL schema) and the
    ``GzipCsvArchive``, whose exclusive lock then lives in the child: the service's process
    never opens the archive. It serves the requests one at a time, each plan run to completion
    on its own event loop (the next one reads the folds the previous deletion committed), until
    it is asked to stop. The child logs through the service's structlog configuration
    (``logging``: the arguments of ``configure_logging``, secrets included so they are redacted
    there too), runs ``WORKER_NICENESS`` below the service's priority (on a small machine the
    event loop gets a core first), ignores SIGINT (the service shuts it down) and exits when the
    service's process is gone.

Failures
    A plan that raises in the worker raises the same exception here; a worker that dies fails the
    plan in flight with ``BrokenProcessPool`` (what the standard library raises for a worker
    process that ended mid-call: the sweep and its callers already know that type, and it means
    the same here). Either fails the sweep's run, which logs ``retention_sweep_failed``; the
    worker is shut down and the next plan starts a fresh one. Whatever the worker did, nothing
    is deleted that the archive does not hold: the service deletes only the ids a plan answered,
    after the archive was durable, and the archive repairs a member a killed worker left half
    written when it is opened again. ``close()`` lets a plan in flight finish (even one whose
    caller was cancelled), closes the archive and the store in the child and waits for it to
    exit (killing it after ``stop_timeout_seconds``).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import pickle
import signal
import socket
import struct
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, BinaryIO

import structlog

from trading_engine.domain.ports.repository import TradingStore
from trading_engine.domain.ports.retention import PlannedBatch
from trading_engine.infrastructure.logging import configure_logging
from trading_engine.infrastructure.persistence.archive import GzipCsvArchive
from trading_engine.services.retention import ArchivingPlanner

log = structlog.get_logger(__name__)

START_METHOD = "spawn"
WORKER_NICENESS = 10
REAP_POLL_SECONDS = 0.001
_HEADER = struct.Struct("!Q")  # each message: its pickle's length, then the pickle


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
        self._child: _Child | None = None

    @property
    def worker_pid(self) -> int | None:
        """The worker's process id, while one runs."""
        return None if self._child is None else self._child.pid

    async def plan(self, cutoff: datetime, limit: int) -> PlannedBatch:
        try:
            planned: PlannedBatch = await self._running().ask("plan", cutoff, limit)
        except Exception:  # raised in the worker, or the worker died: the next plan starts another
            await self.close()
            raise
        return planned

    async def close(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            await child.stop(self._stop_timeout)

    def _running(self) -> _Child:
        if self._child is None:
            self._child = _Child.start(self._initargs)
            log.info("retention_worker_started", pid=self._child.pid)
        return self._child


def _frame(message: object) -> bytes:
    data = pickle.dumps(message)
    return _HEADER.pack(len(data)) + data


class _Child:
    """The service's side of one worker: the process and our end of its socket, which the event
    loop writes and reads (non-blocking). One exchange at a time: a request, then its answer."""

    def __init__(self, process: BaseProcess, connection: socket.socket) -> None:
        self.process = process
        self.pid = process.pid
        self.connection = connection
        self._exchange: asyncio.Future[Any] | None = None

    @classmethod
    def start(cls, initargs: tuple[object, ...]) -> _Child:
        ours, theirs = socket.socketpair()
        # A daemon: a service that exits without closing the planner does not wait for it.
        process = multiprocessing.get_context(START_METHOD).Process(
            target=_serve, args=(theirs, *initargs), name="retention-worker", daemon=True)
        with theirs:  # the child has its own copy: when the child ends, ours reads end of file
            try:
                process.start()
            except BaseException:
                ours.close()
                raise
        ours.setblocking(False)
        return cls(process, ours)

    async def ask(self, *request: object) -> Any:
        """What the child answers to ``request`` (raising what it raised; ``BrokenProcessPool``
        when it ended first). A caller cancelled meanwhile leaves the exchange to finish, so that
        the next request is read after this one's answer."""
        await self._settled()
        self._exchange = asyncio.ensure_future(self._exchanged(request))
        return await asyncio.shield(self._exchange)

    async def stop(self, timeout: float) -> None:
        """Let the exchange in flight finish, have the child close the archive and the store,
        wait for it to exit and reap it; kill it when all that takes more than ``timeout``."""
        try:
            async with asyncio.timeout(timeout):
                await self._settled()
                try:
                    await self.ask("stop")
                except BrokenProcessPool:  # the worker is gone already: nothing to close
                    pass
                except Exception as exc:  # it failed to close what it holds: it exits anyway
                    log.warning("retention_worker_stop_failed", error=str(exc) or type(exc).__name__)
                await self._ended()
        except TimeoutError:
            self.process.kill()
            await self._ended()
            await self._settled()  # its end of file ends an exchange still reading
        self.connection.close()
        self.process.close()

    async def _settled(self) -> None:
        """Wait for the exchange in flight to end. Its caller has the outcome, or was cancelled
        and left it here: taken, so that it is not reported as never retrieved."""
        exchange = self._exchange
        if exchange is not None:
            await asyncio.wait([exchange])
            if not exchange.cancelled():
                exchange.exception()

    async def _exchanged(self, request: tuple[object, ...]) -> Any:
        loop = asyncio.get_running_loop()
        try:
            await loop.sock_sendall(self.connection, _frame(request))
            (size,) = _HEADER.unpack(await self._received(_HEADER.size))
            succeeded, value = pickle.loads(await self._received(size))
        except (ConnectionError, EOFError) as exc:
            raise BrokenProcessPool(
                f"the retention worker (pid {self.pid}) ended before it answered") from exc
        if not succeeded:
            raise value
        return value

    async def _received(self, size: int) -> bytearray:
        """The next ``size`` bytes, read as they arrive (the loop's reader: no blocking read)."""
        loop = asyncio.get_running_loop()
        data = bytearray(size)
        with memoryview(data) as view:
            read = 0
            while read < size:
                got = await loop.sock_recv_into(self.connection, view[read:])
                if got == 0:
                    raise EOFError
                read += got
        return data

    async def _ended(self) -> None:
        """Wait with the loop for the process to end (its sentinel reads end of file), then reap
        it (its last threads are going: a moment)."""
        loop = asyncio.get_running_loop()
        ended = loop.create_future()
        loop.add_reader(self.process.sentinel, lambda: ended.done() or ended.set_result(None))
        try:
            await ended
        finally:
            loop.remove_reader(self.process.sentinel)
        while self.process.exitcode is None:
            await asyncio.sleep(REAP_POLL_SECONDS)


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


_logging: Iterator[None] | None = None  # the configure_logging resource, held open for the child's life


def _serve(connection: socket.socket, open_store: Callable[[], TradingStore], archive_dir: str,
           logging: dict[str, Any] | None) -> None:
    """The child's main: answer each plan request, one at a time, with the plan or the exception
    it raised; on a stop request (or when the service is gone) close what it holds, and end."""
    _start_worker(logging)
    worker = _Worker(open_store, archive_dir)
    with connection, connection.makefile("rb") as requests:
        while (request := _request(requests)) is not None and request[0] == "plan":
            _answer(connection, _outcome(worker.plan, *request[1:]))
        closed = _outcome(worker.close)
        if request is not None:
            _answer(connection, closed)


def _start_worker(logging: dict[str, Any] | None) -> None:
    global _logging
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C reaches the whole group: the service stops us
    os.setpriority(os.PRIO_PROCESS, 0, min(19, os.getpriority(os.PRIO_PROCESS, 0) + WORKER_NICENESS))
    if logging is not None:
        _logging = configure_logging(**logging)
        next(_logging)
    threading.Thread(target=_exit_with_parent, name="retention-worker-parent", daemon=True).start()


def _exit_with_parent() -> None:
    """A service killed outright cannot stop its worker: the worker ends itself (and with it the
    archive lock), so that the restarted service's worker can take the archive."""
    parent = multiprocessing.parent_process()
    if parent is not None:
        parent.join()
        os._exit(1)


def _request(requests: BinaryIO) -> tuple[Any, ...] | None:
    """The service's next request, or None when the service is gone (end of file)."""
    try:
        header = requests.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return None
        request: tuple[Any, ...] = pickle.loads(requests.read(_HEADER.unpack(header)[0]))
    except ConnectionError:
        return None
    return request


def _outcome(call: Callable[..., object], *args: object) -> tuple[bool, object]:
    try:
        return True, call(*args)
    except Exception as exc:
        return False, exc


def _answer(connection: socket.socket, outcome: tuple[bool, object]) -> None:
    try:
        message = _frame(outcome)
    except Exception as exc:  # an answer that does not pickle: the service gets why
        message = _frame((False, RuntimeError(f"the retention worker's answer does not pickle: {exc}")))
    with contextlib.suppress(ConnectionError):  # the service is gone: the next request reads its end
        connection.sendall(message)
