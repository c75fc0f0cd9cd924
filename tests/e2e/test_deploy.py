"""End to end: the controller chart and a source chart installed with Helm into the real
kube-apiserver; the controller (started from its Deployment's env) injects K_SINK and
K_CE_OVERRIDES into the source's Deployment through the chart's SinkBinding; the source, started
locally with exactly that container's env, delivers events to the loopback sink.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from springhead_testing import RecordingSink, SourceProcess
from springhead_testing.kube import Cluster, token_kubeconfig

if TYPE_CHECKING:
    from conftest import Deployer

#: What a Pod would get from its node rather than from its spec: a free port on loopback.
LOCAL_ENV = {"SPRINGHEAD_PORT": "0", "SPRINGHEAD_HOST": "127.0.0.1"}

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
async def controller(deployer: Deployer, tmp_path: Path) -> AsyncIterator[SourceProcess]:
    """The controller chart installed, and its Deployment's container running locally as the
    chart's ServiceAccount (so the chart's RBAC is what it has)."""
    namespace = await deployer.cluster.new_namespace("springhead-system")
    release = f"ctl-{uuid.uuid4().hex[:6]}"
    deployer.install("controller", release, namespace, {})
    deployment = await deployer.deployment(namespace, release)
    assert deployment["spec"]["replicas"] == 2
    env = await deployer.container_env(deployment)
    assert env["NAMESPACE"] == namespace
    account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    cluster = deployer.cluster
    kubeconfig = await cluster.call(token_kubeconfig, cluster.client, namespace, account, tmp_path)
    env.update(LOCAL_ENV, CONTROLLER_KUBECONFIG=str(kubeconfig))
    async with SourceProcess("springhead_controller", env) as process:
        yield process
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
    deployer: Deployer, sink: RecordingSink
) -> None:
    deployment, env = await deploy_bound_source(
        deployer, sink, "ping", ping={"schedule": "* * * * * *", "data": '{"from": "e2e"}'}
    )
    assert env["PING_SCHEDULE"] == "* * * * * *"
    async with SourceProcess("springhead_ping", {**env, **LOCAL_ENV}):
        received = await sink.wait_for(1)
    event = received[0].event
    assert event.get_type() == "dev.knative.sources.ping"
    assert event.get_extension("e2e") == "yes"
    assert received[0].body == b'{"from": "e2e"}'
    assert received[0].header("Kn-Namespace") == deployment["metadata"]["namespace"]


@pytest.mark.usefixtures("controller")
async def test_http_chart_bound_by_the_controller_delivers(
    deployer: Deployer, sink: RecordingSink
) -> None:
    _, env = await deploy_bound_source(deployer, sink, "http", webhook={"path": "/hooks/e2e"})
    assert env["WEBHOOK_PATH"] == "/hooks/e2e"
    async with SourceProcess("springhead_http", {**env, **LOCAL_ENV}) as source:
        url = f"http://127.0.0.1:{source.port}/hooks/e2e"
        async with aiohttp.ClientSession() as session:
            async with session.post(
                url, data=b"hello", headers={"Content-Type": "text/plain"}
            ) as response:
                assert response.status == 202, await response.text()
        received = await sink.wait_for(1)
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
    deployer: Deployer, cluster: Cluster, sink: RecordingSink, tmp_path: Path
) -> None:
    deployment, env = await deploy_bound_source(
        deployer,
        sink,
        "apiserver",
        apiserver={"resources": [{"apiVersion": "v1", "kind": "ConfigMap"}], "mode": "Reference"},
    )
    namespace = deployment["metadata"]["namespace"]
    account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    # The Pod would act as the chart's ServiceAccount, holding only the chart's Role.
    kubeconfig = await cluster.call(token_kubeconfig, cluster.client, namespace, account, tmp_path)
    env.update(LOCAL_ENV, APISERVER_KUBECONFIG=str(kubeconfig))
    async with SourceProcess("springhead_apiserver", env) as source:
        # Created before the first list, it would count as existing (not emitted, as Knative).
        await source.wait_for_log("all watches in sync", timeout=60)
        await cluster.create(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "watched"}}, namespace
        )
        received = await sink.wait_for(1)
    event = received[0].event
    assert event.get_type() == "dev.knative.apiserver.ref.add"
    assert event.get_subject() == f"/apis/v1/namespaces/{namespace}/configmaps/watched"
    assert event.get_extension("e2e") == "yes"
