"""The free-space probe: how much room the filesystem of the local data directory has left."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class FreeSpace:
    """Bytes an unprivileged writer may still use on the filesystem holding ``path``."""

    path: str
    free_bytes: int


class FreeSpaceProbe(Protocol):
    def free_space(self) -> FreeSpace:
        """The watched directory with the least free space, and that space. Raises ``OSError``
        when the filesystem cannot be asked."""
        ...
