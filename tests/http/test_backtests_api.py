"""/api/v1/backtests: submitted, run in worker processes, read back, cancelled, kept across a restart."""

from __future__ import annotations

import gzip
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import AUTH
from tests.http.trading_api import eventually, expect_error, get_json
from trading_engine.domain.backtest import BacktestRecord, BacktestSpec, BacktestStatus

pytestmark = pytest.mark.integration  # worker processes

BACKTESTS = "/api/v1/backtests"
SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "history" / "btc-usd-1m.csv.gz"
DONCHIAN = {"strategy": "donchian", "symbol": "BTC-USD", "params": {"channel": 10, "position_size": "0.05"}}


@pytest.fixture
def history(tmp_path: Path) -> Path:
    folder = tmp_path / "history"  # the tests' backtests.data_dir (conftest)
    folder.mkdir()
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as f:
        (folder / "half-day.csv").write_text("".join(line for _, line in zip(range(721), f)))
    (tmp_path / "secret.csv").write_text("timestamp,price\n1,1\n")
    os.symlink(tmp_path / "secret.csv", folder / "link-out.csv")
    return folder


async def submit(client: Any, **fields: Any) -> Any:
    return await client.post(BACKTESTS, json={**DONCHIAN, "data": ["half-day.csv"], **fields}, headers=AUTH)


async def finished(client: Any, backtest_id: str, timeout: float = 30.0) -> dict[str, Any]:
    async def done() -> Any:
        body = await get_json(client, f"{BACKTESTS}/{backtest_id}")
        return body if body["status"] in ("done", "failed", "cancelled") else None

    return await eventually(done, timeout=timeout)


async def test_a_backtest_runs_in_a_worker_and_its_files_are_served(make_container, make_client, history) -> None:
    client = await make_client(make_container())
    resp = await submit(client)
    assert resp.status == 202, await resp.text()
    queued = await resp.json()
    assert queued["status"] in ("queued", "running") and queued["request"]["data"] == ["half-day.csv"]
    health = await client.get("/api/v1/health")  # the loop is free while the worker runs
    assert health.status == 200
    body = await finished(client, queued["backtest_id"])
    assert body["status"] == "done" and body["progress"] == 1.0 and body["events"] == 720, body
    stats = body["statistics"]
    assert stats["strategy"] == "donchian" and stats["fills"] > 0 and stats["params"]["channel"] == 10
    report = await client.get(f"{BACKTESTS}/{queued['backtest_id']}/report")
    assert report.status == 200 and report.content_type == "text/html" and "data:image/png" in await report.text()
    png = await client.get(f"{BACKTESTS}/{queued['backtest_id']}/equity.png")
    assert png.content_type == "image/png" and (await png.read())[:4] == b"\x89PNG"
    fills = await client.get(f"{BACKTESTS}/{queued['backtest_id']}/fills.csv")
    assert (await fills.text()).startswith("timestamp,order_id,side,quantity,price,fee,realized_pnl\n")
    listed = await get_json(client, BACKTESTS)
    assert [b["backtest_id"] for b in listed["backtests"]] == [queued["backtest_id"]]
    metrics = await (await client.get("/metrics")).text()
    assert 'backtests_total{' in metrics and 'status="done"' in metrics and "backtest_events_total" in metrics
    await expect_error(await client.delete(f"{BACKTESTS}/{queued['backtest_id']}", headers=AUTH), 409, "conflict")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"data": ["../secret.csv"]}, "data"),
        ({"data": ["/etc/passwd"]}, "data"),
        ({"data": ["link-out.csv"]}, "data"),
        ({"data": ["missing.csv"]}, "data"),
        # Names the OS refuses (found by schemathesis: an embedded NUL was a 500).
        ({"data": ["half\u0000day.csv"]}, "data"),
        ({"data": ["half\tday.csv"]}, "data"),
        ({"data": ["\udb3f\udeac"]}, "data"),
        ({"strategy": "nope"}, "strategy"),
        ({"symbol": "DOGE-USD"}, "symbol"),
        ({"params": {"channel": 0}}, "params.channel"),
    ],
)
async def test_refused_submissions_are_422_naming_the_field(make_container, make_client, history, fields, field) -> None:
    client = await make_client(make_container())
    await expect_error(await submit(client, **fields), 422, "validation_error", field=field)
    assert (await get_json(client, BACKTESTS))["backtests"] == []


