"""Test helpers against a real Kubernetes API server: raw-JSON object calls run in threads, and
``eventually`` to wait for a condition with a deadline.

Needs the ``kube`` extra (``springhead[kube]``); nothing else in :mod:`springhead.testing` imports
this module, so the sink and process helpers stay light.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from springhead.kube import KubeApiError, KubeClient, guess_plural

__all__ = ["Cluster", "resource_path"]

T = TypeVar("T")

#: Kinds without a namespace in their path (the ones tests create).
CLUSTER_SCOPED = frozenset({"Namespace", "CustomResourceDefinition", "ClusterRole"})


def resource_path(
    api_version: str,
    kind: str,
    namespace: str | None,
    name: str = "",
    *,
    plurals: Mapping[str, str] | None = None,
) -> str:
    """The API path of a collection (or, with ``name``, of one object).

    ``plurals`` names the resource of kinds whose plural is not the naive one.
    """
    prefix = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
    plural = (plurals or {}).get(kind) or guess_plural(kind)
    if kind not in CLUSTER_SCOPED and namespace:
        path = f"{prefix}/namespaces/{namespace}/{plural}"
    else:
        path = f"{prefix}/{plural}"
    return f"{path}/{name}" if name else path


class Cluster:
    """Blocking API calls of ``client`` run in threads, plus waiting helpers."""

    #: Kinds whose resource name is not the naive plural (subclasses add theirs).
    plurals: Mapping[str, str] = {}

    def __init__(self, client: KubeClient) -> None:
        self.client = client

    def path(self, api_version: str, kind: str, namespace: str | None, name: str = "") -> str:
        """:func:`resource_path` with this cluster's plurals."""
        return resource_path(api_version, kind, namespace, name, plurals=self.plurals)

    async def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking client call in a thread."""
        return await asyncio.to_thread(function, *args, **kwargs)

    async def create(self, obj: Mapping[str, Any], namespace: str | None = None) -> dict[str, Any]:
        """POST ``obj`` (into ``namespace``, else the one in its metadata); returns it as stored."""
        namespace = namespace or (obj.get("metadata") or {}).get("namespace")
        path = self.path(obj["apiVersion"], obj["kind"], namespace)
        return await self.call(self.client.request, "POST", path, body=dict(obj))

    async def new_namespace(self, prefix: str = "t", **labels: str) -> str:
        """Create a namespace with a random name (never deleted: nothing finishes namespace
        termination without a controller-manager)."""
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        metadata: dict[str, Any] = {"name": name, "labels": labels}
        await self.create({"apiVersion": "v1", "kind": "Namespace", "metadata": metadata})
        return name

    async def get(
        self, api_version: str, kind: str, namespace: str | None, name: str
    ) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        try:
            return await self.call(self.client.get, self.path(api_version, kind, namespace, name))
        except KubeApiError as exc:
            if exc.status == 404:
                return None
            raise

    async def merge_patch(
        self, api_version: str, kind: str, namespace: str | None, name: str, patch: Any,
        subresource: str = "",
    ) -> dict[str, Any]:  # fmt: skip
        """A JSON merge patch of the object (or of its ``subresource``)."""
        path = self.path(api_version, kind, namespace, name)
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
        """A JSON patch (RFC 6902) of the object."""
        return await self.call(
            self.client.request,
            "PATCH",
            self.path(api_version, kind, namespace, name),
            body=operations,
            content_type="application/json-patch+json",
        )

    async def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> None:
        """Delete the object if it exists."""
        with contextlib.suppress(KubeApiError):
            await self.call(
                self.client.request, "DELETE", self.path(api_version, kind, namespace, name)
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
        while True:
            last = await check()
            if last:
                return last
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; last seen: {last!r}")
            await asyncio.sleep(0.05)
