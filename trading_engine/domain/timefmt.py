"""Timestamps on the wire: UTC ISO 8601 with a ``Z`` suffix.

``isoformat_utc`` (milliseconds) is for people and logs; ``isoformat_exact`` (microseconds, the
full resolution of ``datetime``) is for state that must survive a round trip unchanged.
"""

from __future__ import annotations

from datetime import UTC, datetime

from trading_engine.domain.errors import ValidationError


def isoformat_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def isoformat_exact(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def require_aware(moment: object, *, field: str) -> datetime:
    """``moment`` itself, if it is a timezone-aware ``datetime``; a naive one has no defined instant."""
    if not isinstance(moment, datetime):
        raise ValidationError(
            f"{field} must be a timezone-aware datetime, not {type(moment).__name__}", field=field
        )
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValidationError(
            f"{field} {moment.isoformat()} has no timezone; only timezone-aware datetimes are allowed",
            field=field,
        )
    return moment


def parse_timestamp(text: object, *, field: str) -> datetime:
    """An ISO 8601 string with an offset (or ``Z``) as an aware UTC ``datetime``."""
    if not isinstance(text, str):
        raise ValidationError(
            f"{field} must be an ISO 8601 timestamp string, not {type(text).__name__}", field=field
        )
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            f"{field} {text!r} is not an ISO 8601 timestamp; expected e.g. 2026-01-02T03:04:05.678901Z",
            field=field,
        ) from None
    return require_aware(moment, field=field).astimezone(UTC)
