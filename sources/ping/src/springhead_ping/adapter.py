"""PingSource adapter: one CloudEvent per schedule tick."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypedDict

from cloudevents.core.v1.event import CloudEvent
from prometheus_client import Gauge
from springhead.backoff import stopped_within
from springhead.runtime import Service, SourceHost
from springhead.sender import Sender

from springhead_ping.config import PingSettings
from springhead_ping.schedule import Schedule

__all__ = ["PING_EVENT_TYPE", "PingAdapter", "TickMetrics", "ping_event"]

log = logging.getLogger("springhead.ping")

#: CloudEvents type of every ping event (Knative's).
PING_EVENT_TYPE = "dev.knative.sources.ping"
#: A tick found this late (the process was suspended, the clock jumped) counts as missed.
MISSED_AFTER = timedelta(seconds=1)
_ID_NAMESPACE = uuid.UUID("6f1c1f38-6a3e-4d53-9a52-0c0d9c7e5a10")


def ping_event(
    *, source: str, tick: datetime, content_type: str = "", payload: bytes | None = None
) -> CloudEvent:
    """The event of the tick scheduled at ``tick``.

    ``id`` is derived from source and tick, so every tick has a new id and a tick delivered twice
    (by two replicas, or retried) keeps it; ``time`` is the scheduled tick in UTC.
    """
    tick_utc = tick.astimezone(UTC)
    attributes: dict[str, object] = {
        "specversion": "1.0",
        "type": PING_EVENT_TYPE,
        "source": source,
        "id": str(uuid.uuid5(_ID_NAMESPACE, f"{source}@{tick_utc.isoformat()}")),
        "time": tick_utc,
    }
    if content_type:
        attributes["datacontenttype"] = content_type
    return CloudEvent(attributes, payload)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class _EventOptions(TypedDict):
    schedule: Schedule
    source: str
    content_type: str
    payload: bytes | None


def _event_options(settings: PingSettings) -> _EventOptions:
    """The adapter arguments ``settings`` give, leader election or not: what to fire, when."""
    return {
        "schedule": settings.parsed_schedule,
        "source": settings.event_source,
        "content_type": settings.content_type,
        "payload": settings.payload,
    }


class TickMetrics:
    """When the last tick fired and when the next one is due, labelled with the schedule: the
    series exist only while this process fires ticks (a standby replica has none), so an alert
    can compare the two (no tick within two intervals)."""

    def __init__(self, sender: Sender, schedule: Schedule) -> None:
        registry = sender.metrics.registry
        self.schedule = schedule.expression
        self.last = Gauge(
            "springhead_ping_last_tick_timestamp_seconds",
            "When the last tick this process fired was scheduled (Unix time).",
            ["schedule"],
            registry=registry,
        )
        self.next = Gauge(
            "springhead_ping_next_tick_timestamp_seconds",
            "When the next tick is due (Unix time).",
            ["schedule"],
            registry=registry,
        )

    def due(self, tick: datetime) -> None:
        """The next tick is ``tick``."""
        self.next.labels(self.schedule).set(tick.timestamp())

    def fired(self, tick: datetime) -> None:
        """``tick`` fired now."""
        self.last.labels(self.schedule).set(tick.timestamp())

    def clear(self) -> None:
        """This process fires no more ticks (it stopped leading)."""
        self.last.clear()
        self.next.clear()


class PingAdapter:
    """Fires the schedule's ticks until stopped; each tick's event is sent without waiting for
    the previous one, so a slow sink never delays the schedule."""

    def __init__(
        self,
        *,
        schedule: Schedule,
        sender: Sender,
        source: str,
        content_type: str = "",
        payload: bytes | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.schedule = schedule
        self.sender = sender
        self.source = source
        self.content_type = content_type
        self.payload = payload
        self.clock = clock
        self._stop = asyncio.Event()
        self._sending: set[asyncio.Task[object]] = set()
        self.tick_metrics = TickMetrics(sender, schedule)

    @classmethod
    def from_settings(cls, settings: PingSettings, host: SourceHost) -> Service:
        """The adapter a :class:`PingSettings` describes (with ``PING_LEADER_ELECTION``, one
        that fires only while it holds the Lease; with ``PING_MULTI_TENANT``, one that fires
        every PingSource the API server has)."""
        if settings.multi_tenant:
            # Imported here, as below: it loads the Kubernetes client.
            from springhead_ping.multitenant import MultiTenantPingAdapter

            return MultiTenantPingAdapter.from_settings(settings, host)
        if settings.leader_election:
            # Imported here: it loads the Kubernetes client, which a single ping never needs.
            from springhead_ping.replicas import ReplicatedPingAdapter

            return ReplicatedPingAdapter.from_settings(settings, host)
        return cls(sender=host.sender, **_event_options(settings))

    async def run(self) -> None:
        """Fire ticks until :meth:`stop`."""
        log.info(
            "schedule loaded",
            extra={"schedule": self.schedule.expression, "timezone": str(self.schedule.timezone)},
        )
        tick = self.schedule.next_tick(None, self.clock())
        while not self._stop.is_set():
            self.tick_metrics.due(tick)
            delay = (tick - self.clock()).total_seconds()
            if delay > 0 and await stopped_within(self._stop, delay):
                return
            self.fire(tick)
            now = self.clock()
            following = self.schedule.next_tick(tick, now)
            if following < now - MISSED_AFTER:
                log.warning(
                    "ticks missed: the process was suspended or the clock jumped",
                    extra={"first_missed": following.isoformat()},
                )
                following = self.schedule.next_tick(None, now)
            tick = following

    def fire(self, tick: datetime) -> asyncio.Task[object]:
        """Send the event of ``tick`` in the background."""
        self.tick_metrics.fired(tick)
        event = ping_event(
            source=self.source, tick=tick, content_type=self.content_type, payload=self.payload
        )
        task: asyncio.Task[object] = asyncio.create_task(self.sender.send(event))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)
        return task

    async def stop(self) -> None:
        """Stop firing; events already handed to the sender are drained by the runtime."""
        self._stop.set()
