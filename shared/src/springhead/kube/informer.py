"""An informer that neither misses nor replays a change: list, watch, relist-and-diff on 410.

An :class:`Informer` keeps, per object of one :class:`Selection` (a resource type in a namespace,
with label and field selectors), what it last *handled*: uid, name, namespace, resourceVersion and
optionally a fingerprint, the controller owner and the whole object. It calls the handler with one
:class:`Change` (add, update or delete; the object; the previous :class:`CachedObject`) at a time,
in the order the API server reported them, and records a change only after the handler returned. So
the cache always describes the state the handler has seen, and :meth:`Informer.snapshot` is a
consistent position to resume from; :meth:`Informer.take_delta` gives just what changed since the
previous snapshot or delta, so persisting the position costs little when little changed. How a
position is stored is the caller's business (the ApiServer source keeps it in a ConfigMap).

How it follows the API server:

- start: a paginated list, then a watch from the list's resourceVersion with
  ``allowWatchBookmarks``; or, given a :class:`Snapshot`, a watch straight from its
  resourceVersion with the snapshot's objects as the cache.
- a watch ending (timeout, apiserver restart, network) is reopened from the last resourceVersion
  received, with exponential backoff on failures.
- 410 Gone (the resourceVersion was compacted away) -> relist, and diff the list against the
  cache: uid unknown -> add; resourceVersion differs -> update; cached uid missing from the list
  -> delete (object = the last known state). A change the handler already saw is never reported
  again; a change made while the watch was away is reported once (several updates of one object
  in the gap collapse into one update with the newest state, as the intermediate states are gone).
- events whose resourceVersion is not newer than the cached one are skipped (a replay).

The Kubernetes client is synchronous: list and watch run in a dedicated daemon thread, which feeds
an asyncio queue (bounded: a slow handler holds the watch back instead of filling memory). All
cache work happens in the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from springhead.backoff import exponential_backoff
from springhead.kube.client import ApiResource, KubeApiError, KubeClient
from springhead.metrics import WatchMetrics

__all__ = [
    "CachedObject",
    "Change",
    "ChangeType",
    "Delta",
    "Informer",
    "InformerError",
    "Selection",
    "Snapshot",
    "StopInformer",
    "controller_of",
    "spec_fingerprint",
]

log = logging.getLogger("springhead.informer")

#: Fields that change without the object's desired state changing.
_VOLATILE_METADATA = ("resourceVersion", "managedFields", "generation")


class ChangeType(StrEnum):
    """What happened to an object."""

    ADD = "add"
    UPDATE = "update"
    DELETE = "delete"


class StopInformer(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised by a handler to stop the informer without recording the change it was given."""


@dataclass(frozen=True, slots=True)
class Selection:
    """What one informer watches: a resource type, a namespace (None: all, or cluster-scoped)
    and optional label and field selectors (Kubernetes selector syntax)."""

    resource: ApiResource
    namespace: str | None = None
    label_selector: str = ""
    field_selector: str = ""

    @property
    def key(self) -> str:
        """A stable text naming this selection (a snapshot is only valid for the same key)."""
        namespace = self.namespace if self.resource.namespaced and self.namespace else "*"
        return (
            f"{self.resource.api_version}/{self.resource.kind} namespace={namespace} "
            f"labels={self.label_selector} fields={self.field_selector}"
        )

    @property
    def path(self) -> str:
        """The collection path listed and watched."""
        return self.resource.collection_path(self.namespace)

    def describe(self) -> str:
        """``configmaps (v1) in namespace "x"``: how logs name the selection."""
        where = (
            f'in namespace "{self.namespace}"'
            if self.resource.namespaced and self.namespace
            else "cluster-wide"
        )
        return f"{self.resource.plural} ({self.resource.api_version}) {where}"

    def selector_params(self) -> dict[str, str]:
        """The ``labelSelector`` / ``fieldSelector`` query parameters."""
        params: dict[str, str] = {}
        if self.label_selector:
            params["labelSelector"] = self.label_selector
        if self.field_selector:
            params["fieldSelector"] = self.field_selector
        return params


