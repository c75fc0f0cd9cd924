"""The Kafka source as a real process between a real Apache Kafka broker and the real loopback
sink: mapping on the wire, ordering, failures, dead letters, commits, crash and rebalance."""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import aiohttp
import pytest
from springhead.kafka.mapping import KeyType, key_extension, record_to_event
from springhead_testing import RecordingSink, SourceProcess


def wire(value: Any) -> str:
    """How an attribute value travels in a binary-mode HTTP header (before percent-encoding)."""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return str(value)


def received_attributes(request: Any) -> dict[str, str]:
    """The attributes exactly as the request's ``ce-*`` and Content-Type headers carried them."""
    attributes = {
        k.lower().removeprefix("ce-"): unquote(v)
        for k, v in request.headers.items()
        if k.lower().startswith("ce-")
    }
    content_type = request.header("Content-Type")
    if content_type is not None:
        attributes["datacontenttype"] = content_type
    return attributes


# --- mapping on the wire ------------------------------------------------------------------------


async def test_every_kind_of_record_arrives_as_knative_maps_it(
    kafka_tools: Any, sink: RecordingSink
) -> None:
    tools, Out = kafka_tools, kafka_tools.Out
    topic = tools.unique("kinds")
    envelope = {
        "specversion": "1.0",
        "id": "structured-1",
        "type": "com.example.structured",
        "source": "/shop",
        "datacontenttype": "application/json",
        "data": {"n": 1},
    }
    records = [
        Out(value=b"plain"),
        Out(
            value=b'{"a": 1}',
            key=b"order-7",
            headers=(("Content-Type", b"Application/JSON"), ("X-Trace_ID", b"abc")),
        ),
        Out(
            value=b'{"message": "Hello World!"}',
            key=b"ignored",
            headers=(
                ("ce_specversion", b"1.0"),
                ("ce_id", b"1234-1234-1234"),
                ("ce_type", b"com.example.someevent"),
                ("ce_source", b"/mycontext/subcontext"),
                ("ce_time", b"2018-04-05T03:56:24Z"),
                ("content-type", b"application/json"),
            ),
        ),
        Out(
            value=json.dumps(envelope).encode(),
            headers=(("content-type", b"application/cloudevents+json; charset=utf-8"),),
        ),
        Out(value=b"broken", headers=(("ce_specversion", b"1.0"), ("ce_type", b"t"))),
        Out(value=None, key=b"tombstone"),
    ]
    records = [replace(r, timestamp_ms=1_700_000_000_123 + i) for i, r in enumerate(records)]
    produced = await tools.produce(topic, records)
    async with tools.source(sink, topic) as source:
        await sink.wait_for(len(records))
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{source.port}/readyz") as ready,
        ):
            assert ready.status == 200
    by_offset = {int(r.header("ce-knativekafkaoffset") or -1): r for r in sink.accepted}
    assert sorted(by_offset) == [p.offset for p in produced]
    for out, where in zip(records, produced, strict=True):
        # The timestamp the record was produced with (CreateTime): the producer's metadata
        # gives a batch's timestamp, not each record's.
        record = _Record(topic, where.partition, where.offset, out.timestamp_ms, out)
        expected = record_to_event(record, namespace="testns", name="test")
        request = by_offset[where.offset]
        assert received_attributes(request) == {
            k: wire(v) for k, v in expected.event.get_attributes().items()
        }, out
        if expected.form.value == "structured":
            assert json.loads(request.body) == {"n": 1}
        else:
            assert request.body == (out.value or b"")
        assert request.header("Kn-Namespace") == "testns"

    plain = by_offset[produced[1].offset]
    assert plain.header("ce-type") == "dev.knative.kafka.event"
    assert plain.header("ce-source") == f"/apis/v1/namespaces/testns/kafkasources/test#{topic}"
    assert plain.header("ce-id") == f"partition:0/offset:{produced[1].offset}"
    assert plain.header("ce-subject") == f"partition:0#{produced[1].offset}"
    assert plain.header("ce-key") == plain.header("ce-partitionkey") == "order-7"
    assert plain.header("ce-kafkaheaderxtraceid") == "abc"
    assert plain.header("Content-Type") == "application/json"
    sent = datetime.fromtimestamp(1_700_000_000_124 / 1000, UTC)  # records[1]'s timestamp
    assert plain.event.get_time() == sent
    binary = by_offset[produced[2].offset].event
    assert (binary.get_id(), binary.get_type()) == ("1234-1234-1234", "com.example.someevent")
    assert binary.get_extension("partitionkey") is None
    structured = by_offset[produced[3].offset].event
    assert structured.get_id() == "structured-1"
    broken = by_offset[produced[4].offset]
    assert broken.header("ce-type") == "dev.knative.kafka.event"
    assert broken.header("ce-kafkaheadercespecversion") == "1.0"
    assert any(e.get("msg") == "record delivered as a plain event" for e in source.logs)


