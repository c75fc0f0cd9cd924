"""Small aiokafka helpers for tests: produce records, consume them in a group and commit.

Imports aiokafka (import this module from tests, not from conftest files every run loads).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # type: ignore[import-untyped, unused-ignore]


async def produce(
    client: Mapping[str, Any], topic: str, values: Sequence[bytes], *, keyed: bool = True
) -> None:
    """Send ``values`` to ``topic`` (key = index when ``keyed``), waiting for every ack."""
    producer = AIOKafkaProducer(**client, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for index, value in enumerate(values):
            key = str(index).encode() if keyed else None
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def consume_and_commit(
    client: Mapping[str, Any],
    topic: str,
    group: str,
    count: int,
    *,
    timeout: float = 60.0,
) -> tuple[list[bytes], dict[tuple[str, int], int]]:
    """Consume ``count`` records of ``topic`` as a member of ``group``, then commit.

    Returns the values in the order received and the committed offset of every assigned
    partition (keyed by ``(topic, partition)``). Raises ``TimeoutError`` after ``timeout``.
    """
    consumer = AIOKafkaConsumer(
        topic, **client, group_id=group, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        values: list[bytes] = []
        async with asyncio.timeout(timeout):
            while len(values) < count:
                batches = await consumer.getmany(timeout_ms=500)
                values += [record.value for batch in batches.values() for record in batch]
        await consumer.commit()
        committed = {
            (tp.topic, tp.partition): await consumer.committed(tp) for tp in consumer.assignment()
        }
    finally:
        await consumer.stop()
    return values, committed
