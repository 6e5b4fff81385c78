"""Log lines: JSON events with the service identity, level, UTC timestamp; stdlib logs alike."""

from __future__ import annotations

import json
import logging
import re

import pytest
import structlog

from trading_engine.infrastructure.logging import configure_logging

IDENTITY = {"service": "svc", "instance": "svc-1", "version": "9.9.9", "environment": "testing"}
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z")


@pytest.fixture
def json_logging():
    resource = configure_logging(level="INFO", fmt="json", **IDENTITY)
    next(resource)
    yield
    resource.close()


def lines(capsys: pytest.CaptureFixture[str]) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_structlog_event_carries_identity_level_timestamp(json_logging, capsys) -> None:
    structlog.get_logger("x").info("order_accepted", order_id="o-1")
    [line] = lines(capsys)
    assert line["event"] == "order_accepted"
    assert line["order_id"] == "o-1"
    assert line["level"] == "info"
    assert ISO_UTC.fullmatch(line["timestamp"])
    assert {k: line[k] for k in IDENTITY} == IDENTITY


def test_level_filters_debug(json_logging, capsys) -> None:
    structlog.get_logger("x").debug("noise")
    logging.getLogger("aiohttp.server").debug("noise")
    assert capsys.readouterr().out == ""


def test_stdlib_logging_is_rendered_the_same_way_with_context(json_logging, capsys) -> None:
    tokens = structlog.contextvars.bind_contextvars(request_id="r-9")
    try:
        logging.getLogger("aiohttp.server").error("Error handling request")
    finally:
        structlog.contextvars.reset_contextvars(**tokens)
    [line] = lines(capsys)
    assert line["event"] == "Error handling request"
    assert line["level"] == "error"
    assert line["request_id"] == "r-9"
    assert ISO_UTC.fullmatch(line["timestamp"])
    assert {k: line[k] for k in IDENTITY} == IDENTITY


def test_exceptions_are_logged_with_their_traceback(json_logging, capsys) -> None:
    try:
        raise ValueError("bad thing")
    except ValueError:
        structlog.get_logger("x").exception("unhandled_exception")
    [line] = lines(capsys)
    assert "Traceback" in line["exception"] and "ValueError: bad thing" in line["exception"]


def test_console_format_is_readable_text(capsys) -> None:
    resource = configure_logging(level="DEBUG", fmt="console", **IDENTITY)
    next(resource)
    try:
        structlog.get_logger("x").debug("order_accepted", order_id="o-1")
    finally:
        resource.close()
    out = capsys.readouterr().out
    assert "order_accepted" in out and "order_id=o-1" in out and "instance=svc-1" in out
    with pytest.raises(json.JSONDecodeError):
        json.loads(out)


API_TOKEN = "api-token-7hQ2mW9xK4pL1vB8"
METRICS_TOKEN = "metrics-token-Rt5Yu3Io0Pa6Sd"


@pytest.fixture
def secret_logging():
    resource = configure_logging(level="INFO", fmt="json", secrets=[API_TOKEN, METRICS_TOKEN, ""], **IDENTITY)
    next(resource)
    yield
    resource.close()


class Holder:
    def __repr__(self) -> str:
        return f"Holder(token={METRICS_TOKEN!r})"


def test_tokens_and_bearer_values_are_redacted_everywhere_in_an_event(secret_logging, capsys) -> None:
    structlog.get_logger("x").warning(
        f"seen {API_TOKEN}",
        header=f"Authorization: Bearer {API_TOKEN}",
        nested={"list": [f"x{METRICS_TOKEN}y", ("bearer some.other-token", 3)], API_TOKEN: 1},
        broken=f"{API_TOKEN[:5]}\n{API_TOKEN[5:]}",
        escaped=repr((API_TOKEN[:8] + "\n" + API_TOKEN[8:]).encode()),
        obj=Holder(),
        raw=METRICS_TOKEN.encode(),
        count=7,
    )
    out = capsys.readouterr().out
    for secret in (API_TOKEN, METRICS_TOKEN, API_TOKEN[5:], API_TOKEN[8:], "some.other-token"):
        assert secret not in out
    [line] = [json.loads(text) for text in out.splitlines()]
    assert line["event"] == "seen [REDACTED]"
    assert line["header"] == "Authorization: [REDACTED]"
    assert line["nested"] == {"list": ["x[REDACTED]y", ["[REDACTED]", 3]], "[REDACTED]": 1}
    assert line["broken"] == "[REDACTED]" and line["escaped"] == "b'[REDACTED]'"
    assert line["obj"] == "Holder(token='[REDACTED]')" and line["raw"] == "b'[REDACTED]'"
    assert line["count"] == 7


def test_exception_text_and_stdlib_records_are_redacted(secret_logging, capsys) -> None:
    try:
        raise ValueError(f"header Authorization: Bearer {API_TOKEN}\r\n")
    except ValueError:
        structlog.get_logger("x").exception("failed")
        logging.getLogger("aiohttp.server").exception("Error handling %s", f"Bearer {METRICS_TOKEN}")
    out = capsys.readouterr().out
    assert API_TOKEN not in out and METRICS_TOKEN not in out
    first, second = (json.loads(text) for text in out.splitlines())
    assert "ValueError: header Authorization: [REDACTED]" in first["exception"]
    assert second["event"] == "Error handling [REDACTED]"
    assert "ValueError: header Authorization: [REDACTED]" in second["exception"]


def test_console_format_redacts_too(capsys) -> None:
    resource = configure_logging(level="INFO", fmt="console", secrets=[API_TOKEN], **IDENTITY)
    next(resource)
    try:
        try:
            raise RuntimeError(API_TOKEN)
        except RuntimeError:
            structlog.get_logger("x").exception("failed", header=f"Bearer {API_TOKEN}")
    finally:
        resource.close()
    out = capsys.readouterr().out
    assert API_TOKEN not in out
    assert "RuntimeError: [REDACTED]" in out and "header=[REDACTED]" in out
