"""The ContainerSource reconciler: a Deployment ``<name>-deployment`` running the source's pod
template and a SinkBinding ``<name>-sinkbinding`` injecting the sink into it, both owned by the
ContainerSource and kept in step with it.

Owner references let Kubernetes' garbage collector remove both children with the source; the
reconciler also removes them itself when it finds them orphaned, so nothing is left behind on a
cluster whose garbage collector is slow or absent.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import logging
from collections.abc import Mapping
from typing import Any

from springhead.kube import KubeApiError, KubeClient

from springhead_controller.binding import SUBJECT_KINDS, Injection, bind
from springhead_controller.cache import Cache, controller_owner
from springhead_controller.conditions import Conditions, condition_of, write_status
from springhead_controller.crds import GROUP
from springhead_controller.spec import InvalidSpec, parse_destination, validate_ce_overrides

__all__ = [
    "ContainerSourceReconciler",
    "RECEIVE_ADAPTER_READY",
    "SINK_BINDING_READY",
    "TEMPLATE_HASH_ANNOTATION",
    "child_name",
    "desired_deployment",
    "desired_sink_binding",
    "is_derivative",
    "source_labels",
    "source_template",
]

log = logging.getLogger("springhead.controller")

SINK_BINDING_READY = "SinkBindingReady"
RECEIVE_ADAPTER_READY = "ReceiveAdapterReady"
#: Annotation on the Deployment: digest of the template it was last given.
TEMPLATE_HASH_ANNOTATION = "sources.springhead.dev/template-hash"
_DEPLOYMENT = SUBJECT_KINDS[("apps", "Deployment")]
_LONGEST_NAME = 63
_DIGEST_LENGTH = 32
_SOURCES_PATH = "/apis/sources.knative.dev/v1/namespaces/{namespace}/containersources/{name}"
_BINDINGS_PATH = "/apis/sources.knative.dev/v1/namespaces/{namespace}/sinkbindings"
_DEPLOYMENTS_PATH = "/apis/apps/v1/namespaces/{namespace}/deployments"


def child_name(parent: str, suffix: str) -> str:
    """``parent + suffix``, shortened with a digest when longer than 63 characters (the way
    Knative names children, so both controllers agree on names)."""
    if len(parent) + len(suffix) <= _LONGEST_NAME:
        return parent + suffix
    head = _LONGEST_NAME - _DIGEST_LENGTH
    if len(suffix) >= head:
        # No room for the suffix beside a digest (a uid is 36 characters): the digest of both
        # after as much of the parent as fits, then the start of the suffix, ending in a letter
        # or digit as a name must.
        digest = hashlib.md5((parent + suffix).encode(), usedforsecurity=False).hexdigest()
        name = parent[:head] + digest
        name += suffix[: _LONGEST_NAME - len(name)]
        return name.rstrip("-.")
    digest = hashlib.md5(parent.encode(), usedforsecurity=False).hexdigest()
    return parent[: head - len(suffix)] + digest + suffix


def source_labels(name: str) -> dict[str, str]:
    """The labels a ContainerSource's Deployment and pods carry (Knative's)."""
    return {
        "sources.knative.dev/source": "container-source-controller",
        "sources.knative.dev/containerSource": name,
    }


def owner_reference(source: Mapping[str, Any]) -> dict[str, Any]:
    """A controller owner reference to ``source``."""
    metadata = source.get("metadata") or {}
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "ContainerSource",
        "name": metadata.get("name"),
        "uid": metadata.get("uid"),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def source_template(source: Mapping[str, Any]) -> dict[str, Any]:
    """The validated pod template: unnamed containers named ``<source>-<index>`` (Knative's
    default). Raises :class:`InvalidSpec` when there is no container or one lacks an image."""
    name = str((source.get("metadata") or {}).get("name"))
    template = (source.get("spec") or {}).get("template")
    if not isinstance(template, Mapping):
        raise InvalidSpec("InvalidSpec", "spec.template is required")
    template = copy.deepcopy(dict(template))
    pod_spec = template.get("spec")
    containers = pod_spec.get("containers") if isinstance(pod_spec, dict) else None
    if not containers or not isinstance(containers, list):
        raise InvalidSpec("InvalidSpec", "spec.template.spec.containers needs a container")
    for index, container in enumerate(containers):
        if not isinstance(container, dict) or not container.get("image"):
            raise InvalidSpec(
                "InvalidSpec", f"spec.template.spec.containers[{index}] needs an image"
            )
        container.setdefault("name", f"{name}-{index}")
    return template


def desired_sink_binding(source: Mapping[str, Any]) -> dict[str, Any]:
    """The SinkBinding ``<name>-sinkbinding`` binding the source's Deployment to its sink."""
    metadata = source.get("metadata") or {}
    namespace, name = str(metadata.get("namespace")), str(metadata.get("name"))
    spec = source.get("spec") or {}
    binding_spec: dict[str, Any] = {
        "subject": {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "namespace": namespace,
            "name": child_name(name, "-deployment"),
        },
        "sink": copy.deepcopy(spec.get("sink")),
    }
    if spec.get("ceOverrides") is not None:
        binding_spec["ceOverrides"] = copy.deepcopy(spec["ceOverrides"])
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "SinkBinding",
        "metadata": {
            "name": child_name(name, "-sinkbinding"),
            "namespace": namespace,
            "ownerReferences": [owner_reference(source)],
        },
        "spec": binding_spec,
    }


