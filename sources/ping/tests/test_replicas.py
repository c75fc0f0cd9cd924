"""Replicated pings on a real kube-apiserver: one fire per tick across replica processes, over
leader changes, and catch-up of the ticks missed while no replica ran.

Each replica is a real ``python -m springhead_ping`` process. The schedule has seconds, so ticks
come every second; assertions are about which ticks arrived (their ``time``), never how fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta

import pytest
from cloudevents.core.base import BaseCloudEvent
from springhead.kube import KubeClient
from springhead_ping.replicas import CATCHUP_EXTENSION, LAST_TICK_ANNOTATION, parse_tick
from springhead_testinfra.kube import KubeCluster
from springhead_testing import RecordingSink, SourceProcess, adapter_env

SECOND = timedelta(seconds=1)


@pytest.fixture
def lease_name() -> str:
    return f"ping-{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def client(kube: KubeCluster) -> AsyncIterator[KubeClient]:
    kube_client = KubeClient(kube.api_client())
    yield kube_client
    kube_client.close()


def replica_env(
    sink: RecordingSink, kube: KubeCluster, lease_name: str, **extra: str
) -> dict[str, str]:
    return adapter_env(
        sink.url,
        NAME=lease_name,
        NAMESPACE="default",
        PING_SCHEDULE="* * * * * *",
        PING_LEADER_ELECTION="true",
        PING_LEASE_NAME=lease_name,
        PING_KUBECONFIG=str(kube.kubeconfig),
        PING_LEASE_DURATION="PT2S",
        PING_LEASE_RENEW_DEADLINE="PT1.5S",
        PING_LEASE_RETRY_PERIOD="PT0.3S",
        SPRINGHEAD_SHUTDOWN_GRACE="PT20S",
        **extra,
    )


def tick_of(event: BaseCloudEvent) -> datetime:
    moment = event.get_time()
    assert moment is not None
    return moment.astimezone(UTC)


def caught_up(event: BaseCloudEvent) -> bool:
    return event.get_extension(CATCHUP_EXTENSION) == "true"


def assert_contiguous(ticks: Iterable[datetime]) -> None:
    ordered = sorted(set(ticks))
    gaps = [(a, b) for a, b in zip(ordered, ordered[1:], strict=False) if b - a != SECOND]
    assert not gaps, f"ticks missing between {gaps}"


async def wait_until(moment: datetime) -> None:
    """Let the wall clock pass ``moment`` (the schedule's ticks are what the test waits for)."""
    await asyncio.sleep(max(0.0, (moment - datetime.now(UTC)).total_seconds()) + 0.05)


async def events_after(sink: RecordingSink, count: int, already: int) -> list[BaseCloudEvent]:
    await sink.wait_for(already + count, timeout=60)
    return sink.events[already:]


async def leader_of(processes: list[SourceProcess]) -> SourceProcess:
    waiters = {
        asyncio.create_task(p.wait_for_log("became the leader", timeout=60)): p for p in processes
    }
    done, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    return waiters[done.pop()]


@contextlib.asynccontextmanager
async def leader_and_standby(
    sink: RecordingSink, env: dict[str, str]
) -> AsyncIterator[tuple[SourceProcess, SourceProcess, int]]:
    """Two replicas running with ``env``: yields the leader, the standby and how many events
    had arrived once three did."""
    first, second = SourceProcess("springhead_ping", env), SourceProcess("springhead_ping", env)
    async with first, second:
        leader = await leader_of([first, second])
        standby = second if leader is first else first
        yield leader, standby, len(await sink.wait_for(3, timeout=60))


async def last_fired(client: KubeClient, lease_name: str) -> datetime | None:
    path = f"/apis/coordination.k8s.io/v1/namespaces/default/leases/{lease_name}"
    lease = await asyncio.to_thread(client.get, path)
    return parse_tick((lease["metadata"].get("annotations") or {}).get(LAST_TICK_ANNOTATION))


async def test_each_tick_fires_once_across_replicas_over_a_leader_change(
    sink: RecordingSink, kube: KubeCluster, lease_name: str
) -> None:
    env = replica_env(sink, kube, lease_name)
    async with leader_and_standby(sink, env) as (leader, standby, before):
        assert leader.signal(signal.SIGTERM) is None
        assert await leader.wait(timeout=60) == 0
        await standby.wait_for_log("became the leader", timeout=60)
        await events_after(sink, 3, before)
    counts = Counter(event.get_id() for event in sink.events)
    assert set(counts.values()) == {1}, f"ticks fired more than once: {counts}"
    assert len({tick_of(e) for e in sink.events}) == len(sink.events)
    assert not any(caught_up(e) for e in sink.events)


async def test_a_handover_with_catch_up_fires_every_tick_exactly_once(
    sink: RecordingSink, kube: KubeCluster, lease_name: str
) -> None:
    env = replica_env(sink, kube, lease_name, PING_CATCHUP_WINDOW="PT1M")
    async with leader_and_standby(sink, env) as (leader, standby, before):
        await leader.stop()
        await standby.wait_for_log("became the leader", timeout=60)
        await events_after(sink, 3, before)
    counts = Counter(event.get_id() for event in sink.events)
    assert set(counts.values()) == {1}, f"ticks fired more than once: {counts}"
    assert_contiguous(tick_of(e) for e in sink.events)


async def test_a_crashed_leader_is_replaced_and_its_missed_ticks_caught_up(
    sink: RecordingSink, kube: KubeCluster, lease_name: str
) -> None:
    env = replica_env(sink, kube, lease_name, PING_CATCHUP_WINDOW="PT1M")
    async with leader_and_standby(sink, env) as (leader, standby, before):
        leader.signal(signal.SIGKILL)  # no release: the standby waits for the lease to expire
        await leader.wait(timeout=60)
        await standby.wait_for_log("became the leader", timeout=60)
        await standby.wait_for_log("catching up missed ticks", timeout=60)
        await events_after(sink, 3, before)
    events = sink.events
    assert_contiguous(tick_of(e) for e in events)
    assert any(caught_up(e) for e in events), "the ticks of the lease's expiry were caught up"
    # A tick the crashed leader delivered but had not recorded comes again - with the same id,
    # marked as caught up - so the sink can tell it is a duplicate.
    by_id: dict[str, list[BaseCloudEvent]] = {}
    for event in events:
        by_id.setdefault(event.get_id(), []).append(event)
    for same in by_id.values():
        assert len(same) <= 2
        if len(same) == 2:
            assert caught_up(same[1]) and not caught_up(same[0])
            assert tick_of(same[0]) == tick_of(same[1])


async def test_ticks_missed_while_no_replica_ran_arrive_once_marked(
    sink: RecordingSink, kube: KubeCluster, client: KubeClient, lease_name: str
) -> None:
    env = replica_env(sink, kube, lease_name, PING_CATCHUP_WINDOW="PT1H")
    async with SourceProcess("springhead_ping", env), SourceProcess("springhead_ping", env):
        await sink.wait_for(2, timeout=60)
    first_run = list(sink.events)
    last = await last_fired(client, lease_name)
    assert last == max(tick_of(e) for e in first_run), "the last tick was recorded on stop"

    await wait_until(last + 4 * SECOND)  # at least four ticks pass with no replica running
    restarted = datetime.now(UTC)
    async with SourceProcess("springhead_ping", env), SourceProcess("springhead_ping", env):
        await sink.wait_for(len(first_run) + 6, timeout=60)
    second_run = sink.events[len(first_run) :]

    counts = Counter(event.get_id() for event in sink.events)
    assert set(counts.values()) == {1}, f"ticks fired more than once: {counts}"
    assert_contiguous(tick_of(e) for e in sink.events)
    assert not any(caught_up(e) for e in first_run)
    missed = [e for e in second_run if tick_of(e) <= restarted]
    assert len(missed) >= 4
    assert all(caught_up(e) for e in missed)
    later = [e for e in second_run if not caught_up(e)]
    assert later, "regular ticks follow the catch-up"
    assert min(tick_of(e) for e in later) > max(tick_of(e) for e in second_run if caught_up(e))


async def test_catch_up_stops_at_the_window(
    sink: RecordingSink, kube: KubeCluster, client: KubeClient, lease_name: str
) -> None:
    env = replica_env(sink, kube, lease_name, PING_CATCHUP_WINDOW="PT2S")
    async with SourceProcess("springhead_ping", env):
        await sink.wait_for(2, timeout=60)
    first_run = list(sink.events)
    last = await last_fired(client, lease_name)
    assert last is not None

    await wait_until(last + 6 * SECOND)  # more ticks pass than the window holds
    async with SourceProcess("springhead_ping", env) as restarted:
        await restarted.wait_for_log("catching up missed ticks", timeout=60)
        await sink.wait_for(len(first_run) + 3, timeout=60)
    second_run = sink.events[len(first_run) :]

    recovered = sorted(tick_of(e) for e in second_run if caught_up(e))
    assert 1 <= len(recovered) <= 2, "a window of two seconds holds at most two ticks"
    assert last + SECOND not in {tick_of(e) for e in second_run}, "older ticks are skipped"
    assert_contiguous(tick_of(e) for e in second_run)
    counts = Counter(event.get_id() for event in sink.events)
    assert set(counts.values()) == {1}
