"""What the broker does to an event on the way in: read it from an HTTP request or a
subscriber's reply (binary or structured mode, :mod:`springhead.httpbinding`), stamp its arrival
and bound reply loops. Pure functions of headers, body and time.

Loop bound (Knative's multi-tenant broker's, verbatim): the ``knativebrokerttl`` extension is set
to :data:`MAX_TTL` (255) on an event that has none, and decremented on one that has it; when the
result is 0 or less the event is refused (400 at the ingress; a reply is dropped and counted).
The dispatcher removes the extension before a subscriber sees the event and puts it back on the
subscriber's reply, so an event can pass through the broker at most 255 times.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from cloudevents.core.base import BaseCloudEvent
from springhead.events import trusted_event
from springhead.httpbinding import (
    BATCH,
    STRUCTURED,
    MalformedEvent,
    binary_attributes,
    envelope,
    json_body,
    media_type,
)

__all__ = [
    "ARRIVAL_TIME",
    "LoopExhausted",
    "MAX_TTL",
    "TTL",
    "admit",
    "decode_event",
    "for_subscriber",
    "with_ttl",
]

#: Extension with the time the broker received the event (RFC 3339).
ARRIVAL_TIME = "knativearrivaltime"
#: Extension bounding reply loops.
TTL = "knativebrokerttl"
#: The TTL of an event that enters without one.
MAX_TTL = 255


class LoopExhausted(Exception):
    """The event's ``knativebrokerttl`` ran out: it went round the broker too often."""


def decode_event(headers: Mapping[str, str], body: bytes) -> BaseCloudEvent:
    """The one CloudEvent a request (or reply) carries: structured mode when Content-Type is
    ``application/cloudevents+json``, else binary mode (``ce-*`` headers; ``headers`` must be
    case-insensitive, one value per name). :class:`MalformedEvent` says why not."""
    content_type = headers.get("content-type")
    kind = media_type(content_type)
    if kind == BATCH:
        raise MalformedEvent("batch mode is not accepted: send one event per request")
    if kind.startswith("application/cloudevents"):
        if kind != STRUCTURED:
            raise MalformedEvent(f"unsupported CloudEvents format {kind}", status=415)
        event = envelope(json_body(body))
        attributes = event.attributes
        if event.data_base64 is not None:
            return trusted_event(attributes, event.data_base64)
        if event.has_data and attributes.get("datacontenttype") is None:
            # JSON-format data without a content type is JSON; binary mode has to say so.
            attributes = {**attributes, "datacontenttype": "application/json"}
        return trusted_event(attributes, event.data)
    ce = {
        name.lower()[3:]: value for name, value in headers.items() if name.lower().startswith("ce-")
    }
    if "specversion" not in ce:
        raise MalformedEvent("not a CloudEvent: no ce-specversion header and not structured mode")
    # The data exactly as sent, byte for byte.
    return trusted_event(binary_attributes(ce, content_type), body or None)


def admit(event: BaseCloudEvent, now: datetime | None = None) -> BaseCloudEvent:
    """``event`` as the broker stores it: ``knativearrivaltime`` set to ``now`` (UTC) and
    ``knativebrokerttl`` set or decremented; :class:`LoopExhausted` when it ran out."""
    attributes: dict[str, Any] = dict(event.get_attributes())
    ttl = _ttl(attributes.get(TTL))
    remaining = MAX_TTL if ttl is None else ttl - 1
    if remaining <= 0:
        raise LoopExhausted(f"{TTL} exhausted: the event went round the broker {MAX_TTL} times")
    attributes[TTL] = remaining
    stamp = (now or datetime.now(UTC)).astimezone(UTC)
    attributes[ARRIVAL_TIME] = stamp.isoformat().replace("+00:00", "Z")
    # Valid attributes (checked on the way in) plus two extensions valid by construction; not
    # validated again, since a received event keeps its time in the binding's string form.
    return trusted_event(attributes, event.get_data())


def for_subscriber(event: BaseCloudEvent) -> tuple[BaseCloudEvent, int | None]:
    """``event`` without ``knativebrokerttl`` (subscribers do not see it) and the TTL it had."""
    attributes = dict(event.get_attributes())
    ttl = _ttl(attributes.pop(TTL, None))
    if ttl is None:
        return event, None
    return trusted_event(attributes, event.get_data()), ttl


def with_ttl(event: BaseCloudEvent, ttl: int | None) -> BaseCloudEvent:
    """A reply with the TTL of the event it answers put back (when that had one)."""
    if ttl is None:
        return event
    return trusted_event({**event.get_attributes(), TTL: ttl}, event.get_data())


def _ttl(value: object) -> int | None:
    if value is None:
        return None
    try:
        return int(str(value))
    except ValueError:
        return 0  # an unreadable TTL counts as exhausted: the loop bound must not be evaded