@dataclass(frozen=True, slots=True)
class CachedObject:
    """What the informer remembers of one object (as of the last change handled)."""

    uid: str
    namespace: str
    name: str
    resource_version: str
    fingerprint: str | None = None
    """:func:`spec_fingerprint`-like digest, when the informer computes one."""
    controller: tuple[str, str, str] | None = None
    """(apiVersion, kind, name) of the controller owner reference, if any."""
    object: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)
    """The whole object, when the informer keeps objects."""

    def last_state(self, resource: ApiResource) -> dict[str, Any]:
        """The object as last seen: the kept object, else a skeleton with the identifying
        metadata (apiVersion, kind, name, namespace, uid, resourceVersion, controller owner)."""
        if self.object is not None:
            return dict(self.object)
        metadata: dict[str, Any] = {
            "name": self.name,
            "uid": self.uid,
            "resourceVersion": self.resource_version,
        }
        if self.namespace:
            metadata["namespace"] = self.namespace
        if self.controller is not None:
            api_version, kind, name = self.controller
            metadata["ownerReferences"] = [
                {"apiVersion": api_version, "kind": kind, "name": name, "controller": True}
            ]
        return {"apiVersion": resource.api_version, "kind": resource.kind, "metadata": metadata}


@dataclass(frozen=True, slots=True)
class Change:
    """One add, update or delete, as the handler receives it."""

    type: ChangeType
    object: Mapping[str, Any]
    """The object: as the API server sent it (apiVersion and kind always set); for a delete
    found by a relist, its last known state (:meth:`CachedObject.last_state`)."""
    previous: CachedObject | None
    """What the informer knew before (None for an add)."""
    relisted: bool = False
    """True when the change was found by diffing a list, not reported by a watch."""

    @property
    def uid(self) -> str:
        """The object's uid."""
        return str(_metadata(self.object).get("uid", ""))

    @property
    def resource_version(self) -> str:
        """The object's resourceVersion in this change."""
        return str(_metadata(self.object).get("resourceVersion", ""))


@dataclass(frozen=True, slots=True)
class InformerError:
    """Why the informer cannot list or watch right now."""

    status: int
    """HTTP status (403 forbidden, 404 not served, 0 unreachable ...)."""
    verb: str
    """``list`` or ``watch``."""
    message: str


@dataclass(frozen=True)
class Snapshot:
    """A consistent resume position: the resourceVersion and every object known at it."""

    selection: str
    """:attr:`Selection.key` of the informer that took it."""
    resource_version: str
    objects: tuple[CachedObject, ...]


@dataclass(frozen=True)
class Delta:
    """Changes to an informer's cache since its previous snapshot or delta: uid -> the new
    :class:`CachedObject` (None: removed), and the position they lead to."""

    selection: str
    """:attr:`Selection.key` of the informer that took it."""
    resource_version: str
    changes: Mapping[str, CachedObject | None]

    def apply(self, snapshot: Snapshot) -> Snapshot:
        """``snapshot`` moved forward by these changes; ValueError when it is another
        selection's."""
        if snapshot.selection != self.selection:
            raise ValueError(f"delta is for {self.selection!r}, not {snapshot.selection!r}")
        objects = {k.uid: k for k in snapshot.objects}
        for uid, known in self.changes.items():
            if known is None:
                objects.pop(uid, None)
            else:
                objects[uid] = known
        return Snapshot(self.selection, self.resource_version, tuple(objects.values()))


