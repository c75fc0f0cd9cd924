"""Fixtures for the chart tests: the controller chart installed once (its CRDs in the cluster),
and fresh namespaces. The built copy of charts/ (``charts``) comes from tests/conftest.py."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from springhead_testinfra.charts import Charts
from springhead_testinfra.helm import Helm
from springhead_testinfra.kube import KubeCluster

DATA = Path(__file__).resolve().parent / "data"


class ControllerRelease:
    """The controller chart installed once for the session (release ``springhead``)."""

    def __init__(self, helm: Helm, namespace: str) -> None:
        self.helm = helm
        self.namespace = namespace
        self.name = "springhead"


@pytest.fixture(scope="session")
def controller_release(
    helm: Helm, kube: KubeCluster, charts: Charts
) -> Iterator[ControllerRelease]:
    """The controller chart installed in its own namespace: its CRDs (SinkBinding,
    ContainerSource) are then in the cluster. A reduced ServiceMonitor CRD is installed beside
    it, through Helm too (Helm waits until a chart's CRDs are established)."""
    bound = helm.for_cluster(kube)
    namespace = f"springhead-system-{uuid.uuid4().hex[:6]}"
    bound.run(
        "install", "springhead", charts.path("controller"),
        "--namespace", namespace, "--create-namespace",
    )  # fmt: skip
    bound.run("install", "prometheus-crds", DATA / "prometheus-crds", "--namespace", namespace)
    yield ControllerRelease(bound, namespace)
    bound.run("uninstall", "springhead", "--namespace", namespace, check=False)
    bound.run("uninstall", "prometheus-crds", "--namespace", namespace, check=False)


@pytest.fixture(scope="session")
def cluster_helm(controller_release: ControllerRelease) -> Helm:
    """Helm bound to the apiserver, once the CRDs the charts' custom resources need exist."""
    return controller_release.helm


@pytest.fixture
def namespace() -> str:
    """A fresh namespace name (namespaces never finish terminating without a controller-manager,
    so each test uses its own)."""
    return f"charts-{uuid.uuid4().hex[:8]}"
