"""A fair semaphore: the delivery slots every partition's worker takes one of per delivery."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

__all__ = ["FairSemaphore"]


class FairSemaphore:
    """At most ``limit`` holders at once, the freed places handed out first come, first served,
    so no partition starves the others.

    Not ``asyncio.Semaphore``: with several waiters woken at once it reports itself locked until
    they all ran, so a worker acquiring again waits despite free slots and concurrency collapses
    to about one per partition.
    """

    __slots__ = ("_free", "_waiters")

    def __init__(self, limit: int) -> None:
        self._free = limit
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self) -> None:
        """Take a place: at once if one is free and nobody waits, else after every earlier
        waiter. A waiter cancelled just as a place was handed to it passes the place on."""
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # a slot was handed over just as the wait was cancelled
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        """Give a place back: straight to the longest waiter, or free if nobody waits."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot goes straight to the longest waiter
                return
        self._free += 1

    @property
    def free(self) -> int:
        """Slots nobody holds."""
        return self._free
