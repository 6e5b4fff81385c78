"""The free-space probe over the local filesystem (``shutil.disk_usage``, one ``statvfs`` per
watched directory)."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

from trading_engine.domain.ports.disk_space import FreeSpace


def _existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists: a directory created on first start (the
    database's, the archive's) is on the filesystem of its parent until then."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return path


class LocalFreeSpace:
    """Watches directories on this machine; answers the one with the least free space."""

    def __init__(self, directories: Iterable[str | Path]) -> None:
        self._directories = tuple(dict.fromkeys(Path(d).expanduser().absolute() for d in directories))
        if not self._directories:
            raise ValueError("LocalFreeSpace needs at least one directory to watch")

    @property
    def directories(self) -> tuple[Path, ...]:
        return self._directories

    def free_space(self) -> FreeSpace:
        return min(
            (FreeSpace(str(d), shutil.disk_usage(_existing(d)).free) for d in self._directories),
            key=lambda space: space.free_bytes,
        )
