"""Fixtures: each test builds its own container and app; providers are overridden before the app."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests.http.contract import ResponseContract
from tests.support.postgres import PostgresCluster
from trading_engine.application import create_app
from trading_engine.containers import Container, create_container
from trading_engine.infrastructure.config import merge
from trading_engine.presentation.http.access_log import StructlogAccessLogger
from trading_engine.presentation.http.keys import OPENAPI

API_TOKEN = "test-api-token-0123456789"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}

TEST_OVERRIDES: dict[str, Any] = {
    "service": {"environment": "testing"},
    "auth": {"api_token": API_TOKEN},
    # A still market: prices stay at each instrument's initial price unless a test moves them.
    "market": {"volatility_bps": "0"},
    # The gRPC server is started by the gRPC tests (tests/grpc), on a free port.
    "grpc": {"enabled": False},
}


@pytest.fixture
def make_container(tmp_path: Path) -> Callable[..., Container]:
    """Build a container from the shipped config.yml plus nested ``overrides``; each container's
    database is a fresh SQLite file in the test's temporary directory (pass
    ``{"persistence": {"db_path": ...}}`` to share one, e.g. to test a restart)."""
    built = 0

    def build(overrides: dict[str, Any] | None = None) -> Container:
        nonlocal built
        built += 1
        db_path = str(tmp_path / f"trading-{built}.db")
        base = merge(TEST_OVERRIDES, {"persistence": {"db_path": db_path}, "backtests": {
            "data_dir": str(tmp_path / "history"), "results_dir": str(tmp_path / "backtests")}})
        return create_container(overrides=merge(base, overrides or {}))

    return build


@pytest.fixture
def container(make_container: Callable[..., Container]) -> Container:
    return make_container()


@pytest.fixture
def make_client(aiohttp_client: Any) -> Callable[..., Any]:
    """Start the app of ``container`` (after the test's overrides) and return a client for it."""

    async def start(
        container: Container, setup: Callable[[web.Application], None] | None = None
    ) -> TestClient:
        app = create_app(container)
        if setup is not None:
            setup(app)
        server = TestServer(app)
        # Started here: aiohttp_client's server_kwargs do not reach the runner.
        await server.start_server(access_log_class=StructlogAccessLogger)
        # Every answer the test receives is checked against the app's documented schema.
        return await aiohttp_client(server, middlewares=(ResponseContract(app[OPENAPI]).middleware,))

    return start


@pytest.fixture
async def client(make_client: Callable[..., Any], container: Container) -> TestClient:
    return await make_client(container)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """One throwaway PostgreSQL cluster for the whole session (tests take a schema each)."""
    cluster = PostgresCluster().start()
    try:
        yield cluster
    finally:
        cluster.remove()
