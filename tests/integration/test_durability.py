"""Durability through the real service: orders over HTTP, ``kill -9``, a restart on the same SQLite
file or PostgreSQL schema, and every acknowledged order, fill, position and cash balance is there,
exactly.

The market stands still (``MARKET_VOLATILITY_BPS=0``): every price is its instrument's initial
price, so positions and P&L can be compared byte for byte across restarts. To fill a resting order
after a restart, the service is started with a config file that opens BTC-USD below the order's
limit: the simulated feed publishes that price as soon as the account (and the venue's book) is
loaded.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.support.api import ServiceApi, wait_for
from tests.support.process import ServiceProcess

pytestmark = pytest.mark.integration

TOKEN = "durability-test-token-0123456789"
D = Decimal


_schemas = itertools.count(1)


@pytest.fixture(params=["sqlite", "postgres"])
def start_service(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[..., tuple[ServiceProcess, ServiceApi]]]:
    """``start_service(**env)``: the real service on ``tmp_path/trading.db`` (or, for PostgreSQL,
    on one schema of the session's cluster), healthy and ready; every start of a test uses the
    same database."""
    started: list[ServiceProcess] = []
    database = {"TRADING_ENGINE_DB_PATH": str(tmp_path / "trading.db")}
    if request.param == "postgres":
        cluster = request.getfixturevalue("postgres_cluster")
        database = {"TRADING_ENGINE_DB_BACKEND": "postgres", "TRADING_ENGINE_DATABASE_URL": cluster.url(),
                    "TRADING_ENGINE_DB_SCHEMA": f"durability_{next(_schemas)}"}

    def start(**env: str) -> tuple[ServiceProcess, ServiceApi]:
        service = ServiceProcess(env={
            **database,
            "TRADING_ENGINE_API_TOKEN": TOKEN,
            "MARKET_VOLATILITY_BPS": "0",
            "LOG_LEVEL": "WARNING",
            **env,
        })
        started.append(service)
        service.start()
        service.wait_healthy()
        api = ServiceApi(service.base_url, TOKEN)
        status, body = api.call("GET", "/ready")
        assert status == 200, body
        return service, api

    yield start
    for service in started:
        service.stop()


def kill_9(service: ServiceProcess) -> None:
    assert service.proc is not None
    service.proc.kill()  # SIGKILL: no shutdown, no cleanup, no checkpoint
    assert service.wait() == -9


def state_of(api: ServiceApi, order_ids: list[str]) -> dict[str, Any]:
    """Everything a client can read about the account and the given orders."""
    return {
        "orders": {i: api.get(f"/orders/{i}") for i in order_ids},
        "fills": {i: api.get(f"/orders/{i}/fills") for i in order_ids},
        "positions": api.get("/positions/current"),
        "pnl": api.get("/portfolio/pnl"),
        "listing": api.all_orders(),
    }


def test_acknowledged_orders_fills_positions_and_cash_survive_kill_9(start_service, tmp_path: Path) -> None:
    service, api = start_service()
    answers: list[tuple[int, dict]] = []

    def order(**body: Any) -> dict:
        status, answer = api.call("POST", "/orders", body)
        answers.append((status, answer))
        return answer

    order(symbol="BTC-USD", side="buy", type="market", quantity="0.05")
    order(symbol="ETH-USD", side="buy", type="market", quantity="1")
    order(symbol="ETH-USD", side="sell", type="market", quantity="0.4")
    order(symbol="BTC-USD", side="sell", type="market", quantity="0.01")
    order(symbol="ETH-USD", side="buy", type="market", quantity="0.1", client_order_id="retry-me")
    btc_resting = order(symbol="BTC-USD", side="buy", type="limit", quantity="0.02", limit_price="40000")
    eth_resting = order(symbol="ETH-USD", side="buy", type="limit", quantity="0.1", limit_price="2000")
    cancelled = order(symbol="ETH-USD", side="sell", type="limit", quantity="0.5", limit_price="3500")
    status, body = api.call("DELETE", f"/orders/{cancelled['order_id']}")
    assert status == 200 and body["status"] == "cancelled"
    rejected = order(symbol="BTC-USD", side="buy", type="market", quantity="1")["error"]

    assert [s for s, _ in answers] == [201] * 8 + [422]
    assert [a["status"] for _, a in answers[:5]] == ["filled"] * 5
    assert [a["status"] for _, a in answers[5:8]] == ["open"] * 3
    assert rejected["code"] == "max_order_notional_exceeded"
    order_ids = [a["order_id"] for _, a in answers[:8]] + [rejected["order_id"]]

    before = state_of(api, order_ids)
    for _, answer in answers[:5]:  # what the 201 said is what is stored
        assert before["orders"][answer["order_id"]] == answer
    assert before["orders"][cancelled["order_id"]]["status"] == "cancelled"
    rejected_order = before["orders"][rejected["order_id"]]
    assert rejected_order == rejected["order"]
    assert (rejected_order["status"], rejected_order["reject_reason"]) == ("rejected", "max_order_notional_exceeded")
    assert len(before["listing"]) == 9
    assert before["pnl"]["reserved"] == {"USD": str(D("0.02") * D("40000") * D("1.001")
                                                 + D("0.1") * D("2000") * D("1.001"))}
    assert {p["symbol"] for p in before["positions"]["positions"]} == {"BTC-USD", "ETH-USD"}

    kill_9(service)
    service, api = start_service()
    after = state_of(api, order_ids)
    assert after == before

    # Idempotency survives the restart too: the retried request finds the stored order.
    status, again = api.call("POST", "/orders", {"symbol": "ETH-USD", "side": "buy", "type": "market",
                                                  "quantity": "0.1", "client_order_id": "retry-me"})
    assert status == 200 and again == before["orders"][answers[4][1]["order_id"]]

    # The resting orders are still open and still on the venue: one is cancellable ...
    status, body = api.call("DELETE", f"/orders/{eth_resting['order_id']}")
    assert status == 200 and body["status"] == "cancelled"
    cash_before_fill = D(api.get("/portfolio/pnl")["cash"]["USD"])

    # ... and the other fills once the price crosses it (the feed opens below its limit).
    kill_9(service)
    config = tmp_path / "crossing.yml"
    config.write_text(
        "instruments:\n"
        '  - {symbol: "BTC-USD", tick_size: "0.01", lot_size: "0.0001", min_quantity: "0.0001", '
        'initial_price: "39000", liquidity: "5"}\n'
        '  - {symbol: "ETH-USD", tick_size: "0.01", lot_size: "0.001", min_quantity: "0.001", '
        'initial_price: "3000", liquidity: "50"}\n'
        '  - {symbol: "ETH-BTC", tick_size: "0.00001", lot_size: "0.001", min_quantity: "0.001", '
        'initial_price: "0.06", liquidity: "50"}\n'
    )
    service, api = start_service(TRADING_ENGINE_CONFIG=str(config))
    filled = wait_for(lambda: api.get(f"/orders/{btc_resting['order_id']}"), lambda o: o["status"] == "filled")
    assert (filled["filled_quantity"], D(filled["average_fill_price"])) == ("0.02", D("40000"))
    (fill,) = api.get(f"/orders/{btc_resting['order_id']}/fills")["fills"]
    assert (D(fill["price"]), D(fill["fee"])) == (D("40000"), D("0.8"))
    pnl = api.get("/portfolio/pnl")
    assert D(pnl["cash"]["USD"]) == cash_before_fill - D("800") - D("0.8")
    assert pnl["reserved"] == {}
    final = state_of(api, order_ids)

    kill_9(service)
    service, api = start_service(TRADING_ENGINE_CONFIG=str(config))
    assert state_of(api, order_ids) == final


def test_kill_9_during_a_burst_loses_no_acknowledged_order(start_service) -> None:
    service, api = start_service()
    total, kill_after = 200, 40
    acknowledged: dict[str, dict] = {}
    failures: list[str] = []
    lock = threading.Lock()
    enough = threading.Event()

    def body(n: int) -> dict:
        symbol, side, quantity = [("ETH-USD", "buy", "0.01"), ("BTC-USD", "sell", "0.001"),
                                  ("ETH-USD", "sell", "0.003"), ("BTC-USD", "buy", "0.0005")][n % 4]
        return {"symbol": symbol, "side": side, "type": "market", "quantity": quantity,
                "client_order_id": f"burst-{n}"}

    def send(n: int) -> None:
        try:
            status, answer = api.call("POST", "/orders", body(n), timeout=10)
        except OSError as exc:  # the process died under this request
            with lock:
                failures.append(type(exc).__name__)
            return
        with lock:
            if status == 201:
                acknowledged[f"burst-{n}"] = answer
                if len(acknowledged) >= kill_after:
                    enough.set()
            else:
                failures.append(f"{status} {answer}")

    with ThreadPoolExecutor(max_workers=24) as pool:
        for n in range(total):
            pool.submit(send, n)
        assert enough.wait(30), failures[:5]
        kill_9(service)
    acknowledged_at_kill = dict(acknowledged)
    assert len(acknowledged_at_kill) >= kill_after
    assert not [f for f in failures if f[:3].isdigit()], failures  # no order was refused

    service, api = start_service()
    stored = {o["client_order_id"]: o for o in api.all_orders()}
    assert set(stored) <= {f"burst-{n}" for n in range(total)}
    for cid, answer in acknowledged_at_kill.items():
        assert stored.get(cid) == answer, cid  # durable exactly as acknowledged
    filled = [o for o in stored.values() if o["status"] == "filled"]
    assert len(filled) == len(stored) >= len(acknowledged_at_kill)  # durable-but-unanswered is allowed

    # Cash and positions are exactly what the stored fills make of the initial 10,000 USD.
    cash = D("10000")
    held: dict[str, Decimal] = {}
    for order in stored.values():
        fills = api.get(f"/orders/{order['order_id']}/fills")["fills"]
        assert sum((D(f["quantity"]) for f in fills), D(0)) == D(order["filled_quantity"])
        for fill in fills:
            notional = D(fill["quantity"]) * D(fill["price"])
            sign = 1 if fill["side"] == "buy" else -1
            cash += -sign * notional - D(fill["fee"])
            held[fill["symbol"]] = held.get(fill["symbol"], D(0)) + sign * D(fill["quantity"])
    pnl = api.get("/portfolio/pnl")
    assert D(pnl["cash"]["USD"]) == cash
    assert pnl["reserved"] == {}
    positions = {p["symbol"]: D(p["quantity"]) for p in api.get("/positions/current")["positions"]}
    assert positions == {s: q for s, q in held.items() if q != 0}


@pytest.mark.parametrize("case", ["parent_is_a_file", "path_is_a_directory", "not_a_database"])
def test_an_unusable_database_path_fails_startup_with_one_line(tmp_path: Path, case: str) -> None:
    blocker = tmp_path / "blocker"
    if case == "parent_is_a_file":
        blocker.write_text("a regular file, so no directory can be created under it\n")
        db_path = blocker / "data" / "trading.db"
    elif case == "path_is_a_directory":
        blocker.mkdir()
        db_path = blocker
    else:
        blocker.write_text("this is not an SQLite database, not even its header " * 20)
        db_path = blocker
    service = ServiceProcess(env={"TRADING_ENGINE_DB_PATH": str(db_path), "TRADING_ENGINE_API_TOKEN": TOKEN})
    with service:
        code = service.wait(30)
    assert code == 1
    lines = [line for line in service.stderr if line.strip()]
    assert len(lines) == 1, service.stderr
    assert lines[0].startswith("trading-engine: cannot start: ")
    assert str(db_path) in lines[0]
    assert "Traceback" not in "\n".join(service.stderr + service.stdout)