async def test_submitting_needs_the_token(make_container, make_client, history) -> None:
    client = await make_client(make_container())
    resp = await client.post(BACKTESTS, json={**DONCHIAN, "data": ["half-day.csv"]})
    await expect_error(resp, 401, "unauthorized")


async def test_bad_data_fails_with_the_line_and_more_than_max_concurrent_wait(make_container, make_client, history) -> None:
    (history / "bad.csv").write_text("timestamp,price\n1000,1\n1000,2\n")
    client = await make_client(make_container())
    first = await (await submit(client, data=["bad.csv"])).json()
    second = await (await submit(client)).json()
    assert second["status"] == "queued"  # max_concurrent 1: waits for the first
    failed = await finished(client, first["backtest_id"])
    assert failed["status"] == "failed" and "bad.csv:3: column timestamp: 1000 is not after" in failed["error"]
    await expect_error(await client.get(f"{BACKTESTS}/{first['backtest_id']}/report"), 409, "conflict")
    cancelled = await client.delete(f"{BACKTESTS}/{second['backtest_id']}", headers=AUTH)
    assert cancelled.status == 200 and (await cancelled.json())["status"] == "cancelled"
    await expect_error(await client.get(f"{BACKTESTS}/bkt_nope"), 404, "not_found")


async def test_results_survive_a_restart_and_one_left_running_is_cancelled(make_container, make_client, history, tmp_path) -> None:
    client = await make_client(make_container())
    done = await finished(client, (await (await submit(client)).json())["backtest_id"])
    assert done["status"] == "done"
    # a record the service saved as running when it died
    record = BacktestRecord("bkt_left_running", BacktestSpec("donchian", "BTC-USD", ("half-day.csv",)),
                            BacktestStatus.RUNNING, created_at=datetime(2026, 1, 2, tzinfo=UTC))
    (tmp_path / "backtests" / "bkt_left_running").mkdir()
    (tmp_path / "backtests" / "bkt_left_running" / "backtest.json").write_text(json.dumps(record.to_dict()))
    again = await make_client(make_container())
    listed = {b["backtest_id"]: b for b in (await get_json(again, BACKTESTS))["backtests"]}
    assert listed[done["backtest_id"]]["statistics"] == done["statistics"]
    assert listed["bkt_left_running"]["status"] == "cancelled"
    assert (await again.get(f"{BACKTESTS}/{done['backtest_id']}/equity.png")).status == 200


async def test_a_backtest_running_at_shutdown_is_recorded_cancelled(make_container, make_client, history, tmp_path) -> None:
    container = make_container()
    client = await make_client(container)
    running = await (await submit(client)).json()
    await client.close()  # shuts the app down: its resources stop
    saved = json.loads((tmp_path / "backtests" / running["backtest_id"] / "backtest.json").read_text())
    assert saved["status"] == "cancelled"


async def test_the_worker_process_runs_below_the_services_priority(make_container, history, tmp_path, monkeypatch) -> None:
    """The live service's event loop gets the CPU before a backtest's replay does."""
    import asyncio

    from trading_engine.infrastructure.backtests.worker import WORKER_NICENESS

    spawned: list[Any] = []
    spawn = asyncio.create_subprocess_exec

    async def spy(*args: Any, **kwargs: Any) -> Any:
        spawned.append(await spawn(*args, **kwargs))
        return spawned[-1]

    monkeypatch.setattr(asyncio, "create_subprocess_exec", spy)
    priorities: list[int] = []
    worker = make_container().backtest_worker()
    spec = BacktestSpec(strategy="donchian", symbol="BTC-USD", data=("half-day.csv",), params={"channel": 10})
    report = await worker.run("bkt_priority", spec, [history / "half-day.csv"], tmp_path / "out",
                              lambda share, events: priorities.append(os.getpriority(os.PRIO_PROCESS, spawned[0].pid)))
    assert report["events"] == 720 and priorities
    assert set(priorities) == {min(19, os.getpriority(os.PRIO_PROCESS, 0) + WORKER_NICENESS)}
