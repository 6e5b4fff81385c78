"""Reading JSON request bodies exactly, and writing JSON responses with decimals as strings.

Numbers are parsed as ``Decimal`` (never through float), ``NaN``/``Infinity`` are refused, and a
body is validated against a pydantic model that forbids unknown fields. Every refusal is an
``ApiError`` naming the field and what is allowed; nothing is stored for a refused body.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from trading_engine.domain.decimals import json_text
from trading_engine.presentation.http.errors import ApiError

Model = TypeVar("Model", bound=BaseModel)

JSON_TYPES = ("application/json",)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number this API accepts; numbers must be finite")


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=json_text)


def describe_validation_error(exc: PydanticValidationError) -> tuple[str, str]:
    """(field, message) of the first problem, e.g. ("quantity", "quantity: Input should be ...")."""
    first = exc.errors(include_url=False)[0]
    field = ".".join(str(part) for part in first["loc"]) or "body"
    kind = first["type"]
    if kind == "extra_forbidden":
        message = f"unknown field {field!r}; allowed fields: {{allowed}}"
    elif kind == "missing":
        message = f"{field} is required"
    else:
        message = f"{field}: {first['msg']}"
    return field, message


async def read_json(request: web.Request, model: type[Model]) -> Model:
    # aiohttp reports a missing Content-Type as application/octet-stream: accepted as JSON.
    if request.content_type not in (*JSON_TYPES, "application/octet-stream"):
        raise ApiError(
            415,
            f"request body must be JSON (Content-Type: application/json), got {request.content_type}",
        )
    raw = await request.read()
    if not raw.strip():
        raise ApiError(400, "request body is empty; send a JSON object", code="invalid_json")
    try:
        data = json.loads(raw, parse_float=Decimal, parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        raise ApiError(400, "request body is not UTF-8 text; send a JSON object", code="invalid_json") from None
    except ValueError as exc:  # JSONDecodeError or a refused NaN/Infinity
        raise ApiError(400, f"request body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(data, dict):
        raise ApiError(400, f"request body must be a JSON object, got {type(data).__name__}", code="invalid_json")
    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        field, message = describe_validation_error(exc)
        allowed = ", ".join(model.model_fields)
        raise ApiError(422, message.replace("{allowed}", allowed), code="validation_error", field=field) from None


def read_query(request: web.Request, model: type[Model]) -> Model:
    """The query string as ``model``; an unknown or invalid parameter is a 400 naming it."""
    unknown = sorted(set(request.query) - set(model.model_fields))
    if unknown:
        raise ApiError(
            400, f"unknown query parameter {unknown[0]!r}; allowed: {', '.join(model.model_fields)}",
            field=unknown[0],
        )
    try:
        return model.model_validate(dict(request.query))
    except PydanticValidationError as exc:
        field, message = describe_validation_error(exc)
        raise ApiError(400, message, field=field) from None
