"""A delivery that fails with an error (a bug, not a refused event) stops the source loudly and
still gives its slot back; in process, against the real loopback sink, no broker needed."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pytest
from aiokafka import TopicPartition
from springhead.kafka.partition import Partition
from springhead.sender import Sender
from springhead_kafka.adapter import KafkaAdapter
from springhead_kafka.config import KafkaSettings
from springhead_testing import RecordingSink


@dataclass(frozen=True)
class Record:
    value: bytes | None
    headers: object
    key: bytes | None = None
    topic: str = "orders"
    partition: int = 0
    offset: int = 0
    timestamp: int = 0


def adapter(sink: RecordingSink, sender: Sender) -> KafkaAdapter:
    settings = KafkaSettings.model_validate(
        {
            "K_SINK": sink.url,
            "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
            "KAFKA_TOPICS": "orders",
            "KAFKA_ORDERING": "unordered",
            "KAFKA_MAX_IN_FLIGHT": "2",
        }
    )
    return KafkaAdapter(settings=settings, sender=sender, metrics=sender.metrics)


async def test_a_failing_delivery_stops_the_source_and_frees_its_slot(
    sink: RecordingSink, caplog: pytest.LogCaptureFixture
) -> None:
    async with Sender(sink=sink.url) as sender:
        source = adapter(sink, sender).consumer
        part = Partition(TopicPartition("orders", 0))
        good, broken = Record(b"ok", ()), Record(b"bad", headers=None, offset=1)
        for record in (good, broken):
            await source._slots.acquire()
            part.offsets.dispatched(record.offset)
        with caplog.at_level(logging.ERROR, "springhead.kafka"):
            await source._deliver_then_release(part, good)  # type: ignore[arg-type]
            assert not source._stopping.is_set() and source._failure is None
            await source._deliver_then_release(part, broken)  # type: ignore[arg-type]
    assert source._stopping.is_set()
    assert isinstance(source._failure, TypeError)  # iterating headers=None
    assert [r.message for r in caplog.records] == ["partition delivery failed"]
    assert source._slots.free == 2  # both slots back, the failed one included
    assert [event.get_id() for event in sink.events] == ["partition:0/offset:0"]
    assert part.offsets.commit_offset == 1  # the broken record is not done: never committed past
