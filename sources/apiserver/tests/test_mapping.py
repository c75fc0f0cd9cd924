"""Changes -> CloudEvents, table-driven: types, subjects, references, ids, owner filter."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from springhead.kube import CachedObject, Change, ChangeType
from springhead_apiserver.config import EventMode, OwnerSpec
from springhead_apiserver.mapping import (
    change_event,
    event_id,
    event_type,
    owner_matches,
    reference,
    subject,
)

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def obj(
    api_version: str, kind: str, name: str, namespace: str | None = "ns", **extra: Any
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "uid": f"uid-{name}", "resourceVersion": "7"}
    if namespace is not None:
        metadata["namespace"] = namespace
    metadata.update(extra)
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata}


@pytest.mark.parametrize(
    ("mode", "change", "expected"),
    [
        (EventMode.RESOURCE, ChangeType.ADD, "dev.knative.apiserver.resource.add"),
        (EventMode.RESOURCE, ChangeType.UPDATE, "dev.knative.apiserver.resource.update"),
        (EventMode.RESOURCE, ChangeType.DELETE, "dev.knative.apiserver.resource.delete"),
        (EventMode.REFERENCE, ChangeType.ADD, "dev.knative.apiserver.ref.add"),
        (EventMode.REFERENCE, ChangeType.UPDATE, "dev.knative.apiserver.ref.update"),
        (EventMode.REFERENCE, ChangeType.DELETE, "dev.knative.apiserver.ref.delete"),
    ],
)
def test_event_types(mode: EventMode, change: ChangeType, expected: str) -> None:
    assert event_type(mode, change) == expected


@pytest.mark.parametrize(
    ("o", "expected"),
    [
        (obj("v1", "Pod", "web-1"), "/apis/v1/namespaces/ns/pods/web-1"),
        (obj("v1", "ConfigMap", "c"), "/apis/v1/namespaces/ns/configmaps/c"),
        (obj("apps/v1", "Deployment", "web"), "/apis/apps/v1/namespaces/ns/deployments/web"),
        (
            obj("networking.k8s.io/v1", "Ingress", "i"),
            "/apis/networking.k8s.io/v1/namespaces/ns/ingresses/i",
        ),
        (
            obj("networking.k8s.io/v1", "NetworkPolicy", "p"),
            "/apis/networking.k8s.io/v1/namespaces/ns/networkpolicies/p",
        ),
        (obj("v1", "Endpoints", "e"), "/apis/v1/namespaces/ns/endpoints/e"),
        # Cluster-scoped: Knative leaves the namespace segment empty.
        (obj("v1", "Namespace", "prod", None), "/apis/v1/namespaces//namespaces/prod"),
        (
            obj("rbac.authorization.k8s.io/v1", "ClusterRole", "r", None),
            "/apis/rbac.authorization.k8s.io/v1/namespaces//clusterroles/r",
        ),
        (
            obj("example.com/v1alpha1", "Widget", "w"),
            "/apis/example.com/v1alpha1/namespaces/ns/widgets/w",
        ),
        (
            obj("example.com", "Widget", "w"),
            "/apis/example.com/versionUnknown/namespaces/ns/widgets/w",
        ),
    ],
)
def test_subject_is_knatives(o: dict[str, Any], expected: str) -> None:
    assert subject(o) == expected


@pytest.mark.parametrize(
    ("o", "expected"),
    [
        (obj("v1", "Pod", "p"), '{"kind":"Pod","namespace":"ns","name":"p","apiVersion":"v1"}'),
        (
            obj("v1", "Namespace", "prod", None),
            '{"kind":"Namespace","name":"prod","apiVersion":"v1"}',
        ),
    ],
)
def test_reference_data_in_knatives_field_order(o: dict[str, Any], expected: str) -> None:
    assert json.dumps(reference(o), separators=(",", ":")) == expected


def test_event_ids_are_deterministic_and_distinct() -> None:
    first = event_id("u", "1", "dev.knative.apiserver.ref.add")
    assert first == event_id("u", "1", "dev.knative.apiserver.ref.add")
    others = {
        event_id("u", "2", "dev.knative.apiserver.ref.add"),
        event_id("v", "1", "dev.knative.apiserver.ref.add"),
        event_id("u", "1", "dev.knative.apiserver.ref.update"),
        event_id("u", "1", "dev.knative.apiserver.resource.add"),
    }
    assert first not in others and len(others) == 4


def owned(api_version: str, kind: str, controller: bool = True) -> dict[str, Any]:
    ref = {
        "apiVersion": api_version,
        "kind": kind,
        "name": "o",
        "uid": "x",
        "controller": controller,
    }
    return obj("v1", "Pod", "p", ownerReferences=[ref])


_RS = {"apiVersion": "apps/v1", "kind": "ReplicaSet"}


@pytest.mark.parametrize(
    ("o", "owner", "expected"),
    [
        (obj("v1", "Pod", "p"), None, True),
        (obj("v1", "Pod", "p"), OwnerSpec(kind="ReplicaSet"), False),
        (owned("apps/v1", "ReplicaSet"), OwnerSpec(kind="ReplicaSet"), True),
        (owned("apps/v1", "ReplicaSet"), OwnerSpec(apiVersion="apps/v1", kind="ReplicaSet"), True),
        (owned("apps/v1", "ReplicaSet"), OwnerSpec(apiVersion="apps/v1"), True),
        (
            owned("apps/v1", "ReplicaSet"),
            OwnerSpec(apiVersion="batch/v1", kind="ReplicaSet"),
            False,
        ),
        (owned("batch/v1", "Job"), OwnerSpec(kind="ReplicaSet"), False),
        (owned("apps/v1", "ReplicaSet", controller=False), OwnerSpec(kind="ReplicaSet"), False),
        (owned("apps/v1", "ReplicaSet"), OwnerSpec(), True),
        # the filter's values sort before the owner's, and differ: no match
        (owned("batch/v1", "ReplicaSet"), OwnerSpec(apiVersion="apps/v1"), False),
        (owned("apps/v1", "StatefulSet"), OwnerSpec(kind="ReplicaSet"), False),
        # equal values that are different objects (as JSON from the API server gives): a match
        (owned("".join(["apps/", "v1"]), "".join(["Replica", "Set"])), OwnerSpec(**_RS), True),
    ],
)
def test_owner_filter_uses_the_controller_reference(
    o: dict[str, Any], owner: OwnerSpec | None, expected: bool
) -> None:
    assert owner_matches(o, owner) is expected


@pytest.mark.parametrize("mode", list(EventMode))
def test_change_event_attributes(mode: EventMode) -> None:
    o = obj("apps/v1", "Deployment", "web", labels={"a": "b"})
    event = change_event(
        Change(ChangeType.ADD, o, None), mode=mode, source="https://10.96.0.1:443", time=NOW
    )
    attributes = event.get_attributes()
    type_ = event_type(mode, ChangeType.ADD)
    assert attributes == {
        "specversion": "1.0",
        "id": event_id("uid-web", "7", type_),
        "source": "https://10.96.0.1:443",
        "type": type_,
        "subject": "/apis/apps/v1/namespaces/ns/deployments/web",
        "time": NOW,
        "datacontenttype": "application/json",
        "kind": "Deployment",
        "apiversion": "apps/v1",
        "name": "web",
        "namespace": "ns",
    }
    data = json.loads(event.get_data())  # type: ignore[arg-type]
    assert data == (o if mode is EventMode.RESOURCE else reference(o))


def test_a_delete_is_identified_by_the_last_version_seen_before_it() -> None:
    deleted = obj("v1", "ConfigMap", "c")
    deleted["metadata"]["resourceVersion"] = "99"
    previous = CachedObject(uid="uid-c", namespace="ns", name="c", resource_version="42")
    event = change_event(
        Change(ChangeType.DELETE, deleted, previous),
        mode=EventMode.REFERENCE,
        source="s",
        time=NOW,
    )
    assert event.get_id() == event_id("uid-c", "42", "dev.knative.apiserver.ref.delete")


def test_an_update_is_identified_by_its_new_version_not_the_previous_one() -> None:
    # An update carries ``previous`` too; only a delete takes its id from it.
    updated = obj("v1", "ConfigMap", "c")
    updated["metadata"]["resourceVersion"] = "99"
    previous = CachedObject(uid="uid-c", namespace="ns", name="c", resource_version="42")
    event = change_event(
        Change(ChangeType.UPDATE, updated, previous),
        mode=EventMode.REFERENCE,
        source="s",
        time=NOW,
    )
    assert event.get_id() == event_id("uid-c", "99", "dev.knative.apiserver.ref.update")


def test_cluster_scoped_objects_carry_an_empty_namespace_extension() -> None:
    event = change_event(
        Change(ChangeType.ADD, obj("v1", "Namespace", "prod", None), None),
        mode=EventMode.REFERENCE,
        source="s",
        time=NOW,
    )
    assert event.get_attributes()["namespace"] == ""
    assert event.get_attributes()["subject"] == "/apis/v1/namespaces//namespaces/prod"
