"""Kafka source adapter: consume topics with aiokafka, deliver every record as a CloudEvent, commit
only what is done.

The consume loop is the runtime's (:class:`springhead.kafka.consumer.PartitionedConsumer`:
fetching with bounded prefetch, one worker per partition, ordered or unordered delivery within
``KAFKA_MAX_IN_FLIGHT`` slots and a ``KAFKA_MAX_UNCOMMITTED`` window, commits of the done
offsets only). This adapter maps each record to a CloudEvent and delivers it: an event nobody
accepted (sink, then dead-letter sink) is delivered again, blocking its partition
(``KAFKA_ON_EXHAUSTED=block``, the default), or logged as lost and committed (``commit``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from springhead.kafka.consumer import ConsumeLimits, PartitionedConsumer
from springhead.kafka.mapping import KafkaRecord, record_to_event
from springhead.kafka.metrics import KafkaMetrics
from springhead.kafka.partition import Partition
from springhead.metrics import Metrics
from springhead.runtime import SourceHost
from springhead.sender import DeliveryResult, Sender

from springhead_kafka.config import KafkaSettings, OnExhausted, Ordering

__all__ = ["KafkaAdapter"]

log = logging.getLogger("springhead.kafka")


def _where(record: KafkaRecord) -> dict[str, Any]:
    return {"topic": record.topic, "partition": record.partition, "offset": record.offset}


class KafkaAdapter:
    """Consumes the configured topics as one member of the consumer group until stopped."""

    def __init__(self, *, settings: KafkaSettings, sender: Sender, metrics: Metrics) -> None:
        self.settings = settings
        self.sender = sender
        self.metrics = KafkaMetrics(metrics.registry)
        self.consumer = PartitionedConsumer(
            options=self._consumer_options(),
            topics=settings.topics,
            pattern=settings.topic_pattern,
            limits=ConsumeLimits(
                ordered=settings.ordering is Ordering.ORDERED,
                max_in_flight=settings.max_in_flight,
                max_uncommitted=settings.max_uncommitted,
                prefetch=settings.prefetch,
                commit_interval=settings.commit_interval.total_seconds(),
                revoke_timeout=settings.revoke_timeout.total_seconds(),
                shutdown_grace=settings.shutdown_grace.total_seconds(),
            ),
            deliver=self._deliver,
            metrics=self.metrics,
            describe={"ordering": settings.ordering.value},
        )

    @classmethod
    def from_settings(cls, settings: KafkaSettings, host: SourceHost) -> KafkaAdapter:
        """The adapter a :class:`KafkaSettings` describes (the runtime's factory)."""
        return cls(settings=settings, sender=host.sender, metrics=host.metrics)

    def is_ready(self) -> bool:
        """True once the consumer joined its group (with or without partitions), until stop."""
        return self.consumer.is_ready()

    async def stop(self) -> None:
        """Stop fetching; :meth:`run` then finishes deliveries, commits and leaves the group."""
        await self.consumer.stop()

    async def run(self) -> None:
        """Consume and deliver until :meth:`stop`."""
        await self.consumer.run()

    def _consumer_options(self) -> dict[str, Any]:
        settings = self.settings
        return {
            **settings.kafka_options(),
            "client_id": f"springhead-{settings.namespace}-{settings.name}",
            "group_id": settings.group_id,
            "enable_auto_commit": False,
            "auto_offset_reset": settings.initial_offset.value,
            "isolation_level": "read_committed",
            "max_partition_fetch_bytes": settings.max_partition_fetch_bytes,
            "fetch_max_bytes": settings.fetch_max_bytes,
            # A rebalance waits for the revoke callback: let it take the revoke timeout.
            "rebalance_timeout_ms": int(settings.revoke_timeout.total_seconds() * 1000) + 10_000,
            # Not polling while every queue is full (a slow or failing sink) is back-pressure, not
            # a stuck consumer: never leave the group for it. Heartbeats still prove liveness.
            "max_poll_interval_ms": 24 * 3600 * 1000,
        }

    async def _deliver(self, part: Partition, record: KafkaRecord) -> str:
        """Deliver ``record`` as its CloudEvent; returns the outcome it is counted under."""
        settings = self.settings
        mapped = record_to_event(
            record, namespace=settings.namespace, name=settings.name, key_type=settings.key_type
        )
        if mapped.invalid is not None:
            self.metrics.invalid_cloudevents.labels(part.topic).inc()
            log.warning(
                "record delivered as a plain event",
                extra={**_where(record), "reason": mapped.invalid},
            )
        if settings.on_exhausted is OnExhausted.COMMIT:
            result = await self.sender.send(mapped.event)
        else:
            # No stop event: a revoke or shutdown ends this by cancelling the delivery once its
            # drain time ran out, so an event refused meanwhile still gets that time.
            result = await self.sender.send_until_accepted(
                mapped.event, on_refused=self._redelivering(part, record)
            )
        if result.accepted:
            outcome = result.outcome.value
        else:
            outcome = "lost"
            log.error(
                "event lost: no sink accepted it; committing past it",
                extra={
                    **_where(record),
                    "event_id": mapped.event.get_id(),
                    "status": result.status,
                },
            )
        return outcome

    def _redelivering(
        self, part: Partition, record: KafkaRecord
    ) -> Callable[[DeliveryResult, int, float], None]:
        """What a round nobody accepted adds to the sender's own report: the redelivery count
        and a warning naming the record."""

        def on_refused(result: DeliveryResult, rounds: int, pause_s: float) -> None:
            self.metrics.redeliveries.labels(part.topic).inc()
            log.warning(
                "event not accepted; delivering it again, its partition waits",
                extra={
                    **_where(record),
                    "round": rounds,
                    "status": result.status,
                    "pause_s": pause_s,
                },
            )

        return on_refused