def _unquoted(value: str | None) -> str | None:
    return None if value is None else unquote(value)


async def test_conformance_cases_pass_through_kafka_unchanged(
    kafka_tools: Any, sink: RecordingSink, all_conformance_cases: list[Any]
) -> None:
    tools = kafka_tools
    topic = tools.unique("conformance")
    records = [tools.Out(value=c.value, headers=c.headers) for c in all_conformance_cases]
    produced = await tools.produce(topic, records)
    async with tools.source(sink, topic):
        await sink.wait_for(len(records))
    by_offset = {int(r.header("ce-knativekafkaoffset") or -1): r for r in sink.accepted}
    for case, where in zip(all_conformance_cases, produced, strict=True):
        request = by_offset[where.offset]
        attributes = received_attributes(request)
        for key, value in case.attributes.items():
            if key == "time":
                assert datetime.fromisoformat(attributes["time"]) == datetime.fromisoformat(value)
            else:
                assert attributes[key] == value, (case.name, key)
        assert json.loads(request.body) == case.data, case.name
        assert attributes["knativekafkapartition"] == str(where.partition)


class _Record:
    def __init__(self, topic: str, partition: int, offset: int, timestamp: int, out: Any) -> None:
        self.topic, self.partition, self.offset, self.timestamp = (
            topic,
            partition,
            offset,
            timestamp,
        )
        self.key, self.value, self.headers = out.key, out.value, tuple(out.headers)


async def test_key_types(kafka_tools: Any, sink: RecordingSink) -> None:
    tools, Out = kafka_tools, kafka_tools.Out
    topic = tools.unique("keys")
    keys = [b"\x00\x00\x01\x00", struct.pack(">d", 2.5), b"text", b"\x01\x02\x03", None]
    produced = await tools.produce(topic, [Out(key=key) for key in keys])
    async with contextlib.AsyncExitStack() as stack:
        for key_type in KeyType:
            name = f"keys-{key_type.value}"
            await stack.enter_async_context(
                tools.source(sink, topic, NAME=name, KAFKA_KEY_TYPE=key_type.value)
            )
        await sink.wait_for(len(KeyType) * len(keys))
    decoded: dict[KeyType, list[str | None]] = {}
    for key_type in KeyType:
        source = f"/apis/v1/namespaces/testns/kafkasources/keys-{key_type.value}#{topic}"
        got = {
            r.header("ce-id"): _unquoted(r.header("ce-key"))
            for r in sink.accepted
            if r.header("ce-source") == source
        }
        expected = {p.id: key_extension(k, key_type) for p, k in zip(produced, keys, strict=True)}
        assert got == {i: (None if v is None else str(v)) for i, v in expected.items()}, key_type
        decoded[key_type] = list(got.values())
    at = "@\x04\x00\x00\x00\x00\x00\x00"  # the double 2.5 read as text
    assert decoded[KeyType.STRING][:4] == ["\x00\x00\x01\x00", at, "text", "\x01\x02\x03"]
    assert decoded[KeyType.INT][:4] == ["256", at, "1952807028", "\x01\x02\x03"]
    assert decoded[KeyType.FLOAT][:4] == ["3.59E-43", "2.5", "7.272211E31", "\x01\x02\x03"]
    assert decoded[KeyType.BYTE_ARRAY][:4] == ["AAABAA==", "QAQAAAAAAAA=", "dGV4dA==", "AQID"]
    assert all(values[-1] is None for values in decoded.values())  # no key, no extension


# --- ordering, failures, dead letters ----------------------------------------------------------


async def test_ordered_partitions_in_parallel_each_in_order_under_latency_and_failures(
    kafka_tools: Any, sink: RecordingSink
) -> None:
    tools = kafka_tools
    topic = await tools.create_topic(tools.unique("ordered"), partitions=3)
    produced = await tools.produce_spread(topic, per_partition=40, partitions=3)
    gate = asyncio.Event()
    sink.respond_with(gate=gate)
    env = {"SPRINGHEAD_DELIVERY_RETRY": "3"}
    async with tools.source(sink, topic, **env):
        await sink.wait_held(3)  # one event of each partition in flight at once
        sink.respond_with(delay=0.002)
        sink.fail_next(4, status=503)
        sink.fail_next(2, drop=True)
        gate.set()
        await tools.wait_for_ids(sink, {p.id for p in produced})
    assert tools.duplicates(sink) == 0
    for partition, offsets in tools.offsets_by_partition(sink).items():
        assert offsets == sorted(p.offset for p in produced if p.partition == partition)


