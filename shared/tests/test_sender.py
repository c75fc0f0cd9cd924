"""The sender against a real HTTP sink on loopback: encoding, retries, Retry-After, timeouts,
dead letters, TLS and tokens."""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import subprocess
from pathlib import Path

import pytest
from cloudevents.core.v1.event import CloudEvent
from springhead.config import BackoffPolicy, ContentMode
from springhead.delivery import DeliveryPolicy
from springhead.sender import DeliveryOutcome, Sender, SinkTarget
from springhead_testing import RecordingSink

FAST = DeliveryPolicy(retry=3, backoff_policy=BackoffPolicy.LINEAR, backoff_delay=0.001)


def make_event(**extra: object) -> CloudEvent:
    attributes: dict[str, object] = {
        "type": "dev.example.test",
        "source": "/tests",
        "id": "event-1",
        "datacontenttype": "application/json",
        **extra,
    }
    return CloudEvent(attributes, b'{"hello": "world"}')


async def test_binary_mode_headers_and_raw_body(sink: RecordingSink) -> None:
    async with Sender(sink=sink.url, namespace="team-a") as sender:
        result = await sender.send(make_event(subject="s1"))
    assert result.outcome is DeliveryOutcome.DELIVERED and result.attempts == 1
    [request] = sink.accepted
    assert request.header("ce-type") == "dev.example.test"
    assert request.header("ce-source") == "/tests"
    assert request.header("ce-id") == "event-1"
    assert request.header("ce-specversion") == "1.0"
    assert request.header("ce-subject") == "s1"
    assert request.header("Content-Type") == "application/json"
    assert request.header("Kn-Namespace") == "team-a"
    assert request.body == b'{"hello": "world"}'


async def test_a_target_sends_to_its_own_sink_namespace_and_overrides(sink: RecordingSink) -> None:
    async with (
        RecordingSink() as other,
        Sender(sink=sink.url, namespace="team-a", overrides={"team": "a"}) as sender,
    ):
        target = SinkTarget(other.url, namespace="team-b", overrides={"tier": "2"})
        assert (await sender.send(make_event(), target)).outcome is DeliveryOutcome.DELIVERED
        await sender.send(make_event(id="event-2"))
        [request] = other.accepted
    assert request.header("Kn-Namespace") == "team-b"
    assert request.header("ce-tier") == "2" and request.header("ce-team") is None
    [own] = sink.accepted
    assert own.header("Kn-Namespace") == "team-a" and own.header("ce-team") == "a"


async def test_a_target_failing_is_dead_lettered_with_its_own_sink_named(
    sink: RecordingSink,
) -> None:
    async with RecordingSink() as failing:
        failing.fail_next(10, status=500)
        policy = DeliveryPolicy(retry=1, backoff_delay=0.001, dead_letter_sink=sink.url)
        async with Sender(sink="http://127.0.0.1:9/unused", policy=policy) as sender:
            result = await sender.send(make_event(), SinkTarget(failing.url, namespace="x"))
    assert result.outcome is DeliveryOutcome.DEAD_LETTERED
    [dead] = sink.accepted
    assert dead.header("ce-knativeerrordest") == failing.url
    assert dead.header("Kn-Namespace") == "x"


async def test_no_datacontenttype_means_no_content_type(sink: RecordingSink) -> None:
    event = CloudEvent({"type": "dev.example.test", "source": "/tests", "id": "e"}, b"\x00raw")
    async with Sender(sink=sink.url) as sender:
        await sender.send(event)
    [request] = sink.accepted
    assert request.header("Content-Type") is None  # aiohttp would add application/octet-stream
    assert request.body == b"\x00raw"


async def test_structured_mode(sink: RecordingSink) -> None:
    async with Sender(sink=sink.url, content_mode=ContentMode.STRUCTURED) as sender:
        await sender.send(make_event())
    [request] = sink.accepted
    assert request.header("Content-Type") == "application/cloudevents+json"
    envelope = json.loads(request.body)
    assert envelope["type"] == "dev.example.test" and envelope["id"] == "event-1"
    assert base64.b64decode(envelope["data_base64"]) == b'{"hello": "world"}'
    assert request.header("ce-id") is None


