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
from trading_engine.domain.orders import Fill, Side
from trading_engine.domain.portfolio import Position
from trading_engine.domain.strategy_record import FoldedFills, StrategyRecord, StrategyStatus


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


# -- FoldedFills: what an instance's fills that left the store add up to ----------------------------


def _fill(fill_id: str, order_id: str) -> Fill:
    return Fill(fill_id=fill_id, order_id=order_id, symbol="BTC-USD", side="buy", quantity="1", price="100",
                fee="0", fee_currency="USD", timestamp=T0, strategy_id="s-1")


def _folded(**changes: Any) -> FoldedFills:
    position = Position("BTC-USD")
    position.apply_fill(Side.BUY, Decimal("2"), Decimal("100"), Decimal("0.1"))
    return FoldedFills("s-1", position.snapshot, **{"trades": 3, "closing_fills": 1, "winning_fills": 1,
                                                    "kept_fills": {"o-open": 2}, **changes})


def test_folded_fills_round_trip_with_the_fills_they_hold_that_stay_stored() -> None:
    folded = _folded()
    data = folded.to_dict()
    assert data["kept_fills"] == {"o-open": 2}
    assert FoldedFills.from_dict(data) == folded
    kept = {"o-open": 2}
    made = _folded(kept_fills=kept)
    kept["o-open"] = 5  # the caller's dict is not the fold's
    assert made.kept_fills == {"o-open": 2}
    with pytest.raises(TypeError):
        made.kept_fills["o-open"] = 1  # type: ignore[index]


def test_folded_fills_of_schema_version_3_hold_no_stored_fill() -> None:
    """A fold written before kept_fills existed folded only fills that left: every stored fill is
    applied after it, as then."""
    data = _folded().to_dict()
    del data["kept_fills"]
    folded = FoldedFills.from_dict(data)
    assert folded.kept_fills == {}
    stored = [_fill("f-1", "o-open"), _fill("f-2", "o-other")]
    assert list(folded.not_folded(stored)) == stored


def test_not_folded_skips_each_kept_orders_first_fills_only() -> None:
    stored = [_fill("f-1", "o-open"), _fill("f-2", "o-other"), _fill("f-3", "o-open"), _fill("f-4", "o-open")]
    assert [fill.fill_id for fill in _folded().not_folded(stored)] == ["f-2", "f-4"]
    assert list(_folded(kept_fills={}).not_folded(stored)) == stored


@pytest.mark.parametrize(
    ("kept", "message"),
    [
        ({"o-open": 0}, "a count is a whole number >= 1"),
        ({"o-open": True}, "a count is a whole number >= 1"),
        ({"o-open": "2"}, "a count is a whole number >= 1"),
        ({"": 1}, "kept_fills"),
        (["o-open"], "must map order ids to counts"),
    ],
)
def test_malformed_kept_fills_are_refused_naming_the_field(kept: Any, message: str) -> None:
    data = {**_folded().to_dict(), "kept_fills": kept}
    with pytest.raises(ValidationError, match=message) as raised:
        FoldedFills.from_dict(data)
    assert raised.value.field == "kept_fills"
