"""What the controller knows of the cluster: informers (list + watch) feeding small in-memory
stores, and the indexes that turn a change into the keys to reconcile.

Workloads are kept slim - identity, labels, owner and, per container, only ``name`` and ``env`` -
so watching thousands of Deployments costs little memory. Deployments owned by a
ContainerSource are kept whole (the ContainerSource reconciler compares their templates).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from springhead.kube import (
    ApiResource,
    Change,
    ChangeType,
    Informer,
    KubeApiError,
    KubeClient,
    Selection,
)

from springhead_controller.binding import SUBJECT_KINDS, SubjectKind, pod_spec_of
from springhead_controller.crds import GROUP
from springhead_controller.selectors import SelectionMode, considered
from springhead_controller.spec import (
    BindingSpec,
    InvalidSpec,
    Reference,
    SinkError,
    Subject,
    parse_binding_spec,
)

__all__ = [
    "ADAPTER_SOURCE_KINDS",
    "API_SERVER_SOURCE",
    "API_SERVER_SOURCES",
    "CONTAINER_SOURCE",
    "CONTAINER_SOURCES",
    "CRONJOB",
    "Cache",
    "JOB",
    "KAFKA_SOURCE",
    "KAFKA_SOURCES",
    "Key",
    "NAMESPACES",
    "PING_SOURCE",
    "PING_SOURCES",
    "SINK_BINDING",
    "SINK_BINDINGS",
    "controller_owner",
    "created_by_cronjob",
    "job_template_labels",
    "slim_workload",
]

log = logging.getLogger("springhead.controller")

#: Work-queue keys: (kind, namespace, name).
Key = tuple[str, str, str]
SINK_BINDING = "SinkBinding"
CONTAINER_SOURCE = "ContainerSource"
PING_SOURCE = "PingSource"
API_SERVER_SOURCE = "ApiServerSource"
KAFKA_SOURCE = "KafkaSource"
#: Kinds run as one Deployment each (a receive adapter) that the cache keeps whole.
ADAPTER_SOURCE_KINDS = (API_SERVER_SOURCE, KAFKA_SOURCE)
JOB = SUBJECT_KINDS[("batch", "Job")]
CRONJOB = SUBJECT_KINDS[("batch", "CronJob")]
SINK_BINDINGS = ApiResource(f"{GROUP}/v1", SINK_BINDING, "sinkbindings", True)
CONTAINER_SOURCES = ApiResource(f"{GROUP}/v1", CONTAINER_SOURCE, "containersources", True)
PING_SOURCES = ApiResource(f"{GROUP}/v1", PING_SOURCE, "pingsources", True)
API_SERVER_SOURCES = ApiResource(f"{GROUP}/v1", API_SERVER_SOURCE, "apiserversources", True)
KAFKA_SOURCES = ApiResource(f"{GROUP}/v1", KAFKA_SOURCE, "kafkasources", True)
NAMESPACES = ApiResource("v1", "Namespace", "namespaces", False)
#: How long a reconcile waits for a new sink informer's first list.
SINK_SYNC_TIMEOUT = 10.0

NamespacedName = tuple[str, str]


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = obj.get("metadata")
    return metadata if isinstance(metadata, Mapping) else {}


def _where(obj: Mapping[str, Any]) -> NamespacedName:
    metadata = _meta(obj)
    return str(metadata.get("namespace") or ""), str(metadata.get("name") or "")


def _labels(obj: Mapping[str, Any] | None) -> Mapping[str, str]:
    return (_meta(obj).get("labels") or {}) if obj is not None else {}


def controller_owner(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The owner reference with ``controller: true``, or None."""
    for ref in _meta(obj).get("ownerReferences") or ():
        if isinstance(ref, Mapping) and ref.get("controller") is True:
            return ref
    return None


def _owned_by_container_source(obj: Mapping[str, Any]) -> str | None:
    owner = _source_owner(obj)
    return owner[1] if owner is not None and owner[0] == CONTAINER_SOURCE else None


def _source_owner(obj: Mapping[str, Any]) -> tuple[str, str] | None:
    """(kind, name) of the ``sources.knative.dev`` object controlling ``obj``, or None."""
    owner = controller_owner(obj)
    if owner is not None and str(owner.get("apiVersion", "")).startswith(f"{GROUP}/"):
        return str(owner.get("kind")), str(owner.get("name"))
    return None


