"""Reading CloudEvents out of HTTP requests: the CloudEvents HTTP protocol binding 1.0.2 with the
JSON event format, shared by everything that receives events (the HTTP source, the display).

Pure functions of header values and body bytes; every attribute is checked by
:mod:`springhead.cespec`. What a receiver does with the data (forward it, show it) stays its own.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from springhead.cespec import InvalidAttribute, check_attributes

__all__ = [
    "BATCH",
    "Envelope",
    "MalformedEvent",
    "STRUCTURED",
    "binary_attributes",
    "envelope",
    "json_body",
    "media_type",
]

#: Structured mode's media type (JSON event format).
STRUCTURED = "application/cloudevents+json"
#: Batch mode's media type (JSON event format).
BATCH = "application/cloudevents-batch+json"


class MalformedEvent(Exception):
    """The request holds no valid CloudEvent: answer ``status`` (400) with ``reason``."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def media_type(content_type: str | None) -> str:
    """The media type of a Content-Type (or ``datacontenttype``), lower-cased, without
    parameters: ``"application/json; charset=utf-8"`` -> ``"application/json"``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def _checked(attributes: dict[str, Any], where: str) -> dict[str, Any]:
    try:
        return check_attributes(attributes)
    except InvalidAttribute as exc:
        raise MalformedEvent(f"malformed CloudEvent: {where}{exc}") from None


def binary_attributes(ce_headers: Mapping[str, str], content_type: str | None) -> dict[str, Any]:
    """A binary-mode event's attributes: ``ce_headers`` maps each ``ce-`` header's attribute name
    (without the prefix) to its value, which the binding percent-encodes as UTF-8; Content-Type
    is ``datacontenttype``. Checked; :class:`MalformedEvent` says why not."""
    attributes: dict[str, Any] = {}
    for name, value in ce_headers.items():
        try:
            attributes[name] = unquote(value, errors="strict")
        except UnicodeDecodeError:
            raise MalformedEvent(
                f"malformed CloudEvent: header ce-{name} percent-encodes bytes that are not UTF-8"
            ) from None
    if content_type is not None:
        attributes["datacontenttype"] = content_type
    return _checked(attributes, "")


def json_body(body: bytes) -> Any:
    """A structured or batch body as JSON, or :class:`MalformedEvent`."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedEvent(f"malformed CloudEvent: body is not JSON ({exc})") from None


@dataclass(frozen=True, slots=True)
class Envelope:
    """One event of the JSON event format, split: its checked attributes and its data."""

    attributes: dict[str, Any]
    data: Any = None
    """``data`` as the JSON held it (None when absent, or when ``data_base64`` carried it)."""
    data_base64: bytes | None = None
    """``data_base64`` decoded, when the event carried its data that way."""
    has_data: bool = False
    """Whether the event named ``data`` or ``data_base64`` at all (even as JSON ``null``)."""


def envelope(value: Any, where: str = "") -> Envelope:
    """One event of the JSON format (``where`` prefixes reasons: ``"event 2 of the batch: "``).

    ``data`` and ``data_base64`` together, a ``data_base64`` that is not a base64 string, and any
    invalid attribute are :class:`MalformedEvent`."""
    if not isinstance(value, dict):
        raise MalformedEvent(f"malformed CloudEvent: {where}an event must be a JSON object")
    attributes = dict(value)
    data = attributes.pop("data", None)
    encoded = attributes.pop("data_base64", None)
    if data is not None and encoded is not None:
        raise MalformedEvent(f"malformed CloudEvent: {where}both data and data_base64 are present")
    checked = _checked(attributes, where)
    if encoded is None:
        return Envelope(checked, data, None, "data" in value)
    if not isinstance(encoded, str):
        raise MalformedEvent(f"malformed CloudEvent: {where}data_base64 must be a string")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedEvent(
            f"malformed CloudEvent: {where}data_base64 is not RFC 4648 base64"
        ) from None
    return Envelope(checked, None, raw, True)
