"""A real Prometheus, configured from deploy/prometheus/prometheus.yml, scrapes the service.

What a PromQL user sees: the RED series with the service's identity labels (its own instance name,
thanks to honor_labels, and no exported_instance), route templates (``unmatched`` for a 404), the
runtime metrics labelled the same way, and ``up`` = 1 for the job.
"""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from tests.support.process import ServiceProcess
from tests.support.prometheus import JOB, PrometheusServer, Result

pytestmark = pytest.mark.integration

INSTANCE_NAME = "trading-system-engine-LH"  # mixed case on purpose: the service lowercases it
INSTANCE = "trading-system-engine-lh"
VERSION = "9.8.7"
IDENTITY = {"service": "trading-system-engine", "instance": INSTANCE, "version": VERSION}


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            resp.read()
            return resp.status
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code


def traffic(service: ServiceProcess) -> None:
    assert get(f"{service.base_url}/api/v1/health") == 200
    assert get(f"{service.base_url}/api/v1/ready") == 200
    assert get(f"{service.base_url}/api/v1/no-such-route") == 404


def by_route_and_code(result: Result) -> dict[tuple[str, str], dict[str, str]]:
    return {(r["metric"].get("route"), r["metric"].get("code")): r["metric"] for r in result}


def test_prometheus_scrapes_the_service_with_its_identity_labels() -> None:
    env = {"SERVICE_INSTANCE_NAME": INSTANCE_NAME, "VERSION": VERSION}
    with ServiceProcess(env=env) as service:
        service.wait_healthy()
        traffic(service)
        target = f"127.0.0.1:{service.port}"
        with PrometheusServer(target) as prometheus:
            # rate() needs two samples of a series inside its window: a few 1 s scrapes.
            wanted = {("/api/v1/health", "200"), ("unmatched", "404")}
            rates = prometheus.wait_for(
                f'rate(http_requests_total{{job="{JOB}"}}[1m])',
                lambda result: wanted <= set(by_route_and_code(result)),
                timeout=45,
                tick=lambda: traffic(service),
            )

            series = by_route_and_code(rates)
            health = series[("/api/v1/health", "200")]
            assert health == {
                **IDENTITY,
                "job": JOB,
                "method": "GET",
                "route": "/api/v1/health",
                "code": "200",
            }
            assert series[("unmatched", "404")]["method"] == "GET"
            for labels in series.values():
                assert {k: labels.get(k) for k in IDENTITY} == IDENTITY, labels
                assert "exported_instance" not in labels, labels
            assert float(next(r for r in rates if r["metric"] is health)["value"][1]) > 0

            # The service's instance name is what PromQL selects on; nothing got renamed.
            assert prometheus.query(f'http_requests_total{{instance="{INSTANCE}", route="/api/v1/ready"}}')
            assert prometheus.query('{exported_instance!=""}') == []
            # Only Prometheus' own series (up, scrape_*) carry the target address as instance.
            by_address = f'{{job="{JOB}", instance="{target}", __name__!="up", __name__!~"scrape_.+"}}'
            assert prometheus.query(by_address) == []

            # up is Prometheus' own series: it keeps the target address as instance.
            up = prometheus.query(f'up{{job="{JOB}"}}')
            assert len(up) == 1
            assert up[0]["metric"]["instance"] == target
            assert up[0]["value"][1] == "1"

            # The runtime collectors' series carry the same identity.
            memory = prometheus.query(f'process_resident_memory_bytes{{job="{JOB}"}}')
            assert len(memory) == 1
            assert {k: memory[0]["metric"].get(k) for k in IDENTITY} == IDENTITY
            assert float(memory[0]["value"][1]) > 0
            gc = prometheus.query(f'python_gc_collections_total{{job="{JOB}"}}')
            assert {r["metric"]["generation"] for r in gc} == {"0", "1", "2"}
            assert all(r["metric"]["instance"] == INSTANCE for r in gc)
