"""Group commit, as both durable stores (SQLite, PostgreSQL) run it.

``GroupCommitStore.commit`` checks a change set and turns it into rows on the caller's side (a
malformed one fails only that caller), queues the rows with a future and waits for it. One writer
task (``group_commit``) takes everything queued, at most ``max_batch`` change sets, hands it to the
store's ``_write`` as ONE transaction, and only then resolves the futures, in queue order. When a
transaction fails, every change set of it and every one queued behind it raises
``StoreUnavailable``, ``store_commit_failed`` is logged once, and the store refuses changes until
``reset()`` (the caller reloads the durable state first).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from trading_engine.domain.errors import StoreUnavailable
from trading_engine.domain.ports.repository import ChangeSet
from trading_engine.infrastructure.persistence.records import (
    NOT_RUNNING,
    Rows,
    describe,
    refusing,
    rows_of,
    write_failed,
)

log = structlog.get_logger(__name__)


class Stop:
    """Queued by ``stop()`` behind the last commit: the writer task ends when it reaches it."""


STOP = Stop()
Pending = tuple[Rows, "asyncio.Future[None]"]


def drain(queue: asyncio.Queue[Pending | Stop]) -> tuple[list[Pending], bool]:
    """Everything queued, and whether ``stop()`` was among it."""
    pending: list[Pending] = []
    stopping = False
    while not queue.empty():
        item = queue.get_nowait()
        if isinstance(item, Stop):
            stopping = True
        else:
            pending.append(item)
    return pending, stopping


def fail_all(batch: list[Pending], error: Callable[[], StoreUnavailable]) -> None:
    for _rows, future in batch:
        if not future.done():
            future.set_exception(error())  # one instance each: tracebacks must not pile up on one


async def group_commit(
    queue: asyncio.Queue[Pending | Stop],
    max_batch: int,
    write: Callable[[list[Rows]], Awaitable[None]],
    failed: Callable[[Exception, int, int], BaseException],
    written: Callable[[int], None],
) -> None:
    """The writer task of a durable store: take everything queued (at most ``max_batch`` change
    sets, up to a ``Stop``), ``write`` it as one transaction, then resolve the futures in queue
    order; until ``Stop`` is reached.

    When ``write`` raises, ``failed(error, batch size, queued)`` records the failure and returns
    what the refusals name; the batch and everything queued behind it raise ``StoreUnavailable``.
    ``written(batch size)`` counts a transaction that succeeded.
    """
    while True:
        item = await queue.get()
        if isinstance(item, Stop):
            return
        batch = [item]
        stopping = False
        while len(batch) < max_batch and not queue.empty():
            following = queue.get_nowait()
            if isinstance(following, Stop):
                stopping = True
                break
            batch.append(following)
        try:
            await write([rows for rows, _ in batch])
        except asyncio.CancelledError:
            # Only when the task itself is cancelled (not by stop(), which waits): the transaction
            # may still complete, so whether it was stored is unknown.
            unknown = "the store was stopped while writing this change; it may or may not be stored"
            fail_all(batch, lambda: StoreUnavailable(unknown))
            fail_all(drain(queue)[0], lambda: StoreUnavailable(f"{NOT_RUNNING}; nothing was stored"))
            raise
        except Exception as exc:
            queued, stopping_too = drain(queue)
            failure = failed(exc, len(batch), len(queued))
            fail_all(batch + queued, lambda: StoreUnavailable(write_failed(failure)))
            if stopping or stopping_too:
                return
            continue
        written(len(batch))
        for _rows, future in batch:
            if not future.done():
                future.set_result(None)
        if stopping:
            return


class Described(Exception):
    """A failure kept by its description (what ``refusing`` and ``write_failed`` show)."""


class GroupCommitStore:
    """The commit path of a durable store: subclasses write a batch of rows in ``_write`` (one
    transaction) and may say how an error is described (``_describe``, e.g. without a password);
    ``_start_writer``/``_stop_writer`` run the writer task."""

    def __init__(self, max_batch: int) -> None:
        if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
            raise ValueError(f"max_batch {max_batch!r} is not allowed; it must be an int >= 1")
        self._max_batch = max_batch
        self._queue: asyncio.Queue[Pending | Stop] | None = None
        self._writer_task: asyncio.Task[None] | None = None
        self._accepting = False
        self._failure: BaseException | None = None
        self._transactions = 0
        self._commits = 0

    @property
    def transactions(self) -> int:
        """Write transactions committed (each holds one or more change sets)."""
        return self._transactions

    @property
    def commits(self) -> int:
        """Change sets committed."""
        return self._commits

    @property
    def failed(self) -> bool:
        """Whether a write failed and the store refuses changes until ``reset()``."""
        return self._failure is not None

    def reset(self) -> None:
        if self._failure is not None:
            log.info("store_reset", error=describe(self._failure))
        self._failure = None

    async def commit(self, changes: ChangeSet) -> None:
        if self._failure is not None:
            raise StoreUnavailable(refusing(self._failure))
        if not self._accepting or self._queue is None:
            raise StoreUnavailable(f"{NOT_RUNNING}; nothing was stored")
        rows = rows_of(changes)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((rows, future))
        # A caller cancelled here does not withdraw the change: it is written with its batch.
        await future

    def _start_writer(self, name: str) -> None:
        self._failure = None
        self._queue = asyncio.Queue()
        self._writer_task = asyncio.create_task(
            group_commit(self._queue, self._max_batch, self._write, self._failed, self._written), name=name
        )
        self._accepting = True

    async def _stop_writer(self) -> None:
        """Refuse new commits, let the queued ones finish, end the writer task."""
        self._accepting = False
        task, queue = self._writer_task, self._queue
        self._writer_task = self._queue = None
        if task is not None and queue is not None:
            queue.put_nowait(STOP)
            await task

    async def _write(self, batch: list[Rows]) -> None:
        raise NotImplementedError

    def _describe(self, exc: BaseException) -> str:
        return describe(exc)

    def _failed(self, exc: Exception, batch_size: int, queued: int) -> BaseException:
        failure = self._failure = Described(self._describe(exc))
        log.error("store_commit_failed", error=str(failure), batch_size=batch_size, queued=queued)
        return failure

    def _written(self, batch_size: int) -> None:
        self._transactions += 1
        self._commits += batch_size