async def test_sink_down_then_back_loses_nothing_and_blocks_the_partition(
    kafka_tools: Any, sink: RecordingSink
) -> None:
    tools, Out = kafka_tools, kafka_tools.Out
    topic = tools.unique("down")
    produced = await tools.produce(topic, [Out(value=f"{i}".encode()) for i in range(20)])
    sink.fail_next(7, status=503)  # first event: three rounds of (attempt + 1 retry) fail
    sink.fail_next(2, drop=True)
    group = tools.unique("group")
    env = {
        "SPRINGHEAD_DELIVERY_RETRY": "1", "KAFKA_MAX_UNCOMMITTED": "2",
        "KAFKA_CONSUMER_GROUP": group,
    }  # fmt: skip
    async with tools.source(sink, topic, **env) as source:
        await tools.wait_for_ids(sink, {p.id for p in produced})
        # One more record: ordered, so its arrival means every earlier one was counted done.
        [marker] = await tools.produce(topic, [Out(value=b"marker")])
        await tools.wait_for_ids(sink, {marker.id})
        done = await tools.metrics(source, "springhead_kafka_records_done_total")
        rounds = await tools.metrics(source, "springhead_kafka_redeliveries_total")
        commits = await tools.metrics(source, "springhead_kafka_commit_latency_seconds_count")
        lag = await tools.metrics(source, "springhead_kafka_consumer_lag")
    assert tools.accepted_ids(sink) == [p.id for p in [*produced, marker]]  # in order, once
    assert all(r.header("ce-id") == produced[0].id for r in sink.requests[:10])
    assert done[f'{{outcome="delivered",topic="{topic}"}}'] >= 20
    assert rounds[f'{{topic="{topic}"}}'] >= 3
    assert sum(commits.values()) >= 1  # a window of 2: commits happen while delivering
    assert f'{{group="{group}",partition="0",topic="{topic}"}}' in lag


async def test_unaccepted_event_is_delivered_again_not_dropped(
    kafka_tools: Any, sink: RecordingSink
) -> None:
    tools, Out = kafka_tools, kafka_tools.Out
    topic = tools.unique("block")
    produced = await tools.produce(topic, [Out(value=b"a"), Out(value=b"b"), Out(value=b"c")])
    sink.fail_next(3, status=400)  # not retryable: each round is one attempt
    async with tools.source(sink, topic, SPRINGHEAD_DELIVERY_RETRY="0") as source:
        await sink.wait_for(3)
    assert [r.header("ce-id") for r in sink.requests] == [produced[0].id] * 4 + [
        p.id for p in produced[1:]
    ]
    assert (
        len(tools.logs(source, "event not accepted; delivering it again, its partition waits")) == 3
    )


async def test_dead_letter_sink_takes_what_the_sink_refuses(
    kafka_tools: Any, sink: RecordingSink
) -> None:
    tools, Out = kafka_tools, kafka_tools.Out
    topic = tools.unique("dls")
    produced = await tools.produce(topic, [Out(value=f"{i}".encode()) for i in range(5)])
    sink.respond_with(status=400, body=b"no thanks")
    group = tools.unique("group")
    async with RecordingSink() as dead_letters:
        env = {
            "SPRINGHEAD_DELIVERY_DEAD_LETTER_SINK": dead_letters.url,
            "KAFKA_CONSUMER_GROUP": group,
        }
        async with tools.source(sink, topic, **env):
            await dead_letters.wait_for(5)
    assert len(sink.requests) == 5  # 400 is not retried
    assert tools.accepted_ids(dead_letters) == [p.id for p in produced]
    for request in dead_letters.accepted:
        assert request.header("ce-knativeerrorcode") == "400"
        assert request.header("ce-knativeerrordest") == sink.url
        assert request.header("ce-knativeerrordata") == "bm8gdGhhbmtz"
        assert request.header("ce-type") == "dev.knative.kafka.event"
    assert await tools.committed(group) == {0: 5}


