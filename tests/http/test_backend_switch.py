"""The metrics backend changes by configuration alone: the same HTTP scenario, run under each
backend, gives the same series (names, label sets, counter values) on the same scrape path."""

from __future__ import annotations

import asyncio
import gzip

import pytest
from aiohttp import web
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import AUTH

RENAMED_AWAY = ("_created",)  # prometheus_client only; see tests/unit/test_metrics_contract.py
# Values that vary run to run: timings, and the free space of the disk the test runs on.
TIMINGS = ("_seconds_sum", "_seconds_bucket", "market_data_age_seconds", "store_free_bytes")


async def scenario(client) -> str:
    assert (await client.get("/api/v1/health")).status == 200
    assert (await client.get("/api/v1/nope")).status == 404
    assert (await client.post("/api/v1/health")).status == 405
    order = {"symbol": "BTC-USD", "side": "buy", "type": "market", "quantity": "0.01"}
    assert (await client.post("/api/v1/orders", json=order, headers=AUTH)).status == 201
    too_big = {**order, "quantity": "10"}
    assert (await client.post("/api/v1/orders", json=too_big, headers=AUTH)).status == 422
    return await (await client.get("/api/v1/metrics")).text()


def comparable(text: str) -> set[tuple]:
    result = set()
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.startswith(("process_", "python_")) or s.name.endswith(RENAMED_AWAY):
                continue
            value = None if any(t in s.name for t in TIMINGS) else s.value
            result.add((s.name, tuple(sorted(s.labels.items())), value))
    return result


async def test_same_scenario_same_series_under_every_backend(make_container, make_client) -> None:
    expositions = {}
    for backend in ("prometheus", "opentelemetry"):
        client = await make_client(make_container({"metrics": {"backend": backend}}))
        expositions[backend] = comparable(await scenario(client))
    assert expositions["prometheus"] == expositions["opentelemetry"]
    names = {name for name, _, _ in expositions["prometheus"]}
    assert {"http_requests_total", "http_request_errors_total", "http_request_duration_seconds_count",
            "orders_total", "order_rejections_total", "fills_total", "portfolio_equity"} <= names

    client = await make_client(make_container({"metrics": {"backend": "none"}}))
    assert await scenario(client) == ""


async def test_otlp_push_reaches_a_receiver(make_container, make_client, aiohttp_server) -> None:
    """A small OTLP/HTTP receiver on loopback gets the RED metrics from the OpenTelemetry backend."""
    received: list[ExportMetricsServiceRequest] = []
    arrived = asyncio.Event()

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        message = ExportMetricsServiceRequest()
        message.ParseFromString(body)
        received.append(message)
        arrived.set()
        return web.Response(body=b"", content_type="application/x-protobuf")

    receiver_app = web.Application()
    receiver_app.router.add_post("/v1/metrics", receive)
    receiver = await aiohttp_server(receiver_app)

    container = make_container({"metrics": {
        "backend": "opentelemetry",
        "otlp_endpoint": f"http://127.0.0.1:{receiver.port}",
        "otlp_export_interval_ms": "200",
    }})
    client = await make_client(container)
    for _ in range(3):
        assert (await client.get("/api/v1/health")).status == 200

    names: set[str] = set()
    attributes: dict[str, set[str]] = {}
    async with asyncio.timeout(20):
        while "http_requests" not in names:
            await arrived.wait()
            arrived.clear()
            for message in received:
                for resource_metrics in message.resource_metrics:
                    for attr in resource_metrics.resource.attributes:
                        attributes.setdefault(attr.key, set()).add(attr.value.string_value)
                    for scope in resource_metrics.scope_metrics:
                        names.update(metric.name for metric in scope.metrics)
    assert {"http_requests", "http_request_duration_seconds"} <= names
    assert attributes["service"] == {"trading-system-engine"}
    assert attributes["instance"] == {"trading-system-engine"}
    await client.close()  # shut the app down (its last push included) while the receiver listens


@pytest.mark.parametrize("backend", ["prometheus", "opentelemetry"])
async def test_a_raising_backend_never_fails_requests(make_container, make_client, backend) -> None:
    container = make_container({"metrics": {"backend": backend}})
    port = container.metrics_port()

    def broken(*args, **kwargs):
        raise RuntimeError("backend down")

    port._create_series = broken  # every new series fails from now on
    client = await make_client(container)
    assert (await client.get("/api/v1/health")).status == 200
    assert (await client.get("/api/v1/nope")).status == 404
