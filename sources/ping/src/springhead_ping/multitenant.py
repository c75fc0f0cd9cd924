"""The multi-tenant ping (``PING_MULTI_TENANT``): one process fires every PingSource.

It watches ``sources.knative.dev/v1`` PingSources through the shared informer
(:mod:`springhead.kube.informer`): cluster-wide; or, with ``PING_NAMESPACES``, in each of those
namespaces (a Role per namespace is all it needs); or, with ``PING_NAMESPACE_SELECTOR``,
cluster-wide but only in the namespaces whose labels match, followed as namespaces are labelled,
unlabelled, created and deleted (a PingSource outside the selection never fires). It keeps one
schedule per PingSource that is Ready and has a ``status.sinkUri`` (the controller resolves the
sink and sets both; as Knative's mtping, it skips the others). A PingSource added, changed or
deleted takes effect at once, without a restart: an added one fires from its first tick after it
was seen, a changed one fires its new schedule and data from the first tick after the change (or
from its tick that was due but not yet fired when the change was taken in), a deleted one no longer
fires.

Each tick's event is the single-schedule ping's (:func:`~springhead_ping.adapter.ping_event`):
type ``dev.knative.sources.ping``, source ``/apis/v1/namespaces/<ns>/pingsources/<name>``, an id
derived from source and tick, time = the scheduled tick, the PingSource's ``contentType`` and data;
it goes to the PingSource's sink with its namespace (``Kn-Namespace``) and ``ceOverrides``
(:class:`~springhead.sender.SinkTarget`).

Replicas: every replica watches (a standby is ready to take over), only the holder of the Lease
fires (:class:`~springhead_ping.replicas.LeasedFiring`). All schedules fire in time order from
one queue, so the Lease records one tick: every tick of every PingSource up to it was delivered.
A new leader never fires a tick at or before it again and, with ``PING_CATCHUP_WINDOW``, first
fires each PingSource's ticks missed since then (not older than the window, nor than the
PingSource), marked ``catchup: "true"``.

This module loads the Kubernetes client: the ping source imports it only in this mode.
"""

from __future__ import annotations

import asyncio
import gc
import heapq
import itertools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from springhead.kube import (
    ApiResource,
    Change,
    ChangeType,
    Informer,
    KubeClient,
    LeaderElector,
    Selection,
)
from springhead.runtime import SourceHost
from springhead.sender import Sender, SinkTarget

from springhead_ping.adapter import MISSED_AFTER, _utc_now, ping_event
from springhead_ping.config import PingSettings
from springhead_ping.replicas import LeasedFiring, elector_factory, log_catch_up, wait_for_tick
from springhead_ping.spec import (
    DEFAULT_SCHEDULE,
    PingSpec,
    PingSpecError,
    parse_ping_spec,
    ping_source_uri,
)

__all__ = ["MultiTenantPingAdapter", "NAMESPACES", "PING_SOURCES", "PingTarget", "ping_target"]

log = logging.getLogger("springhead.ping")

#: The resource the multi-tenant ping watches.
PING_SOURCES = ApiResource("sources.knative.dev/v1", "PingSource", "pingsources", True)
#: Followed with ``PING_NAMESPACE_SELECTOR``: which namespaces are selected.
NAMESPACES = ApiResource("v1", "Namespace", "namespaces", False)


@dataclass(frozen=True, eq=False)
class PingTarget:
    """One PingSource as the ping fires it."""

    namespace: str
    name: str
    source: str
    """The events' ``source``."""
    spec: PingSpec
    sink: SinkTarget
    created: datetime | None
    """The PingSource's creation: catch-up never fires a tick before it."""
    identity: tuple[object, ...] = field(repr=False)
    """What the events depend on: equal identities fire the same events."""


def _ready(status: Mapping[str, Any]) -> bool:
    return any(
        isinstance(c, Mapping) and c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or ()
    )


