"""Strategy instances survive a restart of the real service on the same SQLite file.

The first run trades on a moving simulated market (fast ticks, 10 bps a step) so the market maker
gets fills; the restart runs on a still market (``MARKET_VOLATILITY_BPS=0``: every price at its
instrument's initial price), so once the maker has requoted nothing fills any more and what each
instance holds can be compared with the account exactly: only the market maker trades BTC-USD and
only the momentum instance trades ETH-USD.
"""

from __future__ import annotations

import json
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.support.api import ServiceApi, wait_for
from tests.support.process import ServiceProcess

pytestmark = pytest.mark.integration

TOKEN = "strategy-resume-token-0123456789"
D = Decimal
MM_PARAMS = {"spread_bps": "4", "quote_size": "0.001", "max_inventory": "0.01", "skew_bps": "2",
             "requote_bps": "5", "max_orders_per_second": 100}
MOMENTUM_PARAMS = {"fast": 2, "slow": 4, "position_size": "0.01"}
MOVING = {"MARKET_VOLATILITY_BPS": "10", "MARKET_TICK_INTERVAL_SECONDS": "0.1"}
STILL = {"MARKET_VOLATILITY_BPS": "0", "MARKET_TICK_INTERVAL_SECONDS": "0.1"}


class Api(ServiceApi):
    def __init__(self, base_url: str) -> None:
        super().__init__(base_url, TOKEN, timeout=10)

    def start(self, strategy: str, symbol: str, params: dict) -> dict:
        status, body = self.call("POST", "/strategies/start", {"strategy": strategy, "symbol": symbol,
                                                               "params": params})
        assert status == 201, body
        return body

    def open_orders(self, strategy_id: str) -> list[dict]:
        page = self.get("/orders?status=open&limit=1000")
        return [o for o in page["orders"] if o["strategy_id"] == strategy_id]

    def filled_orders(self, strategy_id: str) -> int:
        """Orders of the instance the store holds as (partly) filled: durable fills."""
        return sum(1 for o in self.all_orders()
                   if o["strategy_id"] == strategy_id and float(o["filled_quantity"]) > 0)

    def position(self, symbol: str) -> Decimal:
        positions = self.get("/positions/current")["positions"]
        return sum((D(p["quantity"]) for p in positions if p["symbol"] == symbol), D(0))


@pytest.fixture
def start_service(tmp_path: Path) -> Iterator[Callable[..., tuple[ServiceProcess, Api]]]:
    """``start_service(**env)``: the real service on ``tmp_path/trading.db``, healthy."""
    started: list[ServiceProcess] = []

    def start(**env: str) -> tuple[ServiceProcess, Api]:
        service = ServiceProcess(env={
            "TRADING_ENGINE_DB_PATH": str(tmp_path / "trading.db"),
            "TRADING_ENGINE_API_TOKEN": TOKEN,
            "STRATEGY_BREAKER_AFTER_LIMIT_HITS": "1000000",
            "LOG_LEVEL": "WARNING",
            **env,
        })
        started.append(service)
        service.start()
        service.wait_healthy()
        return service, Api(service.base_url)

    yield start
    for service in started:
        service.stop()


def stop(service: ServiceProcess, how: signal.Signals) -> None:
    service.signal(how)
    code = service.wait()
    assert code == (0 if how is signal.SIGTERM else -9), (code, service.stderr[-5:])


def start_both(api: Api) -> tuple[dict, dict]:
    mm = api.start("market_making", "BTC-USD", MM_PARAMS)
    momentum = api.start("momentum", "ETH-USD", MOMENTUM_PARAMS)
    return mm, momentum


def comparable(instance: dict) -> tuple:
    return instance["strategy_id"], instance["strategy"], instance["symbol"], instance["params"]


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_running_instances_resume_with_their_ids_params_and_fills(start_service, how) -> None:
    service, api = start_service(**MOVING)
    mm, momentum = start_both(api)
    mm_id = mm["strategy_id"]
    # Running, trading (fills in the store), quoting.
    durable = wait_for(lambda: api.filled_orders(mm_id), lambda n: n >= 1)
    wait_for(lambda: api.open_orders(mm_id), lambda orders: len(orders) >= 1)
    before_active = sorted(comparable(s) for s in api.get("/strategies/active")["strategies"])
    assert [s[0] for s in before_active] == sorted([mm_id, momentum["strategy_id"]])
    trades_before = api.get(f"/strategies/{mm_id}/performance")["trades"]
    stop(service, how)

    service, api = start_service(**STILL)
    after_active = sorted(comparable(s) for s in api.get("/strategies/active")["strategies"])
    assert after_active == before_active
    for instance in api.get("/strategies/active")["strategies"]:
        assert instance["status"] == "running"
    # The maker requotes around the still price; nothing fills after that.
    wait_for(lambda: api.open_orders(mm_id), lambda orders: len(orders) == 2)
    perf = api.get(f"/strategies/{mm_id}/performance")
    assert perf["trades"] >= durable
    if how is signal.SIGTERM:  # a graceful stop writes every fill first
        assert perf["trades"] >= trades_before
    # What each instance holds, rebuilt from its stored fills, is what the account holds.
    assert D(perf["position"]) == api.position("BTC-USD")
    momentum_perf = api.get(f"/strategies/{momentum['strategy_id']}/performance")
    assert D(momentum_perf["position"]) == api.position("ETH-USD")
    mine = api.get(f"/positions/current?strategy_id={mm_id}")["positions"]
    assert sum((D(p["quantity"]) for p in mine), D(0)) == D(perf["position"])
    assert api.get(f"/strategies/{mm_id}/status")["status"] == "running"
    stop(service, signal.SIGTERM)


def test_without_resume_the_instances_are_stopped_with_a_reason_and_their_quotes_cancelled(start_service) -> None:
    service, api = start_service(**MOVING)
    mm, momentum = start_both(api)
    mm_id = mm["strategy_id"]
    wait_for(lambda: api.open_orders(mm_id), lambda orders: len(orders) >= 1)
    stop(service, signal.SIGTERM)

    service, api = start_service(**STILL, STRATEGIES_RESUME_ON_START="false")
    assert api.get("/strategies/active")["strategies"] == []
    for instance in (mm, momentum):
        status = api.get(f"/strategies/{instance['strategy_id']}/status")
        assert status["status"] == "stopped"
        assert "resume_on_start" in status["reason"], status
        assert status["params"] == instance["params"]
    assert api.open_orders(mm_id) == []
    # The account keeps what the instances bought; the market maker's share is still its own.
    perf = api.get(f"/strategies/{mm_id}/performance")
    assert D(perf["position"]) == api.position("BTC-USD")
    stop(service, signal.SIGTERM)
