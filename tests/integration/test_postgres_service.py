"""The real service on PostgreSQL: one writer per schema, and the server stopped and started again
under a stream of orders (503 ``store_unavailable`` and readiness failing meanwhile, trading again
afterwards, every acknowledged order kept and none of the refused ones).

These tests stop their server, so they run on a cluster of their own.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from tests.support.api import ServiceApi, wait_for
from tests.support.postgres import PostgresCluster
from tests.support.process import ServiceProcess

pytestmark = pytest.mark.integration

TOKEN = "postgres-service-test-token-01234"
PASSWORD = "n0t-in-any-log-line"
D = Decimal
_schemas = itertools.count(1)


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    made = PostgresCluster().start()
    try:
        yield made
    finally:
        made.remove()


def engine(cluster: PostgresCluster, schema: str, **env: str) -> ServiceProcess:
    return ServiceProcess(env={
        "TRADING_ENGINE_DB_BACKEND": "postgres",
        # The cluster trusts loopback: the password is accepted, and must never be printed.
        "TRADING_ENGINE_DATABASE_URL": cluster.url(password=PASSWORD),
        "TRADING_ENGINE_DB_SCHEMA": schema,
        "TRADING_ENGINE_API_TOKEN": TOKEN,
        "MARKET_VOLATILITY_BPS": "0",
        "LOG_LEVEL": "INFO",
        **env,
    })


def test_a_second_process_on_a_schema_is_refused_with_one_line(cluster: PostgresCluster) -> None:
    schema = f"writer_{next(_schemas)}"
    with engine(cluster, schema) as first:
        first.wait_healthy()
        with engine(cluster, schema) as second:
            assert second.wait(30) == 1
        lines = [line for line in second.stderr if line.strip()]
        assert lines == [
            f"trading-engine: cannot start: schema {schema} on postgresql://postgres:***@127.0.0.1:{cluster.port}"
            "/postgres is in use by another engine process; one process writes one schema: stop the other or "
            "give this one another service.instance_name (or persistence.schema)"
        ], second.stderr
        api = ServiceApi(first.base_url, TOKEN)
        status, _ = api.call("POST", "/orders", {"symbol": "BTC-USD", "side": "buy", "type": "market",
                                                 "quantity": "0.001"})
        assert status == 201  # the first one trades on
        output = "\n".join(first.stdout + first.stderr + second.stdout + second.stderr)
        assert "store_started" in output and PASSWORD not in output


def test_the_server_stopping_and_starting_under_a_stream_of_orders(cluster: PostgresCluster) -> None:
    with engine(cluster, f"outage_{next(_schemas)}") as service:
        service.wait_healthy()
        api = ServiceApi(service.base_url, TOKEN, timeout=15)
        answers: dict[str, tuple[int, dict[str, Any]]] = {}
        lock = threading.Lock()
        stop = threading.Event()
        counter = itertools.count()

        def stream() -> None:
            while not stop.is_set():
                n = next(counter)
                if n >= 5000:  # bounded: the test ends long before
                    return
                side, quantity = ("buy", "0.01") if n % 2 == 0 else ("sell", "0.004")
                status, body = api.call("POST", "/orders", {"symbol": "ETH-USD", "side": side, "type": "market",
                                                            "quantity": quantity, "client_order_id": f"s-{n}"})
                with lock:
                    answers[f"s-{n}"] = (status, body)

        def count(status: int) -> int:
            with lock:
                return sum(1 for s, _ in answers.values() if s == status)

        workers = [threading.Thread(target=stream) for _ in range(4)]
        for worker in workers:
            worker.start()
        try:
            wait_for(lambda: count(201), lambda n: n >= 50, timeout=30)
            cluster.stop()
            wait_for(lambda: count(503), lambda n: n >= 20, timeout=30)
            status, ready = api.call("GET", "/ready")
            assert status == 503 and ready["checks"]["database"] == "error", ready
            acknowledged_before = count(201)
            cluster.restart()
            wait_for(lambda: api.call("GET", "/ready"), lambda answer: answer[0] == 200, timeout=30)
            wait_for(lambda: count(201), lambda n: n >= acknowledged_before + 50, timeout=30)
        finally:
            stop.set()
            for worker in workers:
                worker.join(30)

        codes = {status for status, _ in answers.values()}
        assert codes == {201, 503}, [e for e in service.events() if e.get("event") == "unhandled_exception"][:1]
        refused = {cid for cid, (status, body) in answers.items() if status == 503}
        assert {answers[cid][1]["error"]["code"] for cid in refused} == {"store_unavailable"}
        stored = {order["client_order_id"]: order for order in api.all_orders()}
        for cid, (status, body) in answers.items():
            if status == 201:
                assert stored.get(cid) == body, cid  # every acknowledged order, as acknowledged
        assert not refused & set(stored), sorted(refused & set(stored))[:5]  # no refused one
        assert len(stored) == count(201)

        # The account in memory is what the stored fills make of the initial cash.
        cash, held = D("10000"), D("0")
        for order in stored.values():
            for fill in api.get(f"/orders/{order['order_id']}/fills")["fills"]:
                sign = 1 if fill["side"] == "buy" else -1
                cash += -sign * D(fill["quantity"]) * D(fill["price"]) - D(fill["fee"])
                held += sign * D(fill["quantity"])
        assert D(api.get("/portfolio/pnl")["cash"]["USD"]) == cash
        positions = {p["symbol"]: D(p["quantity"]) for p in api.get("/positions/current")["positions"]}
        assert positions.get("ETH-USD", D(0)) == held
        events = {event["event"] for event in service.events()}
        assert {"store_disconnected", "store_reconnected", "account_reloaded_after_failed_write"} <= events
        assert PASSWORD not in "\n".join(service.stdout + service.stderr)
