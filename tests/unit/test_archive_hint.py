"""The message of a 404 for an order id the store does not hold: with a retention it says that
finished orders older than it are in the archive, and where; without one it is the plain message."""

from __future__ import annotations

from datetime import timedelta

import pytest

from trading_engine.containers import create_container
from trading_engine.services.archive_hint import ArchiveHint, format_duration


@pytest.mark.parametrize(("seconds", "spelled"), [
    (30 * 86_400, "30d"), (12 * 3_600, "12h"), (90 * 60, "90m"), (90, "90s"), (45, "45s"), (1.5, "1.5s"),
    (86_400 + 3_600, "25h"),
])
def test_a_duration_is_spelled_as_the_configuration_spells_it(seconds: float, spelled: str) -> None:
    assert format_duration(timedelta(seconds=seconds)) == spelled


def test_with_a_retention_the_message_points_to_the_archive() -> None:
    message = ArchiveHint(timedelta(days=30), "./data/archive").order_not_found("ord_gone")
    assert message.startswith("order 'ord_gone' not found; ")
    assert "more than 30d ago (persistence.retention)" in message
    assert "archive files under ./data/archive (persistence.archive_dir)" in message
    assert "(filled, cancelled, rejected, expired)" in message  # which orders leave: open ones never do


@pytest.mark.parametrize("retention", [None, timedelta(0)])
def test_without_a_retention_the_store_keeps_every_order_and_the_message_is_plain(retention: timedelta | None) -> None:
    assert ArchiveHint(retention, "./data/archive").order_not_found("ord_x") == "order 'ord_x' not found"
    assert ArchiveHint().order_not_found("ord_x") == "order 'ord_x' not found"


def test_the_container_builds_the_hint_from_the_persistence_settings() -> None:
    container = create_container(overrides={"persistence": {"retention": "12h", "archive_dir": "/srv/archive"}})
    hint = container.archive_hint()
    assert (hint.retention, hint.archive_dir) == (timedelta(hours=12), "/srv/archive")
    assert "more than 12h ago" in hint.order_not_found("ord_1")
