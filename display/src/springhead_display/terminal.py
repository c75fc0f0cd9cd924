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

from springhead_display.received import ReceivedEvent, media_type

__all__ = ["format_event"]

_HEADER = "☁️  cloudevents.Event\n"
# The order the Go SDK prints a 1.0 event's context attributes in.
_CONTEXT = ("specversion", "type", "source", "subject", "id", "time", "dataschema")
_KNOWN = frozenset((*_CONTEXT, "datacontenttype"))
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


def _data(event: ReceivedEvent, data: bytes) -> str:
    # The Go SDK indents data whose media type is exactly application/json, and writes anything
    # else as it came; bytes that are not UTF-8 are written as they are, shown here as U+FFFD.
    kind = media_type(event.attributes.get("datacontenttype"))
    if kind == "application/json" or (event.json_data and not kind):
        try:
            value = json.loads(data)
        except ValueError:
            pass
        else:
            return json.dumps(value, indent=2, ensure_ascii=False).replace("\n", "\n  ")
    return data.decode("utf-8", "replace")


def format_event(event: ReceivedEvent) -> str:
    """``event`` as Knative's event_display prints it, ending with a newline."""
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
    if event.data is not None:
        lines.append("Data (binary),\n  " if event.base64 else "Data,\n  ")
        lines.append(_data(event, event.data))
        lines.append("\n")
    return "".join(lines)
