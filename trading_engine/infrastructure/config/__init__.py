"""Configuration: config.yml, merged and interpolated, validated into :class:`Settings`.

``source`` finds and reads the files (the shipped ``config.yml`` holds every key and its default; a
user's file is merged over it) and interpolates ``${VAR:default}``; ``settings`` holds the pydantic
models (built from the value types in ``values``); ``errors`` turns the first bad value into the one
line naming the key, its environment variable, the value and what is allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pydantic

from trading_engine.infrastructure.config.errors import ConfigError, config_error
from trading_engine.infrastructure.config.settings import Settings, config_schema
from trading_engine.infrastructure.config.source import (
    CONFIG_ENV_VAR,
    SHIPPED_CONFIG,
    flatten,
    load_sources,
    merge,
    resolve_config_path,
)

__all__ = [
    "CONFIG_ENV_VAR", "SHIPPED_CONFIG", "ConfigError", "Settings", "config_schema", "flatten",
    "load_settings", "merge", "resolve_config_path", "validate",
]


def validate(raw: Mapping[str, Any], env: Mapping[str, str] | None = None) -> Settings:
    """``raw`` (interpolated, merged) as :class:`Settings`; :class:`ConfigError` on the first bad value.
    Pure: nothing is read, generated or logged."""
    try:
        return Settings.model_validate(raw)
    except pydantic.ValidationError as exc:
        raise config_error(exc, Settings, env or {}) from None


def load_settings(config_path: Path | None = None, overrides: Mapping[str, Any] | None = None) -> Settings:
    """The shipped config.yml with ``config_path`` and ``overrides`` merged over it, validated."""
    raw, env = load_sources(config_path, overrides)
    return validate(raw, env)
