"""The events the display keeps: the newest ones, within a count and a byte budget.

Watchers (the web page's live stream) are not given queues of their own: each keeps only the
position of the last event it has seen and reads newer events from the store when woken. A
watcher that falls behind the oldest event kept has missed what was forgotten meanwhile and
skips ahead, so memory does not grow with slow readers, nor with their number beyond a small
object each.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from springhead_display.received import ReceivedEvent

__all__ = ["EventStore", "Stats", "Watcher"]

#: Seconds the events-per-second rate is averaged over.
RATE_WINDOW = 10


@dataclass(frozen=True, slots=True)
class Stats:
    """What the store holds and has seen."""

    received: int
    """Events received since the display started (kept or since forgotten)."""
    kept: int
    """Events kept now."""
    kept_bytes: int
    """Bytes of those events, as counted against the budget."""
    per_second: float
    """Events received per second over the last :data:`RATE_WINDOW` seconds."""
    types: dict[str, int] = field(default_factory=dict)
    """Events kept, by ``type``."""
    sources: dict[str, int] = field(default_factory=dict)
    """Events kept, by ``source``."""


class Watcher:
    """One reader of the events as they arrive (see :meth:`EventStore.watch`)."""

    def __init__(self, store: EventStore, after: int) -> None:
        self._store = store
        self.position = after
        """The ``seq`` of the last event this watcher has been given."""
        self._wake = asyncio.Event()
        self.closed = False

    def wake(self) -> None:
        """Tell the watcher that events arrived (or that the store closed)."""
        self._wake.set()

    async def wait(self, timeout: float) -> None:
        """Return once events newer than :attr:`position` may be there, the store closed, or
        ``timeout`` seconds passed."""
        try:
            async with asyncio.timeout(timeout):
                await self._wake.wait()
        except TimeoutError:
            pass
        self._wake.clear()

    def take(self, limit: int) -> tuple[int, list[ReceivedEvent]]:
        """(events forgotten before this watcher saw them, at most ``limit`` events newer than
        :attr:`position`, oldest first); advances :attr:`position` past what it returns."""
        skipped, events = self._store.after(self.position, limit)
        if events:
            self.position = events[-1].seq
        elif skipped:
            self.position += skipped
        return skipped, events

    def close(self) -> None:
        """Stop watching."""
        self._store.unwatch(self)


class EventStore:
    """The newest events: at most ``max_events``, and at most ``max_bytes`` of them (the newest
    event is kept whatever its size). ``clock`` gives seconds since the epoch."""

    def __init__(
        self, *, max_events: int, max_bytes: int, clock: Callable[[], float] = time.time
    ) -> None:
        self.max_events = max_events
        self.max_bytes = max_bytes
        self._clock = clock
        self._events: deque[ReceivedEvent] = deque()
        self._bytes = 0
        self._seq = 0
        self._types: Counter[str] = Counter()
        self._sources: Counter[str] = Counter()
        self._seconds: deque[list[int]] = deque(maxlen=RATE_WINDOW + 1)  # [second, count]
        self._watchers: set[Watcher] = set()
        self.closed = False

    def add(self, event: ReceivedEvent) -> None:
        """Keep ``event`` (numbering it), forget the oldest beyond the bounds, wake watchers."""
        now = self._clock()
        self._seq += 1
        event.seq = self._seq
        event.received = now
        event.cost = event.size
        self._events.append(event)
        self._bytes += event.cost
        attributes = event.attributes
        self._types[attributes["type"]] += 1
        self._sources[attributes["source"]] += 1
        while len(self._events) > self.max_events or (
            self._bytes > self.max_bytes and len(self._events) > 1
        ):
            self._forget()
        second = int(now)
        if self._seconds and self._seconds[-1][0] == second:
            self._seconds[-1][1] += 1
        else:
            self._seconds.append([second, 1])
        for watcher in self._watchers:
            watcher.wake()

    def _forget(self) -> None:
        old = self._events.popleft()
        self._bytes -= old.cost
        for counter, key in (
            (self._types, old.attributes["type"]),
            (self._sources, old.attributes["source"]),
        ):
            counter[key] -= 1
            if not counter[key]:
                del counter[key]

    def newest(self, limit: int | None = None) -> list[ReceivedEvent]:
        """The events kept, newest first (at most ``limit``)."""
        if limit is None or limit >= len(self._events):
            return list(reversed(self._events))
        events: list[ReceivedEvent] = []
        for event in reversed(self._events):
            if len(events) == limit:
                break
            events.append(event)
        return events

    def after(self, position: int, limit: int) -> tuple[int, list[ReceivedEvent]]:
        """(how many events after ``position`` were forgotten, at most ``limit`` kept events
        after it, oldest first)."""
        if not self._events or position >= self._seq:
            return 0, []
        oldest = self._events[0].seq
        skipped = max(0, oldest - position - 1)
        start = max(position + 1, oldest)
        # The kept events are numbered without gaps, so the first wanted one is at a known index;
        # reading from the nearer end keeps this cheap for a watcher that is nearly up to date.
        first = start - oldest
        if first > len(self._events) // 2:
            tail = list(itertools.islice(reversed(self._events), len(self._events) - first))
            tail.reverse()
            return skipped, tail[:limit]
        return skipped, list(itertools.islice(self._events, first, first + limit))

    def stats(self) -> Stats:
        """Counts of what is kept and seen, now."""
        now = int(self._clock())
        recent = sum(count for second, count in self._seconds if now - RATE_WINDOW <= second < now)
        return Stats(
            received=self._seq,
            kept=len(self._events),
            kept_bytes=self._bytes,
            per_second=recent / RATE_WINDOW,
            types=dict(self._types),
            sources=dict(self._sources),
        )

    def watch(self, after: int | None = None) -> Watcher:
        """A watcher of the events after ``after`` (default: those arriving from now on)."""
        watcher = Watcher(self, self._seq if after is None else min(after, self._seq))
        if self.closed:
            watcher.closed = True
        self._watchers.add(watcher)
        return watcher

    def unwatch(self, watcher: Watcher) -> None:
        """Forget ``watcher``."""
        self._watchers.discard(watcher)

    @property
    def watchers(self) -> int:
        """Watchers now."""
        return len(self._watchers)

    def close(self) -> None:
        """No more events: every watcher is woken and told so (its stream ends)."""
        self.closed = True
        for watcher in self._watchers:
            watcher.closed = True
            watcher.wake()
