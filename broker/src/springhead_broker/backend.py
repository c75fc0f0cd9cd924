"""Where a broker's events live between the ingress and the dispatcher, behind one interface.

- :class:`KafkaBackend`: one topic per broker (events as binary-mode records, the
  ``partitionkey`` extension as the key), on ``KAFKA_BOOTSTRAP_SERVERS``' cluster or the one the
  broker's contract entry names, written with ``acks=all``; one consumer group per
  trigger, consumed with the runtime's :class:`~springhead.kafka.consumer.PartitionedConsumer`
  (offsets committed only after the event was delivered, dead-lettered or filtered out).
- :class:`MemoryBackend`: a list per broker in this process's memory. NOT durable: whatever was
  accepted and not yet delivered is lost when the process stops, and the ingress and the
  dispatcher must be the same process (``BROKER_ROLE=all``). For ``make run`` and development,
  the role Knative's InMemoryChannel plays. Each trigger delivers in order, one event at a time.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from cloudevents.core.base import BaseCloudEvent
from springhead.events import trusted_event
from springhead.kafka.consumer import ConsumeLimits, PartitionedConsumer
from springhead.kafka.mapping import (
    OFFSET_EXTENSION,
    PARTITION_EXTENSION,
    KafkaRecord,
    event_to_record,
    record_to_event,
)
from springhead.kafka.metrics import KafkaMetrics
from springhead.kafka.partition import Partition
from springhead.kafka.producer import KafkaUnavailable, RecordProducer
from springhead.metrics import Metrics

from springhead_broker.config import BrokerSettings, InitialOffset
from springhead_broker.contract import BrokerSpec, TriggerSpec, trigger_group

__all__ = [
    "Backend",
    "DeliverEvent",
    "KafkaBackend",
    "MemoryBackend",
    "Subscription",
    "Unavailable",
]

log = logging.getLogger("springhead.broker")

#: Delivers one event of a trigger; returns the outcome it is counted under.
DeliverEvent = Callable[[BaseCloudEvent], Awaitable[str]]


class Unavailable(Exception):
    """The backend could not store the event now; the caller may try again later."""


class Subscription(Protocol):
    """One trigger's stream of its broker's events."""

    async def run(self) -> None:
        """Deliver until :meth:`stop`."""

    async def stop(self) -> None:
        """Stop taking events; :meth:`run` finishes what is in progress and returns."""

    def is_ready(self) -> bool:
        """True once it receives events."""
        ...


class Backend(Protocol):
    """Stores brokers' events and streams them to triggers."""

    async def append(self, broker: BrokerSpec, event: BaseCloudEvent) -> None:
        """Store ``event`` durably (as durable as the backend is); :class:`Unavailable` if not."""

    def subscribe(
        self, broker: BrokerSpec, trigger: TriggerSpec, deliver: DeliverEvent
    ) -> Subscription:
        """A subscription delivering ``broker``'s events to ``deliver`` (not started)."""
        ...

    async def close(self) -> None:
        """Release connections."""