def _timestamp(text: object) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _extension_value(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def ping_target(obj: Mapping[str, Any]) -> PingTarget | None:
    """What the PingSource ``obj`` fires, or None while it must not fire: not Ready, no
    ``status.sinkUri``, or a spec that cannot be fired (logged)."""
    metadata = obj.get("metadata") or {}
    status = obj.get("status") or {}
    sink = status.get("sinkUri")
    if not _ready(status) or not isinstance(sink, str) or not sink:
        return None
    namespace, name = str(metadata.get("namespace")), str(metadata.get("name"))
    spec = obj.get("spec") or {}
    text = {key: str(spec.get(key) or "") for key in ("timezone", "contentType", "data")}
    schedule = str(spec.get("schedule") or DEFAULT_SCHEDULE)
    data_base64 = str(spec.get("dataBase64") or "")
    try:
        parsed = parse_ping_spec(
            schedule=schedule,
            timezone=text["timezone"],
            content_type=text["contentType"],
            data=text["data"],
            data_base64=data_base64,
        )
    except PingSpecError as exc:
        log.warning(
            "not firing a PingSource whose spec is invalid",
            extra={"pingsource": f"{namespace}/{name}", "error": str(exc)},
        )
        return None
    extensions = (spec.get("ceOverrides") or {}).get("extensions") or {}
    overrides = {str(k): _extension_value(v) for k, v in dict(extensions).items()}
    identity = (
        schedule,
        text["timezone"],
        text["contentType"],
        parsed.payload,
        sink,
        tuple(sorted(overrides.items())),
    )
    return PingTarget(
        namespace=namespace,
        name=name,
        source=ping_source_uri(namespace, name),
        spec=parsed,
        sink=SinkTarget(sink, namespace=namespace, overrides=overrides),
        created=_timestamp(metadata.get("creationTimestamp")),
        identity=identity,
    )


class MultiTenantPingAdapter(LeasedFiring):
    """Every Ready PingSource's schedule, fired while the Lease is held (``PING_MULTI_TENANT``).

    ``connect_api`` builds the client the informers watch with (called in a thread).
    ``namespaces`` limits the PingSources served to those namespaces (one watch each);
    ``namespace_selector`` (label selector text; ``""`` or None: every namespace) to the
    namespaces whose labels match. Only one of them may be given.
    """

    def __init__(
        self,
        *,
        sender: Sender,
        connect: Callable[[], LeaderElector],
        connect_api: Callable[[], KubeClient],
        catchup_window: timedelta | None = None,
        clock: Callable[[], datetime] = _utc_now,
        namespaces: Sequence[str] | None = None,
        namespace_selector: str | None = None,
    ) -> None:
        super().__init__(sender=sender, connect=connect, catchup_window=catchup_window, clock=clock)
        if namespaces and namespace_selector:
            raise ValueError("give namespaces or a namespace selector, not both")
        self.connect_api = connect_api
        self.namespaces = list(namespaces) if namespaces else None
        self.namespace_selector = namespace_selector or None
        self.targets: dict[tuple[str, str], PingTarget] = {}
        self.informers: list[Informer] = []
        """The PingSource watches: one cluster-wide, or one per namespace in ``namespaces``."""
        self.namespace_informer: Informer | None = None
        """With a namespace selector: the watch of the namespaces it selects."""
        self._selected: set[str] = set()
        self._seen: dict[tuple[str, str], Mapping[str, Any]] = {}
        """With a namespace selector: every PingSource watched, selected or not, so that one in
        a namespace selected later is served at once."""
        self._queue: list[tuple[datetime, int, PingTarget]] = []
        self._fired_through: dict[tuple[str, str], datetime] = {}
        """Per PingSource, the last tick fired in this term."""
        self._queued: dict[tuple[str, str], datetime] = {}
        """Per PingSource, the tick last queued for it in this term (fired or still waiting)."""
        self._order = itertools.count()
        self._leading = False
        self._changed = asyncio.Event()

    @classmethod
    def from_settings(cls, settings: PingSettings, host: SourceHost) -> MultiTenantPingAdapter:
        """The multi-tenant adapter ``settings`` describe (``PING_MULTI_TENANT`` set)."""
        return cls(
            sender=host.sender,
            connect=elector_factory(settings),
            connect_api=lambda: KubeClient.from_kubeconfig(settings.kubeconfig),
            catchup_window=settings.catchup_window,
            namespaces=settings.namespaces,
            namespace_selector=settings.namespace_selector,
        )

    @property
    def leading(self) -> bool:
        """True while this replica fires ticks (its term's first targets queued)."""
        return self._leading

    def describe(self) -> dict[str, object]:
        """What is watched."""
        where: dict[str, object] = {}
        if self.namespaces:
            where["namespaces"] = self.namespaces
        if self.namespace_selector:
            where["namespace_selector"] = self.namespace_selector
        return {"multi_tenant": True, "watching": PING_SOURCES.plural, **where}

    def _watches(self) -> list[Informer]:
        extra = [self.namespace_informer] if self.namespace_informer is not None else []
        return [*self.informers, *extra]

    def is_ready(self) -> bool:
        """Ready once the first lists (PingSources, and the selected namespaces) are in (a
        standby is ready too)."""
        watches = self._watches()
        return bool(watches) and all(w.synced for w in watches)

    async def run(self) -> None:
        """Watch PingSources; campaign and fire while leading, until stopped."""
        client = await asyncio.to_thread(self.connect_api)
        namespaces: list[str | None] = [*self.namespaces] if self.namespaces else [None]
        selections = [Selection(PING_SOURCES, namespace) for namespace in namespaces]
        self.informers = [
            Informer(client, selection, self.on_change, emit_existing=True)
            for selection in selections
        ]
        if self.namespace_selector is not None:
            self.namespace_informer = Informer(
                client,
                Selection(NAMESPACES, None, self.namespace_selector),
                self._on_namespace,
                emit_existing=True,
            )
        watching = [
            asyncio.create_task(w.run(), name=f"informer {w.selection.describe()}")
            for w in self._watches()
        ]
        watching.append(asyncio.create_task(self._freeze_when_synced(), name="gc freeze"))
        try:
            await super().run()
        finally:
            for watch in self._watches():
                await watch.stop()
            watching[-1].cancel()
            await asyncio.gather(*watching, return_exceptions=True)
            await asyncio.to_thread(client.close)

    async def _freeze_when_synced(self) -> None:
        await self._synced()
        # What exists now (the Kubernetes client's modules, the first lists) lives as long as
        # the process: keep the cyclic garbage collector from walking it again and again. A
        # tick of N PingSources allocates enough to trigger full collections, each a walk of
        # that heap, which the tick's events wait behind (at N = 1,000 about a quarter of the
        # burst's time; bench/MTPING.md).
        gc.freeze()

    async def _synced(self) -> None:
        for watch in self._watches():
            await watch.wait_synced()

    async def _on_namespace(self, change: Change) -> None:
        # The watch has a label selector: a namespace whose labels stop (start) matching is
        # reported deleted (added).
        name = str((change.object.get("metadata") or {}).get("name", ""))
        if change.type is ChangeType.DELETE:
            if name not in self._selected:
                return
            self._selected.discard(name)
            log.info("namespace no longer selected", extra={"namespace": name})
            for key in [key for key in self.targets if key[0] == name]:
                self._serve(key, None)
        elif name not in self._selected:
            self._selected.add(name)
            log.info("namespace selected", extra={"namespace": name})
            for key, obj in [(k, o) for k, o in self._seen.items() if k[0] == name]:
                self._serve(key, obj)

    async def on_change(self, change: Change) -> None:
        """A PingSource added, changed or deleted (the PingSource informers' handler)."""
        metadata = change.object.get("metadata") or {}
        key = (str(metadata.get("namespace")), str(metadata.get("name")))
        obj = None if change.type is ChangeType.DELETE else change.object
        if self.namespace_selector is not None:
            if obj is None:
                self._seen.pop(key, None)
            else:
                self._seen[key] = obj
            if key[0] not in self._selected:
                return
        self._serve(key, obj)

    def _serve(self, key: tuple[str, str], obj: Mapping[str, Any] | None) -> None:
        """Fire the PingSource ``obj`` from now on (None: no more)."""
        target = None if obj is None else ping_target(obj)
        known = self.targets.get(key)
        if target is None:
            self._fired_through.pop(key, None)
            self._queued.pop(key, None)
            if self.targets.pop(key, None) is not None:
                log.info("pingsource removed", extra={"pingsource": "/".join(key)})
            return
        if known is not None and known.identity == target.identity:
            return
        self.targets[key] = target
        log.info(
            "pingsource scheduled" if known is None else "pingsource changed",
            extra={"pingsource": "/".join(key), "schedule": target.spec.schedule.expression},
        )
        if self._leading:
            self._push(target, self._first_tick(key, target))
            self._changed.set()

    def _first_tick(self, key: tuple[str, str], target: PingTarget) -> datetime:
        """The first tick of ``target``, added or changed while leading: for a changed one, its
        queued tick when that was due but not fired yet (a busy loop takes a change in after a
        tick is due, before it fires it), fired now with the new spec; else its new schedule's
        first tick after the change (nor before the last one fired: never a tick twice). An
        added one fires from its first tick after now."""
        now = self.clock()
        fired = self._fired_through.get(key)
        queued = self._queued.get(key)
        if queued is not None and (fired is None or queued > fired):
            after = min(queued, now) - timedelta(microseconds=1)
        elif fired is not None:
            after = fired  # its tick fired, the next not queued yet: go on after it
        else:
            after = now
        return target.spec.schedule.next_tick(after, now)

    def _push(self, target: PingTarget, tick: datetime) -> None:
        heapq.heappush(self._queue, (tick, next(self._order), target))
        self._queued[(target.namespace, target.name)] = tick

    def _current(self, target: PingTarget) -> bool:
        return self.targets.get((target.namespace, target.name)) is target

    def _fire(self, target: PingTarget, tick: datetime, *, catchup: bool = False) -> None:
        spec = target.spec
        event = ping_event(
            source=target.source, tick=tick, content_type=spec.content_type, payload=spec.payload
        )
        self.send_tick(tick, event, catchup=catchup, target=target.sink)
        key = (target.namespace, target.name)
        if tick > self._fired_through.get(key, tick - MISSED_AFTER):
            self._fired_through[key] = tick

    def _catch_up(self, last: datetime | None, now: datetime, targets: list[PingTarget]) -> None:
        """Fire, in time order, each target's ticks after ``last`` (None: where the Lease says
        it stopped, :meth:`resume_after`), after the window's start and its creation, up to
        ``now``."""
        assert self.catchup_window is not None  # noqa: S101 - only called with a window
        window = now - self.catchup_window
        missed: list[tuple[datetime, int, PingTarget]] = []
        for target in targets:
            resume = last if last is not None else self.resume_after(target.source)
            if resume is None:
                continue
            after = max(resume, window)
            if target.created is not None:
                after = max(after, target.created)
            missed.extend(
                (tick, next(self._order), target)
                for tick in target.spec.schedule.ticks_between(after, now)
            )
        missed.sort(key=lambda entry: (entry[0], entry[1]))
        log_catch_up(len(missed), [tick for tick, _, _ in missed])
        for tick, _, target in missed:
            self._fire(target, tick, catchup=True)

    async def lead_term(
        self, last: datetime | None, lost: asyncio.Task[None], stopping: asyncio.Task[bool]
    ) -> None:
        """Catch up (with a window), then fire every target's ticks in time order until the
        term ends; targets added or changed meanwhile join the queue. Nothing is fired before
        the first lists (PingSources, selected namespaces) are in."""
        if not self.is_ready():
            synced = asyncio.ensure_future(self._synced())
            await asyncio.wait({synced, lost, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not synced.done():
                synced.cancel()
                return
        now = self.clock()
        boundary = now if last is None else max(now, last)
        self._queue = []
        targets = list(self.targets.values())
        if self.catchup_window is not None:
            self._catch_up(None, now, targets)
        for target in targets:
            self._push(target, target.spec.schedule.next_tick(boundary, boundary))
        self._leading = True
        try:
            await self._fire_queue(lost, stopping)
        finally:
            self._leading = False
            self._queue = []
            self._fired_through = {}
            self._queued = {}

    async def _fire_queue(self, lost: asyncio.Task[None], stopping: asyncio.Task[bool]) -> None:
        queue = self._queue
        while True:
            while queue and not self._current(queue[0][2]):
                heapq.heappop(queue)  # deleted or changed since it was queued
            self._changed.clear()
            changed = asyncio.ensure_future(self._changed.wait())
            try:
                if not queue:
                    done, _ = await asyncio.wait(
                        {changed, lost, stopping}, return_when=asyncio.FIRST_COMPLETED
                    )
                    if lost in done or stopping in done:
                        return
                    continue
                tick = queue[0][0]
                if not await wait_for_tick(tick, self.clock, changed, lost, stopping):
                    if lost.done() or stopping.done():
                        return
                    continue  # a change may have queued an earlier tick
            finally:
                changed.cancel()
            now = self.clock()
            due: list[tuple[datetime, PingTarget]] = []
            while queue and queue[0][0] <= now:
                tick, _, target = heapq.heappop(queue)
                if self._current(target):
                    self._fire(target, tick)
                    due.append((tick, target))
            # The sends start before the next ticks are worked out: many PingSources share a
            # tick, and their events should not wait for each other's schedules.
            await asyncio.sleep(0)
            now = self.clock()
            # PingSources sharing a schedule and a tick share the next tick: work it out once
            # (a cron trigger's next fire time costs tens of microseconds).
            known: dict[tuple[str, str, datetime], datetime] = {}
            for tick, target in due:
                if self._current(target):
                    self._push(target, self._following(target, tick, now, known))

    def _following(
        self,
        target: PingTarget,
        tick: datetime,
        now: datetime,
        known: dict[tuple[str, str, datetime], datetime] | None = None,
    ) -> datetime:
        """The target's tick after ``tick``; ticks already too late are caught up (with a
        window) or skipped with a warning. ``known`` remembers next ticks by schedule
        (expression, zone) and tick."""
        schedule = target.spec.schedule
        key = (schedule.expression, schedule.timezone.key, tick)
        following = known.get(key) if known is not None else None
        if following is None:
            following = schedule.next_tick(tick, now)
            if known is not None:
                known[key] = following
        if following >= now - MISSED_AFTER:
            return following
        if self.catchup_window is not None:
            self._catch_up(tick, now, [target])
            return schedule.next_tick(now, now)
        log.warning(
            "ticks missed: the process was suspended or the clock jumped",
            extra={"first_missed": following.isoformat(), "pingsource": target.source},
        )
        return schedule.next_tick(None, now)
