"""structlog set-up: one event per line, JSON by default, with the service identity on every line.

Standard-library logging (aiohttp, asyncio) is routed through the same processors, so every line
the process prints has the same shape. Per-request fields (``request_id``) come from structlog's
contextvars, bound by the request middleware.

Every event, stdlib records included, passes :func:`secret_redactor` just before it is rendered:
the configured tokens and any ``Bearer <value>`` are replaced by ``[REDACTED]`` in every string
of the event, nested values and the formatted exception text included.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, Iterator
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


REDACTED = "[REDACTED]"
# What may sit between two characters of a token that a parser's message or a header broke
# across lines: whitespace, or the escape a repr() of the raw bytes shows for it.
_BREAK = r"(?:\s|\\[rnt]|\\x[0-9a-fA-F]{2})*"
# "Bearer" in any case, the whitespace (or its escape) after it, and its value: a configured token
# (broken or not), else everything up to the next whitespace or quote. Spelled as character classes
# rather than with a case-insensitive group: the regex engine then scans for the first letter fast.
_BEARER = r"[Bb][Ee][Aa][Rr][Ee][Rr](?:\s|\\[rnt])+(?:{tokens}[^\s'\"]+)"
_PLAIN = (str, int, float, bool, type(None))


def secret_redactor(secrets: Iterable[str]) -> Processor:
    """A processor that replaces each of ``secrets`` (also when broken by a line break or its
    escape) and any ``Bearer <value>`` with ``[REDACTED]`` in every string of the event: values,
    keys, nested dicts/lists/tuples, and the repr of any other object that contains one."""
    tokens = sorted({s for s in secrets if s}, key=len, reverse=True)
    spelled = [_BREAK.join(re.escape(c) for c in token) for token in tokens]
    bearer = _BEARER.format(tokens="".join(f"{t}|" for t in spelled))
    pattern = re.compile("|".join([bearer, *spelled]))
    search, sub = pattern.search, pattern.sub

    def text(value: str) -> str:
        return sub(REDACTED, value) if search(value) else value

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return text(value)
        if isinstance(value, _PLAIN):
            return value
        if isinstance(value, dict):
            return {walk(k): walk(v) for k, v in value.items()}
        if isinstance(value, (list, tuple, set, frozenset)):
            return type(value)(walk(v) for v in value)
        shown = repr(value)  # what a renderer would print for it
        return text(shown) if search(shown) else value

    def redact(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
        for key, value in event_dict.items():
            if not isinstance(value, _PLAIN) or isinstance(value, str):
                event_dict[key] = walk(value)
        return event_dict

    return redact


def configure_logging(
    *,
    level: str,
    fmt: str,
    service: str,
    instance: str,
    version: str,
    environment: str,
    secrets: Iterable[str] = (),
) -> Iterator[None]:
    """Container resource: configure structlog and stdlib logging; flush stdout on shutdown.

    ``secrets`` (the API and metrics tokens) never reach a log line: see :func:`secret_redactor`."""
    numeric_level = logging.getLevelNamesMapping()[level]
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _identity_adder(
            {"service": service, "instance": instance, "version": version, "environment": environment}
        ),
    ]
    renderer: Processor = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    # Exceptions become text in both formats, so the redactor, last before the renderer, sees it.
    finish: list[Processor] = [structlog.processors.format_exc_info, secret_redactor(secrets)]

    structlog.configure(
        processors=[*shared, structlog.processors.StackInfoRenderer(), *finish, renderer],
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
                *finish,
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
