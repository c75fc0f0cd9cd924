"""The real kube-apiserver on etcd: CRDs, custom objects, Deployments, watches, 410, restarts."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import urllib3
from kubernetes import client, watch
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from springhead_testinfra.kube import KubeCluster
from springhead_testinfra.process import wait_until

GROUP = "smoke.springhead.dev"
PLURAL = "widgets"


@pytest.fixture
def api(kube: KubeCluster) -> Iterator[ApiClient]:
    with kube.api_client() as api_client:
        yield api_client


@pytest.fixture
def namespace(api: ApiClient) -> str:
    name = f"smoke-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(api).create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=name))
    )
    return name


@pytest.fixture(scope="module")
def widget_crd(kube: KubeCluster) -> str:
    """Create (once) a namespaced CRD ``widgets.smoke.springhead.dev`` and wait until served."""
    with kube.api_client() as api:
        extensions = client.ApiextensionsV1Api(api)
        name = f"{PLURAL}.{GROUP}"
        body = {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": name},
            "spec": {
                "group": GROUP,
                "scope": "Namespaced",
                "names": {"plural": PLURAL, "singular": "widget", "kind": "Widget"},
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "schema": {
                            "openAPIV3Schema": {
                                "type": "object",
                                "properties": {
                                    "spec": {
                                        "type": "object",
                                        "properties": {"size": {"type": "integer"}},
                                    }
                                },
                            }
                        },
                    }
                ],
            },
        }
        try:
            extensions.create_custom_resource_definition(body)
        except ApiException as exc:
            if exc.status != 409:
                raise

        def established() -> bool:
            crd = extensions.read_custom_resource_definition(name)
            conditions = crd.status.conditions or []
            return any(c.type == "Established" and c.status == "True" for c in conditions)

        wait_until(established, timeout=60, what=f"CRD {name} to be established")
        objects = client.CustomObjectsApi(api)
        wait_until(
            lambda: objects.list_cluster_custom_object(GROUP, "v1", PLURAL) is not None,
            timeout=60,
            what=f"{name} to be served",
        )
    return name


def _deployment(name: str, replicas: int = 1) -> client.V1Deployment:
    labels = {"app": name}
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1DeploymentSpec(
            replicas=replicas,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(
                    containers=[client.V1Container(name="app", image="registry.invalid/app:1")]
                ),
            ),
        ),
    )


def _watch(
    list_call: Callable[..., Any], *args: Any, resource_version: str, count: int
) -> list[tuple[str, str]]:
    """Watch from ``resource_version`` until ``count`` events arrived; return (type, name)."""
    events: list[tuple[str, str]] = []
    stream = watch.Watch()
    for event in stream.stream(
        list_call, *args, resource_version=resource_version, timeout_seconds=30
    ):
        obj = event["object"]
        name = obj["metadata"]["name"] if isinstance(obj, dict) else obj.metadata.name
        events.append((event["type"], name))
        if len(events) >= count:
            stream.stop()
    return events


def test_version_is_the_pinned_release(kube: KubeCluster, api: ApiClient) -> None:
    info = client.VersionApi(api).get_code()
    assert info.git_version == kube.version
    assert info.major == "1"


def test_custom_objects_and_deployments_are_stored_and_watched(
    api: ApiClient, namespace: str, widget_crd: str
) -> None:
    objects = client.CustomObjectsApi(api)
    apps = client.AppsV1Api(api)
    widgets_rv = objects.list_namespaced_custom_object(GROUP, "v1", namespace, PLURAL)["metadata"][
        "resourceVersion"
    ]
    deployments_rv = apps.list_namespaced_deployment(namespace).metadata.resource_version

    widget = {
        "apiVersion": f"{GROUP}/v1",
        "kind": "Widget",
        "metadata": {"name": "w1"},
        "spec": {"size": 3},
    }
    objects.create_namespaced_custom_object(GROUP, "v1", namespace, PLURAL, widget)
    objects.patch_namespaced_custom_object(
        GROUP, "v1", namespace, PLURAL, "w1", {"spec": {"size": 4}}
    )
    apps.create_namespaced_deployment(namespace, _deployment("web"))
    apps.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 2}})

    assert _watch(
        objects.list_namespaced_custom_object,
        GROUP,
        "v1",
        namespace,
        PLURAL,
        resource_version=widgets_rv,
        count=2,
    ) == [("ADDED", "w1"), ("MODIFIED", "w1")]
    assert _watch(
        apps.list_namespaced_deployment, namespace, resource_version=deployments_rv, count=2
    ) == [("ADDED", "web"), ("MODIFIED", "web")]
    stored = apps.read_namespaced_deployment("web", namespace)
    assert stored.spec.replicas == 2
    # No controller-manager runs: the Deployment never gets Pods.
    assert not client.CoreV1Api(api).list_namespaced_pod(namespace).items


def test_watch_from_a_compacted_resource_version_gets_410(
    kube: KubeCluster, api: ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(api)
    created = core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="cm"), data={"n": "0"})
    )
    old_rv = created.metadata.resource_version
    for n in range(1, 4):
        core.patch_namespaced_config_map("cm", namespace, {"data": {"n": str(n)}})

    compacted = kube.compact()
    assert compacted > int(old_rv)

    with pytest.raises(ApiException) as watched:
        _watch(core.list_namespaced_config_map, namespace, resource_version=old_rv, count=1)
    assert watched.value.status == 410
    with pytest.raises(ApiException) as listed:
        core.list_namespaced_config_map(
            namespace, resource_version=old_rv, resource_version_match="Exact"
        )
    assert listed.value.status == 410

    # A watch from a current resourceVersion works as usual.
    current_rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    core.patch_namespaced_config_map("cm", namespace, {"data": {"n": "after"}})
    assert _watch(
        core.list_namespaced_config_map, namespace, resource_version=current_rv, count=1
    ) == [("MODIFIED", "cm")]


def test_apiserver_stop_and_restart_keeps_the_data(
    kube: KubeCluster, api: ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="kept"), data={"k": "v"})
    )
    url, token = kube.api_url, kube.token

    kube.stop_apiserver()
    assert not kube.apiserver_running and kube.etcd_running
    with kube.api_client() as down:
        down.configuration.retries = 0
        with pytest.raises(urllib3.exceptions.HTTPError):
            client.CoreV1Api(down).read_namespace(namespace, _request_timeout=5)

    kube.start_apiserver()
    assert (kube.api_url, kube.token) == (url, token)
    assert core.read_namespaced_config_map("kept", namespace).data == {"k": "v"}
