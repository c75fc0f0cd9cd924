"""GitHub source: a signed webhook delivery becomes one CloudEvent.

- ``type`` ``dev.knative.source.github.<X-GitHub-Event>``, ``source``
  ``<web URL>/<ownerAndRepository>``, ``id`` the ``X-GitHub-Delivery`` value (a redelivery keeps
  it, so sinks can deduplicate), ``subject`` and extensions per event
  (:mod:`springhead_github.attributes`), ``datacontenttype`` ``application/json``.
- ``data`` is the body exactly as GitHub sent it: parsed only to read the attributes, never
  re-serialised (Knative re-serialises and loses fields its structs do not know).
- Answers, after the shared adapter checked the signature: 400 for a missing
  ``X-GitHub-Event``/``X-GitHub-Delivery`` or a body that is not a JSON object, 404 for an event
  type that is not configured (``ping`` always passes), 415 for a form-encoded delivery; 202 once
  the sink accepted the event, 503 with Retry-After when it did not: GitHub records the delivery
  as failed, and a redelivery (by hand or through its REST API; GitHub does not retry on its own)
  is forwarded with the same id.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from cloudevents.core.base import BaseCloudEvent
from springhead.events import trusted_event
from springhead.runtime import SourceHost
from springhead.webhook import Receiver, Rejection, WebhookAdapter, WebhookRequest

from springhead_github.attributes import subject_and_extensions
from springhead_github.config import EVENT_NAME, GitHubSettings

__all__ = [
    "DELIVERY_HEADER",
    "EVENT_HEADER",
    "EVENT_TYPE_PREFIX",
    "github_adapter",
    "github_receiver",
]

log = logging.getLogger("springhead_github")

#: Header naming the event (``push``, ``pull_request`` ...).
EVENT_HEADER = "X-GitHub-Event"
#: Header carrying the delivery's unique id (kept by redeliveries).
DELIVERY_HEADER = "X-GitHub-Delivery"
#: CloudEvents ``type`` prefix; the GitHub event name follows (Knative's naming).
EVENT_TYPE_PREFIX = "dev.knative.source.github."

_MAX_DELIVERY_ID = 256
_FORM = "application/x-www-form-urlencoded"


def _required_header(request: WebhookRequest, name: str) -> str:
    value = (request.header(name) or "").strip()
    if not value:
        raise Rejection(400, f"{name} header missing")
    return value


def _delivery_id(request: WebhookRequest) -> str:
    value = _required_header(request, DELIVERY_HEADER)
    if len(value) > _MAX_DELIVERY_ID or not (value.isascii() and value.isprintable()):
        raise Rejection(400, f"{DELIVERY_HEADER} is not a delivery id")
    return value


def _payload(request: WebhookRequest) -> dict[str, Any]:
    media_type = (request.header("Content-Type") or "").split(";", 1)[0].strip().lower()
    if media_type == _FORM:
        raise Rejection(
            415,
            "form-encoded deliveries are not accepted; set the hook's content "
            "type to application/json",
        )
    try:
        payload = json.loads(request.body)
    except (ValueError, RecursionError):
        raise Rejection(400, "body is not JSON") from None
    if not isinstance(payload, dict):
        raise Rejection(400, "body is not a JSON object")
    return payload


def github_receiver(settings: GitHubSettings) -> Receiver:
    """The pure request -> event function of a GitHub source with ``settings``.

    Signatures are checked before it by the adapter's authenticators
    (:meth:`GitHubSettings.authenticators`).
    """
    source = settings.event_source

    def receive(request: WebhookRequest) -> Sequence[BaseCloudEvent]:
        event = _required_header(request, EVENT_HEADER)
        delivery = _delivery_id(request)
        if not EVENT_NAME.match(event):
            raise Rejection(400, f"{EVENT_HEADER} is not a GitHub event name")
        if not settings.accepts(event):
            raise Rejection(404, f"event type {event} is not configured for this source")
        subject, extensions = subject_and_extensions(event, _payload(request))
        attributes: dict[str, Any] = {
            "specversion": "1.0",
            "id": delivery,
            "source": source,
            "type": EVENT_TYPE_PREFIX + event,
            "datacontenttype": "application/json",
        }
        if subject is not None:
            attributes["subject"] = subject
        attributes.update(extensions)
        # Valid by construction (checked id, fixed names, non-empty string values), so built
        # without the SDK's re-validation; tests/test_receiver.py runs arbitrary payloads through.
        return [trusted_event(attributes, request.body)]

    return receive


def github_adapter(settings: GitHubSettings, host: SourceHost) -> WebhookAdapter:
    """The GitHub source's adapter (the runtime's factory)."""
    if settings.secret is None:
        log.warning("GITHUB_INSECURE_NO_SECRET is set: deliveries are not authenticated")
    return WebhookAdapter(
        settings=settings,
        sender=host.sender,
        receiver=github_receiver(settings),
        authenticators=settings.authenticators(),
    )