def _metadata(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = obj.get("metadata")
    return metadata if isinstance(metadata, Mapping) else {}


def controller_of(obj: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """(apiVersion, kind, name) of ``obj``'s controller owner reference, or None."""
    for ref in _metadata(obj).get("ownerReferences") or ():
        if isinstance(ref, Mapping) and ref.get("controller") is True:
            return (str(ref.get("apiVersion", "")), str(ref.get("kind", "")), str(ref.get("name")))
    return None


def spec_fingerprint(obj: Mapping[str, Any]) -> str:
    """A digest of ``obj`` without ``status`` and without metadata that changes on its own
    (resourceVersion, managedFields, generation): equal digests mean only those changed."""
    trimmed = {k: v for k, v in obj.items() if k != "status"}
    metadata = trimmed.get("metadata")
    if isinstance(metadata, Mapping):
        trimmed["metadata"] = {k: v for k, v in metadata.items() if k not in _VOLATILE_METADATA}
    canonical = json.dumps(trimmed, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(canonical.encode(), digest_size=12).hexdigest()


def _newer(candidate: str, known: str) -> bool:
    """Whether resourceVersion ``candidate`` is newer than ``known``.

    resourceVersions are opaque strings to clients, but every Kubernetes API server backed by
    etcd issues increasing integers; compare them as such, and treat anything else as newer
    when it differs.
    """
    if candidate.isdigit() and known.isdigit():
        return int(candidate) > int(known)
    return candidate != known


# --- messages from the list/watch thread to the event loop ---------------------------------


@dataclass(frozen=True, slots=True)
class _ListBegin:
    pass


@dataclass(frozen=True, slots=True)
class _ListItem:
    object: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _ListEnd:
    resource_version: str


@dataclass(frozen=True, slots=True)
class _Watched:
    type: str
    object: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Bookmark:
    resource_version: str


_Message = _ListBegin | _ListItem | _ListEnd | _Watched | _Bookmark | None


class _Gone(Exception):  # noqa: N818 - control flow between producer functions
    """The watch reported 410: relist."""


class _Stopped(Exception):  # noqa: N818 - control flow between producer functions
    """The informer is stopping."""


Handler = Callable[[Change], Awaitable[None]]


class Informer:
    """Lists and watches one :class:`Selection`, handing each change to ``handler`` in order.

    ``keep_objects`` keeps whole objects in the cache (so a delete found by a relist carries the
    last full state); otherwise only identifying metadata is kept. ``fingerprint`` (e.g.
    :func:`spec_fingerprint`) makes updates that leave the fingerprint unchanged invisible to the
    handler. ``resume_from`` resumes from a previous :meth:`snapshot` of the same selection.
    ``emit_existing`` reports the objects of the first list as adds (otherwise they are only
    cached). ``metrics`` counts the watch's restarts and relists for this selection.
    """

    def __init__(
        self,
        client: KubeClient,
        selection: Selection,
        handler: Handler,
        *,
        keep_objects: bool = False,
        fingerprint: Callable[[Mapping[str, Any]], str] | None = None,
        resume_from: Snapshot | None = None,
        emit_existing: bool = False,
        page_size: int = 500,
        watch_timeout: int = 300,
        backoff_base: float = 0.2,
        backoff_max: float = 10.0,
        queue_size: int = 256,
        metrics: WatchMetrics | None = None,
    ) -> None:
        self.client = client
        self.selection = selection
        self.handler = handler
        self.keep_objects = keep_objects
        self.fingerprint = fingerprint
        self.emit_existing = emit_existing
        self.page_size = page_size
        self.watch_timeout = watch_timeout
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._cache: dict[str, CachedObject] = {}
        self._delta: dict[str, CachedObject | None] = {}
        self._position: str | None = None
        if resume_from is not None:
            if resume_from.selection != selection.key:
                raise ValueError(
                    f"snapshot is for {resume_from.selection!r}, not {selection.key!r}"
                )
            self._cache = {k.uid: k for k in resume_from.objects}
            self._position = resume_from.resource_version
        self._received = self._position  # the list/watch thread's position
        self._listing = False
        self._initial_list = False
        self._seen: set[str] = set()
        self._slots = threading.Semaphore(queue_size)
        self._stopping = threading.Event()
        self._stream_lock = threading.Lock()
        self._stream: Any = None
        self._queue: asyncio.Queue[_Message] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._synced = asyncio.Event()
        self._error: InformerError | None = None
        self._failing = asyncio.Event()
        self._changes = 0
        self._restarts: Any = None
        self._relists: Any = None
        if metrics is not None:
            resource = selection.resource
            name = f"{resource.plural}.{resource.group}" if resource.group else resource.plural
            where = selection.namespace if resource.namespaced and selection.namespace else "*"
            self._restarts = metrics.restarts.labels(name, where)
            self._relists = metrics.relists.labels(name, where)

    # -- state --------------------------------------------------------------------------------

    @property
    def synced(self) -> bool:
        """True once the first list completed (or the watch from the snapshot opened)."""
        return self._synced.is_set()

    async def wait_synced(self) -> None:
        """Wait until :attr:`synced`."""
        await self._synced.wait()

    @property
    def error(self) -> InformerError | None:
        """Why listing or watching fails right now (None when it works)."""
        return self._error

    async def wait_error(self) -> InformerError:
        """Wait until listing or watching fails with a permission or not-found error."""
        await self._failing.wait()
        assert self._error is not None  # noqa: S101 - set together with the event
        return self._error

    @property
    def known(self) -> Mapping[str, CachedObject]:
        """The cache: uid -> :class:`CachedObject`, as of the last change handled (read-only)."""
        return self._cache

    @property
    def resource_version(self) -> str | None:
        """The resourceVersion the cache is consistent with (None before the first list)."""
        return self._position

    @property
    def changes_handled(self) -> int:
        """How many changes the handler accepted so far."""
        return self._changes

    def snapshot(self) -> Snapshot | None:
        """The current consistent position, or None (before the first list, during a relist).

        Also empties the pending delta (:meth:`take_delta`): the snapshot contains all of it.
        """
        if self._position is None or self._listing:
            return None
        self._delta = {}
        return Snapshot(self.selection.key, self._position, tuple(self._cache.values()))

    def take_delta(self) -> Delta | None:
        """What changed in the cache since the last :meth:`snapshot` or :meth:`take_delta`,
        with the position it brings the cache to (None before the first list, during a
        relist). Applied to the previous snapshot, it gives the current one - a cheap way to
        persist the position when few objects changed."""
        if self._position is None or self._listing:
            return None
        delta = Delta(self.selection.key, self._position, self._delta)
        self._delta = {}
        return delta

    # -- running ------------------------------------------------------------------------------

    async def run(self) -> None:
        """List and watch until :meth:`stop` (or a handler raises :class:`StopInformer`)."""
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        thread = threading.Thread(
            target=self._produce, name=f"informer {self.selection.describe()}", daemon=True
        )
        thread.start()
        try:
            while not self._stopping.is_set():
                message = await self._queue.get()
                if message is None or self._stopping.is_set():
                    break
                try:
                    await self._apply(message)
                except StopInformer:
                    break
                finally:
                    self._slots.release()
        finally:
            self._stop_producer()

    async def stop(self) -> None:
        """Stop listing and watching; :meth:`run` returns after the change in progress."""
        self._stop_producer()
        if self._queue is not None:
            self._queue.put_nowait(None)

    def _stop_producer(self) -> None:
        self._stopping.set()
        with self._stream_lock:
            stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()

    # -- the event-loop side --------------------------------------------------------------------

    def _remember(self, obj: Mapping[str, Any]) -> CachedObject:
        metadata = _metadata(obj)
        return CachedObject(
            uid=str(metadata.get("uid", "")),
            namespace=str(metadata.get("namespace") or ""),
            name=str(metadata.get("name", "")),
            resource_version=str(metadata.get("resourceVersion", "")),
            fingerprint=self.fingerprint(obj) if self.fingerprint is not None else None,
            controller=controller_of(obj),
            object=obj if self.keep_objects else None,
        )

    async def _handle(self, change: Change) -> None:
        await self.handler(change)
        self._changes += 1

    async def _upsert(self, obj: dict[str, Any], *, relisted: bool, announce: bool) -> None:
        """An object seen in a list or an ADDED/MODIFIED event."""
        known = self._remember(obj)
        previous = self._cache.get(known.uid)
        if previous is None:
            if announce:
                await self._handle(Change(ChangeType.ADD, obj, None, relisted))
        elif not _newer(known.resource_version, previous.resource_version):
            return  # already handled: a replay
        elif self.fingerprint is None or known.fingerprint != previous.fingerprint:
            await self._handle(Change(ChangeType.UPDATE, obj, previous, relisted))
        self._cache[known.uid] = known
        self._delta[known.uid] = known

    async def _apply(self, message: _Message) -> None:
        if isinstance(message, _Watched):
            obj = message.object
            metadata = _metadata(obj)
            uid = str(metadata.get("uid", ""))
            if message.type == "DELETED":
                previous = self._cache.get(uid)
                if previous is not None:
                    await self._handle(Change(ChangeType.DELETE, obj, previous))
                    del self._cache[uid]
                    self._delta[uid] = None
            else:
                await self._upsert(obj, relisted=False, announce=True)
            self._advance(str(metadata.get("resourceVersion", "")))
        elif isinstance(message, _ListItem):
            uid = str(_metadata(message.object).get("uid", ""))
            self._seen.add(uid)
            announce = not self._initial_list or self.emit_existing
            await self._upsert(message.object, relisted=not self._initial_list, announce=announce)
        elif isinstance(message, _Bookmark):
            self._advance(message.resource_version)
        elif isinstance(message, _ListBegin):
            self._listing = True
            self._initial_list = self._position is None
            self._seen = set()
        elif isinstance(message, _ListEnd):
            resource = self.selection.resource
            for uid in [uid for uid in self._cache if uid not in self._seen]:
                previous = self._cache[uid]
                await self._handle(
                    Change(ChangeType.DELETE, previous.last_state(resource), previous, True)
                )
                del self._cache[uid]
                self._delta[uid] = None
            self._seen = set()
            self._listing = False
            self._position = message.resource_version
            self._synced.set()

    def _advance(self, resource_version: str) -> None:
        if resource_version and (
            self._position is None or _newer(resource_version, self._position)
        ):
            self._position = resource_version

    # -- the list/watch thread ------------------------------------------------------------------

    def _post(self, message: _Message) -> None:
        while not self._slots.acquire(timeout=0.5):
            if self._stopping.is_set():
                raise _Stopped
        if self._stopping.is_set():
            raise _Stopped
        assert self._loop is not None and self._queue is not None  # noqa: S101 - set by run()
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, message)
        except RuntimeError:  # the loop closed under us
            raise _Stopped from None

    def _call_in_loop(self, function: Callable[[], None]) -> None:
        assert self._loop is not None  # noqa: S101 - set by run()
        try:
            self._loop.call_soon_threadsafe(function)
        except RuntimeError:  # pragma: no cover - the loop closed under us
            pass

    def _report(self, error: InformerError | None) -> None:
        previous = self._error
        if error == previous:
            return
        self._error = error
        if error is None:
            self._failing.clear()
        else:
            self._failing.set()
        what = self.selection.describe()
        if error is None:
            if previous is not None:
                log.info("watching again", extra={"selection": what})
            return
        resource = self.selection.resource
        details = {
            "verb": error.verb,
            "resource": resource.plural,
            "group": resource.group,
            "namespace": self.selection.namespace if resource.namespaced else None,
            "status": error.status,
            "detail": error.message,
        }
        if error.status == 403:
            log.error(f"permission denied: cannot {error.verb} {what}", extra=details)
        else:
            log.error(f"cannot {error.verb} {what}", extra=details)

    def _backoff(self, failures: int) -> float:
        return exponential_backoff(failures, base=self.backoff_base, maximum=self.backoff_max)

    def _produce(self) -> None:
        must_list = self._received is None
        failures = gones = 0
        while not self._stopping.is_set():
            verb = "list" if must_list else "watch"
            try:
                if must_list:
                    self._received = self._list()
                    must_list = False
                    self._call_in_loop(lambda: self._report(None))
                verb = "watch"
                self._watch()
                failures = gones = 0
                self._count(self._restarts)
            except _Stopped:
                return
            except (_Gone, KubeApiError) as exc:
                if verb == "watch":
                    self._count(self._restarts)
                if isinstance(exc, _Gone) or exc.gone:
                    gones += 1
                    self._count(self._relists)
                    log.info(
                        "resourceVersion too old (410 Gone): relisting to find what changed",
                        extra={"selection": self.selection.describe(), "from": self._received},
                    )
                    must_list = True
                    if gones > 1:  # the fresh list's version is gone too: do not spin
                        self._stopping.wait(self._backoff(gones - 1))
                    continue
                failures += 1
                error = InformerError(exc.status, verb, exc.message or exc.reason)
                if exc.status in (401, 403, 404):
                    self._call_in_loop(lambda error=error: self._report(error))  # type: ignore[misc]
                else:
                    log.warning(
                        f"{verb} failed, retrying: {exc}",
                        extra={"selection": self.selection.describe()},
                    )
                self._stopping.wait(self._backoff(failures))
            except Exception as exc:  # noqa: BLE001 - keep following; the next try may work
                failures += 1
                if verb == "watch":
                    self._count(self._restarts)
                log.warning(
                    f"{verb} failed, retrying: {type(exc).__name__}: {exc}",
                    extra={"selection": self.selection.describe()},
                )
                self._stopping.wait(self._backoff(failures))

    def _count(self, counter: Any) -> None:
        if counter is not None and not self._stopping.is_set():
            counter.inc()

    def _with_kind(self, obj: dict[str, Any]) -> dict[str, Any]:
        # List items of built-in types come without apiVersion and kind.
        if "kind" not in obj or "apiVersion" not in obj:
            obj = {
                "apiVersion": self.selection.resource.api_version,
                "kind": self.selection.resource.kind,
                **obj,
            }
        return obj

    def _list(self) -> str:
        """List everything (paginated), posting items; returns the list's resourceVersion."""
        attempts = 0
        while True:
            self._post(_ListBegin())
            continue_token = ""
            try:
                while True:
                    params = {"limit": str(self.page_size), **self.selection.selector_params()}
                    if continue_token:
                        params["continue"] = continue_token
                    page = self.client.get(self.selection.path, params)
                    for item in page.get("items") or ():
                        self._post(_ListItem(self._with_kind(item)))
                    metadata = page.get("metadata") or {}
                    continue_token = str(metadata.get("continue") or "")
                    if not continue_token:
                        resource_version = str(metadata.get("resourceVersion", ""))
                        log.debug(
                            "listed",
                            extra={
                                "selection": self.selection.describe(),
                                "resource_version": resource_version,
                            },
                        )
                        self._post(_ListEnd(resource_version))
                        return resource_version
            except KubeApiError as exc:
                attempts += 1
                if not (exc.gone and continue_token and attempts < 5):
                    raise
                # The continue token expired between pages: list again from the start.

    def _watch(self) -> None:
        """Watch from the last position received until the stream ends."""
        assert self._received is not None  # noqa: S101 - listed or resumed before
        params = {
            "resourceVersion": self._received,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(self.watch_timeout),
            **self.selection.selector_params(),
        }
        stream = self.client.watch(
            self.selection.path, params, read_timeout=self.watch_timeout + 60
        )
        with self._stream_lock:
            if self._stopping.is_set():
                stream.close()
                raise _Stopped
            self._stream = stream
        self._call_in_loop(self._opened)
        log.debug(
            "watching from",
            extra={"selection": self.selection.describe(), "resource_version": self._received},
        )
        try:
            for event in _events(stream):
                kind = event.get("type")
                obj = event.get("object")
                if not isinstance(obj, dict):
                    continue
                if kind == "ERROR":
                    code = int(obj.get("code") or 0)
                    if code == 410:
                        raise _Gone
                    raise KubeApiError(code, str(obj.get("reason", "")), str(obj.get("message")))
                position = str(_metadata(obj).get("resourceVersion", ""))
                if kind == "BOOKMARK":
                    self._post(_Bookmark(position))
                elif kind in ("ADDED", "MODIFIED", "DELETED"):
                    self._post(_Watched(kind, self._with_kind(obj)))
                if position:
                    self._received = position
        finally:
            with self._stream_lock:
                if self._stream is stream:
                    self._stream = None
            stream.close()
        if self._stopping.is_set():
            raise _Stopped

    def _opened(self) -> None:
        self._report(None)
        if not self._listing and self._position is not None:
            self._synced.set()


def _events(stream: Any) -> Iterator[dict[str, Any]]:
    for event in stream:
        if isinstance(event, dict):
            yield event
