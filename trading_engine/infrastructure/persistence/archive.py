"""``GzipCsvArchive``: finished orders and fills as gzip-compressed CSV, one file per UTC day and kind.

Files
    ``orders-YYYY-MM-DD.csv.gz`` (the day of the order's last update) and ``fills-YYYY-MM-DD.csv.gz``
    (the day of the fill), in the archive directory. Columns are the fields of ``Order.to_dict()``
    and ``Fill.to_dict()`` (``ORDER_COLUMNS``, ``FILL_COLUMNS``), written from the records the
    store holds (``AgedOrder.record``, ``fill_records``) as they are: decimals as their exact text,
    timestamps as ISO 8601 UTC with microseconds, an absent value as an empty field. pandas
    (``pd.read_csv(path, dtype=str)``), polars and DuckDB (``read_csv('orders-*.csv.gz')``) read
    them as they are: a file is a sequence of gzip members, which gzip readers concatenate, the
    header in the first member only.

Appending safely
    Each ``append`` adds one gzip member per file it touches, fsyncs the file, then records the
    files' committed lengths in ``manifest.json`` (written to a temporary file, fsynced, renamed
    over the old one, the directory fsynced). A file is entered in the manifest (with length 0)
    before its first byte is written. ``open()`` cuts every file back to its committed length, so
    a member a crash left half written disappears and the archive reads as before it. The
    manifest also holds the order ids of the last batch (``pending``): the sweep deletes a batch
    from the store only after ``append`` returned, so after a crash between the two the same
    orders come back, and ``append`` does not write them again.

One process writes a directory: ``open()`` takes an exclusive lock on its ``.lock`` file (released
by ``close()`` or when the process ends) and refuses with ``ArchiveInUse`` when another holds it.
Every file operation runs in a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import csv
import fcntl
import gzip
import io
import json
import operator
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from trading_engine.domain.errors import ValidationError
from trading_engine.domain.ports.archive import Archived
from trading_engine.domain.ports.repository import AgedOrder
from trading_engine.domain.timefmt import parse_timestamp

log = structlog.get_logger(__name__)

ORDER_COLUMNS = (
    "order_id", "client_order_id", "symbol", "side", "type", "quantity", "limit_price", "time_in_force",
    "strategy_id", "status", "filled_quantity", "remaining_quantity", "filled_notional", "average_fill_price",
    "fees", "reject_reason", "reject_message", "cancel_reason", "created_at", "updated_at",
)
FILL_COLUMNS = (
    "fill_id", "order_id", "symbol", "side", "quantity", "price", "fee", "fee_currency", "timestamp", "strategy_id",
)
MANIFEST = "manifest.json"
LOCK = ".lock"


class ArchiveInUse(OSError):
    """Another process holds the archive directory."""


def file_name(kind: str, moment: datetime) -> str:
    return f"{kind}-{moment.astimezone(UTC).date().isoformat()}.csv.gz"


def _record_file(kind: str, stamp: str, field: str) -> str:
    """``file_name`` of a record's timestamp text: its first ten characters when it is the exact
    UTC text ``to_dict`` writes (``...Z``), else parsed."""
    if len(stamp) == 27 and stamp[-1] == "Z" and stamp[10] == "T":
        return f"{kind}-{stamp[:10]}.csv.gz"
    return file_name(kind, parse_timestamp(stamp, field=field))


def _member(columns: Sequence[str], records: Iterable[Mapping[str, Any]], *, header: bool) -> bytes:
    """One gzip member of ``records``' ``columns`` (csv writes None as an empty field)."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    if header:
        writer.writerow(columns)
    try:
        writer.writerows(map(operator.itemgetter(*columns), records))
    except KeyError as exc:
        raise ValidationError(
            f"an aged record has no {exc.args[0]!r}; archived records need every field to_dict writes: "
            f"{', '.join(columns)}", field=str(exc.args[0]),
        ) from None
    return gzip.compress(text.getvalue().encode(), compresslevel=6, mtime=0)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class GzipCsvArchive:
    """The ``OrderArchive`` in ``directory``; see the module docstring."""

    def __init__(self, directory: str | Path) -> None:
        self._directory = Path(directory)
        self._lengths: dict[str, int] = {}
        self._pending: set[str] = set()
        self._opened = False
        self._lock_fd: int | None = None

    @property
    def directory(self) -> Path:
        return self._directory

    async def open(self) -> None:
        await asyncio.to_thread(self._open)

    async def append(self, batch: Sequence[AgedOrder]) -> Archived:
        if not self._opened:
            await self.open()
        return await asyncio.to_thread(self._append, list(batch))

    # -- in a worker thread ------------------------------------------------------------------

    def _open(self) -> None:
        self._directory.mkdir(parents=True, exist_ok=True)
        self._lock()
        path = self._directory / MANIFEST
        manifest = json.loads(path.read_text()) if path.exists() else {"files": {}, "pending": []}
        self._lengths = {name: int(length) for name, length in manifest["files"].items()}
        self._pending = set(manifest["pending"])
        for name, length in self._lengths.items():
            self._cut_back(name, length)
        self._opened = True

    def _lock(self) -> None:
        """Hold ``.lock`` in the directory for the process's life: one process writes one archive."""
        if self._lock_fd is not None:
            return
        fd = os.open(self._directory / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ArchiveInUse(
                f"the archive directory {self._directory} is in use by another process; give each "
                "instance its own persistence.archive_dir"
            ) from None
        self._lock_fd = fd

    def close(self) -> None:
        """Let another process take the directory (the lock also ends with the process)."""
        fd, self._lock_fd = self._lock_fd, None
        self._opened = False
        if fd is not None:
            os.close(fd)

    def _cut_back(self, name: str, length: int) -> None:
        """Truncate ``name`` to its committed ``length``: what is past it was never committed."""
        path = self._directory / name
        size = path.stat().st_size if path.exists() else 0
        if size > length:
            os.truncate(path, length)
            log.warning("archive_repaired", file=name, committed_bytes=length, dropped_bytes=size - length)
        elif size < length:  # shortened by someone else: keep what is there
            log.error("archive_file_shorter_than_committed", file=name, committed_bytes=length, size=size)
            self._lengths[name] = size

    def _append(self, batch: list[AgedOrder]) -> Archived:
        fresh = [aged for aged in batch if aged.order_id not in self._pending]
        if not fresh:
            return Archived()
        members: dict[str, tuple[tuple[str, ...], list[Mapping[str, Any]]]] = {}
        for aged in fresh:
            name = _record_file("orders", aged.record["updated_at"], "updated_at")
            members.setdefault(name, (ORDER_COLUMNS, []))[1].append(aged.record)
            for fill in aged.fill_records:
                name = _record_file("fills", fill["timestamp"], "timestamp")
                members.setdefault(name, (FILL_COLUMNS, []))[1].append(fill)
        # Every member is built before any byte is written: a record that cannot be written fails
        # the batch with the files untouched.
        payloads = {name: _member(columns, records, header=self._lengths.get(name, 0) == 0)
                    for name, (columns, records) in sorted(members.items())}
        new_files = [name for name in payloads if name not in self._lengths]
        if new_files:  # entered before their first byte, so that a crash leaves them cut back to empty
            self._commit({**self._lengths, **dict.fromkeys(new_files, 0)}, self._pending)
        lengths = dict(self._lengths)
        for name, payload in payloads.items():
            lengths[name] = self._write_member(name, lengths[name], payload)
        self._commit(lengths, {aged.order_id for aged in batch})
        return Archived(orders=len(fresh), fills=sum(len(aged.fill_records) for aged in fresh))

    def _write_member(self, name: str, committed: int, member: bytes) -> int:
        path = self._directory / name
        with open(path, "ab") as file:
            if file.tell() != committed:  # a write of this process failed half way: drop its bytes
                file.truncate(committed)
                file.seek(committed)
            file.write(member)
            file.flush()
            os.fsync(file.fileno())
        return committed + len(member)

    def _commit(self, lengths: dict[str, int], pending: set[str]) -> None:
        """Record ``lengths`` and ``pending`` atomically: a new manifest renamed over the old."""
        path = self._directory / MANIFEST
        temporary = path.with_name(MANIFEST + ".tmp")
        with open(temporary, "w") as file:
            file.write(json.dumps({"files": lengths, "pending": sorted(pending)}, sort_keys=True))
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
        _fsync_directory(self._directory)
        self._lengths, self._pending = lengths, pending