def _digest(value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def desired_deployment(source: Mapping[str, Any], template: Mapping[str, Any]) -> dict[str, Any]:
    """The Deployment ``<name>-deployment`` running ``template`` (labels merged in)."""
    metadata = source.get("metadata") or {}
    namespace, name = str(metadata.get("namespace")), str(metadata.get("name"))
    result: dict[str, Any] = copy.deepcopy(dict(template))
    template_meta = result.setdefault("metadata", {})
    labels = {**(template_meta.get("labels") or {}), **source_labels(name)}
    template_meta["labels"] = labels
    annotations = dict(template_meta.get("annotations") or {})
    annotations[TEMPLATE_HASH_ANNOTATION] = _digest(result)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": child_name(name, "-deployment"),
            "namespace": namespace,
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [owner_reference(source)],
        },
        "spec": {"selector": {"matchLabels": labels}, "template": result},
    }


def is_derivative(want: Any, have: Any) -> bool:
    """Whether ``have`` has everything ``want`` sets (fields ``want`` leaves out may hold
    server defaults); lists must have the same length, element by element. Empty values in
    ``want`` ("" , 0, false, null) count as unset, as the API server drops them."""
    if want is None or want == "" or want is False or (type(want) is int and want == 0):
        return True
    if isinstance(want, Mapping):
        if not isinstance(have, Mapping):
            return False
        return all(is_derivative(value, have.get(key)) for key, value in want.items())
    if isinstance(want, list):
        if not isinstance(have, list) or len(want) != len(have):
            return False
        return all(is_derivative(w, h) for w, h in zip(want, have, strict=True))
    return bool(want == have)


def _current_injection(template: Mapping[str, Any]) -> Injection | None:
    """The binding variables the Deployment's containers carry now (to keep them on update)."""
    for container in (template.get("spec") or {}).get("containers") or ():
        values = {v.get("name"): v.get("value", "") for v in container.get("env") or ()}
        if "K_SINK" in values:
            return Injection(
                sink=str(values["K_SINK"]),
                ce_overrides=str(values.get("K_CE_OVERRIDES", "")),
                ca_certs=str(values["K_CA_CERTS"]) if values.get("K_CA_CERTS") else None,
            )
    return None


def _with_binding(template: Mapping[str, Any], injection: Injection | None) -> dict[str, Any]:
    result = copy.deepcopy(dict(template))
    pod_spec = result.get("spec")
    if isinstance(pod_spec, Mapping):
        result["spec"] = bind(pod_spec, injection)
    return result


