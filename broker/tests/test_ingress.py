"""The ingress against the real broker process: what it answers to every kind of request, what
it stores (read back from the real Kafka topic), and 503 with Retry-After while Kafka is down."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from springhead_testing import RecordingSink

BINARY = {
    "ce-specversion": "1.0",
    "ce-id": "e1",
    "ce-source": "/test",
    "ce-type": "t",
    "content-type": "application/json",
}
STRUCTURED = json.dumps(
    {"specversion": "1.0", "id": "s1", "source": "/test", "type": "t", "data": {"a": 1}}
).encode()
CE_JSON = {"content-type": "application/cloudevents+json"}

#: (case, method, path, headers, body, status, reason in the body)
CASES: list[tuple[str, str, str, dict[str, str], bytes, int, str]] = [
    ("binary", "POST", "/testns/b", BINARY, b"{}", 202, ""),
    ("binary with time", "POST", "/testns/b", {**BINARY, "ce-id": "e2",
     "ce-time": "2018-04-05T03:56:24Z"}, b"{}", 202, ""),
    ("structured", "POST", "/testns/b", CE_JSON, STRUCTURED, 202, ""),
    ("plain body", "POST", "/testns/b", {"content-type": "application/json"}, b"{}", 400,
     "not a CloudEvent"),
    ("no headers, no body", "POST", "/testns/b", {}, b"", 400, "not a CloudEvent"),
    ("binary without id", "POST", "/testns/b", {k: v for k, v in BINARY.items() if k != "ce-id"},
     b"{}", 400, "id"),
    ("binary, bad specversion", "POST", "/testns/b", {**BINARY, "ce-specversion": "0.1"}, b"{}",
     400, "specversion"),
    ("binary, bad extension name", "POST", "/testns/b", {**BINARY, "ce-Bad_Name": "x"}, b"{}",
     400, ""),
    ("structured, not JSON", "POST", "/testns/b", CE_JSON, b"{nope", 400, "not JSON"),
    ("structured, not an object", "POST", "/testns/b", CE_JSON, b"[1]", 400, "JSON object"),
    ("structured, no type", "POST", "/testns/b", CE_JSON,
     json.dumps({"specversion": "1.0", "id": "x", "source": "/s"}).encode(), 400, "type"),
    ("structured, data and data_base64", "POST", "/testns/b", CE_JSON,
     json.dumps({"specversion": "1.0", "id": "x", "source": "/s", "type": "t", "data": 1,
                 "data_base64": "AA=="}).encode(), 400, "both data and data_base64"),
    ("batch", "POST", "/testns/b", {"content-type": "application/cloudevents-batch+json"},
     b"[]", 400, "batch"),
    ("other format", "POST", "/testns/b", {"content-type": "application/cloudevents+avro"}, b"x",
     415, "format"),
    ("ttl exhausted", "POST", "/testns/b", {**BINARY, "ce-knativebrokerttl": "1"}, b"{}", 400,
     "knativebrokerttl"),
    ("ttl not a number", "POST", "/testns/b", {**BINARY, "ce-knativebrokerttl": "x"}, b"{}", 400,
     "knativebrokerttl"),
    ("unknown broker", "POST", "/testns/nope", BINARY, b"{}", 404, ""),
    ("no broker", "POST", "/", BINARY, b"{}", 404, ""),
    ("GET", "GET", "/testns/b", {}, b"", 405, "POST"),
    ("PUT", "PUT", "/testns/b", BINARY, b"{}", 405, "POST"),
    ("OPTIONS", "OPTIONS", "/testns/b", {}, b"", 200, ""),
    # Knative's data-plane probe: 200 on a broker served, 404 elsewhere; not counted.
    ("probe", "GET", "/testns/b", {"K-Network-Probe": "probe"}, b"", 200, ""),
    ("probe, unknown broker", "GET", "/testns/nope", {"K-Network-Probe": "probe"}, b"", 404, ""),
    ("GET, another probe", "GET", "/testns/b", {"K-Network-Probe": "queue"}, b"", 405, "POST"),
    ("too large", "POST", "/testns/b", BINARY, b"x" * 2048, 413, "larger"),
]  # fmt: skip


async def test_every_kind_of_request_gets_its_answer(memory_tools: Any) -> None:
    async with RecordingSink() as sink:
        trigger = {"name": "all", "subscriber": sink.url}
        memory_tools.write_contract([{"namespace": "testns", "name": "b", "triggers": [trigger]}])
        async with memory_tools.process(BROKER_MAX_BODY_BYTES="1024") as process:
            await memory_tools.ready(process, triggers=1)
            for case, method, path, headers, body, status, reason in CASES:
                got, answer_headers, text = await memory_tools.post(
                    process, path, method=method, headers=headers, body=body
                )
                assert got == status, (case, text)
                assert reason.encode() in text, (case, text)
                if status == 405 or method == "OPTIONS":
                    assert answer_headers["Allow"] == "POST, OPTIONS", case
            await sink.wait_for(3)
            await memory_tools.wait_finished(process, "testns/all", 3)
            answered_200 = await memory_tools.metric(
                process, "springhead_broker_ingress_requests_total", broker="testns/b", status="200"
            )
    assert answered_200 == 1  # OPTIONS; the probe is not a request
    assert sorted(memory_tools.ids(sink)) == ["e1", "e2", "s1"]  # only the accepted ones
    [timed] = [r for r in sink.accepted if r.event.get_id() == "e2"]
    assert timed.header("ce-time") == "2018-04-05T03:56:24Z"


async def _raw_post(port: int, head: bytes) -> tuple[int, bytes]:
    """POST ``head`` (header lines) and a one-byte body as sent, byte for byte (aiohttp would
    neither repeat a header nor send bytes that are not UTF-8); status and body of the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /testns/b HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n"
        + head
        + b"\r\n{}"
    )
    await writer.drain()
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    return int(answer.split()[1]), answer.rpartition(b"\r\n\r\n")[2]


