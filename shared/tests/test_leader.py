"""Leader election on a real kube-apiserver: one leader, hand-over, expiry, fencing, state."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from springhead.kube import (
    KubeApiError,
    KubeClient,
    LeaderElector,
    LeaseRecord,
    NotLeaderError,
    format_micro_time,
    parse_micro_time,
)
from springhead_testinfra.kube import KubeCluster

NAMESPACE = "default"
#: Short timings so hand-overs happen within a test; the relations are client-go's.
FAST = {"lease_duration": 2.0, "renew_deadline": 1.5, "retry_period": 0.3}


class SeveredClient(KubeClient):
    """A client whose connection to the API server can be cut (a network partition)."""

    severed = False

    def request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        if self.severed:
            raise KubeApiError(0, "Unreachable", "connection cut by the test")
        return super().request(method, path, **kwargs)


async def eventually(
    check: Callable[[], Awaitable[bool]] | Callable[[], bool],
    what: str,
    *,
    timeout: float = 30.0,
) -> None:
    """Wait until ``check()`` holds, polling; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.fixture
def lease_name() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def client(kube: KubeCluster) -> AsyncIterator[KubeClient]:
    kube_client = KubeClient(kube.api_client())
    yield kube_client
    kube_client.close()


async def read_lease(client: KubeClient, name: str) -> dict[str, Any]:
    path = f"/apis/coordination.k8s.io/v1/namespaces/{NAMESPACE}/leases/{name}"
    return await asyncio.to_thread(client.get, path)


def elector(client: KubeClient, name: str, identity: str, **options: Any) -> LeaderElector:
    return LeaderElector(
        client, name=name, namespace=NAMESPACE, identity=identity, **{**FAST, **options}
    )


