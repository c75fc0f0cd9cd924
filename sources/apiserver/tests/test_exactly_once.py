"""Exactly once across restarts, 410 relists and sink failures: the source as a real process."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from typing import Any

from springhead_apiserver.mapping import event_id
from springhead_testinfra.kube import KubeCluster
from springhead_testing import RecordingSink

ADD = "dev.knative.apiserver.resource.add"
UPDATE = "dev.knative.apiserver.resource.update"
DELETE = "dev.knative.apiserver.resource.delete"
STATE = {
    "APISERVER_STATE_CONFIGMAP": "watcher-state",
    "APISERVER_STATE_INTERVAL": "PT0.2S",
    "APISERVER_MODE": "Resource",
}


def expect(obj: dict[str, Any], type_: str) -> str:
    return event_id(obj["metadata"]["uid"], obj["metadata"]["resourceVersion"], type_)


class Writer:
    """Creates, updates and deletes ConfigMaps, recording the id each change must get."""

    def __init__(self, configmaps: Any) -> None:
        self.configmaps = configmaps
        self.expected: list[str] = []
        self.written = 0

    async def steps(self, numbers: range) -> None:
        """:meth:`step` for each of ``numbers``, in order."""
        for n in numbers:
            await self.step(n)

    async def step(self, n: int) -> None:
        name = f"cm-{n % 7}"
        phase = (n // 7) % 3
        if phase == 0:
            obj = await self.configmaps.acreate(name, {"data": {"n": str(n)}})
            self.expected.append(expect(obj, ADD))
        elif phase == 1:
            obj = await self.configmaps.apatch(name, {"data": {"n": str(n)}})
            self.expected.append(expect(obj, UPDATE))
        else:
            obj = await self.configmaps.adelete(name)
            self.expected.append(expect(obj, DELETE))
        self.written += 1


async def test_restart_mid_stream_loses_and_duplicates_nothing(
    sink: RecordingSink, configmaps: Any, source: Any, in_sync: Any
) -> None:
    writer = Writer(configmaps)
    first = source(**STATE)
    await first.start()
    await in_sync(first)
    await writer.steps(range(25))
    await first.stop()  # SIGTERM: the delivered position is saved on the way out
    assert first.process is not None and first.process.returncode == 0
    await writer.steps(range(25, 45))  # while nobody watches
    second = source(**STATE)
    async with second:
        await writer.steps(range(45, 63))
        await sink.wait_for(len(writer.expected), timeout=90)
        resumed = await second.wait_for_log("watching")
    assert resumed["resume_from"] is not None
    got = [e.get_id() for e in sink.events]
    assert Counter(got) == Counter(writer.expected)
    assert len(got) == len(set(got))


async def test_crash_resends_only_with_the_same_ids(
    sink: RecordingSink, configmaps: Any, source: Any, in_sync: Any
) -> None:
    """SIGKILL: what was delivered after the last saved position is sent again, with the same
    ids (a sink can deduplicate); nothing is lost."""
    writer = Writer(configmaps)
    first = source(**STATE)
    await first.start()
    await in_sync(first)
    await writer.steps(range(21))
    await sink.wait_for(len(writer.expected))
    first.signal(signal.SIGKILL)
    await first.wait()
    await writer.steps(range(21, 35))
    async with source(**STATE):
        await sink.wait_for(len(writer.expected), timeout=90)

        def complete() -> bool:
            return set(writer.expected) <= {e.get_id() for e in sink.events}

        while not complete():
            await sink.wait_for(len(sink.accepted) + 1, timeout=90)
    got = [e.get_id() for e in sink.events]
    assert set(got) == set(writer.expected)


async def test_410_after_a_restart_reports_the_gap_once(
    kube: KubeCluster, sink: RecordingSink, configmaps: Any, source: Any, in_sync: Any
) -> None:
    keep = await configmaps.acreate("keep", {"data": {"v": "0"}})
    await configmaps.acreate("edit", {"data": {"v": "0"}})
    gone = await configmaps.acreate("gone", {"data": {"v": "0"}})
    again = await configmaps.acreate("again", {"data": {"v": "0"}})
    async with source(**STATE) as process:
        await in_sync(process)
        touched = await configmaps.apatch("keep", {"data": {"v": "1"}})
        await sink.wait_for(1)
    await configmaps.apatch("edit", {"data": {"v": "1"}})
    edited = await configmaps.apatch("edit", {"data": {"v": "2"}})
    await configmaps.adelete("gone")
    await configmaps.adelete("again")
    recreated = await configmaps.acreate("again", {"data": {"v": "new"}})
    born = await configmaps.acreate("born", {"data": {"v": "0"}})
    await asyncio.to_thread(kube.compact)
    async with source(**STATE) as process:
        await sink.wait_for(6, timeout=90)
        after = await configmaps.apatch("keep", {"data": {"v": "after"}})
        await sink.wait_for(7)
    got = [e.get_id() for e in sink.events]
    assert got[0] == expect(touched, UPDATE)
    assert Counter(got[1:6]) == Counter(
        [
            expect(edited, UPDATE),
            expect(gone, DELETE),
            expect(again, DELETE),
            expect(recreated, ADD),
            expect(born, ADD),
        ]
    )
    assert got[6] == expect(after, UPDATE)
    assert keep["metadata"]["uid"] == after["metadata"]["uid"]


async def test_410_while_running_loses_and_replays_nothing(
    kube: KubeCluster, sink: RecordingSink, configmaps: Any, source: Any, in_sync: Any
) -> None:
    """The process is frozen (SIGSTOP) while large changes pile up (more than the socket
    buffers hold), etcd is compacted and the apiserver killed and started again. Thawed, the
    source reads what its old connection still holds, resumes, gets 410 and relists; whichever
    way each change arrives, it is reported once and the final state of every object is."""
    bulk = "x" * 600_000
    names = [f"cm-{i}" for i in range(5)]
    versions: dict[str, list[dict[str, Any]]] = {}
    for name in names:
        versions[name] = [await configmaps.acreate(name, {"data": {"v": "0"}})]
    async with source(APISERVER_MODE="Resource") as process:
        await in_sync(process)
        process.signal(signal.SIGSTOP)
        try:
            for round_ in range(1, 4):
                for name in names[:3]:
                    versions[name].append(
                        await configmaps.apatch(name, {"data": {"v": str(round_), "bulk": bulk}})
                    )
            deleted = await configmaps.adelete("cm-3")
            born = await configmaps.acreate("cm-new", {"data": {"v": "0"}})
            await asyncio.to_thread(kube.compact, restart_apiserver=False)
            # Killed, not stopped: a graceful stop would wait for the frozen watcher.
            await asyncio.to_thread(kube.kill_apiserver)
            await asyncio.to_thread(kube.start_apiserver)
            final = await configmaps.apatch("cm-4", {"data": {"v": "final"}})
        finally:
            process.signal(signal.SIGCONT)
        required = {
            expect(deleted, DELETE),
            expect(born, ADD),
            expect(final, UPDATE),
            *(expect(versions[name][-1], UPDATE) for name in names[:3]),
        }
        while not required <= {e.get_id() for e in sink.events}:
            await sink.wait_for(len(sink.accepted) + 1, timeout=120)
    got = [e.get_id() for e in sink.events]
    assert len(got) == len(set(got)), "an event was sent twice"
    for name in names[:3]:
        written = [expect(o, UPDATE) for o in versions[name][1:]]
        reported = [i for i in got if i in written]
        assert reported, f"{name}: no update reported"
        assert reported == [i for i in written if i in reported], f"{name}: out of order"
        assert reported[-1] == written[-1], f"{name}: the final state was not reported"
    assert expect(deleted, DELETE) in got
    assert expect(born, ADD) in got
    allowed = {expect(o, UPDATE) for name in names[:3] for o in versions[name][1:]}
    allowed |= {expect(deleted, DELETE), expect(born, ADD), expect(final, UPDATE)}
    assert set(got) <= allowed


async def test_an_event_nobody_accepted_is_sent_again_and_not_skipped(
    sink: RecordingSink, configmaps: Any, source: Any, in_sync: Any
) -> None:
    sink.fail_next(4, status=500)
    async with source(SPRINGHEAD_DELIVERY_RETRY="0") as process:
        await in_sync(process)
        first = await configmaps.acreate("first")
        second = await configmaps.acreate("second")
        await sink.wait_for(2)
    assert [r.status for r in sink.requests] == [500, 500, 500, 500, 202, 202]
    assert [e.get_id() for e in sink.events] == [
        event_id(
            first["metadata"]["uid"],
            first["metadata"]["resourceVersion"],
            "dev.knative.apiserver.ref.add",
        ),
        event_id(
            second["metadata"]["uid"],
            second["metadata"]["resourceVersion"],
            "dev.knative.apiserver.ref.add",
        ),
    ]
    assert len({r.event.get_id() for r in sink.requests[:5]}) == 1


async def test_position_does_not_move_past_an_undelivered_event(
    sink: RecordingSink, configmaps: Any, source: Any, in_sync: Any
) -> None:
    """Stopped while the sink refuses everything, the source keeps the event for next time."""
    sink.respond_with(status=500)
    async with source(SPRINGHEAD_DELIVERY_RETRY="0", **STATE) as process:
        await in_sync(process)
        stuck = await configmaps.acreate("stuck", {"data": {"v": "0"}})
        await sink.wait_for_requests(2)
    assert not sink.accepted
    sink.respond_with(status=202)
    async with source(SPRINGHEAD_DELIVERY_RETRY="0", **STATE):
        await sink.wait_for(1)
        later = await configmaps.acreate("later")
        await sink.wait_for(2)
    assert [e.get_id() for e in sink.events] == [expect(stuck, ADD), expect(later, ADD)]