async def test_overrides_add_and_overwrite_extensions(sink: RecordingSink) -> None:
    overrides = {"team": "blue", "region": "eu"}
    async with Sender(sink=sink.url, overrides=overrides) as sender:
        await sender.send(make_event(region="us", other="kept"))
    event = sink.events[0]
    assert event.get_extension("team") == "blue"
    assert event.get_extension("region") == "eu"
    assert event.get_extension("other") == "kept"


@pytest.mark.parametrize("status", [500, 502, 503, 404, 408, 409, 429])
async def test_retryable_statuses_are_retried(sink: RecordingSink, status: int) -> None:
    sink.fail_next(2, status=status)
    async with Sender(sink=sink.url, policy=FAST) as sender:
        result = await sender.send(make_event())
    assert result.outcome is DeliveryOutcome.DELIVERED
    assert result.attempts == 3
    assert [r.status for r in sink.requests] == [status, status, 202]
    assert len({r.header("ce-id") for r in sink.requests}) == 1
    assert sender.metrics.retries.labels("dev.example.test")._value.get() == 2


@pytest.mark.parametrize("status", [400, 401, 403, 413, 301, 307])
async def test_other_statuses_are_not_retried(sink: RecordingSink, status: int) -> None:
    sink.fail_next(1, status=status, headers={"Location": "http://127.0.0.1:9/"})
    async with Sender(sink=sink.url, policy=FAST) as sender:
        result = await sender.send(make_event())
    assert result.outcome is DeliveryOutcome.FAILED
    assert result.status == status and result.attempts == 1
    assert len(sink.requests) == 1


async def test_retries_stop_after_retry_count(sink: RecordingSink) -> None:
    sink.respond_with(status=500)
    async with Sender(sink=sink.url, policy=FAST) as sender:
        result = await sender.send(make_event())
    assert result.outcome is DeliveryOutcome.FAILED
    assert result.attempts == 4 and len(sink.requests) == 4
    failed = sender.metrics.events_sent.labels("dev.example.test", "failed")._value.get()
    assert failed == 1


async def test_dropped_connections_are_retried(sink: RecordingSink) -> None:
    sink.fail_next(2, drop=True)
    async with Sender(sink=sink.url, policy=FAST) as sender:
        result = await sender.send(make_event())
    assert result.outcome is DeliveryOutcome.DELIVERED
    assert [r.status for r in sink.requests] == [None, None, 202]


async def test_connection_refused_is_retried_then_fails() -> None:
    async with RecordingSink() as gone:
        url = gone.url
    async with Sender(sink=url, policy=FAST) as sender:
        result = await sender.send(make_event())
    assert result.outcome is DeliveryOutcome.FAILED
    assert result.status is None and result.attempts == 4
    assert result.error is not None


async def test_retry_after_is_honoured(sink: RecordingSink) -> None:
    # The backoff alone would wait an hour; only honouring Retry-After: 0 lets this finish.
    policy = DeliveryPolicy(retry=1, backoff_delay=3600.0)
    sink.fail_next(1, status=429, headers={"Retry-After": "0"})
    async with Sender(sink=sink.url, policy=policy) as sender:
        async with asyncio.timeout(60):
            result = await sender.send(make_event())
    assert result.outcome is DeliveryOutcome.DELIVERED and result.attempts == 2


async def test_retry_after_is_capped_by_retry_after_max(sink: RecordingSink) -> None:
    policy = DeliveryPolicy(retry=1, backoff_delay=3600.0, retry_after_max=0.001)
    sink.fail_next(1, status=503, headers={"Retry-After": "3600"})
    async with Sender(sink=sink.url, policy=policy) as sender:
        async with asyncio.timeout(60):
            result = await sender.send(make_event())
    assert result.outcome is DeliveryOutcome.DELIVERED and result.attempts == 2


