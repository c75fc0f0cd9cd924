"""Waiting between attempts: jittered delays, and pauses that a stop request cuts short.

Loops that retry against a remote service (an informer's list and watch, a leader elector's
Lease writes, a source's schedule) share the same few shapes: grow the delay exponentially up to
a cap, spread many clients' retries apart with random jitter, and wait in a way that ends at once
when the process is asked to stop. This module holds those shapes once. It imports nothing beyond
the standard library, so every source can use it.
"""

from __future__ import annotations

import asyncio
import random

__all__ = ["exponential_backoff", "jittered", "stopped_within"]


def exponential_backoff(failures: int, *, base: float, maximum: float) -> float:
    """The delay after ``failures`` consecutive failures, with full-range jitter below it.

    The ceiling doubles per failure, starting at ``base`` for the first (and for zero) and never
    exceeding ``maximum``; the delay returned lies between half the ceiling and the ceiling, so
    clients that failed together do not retry together.
    """
    if base < 0 or maximum < 0:
        raise ValueError("base and maximum must not be negative")
    ceiling = min(maximum, base * 2.0 ** max(0, failures - 1))
    return ceiling * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not cryptography


def jittered(period: float, factor: float) -> float:
    """``period`` stretched by a random share of up to ``factor`` of it: between ``period`` and
    ``period * (1 + factor)`` (client-go's ``wait.Jitter``)."""
    if period < 0 or factor < 0:
        raise ValueError("period and factor must not be negative")
    return period * (1 + random.random() * factor)  # noqa: S311 - jitter, not cryptography


async def stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    """Wait ``seconds`` (none when not positive) unless ``stop`` is set first.

    Returns True when ``stop`` is set (at once if it already was), False when the time ran out.
    """
    if stop.is_set():
        return True
    if seconds <= 0:
        return False
    try:
        async with asyncio.timeout(seconds):
            await stop.wait()
    except TimeoutError:
        return False
    return True
