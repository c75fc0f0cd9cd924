"""What a request to the sink holds: CloudEvents in binary, structured or batch mode (the
CloudEvents HTTP protocol binding 1.0.2, JSON event format), or a reason it holds none.

Pure functions of the request's headers and body, checked by :mod:`springhead.cespec` (the one
place Springhead decides what a valid attribute is).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

from springhead.cespec import InvalidAttribute, check_attributes

from springhead_display.received import ReceivedEvent, media_type

__all__ = ["Malformed", "events_in"]

_STRUCTURED = "application/cloudevents+json"
_BATCH = "application/cloudevents-batch+json"


class Malformed(Exception):
    """The request holds no valid CloudEvent: answer ``status`` (400, or 415 for a format the
    display does not read) with ``reason``."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def events_in(headers: Iterable[tuple[bytes, bytes]], body: bytes) -> list[ReceivedEvent]:
    """The events a request with raw ``headers`` (lower-case names, as ASGI gives them) and
    ``body`` carries; :class:`Malformed` saying why when it carries none, or a bad one."""
    content_type: str | None = None
    binary: dict[str, str] = {}
    for raw_name, raw_value in headers:
        if raw_name == b"content-type":
            if content_type is not None:
                raise Malformed("header Content-Type appears more than once; send it once")
            content_type = _text("Content-Type", raw_value)
        elif raw_name[:3] == b"ce-":
            name = raw_name[3:].decode("latin-1")
            if name in binary:
                raise Malformed(f"header ce-{name} appears more than once; send it once")
            binary[name] = _text(f"ce-{name}", raw_value)
    kind = media_type(content_type)
    if kind == _STRUCTURED:
        return [_from_envelope(_json(body), "")]
    if kind == _BATCH:
        batch = _json(body)
        if not isinstance(batch, list):
            raise Malformed("malformed CloudEvents batch: expected a JSON array of events")
        return [
            _from_envelope(item, f"event {index} of the batch: ")
            for index, item in enumerate(batch)
        ]
    if kind.startswith("application/cloudevents"):
        raise Malformed(f"unsupported CloudEvents format {kind}; send JSON", 415)
    if not binary:
        raise Malformed(
            "not a CloudEvent: no ce-* headers (binary mode) and Content-Type is not "
            f"{_STRUCTURED} or {_BATCH}"
        )
    if "specversion" not in binary:
        raise Malformed("malformed CloudEvent: attribute specversion: required, and missing")
    attributes: dict[str, Any] = {}
    for name, value in binary.items():
        try:  # the HTTP binding: header values are percent-encoded UTF-8
            attributes[name] = unquote(value, errors="strict")
        except UnicodeDecodeError:
            raise Malformed(
                f"malformed CloudEvent: header ce-{name} percent-encodes bytes that are not UTF-8"
            ) from None
    if content_type is not None:
        attributes["datacontenttype"] = content_type
    return [ReceivedEvent(_checked(attributes, ""), body or None)]


def _text(header: str, value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise Malformed(f"header {header} is not valid UTF-8") from None


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Malformed(f"malformed CloudEvent: body is not JSON ({exc})") from None


def _checked(attributes: dict[str, Any], where: str) -> dict[str, Any]:
    try:
        return check_attributes(attributes)
    except InvalidAttribute as exc:
        raise Malformed(f"malformed CloudEvent: {where}{exc}") from None


def _from_envelope(envelope: Any, where: str) -> ReceivedEvent:
    if not isinstance(envelope, dict):
        raise Malformed(f"malformed CloudEvent: {where}an event must be a JSON object")
    attributes = dict(envelope)
    data = attributes.pop("data", None)
    encoded = attributes.pop("data_base64", None)
    if data is not None and encoded is not None:
        raise Malformed(f"malformed CloudEvent: {where}both data and data_base64 are present")
    checked = _checked(attributes, where)
    if encoded is not None:
        if not isinstance(encoded, str):
            raise Malformed(f"malformed CloudEvent: {where}data_base64 must be a string")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise Malformed(
                f"malformed CloudEvent: {where}data_base64 is not RFC 4648 base64"
            ) from None
        return ReceivedEvent(checked, raw, base64=True)
    if data is None:
        return ReceivedEvent(checked)
    if isinstance(data, str) and not _names_json(checked):
        return ReceivedEvent(checked, data.encode("utf-8", "surrogatepass"))
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return ReceivedEvent(checked, text.encode("utf-8", "surrogatepass"), json_data=True)


def _names_json(attributes: dict[str, Any]) -> bool:
    kind = media_type(attributes.get("datacontenttype"))
    return not kind or kind == "application/json" or kind.endswith("+json")
