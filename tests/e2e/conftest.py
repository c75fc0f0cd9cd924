"""End-to-end fixtures: the repo's charts installed with real Helm into the real kube-apiserver,
the controller and the sources run as local processes from the env their Deployments carry.

No kubelet runs here, so nothing starts the Pods: a test reads a Deployment back, resolves its
container's environment the way the kubelet would (values, downward-API fields, Secret and
ConfigMap keys), and starts the same entry point locally with that environment. Only what a Pod
would get from its node is added: a free port on loopback (``SPRINGHEAD_PORT=0``,
``SPRINGHEAD_HOST=127.0.0.1``) and a kubeconfig where the Pod would use its service account.
"""

from __future__ import annotations

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
from springhead_testinfra.kube import KubeCluster
from springhead_testing.kube import Cluster


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
            "status.podIP": "127.0.0.1",
            "status.hostIP": "127.0.0.1",
        }
        env: dict[str, str] = {}
        for source in spec.get("envFrom") or ():
            prefix = source.get("prefix", "")
            for key, value in (await self._keys(namespace, source)).items():
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
                keys = await self._keys(namespace, {kind: {"name": ref["name"]}})
                if ref["key"] in keys:
                    env[entry["name"]] = keys[ref["key"]]
                else:
                    assert ref.get("optional"), f"{ref} is missing and not optional"
            else:
                raise AssertionError(f"cannot resolve {entry}")
        return env

    async def _keys(self, namespace: str, source: Mapping[str, Any]) -> dict[str, str]:
        if "secretRef" in source:
            secret = await self.cluster.get("v1", "Secret", namespace, source["secretRef"]["name"])
            assert secret is not None, source
            return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
        config_map = await self.cluster.get(
            "v1", "ConfigMap", namespace, source["configMapRef"]["name"]
        )
        assert config_map is not None, source
        return dict(config_map.get("data") or {})


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
