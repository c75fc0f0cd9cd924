"""Fan-out: three triggers on one broker, with attributes, prefix and CESQL filters, each
receive exactly the events that match, once, and nothing else; on real Kafka and on the
in-memory backend, through the real broker process and real loopback sinks."""

from __future__ import annotations

from typing import Any

import pytest
from springhead_testing import RecordingSink

#: (type, region or None) per event kind; ids are <kind>-<n>.
KINDS = {
    "order-eu": ("com.example.order", "eu"),
    "payment-us": ("com.example.payment", "us"),
    "paid-eu": ("com.example.paid", "eu"),
    "other-eu": ("org.other.thing", "eu"),
    "order": ("com.example.order", None),
}
#: What each trigger must receive (by kind).
EXPECTED = {
    "attributes": {"order-eu", "order"},
    "prefix": {"payment-us", "paid-eu"},
    "cesql": {"order-eu", "paid-eu"},
}
ROUNDS = 10


def _triggers(sinks: dict[str, RecordingSink]) -> list[dict[str, Any]]:
    return [
        {
            "name": "attributes",
            "subscriber": sinks["attributes"].url,
            "filter": {"attributes": {"type": "com.example.order"}},
        },
        {
            "name": "prefix",
            "subscriber": sinks["prefix"].url,
            "filters": [{"prefix": {"type": "com.example.pa"}}],
            "annotations": {"kafka.eventing.knative.dev/delivery.order": "ordered"},
        },
        {
            "name": "cesql",
            "subscriber": sinks["cesql"].url,
            "filters": [{"cesql": "region = 'eu' AND type LIKE 'com.example.%'"}],
        },
    ]


async def _send_all(tools: Any, process: Any, name: str) -> list[tuple[str, str]]:
    sent: list[tuple[str, str]] = []
    for n in range(ROUNDS):
        for kind, (type_, region) in KINDS.items():
            event_id = f"{kind}-{n}"
            extensions = {"partitionkey": f"k{n}"}
            if region is not None:
                extensions["region"] = region
            status = await tools.send(process, f"/testns/{name}", event_id, type_, **extensions)
            assert status == 202, event_id
            sent.append((kind, event_id))
    return sent


@pytest.mark.parametrize("backend", ["memory", "kafka"])
async def test_three_triggers_each_get_exactly_their_events(
    backend: str, request: pytest.FixtureRequest
) -> None:
    tools = request.getfixturevalue(f"{backend}_tools")
    name = tools.unique("fanout")
    broker: dict[str, Any] = {"namespace": "testns", "name": name}
    if backend == "kafka":
        request.getfixturevalue("kafka_admin")(f"knative-broker-testns-{name}", 3)
    async with (
        RecordingSink() as attributes,
        RecordingSink() as prefix,
        RecordingSink() as cesql,
    ):
        sinks = {"attributes": attributes, "prefix": prefix, "cesql": cesql}
        tools.write_contract([{**broker, "triggers": _triggers(sinks)}])
        async with tools.process() as process:
            await tools.ready(process, triggers=3)
            sent = await _send_all(tools, process, name)
            # Every trigger finished with every event (filtered out or delivered): only then
            # is "nothing else" a fact rather than a race.
            for trigger in EXPECTED:
                await tools.wait_finished(process, f"testns/{trigger}", len(sent))
        expected = {
            trigger: sorted(event_id for kind, event_id in sent if kind in kinds)
            for trigger, kinds in EXPECTED.items()
        }
        for trigger, sink in sinks.items():
            ids = tools.ids(sink)
            assert sorted(ids) == expected[trigger], trigger
            for received in sink.accepted:
                assert received.header("ce-knativearrivaltime"), trigger
                assert received.header("ce-knativebrokerttl") is None  # removed for subscribers
                assert received.header("ce-knativekafkaoffset") is None
                assert received.body == b'{"n": 1}'
        # Ordered trigger: per partition key, events in the order they were sent.
        by_key: dict[str, list[str]] = {}
        for received in prefix.accepted:
            by_key.setdefault(received.header("ce-partitionkey") or "", []).append(
                received.event.get_id()
            )
        for key, ids in by_key.items():
            n = key[1:]
            assert ids == [f"payment-us-{n}", f"paid-eu-{n}"], key
