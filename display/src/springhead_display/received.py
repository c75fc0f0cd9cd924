"""One event as the display received it."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from springhead.httpbinding import media_type

__all__ = ["ReceivedEvent", "event_json"]

#: What an event costs beyond its attributes and data: the objects that hold it, counted against
#: the byte budget so that many tiny events cannot outgrow it.
OVERHEAD_BYTES = 512


@dataclass(slots=True, eq=False)
class ReceivedEvent:
    """A checked CloudEvent: its attributes exactly as sent (context attributes as Strings,
    extensions as String, Boolean or Integer) and its data as bytes.

    ``data`` is the body of a binary-mode event; of a structured-mode event it is the decoded
    ``data_base64``, the text of a String ``data``, or the JSON text of any other ``data``
    (``json_data`` is then True). ``base64`` says it came as ``data_base64``.
    """

    attributes: dict[str, Any]
    data: bytes | None = None
    base64: bool = False
    json_data: bool = False
    seq: int = 0
    """Position in the order of arrival (1 for the first event); set when the display keeps it."""
    received: float = 0.0
    """Arrival, in seconds since the epoch; set when the display keeps it."""
    cost: int = 0
    """:attr:`size` as counted when the display kept it."""

    @property
    def size(self) -> int:
        """Bytes this event counts against the display's byte budget."""
        size = OVERHEAD_BYTES + (len(self.data) if self.data is not None else 0)
        for name, value in self.attributes.items():
            size += len(name) + (len(value) if isinstance(value, str) else 8)
        return size

    @property
    def is_json(self) -> bool:
        """Whether the data is JSON: a JSON ``data`` member, or a JSON ``datacontenttype``."""
        if self.json_data:
            return True
        kind = media_type(self.attributes.get("datacontenttype"))
        return kind == "application/json" or kind.endswith("+json")


def event_json(event: ReceivedEvent) -> dict[str, Any]:
    """``event`` as the web API gives it: its attributes, and its data as JSON (``data_kind``
    ``json``), as text (``text``) or as base64 (``binary``), with the data's size in bytes."""
    data = event.data
    shown: dict[str, Any] = {
        "seq": event.seq,
        "received": datetime.fromtimestamp(event.received, UTC).isoformat(timespec="milliseconds"),
        "attributes": event.attributes,
        "data_kind": "none",
        "data": None,
        "data_base64": None,
        "data_size": 0 if data is None else len(data),
    }
    if data is None:
        return shown
    if event.is_json and not event.base64:
        try:
            shown["data"] = json.loads(data)
        except ValueError:
            pass
        else:
            shown["data_kind"] = "json"
            return shown
    kind = media_type(event.attributes.get("datacontenttype"))
    if not event.base64 and kind != "application/octet-stream":
        try:
            shown["data"] = data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            shown["data_kind"] = "text"
            return shown
    shown["data_kind"] = "binary"
    shown["data_base64"] = base64.b64encode(data).decode("ascii")
    return shown
