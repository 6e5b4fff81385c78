"""A fleet: three engine instances on one PostgreSQL server, one real Prometheus discovering them
through ``file_sd_configs`` with the shipped rules. Each instance's orders stay in its own schema;
the recording rules and the dashboard's queries aggregate across instances and select one; a
``kill -9`` of one loses none of its acknowledged orders while the other two keep trading and being
scraped.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest

from tests.support.api import ServiceApi
from tests.support.postgres import PostgresCluster
from tests.support.process import REPO_ROOT, ServiceProcess
from tests.support.prometheus import JOB, PrometheusServer

pytestmark = pytest.mark.integration

TOKEN = "fleet-test-token-0123456789abcdef"
NAMES = ("fleet-a", "fleet-b", "fleet-c")
DASHBOARD = json.loads((REPO_ROOT / "deploy" / "grafana" / "trading-system-engine.json").read_text())


def dashboard_query(title: str, instance: str) -> str:
    """The PromQL of the dashboard panel ``title``, with its variables set as Grafana would."""
    def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for panel in items:
            yield panel
            yield from panels(panel.get("panels", []))

    panel = next(p for p in panels(DASHBOARD["panels"]) if p.get("title") == title and p.get("targets"))
    expr = panel["targets"][0]["expr"]
    return expr.replace("$service", "trading-system-engine").replace("$instance", instance)


def start_engine(cluster: PostgresCluster, name: str) -> tuple[ServiceProcess, ServiceApi]:
    service = ServiceProcess(env={
        "SERVICE_INSTANCE_NAME": name,  # the schema is derived from it: fleet-a -> fleet_a
        "TRADING_ENGINE_DB_BACKEND": "postgres",
        "TRADING_ENGINE_DATABASE_URL": cluster.url(),
        "TRADING_ENGINE_API_TOKEN": TOKEN,
        "MARKET_VOLATILITY_BPS": "0",
        "LOG_LEVEL": "WARNING",
    })
    service.start()
    service.wait_healthy()
    return service, ServiceApi(service.base_url, TOKEN)


def place(api: ServiceApi, count: int, prefix: str) -> list[dict[str, Any]]:
    answers = []
    for n in range(count):
        side, quantity = ("buy", "0.01") if n % 2 == 0 else ("sell", "0.005")
        status, body = api.call("POST", "/orders", {"symbol": "ETH-USD", "side": side, "type": "market",
                                                    "quantity": quantity, "client_order_id": f"{prefix}-{n}"})
        assert status == 201, body
        answers.append(body)
    return answers


async def schema_counts(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    try:
        return {name: await conn.fetchval(f"SELECT count(*) FROM {name.replace('-', '_')}.orders") for name in NAMES}
    finally:
        await conn.close()


def by_instance(result: list[dict[str, Any]]) -> dict[str, float]:
    return {series["metric"].get("instance", ""): float(series["value"][1]) for series in result}


def test_three_instances_one_database_one_prometheus(postgres_cluster: PostgresCluster) -> None:
    engines: dict[str, tuple[ServiceProcess, ServiceApi]] = {}
    try:
        for name in NAMES:
            engines[name] = start_engine(postgres_cluster, name)
        targets = [f"127.0.0.1:{engines[name][0].port}" for name in NAMES]
        with PrometheusServer(targets, file_discovery=True) as prometheus:
            counts = {"fleet-a": 3, "fleet-b": 5, "fleet-c": 7}
            acknowledged = {name: place(engines[name][1], counts[name], "same-id") for name in NAMES}

            # Each instance sees its own orders only, in its own schema; the same client ids in each.
            for name in NAMES:
                listed = engines[name][1].all_orders()
                assert sorted(o["order_id"] for o in listed) == sorted(o["order_id"] for o in acknowledged[name])
            assert asyncio.run(schema_counts(postgres_cluster.url())) == counts

            # Prometheus found all three through the file, and tells them apart by instance name.
            filled = f'sum by (instance) (orders_total{{job="{JOB}", status="filled"}})'
            prometheus.wait_for(filled, lambda r: by_instance(r) == {n: float(c) for n, c in counts.items()})
            assert sorted(t["health"] for t in prometheus.targets_health()) == ["up"] * 3

            # The recording rules and the dashboard aggregate the fleet and select one instance
            # (rates need orders between scrapes: one more on each instance per poll).
            def trade() -> None:
                for name in NAMES:
                    acknowledged[name] += place(engines[name][1], 1, f"tick-{len(acknowledged[name])}")

            everyone = "|".join(NAMES)
            prometheus.wait_for(
                f'service_instance:orders_accepted:rate5m{{instance=~"{everyone}"}}',
                lambda r: set(by_instance(r)) == set(NAMES) and all(v > 0 for v in by_instance(r).values()),
                tick=trade,
            )
            counts = {name: len(answers) for name, answers in acknowledged.items()}
            fleet = prometheus.query(dashboard_query("New orders: accepted and rejected", everyone))
            assert len(fleet) == 1 and float(fleet[0]["value"][1]) > 0
            equity = prometheus.query(dashboard_query("Equity", everyone))
            assert {series["metric"]["instance"] for series in equity} == set(NAMES)
            (one,) = prometheus.query(dashboard_query("Equity", "fleet-b"))
            assert one["metric"]["instance"] == "fleet-b"
            statuses = prometheus.query(dashboard_query("Order events by status", "fleet-c"))
            assert {s["metric"]["status"]: float(s["value"][1]) > 0 for s in statuses} == {"filled": True}

            # kill -9 of fleet-c: the other two keep trading and being scraped.
            victim, victim_api = engines["fleet-c"]
            assert victim.proc is not None
            victim.proc.kill()
            assert victim.wait() == -9
            more = {name: place(engines[name][1], 4, "after-kill") for name in ("fleet-a", "fleet-b")}
            after = {name: float(counts[name] + 4) for name in more}
            prometheus.wait_for(filled, lambda r: {k: v for k, v in by_instance(r).items() if k != "fleet-c"} == after)
            prometheus.wait_for(
                f'up{{job="{JOB}"}}',
                lambda r: sorted(float(s["value"][1]) for s in r) == [0.0, 1.0, 1.0],
            )
            assert asyncio.run(schema_counts(postgres_cluster.url())) == {**counts, **{n: int(c) for n, c in after.items()}}

            # fleet-c comes back on its schema with every acknowledged order, as acknowledged.
            engines["fleet-c"] = start_engine(postgres_cluster, "fleet-c")
            stored = {o["order_id"]: o for o in engines["fleet-c"][1].all_orders()}
            assert stored == {o["order_id"]: o for o in acknowledged["fleet-c"]}
            for name, answers in more.items():
                stored = {o["order_id"]: o for o in engines[name][1].all_orders()}
                assert all(stored[o["order_id"]] == o for o in acknowledged[name] + answers)
            prometheus.set_targets(
                [f"127.0.0.1:{engines[name][0].port}" for name in NAMES]  # its new port, in the file
            )
            prometheus.wait_for(
                f'up{{job="{JOB}"}} == 1', lambda r: len(r) == 3, timeout=60
            )
    finally:
        for service, _api in engines.values():
            service.stop()
