"""Ping with several replicas: only the Lease holder fires, and missed ticks can be caught up.

With ``PING_LEADER_ELECTION`` every replica campaigns for one Kubernetes Lease
(:mod:`springhead.kube.leader`). The leader fires the schedule's ticks; the others stand by.
After the sink accepted a tick (and every earlier one), the leader writes it to the Lease
annotation :data:`LAST_TICK_ANNOTATION`, so a new leader knows where the previous one stopped:

* it never fires a tick at or before that one again, and
* with a catch-up window (``PING_CATCHUP_WINDOW``) it first fires the ticks nobody fired while no
  replica led - the ones after the last fired tick and at most the window old - each once, with
  the extension ``catchup: "true"``.

Event ids are derived from source and tick, so if a leader crashes between the sink accepting a
tick and recording it, the tick the next leader fires again carries the same id as before.

This module loads the Kubernetes client: the ping source imports it only when leader election is
enabled.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cloudevents.core.base import BaseCloudEvent
from springhead.kube import KubeApiError, KubeClient, LeaderElector, NotLeaderError, Term
from springhead.runtime import SourceHost
from springhead.sender import Sender, SinkTarget, with_extensions

from springhead_ping.adapter import MISSED_AFTER, _event_options, _utc_now, ping_event
from springhead_ping.config import PingSettings
from springhead_ping.schedule import Schedule

__all__ = [
    "CATCHUP_EXTENSION",
    "LAST_TICK_ANNOTATION",
    "LeasedFiring",
    "ReplicatedPingAdapter",
    "elector_factory",
    "format_tick",
    "log_catch_up",
    "parse_tick",
    "wait_for_tick",
]

log = logging.getLogger("springhead.ping")

#: Lease annotation holding the last tick fired (and every earlier one), ISO-8601 in UTC.
LAST_TICK_ANNOTATION = "ping.springhead.dev/last-fired-tick"
#: Extension set to ``"true"`` on events of ticks fired late, by catch-up.
CATCHUP_EXTENSION = "catchup"


def format_tick(tick: datetime) -> str:
    """``2026-11-22T08:30:00Z``: a tick as stored on the Lease."""
    return tick.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_tick(text: str | None) -> datetime | None:
    """The tick :func:`format_tick` wrote; None for None, "" or an unreadable value."""
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        log.warning("ignoring an unreadable last fired tick", extra={"value": text})
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@dataclass(eq=False)
class _Fired:
    tick: datetime
    done: bool = False


class LeasedFiring:
    """Fires ticks only while its :class:`LeaderElector` leads, and records on the Lease the
    newest tick delivered with every tick fired before it: the part of the replicated ping that
    does not depend on what is fired (one schedule, or every PingSource of the multi-tenant ping).

    A subclass says what to fire in :meth:`lead_term` and sends each tick with :meth:`send_tick`.
    ``connect`` builds the elector (it runs in a thread: it may read a kubeconfig file);
    ``catchup_window`` enables catch-up of ticks missed while no replica led.
    """

    def __init__(
        self,
        *,
        sender: Sender,
        connect: Callable[[], LeaderElector],
        catchup_window: timedelta | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.sender = sender
        self.connect = connect
        self.catchup_window = catchup_window
        self.clock = clock
        self.elector: LeaderElector | None = None
        self._stop = asyncio.Event()
        self._fired: deque[_Fired] = deque()
        self._pending: Counter[datetime] = Counter()
        """Sends not done yet, per tick (a tick is done once every PingSource's send of it is)."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._persist_lock = asyncio.Lock()
        self._persisted: datetime | None = None
        self._done_through: datetime | None = None
        self._term: Term | None = None

    def describe(self) -> dict[str, object]:
        """Log fields of the "loaded" line."""
        return {}

    async def lead_term(
        self, last: datetime | None, lost: asyncio.Task[None], stopping: asyncio.Task[bool]
    ) -> None:
        """Fire ticks until ``lost`` or ``stopping`` completes; ``last``: the newest tick the
        Lease records as fired (with every earlier one), None when it records none."""
        raise NotImplementedError

    async def run(self) -> None:
        """Campaign; fire while leading; on stop finish in-flight ticks, then release."""
        log.info(
            "schedule loaded",
            extra={
                **self.describe(),
                "leader_election": True,
                "catchup_window": str(self.catchup_window) if self.catchup_window else None,
            },
        )
        elector = await asyncio.to_thread(self.connect)
        self.elector = elector
        election = asyncio.create_task(elector.run(), name="leader-election")
        stopping = asyncio.create_task(self._stop.wait())
        try:
            while not self._stop.is_set() and not election.done():
                leading = asyncio.create_task(elector.wait_until_leader())
                await asyncio.wait(
                    {leading, stopping, election}, return_when=asyncio.FIRST_COMPLETED
                )
                if not leading.done():
                    leading.cancel()
                    break
                await self._lead(leading.result(), stopping)
        finally:
            stopping.cancel()
            await self._finish_in_flight()
            await elector.stop()
            await election
            elector.client.close()

    async def _lead(self, term: Term, stopping: asyncio.Task[bool]) -> None:
        self._term = term
        self._done_through = None
        last = parse_tick(term.annotations.get(LAST_TICK_ANNOTATION))
        self._persisted = last
        log.info(
            "leading: firing ticks",
            extra={"last_fired_tick": format_tick(last) if last else None},
        )
        lost = asyncio.create_task(term.wait_lost())
        try:
            await self.lead_term(last, lost, stopping)
        finally:
            lost.cancel()
            log.info("stopped firing ticks", extra={"leading": term.active})

    def send_tick(
        self, tick: datetime, event: BaseCloudEvent, *, catchup: bool = False,
        target: SinkTarget | None = None,
    ) -> asyncio.Task[None]:  # fmt: skip
        """Send ``event``, the event of ``tick``, in the background (marked when ``catchup``; to
        ``target`` when given); once it and every tick sent before it are done, record it on the
        Lease. Ticks are sent in time order."""
        if catchup:
            event = with_extensions(event, {CATCHUP_EXTENSION: "true"})
        fired = _Fired(tick)
        self._fired.append(fired)
        self._pending[tick] += 1
        task = asyncio.create_task(self._deliver(fired, event, target))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _deliver(
        self, fired: _Fired, event: BaseCloudEvent, target: SinkTarget | None
    ) -> None:
        result = await self.sender.send(event, target)
        fired.done = True
        self._pending[fired.tick] -= 1
        if not result.accepted:
            # The delivery policy (retries, dead-letter sink) had its chance; the tick counts
            # as fired, so it is not fired again by catch-up.
            log.error(
                "tick not accepted by the sink after retries",
                extra={
                    "tick": format_tick(fired.tick),
                    "status": result.status,
                    "source": event.get_source(),
                },
            )
        await self._record_progress()

    async def _record_progress(self) -> None:
        """Write the newest tick that, with every tick before it, is done to the Lease (leader
        only). Several sends of one tick (one per PingSource) count as done once all are."""
        fired = self._fired
        while fired and fired[0].done and self._pending[fired[0].tick] <= 0:
            tick = fired.popleft().tick
            self._done_through = tick
            if not fired or fired[0].tick != tick:
                del self._pending[tick]
        async with self._persist_lock:
            newest, term, elector = self._done_through, self._term, self.elector
            if newest is None or term is None or not term.active or elector is None:
                return
            if self._persisted is not None and newest <= self._persisted:
                return
            try:
                await elector.update_annotations({LAST_TICK_ANNOTATION: format_tick(newest)})
            except NotLeaderError:
                log.info("not recording the fired tick: no longer the leader")
                return
            except KubeApiError as exc:
                # The next tick records a later one; a crash before that re-fires (same ids).
                log.warning(
                    "could not record the fired tick on the Lease",
                    extra={"tick": format_tick(newest), "error": str(exc)},
                )
                return
            self._persisted = newest

    async def _finish_in_flight(self) -> None:
        """Wait for ticks in flight (they record themselves on the Lease)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._record_progress()  # again, in case the last write failed

    async def stop(self) -> None:
        """Stop firing; ticks in flight finish and are recorded before the Lease is released."""
        self._stop.set()


async def wait_for_tick(
    tick: datetime,
    clock: Callable[[], datetime],
    *endings: asyncio.Future[Any],
) -> bool:
    """Wait until ``tick``; False (at once, or when it happens first) when one of ``endings``
    completes."""
    delay = (tick - clock()).total_seconds()
    if delay > 0:
        done, _ = await asyncio.wait(
            set(endings), timeout=delay, return_when=asyncio.FIRST_COMPLETED
        )
        return not done
    return not any(ending.done() for ending in endings)


class ReplicatedPingAdapter(LeasedFiring):
    """One schedule fired only while its :class:`LeaderElector` leads (``PING_LEADER_ELECTION``).

    ``connect`` builds the elector (it runs in a thread: it may read a kubeconfig file);
    ``catchup_window`` enables catch-up of ticks missed while no replica led.
    """

    def __init__(
        self,
        *,
        schedule: Schedule,
        sender: Sender,
        source: str,
        connect: Callable[[], LeaderElector],
        catchup_window: timedelta | None = None,
        content_type: str = "",
        payload: bytes | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        super().__init__(sender=sender, connect=connect, catchup_window=catchup_window, clock=clock)
        self.schedule = schedule
        self.source = source
        self.content_type = content_type
        self.payload = payload

    @classmethod
    def from_settings(cls, settings: PingSettings, host: SourceHost) -> ReplicatedPingAdapter:
        """The replicated adapter ``settings`` describe (``PING_LEADER_ELECTION`` set)."""
        return cls(
            sender=host.sender,
            connect=elector_factory(settings),
            catchup_window=settings.catchup_window,
            **_event_options(settings),
        )

    def describe(self) -> dict[str, object]:
        """The schedule and its zone."""
        return {"schedule": self.schedule.expression, "timezone": str(self.schedule.timezone)}

    async def lead_term(
        self, last: datetime | None, lost: asyncio.Task[None], stopping: asyncio.Task[bool]
    ) -> None:
        """Catch up (with a window), then fire the schedule's ticks until the term ends."""
        now = self.clock()
        boundary = now if last is None else max(now, last)
        if self.catchup_window is not None and last is not None:
            self._catch_up(max(last, now - self.catchup_window), now)
        tick = self.schedule.next_tick(boundary, boundary)
        while await wait_for_tick(tick, self.clock, lost, stopping):
            self.fire_tick(tick)
            now = self.clock()
            following = self.schedule.next_tick(tick, now)
            if following < now - MISSED_AFTER:
                if self.catchup_window is not None:
                    self._catch_up(max(tick, now - self.catchup_window), now)
                    following = self.schedule.next_tick(now, now)
                else:
                    log.warning(
                        "ticks missed: the process was suspended or the clock jumped",
                        extra={"first_missed": following.isoformat()},
                    )
                    following = self.schedule.next_tick(None, now)
            tick = following

    def _catch_up(self, after: datetime, until: datetime) -> None:
        missed = self.schedule.ticks_between(after, until)
        log_catch_up(len(missed), missed)
        for tick in missed:
            self.fire_tick(tick, catchup=True)

    def fire_tick(self, tick: datetime, *, catchup: bool = False) -> asyncio.Task[None]:
        """Send the event of ``tick`` in the background (marked when ``catchup``); once it and
        every tick fired before it are done, record it on the Lease."""
        event = ping_event(
            source=self.source, tick=tick, content_type=self.content_type, payload=self.payload
        )
        return self.send_tick(tick, event, catchup=catchup)


def log_catch_up(count: int, ticks: list[datetime]) -> None:
    """Say that ``count`` missed ticks, from the first to the last of ``ticks``, are caught up."""
    if count:
        log.info(
            "catching up missed ticks",
            extra={"count": count, "first": format_tick(ticks[0]), "last": format_tick(ticks[-1])},
        )


def elector_factory(settings: PingSettings) -> Callable[[], LeaderElector]:
    """What builds the elector ``settings`` describe (called in a thread: it may read the
    kubeconfig file)."""

    def connect() -> LeaderElector:
        return LeaderElector(
            KubeClient.from_kubeconfig(settings.kubeconfig),
            name=settings.effective_lease_name,
            namespace=settings.effective_lease_namespace,
            lease_duration=settings.lease_duration.total_seconds(),
            renew_deadline=settings.lease_renew_deadline.total_seconds(),
            retry_period=settings.lease_retry_period.total_seconds(),
        )

    return connect
