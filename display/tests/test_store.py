"""The store keeps the newest events within its count and byte budget; watchers skip ahead."""

from __future__ import annotations

import pytest
from springhead_display.received import OVERHEAD_BYTES, ReceivedEvent
from springhead_display.store import RATE_WINDOW, EventStore


def event(
    n: int, *, type_: str = "t", source: str = "/s", data: bytes | None = None
) -> ReceivedEvent:
    return ReceivedEvent(
        {"specversion": "1.0", "type": type_, "source": source, "id": str(n)}, data
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_keeps_the_newest_max_events_and_counts_only_those() -> None:
    store = EventStore(max_events=3, max_bytes=10**9)
    for n in range(5):
        store.add(event(n, type_="a" if n < 2 else "b"))
    assert [e.attributes["id"] for e in store.newest()] == ["4", "3", "2"]
    assert [e.seq for e in store.newest(2)] == [5, 4]
    stats = store.stats()
    assert (stats.received, stats.kept) == (5, 3)
    assert stats.types == {"b": 3}
    assert stats.sources == {"/s": 3}


def test_the_byte_budget_forgets_older_events_sooner_but_keeps_the_newest() -> None:
    big = OVERHEAD_BYTES + 10_000
    store = EventStore(max_events=1000, max_bytes=3 * big)
    for n in range(10):
        store.add(event(n, data=b"x" * 10_000))
    assert store.stats().kept == 2
    assert store.stats().kept_bytes <= 3 * big
    store.add(event(99, data=b"x" * (10 * big)))
    assert [e.attributes["id"] for e in store.newest()] == ["99"]


def test_events_per_second_over_the_window() -> None:
    clock = Clock()
    store = EventStore(max_events=10, max_bytes=10**9, clock=clock)
    for _ in range(RATE_WINDOW):
        for n in range(3):
            store.add(event(n))
        clock.now += 1
    assert store.stats().per_second == pytest.approx(3.0)
    clock.now += RATE_WINDOW
    assert store.stats().per_second == 0


def test_a_watcher_reads_in_order_and_skips_what_was_forgotten() -> None:
    store = EventStore(max_events=5, max_bytes=10**9)
    store.add(event(0))
    watcher = store.watch()  # from now on
    assert watcher.take(10) == (0, [])
    for n in range(1, 4):
        store.add(event(n))
    skipped, events = watcher.take(2)
    assert (skipped, [e.seq for e in events]) == (0, [2, 3])
    for n in range(4, 20):
        store.add(event(n))
    skipped, events = watcher.take(100)
    assert skipped == 12  # seq 4..15 were forgotten before this watcher read them
    assert [e.seq for e in events] == [16, 17, 18, 19, 20]
    assert watcher.take(100) == (0, [])
    watcher.close()
    assert store.watchers == 0


def test_a_watcher_from_a_position_reads_from_either_end() -> None:
    store = EventStore(max_events=100, max_bytes=10**9)
    for n in range(100):
        store.add(event(n))
    for after in (0, 10, 60, 99):
        _, events = store.watch(after).take(1000)
        assert [e.seq for e in events] == list(range(after + 1, 101))


async def test_closing_wakes_every_watcher() -> None:
    store = EventStore(max_events=5, max_bytes=10**9)
    watchers = [store.watch() for _ in range(3)]
    store.close()
    for watcher in watchers:
        await watcher.wait(60)
        assert watcher.closed
