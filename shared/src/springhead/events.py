"""CloudEvents exactly as given.

The SDK's event classes fill in a missing ``id`` (a random UUID) and ``time`` (now). A source that
forwards events it received must neither invent an id for an event that lacks one (that event is
malformed) nor add a time its producer did not set. :func:`validated_event` builds an event with
exactly the given attributes, validated by the SDK.

The SDK's validation is a large share of a record's mapping cost (bench/RESULTS.md).
:func:`trusted_event` skips it for attributes a source assembled itself in a shape that cannot
fail it (fixed names, non-empty strings, an aware ``time``); each source that uses it has tests
putting its events through the SDK's validation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.exceptions import MissingRequiredAttributeError
from cloudevents.core.v03.event import CloudEvent as CloudEventV03
from cloudevents.core.v1.event import CloudEvent

__all__ = ["trusted_event", "validated_event"]

EventData = dict[str, Any] | str | bytes | None


class _ValidatedV1(CloudEvent):
    def __init__(self, attributes: dict[str, Any], data: EventData = None) -> None:
        self._validate_attribute(attributes=attributes)
        self._attributes = attributes
        self._data = data


class _TrustedV1(CloudEvent):
    def __init__(self, attributes: dict[str, Any], data: EventData = None) -> None:
        self._attributes = attributes
        self._data = data


class _ValidatedV03(CloudEventV03):
    def __init__(self, attributes: dict[str, Any], data: EventData = None) -> None:
        self._validate_attribute(attributes=attributes)
        self._attributes = attributes
        self._data = data


def validated_event(attributes: Mapping[str, Any], data: EventData = None) -> BaseCloudEvent:
    """An event with exactly ``attributes`` (validated; nothing defaulted) and ``data``.

    Raises the SDK's validation errors, and MissingRequiredAttributeError for a missing
    ``specversion`` or ``id``.
    """
    copied = dict(attributes)
    for required in ("specversion", "id"):
        if not copied.get(required):
            raise MissingRequiredAttributeError(required)
    if copied["specversion"] == "0.3":
        return _ValidatedV03(copied, data)
    return _ValidatedV1(copied, data)


def trusted_event(attributes: dict[str, Any], data: EventData = None) -> BaseCloudEvent:
    """A CloudEvents 1.0 event of ``attributes`` (taken as they are, not copied) and ``data``,
    without the SDK's validation: only for attributes the caller built valid by construction
    (see the module documentation). Anything received from outside goes through
    :func:`validated_event`.
    """
    return _TrustedV1(attributes, data)
