"""The delivery slots shared by all partitions: bounded, first come first served, cancel-safe."""

from __future__ import annotations

import asyncio

from springhead.kafka.semaphore import FairSemaphore


async def test_bounded_and_handed_over_in_arrival_order() -> None:
    slots = FairSemaphore(2)
    await slots.acquire()
    await slots.acquire()
    order: list[str] = []

    async def take(name: str) -> None:
        await slots.acquire()
        order.append(name)

    waiters = [asyncio.create_task(take(name)) for name in ("a", "b", "c")]
    await asyncio.sleep(0)  # let them queue up (scheduling, not timing)
    assert order == [] and slots.free == 0
    slots.release()
    slots.release()
    await asyncio.sleep(0)
    assert order == ["a", "b"]
    slots.release()
    await asyncio.gather(*waiters)
    assert order == ["a", "b", "c"] and slots.free == 0


async def test_a_holder_acquiring_again_queues_behind_waiters() -> None:
    slots = FairSemaphore(1)
    await slots.acquire()
    other = asyncio.create_task(slots.acquire())
    await asyncio.sleep(0)
    slots.release()  # handed to the waiting task, not left free for the releaser
    assert slots.free == 0
    again = asyncio.create_task(slots.acquire())
    await other
    await asyncio.sleep(0)
    assert not again.done()
    slots.release()
    await again


async def test_cancelled_waiters_do_not_leak_slots() -> None:
    slots = FairSemaphore(1)
    await slots.acquire()
    waiting = asyncio.create_task(slots.acquire())
    await asyncio.sleep(0)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    slots.release()
    assert slots.free == 1

    await slots.acquire()
    handed = asyncio.create_task(slots.acquire())
    after = asyncio.create_task(slots.acquire())
    await asyncio.sleep(0)
    slots.release()  # handed to `handed`...
    handed.cancel()  # ...which is cancelled before it runs: the slot moves on to `after`
    await asyncio.gather(handed, return_exceptions=True)
    await after
    slots.release()
    assert slots.free == 1
