"""One assigned partition's state, shared by the fetch loop (:mod:`springhead.kafka.fetcher`), the
partition's delivery worker (:mod:`springhead_kafka.adapter`) and the committer
(:mod:`springhead.kafka.committer`)."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from springhead.kafka.mapping import KafkaRecord
from springhead.kafka.offsets import PartitionOffsets

__all__ = ["Partition"]


class Partition:
    """One assigned partition: its queue, offsets and worker."""

    __slots__ = (
        "closed",
        "done_counters",
        "fetched_next",
        "in_flight",
        "name",
        "offsets",
        "full",
        "queue",
        "topic",
        "tp",
        "wake",
        "worker",
    )

    def __init__(self, tp: Any) -> None:
        self.tp = tp
        self.topic: str = tp.topic
        self.name = f"{tp.topic}-{tp.partition}"
        """``<topic>-<partition>``, as logs name it."""
        self.queue: deque[KafkaRecord] = deque()
        self.offsets = PartitionOffsets()
        self.wake = asyncio.Event()
        """Set when records arrive, the uncommitted window opens, or the partition closes."""
        self.in_flight: set[asyncio.Task[None]] = set()
        self.worker: asyncio.Task[None] | None = None
        self.full = False
        """The queue reached KAFKA_PREFETCH: not polled until it is down to half."""
        self.closed = False
        self.fetched_next: int | None = None
        self.done_counters: dict[str, Any] = {}
        """records_done children by outcome (labels() per event costs a lock and a lookup)."""

    @property
    def next_offset(self) -> int | None:
        """The first offset not delivered yet (None before the first record)."""
        offset = self.offsets.next_offset
        if offset is not None and self.offsets.in_delivery:
            return offset
        if self.queue:
            return self.queue[0].offset
        return offset if offset is not None else self.fetched_next
