"""End to end: the display chart installed with Helm into the real kube-apiserver is a sink a
source can be pointed at (its Service selects its pods and forwards port 80 to the container's
http port), and the display's image, run from the chart's pod spec, shows the events that the ping
source's image, installed from its own chart with ``sink.uri`` at that Service, sends it.

As in test_deploy.py no kubelet runs: each Deployment's container runs as a podman container of
its image from its pod spec (conftest's ``pods``); the ping source's cluster-local sink address
becomes the display's address on the node (no cluster DNS here).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING

from springhead_testing.display import first_streamed_event
from springhead_testing.kube import Cluster

if TYPE_CHECKING:
    from conftest import Deployer, Pods


async def test_display_chart_is_a_sink_a_source_chart_delivers_to(
    deployer: Deployer, cluster: Cluster, pods: Pods
) -> None:
    namespace = await cluster.new_namespace("display")
    display_release = f"display-{uuid.uuid4().hex[:6]}"
    deployer.install("display", display_release, namespace, {})
    deployment = await deployer.deployment(namespace, display_release)
    service = await cluster.get("v1", "Service", namespace, display_release)
    assert service is not None, "the display chart made no Service"
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    [port] = service["spec"]["ports"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert port["port"] == 80
    assert port["targetPort"] in [p["name"] for p in container["ports"]]

    ping_release = f"ping-{uuid.uuid4().hex[:6]}"
    cluster_url = f"http://{display_release}.{namespace}.svc.cluster.local/"
    deployer.install(
        "ping",
        ping_release,
        namespace,
        {
            "sink": {"uri": cluster_url},
            "ping": {
                "schedule": "* * * * * *",
                "contentType": "application/json",
                "data": '{"n": 1}',
            },
        },
    )
    ping_deployment = await deployer.deployment(namespace, ping_release)
    ping_env = await deployer.container_env(ping_deployment)
    assert ping_env["K_SINK"] == cluster_url

    display_env = await deployer.container_env(deployment)
    assert display_env["K_COMPONENT"] == "springhead-display"
    display = await pods.start(deployment, display_env)
    base = f"http://127.0.0.1:{display.port}"
    stream = asyncio.create_task(first_streamed_event(f"{base}/api/stream"))
    try:
        ping = await pods.start(ping_deployment, {**ping_env, "K_SINK": f"{base}/"})
        async with asyncio.timeout(60):
            shown = await stream
    finally:
        stream.cancel()
    assert shown["attributes"]["type"] == "dev.knative.sources.ping"
    assert (shown["data_kind"], shown["data"]) == ("json", {"n": 1})
    await pods.stop(ping)
    await pods.stop(display)
    deployer.helm.run("uninstall", ping_release, "--namespace", namespace)
    deployer.helm.run("uninstall", display_release, "--namespace", namespace)
