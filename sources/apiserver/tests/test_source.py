"""The ApiServer source as a real process, watching the real kube-apiserver, sending to the
real loopback sink."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from springhead_apiserver.mapping import event_id
from springhead_testinfra.kube import KubeCluster
from springhead_testing import RecordingSink


def data_of(event: Any) -> Any:
    data = event.get_data()
    return json.loads(data) if isinstance(data, bytes | str) else data


def expected_id(obj: dict[str, Any], type_: str) -> str:
    return event_id(obj["metadata"]["uid"], obj["metadata"]["resourceVersion"], type_)


def ids(sink: RecordingSink) -> list[str]:
    return [e.get_id() for e in sink.events]


async def test_reference_mode_reports_configmap_changes_as_knative_does(
    kube: KubeCluster,
    sink: RecordingSink,
    namespace: str,
    configmaps: Any,
    source: Any,
    in_sync: Any,
) -> None:
    async with source() as process:
        await in_sync(process)
        created = await configmaps.acreate("app-config", {"data": {"k": "1"}})
        updated = await configmaps.apatch("app-config", {"data": {"k": "2"}})
        deleted = await configmaps.adelete("app-config")
        await sink.wait_for(3)
    events = sink.events
    assert [e.get_type() for e in events] == [
        "dev.knative.apiserver.ref.add",
        "dev.knative.apiserver.ref.update",
        "dev.knative.apiserver.ref.delete",
    ]
    assert ids(sink) == [
        expected_id(created, "dev.knative.apiserver.ref.add"),
        expected_id(updated, "dev.knative.apiserver.ref.update"),
        expected_id(deleted, "dev.knative.apiserver.ref.delete"),
    ]
    for event in events:
        attributes = event.get_attributes()
        assert attributes["source"] == kube.api_url
        assert attributes["subject"] == f"/apis/v1/namespaces/{namespace}/configmaps/app-config"
        assert attributes["datacontenttype"] == "application/json"
        assert attributes["kind"] == "ConfigMap"
        assert attributes["apiversion"] == "v1"
        assert attributes["name"] == "app-config"
        assert attributes["namespace"] == namespace
        assert data_of(event) == {
            "kind": "ConfigMap",
            "namespace": namespace,
            "name": "app-config",
            "apiVersion": "v1",
        }
    assert all(r.header("Kn-Namespace") == namespace for r in sink.accepted)
    # Knative's order of the reference's fields.
    assert list(json.loads(sink.accepted[0].body)) == ["kind", "namespace", "name", "apiVersion"]


async def test_resource_mode_sends_the_whole_object(
    sink: RecordingSink, namespace: str, configmaps: Any, source: Any, in_sync: Any
) -> None:
    async with source(APISERVER_MODE="Resource") as process:
        await in_sync(process)
        created = await configmaps.acreate("whole", {"data": {"k": "1"}}, labels={"a": "b"})
        updated = await configmaps.apatch("whole", {"data": {"k": "2"}})
        deleted = await configmaps.adelete("whole")
        await sink.wait_for(3)
    add, update, delete = sink.events
    assert [add.get_type(), update.get_type(), delete.get_type()] == [
        "dev.knative.apiserver.resource.add",
        "dev.knative.apiserver.resource.update",
        "dev.knative.apiserver.resource.delete",
    ]
    assert data_of(add) == created
    assert data_of(update) == updated
    assert data_of(delete)["metadata"]["uid"] == deleted["metadata"]["uid"]
    assert data_of(delete)["data"] == {"k": "2"}
    assert delete.get_id() == expected_id(deleted, "dev.knative.apiserver.resource.delete")


@pytest.mark.parametrize("mode", ["Reference", "Resource"])
async def test_emit_existing_sends_adds_for_what_exists_at_first_start(
    sink: RecordingSink, configmaps: Any, source: Any, in_sync: Any, mode: str
) -> None:
    before = [await configmaps.acreate(f"old-{i}") for i in range(3)]
    async with source(APISERVER_EMIT_EXISTING="true", APISERVER_MODE=mode) as process:
        await in_sync(process)
        await sink.wait_for(3)
        later = await configmaps.acreate("new")
        await sink.wait_for(4)
    prefix = "dev.knative.apiserver." + ("ref" if mode == "Reference" else "resource")
    assert Counter(ids(sink)) == Counter(expected_id(o, f"{prefix}.add") for o in [*before, later])


async def test_without_emit_existing_objects_present_at_start_are_not_reported(
    sink: RecordingSink, configmaps: Any, source: Any, in_sync: Any
) -> None:
    await configmaps.acreate("old")
    async with source() as process:
        await in_sync(process)
        marker = await configmaps.acreate("marker")
        await sink.wait_for(1)
    assert ids(sink) == [expected_id(marker, "dev.knative.apiserver.ref.add")]
