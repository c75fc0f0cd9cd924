"""The terminal view: each event as Knative's event_display prints it.

Knative's event_display prints ``☁️  cloudevents.Event`` and then the CloudEvents Go SDK's
rendering of the event: the context attributes in a fixed order (the optional ones only when
set), the extensions sorted by name, and the data (JSON data indented by two spaces), so that
habits and log tooling built on that output keep working.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson
from springhead.httpbinding import media_type

from springhead_display.received import ReceivedEvent

__all__ = ["event_bytes", "format_event", "format_time"]

_HEADER = "☁️  cloudevents.Event\n"
# The order the Go SDK prints a 1.0 event's context attributes in.
_CONTEXT = ("specversion", "type", "source", "subject", "id", "time", "dataschema")
_KNOWN = frozenset((*_CONTEXT, "datacontenttype"))
# Digits become "0" and every other byte "x": then a run of 16 digits is one substring search
# (a regular expression would try a match at each byte).
_DIGITS_ONLY = bytes(ord("0") if 0x30 <= byte <= 0x39 else ord("x") for byte in range(256))
_LONG_NUMBER = b"0" * 16
_TIME = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})", re.ASCII
)


def format_time(value: str) -> str:
    """An RFC 3339 time as Go's ``time.RFC3339Nano`` writes it: trailing zeros of the fraction
    dropped (the fraction too when nothing is left), a zero offset as ``Z``."""
    match = _TIME.fullmatch(value)
    if match is None:
        return value
    date, clock, fraction, offset = match.groups()
    fraction = (fraction or "").rstrip("0")
    if offset in ("Z", "z", "+00:00", "-00:00"):
        offset = "Z"
    return f"{date}T{clock}{'.' + fraction if fraction else ''}{offset}"


def _value(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def _data(event: ReceivedEvent, data: bytes) -> bytes:
    # The Go SDK indents data whose media type is exactly application/json (not JSON data of a
    # structured event without datacontenttype), and writes anything else byte for byte.
    if media_type(event.attributes.get("datacontenttype")) == "application/json":
        indented = _indented(data)
        if indented is not None:
            return indented.replace(b"\n", b"\n  ")
    return data


def _indented(data: bytes) -> bytes | None:
    """``data`` indented by two spaces per level, or None when it is not JSON.

    orjson does it in a fraction of the time the standard library takes (whose encoder, once
    asked to indent, runs in Python): the terminal view formats every event on the sink's hot
    path. orjson reads an integer beyond 64 bits as a float, so data holding a run of 16 digits
    or more goes to the standard library, which keeps every integer exact. Numbers are written
    in their shortest form (``1.50`` as ``1.5``), where Go's ``json.Indent`` keeps them as sent.
    """
    if _LONG_NUMBER not in data.translate(_DIGITS_ONLY):
        try:
            return orjson.dumps(orjson.loads(data), option=orjson.OPT_INDENT_2)
        except orjson.JSONDecodeError:
            return None
    try:
        return json.dumps(json.loads(data), indent=2, ensure_ascii=False).encode()
    except ValueError:
        return None


def format_event(event: ReceivedEvent) -> str:
    """``event`` as Knative's event_display prints it, ending with a newline (data that is not
    UTF-8 shows U+FFFD where :func:`event_bytes` has its bytes)."""
    return event_bytes(event).decode("utf-8", "replace")


def event_bytes(event: ReceivedEvent) -> bytes:
    """:func:`format_event` as the bytes written to stdout: the data byte for byte, as the Go SDK
    writes it."""
    attributes = event.attributes
    lines = [_HEADER, "Context Attributes,\n"]
    for name in _CONTEXT:
        value = attributes.get(name)
        if value is not None:
            text = format_time(value) if name == "time" else value
            lines.append(f"  {name}: {text}\n")
    content_type = attributes.get("datacontenttype")
    if content_type is not None:
        lines.append(f"  datacontenttype: {content_type}\n")
    extensions = sorted(name for name in attributes if name not in _KNOWN)
    if extensions:
        lines.append("Extensions,\n")
        lines.extend(f"  {name}: {_value(attributes[name])}\n" for name in extensions)
    if event.data is None:
        return "".join(lines).encode()
    lines.append("Data (binary),\n  " if event.base64 else "Data,\n  ")
    return b"".join(("".join(lines).encode(), _data(event, event.data), b"\n"))