class KafkaBackend:
    """Brokers on Apache Kafka (see the module documentation)."""

    def __init__(self, settings: BrokerSettings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = KafkaMetrics(metrics.registry)
        # One producer per Kafka cluster; every client with the shared KAFKA_* SASL and TLS.
        self._producers: dict[tuple[str, ...], RecordProducer] = {}

    def _options(self, broker: BrokerSpec) -> dict[str, Any]:
        """Client options for the cluster holding ``broker``'s topic."""
        return self.settings.kafka_options(
            list(broker.bootstrap_servers) if broker.bootstrap_servers else None
        )

    def _producer(self, broker: BrokerSpec) -> RecordProducer:
        """The producer for ``broker``'s cluster (one per cluster, started on its first send)."""
        servers = broker.bootstrap_servers or ()
        producer = self._producers.get(servers)
        if producer is None:
            producer = self._producers[servers] = RecordProducer(
                {**self._options(broker), "client_id": f"springhead-broker-{self.settings.name}"},
                timeout=self.settings.produce_timeout.total_seconds(),
            )
        return producer

    async def append(self, broker: BrokerSpec, event: BaseCloudEvent) -> None:
        """Write ``event`` to the broker's topic and wait for every in-sync replica."""
        try:
            await self._producer(broker).send(broker.topic_name, event_to_record(event))
        except KafkaUnavailable as exc:
            raise Unavailable(str(exc)) from exc

    def subscribe(
        self, broker: BrokerSpec, trigger: TriggerSpec, deliver: DeliverEvent
    ) -> Subscription:
        """The trigger's consumer group ``knative-trigger-<ns>-<name>`` on the broker's topic."""
        settings = self.settings

        async def deliver_record(part: Partition, record: KafkaRecord) -> str:
            mapped = record_to_event(record, namespace=broker.namespace, name=broker.name)
            if mapped.invalid is not None:
                self.metrics.invalid_cloudevents.labels(part.topic).inc()
            # The record's partition and offset are the topic's business, not the subscriber's
            # (Knative's Kafka broker does not add them either).
            attributes = dict(mapped.event.get_attributes())
            del attributes[PARTITION_EXTENSION], attributes[OFFSET_EXTENSION]
            return await deliver(trusted_event(attributes, mapped.event.get_data()))

        group = trigger_group(broker.namespace, trigger.name)
        return PartitionedConsumer(
            options={
                **self._options(broker),
                "client_id": f"springhead-broker-{broker.namespace}-{trigger.name}",
                "group_id": group,
                "auto_offset_reset": settings.initial_offset.value,
                "isolation_level": "read_committed",
                "max_poll_interval_ms": 24 * 3600 * 1000,
            },
            topics=[broker.topic_name],
            limits=ConsumeLimits(
                ordered=trigger.ordered,
                max_in_flight=settings.max_in_flight,
                max_uncommitted=settings.max_uncommitted,
                # The Kafka source's defaults (KAFKA_PREFETCH, KAFKA_REVOKE_TIMEOUT).
                prefetch=500,
                commit_interval=settings.commit_interval.total_seconds(),
                revoke_timeout=10.0,
                shutdown_grace=settings.shutdown_grace.total_seconds(),
            ),
            deliver=deliver_record,
            metrics=self.metrics,
            describe={"trigger": f"{broker.namespace}/{trigger.name}", "ordered": trigger.ordered},
        )

    async def close(self) -> None:
        """Flush and stop the producers."""
        for producer in self._producers.values():
            await producer.close()
        self._producers.clear()


class _MemoryTopic:
    """A broker's events still owed to one of its triggers: ``events[i]`` has offset
    ``base + i``; events every subscription has passed are dropped."""

    __slots__ = ("base", "changed", "events", "subscriptions")

    def __init__(self) -> None:
        self.base = 0
        self.events: deque[BaseCloudEvent] = deque()
        self.changed = asyncio.Event()
        self.subscriptions: set[_MemorySubscription] = set()

    @property
    def end(self) -> int:
        return self.base + len(self.events)

    def trim(self) -> None:
        keep = min((sub.next for sub in self.subscriptions), default=self.end)
        while self.base < keep and self.events:
            self.events.popleft()
            self.base += 1


class _MemorySubscription:
    """Delivers a memory topic's events from a position on, one at a time, in order."""

    def __init__(self, topic: _MemoryTopic, start: int, deliver: DeliverEvent) -> None:
        self._topic = topic
        self.next = start
        self._deliver = deliver
        self._stopping = asyncio.Event()
        topic.subscriptions.add(self)  # from now on the topic keeps what this one still owes

    def is_ready(self) -> bool:
        return not self._stopping.is_set()

    async def stop(self) -> None:
        self._stopping.set()
        self._topic.changed.set()

    async def run(self) -> None:
        topic = self._topic
        try:
            while not self._stopping.is_set():
                if self.next >= topic.end:
                    topic.changed.clear()
                    await topic.changed.wait()
                    continue
                await self._deliver(topic.events[self.next - topic.base])
                self.next += 1
                topic.trim()
        finally:
            topic.subscriptions.discard(self)
            topic.trim()


class MemoryBackend:
    """Brokers in this process's memory: not durable (see the module documentation)."""

    def __init__(self, settings: BrokerSettings) -> None:
        self.settings = settings
        self._topics: dict[str, _MemoryTopic] = {}

    def _topic(self, name: str) -> _MemoryTopic:
        topic = self._topics.get(name)
        if topic is None:
            topic = self._topics[name] = _MemoryTopic()
        return topic

    async def append(self, broker: BrokerSpec, event: BaseCloudEvent) -> None:
        """Keep ``event`` in memory (while a trigger of the broker still owes it) and wake the
        broker's triggers."""
        topic = self._topic(broker.topic_name)
        topic.events.append(event)
        topic.changed.set()
        if not topic.subscriptions:
            topic.trim()

    def subscribe(
        self, broker: BrokerSpec, trigger: TriggerSpec, deliver: DeliverEvent
    ) -> Subscription:
        """From the next event on (``latest``) or from the oldest kept (``earliest``)."""
        topic = self._topic(broker.topic_name)
        earliest = self.settings.initial_offset is InitialOffset.EARLIEST
        return _MemorySubscription(topic, topic.base if earliest else topic.end, deliver)

    async def close(self) -> None:
        """Nothing to release: the events are forgotten with the process."""