async def test_commit_mode_logs_the_event_as_lost_and_moves_on(
    kafka_tools: Any, sink: RecordingSink
) -> None:
    tools, Out = kafka_tools, kafka_tools.Out
    topic = tools.unique("lost")
    produced = await tools.produce(topic, [Out(value=f"{i}".encode()) for i in range(4)])
    sink.fail_next(1, status=400)
    group = tools.unique("group")
    env = {"KAFKA_ON_EXHAUSTED": "commit", "KAFKA_CONSUMER_GROUP": group}
    async with tools.source(sink, topic, **env) as source:
        await sink.wait_for(3)
    assert tools.accepted_ids(sink) == [p.id for p in produced[1:]]
    [lost] = tools.logs(source, "event lost: no sink accepted it; committing past it")
    assert lost["offset"] == 0 and lost["level"] == "error"
    assert await tools.committed(group) == {0: 4}


# --- commits ------------------------------------------------------------------------------------


async def test_unordered_commit_stops_at_the_first_undelivered_offset(
    kafka_tools: Any, sink: RecordingSink
) -> None:
    tools, Out = kafka_tools, kafka_tools.Out
    topic = tools.unique("unordered")
    produced = await tools.produce(topic, [Out(value=f"{i}".encode()) for i in range(30)])
    hold = asyncio.Event()
    sink.fail_next(1, status=202, gate=hold)  # the first request to arrive is held
    group = tools.unique("group")
    env = {
        "KAFKA_ORDERING": "unordered",
        "KAFKA_MAX_IN_FLIGHT": "8",
        "KAFKA_CONSUMER_GROUP": group,
        "KAFKA_COMMIT_INTERVAL": "PT1H",
        "SPRINGHEAD_SHUTDOWN_GRACE": "PT2S",
    }
    try:
        first = tools.source(sink, topic, **env)
        async with first:
            await sink.wait_held(1)
            await sink.wait_for(29)  # everything else went past the held one
        assert first.process is not None and first.process.returncode == 0
        [held] = {p.offset for p in produced} - {
            int(i.split(":")[-1]) for i in tools.accepted_ids(sink)
        }
        # Not past the undelivered record, however many later ones were delivered.
        assert (await tools.committed(group)).get(0, 0) == held
        [closed] = tools.logs(first, "consumer closed")
        assert closed["abandoned"] == 1

        before = len(sink.accepted)
        async with tools.source(sink, topic, **env):
            await sink.wait_for(before + 30 - held)
        again = tools.accepted_ids(sink)[before:]
        assert sorted(again) == sorted(p.id for p in produced if p.offset >= held)
        assert await tools.committed(group) == {0: 30}
    finally:
        hold.set()


async def test_kill_9_mid_stream_redelivers_at_most_the_uncommitted_window(
    kafka_tools: Any, sink: RecordingSink
) -> None:
    tools = kafka_tools
    partitions, window = 2, 100
    topic = await tools.create_topic(tools.unique("crash"), partitions=partitions)
    produced = await tools.produce_spread(topic, per_partition=1000, partitions=partitions)
    gate = asyncio.Event()
    sink.fail_next(600, status=202)
    sink.respond_with(gate=gate)  # after 600 accepted, deliveries hang in flight
    group = tools.unique("group")
    env = {
        "KAFKA_ORDERING": "unordered",
        "KAFKA_MAX_IN_FLIGHT": "16",
        "KAFKA_MAX_UNCOMMITTED": str(window),
        "KAFKA_COMMIT_INTERVAL": "PT1H",  # only the window triggers commits
        "KAFKA_CONSUMER_GROUP": group,
    }
    crashed = await tools.source(sink, topic, **env).start()
    try:
        await sink.wait_for(600)
        await sink.wait_held(8)
    finally:
        assert crashed.process is not None
        crashed.process.kill()
        await crashed.wait()
    sink.respond_with()
    gate.set()  # what was in flight reaches the sink after all, as a real sink may process it
    async with tools.source(sink, topic, **env):
        await tools.wait_for_ids(sink, {p.id for p in produced})
    duplicated = tools.duplicates(sink)
    bound = window * partitions
    print(f"\nkill -9: {duplicated} duplicates of {len(produced)} records (bound {bound})")
    assert duplicated <= bound