async def test_attempt_timeout_counts_as_no_response(sink: RecordingSink) -> None:
    gate = asyncio.Event()
    sink.fail_next(1, status=202, gate=gate)
    policy = DeliveryPolicy(retry=1, backoff_delay=0.001, timeout=0.05)
    async with Sender(sink=sink.url, policy=policy) as sender:
        result = await sender.send(make_event())
    gate.set()
    assert result.outcome is DeliveryOutcome.DELIVERED and result.attempts == 2
    await sink.wait_for_requests(2)


async def test_exhausted_event_goes_to_dead_letter_sink_with_error_extensions(
    sink: RecordingSink,
) -> None:
    error_body = b"x" * 1500
    sink.respond_with(status=500, body=error_body)
    async with RecordingSink() as dls:
        policy = DeliveryPolicy(retry=1, backoff_delay=0.001, dead_letter_sink=dls.url)
        async with Sender(sink=sink.url, policy=policy) as sender:
            result = await sender.send(make_event())
        assert result.outcome is DeliveryOutcome.DEAD_LETTERED and result.accepted
        [dead] = dls.events
    assert dead.get_id() == "event-1"
    assert dead.get_data() == {"hello": "world"}
    assert dead.get_extension("knativeerrordest") == sink.url
    assert dead.get_extension("knativeerrorcode") == "500"
    assert base64.b64decode(dead.get_extension("knativeerrordata")) == error_body[:1024]
    assert sender.metrics.dead_lettered.labels("dev.example.test")._value.get() == 1


async def test_non_retryable_failure_is_dead_lettered_at_once(sink: RecordingSink) -> None:
    sink.respond_with(status=400, body=b"bad event")
    async with RecordingSink() as dls:
        policy = DeliveryPolicy(retry=5, backoff_delay=3600.0, dead_letter_sink=dls.url)
        async with Sender(sink=sink.url, policy=policy) as sender:
            result = await sender.send(make_event())
        assert result.outcome is DeliveryOutcome.DEAD_LETTERED
        assert dls.events[0].get_extension("knativeerrorcode") == "400"
    assert len(sink.requests) == 1


async def test_failing_dead_letter_sink_means_failed(sink: RecordingSink) -> None:
    sink.respond_with(status=500)
    async with RecordingSink() as dls:
        dls.respond_with(status=500)
        policy = DeliveryPolicy(retry=0, dead_letter_sink=dls.url)
        async with Sender(sink=sink.url, policy=policy) as sender:
            result = await sender.send(make_event())
    assert result.outcome is DeliveryOutcome.FAILED and not result.accepted


async def test_bearer_token_read_from_file_on_each_delivery(
    sink: RecordingSink, tmp_path: Path
) -> None:
    token = tmp_path / "token"
    token.write_text("first\n")
    async with Sender(sink=sink.url, token_file=str(token)) as sender:
        await sender.send(make_event())
        token.write_text("rotated")
        await sender.send(make_event())
    assert [r.header("Authorization") for r in sink.accepted] == ["Bearer first", "Bearer rotated"]


