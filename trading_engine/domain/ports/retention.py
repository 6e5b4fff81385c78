"""The retention sweep's plan step as a port: one batch of aged orders read, archived and folded,
answered as what the store must delete.

The sweep runs a batch in two steps: ``BatchPlanner.plan`` takes the oldest finished orders
before the cutoff, writes them to the archive (durable when it answers) and folds the fills of
their strategy instances; the sweep then applies the plan with ``TradingStore.delete_orders``.
Batches are planned strictly one after the other, each after the previous one was applied, so a
plan reads the folds the previous deletion committed. A planner may do its work in this process or
in another one (all it answers is data).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from trading_engine.domain.ports.archive import Archived
from trading_engine.domain.strategy_record import FoldedFills


@dataclass(frozen=True)
class PlannedBatch:
    """A batch archived and folded: the ids of the orders to delete (none: nothing has aged), the
    folds to store with the deletion and what the archive wrote of it."""

    order_ids: tuple[str, ...] = ()
    folded: tuple[FoldedFills, ...] = ()
    archived: Archived = field(default_factory=Archived)


class BatchPlanner(Protocol):
    async def plan(self, cutoff: datetime, limit: int) -> PlannedBatch:
        """The next batch of at most ``limit`` finished orders last updated before ``cutoff``,
        oldest first, archived, with the folds of their instances' fills."""
        ...

    async def close(self) -> None:
        """Release what the planner holds (the archive, a worker process)."""
        ...
