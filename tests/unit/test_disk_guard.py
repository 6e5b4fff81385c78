"""The disk-space guard over a fake probe and the fake clock; the local probe on this machine."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from tests.fakes import FakeClock, FakeFreeSpace, RecordingMetrics, StaticCheck
from tests.support.strategy_engine import make_strategy_engine, market, orders_of  # noqa: F401  (a fixture)
from trading_engine.domain.strategy_record import StrategyStatus
from trading_engine.containers import _local_data_directories, create_container
from trading_engine.domain.errors import StoreUnavailable
from trading_engine.infrastructure.persistence.disk_space import LocalFreeSpace
from trading_engine.services.disk_guard import MIB, DatabaseReadiness, DiskGuard
from trading_engine.services.observability import GuardedMetrics

LOW = (
    "free disk space 100.0 MiB at /srv/engine/data is below persistence.min_free_bytes 512.0 MiB; "
    "new orders are refused until space returns"
)


def guard(
    probe: FakeFreeSpace, clock: FakeClock, min_free_bytes: int = 512 * MIB
) -> tuple[DiskGuard, RecordingMetrics]:
    recorded = RecordingMetrics()
    return DiskGuard(probe, clock, GuardedMetrics(recorded), min_free_bytes=min_free_bytes), recorded


def test_below_the_threshold_new_orders_are_refused_naming_space_threshold_and_path() -> None:
    probe, clock = FakeFreeSpace(100 * MIB), FakeClock()
    disk, recorded = guard(probe, clock)
    with pytest.raises(StoreUnavailable) as refused:
        disk.ensure_room()
    assert refused.value.message == LOW and refused.value.code == "store_unavailable"
    assert disk.shortage == LOW
    assert recorded.named("store_free_bytes") == [("gauge", "store_free_bytes", {}, float(100 * MIB))]


def test_exactly_the_threshold_is_enough() -> None:
    disk, _ = guard(FakeFreeSpace(512 * MIB), FakeClock())
    disk.ensure_room()
    assert disk.shortage is None


def test_the_probe_runs_at_most_once_per_interval_and_space_that_returns_is_seen() -> None:
    probe, clock = FakeFreeSpace(100 * MIB), FakeClock()
    disk, recorded = guard(probe, clock)
    with capture_logs() as logs:
        for _ in range(100):
            with pytest.raises(StoreUnavailable):
                disk.ensure_room()
        assert probe.calls == 1  # one probe for a hundred orders

        probe.free_bytes = 2048 * MIB
        clock.advance(DiskGuard.PROBE_INTERVAL_SECONDS / 2)
        with pytest.raises(StoreUnavailable):  # the last answer still holds
            disk.ensure_room()
        assert probe.calls == 1

        clock.advance(DiskGuard.PROBE_INTERVAL_SECONDS / 2)
        disk.ensure_room()  # room again: taken without a restart
        disk.ensure_room()
        assert probe.calls == 2
    assert [(e["event"], e["free_bytes"]) for e in logs] == [
        ("disk_space_low", 100 * MIB), ("disk_space_recovered", 2048 * MIB)
    ]
    assert [c[3] for c in recorded.named("store_free_bytes")] == [float(100 * MIB), float(2048 * MIB)]


def test_refresh_is_the_collect_hook_and_keeps_to_the_interval() -> None:
    probe, clock = FakeFreeSpace(), FakeClock()
    disk, recorded = guard(probe, clock)
    disk.refresh()
    disk.refresh()
    clock.advance(DiskGuard.PROBE_INTERVAL_SECONDS)
    disk.refresh()
    assert probe.calls == 2 and len(recorded.named("store_free_bytes")) == 2


def test_zero_turns_the_guard_off_without_probing() -> None:
    probe = FakeFreeSpace(0)
    disk, recorded = guard(probe, FakeClock(), min_free_bytes=0)
    disk.ensure_room()
    disk.refresh()
    assert probe.calls == 0 and recorded.calls == []


def test_a_failing_probe_keeps_the_last_answer_and_is_logged_once() -> None:
    probe, clock = FakeFreeSpace(100 * MIB), FakeClock()
    disk, _ = guard(probe, clock)
    assert disk.shortage == LOW
    probe.error = PermissionError(13, "Permission denied")
    with capture_logs() as logs:
        for _ in range(3):
            clock.advance(DiskGuard.PROBE_INTERVAL_SECONDS)
            assert disk.shortage == LOW
    assert [e["event"] for e in logs] == ["disk_space_probe_failed"]
    assert "Permission denied" in logs[0]["error"]

    broken = FakeFreeSpace()
    broken.error = OSError(5, "Input/output error")
    fresh, _ = guard(broken, FakeClock())
    fresh.ensure_room()  # nothing known: a broken probe refuses nothing by itself


async def test_the_database_readiness_check_fails_with_the_reason_then_asks_the_store() -> None:
    probe, clock = FakeFreeSpace(100 * MIB), FakeClock()
    disk, _ = guard(probe, clock)
    store = StaticCheck(True)
    check = DatabaseReadiness(store, disk)
    with pytest.raises(StoreUnavailable, match="free disk space 100.0 MiB"):
        await check.is_ready()
    assert store.calls == 0

    probe.free_bytes = 1024 * MIB
    clock.advance(DiskGuard.PROBE_INTERVAL_SECONDS)
    assert await check.is_ready() is True
    store.ready = False
    assert await check.is_ready() is False


def test_the_local_probe_watches_a_directory_not_created_yet(tmp_path: Path) -> None:
    later = tmp_path / "data" / "archive"
    space = LocalFreeSpace([later, tmp_path / "data" / "archive"]).free_space()
    assert space.path == str(later)
    total = shutil.disk_usage(tmp_path).total
    assert 0 < space.free_bytes <= total
    assert LocalFreeSpace([later, tmp_path]).directories == (later, tmp_path)
    with pytest.raises(ValueError, match="at least one directory"):
        LocalFreeSpace([])


async def test_strategy_orders_go_through_the_guard_too(make_strategy_engine) -> None:
    se = await make_strategy_engine()
    instance = await se.start("scripted")
    se.engine.disk.free_bytes = 100 * MIB
    se.clock.advance(DiskGuard.PROBE_INTERVAL_SECONDS)
    instance.strategy.queue.append([market("buy", "0.01")])
    with capture_logs() as logs:
        await se.tick("50000")
    (refused,) = [e for e in logs if e["event"] == "strategy_order_not_placed"]
    assert refused["error"] == LOW
    assert (await orders_of(se, instance.strategy_id)).orders == ()
    assert instance.status is StrategyStatus.RUNNING  # not a strategy error: it waits for space

    se.engine.disk.free_bytes = 1024 * MIB
    instance.strategy.queue.append([market("buy", "0.01")])
    await se.tick("50000", advance=DiskGuard.PROBE_INTERVAL_SECONDS)
    (order,) = (await orders_of(se, instance.strategy_id)).orders
    assert order.status.value == "filled"


def test_the_container_watches_the_local_data_directories(tmp_path: Path) -> None:
    db_path, archive = tmp_path / "db" / "trading.db", tmp_path / "archive"
    sqlite = create_container(overrides={"persistence": {"db_path": str(db_path), "archive_dir": str(archive)}})
    assert sqlite.free_space_probe().directories == (db_path.parent, archive)
    postgres = create_container(overrides={"persistence": {
        "backend": "postgres", "url": "postgresql://engine@db:5432/trading", "db_path": str(db_path),
        "archive_dir": str(archive)}})
    assert postgres.free_space_probe().directories == (archive,)  # the server's disk is not visible
    assert _local_data_directories({"backend": "sqlite", "db_path": str(db_path), "archive_dir": str(archive)}) == [
        str(db_path.parent), str(archive)]
