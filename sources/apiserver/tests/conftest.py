"""Fixtures for the ApiServer source's tests: an admin client, fresh namespaces, writers."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from springhead.kube import ApiResource, KubeClient
from springhead_testinfra.kube import KubeCluster
from springhead_testing import RecordingSink, SourceProcess, adapter_env
from springhead_testing.kube import service_account_kubeconfig

CONFIGMAPS = ApiResource("v1", "ConfigMap", "configmaps", namespaced=True)


@pytest.fixture
def admin(kube: KubeCluster) -> Iterator[KubeClient]:
    """A raw-JSON client with the admin's rights."""
    client = KubeClient.from_kubeconfig(str(kube.kubeconfig))
    yield client
    client.close()


def make_namespace(admin: KubeClient, prefix: str = "src", **labels: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    admin.request("POST", "/api/v1/namespaces", body={"metadata": {"name": name, "labels": labels}})
    return name


@pytest.fixture
def namespace(admin: KubeClient) -> str:
    """A fresh namespace (never deleted: nothing finishes namespace termination here)."""
    return make_namespace(admin)


class Objects:
    """Blocking writes of one resource type in one namespace; each returns the stored object."""

    def __init__(self, client: KubeClient, resource: ApiResource, namespace: str | None) -> None:
        self.client = client
        self.resource = resource
        self.namespace = namespace
        self.path = resource.collection_path(namespace)

    def create(
        self, name: str, body: dict[str, Any] | None = None, **metadata: Any
    ) -> dict[str, Any]:
        document = {
            "apiVersion": self.resource.api_version,
            "kind": self.resource.kind,
            **(body or {}),
            "metadata": {"name": name, **metadata},
        }
        return self.client.request("POST", self.path, body=document)

    def patch(self, name: str, patch: dict[str, Any], subresource: str = "") -> dict[str, Any]:
        suffix = f"/{subresource}" if subresource else ""
        return self.client.request(
            "PATCH",
            f"{self.path}/{name}{suffix}",
            body=patch,
            content_type="application/merge-patch+json",
        )

    def delete(self, name: str) -> dict[str, Any]:
        """Delete; returns the object as last stored (its uid and resourceVersion before)."""
        before = self.client.get(f"{self.path}/{name}")
        self.client.request("DELETE", f"{self.path}/{name}")
        return before

    async def acreate(
        self, name: str, body: dict[str, Any] | None = None, **metadata: Any
    ) -> dict[str, Any]:
        return await asyncio.to_thread(self.create, name, body, **metadata)

    async def apatch(
        self, name: str, patch: dict[str, Any], subresource: str = ""
    ) -> dict[str, Any]:
        return await asyncio.to_thread(self.patch, name, patch, subresource)

    async def adelete(self, name: str) -> dict[str, Any]:
        return await asyncio.to_thread(self.delete, name)


@pytest.fixture
def configmaps(admin: KubeClient, namespace: str) -> Objects:
    """ConfigMaps in :func:`namespace`."""
    return Objects(admin, CONFIGMAPS, namespace)


@pytest.fixture
def objects(admin: KubeClient) -> Callable[[ApiResource, str | None], Objects]:
    """``objects(resource, namespace)``: an :class:`Objects` writer."""
    return lambda resource, namespace: Objects(admin, resource, namespace)


@pytest.fixture
def new_namespace(admin: KubeClient) -> Callable[..., str]:
    """``new_namespace(**labels)``: create a fresh namespace with these labels."""
    return lambda **labels: make_namespace(admin, **labels)


@pytest.fixture
def source_env(
    kube: KubeCluster, sink: RecordingSink, namespace: str
) -> Callable[..., dict[str, str]]:
    """``source_env(**env)``: the environment of a source watching ConfigMaps in
    :func:`namespace` with the admin kubeconfig, sending to the recording sink."""

    def make(**env: str) -> dict[str, str]:
        settings = {
            "NAMESPACE": namespace,
            "NAME": "watcher",
            "APISERVER_KUBECONFIG": str(kube.kubeconfig),
            "APISERVER_RESOURCES": json.dumps([{"apiVersion": "v1", "kind": "ConfigMap"}]),
            "SPRINGHEAD_DELIVERY_BACKOFF_DELAY": "PT0.05S",
            **env,
        }
        return adapter_env(sink.url, **settings)

    return make


@pytest.fixture
def source(source_env: Callable[..., dict[str, str]]) -> Callable[..., SourceProcess]:
    """``source(**env)``: the source as a real (not yet started) process."""
    return lambda **env: SourceProcess("springhead_apiserver", source_env(**env))


@pytest.fixture
def in_sync() -> Callable[[SourceProcess], Awaitable[dict[str, Any]]]:
    """``await in_sync(process)``: wait until the source listed (or resumed) every watch."""
    return lambda process: process.wait_for_log("all watches in sync", timeout=60)


@pytest.fixture
def restricted_kubeconfig(
    admin: KubeClient, namespace: str, tmp_path: Path
) -> Callable[[str], Path]:
    """``restricted_kubeconfig(name)``: a kubeconfig for a new ServiceAccount without roles."""
    return lambda name: service_account_kubeconfig(admin, namespace, name, tmp_path)