@pytest.mark.parametrize("revoke", ["finished", "abandoned"])
async def test_rebalance_between_two_processes_loses_nothing(
    kafka_tools: Any, sink: RecordingSink, revoke: str
) -> None:
    tools = kafka_tools
    partitions = 4
    topic = await tools.create_topic(tools.unique("rebalance"), partitions=partitions)
    produced = await tools.produce_spread(topic, per_partition=100, partitions=partitions)
    gate = asyncio.Event()
    sink.fail_next(100, status=202)
    sink.respond_with(gate=gate)
    env = {
        "KAFKA_CONSUMER_GROUP": tools.unique("group"),
        "KAFKA_REVOKE_TIMEOUT": "PT30S" if revoke == "finished" else "PT1S",
    }
    first = await tools.source(sink, topic, **env).start()
    second: SourceProcess | None = None
    try:
        await sink.wait_held(partitions)  # ordered: one event per partition in flight
        second = await tools.source(sink, topic, **env).start()
        await first.wait_for_log("revoking partitions")
        if revoke == "abandoned":
            await first.wait_for_log("partitions revoked")
        sink.respond_with()
        gate.set()
        await tools.wait_for_ids(sink, {p.id for p in produced})
        second_done = await tools.metrics(second, "springhead_kafka_records_done_total")
    finally:
        await first.stop()
        if second is not None:
            await second.stop()
    [revoked] = tools.logs(first, "partitions revoked")
    duplicated = tools.duplicates(sink)
    print(f"\nrebalance ({revoke}): {duplicated} duplicates, {revoked['abandoned']} abandoned")
    assert sum(second_done.values()) > 0  # the second process delivered its share
    assigned = [tools.logs(p, "partitions assigned")[-1]["partitions"] for p in (first, second)]
    assert sorted(len(a) for a in assigned) == [2, 2]
    if revoke == "finished":
        assert revoked["abandoned"] == 0 and duplicated == 0
    else:
        assert revoked["abandoned"] == partitions
        assert duplicated <= partitions
    for partition, offsets in tools.offsets_by_partition(sink).items():
        first_seen = list(dict.fromkeys(offsets))
        assert first_seen == sorted(first_seen), partition  # order kept across the hand-over


# --- subscription and starting offsets ---------------------------------------------------------


async def test_topic_pattern_matches_whole_topic_names(
    kafka_tools: Any, sink: RecordingSink
) -> None:
    tools, Out = kafka_tools, kafka_tools.Out
    stem = tools.unique("pattern")
    wanted = [await tools.create_topic(f"{stem}-a"), await tools.create_topic(f"{stem}-b")]
    other = await tools.create_topic(f"{stem}-ab")
    produced = [(await tools.produce(topic, [Out(value=topic.encode())]))[0] for topic in wanted]
    await tools.produce(other, [Out(value=b"not for us")])
    env = {"KAFKA_TOPICS": "", "KAFKA_TOPIC_PATTERN": f"{stem}-(a|b)"}
    async with tools.source(sink, "", **env) as source:
        await sink.wait_for(2)
    [assigned] = tools.logs(source, "partitions assigned")
    assert assigned["partitions"] == [f"{stem}-a-0", f"{stem}-b-0"]  # not {stem}-ab
    sources = {r.header("ce-source") for r in sink.accepted}
    assert sources == {f"/apis/v1/namespaces/testns/kafkasources/test#{t}" for t in wanted}
    assert len(sink.accepted) == len(produced)


async def test_a_committed_offset_wins_over_the_initial_offset(
    kafka_tools: Any, sink: RecordingSink
) -> None:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    tools, Out = kafka_tools, kafka_tools.Out
    topic = tools.unique("committed")
    produced = await tools.produce(topic, [Out(value=f"{i}".encode()) for i in range(3)])
    group = tools.unique("group")
    committer = AIOKafkaConsumer(**tools.client, group_id=group, enable_auto_commit=False)
    await committer.start()
    try:
        tp = TopicPartition(topic, 0)
        committer.assign([tp])
        await committer.commit({tp: 1})
    finally:
        await committer.stop()
    env = {"KAFKA_INITIAL_OFFSET": "latest", "KAFKA_CONSUMER_GROUP": group}
    async with tools.source(sink, topic, **env):
        await sink.wait_for(2)
    assert tools.accepted_ids(sink) == [p.id for p in produced[1:]]


async def test_latest_skips_what_was_there_before_the_group_existed(
    kafka_tools: Any, sink: RecordingSink
) -> None:
    tools, Out = kafka_tools, kafka_tools.Out
    topic = tools.unique("latest")
    old = await tools.produce(topic, [Out(value=b"old-0"), Out(value=b"old-1")])
    async with tools.source(sink, topic, KAFKA_INITIAL_OFFSET="latest") as source:
        await source.wait_for_log("partitions assigned")
        # The consumer looks up "latest" just after joining: keep producing until one arrives.
        for _ in range(30):
            await tools.produce(topic, [Out(value=b"new")])
            with contextlib.suppress(AssertionError):
                await sink.wait_for(1, timeout=1)
                break
    assert sink.accepted, "no record produced after start-up was delivered"
    assert not {p.id for p in old} & set(tools.accepted_ids(sink))
