"""Ping events against the real loopback sink: attributes, data, overrides, the tick loop."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime

from springhead.config import load_settings
from springhead.runtime import SourceHost
from springhead.sender import Sender
from springhead_ping.adapter import PING_EVENT_TYPE, PingAdapter
from springhead_ping.config import PingSettings
from springhead_testing import RecordingSink

TICK = datetime(2026, 11, 22, 8, 30, 0, tzinfo=UTC)


def settings_for(sink: RecordingSink, **env: str) -> PingSettings:
    return load_settings(
        PingSettings,
        {
            "K_SINK": sink.url,
            "NAMESPACE": "team-a",
            "NAME": "heartbeat",
            "K_CE_OVERRIDES": "",
            **env,
        },
    )


async def fire_once(settings: PingSettings, tick: datetime = TICK) -> None:
    async with Sender.from_settings(settings) as sender:
        adapter = PingAdapter.from_settings(settings, SourceHost(sender.metrics, sender))
        await adapter.fire(tick)


async def test_event_attributes_match_knative(sink: RecordingSink) -> None:
    await fire_once(
        settings_for(sink, PING_CONTENT_TYPE="application/json", PING_DATA='{"msg": "hi"}')
    )
    [request] = sink.accepted
    assert request.header("ce-specversion") == "1.0"
    assert request.header("ce-type") == PING_EVENT_TYPE == "dev.knative.sources.ping"
    assert request.header("ce-source") == "/apis/v1/namespaces/team-a/pingsources/heartbeat"
    assert request.header("ce-subject") is None
    assert request.header("ce-time") == "2026-11-22T08:30:00Z"
    assert request.header("Content-Type") == "application/json"
    assert request.header("Kn-Namespace") == "team-a"
    assert request.body == b'{"msg": "hi"}'


async def test_new_id_per_tick_and_the_same_id_for_the_same_tick(sink: RecordingSink) -> None:
    settings = settings_for(sink)
    await fire_once(settings, TICK)
    await fire_once(settings, TICK)
    await fire_once(settings, TICK.replace(minute=31))
    ids = [r.header("ce-id") for r in sink.accepted]
    assert ids[0] == ids[1] != ids[2]
    other_source = settings_for(sink, NAME="other")
    await fire_once(other_source, TICK)
    assert sink.accepted[3].header("ce-id") not in ids


async def test_no_content_type_leaves_the_attribute_out(sink: RecordingSink) -> None:
    await fire_once(settings_for(sink, PING_DATA="plain words"))
    [request] = sink.accepted
    assert request.header("Content-Type") is None
    assert request.body == b"plain words"


async def test_no_data_sends_an_empty_body(sink: RecordingSink) -> None:
    await fire_once(settings_for(sink))
    assert sink.accepted[0].body == b""


async def test_base64_data_is_sent_as_raw_bytes(sink: RecordingSink) -> None:
    raw = bytes(range(256))
    await fire_once(
        settings_for(
            sink,
            PING_CONTENT_TYPE="application/octet-stream",
            PING_DATA_BASE64=base64.b64encode(raw).decode(),
        )
    )
    [request] = sink.accepted
    assert request.body == raw
    assert request.header("Content-Type") == "application/octet-stream"


async def test_overrides_applied(sink: RecordingSink) -> None:
    overrides = json.dumps({"extensions": {"team": "blue", "env": "prod"}})
    await fire_once(settings_for(sink, K_CE_OVERRIDES=overrides))
    event = sink.events[0]
    assert event.get_extension("team") == "blue"
    assert event.get_extension("env") == "prod"


async def test_structured_mode(sink: RecordingSink) -> None:
    await fire_once(
        settings_for(
            sink,
            SPRINGHEAD_CONTENT_MODE="structured",
            PING_CONTENT_TYPE="text/plain",
            PING_DATA="tick",
        )
    )
    envelope = json.loads(sink.accepted[0].body)
    assert envelope["type"] == PING_EVENT_TYPE
    assert envelope["datacontenttype"] == "text/plain"
    assert base64.b64decode(envelope["data_base64"]) == b"tick"


async def test_run_fires_consecutive_ticks_until_stopped(sink: RecordingSink) -> None:
    settings = settings_for(sink, PING_SCHEDULE="* * * * * *")
    async with Sender.from_settings(settings) as sender:
        adapter = PingAdapter.from_settings(settings, SourceHost(sender.metrics, sender))
        running = asyncio.create_task(adapter.run())
        await sink.wait_for(3)
        await adapter.stop()
        async with asyncio.timeout(30):
            await running
        assert await sender.drain(30)
    times = [e.get_time() for e in sink.events]
    assert all(t is not None and t.microsecond == 0 for t in times)
    seconds = [t.timestamp() for t in times if t is not None]
    assert [b - a for a, b in zip(seconds, seconds[1:], strict=False)] == [1.0] * (len(seconds) - 1)
    assert len({e.get_id() for e in sink.events}) == len(sink.events)


async def test_the_last_and_next_tick_are_exported_while_firing(sink: RecordingSink) -> None:
    """The gauges an alert compares: none before the schedule is running, then the last
    tick fired and the next one due, one second apart for a per-second schedule."""
    settings = settings_for(sink, PING_SCHEDULE="* * * * * *")
    labels = {"schedule": "* * * * * *"}
    async with Sender.from_settings(settings) as sender:
        registry = sender.metrics.registry
        adapter = PingAdapter.from_settings(settings, SourceHost(sender.metrics, sender))
        last = "springhead_ping_last_tick_timestamp_seconds"
        upcoming = "springhead_ping_next_tick_timestamp_seconds"
        assert registry.get_sample_value(last, labels) is None
        running = asyncio.create_task(adapter.run())
        await sink.wait_for(2)
        fired = registry.get_sample_value(last, labels)
        due = registry.get_sample_value(upcoming, labels)
        await adapter.stop()
        async with asyncio.timeout(30):
            await running
        assert await sender.drain(30)
    sent = [e.get_time() for e in sink.events]
    assert fired is not None and fired in {t.timestamp() for t in sent if t is not None}
    assert due == fired + 1


async def test_a_slow_sink_does_not_hold_back_the_schedule(sink: RecordingSink) -> None:
    gate = asyncio.Event()
    sink.respond_with(status=202, gate=gate)
    settings = settings_for(sink, PING_SCHEDULE="* * * * * *")
    async with Sender.from_settings(settings) as sender:
        adapter = PingAdapter.from_settings(settings, SourceHost(sender.metrics, sender))
        running = asyncio.create_task(adapter.run())
        await sink.wait_held(3)  # three ticks fired while none was answered
        await adapter.stop()
        async with asyncio.timeout(30):
            await running
        gate.set()
        assert await sender.drain(30)
    assert len(sink.accepted) >= 3
