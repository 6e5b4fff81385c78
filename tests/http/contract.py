"""Every response an HTTP test receives is checked against the app's own OpenAPI document.

``ResponseContract(document).middleware`` is a client middleware (``tests/conftest.py`` installs it
on every test client): for each answer it finds the documented operation, asserts that its status
and content type are documented, and validates a JSON body with ``jsonschema`` against the
documented schema (OpenAPI 3.1 schemas are JSON Schema 2020-12). An answer from outside the
document (an unmatched path, a method the path does not allow) must be in the one error shape.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

from aiohttp import ClientHandlerType, ClientRequest, ClientResponse
from jsonschema import Draft202012Validator

ERROR_REF = "#/components/schemas/Error"


class ResponseContract:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.checked = 0
        self._paths = [
            (re.compile("^" + re.sub(r"\\{(\w+)\\}", r"[^/]+", re.escape(path)) + "$"), path)
            for path in document["paths"]
        ]
        self._validator = cache(self._build_validator)

    def _build_validator(self, ref_or_path: str) -> Draft202012Validator:
        """A validator for a schema named by a JSON pointer into the document."""
        schema = {"$ref": ref_or_path, "paths": self.document["paths"], "components": self.document["components"]}
        return Draft202012Validator(schema)

    def documented_response(self, method: str, path: str, status: int) -> tuple[str, dict[str, Any]] | None:
        """(JSON pointer of the response object, the response object) or None off the document."""
        for pattern, template in self._paths:
            if pattern.match(path):
                operation = self.document["paths"][template].get(method.lower())
                if operation is None:
                    return None
                responses = operation["responses"]
                where = f"{method} {template}"
                assert str(status) in responses, (
                    f"{where} answered {status}, which its document does not list: {sorted(responses)}"
                )
                pointer = "/".join(["#/paths", template.replace("~", "~0").replace("/", "~1"),
                                    method.lower(), "responses", str(status)])
                return pointer, responses[str(status)]
        return None

    def check(self, method: str, path: str, status: int, content_type: str, body: bytes) -> None:
        if method == "HEAD":
            return
        where = f"{method} {path} -> {status}"
        found = self.documented_response(method, path, status)
        if found is None:  # off the document (a route a test added, a 404 or 405): errors keep the shape
            if status < 400:
                return
            pointer = ERROR_REF
        else:
            response_pointer, response = found
            content = response.get("content", {})
            assert content_type in content, f"{where}: content type {content_type} is not documented: {list(content)}"
            if "schema" not in content[content_type]:
                return
            pointer = f"{response_pointer}/content/{content_type.replace('/', '~1')}/schema"
        assert content_type == "application/json", f"{where}: {content_type}, expected JSON"
        data = json.loads(body)
        validator = self._validator(pointer)
        errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
        assert not errors, (
            f"{where}: the body does not match its documented schema ({pointer}):\n"
            + "\n".join(f"  at /{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:5])
            + f"\nbody: {body[:2000]!r}"
        )
        self.checked += 1

    async def middleware(self, request: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
        response = await handler(request)
        body = await response.read()  # kept by the response: the test can still read it
        self.check(request.method, request.url.path, response.status, response.content_type, body)
        return response
