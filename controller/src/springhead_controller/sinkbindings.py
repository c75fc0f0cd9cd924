"""The SinkBinding reconciler: resolve the sink, patch every subject, report in status.

No admission webhook is involved: the reconciler patches the subjects' pod templates (Deployment,
StatefulSet, DaemonSet, ReplicaSet, Job, CronJob) itself, and patches them again whenever a
subject appears, changes (its injected variables stripped, say) or the sink moves. A finalizer
lets it undo everything when the binding is deleted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from springhead.kube import KubeApiError, KubeClient

from springhead_controller.binding import Injection, SubjectKind, subject_patch
from springhead_controller.cache import CRONJOB, Cache, created_by_cronjob
from springhead_controller.conditions import Conditions, write_status
from springhead_controller.selectors import EXCLUDE_LABEL, INCLUDE_LABEL, SelectionMode
from springhead_controller.spec import (
    BindingSpec,
    InvalidSpec,
    ResolvedSink,
    SinkError,
    parse_binding_spec,
    resolve_sink,
)

__all__ = [
    "AVAILABLE",
    "FINALIZER",
    "SINK_PROVIDED",
    "SinkBindingReconciler",
    "object_path",
]

log = logging.getLogger("springhead.controller")

#: The finalizer (Knative's name: the resource's group-qualified plural).
FINALIZER = "sinkbindings.sources.knative.dev"
AVAILABLE = "SinkBindingAvailable"
SINK_PROVIDED = "SinkProvided"
#: Attempts at patching one subject when its copy in the cache turns out stale.
PATCH_ATTEMPTS = 4
_BINDINGS_PATH = "/apis/sources.knative.dev/v1/namespaces/{namespace}/sinkbindings/{name}"
_JSON_PATCH = "application/json-patch+json"
_MERGE_PATCH = "application/merge-patch+json"


def object_path(kind: SubjectKind, namespace: str, name: str) -> str:
    """The API path of one workload."""
    prefix = f"/apis/{kind.api_version}" if kind.group else f"/api/{kind.api_version}"
    return f"{prefix}/namespaces/{namespace}/{kind.plural}/{name}"


class _Outcome:
    """What happened to the subjects of one reconcile."""

    def __init__(self) -> None:
        self.patched = 0
        self.failures: list[str] = []
        self.permanent = False
        """True when a failure will not go away by trying again (the server refuses it)."""


class SinkBindingReconciler:
    """Reconciles one SinkBinding at a time (many may run concurrently)."""

    def __init__(
        self,
        client: KubeClient,
        cache: Cache,
        *,
        cluster_domain: str = "cluster.local",
        patch_concurrency: int = 16,
    ) -> None:
        self.client = client
        self.cache = cache
        self.cluster_domain = cluster_domain
        self._patch_slots = asyncio.Semaphore(patch_concurrency)

    async def reconcile(self, namespace: str, name: str) -> float | None:
        """Bring one binding's subjects and status in line; returns seconds after which to look
        again (None: only when something changes). Raises on failures worth retrying."""
        binding = self.cache.bindings.get((namespace, name))
        if binding is None:
            return None
        metadata = binding.get("metadata") or {}
        if metadata.get("deletionTimestamp"):
            await self._finalize(binding)
            return None
        conditions = Conditions([AVAILABLE, SINK_PROVIDED], _conditions(binding))
        status: dict[str, Any] = {"observedGeneration": metadata.get("generation", 0)}
        try:
            spec = parse_binding_spec(binding)
        except InvalidSpec as exc:
            self.cache.track_sink((namespace, name), None)
            self._mark_invalid(conditions, exc)
            await self._write_status(binding, conditions, status)
            return None
        binding = await self._ensure_finalizer(binding)
        self.cache.track_sink((namespace, name), spec.sink.ref)
        retry: float | None = None
        try:
            sink = await self._resolve(spec)
        except SinkError as exc:
            conditions.false(SINK_PROVIDED, exc.reason, exc.message)
            conditions.unknown(
                AVAILABLE,
                "SinkNotResolved",
                "subjects are left as they are until the sink resolves",
            )
            await self._write_status(binding, conditions, status)
            return 30.0  # also watched: this is only a safety net
        conditions.true(SINK_PROVIDED)
        status["sinkUri"] = sink.url
        if sink.ca_certs:
            status["sinkCACerts"] = sink.ca_certs
        injection = Injection(sink=sink.url, ce_overrides=spec.ce_overrides, ca_certs=sink.ca_certs)
        outcome = await self._bind(spec, injection, conditions)
        if outcome.failures:
            conditions.false(AVAILABLE, "BindingFailed", "; ".join(outcome.failures)[:2000])
            retry = None if outcome.permanent else 5.0
        await self._write_status(binding, conditions, status)
        if outcome.patched:
            log.info(
                "bound subjects",
                extra={
                    "binding": f"{namespace}/{name}",
                    "patched": outcome.patched,
                    "sink": sink.url,
                },
            )
        return retry

    # -- pieces -------------------------------------------------------------------------------

    @staticmethod
    def _mark_invalid(conditions: Conditions, error: InvalidSpec) -> None:
        if error.reason == "InvalidSink":
            conditions.false(SINK_PROVIDED, error.reason, error.message)
            conditions.unknown(
                AVAILABLE, error.reason, "nothing is bound while the spec is invalid"
            )
        else:
            conditions.false(AVAILABLE, error.reason, error.message)

    async def _resolve(self, spec: BindingSpec) -> ResolvedSink:
        ref = spec.sink.ref
        target = await self.cache.sink_target(ref) if ref is not None else None
        return resolve_sink(spec.sink, lambda _: target, cluster_domain=self.cluster_domain)

    async def _bind(
        self, spec: BindingSpec, injection: Injection, conditions: Conditions
    ) -> _Outcome:
        subject = spec.subject
        allowed, excluded = self.cache.subjects(subject)
        outcome = _Outcome()
        if subject.name is not None and not allowed:
            if excluded:
                label = (
                    f"{INCLUDE_LABEL}: true (object and namespace)"
                    if self.cache.mode is SelectionMode.INCLUSION
                    else f"no {EXCLUDE_LABEL}: true (object and namespace)"
                )
                conditions.false(
                    AVAILABLE,
                    "SubjectExcluded",
                    f'{subject.kind.plural}.{subject.kind.group} "{subject.name}" is left out '
                    f"by the {self.cache.mode.value} mode: it needs {label}",
                )
            else:
                conditions.false(
                    AVAILABLE,
                    "SubjectMissing",
                    f'{subject.kind.plural}.{subject.kind.group} "{subject.name}" not found',
                )
            return outcome
        await self._patch_all(spec, allowed, injection, outcome)
        if not outcome.failures:
            conditions.true(AVAILABLE)
        return outcome

    async def _patch_all(
        self,
        spec: BindingSpec,
        subjects: list[dict[str, Any]],
        injection: Injection | None,
        outcome: _Outcome,
    ) -> None:
        """Apply (or undo) on every subject; for a Job selector, on the job templates of the
        CronJobs whose Jobs it selects instead of those Jobs (which cannot change)."""
        kind, selecting = spec.subject.kind, spec.subject.matcher is not None
        patches = [
            self._patch_subject(kind, obj, injection, outcome)
            for obj in subjects
            if not (selecting and created_by_cronjob(obj))
        ]
        patches += [
            self._patch_subject(CRONJOB, obj, injection, outcome)
            for obj in self.cache.job_creators(spec.subject)
        ]
        await asyncio.gather(*patches)

    async def _patch_subject(
        self,
        kind: SubjectKind,
        obj: Mapping[str, Any],
        injection: Injection | None,
        outcome: _Outcome,
    ) -> bool:
        """Apply (or undo) the binding on one subject; True when it is (now) in line or gone."""
        metadata = obj.get("metadata") or {}
        namespace, name = str(metadata.get("namespace")), str(metadata.get("name"))
        path = object_path(kind, namespace, name)
        current: Mapping[str, Any] = obj
        async with self._patch_slots:
            for _ in range(PATCH_ATTEMPTS):
                operations = subject_patch(current, kind, injection)
                if operations is None:
                    return True
                try:
                    await asyncio.to_thread(
                        self.client.request,
                        "PATCH",
                        path,
                        body=operations,
                        content_type=_JSON_PATCH,
                    )
                except KubeApiError as exc:
                    if exc.status == 404:
                        return True  # the subject vanished: nothing left to bind
                    if exc.status not in (409, 422):
                        outcome.failures.append(f"{kind.kind} {name}: {exc}")
                        return False
                    # Either our copy was stale (a test operation failed) or the server refuses
                    # the change: read the object again to tell which.
                    try:
                        fresh = await asyncio.to_thread(self.client.get, path)
                    except KubeApiError as read_error:
                        if read_error.status == 404:
                            return True
                        outcome.failures.append(f"{kind.kind} {name}: {read_error}")
                        return False
                    if _version(fresh) == _version(current):
                        outcome.failures.append(_refusal(kind, name, exc))
                        outcome.permanent = True
                        return False
                    current = fresh
                    continue
                outcome.patched += 1
                return True
        outcome.failures.append(f"{kind.kind} {name}: kept changing while being patched")
        return False

    async def _ensure_finalizer(self, binding: dict[str, Any]) -> dict[str, Any]:
        metadata = binding.get("metadata") or {}
        finalizers = list(metadata.get("finalizers") or [])
        if FINALIZER in finalizers:
            return binding
        patch = {
            "metadata": {
                "finalizers": [*finalizers, FINALIZER],
                "resourceVersion": metadata.get("resourceVersion"),
            }
        }
        path = _BINDINGS_PATH.format(namespace=metadata["namespace"], name=metadata["name"])
        return await asyncio.to_thread(
            self.client.request, "PATCH", path, body=patch, content_type=_MERGE_PATCH
        )

    async def _finalize(self, binding: dict[str, Any]) -> None:
        """Undo the binding on its subjects (a vanished subject is fine), then let it go."""
        metadata = binding.get("metadata") or {}
        finalizers = list(metadata.get("finalizers") or [])
        if FINALIZER not in finalizers:
            return
        namespace, name = str(metadata.get("namespace")), str(metadata.get("name"))
        self.cache.track_sink((namespace, name), None)
        try:
            spec = parse_binding_spec(binding)
        except InvalidSpec:
            spec = None  # it never bound anything
        if spec is not None:
            allowed, _ = self.cache.subjects(spec.subject)
            outcome = _Outcome()
            await self._patch_all(spec, allowed, None, outcome)
            if outcome.failures:
                raise RuntimeError("could not undo the binding: " + "; ".join(outcome.failures))
            if outcome.patched:
                log.info(
                    "unbound subjects",
                    extra={"binding": f"{namespace}/{name}", "patched": outcome.patched},
                )
        patch = {
            "metadata": {
                "finalizers": [f for f in finalizers if f != FINALIZER],
                "resourceVersion": metadata.get("resourceVersion"),
            }
        }
        path = _BINDINGS_PATH.format(namespace=namespace, name=name)
        try:
            await asyncio.to_thread(
                self.client.request, "PATCH", path, body=patch, content_type=_MERGE_PATCH
            )
        except KubeApiError as exc:
            if exc.status != 404:
                raise

    async def _write_status(
        self, binding: Mapping[str, Any], conditions: Conditions, status: dict[str, Any]
    ) -> None:
        metadata = binding.get("metadata") or {}
        path = _BINDINGS_PATH.format(namespace=metadata["namespace"], name=metadata["name"])
        kept = ("annotations", "ceAttributes")
        await write_status(self.client, path, binding, conditions, status, keep=kept)


def _version(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion", ""))


def _refusal(kind: SubjectKind, name: str, error: KubeApiError) -> str:
    if kind.kind == "Job":
        return (
            f"Job {name}: a Job's pod template cannot change once the Job exists; create it "
            "with the sink, or bind the CronJob that creates it"
        )
    return f"{kind.kind} {name}: the API server refused the patch: {error.message[:300]}"


def _conditions(obj: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list((obj.get("status") or {}).get("conditions") or [])
