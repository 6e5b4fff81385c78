"""What is kept of a strategy instance: its status and the record the store holds.

A :class:`StrategyRecord` is written (through ``ChangeSet.strategies``) when an instance starts
and whenever its status changes, and read back to resume or report it after a restart. It is
checked when it is made, so a store only serialises it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from trading_engine.domain.errors import ValidationError
from trading_engine.domain.instruments import SYMBOL_RULE, parse_symbol
from trading_engine.domain.orders import Fill, parse_identifier
from trading_engine.domain.portfolio import PositionSnapshot
from trading_engine.domain.timefmt import require_aware


class StrategyStatus(StrEnum):
    """``running`` until stopped (by a client, or at startup when not resumed: ``stopped``) or
    halted by a failure or containment (``error``)."""

    RUNNING = "running"
    STOPPED = "stopped"
    ERROR = "error"


@dataclass(frozen=True)
class StrategyRecord:
    """One strategy instance as stored.

    ``params`` are its validated parameters as JSON values (decimals as strings in positional
    notation, lists rather than tuples), so that what a store reads back equals what was written;
    ``reason`` says why it stopped (None while running, or when no reason was given). Timestamps
    are timezone-aware and kept in UTC.
    """

    strategy_id: str
    strategy: str
    symbol: str
    params: Mapping[str, Any]
    status: StrategyStatus
    reason: str | None
    created_at: datetime
    updated_at: datetime

    def __post_init__(self) -> None:
        parse_identifier(self.strategy_id, field="strategy_id")
        if not isinstance(self.strategy, str) or not self.strategy:
            raise ValidationError(f"strategy must be a non-empty name, not {self.strategy!r}", field="strategy")
        if not isinstance(self.symbol, str) or parse_symbol(self.symbol)[0] != self.symbol:
            raise ValidationError(f"symbol {self.symbol!r} is not valid; expected {SYMBOL_RULE}", field="symbol")
        if not isinstance(self.params, Mapping):
            raise ValidationError(
                f"params must be a mapping of parameter names to values, not {type(self.params).__name__}",
                field="params",
            )
        object.__setattr__(self, "params", MappingProxyType(_json_copy(self.params, path="params")))
        if not isinstance(self.status, StrategyStatus):
            allowed = ", ".join(status.value for status in StrategyStatus)
            raise ValidationError(
                f"status {self.status!r} is not a StrategyStatus; allowed: {allowed}", field="status"
            )
        if self.reason is not None and not isinstance(self.reason, str):
            raise ValidationError(
                f"reason must be a string or None, not {type(self.reason).__name__}", field="reason"
            )
        for name in ("created_at", "updated_at"):
            object.__setattr__(self, name, require_aware(getattr(self, name), field=name).astimezone(UTC))


def _json_copy(value: object, *, path: str) -> Any:
    """``value`` as plain JSON data (dicts and lists), so it reads back equal to itself; a
    ValidationError on ``params`` when it holds anything else."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError(f"{path} is {value!r}, which JSON cannot hold", field="params")
        return value
    if isinstance(value, list):
        return [_json_copy(item, path=f"{path}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, Mapping):
        copy = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValidationError(f"{path} has the key {key!r}; keys are strings", field="params")
            copy[key] = _json_copy(item, path=f"{path}.{key}")
        return copy
    hint = ""
    if isinstance(value, Decimal):
        hint = " (write decimals as strings)"
    elif isinstance(value, tuple):
        hint = " (write a list, not a tuple)"
    raise ValidationError(f"{path} is a {type(value).__name__}, not a JSON value{hint}", field="params")


@dataclass(frozen=True)
class FoldedFills:
    """What the fills of a strategy instance that left the store (aged out into the archive) add
    up to: the position they built and the counts its performance reports.

    The fold is always a prefix of the instance's fills in the store's order (the order they were
    committed in, which is the order the live instance applied them): the retention sweep folds
    every fill up to the newest one leaving, those of orders that stay in the store included.
    ``kept_fills`` says which of the folded fills are still stored: of each such order (open, or
    finished but not aged yet), how many of its first fills the fold holds. Rebuilding an instance
    starts from the fold and applies the stored fills it does not hold (:meth:`not_folded`), so a
    rebuild applies every fill once, in the order the instance saw them. A fold written before
    ``kept_fills`` existed holds no stored fill: it reads back with none.
    """

    strategy_id: str
    position: PositionSnapshot
    trades: int = 0
    closing_fills: int = 0
    winning_fills: int = 0
    kept_fills: Mapping[str, int] = field(default_factory=dict)  # order_id -> its first n fills folded

    def __post_init__(self) -> None:
        if not isinstance(self.kept_fills, Mapping):
            raise ValidationError(
                f"folded fills field 'kept_fills' must map order ids to counts, not {self.kept_fills!r}",
                field="kept_fills",
            )
        kept = {}
        for order_id, count in self.kept_fills.items():
            parse_identifier(order_id, field="kept_fills")
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise ValidationError(
                    f"folded fills field 'kept_fills' holds {count!r} for order {order_id!r}; "
                    "a count is a whole number >= 1",
                    field="kept_fills",
                )
            kept[order_id] = count
        object.__setattr__(self, "kept_fills", MappingProxyType(kept))

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its fields (a read-only mapping does not pickle): the retention sweep's
        worker process hands folds back to the service."""
        return type(self), (self.strategy_id, self.position, self.trades, self.closing_fills, self.winning_fills,
                            dict(self.kept_fills))

    def not_folded(self, fills: Iterable[Fill]) -> Iterator[Fill]:
        """Of ``fills`` (the instance's stored fills in the store's order), those the fold does not
        hold: each order's first ``kept_fills`` fills are skipped."""
        skip = dict(self.kept_fills)
        for fill in fills:
            left = skip.get(fill.order_id, 0)
            if left:
                skip[fill.order_id] = left - 1
            else:
                yield fill

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy_id": self.strategy_id,
            "position": self.position.to_dict(),
            "trades": self.trades,
            "closing_fills": self.closing_fills,
            "winning_fills": self.winning_fills,
            "kept_fills": dict(self.kept_fills),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FoldedFills:
        counts = {}
        for key in ("trades", "closing_fills", "winning_fills"):
            value = data.get(key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValidationError(f"folded fills field {key!r} must be a whole number >= 0, not {value!r}",
                                      field=key)
            counts[key] = value
        return cls(
            strategy_id=parse_identifier(data.get("strategy_id"), field="strategy_id"),
            position=PositionSnapshot.from_dict(data.get("position") or {}),
            kept_fills=data.get("kept_fills", {}),  # absent in a fold of schema version 3: none kept
            **counts,
        )
