"""Fixtures for the controller's tests against the real kube-apiserver.

``cluster``: a :class:`Cluster` helper (springhead_testing.kube's raw-JSON calls in threads and
``eventually``, plus injected variables and conditions). ``namespace``: a fresh namespace per test.
``controller``: the controller running in the test's event loop (leader election off).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import sys
import threading
import time
import traceback
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import pytest
from springhead.config import load_settings
from springhead.kube import KubeClient
from springhead_controller.binding import bound_injection, pod_spec_of, subject_kind
from springhead_controller.config import ControllerSettings
from springhead_controller.controller import Controller
from springhead_testinfra.kube import KubeCluster
from springhead_testing.kube import Cluster as BaseCluster


class Cluster(BaseCluster):
    """The shared helper plus the controller's views: injected variables and conditions."""

    plurals = {"EventDisplay": "eventdisplays"}

    def __init__(self, client: KubeClient, kube: KubeCluster) -> None:
        super().__init__(client)
        self.kube = kube

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

    async def publish_address(
        self, api_version: str, kind: str, namespace: str, name: str, url: str
    ) -> None:
        """Write the Addressable status (``status.address.url``) the controller of ``kind``
        would write (no such controller runs here)."""
        await self.merge_patch(
            api_version, kind, namespace, name,
            {"status": {"address": {"url": url}}}, subresource="status",
        )  # fmt: skip

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

    async def container_env(self, deployment: Mapping[str, Any]) -> dict[str, str]:
        """The environment the kubelet would give the Deployment's one container: literal
        values, downward-API fields and Secret keys resolved (as tests/e2e does)."""
        pod = deployment["spec"]["template"]
        [container] = pod["spec"]["containers"]
        namespace = deployment["metadata"]["namespace"]
        fields = {
            "metadata.name": f"{deployment['metadata']['name']}-local",
            "metadata.namespace": namespace,
            "spec.serviceAccountName": pod["spec"].get("serviceAccountName", "default"),
        }
        env: dict[str, str] = {}
        for entry in container.get("env") or ():
            source = entry.get("valueFrom")
            if source is None:
                env[entry["name"]] = entry.get("value", "")
            elif "fieldRef" in source:
                env[entry["name"]] = fields[source["fieldRef"]["fieldPath"]]
            else:
                ref = source["secretKeyRef"]
                secret = await self.get("v1", "Secret", namespace, ref["name"])
                assert secret is not None, f"Secret {ref['name']} is missing"
                env[entry["name"]] = base64.b64decode(secret["data"][ref["key"]]).decode()
        return env

    async def make_available(self, deployment: Mapping[str, Any]) -> None:
        """Report the Deployment Available, as kube-controller-manager would once its pods are
        ready: none runs here (testinfra's apiserver runs alone), so the test says so itself."""
        metadata = deployment["metadata"]
        replicas = deployment["spec"].get("replicas", 1)
        status = {
            "observedGeneration": metadata.get("generation", 1),
            "replicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
            "updatedReplicas": replicas,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                 "message": "Deployment has minimum availability."}
            ],
        }  # fmt: skip
        await self.merge_patch(
            "apps/v1", "Deployment", metadata["namespace"], metadata["name"],
            {"status": status}, subresource="status",
        )  # fmt: skip


@pytest.fixture
async def cluster(kube: KubeCluster) -> AsyncIterator[Cluster]:
    client = KubeClient(kube.api_client())
    yield Cluster(client, kube)
    client.close()


@pytest.fixture
async def namespace(cluster: Cluster) -> str:
    return await cluster.new_namespace()


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
        done, _ = await asyncio.wait({task}, timeout=60)
        if not done:
            raise AssertionError(f"the controller did not stop within 60 s:\n{_stacks()}")
        task.result()


def _stacks() -> str:
    """Where every task of the loop waits and every thread is (the failure message of a
    controller that hangs)."""
    out = io.StringIO()
    for task in asyncio.all_tasks():
        task.print_stack(limit=12, file=out)
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    for ident, frame in sys._current_frames().items():  # noqa: SLF001 - a diagnostic only
        print(f"thread {names.get(ident, ident)}:", file=out)
        traceback.print_stack(frame, limit=12, file=out)
    return out.getvalue()


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
