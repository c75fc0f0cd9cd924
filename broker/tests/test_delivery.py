"""The dispatcher's delivery on real Kafka, through the real broker process and loopback sinks:
replies routed back into the broker, the reply-loop bound, and dead-lettering per trigger and
per broker (the trigger's delivery replacing the broker's)."""

from __future__ import annotations

import base64
from typing import Any

from springhead_testing import RecordingSink

REPLY_HEADERS = {
    "ce-specversion": "1.0",
    "ce-id": "reply-1",
    "ce-source": "/replier",
    "ce-type": "com.example.reply",
    "content-type": "application/json",
}


async def test_a_reply_reaches_a_second_trigger(kafka_tools: Any, kafka_admin: Any) -> None:
    name = kafka_tools.unique("reply")
    kafka_admin(f"knative-broker-testns-{name}", 2)
    async with RecordingSink() as replier, RecordingSink() as second:
        replier.fail_next(1, status=200, headers=REPLY_HEADERS, body=b'{"answer": 42}')
        triggers = [
            {
                "name": "replier",
                "subscriber": replier.url,
                "filter": {"attributes": {"type": "com.example.request"}},
            },
            {
                "name": "second",
                "subscriber": second.url,
                "filter": {"attributes": {"type": "com.example.reply"}},
            },
        ]
        kafka_tools.write_contract([{"namespace": "testns", "name": name, "triggers": triggers}])
        async with kafka_tools.process() as process:
            await kafka_tools.ready(process, triggers=2)
            path = f"/testns/{name}"
            assert await kafka_tools.send(process, path, "req-1", "com.example.request") == 202
            [reply] = await second.wait_for(1)
            # Both triggers finished with both events: the request and the reply.
            await kafka_tools.wait_finished(process, "testns/replier", 2)
            await kafka_tools.wait_finished(process, "testns/second", 2)
        assert kafka_tools.ids(replier) == ["req-1"]
        assert kafka_tools.ids(second) == ["reply-1"]
        assert reply.body == b'{"answer": 42}'
        assert reply.header("ce-knativearrivaltime")
        assert reply.header("ce-knativebrokerttl") is None


async def test_a_reply_loop_ends_after_255_rounds(kafka_tools: Any, kafka_admin: Any) -> None:
    """A subscriber answering every event with another it receives again: the TTL bounds it."""
    name = kafka_tools.unique("loop")
    kafka_admin(f"knative-broker-testns-{name}", 1)
    async with RecordingSink() as echo:
        echo.respond_with(status=200, headers={**REPLY_HEADERS, "ce-type": "loop"}, body=b"{}")
        trigger = {
            "name": "echo",
            "subscriber": echo.url,
            "filter": {"attributes": {"type": "loop"}},
        }
        kafka_tools.write_contract([{"namespace": "testns", "name": name, "triggers": [trigger]}])
        async with kafka_tools.process() as process:
            await kafka_tools.ready(process, triggers=1)
            assert await kafka_tools.send(process, f"/testns/{name}", "first", "loop") == 202
            await kafka_tools.wait_finished(process, "testns/echo", 255)
            looped = await kafka_tools.metric(
                process, "springhead_broker_replies_total", outcome="looped"
            )
            routed = await kafka_tools.metric(
                process, "springhead_broker_replies_total", outcome="routed"
            )
        assert (routed, looped) == (254, 1)
        assert len(echo.accepted) == 255


async def test_dead_letters_per_trigger_and_per_broker(kafka_tools: Any, kafka_admin: Any) -> None:
    name = kafka_tools.unique("dls")
    kafka_admin(f"knative-broker-testns-{name}", 1)
    async with (
        RecordingSink() as refusing,
        RecordingSink() as trigger_dls,
        RecordingSink() as broker_dls,
    ):
        refusing.respond_with(status=400, body=b"no thanks")  # not retried: dead-lettered at once
        quick = {"retry": 1, "backoffDelay": "PT0.01S"}
        triggers = [
            {  # its own delivery replaces the broker's: its own dead-letter sink
                "name": "own",
                "subscriber": refusing.url,
                "delivery": {**quick, "deadLetterSink": trigger_dls.url},
            },
            {"name": "inherits", "subscriber": refusing.url},
        ]
        broker = {
            "namespace": "testns",
            "name": name,
            "delivery": {**quick, "deadLetterSink": broker_dls.url},
            "triggers": triggers,
        }
        kafka_tools.write_contract([broker])
        async with kafka_tools.process() as process:
            await kafka_tools.ready(process, triggers=2)
            for n in range(3):
                assert await kafka_tools.send(process, f"/testns/{name}", f"e{n}", "t") == 202
            await kafka_tools.wait_finished(process, "testns/own", 3)
            await kafka_tools.wait_finished(process, "testns/inherits", 3)
            dead = await kafka_tools.metric(
                process, "springhead_broker_trigger_events_total", outcome="dead_lettered"
            )
        assert dead == 6
        assert sorted(kafka_tools.ids(trigger_dls)) == ["e0", "e1", "e2"]
        assert sorted(kafka_tools.ids(broker_dls)) == ["e0", "e1", "e2"]
        for received in [*trigger_dls.accepted, *broker_dls.accepted]:
            assert received.header("ce-knativeerrordest") == refusing.url
            assert received.header("ce-knativeerrorcode") == "400"
            data = base64.b64decode(received.header("ce-knativeerrordata") or "")
            assert data == b"no thanks"


async def test_a_subscriber_down_for_a_while_gets_everything_after_it_returns(
    kafka_tools: Any, kafka_admin: Any
) -> None:
    """No dead-letter sink: an event nobody accepts is delivered again, its partition waits, and
    once the subscriber is back every event arrives, in order (an ordered trigger)."""
    name = kafka_tools.unique("down")
    kafka_admin(f"knative-broker-testns-{name}", 1)
    async with RecordingSink() as subscriber:
        subscriber.fail_next(12, status=503)  # down: four rounds of three attempts
        trigger = {
            "name": "waits",
            "subscriber": subscriber.url,
            "delivery": {"retry": 2, "backoffDelay": "PT0.01S"},
            "annotations": {"kafka.eventing.knative.dev/delivery.order": "ordered"},
        }
        kafka_tools.write_contract([{"namespace": "testns", "name": name, "triggers": [trigger]}])
        async with kafka_tools.process() as process:
            await kafka_tools.ready(process, triggers=1)
            for n in range(5):
                assert await kafka_tools.send(process, f"/testns/{name}", f"e{n}", "t") == 202
            await kafka_tools.wait_finished(process, "testns/waits", 5)
        assert len(subscriber.requests) == 12 + 5
        assert kafka_tools.ids(subscriber) == [f"e{n}" for n in range(5)]
        assert {r.event.get_id() for r in subscriber.requests[:12]} == {"e0"}
