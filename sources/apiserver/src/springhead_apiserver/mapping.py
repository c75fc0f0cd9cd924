"""Kubernetes changes -> CloudEvents, exactly as Knative's ApiServerSource shapes them.

Pure functions: no I/O. Facts matched (knative/eventing ``pkg/adapter/apiserver/events``):

- type ``dev.knative.apiserver.resource.{add,update,delete}`` (Resource mode) or
  ``dev.knative.apiserver.ref.{add,update,delete}`` (Reference mode);
- source = the API server URL the client talks to;
- subject ``/apis/<apiVersion>/namespaces/<namespace>/<plural>/<name>`` - ``/apis/`` even for the
  core group (``/apis/v1/...``), the plural guessed from the kind as Kubernetes'
  ``UnsafeGuessKindToResource`` does, and an empty namespace segment for cluster-scoped objects
  (``/apis/v1/namespaces//namespaces/prod``);
- extensions ``kind``, ``apiversion``, ``name``, ``namespace`` (empty for cluster-scoped objects);
- datacontenttype ``application/json``; Reference data ``{"kind", "namespace", "name",
  "apiVersion"}`` (namespace left out when empty), Resource data the whole object.

Springhead differs on purpose in the id: derived from the object's uid, resourceVersion and the
event type (a delete uses the last resourceVersion seen before it), so the same change always
gets the same id, whichever way it was found and however often it is sent.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cloudevents.core.base import BaseCloudEvent
from springhead.events import validated_event
from springhead.kube import Change, ChangeType, controller_of, guess_plural

from springhead_apiserver.config import EventMode, OwnerSpec

__all__ = [
    "EVENT_TYPE_PREFIX",
    "change_event",
    "event_id",
    "event_type",
    "owner_matches",
    "reference",
    "subject",
]

#: Every event type starts with this.
EVENT_TYPE_PREFIX = "dev.knative.apiserver."
_MODE_WORD = {EventMode.RESOURCE: "resource", EventMode.REFERENCE: "ref"}
_ID_NAMESPACE = uuid.UUID("2f0c7f5e-3f4f-4b57-9d0e-6a51c3a9e2b1")


def event_type(mode: EventMode, change: ChangeType) -> str:
    """``dev.knative.apiserver.<resource|ref>.<add|update|delete>``."""
    return f"{EVENT_TYPE_PREFIX}{_MODE_WORD[mode]}.{change.value}"


def _metadata(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = obj.get("metadata")
    return metadata if isinstance(metadata, Mapping) else {}


def subject(obj: Mapping[str, Any]) -> str:
    """Knative's self-link-like subject of ``obj``."""
    api_version = str(obj.get("apiVersion", ""))
    if "." in api_version and "/" not in api_version:
        api_version += "/versionUnknown"  # as Knative: a group without a version
    metadata = _metadata(obj)
    namespace = str(metadata.get("namespace") or "")
    plural = guess_plural(str(obj.get("kind", "")))
    return f"/apis/{api_version}/namespaces/{namespace}/{plural}/{metadata.get('name', '')}"


def reference(obj: Mapping[str, Any]) -> dict[str, str]:
    """Reference-mode data: kind, namespace (when set), name, apiVersion - Knative's order."""
    metadata = _metadata(obj)
    ref = {"kind": str(obj.get("kind", ""))}
    if metadata.get("namespace"):
        ref["namespace"] = str(metadata["namespace"])
    ref["name"] = str(metadata.get("name", ""))
    ref["apiVersion"] = str(obj.get("apiVersion", ""))
    return ref


def event_id(uid: str, resource_version: str, type_: str) -> str:
    """The deterministic id of the event of type ``type_`` about ``uid`` at ``resource_version``."""
    return str(uuid.uuid5(_ID_NAMESPACE, f"{uid}/{resource_version}/{type_}"))


def owner_matches(obj: Mapping[str, Any], owner: OwnerSpec | None) -> bool:
    """Whether ``obj`` passes the owner filter: its controller owner reference matches the
    filter's apiVersion and kind (an empty field matches anything). No filter: always."""
    if owner is None:
        return True
    controller = controller_of(obj)
    if controller is None:
        return False
    api_version, kind, _ = controller
    return (not owner.api_version or owner.api_version == api_version) and (
        not owner.kind or owner.kind == kind
    )


def change_event(change: Change, *, mode: EventMode, source: str, time: datetime) -> BaseCloudEvent:
    """The CloudEvent reporting ``change``."""
    obj = change.object
    metadata = _metadata(obj)
    type_ = event_type(mode, change.type)
    if change.type is ChangeType.DELETE and change.previous is not None:
        version = change.previous.resource_version
    else:
        version = str(metadata.get("resourceVersion", ""))
    data: Any = obj if mode is EventMode.RESOURCE else reference(obj)
    attributes = {
        "specversion": "1.0",
        "id": event_id(str(metadata.get("uid", "")), version, type_),
        "source": source,
        "type": type_,
        "subject": subject(obj),
        "time": time,
        "datacontenttype": "application/json",
        "kind": str(obj.get("kind", "")),
        "apiversion": str(obj.get("apiVersion", "")),
        "name": str(metadata.get("name", "")),
        "namespace": str(metadata.get("namespace") or ""),
    }
    return validated_event(attributes, json.dumps(data, separators=(",", ":")).encode())
