"""What the ApiServerSource and KafkaSource reconcilers share: each runs its source as one
Deployment (Knative's "receive adapter") of a Springhead source image, controlled by the source
object, and reports the Deployment's availability.

The Deployment is compared by a digest of the spec it was given (an annotation), so a change of
the source object rolls it out once and server defaults never cause an update loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from springhead.kube import KubeApiError, KubeClient

from springhead_controller.conditions import condition_of
from springhead_controller.crds import GROUP

__all__ = [
    "AdapterProblem",
    "SPEC_HASH_ANNOTATION",
    "adapter_container",
    "adapter_deployment",
    "delete_owned",
    "deployment_availability",
    "ensure_deployment",
    "env_value",
    "owner_reference",
]

log = logging.getLogger("springhead.controller")

#: Annotation on an adapter Deployment: digest of the spec it was last given.
SPEC_HASH_ANNOTATION = "sources.springhead.dev/spec-hash"
_DEPLOYMENTS_PATH = "/apis/apps/v1/namespaces/{namespace}/deployments"
#: The port every Springhead process serves health, readiness and metrics on.
_PORT = 8080


@dataclass(frozen=True)
class AdapterProblem(Exception):
    """Why the adapter Deployment cannot be made: a condition reason and message."""

    reason: str
    message: str


def owner_reference(source: Mapping[str, Any]) -> dict[str, Any]:
    """A controller owner reference to ``source`` (a ``sources.knative.dev/v1`` object)."""
    metadata = source.get("metadata") or {}
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": source.get("kind"),
        "name": metadata.get("name"),
        "uid": metadata.get("uid"),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def env_value(name: str, value: str) -> dict[str, Any]:
    """An ``EnvVar`` with a literal value."""
    return {"name": name, "value": value}


def adapter_container(image: str, env: list[dict[str, Any]]) -> dict[str, Any]:
    """The one container of an adapter: ``image`` with ``env``, Springhead's probes on its port,
    and the restricted security context every Springhead chart gives its sources."""
    return {
        "name": "receive-adapter",
        "image": image,
        "env": env,
        "ports": [{"name": "http", "containerPort": _PORT, "protocol": "TCP"}],
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }


def _digest(value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def adapter_deployment(
    source: Mapping[str, Any],
    name: str,
    labels: Mapping[str, str],
    container: Mapping[str, Any],
    *,
    replicas: int = 1,
    service_account: str | None = None,
) -> dict[str, Any]:
    """The Deployment ``name`` running ``container``, controlled by ``source``, as
    ``service_account`` with its token mounted (None: no token)."""
    metadata = source.get("metadata") or {}
    pod_spec: dict[str, Any] = {"containers": [dict(container)], "enableServiceLinks": False}
    if service_account:
        pod_spec["serviceAccountName"] = service_account
        pod_spec["automountServiceAccountToken"] = True
    else:
        # A source that does not call the Kubernetes API gets no token to lose.
        pod_spec["automountServiceAccountToken"] = False
    spec = {
        "replicas": replicas,
        "selector": {"matchLabels": dict(labels)},
        "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": metadata.get("namespace"),
            "labels": dict(labels),
            "annotations": {SPEC_HASH_ANNOTATION: _digest(spec)},
            "ownerReferences": [owner_reference(source)],
        },
        "spec": spec,
    }


def _controlled_by(source: Mapping[str, Any], child: Mapping[str, Any]) -> bool:
    uid = (source.get("metadata") or {}).get("uid")
    return any(
        ref.get("controller") is True and ref.get("uid") == uid
        for ref in (child.get("metadata") or {}).get("ownerReferences") or ()
    )


async def ensure_deployment(
    client: KubeClient,
    source: Mapping[str, Any],
    desired: Mapping[str, Any],
    existing: Mapping[str, Any] | None,
) -> Mapping[str, Any] | None:
    """Create ``desired`` or bring ``existing`` (from the cache) in line with it; returns the
    Deployment as the API server answered (None when a creation raced another: the watch brings
    it). Raises :class:`AdapterProblem` when a Deployment of that name belongs to something
    else."""
    metadata = desired["metadata"]
    namespace, name = metadata["namespace"], metadata["name"]
    path = _DEPLOYMENTS_PATH.format(namespace=namespace)
    if existing is None:
        try:
            created: dict[str, Any] = await asyncio.to_thread(
                client.request, "POST", path, body=desired
            )
        except KubeApiError as exc:
            if exc.status != 409:
                raise
            # Either ours, not yet seen by the watch, or someone else's: look.
            found = await asyncio.to_thread(client.get, f"{path}/{name}")
            if not _controlled_by(source, found):
                raise AdapterProblem(
                    "NotOwned", f'Deployment "{name}" is not owned by this source'
                ) from None
            existing = found
        else:
            log.info("created an adapter Deployment", extra={"deployment": f"{namespace}/{name}"})
            return created
    if not _controlled_by(source, existing):
        raise AdapterProblem("NotOwned", f'Deployment "{name}" is not owned by this source')
    want = metadata["annotations"][SPEC_HASH_ANNOTATION]
    have = ((existing.get("metadata") or {}).get("annotations") or {}).get(SPEC_HASH_ANNOTATION)
    if want == have:
        return existing
    existing_meta = dict(existing.get("metadata") or {})
    existing_meta["labels"] = {**(existing_meta.get("labels") or {}), **metadata["labels"]}
    existing_meta["annotations"] = {
        **(existing_meta.get("annotations") or {}),
        SPEC_HASH_ANNOTATION: want,
    }
    updated = {**existing, "metadata": existing_meta, "spec": desired["spec"]}
    result: dict[str, Any] = await asyncio.to_thread(
        client.request, "PUT", f"{path}/{name}", body=updated
    )
    log.info("updated an adapter Deployment", extra={"deployment": f"{namespace}/{name}"})
    return result


def deployment_availability(deployment: Mapping[str, Any] | None) -> tuple[str, str, str]:
    """(status, reason, message) of a condition that follows the Deployment's ``Available``
    (Unknown, ``DeploymentUnavailable``, until the Deployment reports it)."""
    if deployment is None:
        return "Unknown", "DeploymentUnavailable", "The Deployment does not exist yet."
    available = condition_of(deployment.get("status"), "Available")
    name = (deployment.get("metadata") or {}).get("name")
    if available is None:
        return "Unknown", "DeploymentUnavailable", f'The Deployment "{name}" is unavailable.'
    status = str(available.get("status", "Unknown"))
    if status == "True":
        return "True", "DeploymentAvailable", ""
    return (
        status,
        str(available.get("reason") or "DeploymentUnavailable"),
        str(available.get("message") or f'The Deployment "{name}" is unavailable.'),
    )


async def delete_owned(client: KubeClient, path: str, uid: str | None = None) -> bool:
    """Delete the object at ``path`` (only if its uid is ``uid``, when given); True when it was
    deleted, False when it was already gone (or replaced)."""
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "DeleteOptions",
        "propagationPolicy": "Background",
    }
    if uid is not None:
        body["preconditions"] = {"uid": uid}
    try:
        await asyncio.to_thread(client.request, "DELETE", path, body=body)
    except KubeApiError as exc:
        if exc.status in (404, 409):
            return False
        raise
    log.info("removed a child of a source", extra={"path": path})
    return True
