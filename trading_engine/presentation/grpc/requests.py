"""A request message validated by the HTTP API's own request model: the same rules, the same
messages, the field at fault named in a ``BadRequest`` field violation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from google.protobuf.message import Message
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from trading_engine.presentation.grpc.convert import from_message
from trading_engine.presentation.grpc.errors import invalid_argument
from trading_engine.presentation.http.bodies import describe_validation_error

Model = TypeVar("Model", bound=BaseModel)


def validated(model: type[Model], request: Message | Mapping[str, Any]) -> Model:
    data = from_message(request) if isinstance(request, Message) else dict(request)
    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        field, message = describe_validation_error(exc)
        raise invalid_argument(field, message.replace("{allowed}", ", ".join(model.model_fields))) from None
