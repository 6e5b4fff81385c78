"""aiohttp's server logger: a parse error is one rate-limited ``malformed_request`` warning that
carries nothing of the request; anything else passes to ``aiohttp.server`` unchanged."""

from __future__ import annotations

import logging

import pytest
import structlog
from aiohttp.http_exceptions import BadHttpMessage, BadHttpMethod, LineTooLong
from structlog.testing import capture_logs

from trading_engine.presentation.http.server_log import ServerLog
from tests.fakes import FakeClock

SECRET_LINE = "Invalid header value char:\n\n  b'Authorization: Bearer secret-0123456789abcdef'"


def fail(server_log: ServerLog, exc: Exception) -> None:
    # What aiohttp's RequestHandler.handle_error calls.
    server_log.exception("Error handling request from %s", "10.0.0.7", exc_info=exc)


def test_a_parse_error_is_one_warning_naming_the_error_and_client_only() -> None:
    with capture_logs() as logs:
        fail(ServerLog(), BadHttpMessage(SECRET_LINE))
    assert logs == [{"event": "malformed_request", "log_level": "warning", "status": 400,
                     "error": "BadHttpMessage", "remote": "10.0.0.7"}]


def test_past_the_limit_events_are_counted_and_reported_by_the_next_window() -> None:
    clock = FakeClock()
    server_log = ServerLog(limit=3, interval_seconds=60.0, clock=clock.monotonic)
    with capture_logs() as logs:
        for _ in range(10):
            fail(server_log, LineTooLong("header", "8190", "9000"))
        clock.advance(59.9)
        fail(server_log, BadHttpMessage(SECRET_LINE))
        assert len(logs) == 3
        clock.advance(0.1)
        fail(server_log, BadHttpMessage(SECRET_LINE))
        fail(server_log, BadHttpMessage(SECRET_LINE))
    assert [e.get("suppressed") for e in logs] == [None, None, None, 8, None]


def test_a_bad_method_on_a_first_request_stays_at_debug_as_aiohttp_chose(caplog: pytest.LogCaptureFixture) -> None:
    structlog.reset_defaults()  # no level filter left by a configure_logging of another test
    def first_request_with_bad_method(server_log: ServerLog) -> None:
        # What handle_error calls for non-HTTP traffic (TLS, a port scan) on the port.
        server_log.debug("Error handling request from %s", "10.0.0.7", exc_info=BadHttpMethod("\x16\x03\x01"))

    with capture_logs() as logs:
        with caplog.at_level(logging.INFO, logger="aiohttp.server"):
            first_request_with_bad_method(ServerLog())
        assert logs == []
        with caplog.at_level(logging.DEBUG, logger="aiohttp.server"):
            first_request_with_bad_method(ServerLog())
    assert logs == [{"event": "malformed_request", "log_level": "debug", "status": 400,
                     "error": "BadHttpMethod", "remote": "10.0.0.7"}]


def test_other_records_pass_to_aiohttp_server_unchanged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="aiohttp.server"):
        try:
            raise RuntimeError("boom")
        except RuntimeError as exc:
            ServerLog().exception("Unhandled exception", exc_info=exc)
    [record] = caplog.records
    assert record.name == "aiohttp.server" and record.getMessage() == "Unhandled exception"
    assert record.levelno == logging.ERROR and record.exc_info[1].args == ("boom",)
