"""Test helpers against a real Kubernetes API server: raw-JSON object calls run in threads,
``eventually`` to wait for a condition with a deadline, minimal CustomResourceDefinitions, and
kubeconfigs for users with few rights.

Needs the ``kube`` extra (``springhead-testing[kube]``); nothing else in
:mod:`springhead_testing` imports this module, so the sink and process helpers stay light.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from springhead.kube import KubeApiError, KubeClient, guess_plural

__all__ = [
    "Cluster",
    "custom_resource_definition",
    "deployment_manifest",
    "endpoint_slice",
    "kubeconfig",
    "node_address",
    "resource_path",
    "service_account_kubeconfig",
    "token_kubeconfig",
]

T = TypeVar("T")

#: Kinds without a namespace in their path (the ones tests create).
CLUSTER_SCOPED = frozenset({"Namespace", "CustomResourceDefinition", "ClusterRole"})


def node_address() -> str:
    """This machine's IPv4 address on its default route, for an EndpointSlice (which refuses
    loopback addresses) naming a process of the test. No packet is sent: connecting a UDP socket
    only makes the kernel choose the source address. Fails the test, naming why, without one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
        except OSError as exc:
            raise AssertionError(f"no default IPv4 route to find this machine by: {exc}") from None
        address = str(probe.getsockname()[0])
    if ipaddress.ip_address(address).is_loopback:
        raise AssertionError(f"this machine's address on its default route is loopback: {address}")
    return address


def endpoint_slice(service: str, address: str, port: int) -> dict[str, Any]:
    """An EndpointSlice giving ``service`` (a Service without a selector: no controller manages
    its endpoints) one ready endpoint ``address:port`` on its port named ``http``; named
    ``<service>-manual``. Nothing here runs the EndpointSlice controller, which would make it
    from the pods a kubelet runs."""
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{service}-manual",
            "labels": {"kubernetes.io/service-name": service},
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [address], "conditions": {"ready": True}}],
        "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
    }


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


#: A schema that accepts any object (the default for a test CRD's spec and status).
OPEN_OBJECT: Mapping[str, Any] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
_CRD_API_VERSION = "apiextensions.k8s.io/v1"


def custom_resource_definition(
    group: str,
    kind: str,
    *,
    plural: str = "",
    version: str = "v1",
    spec: Mapping[str, Any] = OPEN_OBJECT,
    status: Mapping[str, Any] = OPEN_OBJECT,
) -> dict[str, Any]:
    """A minimal namespaced CRD for ``kind`` in ``group``: one served and stored ``version``
    with a status subresource, whose ``spec`` and ``status`` follow the given OpenAPI schemas
    (anything, unless given). ``plural`` defaults to :func:`~springhead.kube.guess_plural`'s
    (``EventDisplay`` -> ``eventdisplaies``: name the plural of such kinds)."""
    plural = plural or guess_plural(kind)
    return {
        "apiVersion": _CRD_API_VERSION,
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "names": {"kind": kind, "plural": plural, "singular": kind.lower()},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {"spec": dict(spec), "status": dict(status)},
                        }
                    },
                }
            ],
        },
    }


def deployment_manifest(name: str, image: str = "registry.example/app:1") -> dict[str, Any]:
    """A minimal Deployment ``name`` with one container ``app`` (no Pod ever runs here: it is
    something to bind, patch and read back)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }


def kubeconfig(
    server: str, ca_file: str | Path, user: str, token: str, *, namespace: str = ""
) -> dict[str, Any]:
    """A kubeconfig (as a JSON document: every kubeconfig reader accepts JSON) with one context:
    ``user`` authenticating with the bearer ``token`` at ``server``, trusting ``ca_file``."""
    context: dict[str, str] = {"cluster": "kube", "user": user}
    if namespace:
        context["namespace"] = namespace
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "kube", "cluster": {"server": server, "certificate-authority": str(ca_file)}}
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "kube", "context": context}],
        "current-context": "kube",
    }


def _ca_file(admin: KubeClient) -> str:
    ca_file = admin.api_client.configuration.ssl_ca_cert
    if not ca_file:
        raise ValueError("the admin client trusts no CA file to hand on to the kubeconfig")
    return str(ca_file)


def token_kubeconfig(admin: KubeClient, namespace: str, name: str, directory: Path) -> Path:
    """Request a token for the existing ServiceAccount ``name`` in ``namespace`` through the
    TokenRequest API (as the kubelet does for a Pod), and write a :func:`kubeconfig` acting as
    it, for the API server and CA ``admin`` uses, to ``directory/<name>.kubeconfig``. Blocking;
    returns the file's path."""
    ca_file = _ca_file(admin)
    account = resource_path("v1", "ServiceAccount", namespace, name)
    request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}
    answer = admin.request("POST", f"{account}/token", body=request)
    token = str(answer["status"]["token"])
    path = directory / f"{name}.kubeconfig"
    path.write_text(json.dumps(kubeconfig(admin.host, ca_file, name, token)))
    return path


def service_account_kubeconfig(
    admin: KubeClient, namespace: str, name: str, directory: Path
) -> Path:
    """Create the ServiceAccount ``name`` in ``namespace`` with ``admin`` (it gets no roles: it
    may do nothing until the test binds some) and return :func:`token_kubeconfig` for it."""
    _ca_file(admin)  # before creating anything
    accounts = resource_path("v1", "ServiceAccount", namespace)
    admin.request("POST", accounts, body={"metadata": {"name": name}})
    return token_kubeconfig(admin, namespace, name, directory)


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

    async def ensure_crd(self, crd: Mapping[str, Any], *, timeout: float = 60.0) -> None:
        """Create the CustomResourceDefinition ``crd`` unless one of its name exists, then wait
        until the API server reports it Established."""
        name = crd["metadata"]["name"]
        kind = "CustomResourceDefinition"
        if await self.get(_CRD_API_VERSION, kind, None, name) is None:
            await self.create(crd)

        async def established() -> bool:
            found = await self.get(_CRD_API_VERSION, kind, None, name)
            conditions = ((found or {}).get("status") or {}).get("conditions") or []
            return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)

        await self.eventually(established, f"CRD {name} established", timeout=timeout)

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
