"""The OpenAPI 3.1 document of the HTTP API, generated, never written by hand.

Paths and methods come from the aiohttp router, what each route does from its ``Operation``
(declared beside the route table in ``routes.py``), and every body schema from the pydantic models
(``schemas.py`` for requests, ``responses.py`` for responses). The names this running service
offers (its strategies, chaos ones only when enabled, and its instruments) are listed as the only
allowed values, so a client or a fuzzer that follows the document sends what the service accepts.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, models_json_schema
from pydantic_core import core_schema

from trading_engine.presentation.http.auth import MUTATING_METHODS
from trading_engine.presentation.http.responses import DECIMAL_TEXT, Error
from trading_engine.presentation.http.schemas import CreateOrder, StartBacktest, StartStrategy

REF = "#/components/schemas/{model}"
IGNORED_METHODS = frozenset({"HEAD", "OPTIONS"})


def decimal_pattern(*, digits: int = 15, places: int = 12, sign: str = "") -> str:
    """A decimal string of at most ``digits`` integer digits and ``places`` decimals: ``sign`` is
    ``"+"`` for a positive one, ``"0+"`` for one that may also be zero, else any."""
    if sign == "+":
        return rf"^([1-9][0-9]{{0,{digits - 1}}}(\.[0-9]{{1,{places}}})?|0?\.[0-9]{{0,{places - 1}}}[1-9])$"
    return rf"^{'' if sign else '-?'}[0-9]{{1,{digits}}}(\.[0-9]{{1,{places}}})?$"


@dataclass(frozen=True)
class Reply:
    """A documented answer: what it means and its body model (``None``: a body in one of
    ``media_types`` that no schema describes)."""

    description: str
    model: type[BaseModel] | None = None
    media_types: tuple[str, ...] = ("application/json",)


@dataclass(frozen=True)
class Operation:
    """What one route does. Statuses mapped to a string are errors, in the one error shape.

    A route with a ``body`` also documents the refusals of ``read_json`` (400, 413, 415, 422); a
    mutating method the bearer token (401) and a store that cannot record (503); a ``query`` model
    its parameters and 400. ``links`` name the operations that take this answer's ``passes`` field
    (as their path or query parameter, or body field, of the same name).
    """

    summary: str
    responses: Mapping[int, Reply | str]
    description: str = ""
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    links: tuple[str, ...] = ()
    passes: str = ""


@dataclass(frozen=True)
class Offer:
    """The names this running service accepts: listed in the document as the allowed values."""

    strategies: Sequence[Mapping[str, Any]] = ()  # StrategyManager.available() entries
    symbols: Sequence[str] = ()


BODY_ERRORS = {
    400: "Malformed JSON or a body that is not a JSON object (code invalid_json).",
    413: "Body larger than http.max_body_bytes.",
    415: "Body not sent as application/json.",
    422: "A field is missing, unknown, of the wrong type or out of range (`field` names it).",
}
WRITE_ERRORS = {
    401: "Missing or wrong bearer token (mutating requests need Authorization: Bearer <token>).",
    503: "The database cannot record the change right now; nothing was stored.",
}
QUERY_ERROR = {400: "A query parameter is unknown or invalid (`field` names it)."}
SERVER_ERROR = {500: "Unexpected failure; the body has a request_id to quote."}


class _JsonSchema(GenerateJsonSchema):
    def get_decimal_pattern(self, schema: core_schema.DecimalSchema) -> str | None:
        """A request's decimal string as the model accepts it (sign, magnitude, decimals); a
        response's as the API writes it."""
        if self.mode == "serialization":
            return DECIMAL_TEXT
        below = schema.get("lt")
        return decimal_pattern(
            digits=Decimal(below).adjusted() if below is not None else 28,
            places=schema.get("decimal_places") or 28,
            sign="+" if schema.get("gt") == 0 else "0+" if schema.get("ge") == 0 else "",
        )


def _models(operations: Mapping[str, Operation]) -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    seen: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {(Error, "serialization"): None}
    for op in operations.values():
        for model in (op.body, op.query):
            if model is not None:
                seen[(model, "validation")] = None
        for reply in op.responses.values():
            if isinstance(reply, Reply) and reply.model is not None:
                seen[(reply.model, "serialization")] = None
    return list(seen)


@cache
def _schemas(models: tuple[tuple[type[BaseModel], JsonSchemaMode], ...]) -> tuple[dict[Any, Any], dict[str, Any]]:
    """(model and mode -> its $ref, every component schema): pydantic's, generated once."""
    refs, top = models_json_schema(models, ref_template=REF, schema_generator=_JsonSchema)
    return refs, top.get("$defs", {})


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _query_parameters(model: type[BaseModel], ref: dict[str, Any], components: dict[str, Any]) -> list[dict[str, Any]]:
    schema = components[ref["$ref"].rsplit("/", 1)[-1]]
    required = set(schema.get("required", ()))
    parameters = []
    for name, prop in schema["properties"].items():
        prop = {k: v for k, v in prop.items() if k not in ("title", "description", "default")}
        options = [branch for branch in prop.pop("anyOf", ()) if branch != {"type": "null"}]
        if options:  # an optional parameter is absent, never null
            prop.update(options[0] if len(options) == 1 else {"anyOf": options})
        if model.model_fields[name].default is not None:
            prop["default"] = model.model_fields[name].default
        parameter = {"name": name, "in": "query", "required": name in required, "schema": prop}
        description = model.model_fields[name].description
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters


def _links(op: Operation, operations: Mapping[str, Operation], paths: Mapping[str, str]) -> dict[str, Any]:
    links = {}
    value = f"$response.body#/{op.passes}"
    for target in op.links:
        link: dict[str, Any] = {"operationId": target}
        target_op = operations[target]
        if "{" + op.passes + "}" in paths[target]:
            link["parameters"] = {f"path.{op.passes}": value}
        elif target_op.query is not None and op.passes in target_op.query.model_fields:
            link["parameters"] = {f"query.{op.passes}": value}
        elif target_op.body is not None and op.passes in target_op.body.model_fields:
            link["requestBody"] = {op.passes: value}
        else:
            raise ValueError(f"operation {target} takes no {op.passes!r}: it cannot be linked")
        links[target] = link
    return links


def _responses(
    method: str, op: Operation, refs: Mapping[Any, Any], links: dict[str, Any]
) -> dict[str, Any]:
    errors: dict[int, str] = {}
    if op.body is not None:
        errors |= BODY_ERRORS
    if method in MUTATING_METHODS:
        errors |= WRITE_ERRORS
    if op.query is not None:
        errors |= QUERY_ERROR
    errors |= SERVER_ERROR
    answers: dict[int, Reply | str] = {**errors, **op.responses}
    out: dict[str, Any] = {}
    for status in sorted(answers):
        reply = answers[status]
        if isinstance(reply, str):
            out[str(status)] = _json(refs[(Error, "serialization")], reply)
        elif reply.model is None:
            out[str(status)] = {"description": reply.description, "content": {t: {} for t in reply.media_types}}
        else:
            out[str(status)] = _json(refs[(reply.model, "serialization")], reply.description)
            if links and 200 <= status < 300:
                out[str(status)]["links"] = links
    return out


def _parameter(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A strategy parameter's schema as the request accepts it: a decimal one (listed with string
    bounds) as a JSON number within its bounds, or a decimal string."""
    if schema["type"] != "string" or "enum" in schema:
        return dict(schema)
    bounds = {k: float(v) for k, v in schema.items() if k in ("minimum", "exclusiveMinimum", "maximum")}
    sign = "+" if bounds.get("exclusiveMinimum") == 0 else "0+" if bounds.get("minimum") == 0 else ""
    return {
        "description": schema["description"], "default": schema["default"],
        "anyOf": [{"type": "number", **bounds}, {"type": "string", "pattern": decimal_pattern(sign=sign)}],
    }


def _offer(components: dict[str, Any], offer: Offer) -> None:
    """List the strategy names and symbols this service accepts (replacing the open strings)."""
    if offer.symbols:
        components[CreateOrder.__name__]["properties"]["symbol"] = {
            "enum": list(offer.symbols), "description": "An instrument this service trades."
        }
    for model in (StartStrategy, StartBacktest) if offer.strategies else ():
        start = components[model.__name__]
        variants = []
        for strategy in offer.strategies:
            params = {name: _parameter(param) for name, param in strategy["parameters"].items()}
            properties = {
                **start["properties"],
                "strategy": {"const": strategy["name"], "description": strategy["description"]},
                "params": {"type": "object", "properties": params, "additionalProperties": False},
            }
            if offer.symbols:
                properties["symbol"] = {"enum": list(offer.symbols)}
            variants.append({**start, "title": strategy["name"], "properties": properties})
        components[model.__name__] = {
            "oneOf": variants, "description": "One of the strategies GET /api/v1/strategies/available lists.",
        }


def build_openapi(
    router: web.UrlDispatcher,
    operations: Mapping[str, Operation],
    *,
    version: str,
    offer: Offer | None = None,
) -> dict[str, Any]:
    """The document of the routes registered on ``router``, each described by ``operations[name]``."""
    refs, defs = _schemas(tuple(_models(operations)))
    components = copy.deepcopy(defs)
    routes = [
        route for route in router.routes()
        if route.method not in IGNORED_METHODS and route.resource is not None and route.name in operations
    ]
    unknown = [r.resource.canonical for r in router.routes()
               if r.method not in IGNORED_METHODS and r.resource is not None and r.name not in operations]
    if unknown:
        raise ValueError(f"routes without an Operation to document them: {', '.join(unknown)}")
    path_of = {str(route.name): route.resource.canonical for route in routes if route.resource is not None}
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        assert route.resource is not None and route.name is not None
        path, name, method = route.resource.canonical, route.name, route.method
        op = operations[name]
        item: dict[str, Any] = {"operationId": name, "summary": op.summary}
        if op.description:
            item["description"] = op.description
        if method in MUTATING_METHODS:
            item["security"] = [{"bearer": []}]
        parameters = [
            {"name": param, "in": "path", "required": True, "schema": {"type": "string"}}
            for param in re.findall(r"{(\w+)}", path)
        ]
        if op.query is not None:
            parameters += _query_parameters(op.query, refs[(op.query, "validation")], components)
        if parameters:
            item["parameters"] = parameters
        if op.body is not None:
            item["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": refs[(op.body, "validation")]}},
            }
        item["responses"] = _responses(method, op, refs, _links(op, operations, path_of))
        paths.setdefault(path, {})[method.lower()] = item
    _offer(components, offer or Offer())
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "trading-system-engine",
            "version": version,
            "description": "Orders on a paper venue, positions and P&L, pre-trade risk. Decimals are strings.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
