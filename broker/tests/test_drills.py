"""Drills on real Kafka with real broker processes, each counting lost and duplicated events:
kill -9 of the dispatcher mid-stream (duplicates stay within the uncommitted window), two
dispatcher replicas rebalancing, a Kafka restart under load (no acknowledged event lost); and a
new trigger starts at the latest event (Knative's default)."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from springhead_testing import RecordingSink

EVENTS = 300
PARTITIONS = 3
MAX_UNCOMMITTED = 50


async def test_kill_9_of_the_dispatcher_mid_stream_loses_nothing(
    kafka_tools: Any, kafka_admin: Any, kafka: Any
) -> None:
    name = kafka_tools.unique("kill")
    kafka_admin(f"knative-broker-testns-{name}", PARTITIONS)
    async with RecordingSink() as sink:
        trigger = {"name": "all", "subscriber": sink.url}
        kafka_tools.write_contract([{"namespace": "testns", "name": name, "triggers": [trigger]}])
        async with kafka_tools.process(BROKER_ROLE="ingress") as ingress:
            await ingress.wait_for_log("contract applied")
            for n in range(EVENTS):
                status = await kafka_tools.send(
                    ingress, f"/testns/{name}", f"e{n}", "t", partitionkey=f"k{n % 17}"
                )
                assert status == 202
        settings = {
            "BROKER_ROLE": "dispatcher",
            "BROKER_MAX_UNCOMMITTED": str(MAX_UNCOMMITTED),
            "BROKER_COMMIT_INTERVAL": "PT0.2S",
        }
        first = kafka_tools.process(**settings)
        await first.start()
        try:
            await sink.wait_for(EVENTS // 3)
        finally:
            first.signal(signal.SIGKILL)
            await first.wait()
        killed_at = len(sink.accepted)
        committed = await _committed(kafka, "knative-trigger-testns-all")
        async with kafka_tools.process(**settings) as second:
            await kafka_tools.ready(second, triggers=1)
            await sink.wait_for(killed_at + 1)  # the second one delivers
            ids = kafka_tools.ids(sink)
            while len(set(ids)) < EVENTS:
                await sink.wait_for(len(ids) + 1, timeout=60)
                ids = kafka_tools.ids(sink)
    lost = EVENTS - len(set(ids))
    duplicated = kafka_tools.duplicates(ids)
    print(
        f"kill -9 at {killed_at} delivered, {sum(committed.values())} committed:"
        f" lost {lost}, duplicated {duplicated}"
    )
    assert lost == 0
    assert set(ids) == {f"e{n}" for n in range(EVENTS)}
    # Only what was delivered but not yet committed comes again: at most the window per partition.
    assert duplicated <= MAX_UNCOMMITTED * PARTITIONS
    assert duplicated <= killed_at - sum(committed.values())


async def _committed(kafka: Any, group: str) -> dict[int, int]:
    """The group's committed offsets by partition, read with the admin client."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}


async def test_a_new_trigger_starts_at_the_latest_event(kafka_tools: Any, kafka_admin: Any) -> None:
    name = kafka_tools.unique("latest")
    kafka_admin(f"knative-broker-testns-{name}", 1)
    async with RecordingSink() as sink:
        kafka_tools.write_contract([{"namespace": "testns", "name": name}])
        async with kafka_tools.process(BROKER_INITIAL_OFFSET="latest") as process:
            await process.wait_for_log("contract applied")
            path = f"/testns/{name}"
            assert await kafka_tools.send(process, path, "before", "t") == 202
            trigger = {"name": "late", "subscriber": sink.url}
            kafka_tools.write_contract(
                [{"namespace": "testns", "name": name, "triggers": [trigger]}]
            )
            await kafka_tools.ready(process, triggers=1)
            assert await kafka_tools.send(process, path, "after", "t") == 202
            await kafka_tools.wait_finished(process, "testns/late", 1)
    assert kafka_tools.ids(sink) == ["after"]


