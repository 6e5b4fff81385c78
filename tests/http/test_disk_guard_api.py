"""The disk-space guard through the API: below persistence.min_free_bytes new orders are refused
with 503 store_unavailable and readiness fails; reads, cancels and the breaker go on; orders are
taken again once space returns. The free-space probe is faked through the container; one test
fills a real, size-limited tmpfs."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from dependency_injector import providers
from structlog.testing import capture_logs

from tests.conftest import AUTH
from tests.fakes import FakeClock, FakeFreeSpace
from tests.http.trading_api import ORDERS, all_orders, expect_error, get_json, place, place_ok, pnl
from trading_engine.services.disk_guard import MIB, DiskGuard

LOW = (
    "free disk space 100.0 MiB at /srv/engine/data is below persistence.min_free_bytes 512.0 MiB; "
    "new orders are refused until space returns"
)


async def guarded_client(make_container, make_client, overrides=None):
    container = make_container(overrides)
    probe, clock = FakeFreeSpace(), FakeClock()
    container.free_space_probe.override(providers.Object(probe))
    container.wall_clock.override(providers.Object(clock))
    return await make_client(container), probe, clock


def free_bytes_gauge(text: str) -> float:
    (line,) = [line for line in text.splitlines() if line.startswith("store_free_bytes{")]
    return float(line.rsplit(" ", 1)[1])


async def test_orders_are_refused_while_the_disk_is_short_and_taken_again_when_space_returns(
    make_container, make_client
) -> None:
    client, probe, clock = await guarded_client(make_container, make_client)
    filled = await place_ok(client)
    retried = await place_ok(client, symbol="ETH-USD", quantity="0.1", client_order_id="retry-1")
    resting = await place_ok(client, symbol="ETH-USD", type="limit", quantity="0.5", limit_price="2000")
    assert (await get_json(client, "/api/v1/ready"))["checks"]["database"] == "ok"
    before = await pnl(client)

    probe.free_bytes = 100 * MIB
    clock.advance(DiskGuard.PROBE_INTERVAL_SECONDS)
    error = await expect_error(await place(client), 503, "store_unavailable")
    assert error["message"] == LOW
    await expect_error(await place(client, symbol="DOGE-USD"), 503, "store_unavailable")  # not even a rejection
    await expect_error(await place(client, client_order_id="new-1"), 503, "store_unavailable")

    with capture_logs() as logs:
        resp = await client.get("/api/v1/ready")
    assert resp.status == 503
    assert await resp.json() == {
        "status": "not_ready", "checks": {"lifecycle": "ok", "database": "error", "market_data": "ok"},
        "reasons": {"database": f"StoreUnavailable: {LOW}"},
    }
    (failed,) = [e for e in logs if e["event"] == "readiness_check_failed"]
    assert failed["check"] == "database" and failed["reason"] == f"StoreUnavailable: {LOW}"

    # Reads keep working, a retry of a stored order still gets its answer, and nothing was stored.
    assert [o["order_id"] for o in await all_orders(client)] == [
        resting["order_id"], retried["order_id"], filled["order_id"]
    ]
    assert (await get_json(client, f"{ORDERS}/{filled['order_id']}"))["status"] == "filled"
    assert await pnl(client) == before
    again = await place_ok(client, status=200, symbol="ETH-USD", quantity="0.1", client_order_id="retry-1")
    assert again["order_id"] == retried["order_id"]

    # What reduces risk goes on: a cancel, the breaker.
    resp = await client.delete(f"{ORDERS}/{resting['order_id']}", headers=AUTH)
    assert resp.status == 200 and (await resp.json())["status"] == "cancelled"
    for action in ({"action": "trip", "reason": "disk short"}, {"action": "reset"}):
        resp = await client.post("/api/v1/risk/circuit-breaker", json=action, headers=AUTH)
        assert resp.status == 200, await resp.text()

    assert free_bytes_gauge(await (await client.get("/api/v1/metrics")).text()) == 100 * MIB

    # Space returns: orders are taken again, without a restart.
    probe.free_bytes = 2048 * MIB
    clock.advance(DiskGuard.PROBE_INTERVAL_SECONDS)
    assert (await place_ok(client, quantity="0.01"))["status"] == "filled"
    assert (await get_json(client, "/api/v1/ready"))["status"] == "ready"
    assert free_bytes_gauge(await (await client.get("/api/v1/metrics")).text()) == 2048 * MIB


async def test_the_guard_is_off_at_zero(make_container, make_client) -> None:
    client, probe, _clock = await guarded_client(
        make_container, make_client, {"persistence": {"min_free_bytes": "0"}}
    )
    probe.free_bytes = 0
    await place_ok(client)
    assert (await get_json(client, "/api/v1/ready"))["status"] == "ready"
    assert probe.calls == 0
    assert "store_free_bytes" not in await (await client.get("/api/v1/metrics")).text()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs mounted for this test (requested before the client, so unmounted after it)."""
    mountpoint = tmp_path / "small-disk"
    mountpoint.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", str(mountpoint)],
        capture_output=True, text=True, check=False,
    ) if shutil.which("mount") else None
    if mounted is None or mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip() if mounted else 'no mount command'}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "--lazy", str(mountpoint)], check=False)


async def test_a_real_disk_filling_up_refuses_orders_until_it_is_freed(
    small_disk: Path, make_container, make_client
) -> None:
    container = make_container({"persistence": {
        "db_path": str(small_disk / "data" / "trading.db"), "min_free_bytes": str(8 * MIB),
    }})
    clock = FakeClock()
    container.wall_clock.override(providers.Object(clock))
    client = await make_client(container)
    await place_ok(client, quantity="0.01")

    ballast = small_disk / "ballast"
    with ballast.open("wb") as out:
        os.posix_fallocate(out.fileno(), 0, shutil.disk_usage(small_disk).free - 4 * MIB)
    clock.advance(DiskGuard.PROBE_INTERVAL_SECONDS)
    error = await expect_error(await place(client, quantity="0.01"), 503, "store_unavailable")
    assert f"at {small_disk / 'data'} is below persistence.min_free_bytes 8.0 MiB" in error["message"]
    assert (await client.get("/api/v1/ready")).status == 503
    assert len(await all_orders(client)) == 1

    ballast.unlink()
    clock.advance(DiskGuard.PROBE_INTERVAL_SECONDS)
    await place_ok(client, quantity="0.01")
    assert (await client.get("/api/v1/ready")).status == 200
