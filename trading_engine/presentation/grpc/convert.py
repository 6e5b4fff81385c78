"""Between the API's JSON-ready dicts and protobuf messages, by the messages' own descriptors.

Messages carry the JSON API's field names, so one walk does every conversion: decimals are
positional text in both, enums are the JSON values upper-cased behind the enum's prefix
(``buy`` <-> ``SIDE_BUY``), times are RFC 3339 text <-> ``Timestamp``, free-form objects
(strategy parameters) are ``Struct``. ``None`` leaves a field unset. A dict key the message does
not have is a bug and raises, so a field added to the JSON API without the proto fails a test.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.descriptor import EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message

from trading_engine.domain.decimals import plain

M = TypeVar("M", bound=Message)

_TIMESTAMP = "google.protobuf.Timestamp"
_STRUCT = "google.protobuf.Struct"


@cache
def enum_prefix(enum: EnumDescriptor) -> str:
    """``SIDE_`` for ``Side``: its zero value's name without ``UNSPECIFIED``."""
    return enum.values_by_number[0].name.removesuffix("UNSPECIFIED")


def to_message(cls: type[M], data: Mapping[str, Any]) -> M:
    message = cls()
    _fill(message, data)
    return message


def _fill(message: Message, data: Mapping[str, Any]) -> None:
    fields = message.DESCRIPTOR.fields_by_name
    for key, value in data.items():
        if value is None:
            continue
        field = fields[key]
        entry = field.message_type
        if entry is not None and entry.GetOptions().map_entry:
            target = getattr(message, key)
            inner = entry.fields_by_name["value"]
            for k, v in value.items():
                if inner.message_type is not None:
                    _fill(target[k], v)
                else:
                    target[k] = _scalar(inner, v)
        elif field.is_repeated:
            target = getattr(message, key)
            if entry is not None:
                for v in value:
                    _fill(target.add(), v)
            else:
                target.extend(_scalar(field, v) for v in value)
        elif entry is None:
            setattr(message, key, _scalar(field, value))
        elif entry.full_name == _TIMESTAMP:
            target = getattr(message, key)
            if isinstance(value, datetime):
                target.FromDatetime(value)
            else:
                target.FromJsonString(value)
        elif entry.full_name == _STRUCT:
            getattr(message, key).update(_plain(value))
        else:
            _fill(getattr(message, key), value)


def _scalar(field: FieldDescriptor, value: Any) -> Any:
    if field.enum_type is not None:
        return field.enum_type.values_by_name[enum_prefix(field.enum_type) + str(value).upper()].number
    if field.type == FieldDescriptor.TYPE_STRING:
        return plain(value) if isinstance(value, Decimal) else str(value)
    if field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return float(value)
    return value


def _plain(value: Any) -> Any:
    """A free-form value as a Struct holds it: decimals as their positional text."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return plain(value)
    return value


def from_message(message: Message) -> dict[str, Any]:
    """The fields a client set, as the JSON API would receive them: an enum's zero value and an
    empty string count as not given, so the request model's default (or "is required") applies."""
    out: dict[str, Any] = {}
    for field, value in message.ListFields():
        if field.enum_type is not None:
            if field.is_repeated:
                out[field.name] = [_enum_text(field.enum_type, v) for v in value]
            elif value:
                out[field.name] = _enum_text(field.enum_type, value)
        elif field.message_type is not None and field.message_type.full_name == "google.protobuf.Struct":
            out[field.name] = _exact_numbers(json_format.MessageToDict(value))
        elif field.is_repeated:
            out[field.name] = list(value)
        elif value != "" or field.has_presence:
            out[field.name] = value
    return out


def _enum_text(enum: EnumDescriptor, number: int) -> str:
    value = enum.values_by_number.get(number)
    if value is None:  # a number this server's proto does not define
        return str(number)
    return value.name.removeprefix(enum_prefix(enum)).lower()


def _exact_numbers(value: Any) -> Any:
    """A Struct holds numbers as doubles: whole ones become ints, others the decimal they print
    as (the JSON API parses numbers exactly; a client wanting exactness sends a string)."""
    if isinstance(value, dict):
        return {k: _exact_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_exact_numbers(v) for v in value]
    if isinstance(value, float):
        return int(value) if value.is_integer() else Decimal(repr(value))
    return value