async def test_pooled_keep_alive_connection(sink: RecordingSink) -> None:
    async with Sender(sink=sink.url) as sender:
        for _ in range(5):
            await sender.send(make_event())
    assert all(r.header("Connection") != "close" for r in sink.accepted)
    assert len(sink.accepted) == 5


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A throwaway CA and a serving certificate for 127.0.0.1, made with openssl."""
    folder = tmp_path_factory.mktemp("tls")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=test-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    )
    openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    )
    (folder / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "ext.cnf",
        "-out",
        "server.pem",
    )
    return {"ca": folder / "ca.pem", "cert": folder / "server.pem", "key": folder / "server.key"}


async def test_https_sink_trusted_through_k_ca_certs(tls_files: dict[str, Path]) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls_files["cert"], tls_files["key"])
    async with RecordingSink(ssl_context=context) as https_sink:
        assert https_sink.url.startswith("https://")
        async with Sender(sink=https_sink.url, ca_certs=tls_files["ca"].read_text()) as sender:
            result = await sender.send(make_event())
        assert result.outcome is DeliveryOutcome.DELIVERED
        # Without the CA the certificate is not trusted: a transport error, never delivered.
        async with Sender(sink=https_sink.url, policy=DeliveryPolicy(retry=0)) as untrusting:
            refused = await untrusting.send(make_event())
        assert refused.outcome is DeliveryOutcome.FAILED
        assert refused.error is not None and "SSL" in refused.error.upper()
    assert len(https_sink.accepted) == 1


async def test_concurrent_sends_and_drain(sink: RecordingSink) -> None:
    gate = asyncio.Event()
    sink.respond_with(status=202, gate=gate)
    async with Sender(sink=sink.url) as sender:
        tasks = [asyncio.create_task(sender.send(make_event(id=f"e{i}"))) for i in range(10)]
        await sink.wait_held(10)
        assert sender.in_flight == 10
        assert not await sender.drain(0.01)
        gate.set()
        assert await sender.drain(30)
        results = await asyncio.gather(*tasks)
    assert all(r.outcome is DeliveryOutcome.DELIVERED for r in results)
    assert sorted(e.get_id() for e in sink.events) == sorted(f"e{i}" for i in range(10))


async def test_a_2xx_body_comes_back_as_the_reply(sink: RecordingSink) -> None:
    sink.fail_next(1, status=200, headers={"ce-id": "r1"}, body=b"answer")
    sink.fail_next(1, status=503)
    sink.fail_next(1, status=200, body=b"after a retry")
    async with Sender(sink=sink.url, policy=FAST) as sender:
        replied = await sender.send(make_event())
        retried = await sender.send(make_event())
        empty = await sender.send(make_event())
    assert replied.reply is not None and replied.reply.body == b"answer"
    assert replied.reply.headers["ce-id"] == "r1"
    assert retried.reply is not None and retried.reply.body == b"after a retry"
    assert retried.attempts == 2
    assert empty.outcome is DeliveryOutcome.DELIVERED and empty.reply is None


async def test_senders_can_share_one_set_of_delivery_metrics(sink: RecordingSink) -> None:
    from springhead.metrics import DeliveryMetrics, Metrics

    metrics = Metrics()
    shared = DeliveryMetrics(metrics.registry)
    async with (
        Sender(sink=sink.url, delivery_metrics=shared) as one,
        Sender(sink=sink.url, delivery_metrics=shared) as two,
    ):
        await one.send(make_event())
        await two.send(make_event())
    assert one.metrics is two.metrics is shared
    sent = metrics.registry.get_sample_value(
        "springhead_events_sent_total", {"type": "dev.example.test", "outcome": "delivered"}
    )
    assert sent == 2


async def test_a_received_event_with_a_text_time_is_dead_lettered(sink: RecordingSink) -> None:
    from springhead.events import trusted_event

    # As a webhook or the broker's ingress receives it: attributes in the binding's string form.
    received = trusted_event(
        {"specversion": "1.0", "id": "r", "source": "/s", "type": "t",
         "time": "2018-04-05T03:56:24Z"},
        b"x",
    )  # fmt: skip
    async with RecordingSink() as dls:
        sink.respond_with(status=400)
        policy = DeliveryPolicy(retry=0, dead_letter_sink=dls.url)
        async with Sender(sink=sink.url, policy=policy) as sender:
            result = await sender.send(received)
        assert result.outcome is DeliveryOutcome.DEAD_LETTERED
        [dead] = dls.accepted
    assert dead.header("ce-time") == "2018-04-05T03:56:24Z"
    assert dead.header("ce-knativeerrorcode") == "400"
