"""Requests aiohttp cannot parse, carrying the real tokens, against the service as a subprocess:
each is answered 400 (or its connection closed), logged as at most one rate-limited WARNING with
no traceback, and no token reaches stdout or stderr."""

from __future__ import annotations

import signal
import socket
import time

import pytest

from trading_engine.presentation.http.server_log import MALFORMED_INTERVAL_SECONDS, MALFORMED_LIMIT

from tests.support.process import ServiceProcess

pytestmark = pytest.mark.integration

API_TOKEN = "api-tok-Zq81mXv0Lr5sWp3Ye7Hd"
METRICS_TOKEN = "scrape-tok-Bn4Gk9Tj2Uc6Fw1Qa0"
FLOOD = 3 * MALFORMED_LIMIT


def head(lines: list[bytes]) -> bytes:
    return b"GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\n" + b"".join(lines) + b"\r\n"


def auth(value: bytes) -> bytes:
    return b"Authorization: Bearer " + value + b"\r\n"


API, METRICS = API_TOKEN.encode(), METRICS_TOKEN.encode()
MALFORMED = {
    "bare LF inside the header value": head([auth(API[:11] + b"\n" + API[11:])]),
    "header continuation (obsolete line folding)": head([b"Authorization: Bearer\r\n", b" " + API + b"\r\n"]),
    "invalid character in the header value": head([auth(API + b"\x01")]),
    "header longer than the limit": head([auth(API + b"x" * 10_000)]),
    "bare LF, metrics token": head([auth(METRICS[:9] + b"\n" + METRICS[9:])]),
}


def send_raw(port: int, request: bytes) -> bytes:
    """Send ``request`` on a fresh connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def answered_400_or_closed(response: bytes) -> bool:
    return response == b"" or response.split(b"\r\n", 1)[0] in (b"HTTP/1.0 400 Bad Request", b"HTTP/1.1 400 Bad Request")


def test_malformed_requests_get_400_and_leave_no_token_and_at_most_the_rate_limited_warnings() -> None:
    env = {"TRADING_ENGINE_API_TOKEN": API_TOKEN, "METRICS_BEARER_TOKEN": METRICS_TOKEN, "LOG_LEVEL": "INFO"}
    with ServiceProcess(env=env) as service:
        service.wait_healthy()
        started = time.monotonic()
        for name, request in MALFORMED.items():
            assert answered_400_or_closed(send_raw(service.port, request)), name
        flood = list(MALFORMED.values())
        for i in range(FLOOD):
            assert answered_400_or_closed(send_raw(service.port, flood[i % len(flood)]))
        elapsed = time.monotonic() - started
        # The service still serves well-formed requests.
        assert send_raw(service.port, head([b"Connection: close\r\n"])).startswith(b"HTTP/1.1 200 OK")
        service.signal(signal.SIGTERM)
        assert service.wait() == 0

    output = "\n".join(service.stdout + service.stderr)
    pieces = [API_TOKEN, METRICS_TOKEN, API_TOKEN[:11], API_TOKEN[11:], METRICS_TOKEN[:9], METRICS_TOKEN[9:]]
    for piece in pieces:
        assert piece not in output
    events = service.events()
    malformed = [e for e in events if e["event"] == "malformed_request"]
    warnings = [e for e in events if e["level"] in ("warning", "error", "critical")]
    assert warnings == malformed, "nothing but malformed_request is logged at WARNING or above"
    assert all("exception" not in e for e in events), "no traceback"
    windows = 1 + int(elapsed // MALFORMED_INTERVAL_SECONDS)
    assert MALFORMED_LIMIT <= len(malformed) <= MALFORMED_LIMIT * windows
    assert {e["error"] for e in malformed} >= {"BadHttpMessage", "LineTooLong"}
    assert all(e["status"] == 400 and e["remote"] == "127.0.0.1" for e in malformed)
