"""A PostgreSQL URL as it may be shown: with its password replaced, for every log line and error."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

SCHEMES = ("postgresql", "postgres")


def redact_url(url: str) -> str:
    """``url`` with its password replaced by ``***``, nothing else changed:
    ``postgresql://engine:***@db:5432/trading_ecosystem``."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "<a database URL that cannot be parsed>"
    if password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def hide_password(text: str, url: str) -> str:
    """``text`` (an error message) with ``url``'s password, wherever it appears, replaced by ``***``."""
    try:
        password = urlsplit(url).password
    except ValueError:
        return text
    return text.replace(password, "***") if password else text


def schema_for_instance(instance_name: str) -> str:
    """The schema of an engine instance: ``trading-engine-lh`` -> ``trading_engine_lh`` (a name
    starting with a digit gets a leading underscore: schema names must not)."""
    schema = instance_name.lower().replace("-", "_")
    return f"_{schema}" if schema[:1].isdigit() else schema