def test_micro_time_round_trip() -> None:
    moment = datetime(2026, 11, 22, 8, 30, 0, tzinfo=UTC)
    assert format_micro_time(moment) == "2026-11-22T08:30:00.000000Z"
    assert parse_micro_time(format_micro_time(moment)) == moment
    assert parse_micro_time("") is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"lease_duration": 2, "renew_deadline": 2}, "greater than renew_deadline"),
        ({"renew_deadline": 1, "retry_period": 1}, r"retry_period \* 1\.2"),
        ({"lease_duration": 0.5, "renew_deadline": 0.4, "retry_period": 0.1}, "at least 1"),
    ],
)
def test_timings_must_follow_client_go_rules(options: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LeaderElector(KubeClient.__new__(KubeClient), name="x", namespace="y", **options)


async def test_two_electors_exactly_one_leader(client: KubeClient, lease_name: str) -> None:
    async with (
        elector(client, lease_name, "alpha") as alpha,
        elector(client, lease_name, "beta") as beta,
    ):
        await eventually(lambda: alpha.is_leader or beta.is_leader, "a leader")
        leader, standby = (alpha, beta) if alpha.is_leader else (beta, alpha)
        lease = await read_lease(client, lease_name)
        first = LeaseRecord.from_spec(lease["spec"])
        assert first.holder_identity == leader.identity
        assert first.lease_duration_seconds == 2
        assert first.lease_transitions == 0
        assert parse_micro_time(first.acquire_time) is not None

        renewals: set[str] = {first.renew_time}

        async def renewed_three_times() -> bool:
            assert [alpha.is_leader, beta.is_leader].count(True) == 1
            record = LeaseRecord.from_spec((await read_lease(client, lease_name))["spec"])
            assert record.holder_identity == leader.identity
            assert record.acquire_time == first.acquire_time
            renewals.add(record.renew_time)
            return len(renewals) >= 4

        await eventually(renewed_three_times, "three renewals by the leader")
        assert not standby.is_leader
        assert standby.leader == leader.identity


async def test_released_lease_is_taken_over(client: KubeClient, lease_name: str) -> None:
    alpha = elector(client, lease_name, "alpha")
    async with alpha:
        alpha_term = await alpha.wait_until_leader(timeout=30)
    assert alpha_term.lost.is_set() and not alpha.is_leader
    released = LeaseRecord.from_spec((await read_lease(client, lease_name))["spec"])
    assert released.holder_identity == ""
    assert released.lease_duration_seconds == 1
    async with elector(client, lease_name, "beta", lease_duration=60, renew_deadline=40) as beta:
        # A lease of 60 s held by nobody: taken at once, not after it would expire.
        await beta.wait_until_leader(timeout=10)
        record = LeaseRecord.from_spec((await read_lease(client, lease_name))["spec"])
        assert record.holder_identity == "beta"
        assert record.lease_transitions == 1


async def test_leader_stopping_hands_over_to_the_standby(
    client: KubeClient, lease_name: str
) -> None:
    alpha, beta = elector(client, lease_name, "alpha"), elector(client, lease_name, "beta")
    async with alpha:
        await alpha.wait_until_leader(timeout=30)
        async with beta:
            await eventually(lambda: beta.leader == "alpha", "beta to see alpha lead")
            assert not beta.is_leader
            await alpha.stop()
            term = await beta.wait_until_leader(timeout=30)
            assert not alpha.is_leader
            assert term.transitions == 1


async def test_a_leader_that_stops_renewing_is_replaced_after_it_stood_down(
    kube: KubeCluster, client: KubeClient, lease_name: str
) -> None:
    severed = SeveredClient(kube.api_client())
    alpha = elector(severed, lease_name, "alpha")
    beta = elector(client, lease_name, "beta")
    stood_down: list[float] = []
    try:
        async with alpha:
            alpha_term = await alpha.wait_until_leader(timeout=30)
            async with beta:
                await eventually(lambda: beta.leader == "alpha", "beta to see alpha lead")
                watcher = asyncio.create_task(alpha_term.wait_lost())
                watcher.add_done_callback(lambda _: stood_down.append(time.monotonic()))
                severed.severed = True  # alpha can no longer renew
                beta_term = await beta.wait_until_leader(timeout=30)
                took_over = time.monotonic()
                assert stood_down, "the old leader must stand down before its lease expires"
                assert stood_down[0] <= took_over
                assert not alpha.is_leader
                assert beta_term.transitions == 1
                severed.severed = False  # alpha reaches the server again: it stays a standby
                await eventually(lambda: alpha.leader == "beta", "alpha to see beta lead")
                assert not alpha.is_leader
    finally:
        severed.close()


async def test_leadership_is_lost_when_someone_else_holds_the_lease(
    client: KubeClient, lease_name: str
) -> None:
    async with elector(client, lease_name, "alpha") as alpha:
        term = await alpha.wait_until_leader(timeout=30)
        lease = await read_lease(client, lease_name)
        lease["spec"]["holderIdentity"] = "intruder"
        lease["spec"]["leaseDurationSeconds"] = 3600
        path = f"/apis/coordination.k8s.io/v1/namespaces/{NAMESPACE}/leases/{lease_name}"
        await asyncio.to_thread(client.request, "PUT", path, body=lease)
        async with asyncio.timeout(30):
            await term.wait_lost()
        assert not alpha.is_leader
        with pytest.raises(NotLeaderError):
            await alpha.update_annotations({"example.com/state": "x"})
    # Stopping does not release a lease it does not hold.
    record = LeaseRecord.from_spec((await read_lease(client, lease_name))["spec"])
    assert record.holder_identity == "intruder"


async def test_annotations_survive_a_change_of_leader(client: KubeClient, lease_name: str) -> None:
    key = "example.com/last-tick"
    async with elector(client, lease_name, "alpha") as alpha:
        term = await alpha.wait_until_leader(timeout=30)
        assert key not in term.annotations
        await alpha.update_annotations({key: "41", "example.com/other": "x"})
        await alpha.update_annotations({key: "42", "example.com/other": None})
        assert alpha.annotations[key] == "42"
        assert "example.com/other" not in alpha.annotations
        async with elector(client, lease_name, "gamma") as gamma:
            await eventually(lambda: gamma.leader == "alpha", "gamma to see alpha lead")
            with pytest.raises(NotLeaderError):
                await gamma.update_annotations({key: "never"})
        assert term.active
    async with elector(client, lease_name, "beta") as beta:
        term = await beta.wait_until_leader(timeout=30)
        assert term.annotations[key] == "42"
    lease = await read_lease(client, lease_name)
    assert lease["metadata"]["annotations"][key] == "42"


async def test_annotation_writes_do_not_disturb_renewal(
    client: KubeClient, lease_name: str
) -> None:
    async with elector(client, lease_name, "alpha") as alpha:
        term = await alpha.wait_until_leader(timeout=30)
        first = LeaseRecord.from_spec((await read_lease(client, lease_name))["spec"])
        count = 0

        async def renewed_while_writing() -> bool:
            nonlocal count
            count += 1
            await alpha.update_annotations({"example.com/n": str(count)})
            record = LeaseRecord.from_spec((await read_lease(client, lease_name))["spec"])
            return record.renew_time != first.renew_time and count >= 10

        await eventually(renewed_while_writing, "renewals between annotation writes")
        assert term.active
