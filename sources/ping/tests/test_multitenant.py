"""The multi-tenant ping's firing queue in process, on a clock the test sets: which tick a
PingSource changed while the ping leads fires next. Events go to a real loopback sink; the
PingSources are what the informer hands the adapter (no API server needed for this part; the
whole ping against a real one is controller/tests/test_pingsource.py).

The clock is the test's so that a change can be taken in at a moment a tick is due but not yet
fired, as a busy event loop does: ticks then wait on the clock the test advances, never on time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from springhead.kube import Change, ChangeType
from springhead.sender import Sender
from springhead_ping.multitenant import MultiTenantPingAdapter
from springhead_testing import RecordingSink

NAMESPACE = "team-a"


class Clock:
    """A clock that stands still until the test moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def ping_source(sink: str, *, data: str, schedule: str = "* * * * *") -> dict[str, Any]:
    """A PingSource as the controller leaves it: Ready, its sink resolved."""
    return {
        "apiVersion": "sources.knative.dev/v1",
        "kind": "PingSource",
        "metadata": {
            "namespace": NAMESPACE,
            "name": "every-minute",
            "creationTimestamp": "2026-12-03T11:00:00Z",
        },
        "spec": {"schedule": schedule, "data": data, "contentType": "text/plain"},
        "status": {"sinkUri": sink, "conditions": [{"type": "Ready", "status": "True"}]},
    }


def unused(what: str) -> Any:
    """For what this test never connects to."""
    raise AssertionError(f"the test leads by itself: no {what}")


async def never() -> None:
    """The term is never lost: the test ends it by stopping."""
    await asyncio.Event().wait()


@contextlib.asynccontextmanager
async def leading(
    sink: RecordingSink, clock: Clock, first: dict[str, Any]
) -> AsyncIterator[MultiTenantPingAdapter]:
    """An adapter that serves ``first`` and leads (its term's targets queued) until the block
    ends."""
    async with Sender(sink=sink.url) as sender:
        adapter = MultiTenantPingAdapter(
            sender=sender,
            connect=lambda: unused("Lease"),
            connect_api=lambda: unused("API server"),
            clock=clock,
        )
        await adapter.on_change(Change(ChangeType.ADD, first, None))
        stop = asyncio.Event()
        lost = asyncio.create_task(never())
        stopping = asyncio.create_task(stop.wait())
        term = asyncio.create_task(adapter.lead_term(None, lost, stopping))
        try:
            while not adapter.leading:
                assert not term.done(), term
                await asyncio.sleep(0)
            yield adapter
        finally:
            stop.set()
            await term
            lost.cancel()


async def test_a_change_taken_in_after_its_tick_was_due_fires_that_tick_with_the_new_data(
    sink: RecordingSink,
) -> None:
    """The tick of 12:01 is due when the change arrives, not yet fired: it fires once, with the
    new data (it was lost: the changed PingSource started again from the tick after "now")."""
    clock = Clock(datetime(2026, 12, 3, 12, 0, 30, tzinfo=UTC))
    async with leading(sink, clock, ping_source(sink.url, data="old")) as adapter:
        clock.now = datetime(2026, 12, 3, 12, 1, 0, 500_000, tzinfo=UTC)
        changed = ping_source(sink.url, data="new")
        await adapter.on_change(Change(ChangeType.UPDATE, changed, None))
        await sink.wait_for(1)
    [event] = sink.events  # once: the tick of the PingSource before the change is not fired
    assert event.get_time() == datetime(2026, 12, 3, 12, 1, tzinfo=UTC)
    assert event.get_data() == "new"


async def test_a_change_between_ticks_fires_from_the_next_tick_of_the_new_schedule(
    sink: RecordingSink,
) -> None:
    """A change of schedule between ticks: the next tick is the new schedule's first after the
    change, not one between the last tick fired and the change."""
    clock = Clock(datetime(2026, 12, 3, 12, 0, 30, tzinfo=UTC))
    async with leading(sink, clock, ping_source(sink.url, data="old")) as adapter:
        clock.now = datetime(2026, 12, 3, 12, 0, 40, 500_000, tzinfo=UTC)
        changed = ping_source(sink.url, data="new", schedule="*/10 * * * * *")
        await adapter.on_change(Change(ChangeType.UPDATE, changed, None))
        clock.now = datetime(2026, 12, 3, 12, 0, 50, tzinfo=UTC)
        # Another PingSource added wakes the queue, which then finds the tick of 12:00:50 due
        # (its own first tick is 12:01: not fired in this test).
        other = ping_source(sink.url, data="other")
        other["metadata"]["name"] = "another"
        await adapter.on_change(Change(ChangeType.ADD, other, None))
        await sink.wait_for(1)
    [event] = sink.events
    assert event.get_time() == datetime(2026, 12, 3, 12, 0, 50, tzinfo=UTC)
    assert event.get_data() == "new"
