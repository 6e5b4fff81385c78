"""The response check every test client runs (tests/http/contract.py) refuses what the document
does not promise: an undocumented field, an undocumented status, an error off the one shape."""

from __future__ import annotations

import json

import pytest
from dependency_injector import providers

from trading_engine.presentation.http.keys import OPENAPI
from tests.http.contract import ResponseContract

HEALTH = {"status": "healthy", "service": "s", "instance": "i", "version": "v", "environment": "e",
          "timestamp": "2026-01-01T00:00:00.000Z"}


@pytest.fixture
def contract(client) -> ResponseContract:
    return ResponseContract(client.app[OPENAPI])


def check(contract: ResponseContract, path: str, status: int, body: object) -> None:
    contract.check("GET", path, status, "application/json", json.dumps(body).encode())


def test_a_documented_body_passes(contract) -> None:
    check(contract, "/api/v1/health", 200, HEALTH)
    assert contract.checked == 1


@pytest.mark.parametrize(
    ("path", "status", "body", "says"),
    [
        ("/api/v1/health", 200, {**HEALTH, "extra": 1}, "'extra' was unexpected"),
        ("/api/v1/health", 200, {**HEALTH, "status": "fine"}, "'healthy' was expected"),
        ("/api/v1/health", 418, HEALTH, "does not list"),
        ("/api/v1/orders/ord_1", 404, {"error": {"code": "not_found"}}, "'message' is a required property"),
        ("/api/v1/no/such/route", 404, {"detail": "x"}, "'error' is a required property"),
    ],
)
def test_what_the_document_does_not_promise_fails(contract, path, status, body, says) -> None:
    with pytest.raises(AssertionError, match=says):
        check(contract, path, status, body)


class ChattyHealth:
    """A health service whose answer carries a field the document does not name."""

    check_names = ("lifecycle",)

    def health(self) -> dict:
        return {**HEALTH, "uptime": 1}

    async def readiness(self):  # pragma: no cover - not reached
        raise AssertionError


async def test_the_shared_client_checks_every_answer(make_container, make_client) -> None:
    container = make_container()
    container.health_service.override(providers.Object(ChattyHealth()))
    client = await make_client(container)
    with pytest.raises(AssertionError, match="'uptime' was unexpected"):
        await client.get("/api/v1/health")