async def test_two_dispatcher_replicas_rebalancing_lose_nothing(
    kafka_tools: Any, kafka_admin: Any
) -> None:
    events, partitions = 600, 4
    name = kafka_tools.unique("rebalance")
    kafka_admin(f"knative-broker-testns-{name}", partitions)
    async with RecordingSink() as sink:
        # The first tenth is answered; then the subscriber holds every answer until the second
        # replica has its partitions, so the stream is mid-way whatever the machine's speed.
        gate = asyncio.Event()
        sink.fail_next(events // 10, status=202)
        sink.respond_with(gate=gate)
        trigger = {
            "name": "all",
            "subscriber": sink.url,
            "annotations": {"kafka.eventing.knative.dev/delivery.order": "ordered"},
        }
        kafka_tools.write_contract([{"namespace": "testns", "name": name, "triggers": [trigger]}])
        async with kafka_tools.process(BROKER_ROLE="ingress") as ingress:
            await ingress.wait_for_log("contract applied")
            for n in range(events):
                status = await kafka_tools.send(
                    ingress, f"/testns/{name}", f"e{n}", "t", partitionkey=f"k{n}"
                )
                assert status == 202
        settings = {"BROKER_ROLE": "dispatcher", "BROKER_MAX_UNCOMMITTED": str(MAX_UNCOMMITTED)}
        async with kafka_tools.process(**settings) as first:
            await sink.wait_for(events // 10)
            async with kafka_tools.process(**settings) as second:
                # The group rebalances: the first gives up partitions, the second takes them.
                await first.wait_for_log("partitions revoked")
                await kafka_tools.ready(second, triggers=1)
                gate.set()
                ids = kafka_tools.ids(sink)
                while len(set(ids)) < events:
                    await sink.wait_for(len(ids) + 1, timeout=60)
                    ids = kafka_tools.ids(sink)
                by_second = await kafka_tools.metric(
                    second, "springhead_broker_trigger_events_total"
                )
    lost = events - len(set(ids))
    duplicated = kafka_tools.duplicates(ids)
    print(f"rebalance: second replica delivered {by_second}: lost {lost}, duplicated {duplicated}")
    assert by_second > 0
    assert lost == 0
    assert duplicated <= MAX_UNCOMMITTED * partitions


async def test_a_kafka_restart_under_load_loses_no_acknowledged_event(
    kafka_tools: Any, kafka_admin: Any, kafka: Any
) -> None:
    """Events posted while the Kafka broker restarts: every one answered 202 is delivered; the
    others were answered 503 (the caller's to retry), none is lost in between."""
    name = kafka_tools.unique("restart")
    kafka_admin(f"knative-broker-testns-{name}", 2)
    async with RecordingSink() as sink:
        trigger = {"name": "all", "subscriber": sink.url}
        kafka_tools.write_contract([{"namespace": "testns", "name": name, "triggers": [trigger]}])
        async with kafka_tools.process(BROKER_PRODUCE_TIMEOUT="PT2S") as process:
            await kafka_tools.ready(process, triggers=1)
            acknowledged: list[str] = []
            refused = 0
            restart = None
            n = 0
            while restart is None or not restart.done() or len(acknowledged) < 200:
                event_id = f"e{n}"
                status = await kafka_tools.send(process, f"/testns/{name}", event_id, "t")
                assert status in (202, 503), status
                if status == 202:
                    acknowledged.append(event_id)
                else:
                    refused += 1
                n += 1
                if restart is None and len(acknowledged) == 50:
                    restart = asyncio.ensure_future(asyncio.to_thread(kafka.restart))
            await restart
            await sink.wait_for(len(acknowledged), timeout=120)
            ids = kafka_tools.ids(sink)
            while not set(acknowledged) <= set(ids):
                await sink.wait_for(len(ids) + 1, timeout=120)
                ids = kafka_tools.ids(sink)
    lost = len(set(acknowledged) - set(ids))
    print(
        f"kafka restart: {len(acknowledged)} acknowledged, {refused} refused (503),"
        f" lost {lost}, duplicated {kafka_tools.duplicates(ids)}"
    )
    assert refused > 0  # the restart was felt
    assert lost == 0
    # A refused event may still arrive (Kafka stored it after the ingress's timeout): the caller
    # sends it again, so that is a duplicate for the sink to drop by id, never a loss.
