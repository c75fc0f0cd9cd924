"""Fixtures for the controller's tests against the real kube-apiserver.

``cluster``: a :class:`Cluster` helper (raw-JSON create/get/patch/delete in threads, and
``eventually`` to wait for a condition with a deadline). ``namespace``: a fresh namespace per test.
``controller``: the controller running in the test's event loop (leader election off).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, TypeVar

import pytest
from springhead.config import load_settings
from springhead.kube import KubeApiError, KubeClient, guess_plural
from springhead_controller.binding import bound_injection, pod_spec_of, subject_kind
from springhead_controller.config import ControllerSettings
from springhead_controller.controller import Controller
from springhead_testinfra.kube import KubeCluster

T = TypeVar("T")

CLUSTER_SCOPED = {"Namespace", "CustomResourceDefinition"}
#: Kinds whose resource name is not the naive plural.
PLURALS = {"EventDisplay": "eventdisplays"}


def resource_path(api_version: str, kind: str, namespace: str | None, name: str = "") -> str:
    """The API path of a collection (or, with ``name``, of one object)."""
    prefix = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
    plural = PLURALS.get(kind) or guess_plural(kind)
    if kind not in CLUSTER_SCOPED and namespace:
        path = f"{prefix}/namespaces/{namespace}/{plural}"
    else:
        path = f"{prefix}/{plural}"
    return f"{path}/{name}" if name else path


class Cluster:
    """Blocking API calls run in threads, plus waiting helpers."""

    def __init__(self, client: KubeClient, kube: KubeCluster) -> None:
        self.client = client
        self.kube = kube

    async def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.to_thread(function, *args, **kwargs)

    async def create(self, obj: Mapping[str, Any], namespace: str | None = None) -> dict[str, Any]:
        namespace = namespace or (obj.get("metadata") or {}).get("namespace")
        path = resource_path(obj["apiVersion"], obj["kind"], namespace)
        return await self.call(self.client.request, "POST", path, body=dict(obj))

    async def get(
        self, api_version: str, kind: str, namespace: str | None, name: str
    ) -> dict[str, Any] | None:
        try:
            return await self.call(
                self.client.get, resource_path(api_version, kind, namespace, name)
            )
        except KubeApiError as exc:
            if exc.status == 404:
                return None
            raise

    async def merge_patch(
        self, api_version: str, kind: str, namespace: str | None, name: str, patch: Any,
        subresource: str = "",
    ) -> dict[str, Any]:  # fmt: skip
        path = resource_path(api_version, kind, namespace, name)
        return await self.call(
            self.client.request,
            "PATCH",
            f"{path}/{subresource}" if subresource else path,
            body=patch,
            content_type="application/merge-patch+json",
        )

    async def json_patch(
        self, api_version: str, kind: str, namespace: str | None, name: str, operations: Any
    ) -> dict[str, Any]:
        return await self.call(
            self.client.request,
            "PATCH",
            resource_path(api_version, kind, namespace, name),
            body=operations,
            content_type="application/json-patch+json",
        )

    async def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> None:
        with contextlib.suppress(KubeApiError):
            await self.call(
                self.client.request, "DELETE", resource_path(api_version, kind, namespace, name)
            )

    async def eventually(
        self,
        check: Callable[[], Awaitable[T | None]],
        what: str,
        *,
        timeout: float = 60.0,
    ) -> T:
        """Poll ``check`` until it returns something truthy; return that. Fails after
        ``timeout`` seconds naming ``what`` and the last value seen."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while True:
            last = await check()
            if last:
                return last
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; last seen: {last!r}")
            await asyncio.sleep(0.05)

    async def injected(
        self, api_version: str, kind: str, namespace: str, name: str
    ) -> dict[str, dict[str, str]] | None:
        """container -> binding variables of a workload (None when it does not exist)."""
        obj = await self.get(api_version, kind, namespace, name)
        known = subject_kind(api_version, kind)
        assert known is not None
        if obj is None:
            return None
        pod_spec = pod_spec_of(obj, known)
        return bound_injection(pod_spec or {})

    async def condition(
        self, obj_kind: str, namespace: str, name: str, condition: str
    ) -> dict[str, Any] | None:
        obj = await self.get("sources.knative.dev/v1", obj_kind, namespace, name)
        for entry in ((obj or {}).get("status") or {}).get("conditions") or ():
            if entry.get("type") == condition:
                return dict(entry)
        return None

    async def wait_condition(
        self, obj_kind: str, namespace: str, name: str, condition: str, status: str,
        reason: str | None = None, timeout: float = 60.0,
    ) -> dict[str, Any]:  # fmt: skip
        async def check() -> dict[str, Any] | None:
            found = await self.condition(obj_kind, namespace, name, condition)
            if found is None or found.get("status") != status:
                return None
            if reason is not None and found.get("reason") != reason:
                return None
            return found

        return await self.eventually(
            check, f"{obj_kind} {namespace}/{name} {condition}={status} ({reason})", timeout=timeout
        )


@pytest.fixture
async def cluster(kube: KubeCluster) -> AsyncIterator[Cluster]:
    client = KubeClient(kube.api_client())
    yield Cluster(client, kube)
    client.close()


@pytest.fixture
async def namespace(cluster: Cluster) -> str:
    name = f"t-{uuid.uuid4().hex[:10]}"
    await cluster.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


def controller_settings(kube: KubeCluster, **env: str) -> ControllerSettings:
    return load_settings(
        ControllerSettings,
        {
            "CONTROLLER_KUBECONFIG": str(kube.kubeconfig),
            "CONTROLLER_LEADER_ELECTION": "false",
            "NAMESPACE": "default",
            "SPRINGHEAD_PORT": "0",
            "SPRINGHEAD_HOST": "127.0.0.1",
            **env,
        },
    )


@contextlib.asynccontextmanager
async def running(controller: Controller) -> AsyncIterator[Controller]:
    task = asyncio.create_task(controller.run())
    try:
        deadline = time.monotonic() + 60
        while controller.cache is None or not controller.cache.synced:
            if task.done():
                task.result()
            assert time.monotonic() < deadline, "controller caches did not sync"
            await asyncio.sleep(0.05)
        yield controller
    finally:
        await controller.stop()
        await asyncio.wait_for(task, 60)


@pytest.fixture
async def controller(kube: KubeCluster) -> AsyncIterator[Controller]:
    async with running(Controller(controller_settings(kube))) as started:
        yield started


@pytest.fixture
def start_controller(
    kube: KubeCluster,
) -> Callable[..., contextlib.AbstractAsyncContextManager[Controller]]:  # noqa: E501
    """Start a controller with extra settings: ``async with start_controller(SINK_BINDING_SELECTION_MODE="inclusion")``."""  # noqa: E501

    def start(**env: str) -> contextlib.AbstractAsyncContextManager[Controller]:
        return running(Controller(controller_settings(kube, **env)))

    return start