class ContainerSourceReconciler:
    """Reconciles one ContainerSource at a time."""

    def __init__(self, client: KubeClient, cache: Cache) -> None:
        self.client = client
        self.cache = cache

    async def reconcile(self, namespace: str, name: str) -> float | None:
        """Create or update the source's Deployment and SinkBinding, report their state; remove
        the children of a source that no longer exists."""
        source = self.cache.sources.get((namespace, name))
        if source is None or (source.get("metadata") or {}).get("deletionTimestamp"):
            await self._remove_orphans(namespace, name)
            return None
        metadata = source.get("metadata") or {}
        conditions = Conditions(
            [SINK_BINDING_READY, RECEIVE_ADAPTER_READY],
            (source.get("status") or {}).get("conditions"),
        )
        status: dict[str, Any] = {"observedGeneration": metadata.get("generation", 0)}
        try:
            template = source_template(source)
            parse_destination((source.get("spec") or {}).get("sink"), namespace)
            validate_ce_overrides((source.get("spec") or {}).get("ceOverrides"))
        except InvalidSpec as exc:
            conditions.false(SINK_BINDING_READY, exc.reason, exc.message)
            conditions.false(
                RECEIVE_ADAPTER_READY, exc.reason, "nothing is run while the spec is invalid"
            )
            await self._write_status(source, conditions, status)
            return None
        binding = await self._ensure_sink_binding(source, conditions)
        deployment = await self._ensure_deployment(source, template, conditions)
        if binding is not None:
            binding_status = binding.get("status") or {}
            ready = condition_of(binding_status, "Ready")
            if ready is None:
                conditions.unknown(SINK_BINDING_READY, "SinkBindingPending", "")
            else:
                conditions.mark(
                    SINK_BINDING_READY,
                    str(ready.get("status", "Unknown")),
                    str(ready.get("reason", "")),
                    str(ready.get("message", "")),
                )
            for field in ("sinkUri", "sinkCACerts", "sinkAudience"):
                if binding_status.get(field):
                    status[field] = binding_status[field]
        if deployment is not None:
            available = condition_of(deployment.get("status"), "Available")
            if available is None:
                conditions.unknown(
                    RECEIVE_ADAPTER_READY,
                    "DeploymentUnavailable",
                    f"The Deployment '{(deployment.get('metadata') or {}).get('name')}' is "
                    "unavailable.",
                )
            else:
                conditions.mark(
                    RECEIVE_ADAPTER_READY,
                    str(available.get("status", "Unknown")),
                    str(available.get("reason", "")),
                    str(available.get("message", "")),
                )
        await self._write_status(source, conditions, status)
        return None

    async def _ensure_sink_binding(
        self, source: Mapping[str, Any], conditions: Conditions
    ) -> Mapping[str, Any] | None:
        desired = desired_sink_binding(source)
        namespace = desired["metadata"]["namespace"]
        name = desired["metadata"]["name"]
        existing = self.cache.bindings.get((namespace, name))
        path = _BINDINGS_PATH.format(namespace=namespace)
        if existing is None:
            try:
                created = await asyncio.to_thread(self.client.request, "POST", path, body=desired)
            except KubeApiError as exc:
                if exc.status != 409:
                    raise
                return None  # it exists already; the watch brings it and another reconcile
            log.info("created the SinkBinding of a ContainerSource", extra={"sinkbinding": name})
            return created
        if not self._owns(source, existing):
            conditions.false(
                SINK_BINDING_READY, "NotOwned", f'SinkBinding "{name}" is not owned by this source'
            )
            return None
        if existing.get("spec") != desired["spec"]:
            updated = {**existing, "spec": desired["spec"]}
            existing = await asyncio.to_thread(
                self.client.request, "PUT", f"{path}/{name}", body=updated
            )
            log.info("updated the SinkBinding of a ContainerSource", extra={"sinkbinding": name})
        return existing

    async def _ensure_deployment(
        self, source: Mapping[str, Any], template: Mapping[str, Any], conditions: Conditions
    ) -> Mapping[str, Any] | None:
        desired = desired_deployment(source, template)
        namespace = desired["metadata"]["namespace"]
        name = desired["metadata"]["name"]
        path = _DEPLOYMENTS_PATH.format(namespace=namespace)
        existing = self.cache.source_deployments.get((namespace, name))
        if existing is None:
            if self.cache.workload(_DEPLOYMENT, namespace, name) is not None:
                conditions.false(
                    RECEIVE_ADAPTER_READY,
                    "NotOwned",
                    f'Deployment "{name}" is not owned by this source',
                )
                return None
            try:
                created = await asyncio.to_thread(self.client.request, "POST", path, body=desired)
            except KubeApiError as exc:
                if exc.status != 409:
                    raise
                return None
            log.info("created the Deployment of a ContainerSource", extra={"deployment": name})
            return created
        if not self._owns(source, existing):
            conditions.false(
                RECEIVE_ADAPTER_READY,
                "NotOwned",
                f'Deployment "{name}" is not owned by this source',
            )
            return None
        existing_template = (existing.get("spec") or {}).get("template") or {}
        want_hash = desired["metadata"]["annotations"][TEMPLATE_HASH_ANNOTATION]
        have_hash = ((existing.get("metadata") or {}).get("annotations") or {}).get(
            TEMPLATE_HASH_ANNOTATION
        )
        unbound = _with_binding(existing_template, None)
        if have_hash == want_hash and is_derivative(desired["spec"]["template"], unbound):
            return existing
        # Keep the variables the SinkBinding injected, so the update does not roll out pods
        # without a sink; the binding's own reconcile corrects them if they are outdated.
        new_template = _with_binding(
            desired["spec"]["template"], _current_injection(existing_template)
        )
        existing_meta = dict(existing.get("metadata") or {})
        existing_meta["labels"] = {
            **(existing_meta.get("labels") or {}),
            **desired["metadata"]["labels"],
        }
        existing_meta["annotations"] = {
            **(existing_meta.get("annotations") or {}),
            TEMPLATE_HASH_ANNOTATION: want_hash,
        }
        updated = {
            **existing,
            "metadata": existing_meta,
            "spec": {**(existing.get("spec") or {}), "template": new_template},
        }
        result = await asyncio.to_thread(self.client.request, "PUT", f"{path}/{name}", body=updated)
        log.info("updated the Deployment of a ContainerSource", extra={"deployment": name})
        return result

    @staticmethod
    def _owns(source: Mapping[str, Any], child: Mapping[str, Any]) -> bool:
        owner = controller_owner(child)
        return owner is not None and owner.get("uid") == (source.get("metadata") or {}).get("uid")

    async def _remove_orphans(self, namespace: str, name: str) -> None:
        """Delete ``name``'s children whose owning ContainerSource no longer exists."""
        live = (self.cache.sources.get((namespace, name)) or {}).get("metadata") or {}
        live_uid = None if live.get("deletionTimestamp") else live.get("uid")
        deployment, binding = child_name(name, "-deployment"), child_name(name, "-sinkbinding")
        candidates: list[tuple[str, Mapping[str, Any] | None]] = [
            (
                f"{_DEPLOYMENTS_PATH.format(namespace=namespace)}/{deployment}",
                self.cache.source_deployments.get((namespace, deployment)),
            ),
            (
                f"{_BINDINGS_PATH.format(namespace=namespace)}/{binding}",
                self.cache.bindings.get((namespace, binding)),
            ),
        ]
        for path, child in candidates:
            if child is None:
                continue
            owner = controller_owner(child)
            if owner is None or owner.get("kind") != "ContainerSource" or owner.get("name") != name:
                continue
            if live_uid is not None and owner.get("uid") == live_uid:
                continue
            uid = (child.get("metadata") or {}).get("uid")
            body = {
                "apiVersion": "v1",
                "kind": "DeleteOptions",
                "preconditions": {"uid": uid},
                "propagationPolicy": "Background",
            }
            try:
                await asyncio.to_thread(self.client.request, "DELETE", path, body=body)
            except KubeApiError as exc:
                if exc.status not in (404, 409):
                    raise
            else:
                log.info("removed a child of a deleted ContainerSource", extra={"path": path})

    async def _write_status(
        self, source: Mapping[str, Any], conditions: Conditions, status: dict[str, Any]
    ) -> None:
        metadata = source.get("metadata") or {}
        path = _SOURCES_PATH.format(namespace=metadata["namespace"], name=metadata["name"])
        kept = ("annotations", "ceAttributes", "auth")
        await write_status(self.client, path, source, conditions, status, keep=kept)