def slim_workload(obj: Mapping[str, Any], kind: SubjectKind) -> dict[str, Any]:
    """The parts of a workload the SinkBinding reconciler needs: identity, labels, owner
    references and each (init) container's ``name`` and ``env``."""
    metadata = _meta(obj)
    slim_meta = {
        key: metadata[key]
        for key in ("name", "namespace", "uid", "resourceVersion", "labels", "ownerReferences")
        if key in metadata
    }
    pod_spec = pod_spec_of(obj, kind) or {}
    slim_spec: dict[str, Any] = {}
    for field in ("initContainers", "containers"):
        containers = pod_spec.get(field)
        if containers:
            slim_spec[field] = [{k: c[k] for k in ("name", "env") if k in c} for c in containers]
    nested: dict[str, Any] = slim_spec
    for key in reversed(kind.pod_spec_path):
        nested = {key: nested}
    if kind == CRONJOB:
        job_labels = job_template_labels(obj)
        if job_labels:
            nested["spec"]["jobTemplate"]["metadata"] = {"labels": job_labels}
    return {"apiVersion": kind.api_version, "kind": kind.kind, "metadata": slim_meta, **nested}


def job_template_labels(cronjob: Mapping[str, Any]) -> Mapping[str, str]:
    """The labels a CronJob gives the Jobs it creates (``spec.jobTemplate.metadata.labels``)."""
    job_template = (cronjob.get("spec") or {}).get("jobTemplate") or {}
    return (job_template.get("metadata") or {}).get("labels") or {}


def created_by_cronjob(job: Mapping[str, Any]) -> bool:
    """Whether a Job was created by a CronJob (its controller owner)."""
    owner = controller_owner(job)
    return owner is not None and owner.get("kind") == "CronJob"