RAW = b"ce-specversion: 1.0\r\nce-type: t\r\ncontent-type: application/json\r\n"


async def test_a_repeated_or_undecodable_event_header_is_refused_and_counted(
    memory_tools: Any,
) -> None:
    async with RecordingSink() as sink:
        trigger = {"name": "all", "subscriber": sink.url}
        memory_tools.write_contract([{"namespace": "testns", "name": "b", "triggers": [trigger]}])
        async with memory_tools.process() as process:
            await memory_tools.ready(process, triggers=1)
            assert process.port is not None
            answers = [
                # Header names are case-insensitive: Ce-Id and CE-ID are the same header.
                await _raw_post(process.port, RAW + b"Ce-Id: a\r\nce-source: /s\r\nCE-ID: b\r\n"),
                await _raw_post(process.port, RAW + b"ce-id: c\r\nce-source: /caf\xe9\r\n"),
                await _raw_post(process.port, RAW + b"ce-id: ok\r\nce-source: /s\r\n"),
            ]
            await sink.wait_for(1)
            await memory_tools.wait_finished(process, "testns/all", 1)
            refused = await memory_tools.metric(
                process, "springhead_broker_ingress_requests_total", broker="testns/b", status="400"
            )
            accepted = await memory_tools.metric(
                process, "springhead_broker_ingress_requests_total", broker="testns/b", status="202"
            )
    assert answers == [
        (400, b"header ce-id appears more than once; send it once\n"),
        (400, b"header ce-source is not valid UTF-8\n"),
        (202, b""),
    ]
    assert memory_tools.ids(sink) == ["ok"]
    assert (refused, accepted) == (2, 1)


async def test_a_broker_added_to_the_contract_is_served_without_a_restart(
    memory_tools: Any,
) -> None:
    memory_tools.write_contract([{"namespace": "testns", "name": "first"}])
    async with memory_tools.process() as process:
        await process.wait_for_log("contract applied")
        assert (await memory_tools.post(process, "/testns/later", headers=BINARY))[0] == 404
        memory_tools.write_contract(
            [{"namespace": "testns", "name": "first"}, {"namespace": "testns", "name": "later"}]
        )
        await memory_tools.wait_for_logs(process, "contract applied", 2)
        status, _, _ = await memory_tools.post(process, "/testns/later", headers=BINARY, body=b"{}")
        assert status == 202
        memory_tools.write_contract([{"namespace": "testns", "name": "later"}])
        await memory_tools.wait_for_logs(process, "contract applied", 3)
        assert (await memory_tools.post(process, "/testns/first", headers=BINARY))[0] == 404


