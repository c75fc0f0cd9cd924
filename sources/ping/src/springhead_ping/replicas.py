"""Ping with several replicas: only the Lease holder fires, and missed ticks can be caught up.

With ``PING_LEADER_ELECTION`` every replica campaigns for one Kubernetes Lease
(:mod:`springhead.kube.leader`). The leader fires the schedule's ticks; the others stand by.
The leader writes its progress to the Lease: the newest tick fired
(:data:`LAST_TICK_ANNOTATION`) and, for a source whose send was not done yet, its oldest such tick
(:data:`STRAGGLERS_ANNOTATION`), so a new leader knows where the previous one stopped:

* it never fires a tick at or before that one again (except a straggler's, from its tick), and
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
import json
import logging
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from cloudevents.core.base import BaseCloudEvent
from springhead.kube import KubeApiError, KubeClient, LeaderElector, NotLeaderError, Term
from springhead.runtime import SourceHost
from springhead.sender import Sender, SinkTarget, with_extensions

from springhead_ping.adapter import (
    MISSED_AFTER,
    TickMetrics,
    _event_options,
    _utc_now,
    ping_event,
)
from springhead_ping.config import PingSettings
from springhead_ping.schedule import Schedule

__all__ = [
    "CATCHUP_EXTENSION",
    "LAST_TICK_ANNOTATION",
    "LeasedFiring",
    "ReplicatedPingAdapter",
    "STRAGGLERS_ANNOTATION",
    "elector_factory",
    "format_tick",
    "log_catch_up",
    "parse_stragglers",
    "parse_tick",
    "wait_for_tick",
]

log = logging.getLogger("springhead.ping")

#: Lease annotation holding the last tick fired (and every earlier one), ISO-8601 in UTC.
LAST_TICK_ANNOTATION = "ping.springhead.dev/last-fired-tick"
#: Lease annotation: JSON ``{source: tick}``, per event source the oldest tick whose send was not
#: done when the progress was written (the ticks up to :data:`LAST_TICK_ANNOTATION` of every
#: other source were): a slow or dead sink holds back only its own PingSource's progress.
STRAGGLERS_ANNOTATION = "ping.springhead.dev/stragglers"
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


def parse_stragglers(text: str | None) -> dict[str, datetime]:
    """The stragglers :data:`STRAGGLERS_ANNOTATION` holds (source -> oldest undelivered tick);
    empty for None, "" or an unreadable value."""
    if not text:
        return {}
    try:
        raw = json.loads(text)
    except ValueError:
        raw = None
    if not isinstance(raw, dict):
        log.warning("ignoring unreadable stragglers", extra={"value": text[:200]})
        return {}
    parsed = {str(k): parse_tick(v if isinstance(v, str) else None) for k, v in raw.items()}
    return {k: v for k, v in parsed.items() if v is not None}


class LeasedFiring:
    """Fires ticks only while its :class:`LeaderElector` leads, and records its progress on the
    Lease: the part of the replicated ping that does not depend on what is fired (one schedule, or
    every PingSource of the multi-tenant ping).

    The progress is the newest tick fired (:data:`LAST_TICK_ANNOTATION`) plus, per source whose
    send was not done yet, its oldest such tick (:data:`STRAGGLERS_ANNOTATION`). It is written
    when every send is done and when a newer tick starts, one write at a time. A new leader
    resumes each source from its straggler tick, else after the last tick: a send not known to be
    done is sent again (same id, marked as caught up), none is skipped (within the catch-up
    window), and a slow or dead sink holds back only its own source.

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
        self._open: Counter[datetime] = Counter()
        """Sends not done yet, per tick."""
        self._open_by_source: dict[str, Counter[datetime]] = {}
        """Sends not done yet, per source and tick."""
        self._newest: datetime | None = None
        """The newest tick fired (every earlier tick was fired before it)."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._writer: asyncio.Task[None] | None = None
        self._wanted: tuple[datetime | None, dict[str, datetime]] = (None, {})
        self._persisted: tuple[datetime | None, dict[str, datetime]] = (None, {})
        self._resume: tuple[datetime | None, dict[str, datetime]] = (None, {})
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

    def resume_after(self, source: str) -> datetime | None:
        """Where catch-up starts for ``source`` this term: just before its oldest undelivered
        tick when the Lease names one, else after the Lease's last tick (None: no record)."""
        last, stragglers = self._resume
        straggler = stragglers.get(source)
        if straggler is not None and (last is None or straggler <= last):
            return straggler - timedelta(microseconds=1)
        return last

    async def _lead(self, term: Term, stopping: asyncio.Task[bool]) -> None:
        self._term = term
        last = parse_tick(term.annotations.get(LAST_TICK_ANNOTATION))
        stragglers = parse_stragglers(term.annotations.get(STRAGGLERS_ANNOTATION))
        self._resume = self._persisted = (last, stragglers)
        self._newest = last
        log.info(
            "leading: firing ticks",
            extra={
                "last_fired_tick": format_tick(last) if last else None,
                "stragglers": len(stragglers),
            },
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
        source = event.get_source()
        if self._newest is None or tick > self._newest:
            if self._newest is not None:
                self._record_progress()  # the previous tick's, before this one is under way
            self._newest = tick
        self._open[tick] += 1
        self._open_by_source.setdefault(source, Counter())[tick] += 1
        task = asyncio.create_task(self._deliver(tick, source, event, target))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _deliver(
        self, tick: datetime, source: str, event: BaseCloudEvent, target: SinkTarget | None
    ) -> None:
        result = await self.sender.send(event, target)
        self._open[tick] -= 1
        if self._open[tick] <= 0:
            del self._open[tick]
        by_tick = self._open_by_source[source]
        by_tick[tick] -= 1
        if by_tick[tick] <= 0:
            del by_tick[tick]
            if not by_tick:
                del self._open_by_source[source]
        if not result.accepted:
            # The delivery policy (retries, dead-letter sink) had its chance; the tick counts
            # as fired, so it is not fired again by catch-up.
            log.error(
                "tick not accepted by the sink after retries",
                extra={
                    "tick": format_tick(tick),
                    "status": result.status,
                    "source": event.get_source(),
                },
            )
        if not self._open:
            self._record_progress()

    def _progress(self) -> tuple[datetime | None, dict[str, datetime]]:
        """(the newest tick fired, per source with a send not done its oldest such tick)."""
        return self._newest, {source: min(ticks) for source, ticks in self._open_by_source.items()}

    def _record_progress(self) -> None:
        """Have the progress as it is now written to the Lease (leader only): one write at a
        time, then the newest progress asked for."""
        self._wanted = self._progress()
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_wanted())

    async def _write_wanted(self) -> None:
        while self._wanted != self._persisted:
            progress = self._wanted
            if not await self._write_progress(progress):
                return

    async def _write_progress(self, progress: tuple[datetime | None, dict[str, datetime]]) -> bool:
        newest, stragglers = progress
        term, elector = self._term, self.elector
        if newest is None or term is None or not term.active or elector is None:
            return False
        text = json.dumps({k: format_tick(v) for k, v in sorted(stragglers.items())})
        try:
            await elector.update_annotations(
                {
                    LAST_TICK_ANNOTATION: format_tick(newest),
                    STRAGGLERS_ANNOTATION: text if stragglers else None,
                }
            )
        except NotLeaderError:
            log.info("not recording the fired tick: no longer the leader")
            return False
        except KubeApiError as exc:
            # The next tick records a later one; a crash before that re-fires (same ids).
            log.warning(
                "could not record the fired tick on the Lease",
                extra={"tick": format_tick(newest), "error": str(exc)},
            )
            return False
        self._persisted = progress
        return True

    async def _finish_in_flight(self) -> None:
        """Wait for ticks in flight (they record themselves on the Lease)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)
        self._wanted = self._progress()
        await self._write_wanted()  # again, in case the last write failed

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
        self.tick_metrics = TickMetrics(sender, schedule)
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
        resume = self.resume_after(self.source)
        if self.catchup_window is not None and resume is not None:
            self._catch_up(max(resume, now - self.catchup_window), now)
        tick = self.schedule.next_tick(boundary, boundary)
        try:
            await self._fire_until_ended(tick, lost, stopping)
        finally:
            self.tick_metrics.clear()

    async def _fire_until_ended(
        self, tick: datetime, lost: asyncio.Task[None], stopping: asyncio.Task[bool]
    ) -> None:
        self.tick_metrics.due(tick)
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
            self.tick_metrics.due(tick)

    def _catch_up(self, after: datetime, until: datetime) -> None:
        missed = self.schedule.ticks_between(after, until)
        log_catch_up(len(missed), missed)
        for tick in missed:
            self.fire_tick(tick, catchup=True)

    def fire_tick(self, tick: datetime, *, catchup: bool = False) -> asyncio.Task[None]:
        """Send the event of ``tick`` in the background (marked when ``catchup``); once it and
        every tick fired before it are done, record it on the Lease."""
        if not catchup:
            self.tick_metrics.fired(tick)
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