def _same_but_version(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    def trimmed(obj: Mapping[str, Any]) -> dict[str, Any]:
        metadata = {k: v for k, v in _meta(obj).items() if k != "resourceVersion"}
        return {**obj, "metadata": metadata}

    return trimmed(old) == trimmed(new)


class _SinkStore:
    """Objects of one Addressable kind (or core Services), cluster-wide, for sink lookups."""

    def __init__(
        self,
        client: KubeClient,
        resource: ApiResource,
        on_change: Callable[[str, str], None],
    ) -> None:
        self.resource = resource
        self.objects: dict[NamespacedName, dict[str, Any]] = {}
        self._on_change = on_change
        self.informer = Informer(client, Selection(resource), self._handle, emit_existing=True)
        self.task = asyncio.create_task(self.informer.run(), name=f"sinks {resource.plural}")

    async def _handle(self, change: Change) -> None:
        where = _where(change.object)
        if change.type is ChangeType.DELETE:
            self.objects.pop(where, None)
        else:
            status = change.object.get("status") or {}
            slim: dict[str, Any] = {"metadata": {"name": where[1], "namespace": where[0]}}
            address = {k: status[k] for k in ("address", "addresses") if k in status}
            if address:
                slim["status"] = address
            if self.objects.get(where) == slim:
                return
            self.objects[where] = slim
        self._on_change(*where)


class Cache:
    """Informers for SinkBindings, ContainerSources, namespaces, every bindable workload kind
    and (on demand) each kind of sink; ``enqueue`` receives the keys a change affects."""

    def __init__(
        self,
        client: KubeClient,
        enqueue: Callable[[Key], None],
        *,
        mode: SelectionMode = SelectionMode.EXCLUSION,
    ) -> None:
        self.client = client
        self.enqueue = enqueue
        self.mode = mode
        self.bindings: dict[NamespacedName, dict[str, Any]] = {}
        self.binding_specs: dict[NamespacedName, BindingSpec | InvalidSpec] = {}
        self.bindings_in: dict[str, set[str]] = {}
        self.sources: dict[NamespacedName, dict[str, Any]] = {}
        self.ping_sources: dict[NamespacedName, dict[str, Any]] = {}
        #: ApiServerSources and KafkaSources by kind, then namespace and name.
        self.adapter_sources: dict[str, dict[NamespacedName, dict[str, Any]]] = {
            kind: {} for kind in ADAPTER_SOURCE_KINDS
        }
        #: Deployments controlled by an ApiServerSource or KafkaSource, whole, by kind.
        self.adapter_deployments: dict[str, dict[NamespacedName, dict[str, Any]]] = {
            kind: {} for kind in ADAPTER_SOURCE_KINDS
        }
        self.namespaces: dict[str, Mapping[str, str]] = {}
        self.workloads: dict[SubjectKind, dict[str, dict[str, dict[str, Any]]]] = {
            kind: {} for kind in SUBJECT_KINDS.values()
        }
        self.source_deployments: dict[NamespacedName, dict[str, Any]] = {}
        self._sinks: dict[tuple[str, str], _SinkStore] = {}
        self._sink_watchers: dict[tuple[str, str, str, str], set[Key]] = {}
        self._tracked_sink: dict[Key, tuple[str, str, str, str]] = {}
        self._sink_listeners: list[Callable[[tuple[str, str, str, str]], None]] = []
        self._informers: list[Informer] = []
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Start listing and watching (call inside the event loop)."""
        selections: list[tuple[ApiResource, Callable[[Change], Any]]] = [
            (NAMESPACES, self._on_namespace),
            (SINK_BINDINGS, self._on_binding),
            (CONTAINER_SOURCES, self._on_source),
            (PING_SOURCES, self._on_ping_source),
            (API_SERVER_SOURCES, self._adapter_source_handler(API_SERVER_SOURCE)),
            (KAFKA_SOURCES, self._adapter_source_handler(KAFKA_SOURCE)),
        ]
        for kind in SUBJECT_KINDS.values():
            resource = ApiResource(kind.api_version, kind.kind, kind.plural, True)
            selections.append((resource, self._workload_handler(kind)))
        for resource, handler in selections:
            informer = Informer(self.client, Selection(resource), handler, emit_existing=True)
            self._informers.append(informer)
            self._tasks.append(
                asyncio.create_task(informer.run(), name=f"informer {resource.plural}")
            )

    async def wait_synced(self) -> None:
        """Wait until every informer finished its first list."""
        await asyncio.gather(*(informer.wait_synced() for informer in self._informers))

    @property
    def synced(self) -> bool:
        """Whether every informer finished its first list."""
        return all(informer.synced for informer in self._informers)

    async def stop(self) -> None:
        """Stop every informer (sink informers included) and wait for them."""
        informers = self._informers + [store.informer for store in self._sinks.values()]
        tasks = self._tasks + [store.task for store in self._sinks.values()]
        for informer in informers:
            await informer.stop()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- lookups ------------------------------------------------------------------------------

    def keys(self) -> Iterator[Key]:
        """Every source object's key (for a periodic resync)."""
        for namespace, name in list(self.bindings):
            yield (SINK_BINDING, namespace, name)
        for namespace, name in list(self.sources):
            yield (CONTAINER_SOURCE, namespace, name)
        for namespace, name in list(self.ping_sources):
            yield (PING_SOURCE, namespace, name)
        for kind, objects in self.adapter_sources.items():
            for namespace, name in list(objects):
                yield (kind, namespace, name)

    def namespace_labels(self, namespace: str) -> Mapping[str, str]:
        """Labels of ``namespace`` (empty when unknown)."""
        return self.namespaces.get(namespace, {})

    def subjects(self, subject: Subject) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(subjects the binding may patch, subjects left out by include/exclude labels)."""
        in_namespace = self.workloads[subject.kind].get(subject.namespace, {})
        if subject.name is not None:
            named = in_namespace.get(subject.name)
            candidates = [named] if named is not None else []
        else:
            candidates = [
                obj for name, obj in in_namespace.items() if subject.matches(name, _labels(obj))
            ]
        namespace_labels = self.namespace_labels(subject.namespace)
        allowed, excluded = [], []
        for obj in candidates:
            if considered(self.mode, _labels(obj), namespace_labels):
                allowed.append(obj)
            else:
                excluded.append(obj)
        return allowed, excluded

    def job_creators(self, subject: Subject) -> list[dict[str, Any]]:
        """For a Job selector: the CronJobs whose Jobs it would select (by the labels of their
        job template) and that the include/exclude labels allow. Binding their job templates
        binds the Jobs they create, which can no longer change once they exist."""
        if subject.kind != JOB or subject.matcher is None:
            return []
        namespace_labels = self.namespace_labels(subject.namespace)
        return [
            obj
            for obj in self.workloads[CRONJOB].get(subject.namespace, {}).values()
            if subject.matcher(job_template_labels(obj))
            and considered(self.mode, _labels(obj), namespace_labels)
        ]

    def workload(self, kind: SubjectKind, namespace: str, name: str) -> dict[str, Any] | None:
        """The slim workload, or None."""
        return self.workloads[kind].get(namespace, {}).get(name)

    def track_sink(
        self, where: NamespacedName, ref: Reference | None, kind: str = SINK_BINDING
    ) -> None:
        """Reconcile the ``kind`` object at ``where`` (a SinkBinding unless said) whenever the
        object ``ref`` names changes (None: stop)."""
        binding: Key = (kind, *where)
        previous = self._tracked_sink.pop(binding, None)
        if previous is not None:
            watchers = self._sink_watchers.get(previous)
            if watchers is not None:
                watchers.discard(binding)
                if not watchers:
                    del self._sink_watchers[previous]
        if ref is not None:
            key = (ref.group, ref.kind, ref.namespace, ref.name)
            self._tracked_sink[binding] = key
            self._sink_watchers.setdefault(key, set()).add(binding)

    def listen_to_sinks(self, listener: Callable[[tuple[str, str, str, str]], None]) -> None:
        """Call ``listener`` with ``(group, kind, namespace, name)`` whenever a sink object seen
        through :meth:`sink_target` changes (a reconciler that is not per key, the Broker and
        Trigger one, filters what it resolved)."""
        self._sink_listeners.append(listener)

    async def sink_target(self, ref: Reference) -> dict[str, Any] | None:
        """The object ``ref`` names (slim: address status only), None when it does not exist.

        Starts watching that kind cluster-wide the first time it is asked for (its resource name
        found through discovery). Raises :class:`SinkError` when the kind is not served or
        cannot be listed.
        """
        kind_key = (ref.group, ref.kind)
        store = self._sinks.get(kind_key)
        if store is None:
            try:
                resource = await asyncio.to_thread(self.client.discover, ref.api_version, ref.kind)
            except KubeApiError as exc:
                raise SinkError(
                    "NoAddressable", f"cannot find the resource of sink {ref.describe()}: {exc}"
                ) from None
            store = _SinkStore(self.client, resource, self._on_sink_change(ref.group, ref.kind))
            self._sinks[kind_key] = store
        if not store.informer.synced:
            try:
                async with asyncio.timeout(SINK_SYNC_TIMEOUT):
                    await store.informer.wait_synced()
            except TimeoutError:
                error = store.informer.error
                why = error.message if error is not None else "no answer yet"
                raise SinkError(
                    "NoAddressable",
                    f"cannot list {store.resource.plural} ({ref.api_version}) for sink "
                    f"{ref.describe()}: {why}",
                ) from None
        return store.objects.get((ref.namespace, ref.name))

    # -- change handlers ----------------------------------------------------------------------

    def _on_sink_change(self, group: str, kind: str) -> Callable[[str, str], None]:
        def changed(namespace: str, name: str) -> None:
            for watcher in self._sink_watchers.get((group, kind, namespace, name), ()):
                self.enqueue(watcher)
            for listener in self._sink_listeners:
                listener((group, kind, namespace, name))

        return changed

    def _enqueue_bindings_in(self, namespace: str) -> None:
        for name in self.bindings_in.get(namespace, ()):
            self.enqueue((SINK_BINDING, namespace, name))

    async def _on_namespace(self, change: Change) -> None:
        name = _where(change.object)[1]
        if change.type is ChangeType.DELETE:
            self.namespaces.pop(name, None)
            self._enqueue_namespace_selectors()
            return
        labels = dict(_labels(change.object))
        if self.namespaces.get(name) != labels:
            self.namespaces[name] = labels
            self._enqueue_bindings_in(name)
            self._enqueue_namespace_selectors()

    def _enqueue_namespace_selectors(self) -> None:
        """ApiServerSources with a namespace selector report the namespaces it selects."""
        for (namespace, source), obj in self.adapter_sources[API_SERVER_SOURCE].items():
            if (obj.get("spec") or {}).get("namespaceSelector") is not None:
                self.enqueue((API_SERVER_SOURCE, namespace, source))

    async def _on_binding(self, change: Change) -> None:
        where = _where(change.object)
        namespace, name = where
        if change.type is ChangeType.DELETE:
            self.bindings.pop(where, None)
            self.binding_specs.pop(where, None)
            self.bindings_in.get(namespace, set()).discard(name)
            self.track_sink(where, None)
        else:
            self.bindings[where] = dict(change.object)
            try:
                self.binding_specs[where] = parse_binding_spec(change.object)
            except InvalidSpec as exc:
                self.binding_specs[where] = exc
            self.bindings_in.setdefault(namespace, set()).add(name)
        self.enqueue((SINK_BINDING, namespace, name))
        owner = _owned_by_container_source(change.object)
        if owner is not None:
            self.enqueue((CONTAINER_SOURCE, namespace, owner))

    async def _on_source(self, change: Change) -> None:
        where = _where(change.object)
        if change.type is ChangeType.DELETE:
            self.sources.pop(where, None)
        else:
            self.sources[where] = dict(change.object)
        self.enqueue((CONTAINER_SOURCE, *where))

    async def _on_ping_source(self, change: Change) -> None:
        where = _where(change.object)
        if change.type is ChangeType.DELETE:
            self.ping_sources.pop(where, None)
        else:
            self.ping_sources[where] = dict(change.object)
        self.enqueue((PING_SOURCE, *where))

    def _adapter_source_handler(self, kind: str) -> Callable[[Change], Any]:
        objects = self.adapter_sources[kind]

        async def handle(change: Change) -> None:
            where = _where(change.object)
            if change.type is ChangeType.DELETE:
                objects.pop(where, None)
            else:
                objects[where] = dict(change.object)
            self.enqueue((kind, *where))

        return handle

    def _workload_handler(self, kind: SubjectKind) -> Callable[[Change], Any]:
        async def handle(change: Change) -> None:
            namespace, name = _where(change.object)
            in_namespace = self.workloads[kind].setdefault(namespace, {})
            old = in_namespace.get(name)
            new: dict[str, Any] | None = None
            if change.type is ChangeType.DELETE:
                in_namespace.pop(name, None)
                if not in_namespace:
                    del self.workloads[kind][namespace]
            else:
                new = slim_workload(change.object, kind)
                in_namespace[name] = new
            owner = _owned_by_container_source(change.object)
            if kind.kind == "Deployment":
                if owner is not None and new is not None:
                    self.source_deployments[(namespace, name)] = dict(change.object)
                else:
                    self.source_deployments.pop((namespace, name), None)
                self._keep_adapter_deployment(change, namespace, name)
            if owner is not None:
                self.enqueue((CONTAINER_SOURCE, namespace, owner))
            if old is not None and new is not None and _same_but_version(old, new):
                return
            self._enqueue_bindings_for(kind, namespace, name, _labels(old), _labels(new))
            if kind == CRONJOB:
                self._enqueue_job_selectors(namespace, old, new)

        return handle

    def _keep_adapter_deployment(self, change: Change, namespace: str, name: str) -> None:
        """Keep (or forget) a Deployment an ApiServerSource or KafkaSource controls, and have
        that source reconciled (its status follows the Deployment's)."""
        owner = _source_owner(change.object)
        for kind, deployments in self.adapter_deployments.items():
            if owner is not None and owner[0] == kind and change.type is not ChangeType.DELETE:
                deployments[(namespace, name)] = dict(change.object)
            else:
                deployments.pop((namespace, name), None)
        if owner is not None and owner[0] in self.adapter_deployments:
            self.enqueue((owner[0], namespace, owner[1]))

    def _enqueue_job_selectors(
        self, namespace: str, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
    ) -> None:
        labels = [job_template_labels(obj) for obj in (old, new) if obj is not None]
        for binding in self.bindings_in.get(namespace, ()):
            spec = self.binding_specs.get((namespace, binding))
            if not isinstance(spec, BindingSpec) or spec.subject.kind != JOB:
                continue
            matcher = spec.subject.matcher
            if matcher is not None and any(matcher(job_labels) for job_labels in labels):
                self.enqueue((SINK_BINDING, namespace, binding))

    def _enqueue_bindings_for(
        self,
        kind: SubjectKind,
        namespace: str,
        name: str,
        old_labels: Mapping[str, str],
        new_labels: Mapping[str, str],
    ) -> None:
        for binding in self.bindings_in.get(namespace, ()):
            spec = self.binding_specs.get((namespace, binding))
            if not isinstance(spec, BindingSpec) or spec.subject.kind != kind:
                continue
            if spec.subject.matches(name, old_labels) or spec.subject.matches(name, new_labels):
                self.enqueue((SINK_BINDING, namespace, binding))
