"""Which offset of a partition may be committed: the contiguous-done tracker. Pure, no I/O.

Records of a partition are handed to delivery in offset order and may finish in any order
(unordered mode). Only the offset after the last record of the unbroken run of finished records
("done": delivered, dead-lettered, or given up on by choice) may be committed; a record still in
delivery holds the commit back, however many later records are done. Offsets need not be
contiguous (compacted topics and transaction markers leave gaps): the tracker follows the offsets
it was given, not arithmetic.

It also counts the records handed to delivery since the last successful commit, which the adapter
bounds (``KAFKA_MAX_UNCOMMITTED``): that count bounds the duplicates a crash can cause.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

__all__ = ["CommitTicket", "PartitionOffsets"]


@dataclass(frozen=True, slots=True)
class CommitTicket:
    """A commit in progress: the offset to commit and how many records it covers."""

    offset: int
    """The offset to commit: the next record to deliver after a restart."""
    records: int
    """Records done since the previous commit that this commit makes durable."""


class PartitionOffsets:
    """Offsets of one partition (one assignment of it) handed to delivery, and which are done."""

    __slots__ = ("_committed", "_done", "_last", "_pending", "_ready", "_ready_records")

    def __init__(self) -> None:
        self._pending: deque[int] = deque()
        """Dispatched offsets from the first not-done one on, in order."""
        self._done: set[int] = set()
        """Done offsets behind a not-done one."""
        self._ready: int | None = None
        """Offset after the unbroken run of done records: what may be committed."""
        self._ready_records = 0
        """Records in that run since the last successful commit."""
        self._committed: int | None = None
        self._last: int | None = None

    def dispatched(self, offset: int) -> None:
        """Record that ``offset`` was handed to delivery (offsets must increase)."""
        if self._last is not None and offset <= self._last:
            raise ValueError(f"offset {offset} dispatched after {self._last}")
        self._pending.append(offset)
        self._last = offset

    def done(self, offset: int) -> None:
        """Record that the delivery of ``offset`` finished."""
        pending = self._pending
        if not pending or offset < pending[0] or offset > pending[-1] or offset in self._done:
            raise ValueError(f"offset {offset} is not in delivery")
        if offset != pending[0]:
            self._done.add(offset)
            return
        pending.popleft()
        self._ready, self._ready_records = offset + 1, self._ready_records + 1
        while pending and pending[0] in self._done:
            head = pending.popleft()
            self._done.discard(head)
            self._ready, self._ready_records = head + 1, self._ready_records + 1

    @property
    def commit_offset(self) -> int | None:
        """The offset a commit would store now, or None when there is nothing new to commit."""
        if self._ready is None or (self._committed is not None and self._ready <= self._committed):
            return None
        return self._ready

    def begin_commit(self) -> CommitTicket | None:
        """What to commit now (None: nothing new); pass it to :meth:`committed` on success."""
        offset = self.commit_offset
        if offset is None:
            return None
        return CommitTicket(offset, self._ready_records)

    def committed(self, ticket: CommitTicket) -> None:
        """Record that ``ticket``'s commit succeeded."""
        if self._committed is None or ticket.offset > self._committed:
            self._committed = ticket.offset
            self._ready_records -= ticket.records

    @property
    def committed_offset(self) -> int | None:
        """The last offset this tracker saw committed."""
        return self._committed

    @property
    def uncommitted(self) -> int:
        """Records handed to delivery and not yet covered by a successful commit."""
        return len(self._pending) + self._ready_records

    @property
    def ready(self) -> int:
        """Records done (in an unbroken run) and not yet committed."""
        return self._ready_records

    @property
    def in_delivery(self) -> int:
        """Records handed to delivery whose delivery has not finished."""
        return len(self._pending) - len(self._done)

    @property
    def next_offset(self) -> int | None:
        """The first offset not done yet (or after the last done one); None before any record."""
        if self._pending:
            return self._pending[0]
        return self._ready
