"""What the source watches: custom resources, selectors, namespaces, owners, permissions."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from springhead.config import load_settings
from springhead.kube import ApiResource, KubeApiError, KubeClient
from springhead_apiserver.config import ApiServerSettings
from springhead_apiserver.mapping import event_id
from springhead_apiserver.rbac import rbac_manifests
from springhead_testinfra.kube import KubeCluster
from springhead_testinfra.process import wait_until
from springhead_testing import RecordingSink, SourceProcess
from springhead_testing.kube import custom_resource_definition

GROUP = "test.springhead.dev"
GADGETS = ApiResource(f"{GROUP}/v1", "Gadget", "gadgets", namespaced=True)
CONFIGMAPS = ApiResource("v1", "ConfigMap", "configmaps", namespaced=True)


def ids(sink: RecordingSink) -> list[str]:
    return [e.get_id() for e in sink.events]


def expect(obj: dict[str, Any], type_: str) -> str:
    return event_id(obj["metadata"]["uid"], obj["metadata"]["resourceVersion"], type_)


def data_of(event: Any) -> Any:
    data = event.get_data()
    return json.loads(data) if isinstance(data, bytes | str) else data


@pytest.fixture(scope="module")
def gadget_crd(kube: KubeCluster) -> Iterator[str]:
    """A namespaced CRD with a status subresource, created once and served."""
    client = KubeClient.from_kubeconfig(str(kube.kubeconfig))
    body = custom_resource_definition(GROUP, "Gadget")
    name = body["metadata"]["name"]
    try:
        client.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", body=body)
    except KubeApiError as exc:
        if exc.status != 409:
            raise

    def served() -> bool:
        try:
            client.discover(GADGETS.api_version, "Gadget")
            client.get(GADGETS.collection_path())
        except KubeApiError:
            return False
        return True

    wait_until(served, timeout=60, what=f"CRD {name} to be served")
    yield name
    client.close()


@pytest.mark.parametrize("mode", ["Reference", "Resource"])
async def test_custom_resources_in_both_modes(
    gadget_crd: str,
    sink: RecordingSink,
    namespace: str,
    objects: Any,
    source: Any,
    in_sync: Any,
    mode: str,
) -> None:
    gadgets = objects(GADGETS, namespace)
    resources = json.dumps([{"apiVersion": GADGETS.api_version, "kind": "Gadget"}])
    async with source(APISERVER_RESOURCES=resources, APISERVER_MODE=mode) as process:
        await in_sync(process)
        created = await gadgets.acreate("g1", {"spec": {"size": 1}})
        updated = await gadgets.apatch("g1", {"spec": {"size": 2}})
        status = await gadgets.apatch("g1", {"status": {"phase": "Ready"}}, "status")
        deleted = await gadgets.adelete("g1")
        await sink.wait_for(4)
    word = "ref" if mode == "Reference" else "resource"
    prefix = f"dev.knative.apiserver.{word}"
    assert ids(sink) == [
        expect(created, f"{prefix}.add"),
        expect(updated, f"{prefix}.update"),
        expect(status, f"{prefix}.update"),
        expect(deleted, f"{prefix}.delete"),
    ]
    first = sink.events[0]
    assert first.get_attributes()["subject"] == (
        f"/apis/{GROUP}/v1/namespaces/{namespace}/gadgets/g1"
    )
    assert first.get_attributes()["kind"] == "Gadget"
    assert first.get_attributes()["apiversion"] == f"{GROUP}/v1"
    if mode == "Resource":
        assert data_of(first) == created
        assert data_of(sink.events[2])["status"] == {"phase": "Ready"}
    else:
        assert data_of(first) == {
            "kind": "Gadget",
            "namespace": namespace,
            "name": "g1",
            "apiVersion": f"{GROUP}/v1",
        }


async def test_status_only_updates_can_be_dropped(
    gadget_crd: str, sink: RecordingSink, namespace: str, objects: Any, source: Any, in_sync: Any
) -> None:
    gadgets = objects(GADGETS, namespace)
    resources = json.dumps([{"apiVersion": GADGETS.api_version, "kind": "Gadget"}])
    env = {"APISERVER_RESOURCES": resources, "APISERVER_IGNORE_STATUS_UPDATES": "true"}
    async with source(**env) as process:
        await in_sync(process)
        created = await gadgets.acreate("g1", {"spec": {"size": 1}})
        await gadgets.apatch("g1", {"status": {"phase": "Ready"}}, "status")
        await gadgets.apatch("g1", {"status": {"phase": "Done"}}, "status")
        updated = await gadgets.apatch("g1", {"spec": {"size": 2}})
        await sink.wait_for(2)
    assert ids(sink) == [
        expect(created, "dev.knative.apiserver.ref.add"),
        expect(updated, "dev.knative.apiserver.ref.update"),
    ]


async def test_label_and_field_selectors(
    sink: RecordingSink,
    namespace: str,
    configmaps: Any,
    objects: Any,
    source: Any,
    in_sync: Any,
) -> None:
    resources = json.dumps(
        [
            # Knative's form: a LabelSelector object under "selector".
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "selector": {
                    "matchLabels": {"team": "a"},
                    "matchExpressions": [{"key": "tier", "operator": "In", "values": ["web"]}],
                },
            },
            {"apiVersion": "v1", "kind": "Secret", "fieldSelector": "metadata.name=chosen"},
        ]
    )
    secrets = ApiResource("v1", "Secret", "secrets", namespaced=True)
    async with source(APISERVER_RESOURCES=resources) as process:
        await in_sync(process)
        await configmaps.acreate("other-team", labels={"team": "b", "tier": "web"})
        await configmaps.acreate("other-tier", labels={"team": "a", "tier": "db"})
        matching = await configmaps.acreate("match", labels={"team": "a", "tier": "web"})
        secrets_writer = objects(secrets, namespace)
        await secrets_writer.acreate("ignored")
        chosen = await secrets_writer.acreate("chosen")
        left = await configmaps.apatch("match", {"metadata": {"labels": {"tier": "db"}}})
        await sink.wait_for(3)
    configmap_ids = [e.get_id() for e in sink.events if e.get_attributes()["kind"] == "ConfigMap"]
    secret_ids = [e.get_id() for e in sink.events if e.get_attributes()["kind"] == "Secret"]
    # Each watch keeps its order; the two watches are independent of each other.
    assert configmap_ids == [
        expect(matching, "dev.knative.apiserver.ref.add"),
        # Leaving the selection is a delete (Kubernetes watch semantics).
        event_id(
            left["metadata"]["uid"],
            matching["metadata"]["resourceVersion"],
            "dev.knative.apiserver.ref.delete",
        ),
    ]
    assert secret_ids == [expect(chosen, "dev.knative.apiserver.ref.add")]


async def test_listed_namespaces_only(
    sink: RecordingSink,
    namespace: str,
    objects: Any,
    new_namespace: Any,
    source: Any,
    in_sync: Any,
) -> None:
    second, unwatched = new_namespace(), new_namespace()
    env = {"APISERVER_NAMESPACES": f"{namespace},{second}"}
    async with source(**env) as process:
        await in_sync(process)
        await objects(CONFIGMAPS, unwatched).acreate("not-me")
        one = await objects(CONFIGMAPS, namespace).acreate("one")
        two = await objects(CONFIGMAPS, second).acreate("two")
        await sink.wait_for(2)
    assert sorted(ids(sink)) == sorted(
        [expect(one, "dev.knative.apiserver.ref.add"), expect(two, "dev.knative.apiserver.ref.add")]
    )


async def test_namespace_selector_follows_labelling(
    admin: KubeClient,
    sink: RecordingSink,
    objects: Any,
    new_namespace: Any,
    source: Any,
    in_sync: Any,
) -> None:
    """One cluster-wide watch, filtered by namespace labels; namespaces labelled and
    unlabelled while running join and leave."""
    marker = uuid.uuid4().hex[:10]  # a label value unique to this test
    selected = new_namespace(watch=marker)
    later = new_namespace()
    other = new_namespace()
    env = {"APISERVER_NAMESPACE_SELECTOR": json.dumps({"matchLabels": {"watch": marker}})}
    async with source(**env) as process:
        await in_sync(process)
        await objects(CONFIGMAPS, other).acreate("never")
        first = await objects(CONFIGMAPS, selected).acreate("first")
        await sink.wait_for(1)
        await objects(CONFIGMAPS, later).acreate("before-label")
        await label_namespace(admin, later, marker)
        await process.wait_for_log("namespace selected")
        joined = await objects(CONFIGMAPS, later).acreate("after-label")
        await sink.wait_for(2)
        await label_namespace(admin, selected, None)
        await process.wait_for_log("namespace no longer selected")
        await objects(CONFIGMAPS, selected).acreate("after-unlabel")
        last = await objects(CONFIGMAPS, later).acreate("last")
        await sink.wait_for(3)
    assert ids(sink) == [
        expect(first, "dev.knative.apiserver.ref.add"),
        expect(joined, "dev.knative.apiserver.ref.add"),
        expect(last, "dev.knative.apiserver.ref.add"),
    ]


async def label_namespace(admin: KubeClient, name: str, value: str | None) -> None:
    await asyncio.to_thread(
        admin.request,
        "PATCH",
        f"/api/v1/namespaces/{name}",
        body={"metadata": {"labels": {"watch": value}}},
        content_type="application/merge-patch+json",
    )


async def test_cluster_scoped_namespaces_as_knative_names_them(
    sink: RecordingSink, new_namespace: Any, source: Any, in_sync: Any
) -> None:
    marker = uuid.uuid4().hex[:10]
    resources = json.dumps(
        [{"apiVersion": "v1", "kind": "Namespace", "labelSelector": f"mark={marker}"}]
    )
    async with source(APISERVER_RESOURCES=resources) as process:
        await in_sync(process)
        name = new_namespace(mark=marker)
        await sink.wait_for(1)
    event = sink.events[0]
    assert event.get_attributes()["subject"] == f"/apis/v1/namespaces//namespaces/{name}"
    assert event.get_attributes()["namespace"] == ""
    assert data_of(event) == {"kind": "Namespace", "name": name, "apiVersion": "v1"}


async def test_owner_filter_keeps_objects_whose_controller_matches(
    sink: RecordingSink, configmaps: Any, source: Any, in_sync: Any
) -> None:
    def owner(kind: str, controller: bool = True) -> list[dict[str, Any]]:
        return [
            {
                "apiVersion": "apps/v1",
                "kind": kind,
                "name": "web",
                "uid": "00000000-0000-0000-0000-000000000001",
                "controller": controller,
            }
        ]

    env = {"APISERVER_OWNER": json.dumps({"apiVersion": "apps/v1", "kind": "Deployment"})}
    async with source(**env) as process:
        await in_sync(process)
        await configmaps.acreate("orphan")
        await configmaps.acreate("by-replicaset", ownerReferences=owner("ReplicaSet"))
        await configmaps.acreate("not-controller", ownerReferences=owner("Deployment", False))
        owned = await configmaps.acreate("owned", ownerReferences=owner("Deployment"))
        await configmaps.apatch("orphan", {"data": {"x": "1"}})
        changed = await configmaps.apatch("owned", {"data": {"x": "1"}})
        await sink.wait_for(2)
    assert ids(sink) == [
        expect(owned, "dev.knative.apiserver.ref.add"),
        expect(changed, "dev.knative.apiserver.ref.update"),
    ]


async def readiness(process: SourceProcess) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{process.port}/readyz") as response,
    ):
        return response.status


async def test_missing_permission_fails_readiness_until_granted(
    admin: KubeClient,
    sink: RecordingSink,
    namespace: str,
    configmaps: Any,
    source: Any,
    source_env: Any,
    restricted_kubeconfig: Any,
) -> None:
    """A ServiceAccount without rights: not ready, and the log names verb and resource. Once
    the RBAC derived from the same settings is applied, the source becomes ready and works."""

    kubeconfig = restricted_kubeconfig("watcher")
    await configmaps.acreate("watcher-state")  # the chart creates it; create is not granted
    env = {"APISERVER_KUBECONFIG": str(kubeconfig), "APISERVER_STATE_CONFIGMAP": "watcher-state"}
    async with source(**env) as process:
        denied = await process.wait_for_log(
            f"permission denied: cannot get ConfigMap {namespace}/watcher-state (the saved state)"
        )
        assert denied["status"] == 403
        assert await readiness(process) == 503
        # Grant exactly what the RBAC helper derives from these settings.
        settings = load_settings(ApiServerSettings, source_env(**env))
        for manifest in rbac_manifests(settings, name="watcher", service_account="watcher"):
            await asyncio.to_thread(apply, admin, manifest)
        await process.wait_for_log("all watches in sync")
        created = await configmaps.acreate("after-grant")
        await sink.wait_for(1)
        assert await readiness(process) == 200
    assert ids(sink) == [expect(created, "dev.knative.apiserver.ref.add")]


async def test_forbidden_list_names_the_verb_and_resource(
    sink: RecordingSink, namespace: str, source: Any, restricted_kubeconfig: Any
) -> None:
    kubeconfig = restricted_kubeconfig("nobody")
    async with source(APISERVER_KUBECONFIG=str(kubeconfig)) as process:
        entry = await process.wait_for_log(
            f'permission denied: cannot list configmaps (v1) in namespace "{namespace}"'
        )
        assert await readiness(process) == 503
    assert (entry["verb"], entry["resource"], entry["namespace"]) == (
        "list",
        "configmaps",
        namespace,
    )
    assert "forbidden" in entry["detail"]
    assert not sink.requests


def apply(admin: KubeClient, manifest: dict[str, Any]) -> None:
    plural = {
        "Role": "roles",
        "RoleBinding": "rolebindings",
        "ClusterRole": "clusterroles",
        "ClusterRoleBinding": "clusterrolebindings",
    }[manifest["kind"]]
    namespace = manifest["metadata"].get("namespace")
    base = "/apis/rbac.authorization.k8s.io/v1"
    path = f"{base}/namespaces/{namespace}/{plural}" if namespace else f"{base}/{plural}"
    admin.request("POST", path, body=manifest)
