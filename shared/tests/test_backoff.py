"""springhead.backoff: jittered delays stay within their bounds; a stop cuts a wait short."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from springhead.backoff import exponential_backoff, jittered, stopped_within

SAMPLES = 200


@pytest.mark.parametrize(
    ("failures", "ceiling"),
    [(0, 0.2), (1, 0.2), (2, 0.4), (3, 0.8), (6, 6.4), (7, 10.0), (50, 10.0)],
)
def test_exponential_backoff_doubles_up_to_the_cap_with_jitter_below(
    failures: int, ceiling: float
) -> None:
    delays = [exponential_backoff(failures, base=0.2, maximum=10.0) for _ in range(SAMPLES)]
    assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
    assert len(set(delays)) > 1, "the delays are jittered"


def test_jittered_stretches_the_period_by_at_most_the_factor() -> None:
    delays = [jittered(2.0, 0.2) for _ in range(SAMPLES)]
    assert all(2.0 <= delay <= 2.4 for delay in delays)
    assert len(set(delays)) > 1
    assert jittered(2.0, 0.0) == 2.0
    # a longer period and a larger factor: still period * (1 + share of factor)
    assert all(10.0 <= jittered(10.0, 0.5) <= 15.0 for _ in range(SAMPLES))


def test_zero_and_small_durations_are_accepted() -> None:
    assert exponential_backoff(1, base=0.0, maximum=1.0) == 0.0
    assert exponential_backoff(1, base=1.0, maximum=0.0) == 0.0
    assert 0.05 <= exponential_backoff(1, base=0.1, maximum=0.5) <= 0.1
    assert jittered(0.0, 0.2) == 0.0
    assert 0.5 <= jittered(0.5, 0.2) <= 0.6


@pytest.mark.parametrize(
    "call",
    [
        lambda: exponential_backoff(1, base=-1.0, maximum=1.0),
        lambda: exponential_backoff(1, base=1.0, maximum=-1.0),
        lambda: exponential_backoff(1, base=-0.5, maximum=1.0),
        lambda: exponential_backoff(1, base=1.0, maximum=-0.5),
        lambda: jittered(-1.0, 0.2),
        lambda: jittered(1.0, -0.2),
        lambda: jittered(-0.5, 0.2),
        lambda: jittered(1.0, -0.5),
    ],
)
def test_negative_durations_are_refused(call: Callable[[], float]) -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        call()


async def test_pause_runs_out_when_nobody_stops() -> None:
    stop = asyncio.Event()
    assert await stopped_within(stop, 0.01) is False
    assert await stopped_within(stop, -1.0) is False


async def test_pause_returns_at_once_when_already_stopped() -> None:
    stop = asyncio.Event()
    stop.set()
    assert await stopped_within(stop, 3600) is True
    assert await stopped_within(stop, 0) is True


async def test_a_stop_cuts_a_pause_short() -> None:
    stop = asyncio.Event()
    pausing = asyncio.create_task(stopped_within(stop, 3600))
    await asyncio.sleep(0)  # let the stopped_within begin waiting
    assert not pausing.done()
    stop.set()
    assert await pausing is True


async def test_a_stop_cuts_a_short_pause_short_too() -> None:
    stop = asyncio.Event()
    pausing = asyncio.create_task(stopped_within(stop, 0.5))
    await asyncio.sleep(0)  # let the stopped_within begin waiting
    stop.set()
    assert await pausing is True


async def test_a_cancellation_with_the_stop_in_the_same_step_is_not_lost() -> None:
    """The pause's task is cancelled in the loop step that sets ``stop``: it ends cancelled.
    (Python 3.11's ``asyncio.wait_for`` returned the event's result instead, losing the
    cancellation: a controller role asked to stop kept running; pyproject.toml bans it.)"""
    stop = asyncio.Event()
    pausing = asyncio.create_task(stopped_within(stop, 3600))
    await asyncio.sleep(0)  # let the stopped_within begin waiting
    stop.set()
    pausing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pausing
