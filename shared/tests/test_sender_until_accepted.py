"""``Sender.send_until_accepted`` against the real loopback sink: rounds of ``send`` until the sink
or the dead-letter sink accepts, the pause between rounds, and ``stop``."""

from __future__ import annotations

import asyncio

import pytest
from cloudevents.core.v1.event import CloudEvent
from springhead.delivery import DeliveryPolicy
from springhead.sender import (
    REDELIVERY_PAUSE_MAX,
    REDELIVERY_PAUSE_MIN_BASE,
    DeliveryOutcome,
    DeliveryResult,
    Sender,
)
from springhead_testing import RecordingSink

#: One attempt per round; pauses from the floor of the redelivery backoff.
ONE_ATTEMPT = DeliveryPolicy(retry=0, backoff_delay=0.0)
#: One attempt per round, and the longest pause after a refused round (the backoff's ceiling
#: starts above the maximum).
LONG_PAUSE = DeliveryPolicy(retry=0, backoff_delay=3600.0)
#: Longest a test waits for a call that must end promptly (a guard against hanging, not a
#: measurement).
GUARD = 60.0


def make_event() -> CloudEvent:
    return CloudEvent(
        {"type": "dev.example.test", "source": "/tests", "id": "event-1"}, b'{"n": 1}'
    )


class Refusals:
    """Records each ``on_refused`` call; ``seen`` is set on the first."""

    def __init__(self) -> None:
        self.calls: list[tuple[DeliveryResult, int, float]] = []
        self.seen = asyncio.Event()

    def __call__(self, result: DeliveryResult, rounds: int, pause: float) -> None:
        self.calls.append((result, rounds, pause))
        self.seen.set()


@pytest.mark.parametrize("stop", [None, asyncio.Event], ids=["no-stop", "stop-never-set"])
async def test_refused_n_times_then_accepted(sink: RecordingSink, stop: type | None) -> None:
    sink.fail_next(3, status=503)
    refusals = Refusals()
    async with Sender(sink=sink.url, policy=ONE_ATTEMPT) as sender:
        result = await sender.send_until_accepted(
            make_event(), stop() if stop else None, on_refused=refusals
        )
    assert result.accepted and result.outcome is DeliveryOutcome.DELIVERED
    assert result.status == 202 and result.attempts == 1  # the accepting round's own result
    assert [r.status for r in sink.requests] == [503, 503, 503, 202]
    assert {r.header("ce-id") for r in sink.requests} == {"event-1"}  # the same event each round
    assert [rounds for _, rounds, _ in refusals.calls] == [1, 2, 3]
    for refused, rounds, pause in refusals.calls:
        assert refused.outcome is DeliveryOutcome.FAILED and refused.status == 503
        ceiling = REDELIVERY_PAUSE_MIN_BASE * 2 ** (rounds - 1)  # exponential, jittered below
        assert ceiling / 2 <= pause <= ceiling


async def test_a_round_is_one_send_with_the_policys_retries(sink: RecordingSink) -> None:
    sink.fail_next(3, status=503)
    refusals = Refusals()
    policy = DeliveryPolicy(retry=1, backoff_delay=0.001)
    async with Sender(sink=sink.url, policy=policy) as sender:
        result = await sender.send_until_accepted(make_event(), on_refused=refusals)
    # Round 1: attempt + retry refused; round 2: refused, then its retry accepted.
    assert [r.status for r in sink.requests] == [503, 503, 503, 202]
    assert [(refused.attempts, rounds) for refused, rounds, _ in refusals.calls] == [(2, 1)]
    assert result.outcome is DeliveryOutcome.DELIVERED and result.attempts == 2


async def test_the_dead_letter_sink_accepting_ends_it_at_once(sink: RecordingSink) -> None:
    sink.respond_with(status=503)
    refusals = Refusals()
    async with RecordingSink() as dead_letters:
        policy = DeliveryPolicy(retry=0, dead_letter_sink=dead_letters.url)
        async with Sender(sink=sink.url, policy=policy) as sender:
            result = await sender.send_until_accepted(make_event(), on_refused=refusals)
        assert result.accepted and result.outcome is DeliveryOutcome.DEAD_LETTERED
        assert len(sink.requests) == 1 and len(dead_letters.accepted) == 1
    assert refusals.calls == []


async def test_stop_set_while_refusing_ends_the_pause_with_the_refused_result(
    sink: RecordingSink,
) -> None:
    sink.respond_with(status=503)
    stop = asyncio.Event()
    refusals = Refusals()
    async with Sender(sink=sink.url, policy=LONG_PAUSE) as sender:
        sending = asyncio.create_task(
            sender.send_until_accepted(make_event(), stop, on_refused=refusals)
        )
        async with asyncio.timeout(GUARD):
            await refusals.seen.wait()  # round 1 refused: now pausing
        stop.set()
        async with asyncio.timeout(GUARD):
            result = await sending
    assert not result.accepted and result.outcome is DeliveryOutcome.FAILED
    assert result.status == 503
    assert len(sink.requests) == 1  # no round after stop
    assert [rounds for _, rounds, _ in refusals.calls] == [1]
    # The pause stop cut short: the policy's backoff, capped.
    assert REDELIVERY_PAUSE_MAX / 2 <= refusals.calls[0][2] <= REDELIVERY_PAUSE_MAX


async def test_stop_already_set_still_sends_once_then_returns_refused(
    sink: RecordingSink,
) -> None:
    sink.respond_with(status=503)
    stop = asyncio.Event()
    stop.set()
    refusals = Refusals()
    async with Sender(sink=sink.url, policy=LONG_PAUSE) as sender:
        async with asyncio.timeout(GUARD):
            result = await sender.send_until_accepted(make_event(), stop, on_refused=refusals)
    assert not result.accepted and result.status == 503
    assert len(sink.requests) == 1
    assert refusals.calls == []  # stopped before any pause: nothing to report


async def test_without_stop_only_cancelling_ends_it(sink: RecordingSink) -> None:
    sink.respond_with(status=503)
    refusals = Refusals()
    async with Sender(sink=sink.url, policy=LONG_PAUSE) as sender:
        sending = asyncio.create_task(sender.send_until_accepted(make_event(), on_refused=refusals))
        async with asyncio.timeout(GUARD):
            await refusals.seen.wait()
        assert not sending.done()  # pausing before the next round, not given up
        sending.cancel()
        await asyncio.gather(sending, return_exceptions=True)
    assert sending.cancelled()
    assert len(sink.requests) == 1
