"""End to end: the controller chart and a source chart installed with Helm into the real
kube-apiserver; the controller (its image run with podman from its Deployment's pod spec) injects
K_SINK and K_CE_OVERRIDES into the source's Deployment through the chart's SinkBinding; the
source's image, run from exactly that pod spec (env, user, read-only root, capabilities,
resources, volumes, probes), delivers events to the loopback sink, and `podman stop` drains it.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from springhead_testinfra.pods import PodmanPod
from springhead_testing import RecordingSink
from springhead_testing.kube import Cluster

if TYPE_CHECKING:
    from conftest import Deployer, Pods

OVERRIDES = {"e2e": "yes"}


def bound_values(sink: RecordingSink, **settings: Any) -> dict[str, Any]:
    """A source chart's values: a SinkBinding to ``sink`` with ce overrides."""
    return {
        "sink": {"uri": sink.url},
        "sinkBinding": {"enabled": True},
        "ceOverrides": {"extensions": OVERRIDES},
        **settings,
    }


@pytest.fixture
async def controller(deployer: Deployer, pods: Pods) -> AsyncIterator[PodmanPod]:
    """The controller chart installed, and one replica of its Deployment running from the
    controller's image as the chart's ServiceAccount (so the chart's RBAC is what it has)."""
    namespace = await deployer.cluster.new_namespace("springhead-system")
    release = f"ctl-{uuid.uuid4().hex[:6]}"
    deployer.install("controller", release, namespace, {})
    deployment = await deployer.deployment(namespace, release)
    assert deployment["spec"]["replicas"] == 2
    env = await deployer.container_env(deployment)
    assert env["NAMESPACE"] == namespace
    pod = await pods.start(deployment, env, kubeconfig_variable="CONTROLLER_KUBECONFIG")
    yield pod
    await pods.stop(pod)
    deployer.helm.run("uninstall", release, "--namespace", namespace)


async def injected_env(
    deployer: Deployer, namespace: str, release: str
) -> tuple[dict[str, Any], dict[str, str]]:
    """Wait until the controller injected K_SINK into the release's Deployment; the Deployment
    and its container's env then."""

    async def bound() -> dict[str, Any] | None:
        deployment = await deployer.deployment(namespace, release)
        names = {e["name"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
        return deployment if "K_SINK" in names else None

    deployment = await deployer.cluster.eventually(bound, f"K_SINK injected into {release}")
    return deployment, await deployer.container_env(deployment)


async def deploy_bound_source(
    deployer: Deployer, sink: RecordingSink, chart: str, **settings: Any
) -> tuple[dict[str, Any], dict[str, str]]:
    """Install ``chart`` bound to ``sink`` in a new namespace; wait for the injection; the
    Deployment and its container's env."""
    namespace = await deployer.cluster.new_namespace(chart)
    release = f"{chart}-{uuid.uuid4().hex[:6]}"
    deployer.install(chart, release, namespace, bound_values(sink, **settings))
    deployment, env = await injected_env(deployer, namespace, release)
    assert env["K_SINK"] == sink.url
    assert json.loads(env["K_CE_OVERRIDES"]) == {"extensions": OVERRIDES}
    return deployment, env


@pytest.mark.usefixtures("controller")
async def test_ping_chart_bound_by_the_controller_delivers(
    deployer: Deployer, pods: Pods, sink: RecordingSink
) -> None:
    deployment, env = await deploy_bound_source(
        deployer, sink, "ping", ping={"schedule": "* * * * * *", "data": '{"from": "e2e"}'}
    )
    assert env["PING_SCHEDULE"] == "* * * * * *"
    pod = await pods.start(deployment, env)
    received = await sink.wait_for(1)
    assert pod.passes("livenessProbe")
    # The pod spec's restrictions are the container's (resources: the chart's memory limit).
    host = pod.container.inspect()["HostConfig"]
    assert host["ReadonlyRootfs"] is True
    assert host["Memory"] == 128 * 2**20
    assert "no-new-privileges" in host["SecurityOpt"]
    assert "CAP_NET_RAW" in host["CapDrop"] and not host["CapAdd"]
    await pods.stop(pod)
    event = received[0].event
    assert event.get_type() == "dev.knative.sources.ping"
    assert event.get_extension("e2e") == "yes"
    assert received[0].body == b'{"from": "e2e"}'
    assert received[0].header("Kn-Namespace") == deployment["metadata"]["namespace"]


@pytest.mark.usefixtures("controller")
async def test_http_chart_bound_by_the_controller_delivers(
    deployer: Deployer, pods: Pods, sink: RecordingSink
) -> None:
    deployment, env = await deploy_bound_source(
        deployer, sink, "http", webhook={"path": "/hooks/e2e"}
    )
    assert env["WEBHOOK_PATH"] == "/hooks/e2e"
    pod = await pods.start(deployment, env)
    url = f"http://127.0.0.1:{pod.port}/hooks/e2e"
    async with aiohttp.ClientSession() as session:
        async with session.post(
            url, data=b"hello", headers={"Content-Type": "text/plain"}
        ) as response:
            assert response.status == 202, await response.text()
    received = await sink.wait_for(1)
    await pods.stop(pod)
    assert received[0].body == b"hello"
    assert received[0].event.get_extension("e2e") == "yes"


@pytest.mark.usefixtures("controller")
async def test_a_binding_to_a_service_injects_its_cluster_local_url(
    deployer: Deployer, cluster: Cluster, sink: RecordingSink
) -> None:
    namespace = await cluster.new_namespace("svc")
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "event-display"},
        "spec": {"ports": [{"port": 80, "targetPort": 8080}], "selector": {"app": "display"}},
    }
    await cluster.create(service, namespace)
    release = f"http-{uuid.uuid4().hex[:6]}"
    values = {
        "sink": {"ref": {"apiVersion": "v1", "kind": "Service", "name": "event-display"}},
        "sinkBinding": {"enabled": True},
    }
    deployer.install("http", release, namespace, values)
    _, env = await injected_env(deployer, namespace, release)
    assert env["K_SINK"] == f"http://event-display.{namespace}.svc.cluster.local"


@pytest.mark.usefixtures("controller")
async def test_apiserver_chart_bound_by_the_controller_delivers_with_the_charts_rbac(
    deployer: Deployer, pods: Pods, cluster: Cluster, sink: RecordingSink
) -> None:
    deployment, env = await deploy_bound_source(
        deployer,
        sink,
        "apiserver",
        apiserver={"resources": [{"apiVersion": "v1", "kind": "ConfigMap"}], "mode": "Reference"},
    )
    namespace = deployment["metadata"]["namespace"]
    # The Pod acts as the chart's ServiceAccount, holding only the chart's Role.
    pod = await pods.start(deployment, env, kubeconfig_variable="APISERVER_KUBECONFIG")
    # Created before the first list, it would count as existing (not emitted, as Knative).
    await asyncio.to_thread(pod.container.wait_for_log, "all watches in sync", timeout=60)
    await cluster.create(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "watched"}}, namespace
    )
    received = await sink.wait_for(1)
    await pods.stop(pod)
    event = received[0].event
    assert event.get_type() == "dev.knative.apiserver.ref.add"
    assert event.get_subject() == f"/apis/v1/namespaces/{namespace}/configmaps/watched"
    assert event.get_extension("e2e") == "yes"
