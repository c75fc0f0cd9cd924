"""End-to-end fixtures: the repo's charts installed with real Helm into the real kube-apiserver,
the controller and the sources run as containers of their real images, from their Deployments.

No kubelet runs here, so nothing starts the Pods: a test reads a Deployment back, resolves its
container's environment the way the kubelet would (values, downward-API fields, Secret and
ConfigMap keys), and :class:`Pods` runs the image the Deployment names (built from the repo's
Dockerfile) with podman, translating the pod spec (user, read-only root, capabilities, resources,
volumes, probes: springhead_testinfra.pods). Only what a Pod would get from its node is added: a
free port on the host's loopback (host networking: ``SPRINGHEAD_PORT``, ``SPRINGHEAD_HOST``), and
where the Pod would mount its ServiceAccount token, a kubeconfig acting as that account. No
cluster DNS or Service proxy runs either: a test names the cluster-local addresses a Pod would
reach (``addresses``), and where they are served on the node replaces them in its environment and
mounted files.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from springhead.kube import KubeClient
from springhead_testinfra.charts import Charts
from springhead_testinfra.helm import Helm
from springhead_testinfra.images import Podman
from springhead_testinfra.kube import KubeCluster
from springhead_testinfra.pods import PodContainer, PodmanPod, ServiceAccount
from springhead_testinfra.process import free_ports
from springhead_testinfra.services import SERVICES, ImageBuilds
from springhead_testing.kube import Cluster, token_kubeconfig

#: What a Pod gets from its node rather than from its spec, here on the host's loopback.
NODE_HOST = "127.0.0.1"


def on_node(text: str, addresses: Mapping[str, str]) -> str:
    """``text`` with each cluster-local address of ``addresses`` replaced by its node address."""
    for cluster_address, node_address in addresses.items():
        text = text.replace(cluster_address, node_address)
    return text


class Deployer:
    """Helm releases into one cluster, and the objects they made."""

    def __init__(self, helm: Helm, cluster: Cluster, charts: Path, workdir: Path) -> None:
        self.helm = helm
        self.charts = charts
        self.cluster = cluster
        self.workdir = workdir

    def install(self, chart: str, release: str, namespace: str, values: Mapping[str, Any]) -> None:
        """``helm install`` a chart of the repo with ``values`` (no --wait: no Pods ever run)."""
        values_file = self.workdir / f"{release}-{uuid.uuid4().hex[:6]}.json"
        values_file.write_text(json.dumps(values))
        self.helm.run(
            "install", release, str(self.charts / chart), "--namespace", namespace,
            "--create-namespace", "-f", str(values_file),
        )  # fmt: skip

    async def deployment(self, namespace: str, release: str) -> dict[str, Any]:
        """The one Deployment the release made (found by its instance label)."""
        found = await self.cluster.call(
            self.cluster.client.get,
            f"/apis/apps/v1/namespaces/{namespace}/deployments",
            {"labelSelector": f"app.kubernetes.io/instance={release}"},
        )
        items = found.get("items") or []
        assert len(items) == 1, [i["metadata"]["name"] for i in items]
        return dict(items[0])

    async def container_env(
        self, deployment: Mapping[str, Any], container: str | None = None
    ) -> dict[str, str]:
        """The environment the kubelet would give ``container`` (the first one by default)."""
        pod = deployment["spec"]["template"]
        containers = pod["spec"]["containers"]
        spec = next(c for c in containers if container in (None, c["name"]))
        namespace = deployment["metadata"]["namespace"]
        pod_name = f"{deployment['metadata']['name']}-local"
        fields = {
            "metadata.name": pod_name,
            "metadata.namespace": namespace,
            "spec.serviceAccountName": pod["spec"].get("serviceAccountName", "default"),
            "spec.nodeName": "local",
            "status.podIP": NODE_HOST,
            "status.hostIP": NODE_HOST,
        }
        env: dict[str, str] = {}
        for source in spec.get("envFrom") or ():
            prefix = source.get("prefix", "")
            for key, value in (await self.keys(namespace, source)).items():
                env[prefix + key] = value
        for entry in spec.get("env") or ():
            if "valueFrom" not in entry:  # the apiserver drops an empty value
                env[entry["name"]] = entry.get("value", "")
                continue
            reference = entry.get("valueFrom") or {}
            if "fieldRef" in reference:
                env[entry["name"]] = fields[reference["fieldRef"]["fieldPath"]]
            elif "secretKeyRef" in reference or "configMapKeyRef" in reference:
                kind = "secretRef" if "secretKeyRef" in reference else "configMapRef"
                ref = reference.get("secretKeyRef") or reference["configMapKeyRef"]
                keys = await self.keys(namespace, {kind: {"name": ref["name"]}})
                if ref["key"] in keys:
                    env[entry["name"]] = keys[ref["key"]]
                else:
                    assert ref.get("optional"), f"{ref} is missing and not optional"
            else:
                raise AssertionError(f"cannot resolve {entry}")
        return env

    async def keys(self, namespace: str, source: Mapping[str, Any]) -> dict[str, str]:
        """The keys of the Secret (``secretRef``) or ConfigMap (``configMapRef``) ``source``
        names, which must exist."""
        if "secretRef" in source:
            secret = await self.cluster.get("v1", "Secret", namespace, source["secretRef"]["name"])
            assert secret is not None, source
            return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
        config_map = await self.cluster.get(
            "v1", "ConfigMap", namespace, source["configMapRef"]["name"]
        )
        assert config_map is not None, source
        return dict(config_map.get("data") or {})


class Pods:
    """Deployments' containers run as podman containers of the images they name (one replica
    each); every one is stopped at the end, and ``podman stop`` must exit 0."""

    def __init__(
        self, podman: Podman, image_builds: ImageBuilds, deployer: Deployer, workdir: Path
    ) -> None:
        self.podman = podman
        self.image_builds = image_builds
        self.deployer = deployer
        self.workdir = workdir
        self.started: list[PodmanPod] = []

    async def start(
        self,
        deployment: Mapping[str, Any],
        env: Mapping[str, str],
        *,
        kubeconfig_variable: str | None = None,
        addresses: Mapping[str, str] | None = None,
        all_addresses: bool = False,
    ) -> PodmanPod:
        """Run ``deployment``'s container with ``env`` (see :meth:`Deployer.container_env`) and
        wait until it is ready. ``kubeconfig_variable``: the setting the process reads its
        kubeconfig from, where the Pod mounts its ServiceAccount token. ``addresses``: each
        cluster-local base URL (``http://<service>.<namespace>.svc.cluster.local``) the Pod would
        reach through cluster DNS and the Service's port, mapped to where it is served on the
        node; replaced in the environment's values and the mounted ConfigMap and Secret files,
        which are otherwise the objects' content as read. ``all_addresses``: listen on every
        address of the node, not only loopback (for a pod reached at an EndpointSlice's address,
        which may not be loopback)."""
        mapped = dict(addresses or {})
        env = {name: on_node(value, mapped) for name, value in env.items()}
        pod = deployment["spec"]["template"]["spec"]
        spec = PodContainer.from_pod_spec(pod)
        # The chart names the image by the service's image name (springhead-ping, ...).
        name = spec.image.rsplit("/", 1)[-1].split(":")[0].split("@")[0]
        [service] = [s for s in SERVICES if s.name == name]
        image = await asyncio.to_thread(self.image_builds.build, service)
        namespace = deployment["metadata"]["namespace"]
        folder = self.workdir / f"{deployment['metadata']['name']}-{uuid.uuid4().hex[:6]}"
        account = None
        if spec.service_account_token:
            assert kubeconfig_variable, "the pod mounts its token: name the kubeconfig setting"
            cluster = self.deployer.cluster
            folder.mkdir(parents=True)
            kubeconfig = await cluster.call(
                token_kubeconfig, cluster.client, namespace, pod["serviceAccountName"], folder
            )
            account = ServiceAccount(kubeconfig, kubeconfig_variable, namespace)
        files: dict[str, Mapping[str, bytes] | None] = {}
        for volume in spec.files:
            kind = "secretRef" if volume.kind == "secret" else "configMapRef"
            keys = await self.deployer.keys(namespace, {kind: {"name": volume.name}})
            files[volume.volume] = {
                key: on_node(value, mapped).encode() for key, value in keys.items()
            }
        # The runtime serves everything on its one port (8080, "http"): SPRINGHEAD_PORT moves it.
        [container_port] = spec.ports.values()
        [port] = free_ports(1)
        host = "0.0.0.0" if all_addresses else NODE_HOST  # noqa: S104 - the node's own network
        node = {"SPRINGHEAD_PORT": str(port), "SPRINGHEAD_HOST": host}
        running = PodmanPod(
            self.podman,
            pod,
            image.tag,
            {**env, **node},
            folder,
            ports={container_port: port},
            service_account=account,
            files=files,
        )
        self.started.append(running)
        await asyncio.to_thread(running.start)
        await asyncio.to_thread(running.wait_ready)
        return running

    async def stop(self, pod: PodmanPod) -> None:
        """``podman stop`` (the spec's grace period): the process drains and exits 0."""
        code = await asyncio.to_thread(pod.stop)
        assert code == 0, pod.failure(f"podman stop: exit code {code}")

    def remove_all(self) -> None:
        """Remove every container started (stopped or not)."""
        for pod in self.started:
            pod.remove()


@pytest.fixture
async def cluster(kube: KubeCluster) -> AsyncIterator[Cluster]:
    client = KubeClient(kube.api_client())
    yield Cluster(client)
    client.close()


@pytest.fixture
def deployer(
    helm: Helm, kube: KubeCluster, cluster: Cluster, charts: Charts, tmp_path: Path
) -> Iterator[Deployer]:
    yield Deployer(helm.for_cluster(kube), cluster, charts.root, tmp_path)


@pytest.fixture
def pods(
    podman: Podman, image_builds: ImageBuilds, deployer: Deployer, tmp_path: Path
) -> Iterator[Pods]:
    """Deployments run as containers; each is removed after the test."""
    started = Pods(podman, image_builds, deployer, tmp_path / "pods")
    yield started
    started.remove_all()
