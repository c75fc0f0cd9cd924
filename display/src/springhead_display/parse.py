"""What a request to the sink holds: CloudEvents in binary, structured or batch mode, or a reason
it holds none. The binding's decoding is :mod:`springhead.httpbinding` (shared with the HTTP
source); this module routes a request and turns each event into a :class:`ReceivedEvent`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from springhead.httpbinding import (
    BATCH,
    STRUCTURED,
    Envelope,
    MalformedEvent,
    binary_attributes,
    envelope,
    json_body,
    media_type,
)

from springhead_display.received import ReceivedEvent

__all__ = ["events_in"]


def events_in(headers: Iterable[tuple[bytes, bytes]], body: bytes) -> list[ReceivedEvent]:
    """The events a request with raw ``headers`` (lower-case names, as ASGI gives them) and
    ``body`` carries; :class:`~springhead.httpbinding.MalformedEvent` saying why when it carries
    none, or a bad one."""
    content_type: str | None = None
    binary: dict[str, str] = {}
    for raw_name, raw_value in headers:
        if raw_name == b"content-type":
            if content_type is not None:
                raise MalformedEvent("header Content-Type appears more than once; send it once")
            content_type = _text("Content-Type", raw_value)
        elif raw_name[:3] == b"ce-":
            name = raw_name[3:].decode("latin-1")
            if name in binary:
                raise MalformedEvent(f"header ce-{name} appears more than once; send it once")
            binary[name] = _text(f"ce-{name}", raw_value)
    kind = media_type(content_type)
    if kind == STRUCTURED:
        return [_received(envelope(json_body(body)))]
    if kind == BATCH:
        batch = json_body(body)
        if not isinstance(batch, list):
            raise MalformedEvent("malformed CloudEvents batch: expected a JSON array of events")
        return [
            _received(envelope(item, f"event {index} of the batch: "))
            for index, item in enumerate(batch)
        ]
    if kind.startswith("application/cloudevents"):
        raise MalformedEvent(f"unsupported CloudEvents format {kind}; send JSON", 415)
    if not binary:
        raise MalformedEvent(
            "not a CloudEvent: no ce-* headers (binary mode) and Content-Type is not "
            f"{STRUCTURED} or {BATCH}"
        )
    if "specversion" not in binary:
        raise MalformedEvent("malformed CloudEvent: attribute specversion: required, and missing")
    return [ReceivedEvent(binary_attributes(binary, content_type), body or None)]


def _text(header: str, value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedEvent(f"header {header} is not valid UTF-8") from None


def _received(event: Envelope) -> ReceivedEvent:
    """A structured event as the display keeps it: data as bytes, JSON data as JSON text."""
    if event.data_base64 is not None:
        return ReceivedEvent(event.attributes, event.data_base64, base64=True)
    data = event.data
    if data is None:
        return ReceivedEvent(event.attributes)
    if isinstance(data, str) and not _names_json(event.attributes):
        return ReceivedEvent(event.attributes, data.encode("utf-8", "surrogatepass"))
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return ReceivedEvent(event.attributes, text.encode("utf-8", "surrogatepass"), json_data=True)


def _names_json(attributes: dict[str, Any]) -> bool:
    kind = media_type(attributes.get("datacontenttype"))
    return not kind or kind == "application/json" or kind.endswith("+json")
