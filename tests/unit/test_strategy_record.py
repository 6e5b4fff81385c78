"""``StrategyRecord``: what is stored of a strategy instance is checked when it is made, so the
stores only serialise it."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from tests.support.trading_data import T0, strategy_record
from trading_engine.domain.errors import ValidationError
from trading_engine.domain.strategy_record import StrategyRecord, StrategyStatus


def test_a_record_keeps_its_values_in_utc_and_its_params_read_only() -> None:
    params = {"fast": 5, "band": "0.50", "weights": [1, 2.5]}
    record = StrategyRecord(
        strategy_id="stg_1", strategy="momentum", symbol="BTC-USD", params=params,
        status=StrategyStatus.RUNNING, reason=None,
        created_at=T0.astimezone(timezone(timedelta(hours=-5))), updated_at=T0,
    )
    assert record.created_at == T0 and record.created_at.utcoffset() == timedelta(0)
    assert record.params == params
    params["fast"] = 6  # the caller's dict is not the record's
    assert record.params["fast"] == 5
    with pytest.raises(TypeError):
        record.params["fast"] = 7  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.status = StrategyStatus.STOPPED  # type: ignore[misc]


def test_the_status_is_the_one_enum_and_its_values_are_the_stored_words() -> None:
    assert [status.value for status in StrategyStatus] == ["running", "stopped", "error"]


def _with(**changes: Any) -> dict[str, Any]:
    fields = {f.name: getattr(strategy_record("s-bad"), f.name) for f in dataclasses.fields(StrategyRecord)}
    return fields | changes


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        (_with(strategy_id=""), "strategy_id"),
        (_with(strategy_id="has space"), "strategy_id"),
        (_with(strategy_id="x" * 65), "strategy_id"),
        (_with(strategy_id=7), "strategy_id"),
        (_with(strategy_id=None), "strategy_id"),
        (_with(strategy=""), "strategy"),
        (_with(strategy=None), "strategy"),
        (_with(symbol="btc-usd"), "symbol"),
        (_with(symbol="BTCUSD"), "symbol"),
        (_with(symbol=None), "symbol"),
        (_with(params=None), "params"),
        (_with(params=[("fast", 5)]), "params"),
        (_with(params={"threshold": Decimal("0.0015")}), "params"),
        (_with(params={"ratio": float("nan")}), "params"),
        (_with(params={"ratio": float("inf")}), "params"),
        (_with(params={"window": (1, 2)}), "params"),
        (_with(params={1: "one"}), "params"),
        (_with(params={"deep": {"er": [object()]}}), "params"),
        (_with(status="running"), "status"),  # the enum, not its value
        (_with(status=None), "status"),
        (_with(reason=5), "reason"),
        (_with(created_at="2026-01-02T03:04:05Z"), "created_at"),  # a datetime, not its ISO text
        (_with(created_at=datetime(2026, 1, 2, 3, 4, 5)), "created_at"),  # no timezone
        (_with(updated_at=None), "updated_at"),
    ],
)
def test_a_malformed_record_is_refused_naming_the_field(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        StrategyRecord(**fields)
    assert caught.value.field == field, caught.value.message
