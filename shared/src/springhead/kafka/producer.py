"""Producing records durably: every send waits for all in-sync replicas (``acks=all``) with an
idempotent producer, and a send that cannot finish in time is one error the caller can answer
(:class:`KafkaUnavailable`), whatever Kafka's client raised."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from springhead.kafka.mapping import OutgoingRecord

__all__ = ["KafkaUnavailable", "RecordProducer"]

log = logging.getLogger("springhead.kafka")


class KafkaUnavailable(Exception):
    """Kafka did not acknowledge a record (unreachable, no leader, or too slow)."""


class RecordProducer:
    """An ``acks=all``, idempotent producer, started on the first send (and again after a start
    that failed), so a process can serve while Kafka is away and answer for it.

    ``options`` are aiokafka producer options (``bootstrap_servers`` among them); ``timeout`` is
    how long one send may take, start included.
    """

    def __init__(self, options: Mapping[str, Any], *, timeout: float) -> None:
        self._options = {**options, "acks": "all", "enable_idempotence": True}
        self._timeout = timeout
        self._producer: Any = None
        self._starting = asyncio.Lock()

    async def _started(self) -> Any:
        if self._producer is not None:
            return self._producer  # started: no lock to take on every send
        async with self._starting:
            if self._producer is None:
                producer = AIOKafkaProducer(**self._options)
                try:
                    await producer.start()
                except BaseException:
                    await producer.stop()
                    raise
                self._producer = producer
        return self._producer

    async def send(self, topic: str, record: OutgoingRecord) -> tuple[int, int]:
        """Write ``record`` to ``topic``; returns its partition and offset once every in-sync
        replica has it. :class:`KafkaUnavailable` when that did not happen within the timeout."""
        try:
            async with asyncio.timeout(self._timeout):
                producer = await self._started()
                metadata = await producer.send_and_wait(
                    topic, record.value, key=record.key, headers=record.headers
                )
        except (KafkaError, TimeoutError, OSError) as exc:
            raise KafkaUnavailable(f"{type(exc).__name__}: {exc}") from exc
        return metadata.partition, metadata.offset

    async def close(self) -> None:
        """Flush and stop the producer (if it was started)."""
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                async with asyncio.timeout(self._timeout):
                    await producer.stop()
            except (KafkaError, TimeoutError) as exc:
                log.warning("producer did not close cleanly", extra={"error": repr(exc)})
