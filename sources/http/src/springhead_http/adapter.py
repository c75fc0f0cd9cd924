"""HTTP source: a request becomes CloudEvents.

- A CloudEvent (binary ``ce-*`` headers, structured ``application/cloudevents+json``, or a batch
  ``application/cloudevents-batch+json``) is forwarded as it came (binary-mode data byte for byte).
- Any other body becomes one event: the configured type and source, the body as data byte for byte,
  ``datacontenttype`` from Content-Type, ``id`` from the idempotency header when present.
- Chosen headers become extensions; W3C ``traceparent``/``tracestate`` become the distributed
  tracing extensions.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from cloudevents.core.base import BaseCloudEvent
from springhead.cespec import (
    InvalidAttribute,
    check_attributes,
    check_context_attribute,
    check_extension,
)
from springhead.events import trusted_event
from springhead.runtime import SourceHost
from springhead.webhook import Receiver, Rejection, WebhookAdapter, WebhookRequest, header_text

from springhead_http.config import HttpSettings

__all__ = ["http_adapter", "http_receiver"]

_STRUCTURED = "application/cloudevents+json"
_BATCH = "application/cloudevents-batch+json"


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _binary_headers(request: WebhookRequest) -> dict[str, str]:
    """The ``ce-*`` headers and Content-Type, lower-cased: each once, and valid UTF-8 (else 400
    naming it; a repeated attribute is ambiguous, so no value of it is chosen)."""
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        key = name.lower()
        if key.startswith("ce-") or key == "content-type":
            if key in headers:
                raise Rejection(400, f"header {name} appears more than once; send it once")
            headers[key] = header_text(name, value)
    return headers


def _checked(attributes: dict[str, Any]) -> dict[str, Any]:
    try:
        return check_attributes(attributes)
    except InvalidAttribute as exc:
        raise Rejection(400, f"malformed CloudEvent: {exc}") from None


def _from_binary(request: WebhookRequest) -> BaseCloudEvent:
    attributes: dict[str, Any] = {}
    for key, value in _binary_headers(request).items():
        if key == "content-type":
            attributes["datacontenttype"] = value
            continue
        name = key[3:]
        try:  # the HTTP binding: header values are percent-encoded UTF-8
            attributes[name] = unquote(value, errors="strict")
        except UnicodeDecodeError:
            raise Rejection(
                400, f"malformed CloudEvent: header {key} percent-encodes bytes that are not UTF-8"
            ) from None
    # The data exactly as sent, byte for byte.
    return trusted_event(_checked(attributes), request.body or None)


def _from_envelope(envelope: Any) -> BaseCloudEvent:
    if not isinstance(envelope, dict):
        raise Rejection(400, "malformed CloudEvent: a structured event must be a JSON object")
    attributes = dict(envelope)
    data = attributes.pop("data", None)
    encoded = attributes.pop("data_base64", None)
    if data is not None and encoded is not None:
        raise Rejection(400, "malformed CloudEvent: both data and data_base64 are present")
    if encoded is not None:
        try:
            data = base64.b64decode(encoded, validate=True)
        except (TypeError, ValueError):
            raise Rejection(
                400, "malformed CloudEvent: data_base64 is not RFC 4648 base64"
            ) from None
    elif "data" in envelope and attributes.get("datacontenttype") is None:
        # JSON-format data without a content type is JSON; binary mode has to say so.
        attributes["datacontenttype"] = "application/json"
    return trusted_event(_checked(attributes), data)


def _load_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Rejection(400, f"malformed CloudEvent: body is not JSON ({exc})") from None


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
        media_type = _media_type(request.header("Content-Type"))
        events: list[BaseCloudEvent]
        if request.header("ce-specversion") is not None:
            events = [_from_binary(request)]
        elif media_type == _STRUCTURED:
            events = [_from_envelope(_load_json(request.body))]
        elif media_type == _BATCH:
            batch = _load_json(request.body)
            if not isinstance(batch, list):
                raise Rejection(400, "malformed CloudEvent batch: expected a JSON array")
            events = [_from_envelope(item) for item in batch]
        elif media_type.startswith("application/cloudevents"):
            raise Rejection(415, f"unsupported CloudEvents format {media_type}; use JSON")
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
