"""The fetch loop: one loop polls the consumer and queues the records per partition.

A partition whose queue holds ``KAFKA_PREFETCH`` records is left out of the polls until its queue
is down to half (aiokafka then keeps at most one fetched batch of it), so a backlog of any size
costs bounded memory.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from aiokafka.errors import KafkaError

from springhead.backoff import stopped_within
from springhead.kafka.mapping import KafkaRecord
from springhead.kafka.metrics import KafkaMetrics
from springhead.kafka.partition import Partition

__all__ = ["Fetcher"]

log = logging.getLogger("springhead.kafka")

#: How long one poll waits for records (the loop is also woken when a partition resumes).
POLL_TIMEOUT_MS = 1000


class Fetcher:
    """Polls a consumer for the assigned ``partitions`` (the adapter's live mapping) and queues
    what it returns on each :class:`Partition`, until ``stopping`` is set."""

    def __init__(
        self,
        partitions: Mapping[Any, Partition],
        *,
        prefetch: int,
        metrics: KafkaMetrics,
        stopping: asyncio.Event,
    ) -> None:
        self._partitions = partitions
        self._prefetch = prefetch
        self._resume_at = prefetch // 2
        self._metrics = metrics
        self._stopping = stopping
        self._wakeup = asyncio.Event()

    def wake(self) -> None:
        """Poll again now: a partition has room again, partitions changed, or the source stops."""
        self._wakeup.set()

    def take(self, part: Partition) -> KafkaRecord:
        """The first record queued on ``part`` (its queue must not be empty), taken off the
        queue; a full partition is polled again once its queue is down to half."""
        record = part.queue.popleft()
        if part.full and len(part.queue) <= self._resume_at:
            part.full = False
            self._wakeup.set()
        return record

    async def run(self, consumer: Any) -> None:
        """Poll ``consumer`` and queue its records until ``stopping`` is set. A failed fetch is
        logged and tried again after a second; any other error is raised."""
        prefetch = self._prefetch
        while not self._stopping.is_set():
            self._wakeup.clear()
            parts = [part for part in self._partitions.values() if not part.closed]
            room = [part.tp for part in parts if not part.full]
            if parts and not room:
                # Every queue is full: wait until a worker made room (or stop, or a rebalance).
                await self._wakeup.wait()
                continue
            # Only partitions with room; the consumer keeps what it fetched for the others.
            polled = room if len(room) < len(parts) else ()
            fetch = asyncio.ensure_future(
                consumer.getmany(*polled, timeout_ms=POLL_TIMEOUT_MS, max_records=prefetch)
            )
            woken = asyncio.ensure_future(self._wakeup.wait())
            try:
                await asyncio.wait({fetch, woken}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                woken.cancel()
                if not fetch.done():
                    # Room made, stop, or a rebalance: poll again. Records leave the consumer's
                    # buffer only when getmany returns, so none are lost.
                    fetch.cancel()
                    await asyncio.wait({fetch})
            if fetch.cancelled():
                continue
            error = fetch.exception()
            if isinstance(error, KafkaError):
                log.warning("fetching failed", extra={"error": f"{type(error).__name__}: {error}"})
                await stopped_within(self._stopping, 1.0)
                continue
            if error is not None:
                raise error
            self._distribute(fetch.result())

    def _distribute(self, batches: dict[Any, list[KafkaRecord]]) -> None:
        for tp, records in batches.items():
            part = self._partitions.get(tp)
            if part is None or part.closed or not records:
                continue  # revoked meanwhile: its next owner fetches from the committed offset
            part.queue.extend(records)
            part.fetched_next = records[-1].offset + 1
            self._metrics.records_received.labels(part.topic).inc(len(records))
            if len(part.queue) >= self._prefetch:
                part.full = True
            part.wake.set()
