"""ApiServerSource against the real kube-apiserver: the controller makes a ServiceAccount with
exactly the least RBAC the spec needs (or checks the user's account), a Deployment of the
apiserver source, and Knative's status; the Deployment's container, started as a process with
exactly the environment the controller gave it and acting as that ServiceAccount, delivers events
to a loopback sink and is denied anything outside ``spec.resources``; deleting the source removes
everything.

No kube-controller-manager runs here (testinfra's apiserver runs alone): Deployments get no pods
and no ``Available`` condition, and nothing garbage-collects. The tests report a Deployment
Available themselves (``Cluster.make_available``) and rely on the controller's finalizer for
deletion, and they run the pod's container as a local process.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from springhead.config import load_settings
from springhead.kube import KubeApiError, KubeClient
from springhead_apiserver.config import WatchSettings
from springhead_apiserver.rbac import derive_rbac
from springhead_controller.apiserversources import (
    FINALIZER,
    adapter_name,
    cluster_rbac_name,
)
from springhead_testing.kube import custom_resource_definition, token_kubeconfig
from springhead_testing.process import SourceProcess
from springhead_testing.sink import RecordingSink

if TYPE_CHECKING:
    from conftest import Cluster
    from springhead_controller.controller import Controller

SOURCES = "sources.knative.dev/v1"
KIND = "ApiServerSource"
IMAGE = "registry.example/springhead-apiserver:test"
DATA = Path(__file__).parent / "data" / "knative-docs"
RBAC = "rbac.authorization.k8s.io/v1"


@pytest.fixture
async def controller(start_controller: Any) -> AsyncIterator[Controller]:
    async with start_controller(CONTROLLER_APISERVER_IMAGE=IMAGE) as started:
        yield started


@pytest.fixture
async def sink() -> AsyncIterator[RecordingSink]:
    async with RecordingSink() as recording:
        yield recording


def api_server_source(name: str, sink: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": SOURCES,
        "kind": KIND,
        "metadata": {"name": name},
        "spec": {
            "resources": [{"apiVersion": "v1", "kind": "ConfigMap"}],
            "sink": {"uri": sink},
            **spec,
        },
    }


async def adapter_deployment(cluster: Cluster, source: Mapping[str, Any]) -> dict[str, Any]:
    namespace = source["metadata"]["namespace"]

    async def found() -> dict[str, Any] | None:
        return await cluster.get("apps/v1", "Deployment", namespace, adapter_name(source))

    return await cluster.eventually(found, f"the Deployment of {source['metadata']['name']}")


async def run_adapter(
    cluster: Cluster, deployment: Mapping[str, Any], workdir: Path
) -> SourceProcess:
    """Start the Deployment's container as ``python -m springhead_apiserver`` with exactly its
    environment, acting as its ServiceAccount (where the kubelet would mount its token)."""
    env = await cluster.container_env(deployment)
    pod = deployment["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == IMAGE
    namespace = deployment["metadata"]["namespace"]
    kubeconfig = await cluster.call(
        token_kubeconfig, cluster.client, namespace, pod["serviceAccountName"], workdir
    )
    node = {"SPRINGHEAD_PORT": "0", "SPRINGHEAD_HOST": "127.0.0.1"}
    process = SourceProcess(
        "springhead_apiserver", {**env, **node, "APISERVER_KUBECONFIG": str(kubeconfig)}
    )
    await process.start()
    await process.wait_for_log("all watches in sync", timeout=60)
    return process


def client_as(kubeconfig: Path) -> KubeClient:
    return KubeClient.from_kubeconfig(str(kubeconfig))


async def denied(client: KubeClient, path: str) -> bool:
    try:
        await asyncio.to_thread(client.get, path)
    except KubeApiError as exc:
        return exc.status == 403
    return False


@pytest.mark.usefixtures("controller")
async def test_the_troubleshooting_example_of_knative_docs_applies_and_delivers(
    cluster: Cluster, sink: RecordingSink, tmp_path: Path
) -> None:
    # Knative's messaging kinds are not installed: minimal CRDs stand in for them, and the test
    # writes the InMemoryChannel's address (the loopback sink) as its controller would.
    for kind in ("InMemoryChannel", "Subscription"):
        await cluster.ensure_crd(custom_resource_definition("messaging.knative.dev", kind))
    documents = [d for d in yaml.safe_load_all((DATA / "troubleshooting-example.yaml").read_text())]
    for document in documents:
        if document:
            await cluster.create(document, document["metadata"].get("namespace"))
    namespace = "knative-debug"
    await cluster.wait_condition(KIND, namespace, "src", "SinkProvided", "False", "NoAddressable")
    await cluster.publish_address(
        "messaging.knative.dev/v1", "InMemoryChannel", namespace, "chan", sink.url
    )
    await cluster.wait_condition(KIND, namespace, "src", "SufficientPermissions", "True")
    source = await cluster.get(SOURCES, KIND, namespace, "src")
    assert source is not None
    deployment = await adapter_deployment(cluster, source)
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "service-account"
    await cluster.wait_condition(KIND, namespace, "src", "Deployed", "Unknown")
    await cluster.make_available(deployment)
    await cluster.wait_condition(KIND, namespace, "src", "Ready", "True")
    source = await cluster.get(SOURCES, KIND, namespace, "src")
    assert source is not None
    status = source["status"]
    assert status["sinkUri"] == sink.url
    assert status["namespaces"] == [namespace]
    assert {a["type"] for a in status["ceAttributes"]} == {
        f"dev.knative.apiserver.resource.{action}" for action in ("add", "update", "delete")
    }
    # The user's account is used: nothing was made for it.
    assert await cluster.get("v1", "ServiceAccount", namespace, adapter_name(source)) is None

    process = await run_adapter(cluster, deployment, tmp_path)
    async with process:
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "debug-event"},
            "involvedObject": {"kind": "Pod", "name": "fn", "namespace": namespace},
            "reason": "Testing",
            "message": "seen by the ApiServerSource",
        }
        await cluster.create(event, namespace)
        [received] = await sink.wait_for(1)
    assert received.event.get_type() == "dev.knative.apiserver.resource.add"
    assert received.event.get_subject() == f"/apis/v1/namespaces/{namespace}/events/debug-event"
    assert json.loads(received.body)["message"] == "seen by the ApiServerSource"


@pytest.mark.usefixtures("controller")
async def test_the_created_account_holds_exactly_the_derived_rbac_and_is_denied_the_rest(
    cluster: Cluster, namespace: str, sink: RecordingSink, tmp_path: Path
) -> None:
    overrides = {"extensions": {"origin": "objects"}}
    created = await cluster.create(
        api_server_source("watch-configmaps", sink.url, ceOverrides=overrides), namespace
    )
    deployment = await adapter_deployment(cluster, created)
    name = adapter_name(created)
    account = await cluster.get("v1", "ServiceAccount", namespace, name)
    assert account is not None
    assert account["metadata"]["ownerReferences"][0]["uid"] == created["metadata"]["uid"]
    expected = derive_rbac(
        load_settings(
            WatchSettings,
            {
                "NAMESPACE": namespace,
                "APISERVER_RESOURCES": '[{"apiVersion": "v1", "kind": "ConfigMap"}]',
            },
        )
    )
    role = await cluster.get(RBAC, "Role", namespace, name)
    assert role is not None
    assert role["rules"] == [rule.to_dict() for rule in expected.namespaced[namespace]]
    binding = await cluster.get(RBAC, "RoleBinding", namespace, name)
    assert binding is not None
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]
    assert await cluster.get(RBAC, "ClusterRole", None, cluster_rbac_name(created)) is None

    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == name
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["K_SINK"]["value"] == sink.url
    assert env["K_CE_OVERRIDES"]["value"] == '{"extensions":{"origin":"objects"}}'
    assert env["NAME"]["value"] == "watch-configmaps"
    assert env["NAMESPACE"]["valueFrom"] == {
        "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}
    }
    await cluster.make_available(deployment)
    await cluster.wait_condition(KIND, namespace, "watch-configmaps", "Ready", "True")

    process = await run_adapter(cluster, deployment, tmp_path)
    async with process:
        await cluster.create(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "watched"}}, namespace
        )
        [received] = await sink.wait_for(1)
    event = received.event
    assert event.get_type() == "dev.knative.apiserver.ref.add"
    assert event.get_subject() == f"/apis/v1/namespaces/{namespace}/configmaps/watched"
    assert event.get_extension("origin") == "objects"

    # The account may do nothing outside spec.resources and its namespace.
    as_source = client_as(
        await cluster.call(token_kubeconfig, cluster.client, namespace, name, tmp_path)
    )
    try:
        assert await asyncio.to_thread(as_source.get, f"/api/v1/namespaces/{namespace}/configmaps")
        assert await denied(as_source, f"/api/v1/namespaces/{namespace}/secrets")
        assert await denied(as_source, f"/api/v1/namespaces/{namespace}/pods")
        assert await denied(as_source, "/api/v1/namespaces/default/configmaps")
        assert await denied(as_source, "/api/v1/configmaps")
    finally:
        as_source.close()


@pytest.mark.usefixtures("controller")
async def test_a_namespace_selector_gets_a_cluster_role_and_deleting_removes_everything(
    cluster: Cluster, sink: RecordingSink
) -> None:
    namespace = await cluster.new_namespace(team="blue")
    other = await cluster.new_namespace(team="blue")
    created = await cluster.create(
        api_server_source(
            "cluster-wide", sink.url, namespaceSelector={"matchLabels": {"team": "blue"}}
        ),
        namespace,
    )
    deployment = await adapter_deployment(cluster, created)
    cluster_name = cluster_rbac_name(created)

    async def cluster_role() -> dict[str, Any] | None:
        return await cluster.get(RBAC, "ClusterRole", None, cluster_name)

    role = await cluster.eventually(cluster_role, "the ClusterRole")
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]},
    ]
    binding = await cluster.get(RBAC, "ClusterRoleBinding", None, cluster_name)
    assert binding is not None
    assert await cluster.get(RBAC, "Role", namespace, adapter_name(created)) is None
    await cluster.make_available(deployment)
    await cluster.wait_condition(KIND, namespace, "cluster-wide", "Ready", "True")
    source = await cluster.get(SOURCES, KIND, namespace, "cluster-wide")
    assert source is not None
    assert sorted([namespace, other]) == [
        n for n in source["status"]["namespaces"] if n in (namespace, other)
    ]
    assert source["metadata"]["finalizers"] == [FINALIZER]
    # A namespace labelled later is reported as soon as it appears (its watch event).
    later = await cluster.new_namespace(team="blue")

    async def reported() -> bool:
        found = await cluster.get(SOURCES, KIND, namespace, "cluster-wide")
        return later in ((found or {}).get("status") or {}).get("namespaces", [])

    await cluster.eventually(reported, "the new namespace in status.namespaces")

    await cluster.delete(SOURCES, KIND, namespace, "cluster-wide")
    name = adapter_name(created)

    async def all_gone() -> bool:
        left = [
            await cluster.get(SOURCES, KIND, namespace, "cluster-wide"),
            await cluster.get("apps/v1", "Deployment", namespace, name),
            await cluster.get("v1", "ServiceAccount", namespace, name),
            await cluster.get(RBAC, "ClusterRole", None, cluster_name),
            await cluster.get(RBAC, "ClusterRoleBinding", None, cluster_name),
        ]
        return all(obj is None for obj in left)

    await cluster.eventually(all_gone, "the source and everything it made to be gone")


@pytest.mark.usefixtures("controller")
async def test_a_given_account_without_the_permissions_is_reported_and_not_deployed(
    cluster: Cluster, namespace: str, sink: RecordingSink
) -> None:
    await cluster.create(
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "powerless"}},
        namespace,
    )
    created = await cluster.create(
        api_server_source("unprivileged", sink.url, serviceAccountName="powerless"), namespace
    )
    condition = await cluster.wait_condition(
        KIND, namespace, "unprivileged", "SufficientPermissions", "False", "InsufficientPermissions"
    )
    assert condition["message"] == (
        'ServiceAccount "powerless" may not get configmaps.core in '
        f"{namespace}; list configmaps.core in {namespace}; watch configmaps.core in {namespace}"
    )
    await cluster.wait_condition(KIND, namespace, "unprivileged", "Ready", "False")
    assert await cluster.get("apps/v1", "Deployment", namespace, adapter_name(created)) is None


@pytest.mark.usefixtures("controller")
@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"resources": [{"kind": "ConfigMap"}]},
            "spec.resources[0].apiVersion: required",
        ),
        ({"mode": "Everything"}, "spec.mode: Input should be 'Reference' or 'Resource'"),
        (
            {"namespaceSelector": {"matchExpressions": [{"key": "team", "operator": "Near"}]}},
            "spec.namespaceSelector: operator 'Near' on 'team': expected In, NotIn, Exists or "
            "DoesNotExist",
        ),
        (
            {"ceOverrides": {"extensions": {"Bad-Name": "x"}}},
            None,
        ),
    ],
)
async def test_a_bad_spec_is_reported_with_a_clear_reason(
    cluster: Cluster, namespace: str, spec: dict[str, Any], message: str | None
) -> None:
    await cluster.create(api_server_source("bad", "http://sink.example/", **spec), namespace)
    condition = await cluster.wait_condition(KIND, namespace, "bad", "Deployed", "False")
    if message is not None:
        assert condition["reason"] == "InvalidSpec"
        assert condition["message"] == message
    else:
        assert condition["reason"] == "InvalidOverrides"
        assert "Bad-Name" in condition["message"]
    ready = await cluster.condition(KIND, namespace, "bad", "Ready")
    assert ready is not None and ready["status"] == "False"
