"""A work queue of object keys, as controllers use: each key queued at most once, never processed
by two workers at once, re-queued with growing delays when its reconcile fails."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

__all__ = ["QueueShutDown", "WorkQueue"]

K = TypeVar("K", bound=Hashable)


class QueueShutDown(Exception):  # noqa: N818 - named as asyncio's 3.13 exception
    """The queue was shut down: no more keys."""


class WorkQueue(Generic[K]):
    """Keys waiting to be reconciled.

    A key added while queued is not queued twice; a key added while a worker processes it is
    queued again once the worker calls :meth:`done`. :meth:`retry` re-adds a key after
    ``base_delay * 2^failures`` (at most ``max_delay``); :meth:`forget` resets that count.
    """

    def __init__(self, *, base_delay: float = 0.05, max_delay: float = 60.0) -> None:
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._queue: deque[K] = deque()
        self._queued: set[K] = set()
        self._processing: set[K] = set()
        self._dirty: set[K] = set()
        self._failures: dict[K, int] = {}
        self._timers: dict[K, asyncio.TimerHandle] = {}
        self._ready = asyncio.Event()
        self._shut_down = False

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, key: K) -> None:
        """Queue ``key`` (unless it is queued already)."""
        if self._shut_down:
            return
        if key in self._processing:
            self._dirty.add(key)
            return
        if key not in self._queued:
            self._queued.add(key)
            self._queue.append(key)
            self._ready.set()

    def add_after(self, key: K, delay: float) -> None:
        """Queue ``key`` in ``delay`` seconds (an earlier pending delay for it wins)."""
        if self._shut_down:
            return
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        pending = self._timers.get(key)
        if pending is not None and pending.when() <= loop.time() + delay:
            return
        if pending is not None:
            pending.cancel()
        self._timers[key] = loop.call_later(delay, self._fire, key)

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def retry(self, key: K) -> float:
        """Queue ``key`` again after its back-off delay; returns the delay."""
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        delay: float = min(self.max_delay, self.base_delay * 2.0**failures)
        self.add_after(key, delay)
        return delay

    def forget(self, key: K) -> None:
        """Reset ``key``'s failure count (its reconcile succeeded)."""
        self._failures.pop(key, None)

    async def get(self) -> K:
        """The next key; the caller must call :meth:`done` with it. Raises
        :class:`QueueShutDown` once the queue is shut down."""
        while not self._queue:
            if self._shut_down:
                raise QueueShutDown
            self._ready.clear()
            await self._ready.wait()
        key = self._queue.popleft()
        self._queued.discard(key)
        self._processing.add(key)
        return key

    def done(self, key: K) -> None:
        """The worker finished ``key``; if it was added meanwhile, it is queued again."""
        self._processing.discard(key)
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)

    def shut_down(self) -> None:
        """Stop handing out keys (waiting :meth:`get` calls raise :class:`QueueShutDown`)."""
        self._shut_down = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._queue.clear()
        self._queued.clear()
        self._ready.set()