@pytest.mark.parametrize(
    "contract, reason",
    [
        ("{", "contract"),
        ('{"brokers": [{"namespace": "n"}]}', "name"),
        ('{"brokers": [{"namespace": "n", "name": "b", "triggers": [{"name": "t", '
         '"subscriber": "http://x/", "filters": [{"cesql": "a = "}]}]}]}', "cesql"),
        ('{"brokers": [{"namespace": "n", "name": "b", "triggers": [{"name": "t", '
         '"subscriber": "not-a-url"}]}]}', "absolute"),
    ],
)  # fmt: skip
async def test_a_bad_contract_file_stops_start_up_naming_it(
    memory_tools: Any, contract: str, reason: str
) -> None:
    memory_tools.contract_path.write_text(contract)
    process = memory_tools.process()
    with pytest.raises(RuntimeError, match="exited with 2") as failure:
        await process.start()
    assert "BROKER_CONTRACT_FILE" in str(failure.value) and reason in str(failure.value)


async def test_stored_as_a_binary_mode_record_keyed_by_partitionkey(
    kafka_tools: Any, kafka_admin: Any, kafka: Any
) -> None:
    name = kafka_tools.unique("ingress")
    topic = kafka_admin(f"knative-broker-testns-{name}", 2)
    kafka_tools.write_contract([{"namespace": "testns", "name": name}])
    async with kafka_tools.process(BROKER_ROLE="ingress") as process:
        await process.wait_for_log("contract applied")
        headers = {**BINARY, "ce-partitionkey": "order-7", "ce-flag": "true"}
        status, _, _ = await kafka_tools.post(
            process, f"/testns/{name}", headers=headers, body=b'{"a": 1}'
        )
        assert status == 202
        status, _, _ = await kafka_tools.post(
            process, f"/testns/{name}", headers={**CE_JSON}, body=STRUCTURED
        )
        assert status == 202
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka.bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    try:
        records: list[Any] = []
        while len(records) < 2:
            batches = await consumer.getmany(timeout_ms=10_000)
            assert batches, "the two records were not in the topic"
            records.extend(r for batch in batches.values() for r in batch)
    finally:
        await consumer.stop()
    by_id = {dict(r.headers)["ce_id"]: r for r in records}
    binary = by_id[b"e1"]
    assert binary.key == b"order-7"
    assert binary.value == b'{"a": 1}'
    stored = dict(binary.headers)
    assert stored["ce_type"] == b"t" and stored["content-type"] == b"application/json"
    assert stored["ce_partitionkey"] == b"order-7" and stored["ce_flag"] == b"true"
    assert stored["ce_knativebrokerttl"] == b"255"
    assert stored["ce_knativearrivaltime"].endswith(b"Z")
    structured = by_id[b"s1"]
    assert structured.key is None
    assert json.loads(structured.value) == {"a": 1}
    assert dict(structured.headers)["content-type"] == b"application/json"


async def test_503_with_retry_after_while_kafka_is_stopped_then_202_again(
    kafka_tools: Any, kafka_admin: Any, kafka: Any
) -> None:
    name = kafka_tools.unique("down")
    kafka_admin(f"knative-broker-testns-{name}", 1)
    kafka_tools.write_contract([{"namespace": "testns", "name": name}])
    async with kafka_tools.process(
        BROKER_ROLE="ingress", BROKER_PRODUCE_TIMEOUT="PT2S", BROKER_RETRY_AFTER="7"
    ) as process:
        await process.wait_for_log("contract applied")
        path = f"/testns/{name}"
        assert (await kafka_tools.post(process, path, headers=BINARY, body=b"{}"))[0] == 202
        kafka.stop()
        status, headers, text = await kafka_tools.post(process, path, headers=BINARY, body=b"{}")
        assert (status, headers.get("Retry-After")) == (503, "7"), text
        # Still a caller's mistake first: the body is checked before Kafka is asked.
        assert (await kafka_tools.post(process, path, headers={}, body=b"x"))[0] == 400
        kafka.start()
        status, _, text = await kafka_tools.post(process, path, headers=BINARY, body=b"{}")
        assert status == 202, text
