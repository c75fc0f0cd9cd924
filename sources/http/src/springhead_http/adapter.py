"""HTTP source: a request becomes CloudEvents.

- A CloudEvent (binary ``ce-*`` headers, structured ``application/cloudevents+json``, or a batch
  ``application/cloudevents-batch+json``) is forwarded as it came (binary-mode data byte for byte).
- Any other body becomes one event: the configured type and source, the body as data byte for byte,
  ``datacontenttype`` from Content-Type, ``id`` from the idempotency header when present.
- Chosen headers become extensions; W3C ``traceparent``/``tracestate`` become the distributed
  tracing extensions.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from cloudevents.core.base import BaseCloudEvent
from springhead.cespec import (
    InvalidAttribute,
    check_context_attribute,
    check_extension,
)
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
from springhead.runtime import SourceHost
from springhead.webhook import Receiver, Rejection, WebhookAdapter, WebhookRequest, header_text

from springhead_http.config import HttpSettings

__all__ = ["http_adapter", "http_receiver"]


def _binary_headers(request: WebhookRequest) -> tuple[dict[str, str], str | None]:
    """The ``ce-*`` headers (by attribute name) and Content-Type: each once, and valid UTF-8
    (else 400 naming it; a repeated attribute is ambiguous, so no value of it is chosen)."""
    ce: dict[str, str] = {}
    content_type: str | None = None
    seen: set[str] = set()
    for name, value in request.headers.items():
        key = name.lower()
        if key.startswith("ce-") or key == "content-type":
            if key in seen:
                raise Rejection(400, f"header {name} appears more than once; send it once")
            seen.add(key)
            text = header_text(name, value)
            if key == "content-type":
                content_type = text
            else:
                ce[key[3:]] = text
    return ce, content_type


def _from_binary(request: WebhookRequest) -> BaseCloudEvent:
    # The data exactly as sent, byte for byte.
    return trusted_event(binary_attributes(*_binary_headers(request)), request.body or None)


def _from_envelope(value: Any) -> BaseCloudEvent:
    event = envelope(value)
    attributes = event.attributes
    if event.data_base64 is not None:
        return trusted_event(attributes, event.data_base64)
    if event.has_data and attributes.get("datacontenttype") is None:
        # JSON-format data without a content type is JSON; binary mode has to say so.
        attributes = {**attributes, "datacontenttype": "application/json"}
    return trusted_event(attributes, event.data)


def _plain_event(request: WebhookRequest, settings: HttpSettings) -> BaseCloudEvent:
    # Valid by construction (checked settings, an aware time) or checked here (what comes from
    # headers), so built without the SDK's re-validation; tests/test_receiver.py puts arbitrary
    # requests' events through it.
    key = request.header(settings.idempotency_header)
    attributes: dict[str, Any] = {
        "specversion": "1.0",
        "type": settings.event_type,
        "source": settings.plain_source,
        "id": (
            _from_header(settings.idempotency_header, "id", key.strip())
            if key and key.strip()
            else str(uuid.uuid4())
        ),
        "time": datetime.now(UTC),
    }
    content_type = request.header("Content-Type")
    if content_type:
        attributes["datacontenttype"] = _from_header(
            "Content-Type", "datacontenttype", content_type
        )
    return trusted_event(attributes, request.body or None)


def _from_header(header: str, name: str, value: str) -> str:
    try:
        check_context_attribute(name, value)
    except InvalidAttribute as exc:
        raise Rejection(400, f"header {header}: {exc}") from None
    return value


def _with_headers(
    event: BaseCloudEvent, request: WebhookRequest, header_extensions: Mapping[str, str]
) -> BaseCloudEvent:
    attributes = event.get_attributes()
    extra: dict[str, str] = {}
    # W3C Trace Context: one traceparent; tracestate may be split over several headers.
    for header, value in (
        ("traceparent", request.header("traceparent")),
        ("tracestate", request.combined_header("tracestate")),
    ):
        if value and header not in attributes:
            extra[header] = value
    for header, extension in header_extensions.items():
        value = request.header(header)
        if value is not None:
            extra[extension] = value
    if not extra:
        return event
    for name, value in extra.items():
        try:
            check_extension(name, value)
        except InvalidAttribute as exc:
            raise Rejection(400, f"header for {exc}") from None
    return trusted_event({**attributes, **extra}, event.get_data())


def http_receiver(settings: HttpSettings) -> Receiver:
    """The pure request -> events function of an HTTP source with ``settings``."""

    def receive(request: WebhookRequest) -> Sequence[BaseCloudEvent]:
        try:
            return decode(request)
        except MalformedEvent as exc:
            raise Rejection(exc.status, exc.reason) from None

    def decode(request: WebhookRequest) -> Sequence[BaseCloudEvent]:
        kind = media_type(request.header("Content-Type"))
        events: list[BaseCloudEvent]
        if request.header("ce-specversion") is not None:
            events = [_from_binary(request)]
        elif kind == STRUCTURED:
            events = [_from_envelope(json_body(request.body))]
        elif kind == BATCH:
            batch = json_body(request.body)
            if not isinstance(batch, list):
                raise Rejection(400, "malformed CloudEvent batch: expected a JSON array")
            events = [_from_envelope(item) for item in batch]
        elif kind.startswith("application/cloudevents"):
            raise Rejection(415, f"unsupported CloudEvents format {kind}; use JSON")
        else:
            events = [_plain_event(request, settings)]
        return [_with_headers(event, request, settings.header_extensions) for event in events]

    return receive


def http_adapter(settings: HttpSettings, host: SourceHost) -> WebhookAdapter:
    """The HTTP source's adapter (the runtime's factory)."""
    return WebhookAdapter(
        settings=settings,
        sender=host.sender,
        receiver=http_receiver(settings),
        authenticators=settings.authenticators(),
    )
