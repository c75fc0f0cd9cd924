"""Offset commits (auto-commit is off) and the consumer-lag gauge.

:class:`~springhead.kafka.offsets.PartitionOffsets` tracks one partition's offsets (pure); the
:class:`Committer` commits, per partition, the offset after the unbroken run of done records:
every ``KAFKA_COMMIT_INTERVAL``, when half the uncommitted window is done, and whenever the adapter
asks (partitions revoked, shutdown). One commit at a time; a failed commit is retried at the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from typing import Any

from aiokafka.errors import KafkaError

from springhead.backoff import stopped_within
from springhead.kafka.metrics import KafkaMetrics
from springhead.kafka.partition import Partition

__all__ = ["Committer"]

log = logging.getLogger("springhead.kafka")

#: How long one offset commit may take before it counts as failed.
COMMIT_TIMEOUT = 10.0


class Committer:
    """Commits the done offsets of the assigned ``partitions`` (the adapter's live mapping).

    ``interval``: seconds between periodic commits; ``max_uncommitted``: the uncommitted window
    (``KAFKA_MAX_UNCOMMITTED``), half of which done asks for a commit at once; ``group``: the
    consumer group, the lag gauge's ``group`` label.
    """

    def __init__(
        self,
        partitions: Mapping[Any, Partition],
        *,
        interval: float,
        max_uncommitted: int,
        metrics: KafkaMetrics,
        group: str,
    ) -> None:
        self._partitions = partitions
        self._group = group
        self._interval = interval
        self._threshold = max(1, max_uncommitted // 2)
        self._metrics = metrics
        self._requested = asyncio.Event()
        self._lock = asyncio.Lock()

    def request(self) -> None:
        """Commit soon (the periodic loop commits at once)."""
        self._requested.set()

    def done(self, part: Partition, offset: int) -> None:
        """Record ``offset`` of ``part`` as done (delivered, dead-lettered or lost); asks for a
        commit once half the uncommitted window is ready to commit."""
        part.offsets.done(offset)
        if part.offsets.ready >= self._threshold:
            self._requested.set()

    async def run(self, consumer: Any) -> None:
        """Commit through ``consumer`` every ``interval`` or when asked, then update the lag
        gauge; until cancelled."""
        while True:
            await stopped_within(self._requested, self._interval)
            self._requested.clear()
            await self.commit(consumer)
            self._update_lag(consumer)

    async def commit(
        self,
        consumer: Any,
        parts: list[Partition] | None = None,
        *,
        timeout: float = COMMIT_TIMEOUT,
    ) -> dict[str, int]:
        """Commit every done run of ``parts`` (default: the assigned partitions); returns what
        was committed. A failed commit is logged and retried at the next one."""
        async with self._lock:
            if parts is None:
                parts = [part for part in self._partitions.values() if not part.closed]
            tickets = [(part, ticket) for part in parts if (ticket := part.offsets.begin_commit())]
            if not tickets:
                return {}
            offsets = {part.tp: ticket.offset for part, ticket in tickets}
            started = time.perf_counter()
            try:
                async with asyncio.timeout(timeout):
                    await consumer.commit(offsets)
            except (KafkaError, TimeoutError) as exc:
                self._metrics.commit_failures.inc()
                log.warning(
                    "offset commit failed; retried at the next commit",
                    extra={
                        "error": f"{type(exc).__name__}: {exc}",
                        "offsets": {part.name: ticket.offset for part, ticket in tickets},
                    },
                )
                return {}
            self._metrics.commit_latency.observe(time.perf_counter() - started)
            for part, ticket in tickets:
                part.offsets.committed(ticket)
                part.wake.set()
            return {part.name: ticket.offset for part, ticket in tickets}

    def forget(self, parts: list[Partition]) -> None:
        """Drop the lag gauges of ``parts`` (revoked: another member reports them now)."""
        for part in parts:
            with contextlib.suppress(KeyError):
                self._metrics.lag.remove(self._group, part.topic, str(part.tp.partition))

    def _update_lag(self, consumer: Any) -> None:
        for part in self._partitions.values():
            highwater = consumer.highwater(part.tp)
            position = part.next_offset
            if highwater is None or position is None:
                continue
            self._metrics.lag.labels(self._group, part.topic, str(part.tp.partition)).set(
                max(0, highwater - position)
            )
