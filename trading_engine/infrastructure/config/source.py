"""Where the configuration comes from: the shipped config.yml, a user's file merged over it, and
``${VAR:default}`` interpolation (dependency-injector's YAML loader does it)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from dependency_injector import providers

from trading_engine.infrastructure.config.errors import ConfigError

SHIPPED_CONFIG = Path(__file__).resolve().parents[2] / "config.yml"
CONFIG_ENV_VAR = "TRADING_ENGINE_CONFIG"

_ENV_MARKER = re.compile(r"\$\{(?P<name>[^}^{:]+)(?::[^}]*)?\}")


def resolve_config_path(explicit: str | None, cwd: Path | None = None) -> Path:
    """``--config``/``TRADING_ENGINE_CONFIG`` if given, else ./config.yml, else the shipped file."""
    if explicit:
        return Path(explicit)
    local = (cwd or Path.cwd()) / "config.yml"
    return local if local.is_file() else SHIPPED_CONFIG


def read_yaml_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            "config file", str(path), f"not found; pass --config PATH or set {CONFIG_ENV_VAR}"
        ) from None
    except IsADirectoryError:
        raise ConfigError("config file", str(path), "is a directory; expected a YAML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("config file", str(path), f"cannot be read as UTF-8 text ({exc})") from None


def parse_yaml(raw_text: str, path: Path) -> dict[str, Any]:
    try:
        document = yaml.safe_load(raw_text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigError("config file", str(path), f"is not valid YAML{where}: {problem}") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError("config file", str(path), "must hold a YAML mapping of sections")
    return document


def flatten(tree: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``{"http": {"port": 1}}`` as ``("http.port", 1)``; a list (the instruments) is one leaf."""
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from flatten(value, dotted + ".")
        else:
            yield dotted, value


def merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """Recursive dict merge: ``overlay`` wins; nested mappings are merged, not replaced."""
    result = dict(base)
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = merge(result[key], value)
        else:
            result[key] = value
    return result


def _env_layer(env: dict[str, str], document: Mapping[str, Any]) -> None:
    """Each key ``document`` sets now reads the variable it interpolates, or none."""
    for key, value in flatten(document):
        for enclosing in [name for name in env if key.startswith(f"{name}.")]:
            del env[enclosing]  # a mapping replaced a scalar (initial_cash: {USD: 10})
        match = _ENV_MARKER.search(value) if isinstance(value, str) else None
        if match:
            env[key] = match.group("name")
        else:
            env.pop(key, None)


def load_sources(
    config_path: Path | None = None, overrides: Mapping[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """The shipped file, ``config_path`` and ``overrides`` merged in that order, interpolated; and
    the environment variable each dotted key was read from (for the error line)."""
    paths = [SHIPPED_CONFIG]
    if config_path is not None and Path(config_path).resolve() != SHIPPED_CONFIG:
        paths.append(Path(config_path))
    loader = providers.Configuration(strict=True)
    env: dict[str, str] = {}
    for path in paths:
        document = parse_yaml(read_yaml_text(path), path)
        _env_layer(env, document)
        if not document:
            continue  # an empty user file changes nothing
        try:
            loader.from_yaml(str(path), required=True)
        except yaml.YAMLError as exc:
            raise ConfigError(
                "config file", str(path),
                f"is not valid YAML once environment values are substituted ({type(exc).__name__}); "
                "check the quoting of the environment values it interpolates",
            ) from None
        except ValueError as exc:  # ${VAR} without a default and VAR unset
            raise ConfigError("config file", str(path), str(exc)) from None
    _env_layer(env, overrides or {})
    return merge(loader(), overrides or {}), env
