"""The one line a bad configuration gets: the key, its environment variable, the value, what is allowed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import get_args

import pydantic
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from trading_engine.infrastructure.persistence.database_url import redact_url

REDACTED = "<redacted>"


class ConfigError(Exception):
    """A configuration value (or the file itself) is unusable; the text is one line for stderr."""

    def __init__(self, key: str, value: object, allowed: str, env: str | None = None) -> None:
        super().__init__(key, value, allowed, env)
        self.key = key
        self.value = value
        self.allowed = allowed
        self.env = env

    def __str__(self) -> str:
        where = f"{self.key} (env {self.env})" if self.env else self.key
        return f"invalid configuration: {where} = {self.value!r}: {self.allowed}"


def dotted(loc: tuple[int | str, ...]) -> str:
    """``("instruments", 0, "symbol")`` as ``instruments[0].symbol``."""
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")


def _model_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model that holds the last part of ``loc`` (through lists of models too)."""
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        nested = [t for t in (field.annotation, *get_args(field.annotation)) if isinstance(t, type)
                  and issubclass(t, BaseModel)]
        if not nested:
            return None
        model = nested[0]
    return model


def _is_secret(field: FieldInfo | None) -> bool:
    """A token: write-only in the schema, never shown in an error line."""
    extra = field.json_schema_extra if field is not None else None
    return isinstance(extra, dict) and extra.get("writeOnly") is True


def config_error(exc: pydantic.ValidationError, model: type[BaseModel], env: Mapping[str, str]) -> ConfigError:
    """The first of pydantic's errors as a :class:`ConfigError` in the rule's own words."""
    error = exc.errors(include_url=False)[0]
    loc, kind, context = tuple(error["loc"]), error["type"], error.get("ctx") or {}
    key = context.get("key") or dotted(loc)
    value = context.get("value", error.get("input"))
    allowed = error["msg"]
    parent, name = loc[:-1], loc[-1] if loc else ""
    holder = _model_at(model, parent)
    fields = holder.model_fields if holder else {}
    siblings = [dotted((*parent, field)) for field in fields]
    # A token is never shown; nor is an unknown key's value beside one (perhaps a misspelt token).
    secret = _is_secret(fields.get(name)) or (
        kind == "extra_forbidden" and any(_is_secret(field) for field in fields.values())
    )
    if kind == "extra_forbidden":
        allowed = f"unknown key; known keys: {', '.join(sorted(siblings))}"
    elif kind == "missing":
        value = None
        required = [dotted((*parent, f)) for f, info in fields.items() if info.is_required()]
        allowed = ("missing; the shipped config.yml defines it" if not any(isinstance(p, int) for p in loc)
                   else f"missing; required: {', '.join(required)}")
    elif kind in {"model_type", "model_attributes_type", "list_type", "too_short"}:
        nested = _model_at(model, loc)
        shape = "a mapping" if kind.startswith("model") else "a non-empty list of mappings"
        allowed = f"must be {shape} of {', '.join(nested.model_fields) if nested else name}"
    if secret and value is not None:
        value = _redacted(fields.get(name), value)
    return ConfigError(key, value, allowed, env.get(key))


def _redacted(field: FieldInfo | None, value: object) -> str:
    """A URL is shown with its password replaced; any other secret not at all."""
    extra = field.json_schema_extra if field is not None else None
    if isinstance(extra, dict) and extra.get("redact") == "url" and isinstance(value, str):
        return redact_url(value)
    return REDACTED
