"""GET /api/v1/metrics and /metrics through real HTTP: formats, compression, auth, no-op, loop safety."""

from __future__ import annotations

import asyncio
import random
import threading

from prometheus_client.metrics_core import GaugeMetricFamily
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families

TOKEN = "s3cret-token-0123456789"


def series(text: str) -> set[tuple[str, tuple]]:
    """Distinct (metric name, labels without le): one per series a PromQL user would query."""
    return {
        (s.name.removesuffix("_bucket").removesuffix("_count").removesuffix("_sum"),
         tuple(sorted((k, v) for k, v in s.labels.items() if k != "le")))
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_scrape_is_prometheus_text_with_the_red_metrics(client) -> None:
    await client.get("/api/v1/health")
    await client.get("/nope")
    resp = await client.get("/api/v1/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    families = {f.name: f for f in text_string_to_metric_families(await resp.text())}
    assert families["http_requests"].type == "counter"
    assert families["http_request_duration_seconds"].type == "histogram"
    health = [s for s in families["http_requests"].samples
              if s.name == "http_requests_total" and s.labels["route"] == "/api/v1/health"]
    assert [(s.labels["method"], s.labels["code"], s.value) for s in health] == [("GET", "200", 1.0)]
    errors = [s for s in families["http_request_errors"].samples if s.name == "http_request_errors_total"]
    assert [(s.labels["route"], s.labels["code"]) for s in errors] == [("unmatched", "404")]
    for family in families.values():
        for sample in family.samples:
            assert sample.labels["service"] == "trading-system-engine"
            assert sample.labels["instance"] == "trading-system-engine"


async def test_default_path_serves_the_same_exposition(client) -> None:
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert "process_cpu_seconds_total" in await resp.text()


async def test_openmetrics_when_accept_asks_for_it(client) -> None:
    await client.get("/api/v1/health")
    resp = await client.get(
        "/api/v1/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert resp.headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    text = await resp.text()
    assert text.endswith("# EOF\n")
    names = {f.name for f in parse_openmetrics(text)}
    assert {"http_requests", "http_request_duration_seconds"} <= names


async def test_gzip_only_when_accepted(client) -> None:
    zipped = await client.get("/api/v1/metrics", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert "python_info" in await zipped.text()  # the client inflates it
    plain = await client.get("/api/v1/metrics", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    assert "python_info" in await plain.text()


async def test_bearer_token_protects_both_paths(make_container, make_client) -> None:
    client = await make_client(make_container({"metrics": {"bearer_token": TOKEN}}))
    for path in ("/api/v1/metrics", "/metrics"):
        for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": TOKEN}):
            resp = await client.get(path, headers=headers)
            assert resp.status == 401
            assert resp.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
            error = (await resp.json())["error"]
            assert error["code"] == "unauthorized"
            assert "Authorization: Bearer <token>" in error["message"]
            assert TOKEN not in str(error)
        ok = await client.get(path, headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status == 200
    assert (await client.get("/api/v1/health")).status == 200


async def test_metrics_disabled_serves_an_empty_exposition(make_container, make_client) -> None:
    client = await make_client(make_container({"metrics": {"enabled": "false"}}))
    await client.get("/api/v1/health")
    resp = await client.get("/api/v1/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert await resp.text() == ""


class BlockingCollector:
    """Holds a scrape inside collect() until released, recording the threads it ran on."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.threads: list[threading.Thread] = []

    def collect(self):
        self.threads.append(threading.current_thread())
        self.entered.set()
        assert self.release.wait(30)
        yield GaugeMetricFamily("blocking_gauge", "A gauge that renders slowly.", value=1)


async def test_scrapes_render_off_the_loop_and_concurrent_ones_coalesce(container, make_client) -> None:
    blocking = BlockingCollector()
    container.metrics_registry().register(blocking)
    client = await make_client(container)

    scrapes = [asyncio.create_task(client.get("/api/v1/metrics")) for _ in range(3)]
    while not blocking.entered.is_set():
        await asyncio.sleep(0.01)
    # The render is stuck in collect(); the event loop still serves other requests.
    health = await client.get("/api/v1/health")
    assert health.status == 200
    assert not any(task.done() for task in scrapes)

    blocking.release.set()
    bodies = [await (await task).text() for task in scrapes]
    assert all("blocking_gauge" in body for body in bodies)
    assert len(blocking.threads) == 1  # three concurrent scrapes, one render
    assert blocking.threads[0] is not threading.main_thread()

    await client.get("/api/v1/metrics")  # a later scrape renders afresh
    assert len(blocking.threads) == 2


async def test_random_unknown_paths_add_no_series(client) -> None:
    before = series(await (await client.get("/api/v1/metrics")).text())
    rng = random.Random(7)
    for i in range(5000):
        path = "/" + "/".join(f"{rng.getrandbits(40):x}" for _ in range(rng.randint(1, 4)))
        resp = await client.request("GET" if i % 2 else "POST", path)
        assert resp.status == 404
        resp.release()
    after = series(await (await client.get("/api/v1/metrics")).text())
    added = {
        (name, labels["method"], labels["route"], labels["code"])
        for name, pairs in after - before
        if (labels := dict(pairs)) and "route" in labels
    }
    red = ("http_requests_total", "http_requests_created", "http_request_duration_seconds",
           "http_request_duration_seconds_created")
    errors = ("http_request_errors_total", "http_request_errors_created")
    expected = {(name, method, "unmatched", "404") for name in red + errors for method in ("GET", "POST")}
    expected |= {(name, "GET", "/api/v1/metrics", "200") for name in red}  # the first scrape
    assert added == expected
