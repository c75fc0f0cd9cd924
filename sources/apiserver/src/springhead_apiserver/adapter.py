"""ApiServerSource adapter: every add, update and delete of the watched objects, exactly once.

One :class:`~springhead.kube.Informer` per resource and namespace (or one cluster-wide per
resource for ``*`` and for a namespace selector, whose namespaces a further informer follows).
Each change becomes a CloudEvent (:mod:`springhead_apiserver.mapping`) and is sent before the next
change of the same informer is looked at; a change counts as done - and the informer's position
moves past it - only once the sink or the dead-letter sink accepted it. An event nobody accepted is
sent again (with its same id) until someone does. The positions are written to the state ConfigMap
every ``APISERVER_STATE_INTERVAL`` and on shutdown; a restart resumes from them.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from springhead.backoff import exponential_backoff, stopped_within
from springhead.kube import (
    ApiResource,
    Change,
    ChangeType,
    Informer,
    KubeApiError,
    KubeClient,
    Selection,
    StopInformer,
    spec_fingerprint,
)
from springhead.metrics import WatchMetrics
from springhead.runtime import SourceHost
from springhead.sender import DeliveryResult, Sender

from springhead_apiserver.config import ApiServerSettings, EventMode
from springhead_apiserver.mapping import change_event, owner_matches
from springhead_apiserver.state import StateStore, WatchState, merge

__all__ = ["ApiServerAdapter", "build_selections"]

log = logging.getLogger("springhead.apiserver")

#: The longest wait between two attempts of a call to the API server that failed.
RETRY_MAX_DELAY = 30.0
#: When only bookmarks moved a position (no change handled), save it at most this often.
IDLE_SAVE_INTERVAL = 60.0
_NAMESPACES = ApiResource("v1", "Namespace", "namespaces", namespaced=False)


def build_selections(settings: ApiServerSettings, resources: list[ApiResource]) -> list[Selection]:
    """The informers' selections: ``resources[i]`` is the discovered ``settings.resources[i]``.

    Namespaced resources get one selection per watched namespace, or one cluster-wide selection
    when watching all namespaces (``*`` or a namespace selector); cluster-scoped resources one.
    """
    selections: list[Selection] = []
    for spec, resource in zip(settings.resources, resources, strict=True):
        namespaces: list[str | None] = (
            list(settings.watched_namespaces)
            if resource.namespaced and not settings.all_namespaces
            else [None]
        )
        for namespace in namespaces:
            selection = Selection(resource, namespace, spec.label_selector, spec.field_selector)
            if selection not in selections:  # the same watch named twice is one watch
                selections.append(selection)
    return selections


def _now() -> datetime:
    return datetime.now(UTC)


def _namespace_of(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("namespace") or "")


def _named(obj: Mapping[str, Any], namespace: str, name: str | None) -> bool:
    metadata = obj.get("metadata") or {}
    return metadata.get("name") == name and metadata.get("namespace") == namespace


class ApiServerAdapter:
    """Watches what the settings name and sends one CloudEvent per change."""

    def __init__(
        self,
        settings: ApiServerSettings,
        sender: Sender,
        *,
        client_factory: Callable[[str | None], KubeClient] = KubeClient.from_kubeconfig,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.settings = settings
        self.sender = sender
        self.client_factory = client_factory
        self.clock = clock
        self.source = ""
        self.informers: list[Informer] = []
        self._namespace_informer: Informer | None = None
        self._selected: set[str] = set()
        self._stopping = asyncio.Event()
        self._problem: str | None = "starting"
        self._state_problem: str | None = None
        self._store: StateStore | None = None
        self._states: dict[str, WatchState] = {}
        self._saved_at: dict[str, float] = {}
        self._dirty: set[str] = set()
        self._save_lock = asyncio.Lock()
        """One save at a time: a save's write runs in a thread and updates the positions' state
        there, so a second save (the final one) must not start before it finished."""
        self._first_saved: dict[str, asyncio.Event] = {}
        self._informer_of: dict[str, Informer] = {}
        self.watch_metrics = WatchMetrics(sender.metrics.registry)

    @classmethod
    def from_settings(cls, settings: ApiServerSettings, host: SourceHost) -> ApiServerAdapter:
        """The adapter a :class:`ApiServerSettings` describes."""
        return cls(settings, host.sender)

    # -- readiness ------------------------------------------------------------------------------

    def is_ready(self) -> bool:
        """Ready once every watch listed (or resumed) and nothing is forbidden or missing."""
        if self._problem is not None or self._state_problem is not None:
            return False
        watched = list(self.informers)
        if self._namespace_informer is not None:
            watched.append(self._namespace_informer)
        return bool(watched) and all(i.synced and i.error is None for i in watched)

    # -- running --------------------------------------------------------------------------------

    async def run(self) -> None:
        """Resolve the resources, resume or list, and watch until :meth:`stop`."""
        try:
            client = await asyncio.to_thread(self.client_factory, self.settings.kubeconfig)
        except Exception as exc:
            where = self.settings.kubeconfig or "the in-cluster service account"
            log.error(f"cannot configure the Kubernetes client from {where}: {exc}")
            raise
        try:
            await self._run(client)
        finally:
            await asyncio.to_thread(client.close)

    async def _run(self, client: KubeClient) -> None:
        settings = self.settings
        self.source = client.host
        resources = await self._retry(
            "discover " + ", ".join(f"{r.kind} ({r.api_version})" for r in settings.resources),
            lambda: [client.discover(r.api_version, r.kind) for r in settings.resources],
        )
        if resources is None:
            return
        selections = build_selections(settings, resources)
        stored: dict[str, str] = {}
        if settings.state_configmap:
            self._store = StateStore(
                client, namespace=settings.namespace, name=settings.state_configmap
            )
            loaded = await self._retry(
                f"get ConfigMap {settings.namespace}/{settings.state_configmap} (the saved state)",
                self._store.load,
            )
            if loaded is None:
                return
            stored = loaded
        self._problem = None
        if settings.filters_namespaces:
            self._namespace_informer = Informer(
                client,
                Selection(_NAMESPACES, None, settings.namespace_selector or ""),
                self._on_namespace,
                emit_existing=True,
                metrics=self.watch_metrics,
            )
        for selection in selections:
            checkpoint = None
            if self._store is not None:
                state = self._states[selection.key] = self._store.restore(stored, selection)
                checkpoint = state.checkpoint
                state.checkpoint = None  # the informer holds it from here on
            self._informer_of[selection.key] = informer = Informer(
                client,
                selection,
                self._handler(selection),
                keep_objects=settings.mode is EventMode.RESOURCE,
                fingerprint=spec_fingerprint if settings.ignore_status_updates else None,
                resume_from=checkpoint,
                emit_existing=settings.emit_existing,
                metrics=self.watch_metrics,
            )
            self.informers.append(informer)
            log.info(
                "watching",
                extra={
                    "selection": selection.describe(),
                    "labels": selection.label_selector,
                    "fields": selection.field_selector,
                    "resume_from": checkpoint.resource_version if checkpoint else None,
                },
            )
        await self._watch_all()

    async def _watch_all(self) -> None:
        tasks: list[asyncio.Task[None]] = []
        namespace_task: asyncio.Task[None] | None = None
        try:
            if self._namespace_informer is not None:
                namespace_task = asyncio.create_task(self._namespace_informer.run())
                if not await self._until_stopped(self._namespace_informer.wait_synced()):
                    return
                log.info(
                    "namespaces selected",
                    extra={
                        "selector": self.settings.namespace_selector,
                        "namespaces": sorted(self._selected),
                    },
                )
            tasks = [asyncio.create_task(i.run()) for i in self.informers]
            helpers = [
                asyncio.create_task(self._persist_periodically()),
                asyncio.create_task(self._announce_sync()),
                *(asyncio.create_task(self._save_first_position(i)) for i in self.informers),
            ]
            await asyncio.gather(*tasks)
            for helper in helpers:
                helper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await helper
        finally:
            for informer in self.informers:
                await informer.stop()
            if self._namespace_informer is not None:
                await self._namespace_informer.stop()
            for task in [*tasks, *([namespace_task] if namespace_task else [])]:
                if not task.done():
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            await self._save_all(final=True)

    async def stop(self) -> None:
        """Stop watching; the change being delivered finishes, positions are saved."""
        self._stopping.set()
        for informer in self.informers:
            await informer.stop()
        if self._namespace_informer is not None:
            await self._namespace_informer.stop()

    async def _until_stopped(self, awaitable: Awaitable[Any]) -> bool:
        """Await ``awaitable`` unless stopped first; True when it completed."""
        task = asyncio.ensure_future(awaitable)
        stop = asyncio.create_task(self._stopping.wait())
        await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if not task.done():
            task.cancel()
            return False
        return True

    async def _retry(self, what: str, call: Callable[[], Any]) -> Any:
        """Run blocking ``call`` in a thread until it succeeds (None if stopped first).

        Failures make the source unready; each new reason is logged once.
        """
        failures = 0
        while not self._stopping.is_set():
            try:
                return await asyncio.to_thread(call)
            except KubeApiError as exc:
                failures += 1
                denied = exc.status == 403
                problem = f"{'permission denied: ' if denied else ''}cannot {what}"
                if problem != self._problem:
                    log.error(problem, extra={"status": exc.status, "detail": str(exc)})
                self._problem = problem
            delay = exponential_backoff(failures, base=0.5, maximum=RETRY_MAX_DELAY)
            await stopped_within(self._stopping, delay)
        return None

    async def _save_first_position(self, informer: Informer) -> None:
        """Save an informer's first position before it hands over any change: a crash right
        after start-up then resumes from here instead of starting afresh."""
        released = self._first_saved.setdefault(informer.selection.key, asyncio.Event())
        try:
            await informer.wait_synced()
            state = self._states.get(informer.selection.key)
            if state is not None and state.needs_base:
                await asyncio.shield(self._save_first_base(informer, state))
        finally:
            released.set()

    async def _save_first_base(self, informer: Informer, state: WatchState) -> None:
        async with self._save_lock:
            if state.needs_base:
                await self._save_base(informer, state)

    async def _announce_sync(self) -> None:
        await asyncio.gather(*(i.wait_synced() for i in self.informers))
        # What exists now (the client's modules, the first lists) lives as long as the process:
        # keep the cyclic garbage collector from walking it again and again (a full pass over
        # it takes tens of milliseconds, which every event waiting behind it would pay).
        gc.freeze()
        log.info(
            "all watches in sync",
            extra={
                "positions": {i.selection.describe(): i.resource_version for i in self.informers}
            },
        )

    # -- changes --------------------------------------------------------------------------------

    async def _on_namespace(self, change: Change) -> None:
        name = str((change.object.get("metadata") or {}).get("name", ""))
        if change.type is ChangeType.DELETE:
            if name in self._selected:
                self._selected.discard(name)
                log.info("namespace no longer selected", extra={"namespace": name})
        elif name not in self._selected:
            self._selected.add(name)
            if self._namespace_informer is not None and self._namespace_informer.synced:
                log.info("namespace selected", extra={"namespace": name})

    def _handler(self, selection: Selection) -> Callable[[Change], Awaitable[None]]:
        filter_namespaces = self.settings.filters_namespaces and selection.resource.namespaced
        owner = self.settings.owner
        mode = self.settings.mode

        own_state = self._is_own_state(selection)

        first_saved = self._first_saved.setdefault(selection.key, asyncio.Event())

        async def on_change(change: Change) -> None:
            if self._informer_of[selection.key].synced:  # (the first list's adds cannot wait)
                await first_saved.wait()
            obj = change.object
            if own_state and _named(obj, self.settings.namespace, self.settings.state_configmap):
                return  # our own position being saved: never an event, never a reason to save
            if (not filter_namespaces or _namespace_of(obj) in self._selected) and owner_matches(
                obj, owner
            ):
                event = change_event(change, mode=mode, source=self.source, time=self.clock())
                await self._deliver(event)
            # The informer records the change as soon as this returns: worth saving.
            self._dirty.add(selection.key)

        return on_change

    def _is_own_state(self, selection: Selection) -> bool:
        resource = selection.resource
        return (
            bool(self.settings.state_configmap)
            and resource.api_version == "v1"
            and resource.kind == "ConfigMap"
            and selection.namespace in (None, self.settings.namespace)
        )

    async def _deliver(self, event: Any) -> None:
        def on_refused(result: DeliveryResult, rounds: int, delay: float) -> None:
            log.warning(
                "event not accepted by the sink nor a dead-letter sink; sending it again",
                extra={"event_id": event.get_id(), "retry_in_s": round(delay, 3)},
            )

        result = await self.sender.send_until_accepted(event, self._stopping, on_refused=on_refused)
        if not result.accepted:
            raise StopInformer  # stopped while nobody accepted it: the change is not recorded

    # -- persistence ----------------------------------------------------------------------------

    async def _persist_periodically(self) -> None:
        interval = self.settings.state_interval.total_seconds()
        while not await stopped_within(self._stopping, interval):
            # Shielded: cancelling this helper on shutdown must not abandon a write whose
            # thread still runs; the final save waits for it (the lock) instead.
            await asyncio.shield(self._save_all())

    async def _save_all(self, *, final: bool = False) -> None:
        """Save every position that moved: at once when a change was handled since the last
        save (or on shutdown), else (bookmarks only) at most every :data:`IDLE_SAVE_INTERVAL`.

        A save is a journal segment (the objects that changed) or, when the segments have
        grown, a new base checkpoint (see :mod:`springhead_apiserver.state`).
        """
        if self._store is None:
            return
        async with self._save_lock:
            await self._save_positions(final=final)

    async def _save_positions(self, *, final: bool) -> None:
        assert self._store is not None  # noqa: S101 - only called with a store
        now = asyncio.get_running_loop().time()
        total = sum(state.stored_bytes for state in self._states.values())
        for informer in self.informers:
            key = informer.selection.key
            state = self._states[key]
            if state.wants_base(total):
                if (
                    final
                    or key in self._dirty
                    or state.needs_base
                    or (state.saved_version != informer.resource_version)
                ):
                    await self._save_base(informer, state)
                continue
            delta = informer.take_delta()
            if delta is None:
                continue
            state.pending = merge(state.pending, delta)
            idle_due = now - self._saved_at.get(key, 0.0) >= IDLE_SAVE_INTERVAL
            moved = state.pending.resource_version != state.saved_version
            if moved and (final or key in self._dirty or idle_due):
                self._dirty.discard(key)
                pending = state.pending
                if await self._write(self._store.write_segment, state, pending):
                    self._saved_at[key] = now
                else:
                    self._dirty.add(key)

    async def _save_base(self, informer: Informer, state: WatchState) -> bool:
        if self._store is None:
            return False
        checkpoint = informer.snapshot()  # (also empties the informer's delta)
        if checkpoint is None:
            return False
        self._dirty.discard(informer.selection.key)
        if await self._write(self._store.write_base, state, checkpoint):
            self._saved_at[informer.selection.key] = asyncio.get_running_loop().time()
            return True
        state.needs_base = True
        return False

    async def _write(
        self, write: Callable[[WatchState, Any], None], state: WatchState, what: Any
    ) -> bool:
        store = self._store
        assert store is not None  # noqa: S101 - only called with a store
        try:
            await asyncio.to_thread(write, state, what)
        except KubeApiError as exc:
            problem = f"cannot save the position in ConfigMap {store.namespace}/{store.name}"
            if exc.status == 403:
                problem = (
                    f"permission denied: cannot patch ConfigMap {store.namespace}/{store.name}"
                )
            if problem != self._state_problem:
                log.error(problem, extra={"status": exc.status, "detail": str(exc)})
            self._state_problem = problem if exc.status in (401, 403) else None
            return False
        self._state_problem = None
        log.debug(
            "position saved",
            extra={"key": state.key, "resource_version": state.saved_version},
        )
        return True
