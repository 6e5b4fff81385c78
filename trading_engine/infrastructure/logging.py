"""structlog set-up: one event per line, JSON by default, with the service identity on every line.

Standard-library logging (aiohttp, asyncio) is routed through the same processors, so every line
the process prints has the same shape. Per-request fields (``request_id``) come from structlog's
contextvars, bound by the request middleware.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from typing import Any

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger


class _StdoutLogger:
    """Writes each rendered line to the *current* ``sys.stdout`` and flushes it.

    Looking ``sys.stdout`` up per line (instead of capturing it once) keeps logging working when
    stdout is swapped, as pytest does per test; flushing keeps lines in order and intact when the
    process is killed or its output is a pipe.
    """

    def msg(self, message: str) -> None:
        stream = sys.stdout
        stream.write(message + "\n")
        stream.flush()

    log = debug = info = warn = warning = error = critical = exception = fatal = msg


def _logger_factory(*_args: Any) -> _StdoutLogger:
    return _StdoutLogger()


class _StdoutStream:
    """A file-like object for the stdlib handler that resolves ``sys.stdout`` per write."""

    def write(self, data: str) -> int:
        return sys.stdout.write(data)

    def flush(self) -> None:
        sys.stdout.flush()


def _identity_adder(fields: dict[str, str]) -> Processor:
    def add_identity(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
        event_dict.update(fields)  # the identity always wins: every line names who wrote it
        return event_dict

    return add_identity


def configure_logging(
    *,
    level: str,
    fmt: str,
    service: str,
    instance: str,
    version: str,
    environment: str,
) -> Iterator[None]:
    """Container resource: configure structlog and stdlib logging; flush stdout on shutdown."""
    numeric_level = logging.getLevelNamesMapping()[level]
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _identity_adder(
            {"service": service, "instance": instance, "version": version, "environment": environment}
        ),
    ]
    renderer: Processor
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
        exceptions: list[Processor] = [structlog.processors.format_exc_info]
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=False)
        exceptions = []

    structlog_before = structlog.get_config()  # put back at shutdown (a backtest in a test process)
    structlog.configure(
        processors=[*shared, structlog.processors.StackInfoRenderer(), *exceptions, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=_logger_factory,
        # Not cached: a later configure() (another container, structlog.testing.capture_logs)
        # must reach every module-level logger. Hot paths bind their own logger once instead.
        cache_logger_on_first_use=False,
    )

    handler = logging.StreamHandler(_StdoutStream())  # type: ignore[arg-type]
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *exceptions,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    previous = (root.handlers[:], root.level)
    root.handlers[:] = [handler]
    root.setLevel(numeric_level)
    # aiohttp's own access logger is replaced by the service's structured access log.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    try:
        yield
    finally:
        sys.stdout.flush()
        root.handlers[:], level_before = previous
        root.setLevel(level_before)
        structlog.configure(**structlog_before)
