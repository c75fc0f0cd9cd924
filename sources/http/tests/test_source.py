"""The HTTP source as a real process between a real client and the real loopback sink."""

from __future__ import annotations

import asyncio
import base64
import json
import signal
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from springhead.asgi import MAX_HEAD_BYTES
from springhead.webhook import sign
from springhead_testing import RecordingSink, SourceProcess, adapter_env
from springhead_testing.conformance import http_binding_cases
from springhead_testing.slow_clients import open_slow_clients, rss_bytes

DATA = Path(__file__).parent / "data"


@pytest_asyncio.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def http_source(sink: RecordingSink, **env: str) -> SourceProcess:
    return SourceProcess(
        "springhead_http", adapter_env(sink.url, **{"WEBHOOK_PATH": "/hook", **env})
    )


async def post(
    client: aiohttp.ClientSession,
    source: SourceProcess,
    body: bytes = b"x",
    headers: dict[str, str] | None = None,
    path: str = "/hook",
    method: str = "POST",
) -> tuple[int, str, dict[str, str]]:
    url = f"http://127.0.0.1:{source.port}{path}"
    async with client.request(method, url, data=body, headers=headers or {}) as response:
        return response.status, await response.text(), dict(response.headers)


# --- CloudEvents conformance (HTTP binding) ---------------------------------------------------


CASES = http_binding_cases(DATA / "http-protocol-binding.feature")


def test_the_feature_file_yields_the_four_documented_cases() -> None:
    assert len(CASES) == 4


@pytest.mark.parametrize(("name", "raw", "attributes", "data"), CASES, ids=[c[0] for c in CASES])
async def test_conformance_cases_pass_through_intact(
    sink: RecordingSink,
    client: aiohttp.ClientSession,
    name: str,
    raw: str,
    attributes: dict[str, str],
    data: object,
) -> None:
    head, _, body = raw.partition("\n\n")
    request_line, *header_lines = head.splitlines()
    path = request_line.split()[1]
    headers = dict(line.split(": ", 1) for line in header_lines)
    for hop in ("Host", "Content-Length"):
        headers.pop(hop, None)
    async with http_source(sink, WEBHOOK_PATH=path) as source:
        status, _, _ = await post(client, source, body.encode(), headers, path=path)
        assert status == 202
    [event] = sink.events
    received = event.get_attributes()
    for key, value in attributes.items():
        if key == "time":
            assert received["time"] == datetime.fromisoformat(value)
        else:
            assert received[key] == value, key
    payload = event.get_data()
    assert (json.loads(payload) if isinstance(payload, bytes | str) else payload) == data


# --- statuses and authentication ---------------------------------------------------------------


async def test_plain_post_forwarded_byte_for_byte(
    sink: RecordingSink, client: aiohttp.ClientSession
) -> None:
    body = bytes(range(256))
    async with http_source(sink) as source:
        status, _, _ = await post(
            client, source, body, {"Content-Type": "application/octet-stream"}
        )
    assert status == 202
    [request] = sink.accepted
    assert request.body == body
    assert request.header("ce-type") == "dev.springhead.sources.http"


async def test_wrong_method_and_path(sink: RecordingSink, client: aiohttp.ClientSession) -> None:
    async with http_source(sink) as source:
        assert (await post(client, source, method="GET"))[0] == 405
        assert (await post(client, source, method="PUT"))[0] == 405
        assert (await post(client, source, path="/elsewhere"))[0] == 404
    assert sink.requests == []


async def test_oversize_body_gets_413(sink: RecordingSink, client: aiohttp.ClientSession) -> None:
    async with http_source(sink, WEBHOOK_MAX_BODY_BYTES="1000") as source:
        assert (await post(client, source, b"x" * 1001))[0] == 413
        assert (await post(client, source, b"x" * 1000))[0] == 202

        async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: the limit still holds
            for _ in range(11):
                yield b"y" * 100

        assert (await post(client, source, chunked()))[0] == 413  # type: ignore[arg-type]
    assert [r.body for r in sink.requests] == [b"x" * 1000]


async def test_malformed_cloudevent_gets_400_with_reason(
    sink: RecordingSink, client: aiohttp.ClientSession
) -> None:
    async with http_source(sink) as source:
        status, text, _ = await post(
            client, source, b"{oops", {"Content-Type": "application/cloudevents+json"}
        )
        assert status == 400 and "not JSON" in text
        status, text, _ = await post(
            client, source, b"", {"ce-specversion": "1.0", "ce-type": "t", "ce-source": "/s"}
        )
        assert (status, text) == (
            400,
            "malformed CloudEvent: attribute id: required, and missing\n",
        )
    assert sink.requests == []


async def test_bearer_token(sink: RecordingSink, client: aiohttp.ClientSession) -> None:
    async with http_source(sink, WEBHOOK_BEARER_TOKEN="s3cret") as source:
        status, _, headers = await post(client, source)
        assert status == 401 and headers["WWW-Authenticate"] == "Bearer"
        assert (await post(client, source, headers={"Authorization": "Bearer wrong"}))[0] == 403
        assert (await post(client, source, headers={"Authorization": "Basic czNjcmV0"}))[0] == 401
        assert (await post(client, source, headers={"Authorization": "Bearer s3cret"}))[0] == 202
    assert len(sink.requests) == 1
    assert sink.accepted[0].header("Authorization") is None


async def test_basic_auth(sink: RecordingSink, client: aiohttp.ClientSession) -> None:
    def basic(user: str, password: str) -> dict[str, str]:
        return {
            "Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        }

    env = {"WEBHOOK_BASIC_USER": "hook", "WEBHOOK_BASIC_PASSWORD": "pw"}
    async with http_source(sink, **env) as source:
        assert (await post(client, source))[0] == 401
        assert (await post(client, source, headers=basic("hook", "nope")))[0] == 403
        assert (await post(client, source, headers={"Authorization": "Basic !!!"}))[0] == 401
        assert (await post(client, source, headers=basic("hook", "pw")))[0] == 202
    assert len(sink.requests) == 1


async def test_hmac_signature(sink: RecordingSink, client: aiohttp.ClientSession) -> None:
    body = b'{"order": 17}'
    async with http_source(sink, HTTP_HMAC_SECRET="k3y") as source:
        assert (await post(client, source, body))[0] == 401
        wrong = {"X-Signature-256": sign("other", body)}
        assert (await post(client, source, body, wrong))[0] == 403
        tampered = {"X-Signature-256": sign("k3y", body)}
        assert (await post(client, source, body + b" ", tampered))[0] == 403
        assert (await post(client, source, body, tampered))[0] == 202
    assert [r.body for r in sink.requests] == [body]


async def test_rate_limit_answers_429_with_retry_after(
    sink: RecordingSink, client: aiohttp.ClientSession
) -> None:
    async with http_source(sink, WEBHOOK_RATE_LIMIT="0.001", WEBHOOK_RATE_BURST="2") as source:
        assert (await post(client, source))[0] == 202
        assert (await post(client, source))[0] == 202
        status, _, headers = await post(client, source)
    assert status == 429 and int(headers["Retry-After"]) >= 1
    assert len(sink.requests) == 2


async def test_requests_beyond_max_in_flight_get_503_and_health_still_answers(
    sink: RecordingSink, client: aiohttp.ClientSession
) -> None:
    gate = asyncio.Event()
    sink.respond_with(status=202, gate=gate)  # a slow sink: holds every answer
    env = {"WEBHOOK_MAX_IN_FLIGHT": "2", "WEBHOOK_RETRY_AFTER": "9"}
    async with http_source(sink, **env) as source:
        held = [
            asyncio.create_task(post(client, source, body, {"Idempotency-Key": body.decode()}))
            for body in (b"one", b"two")
        ]
        await sink.wait_held(2)
        status, text, headers = await post(client, source, b"three")
        health = await post(client, source, b"", path="/healthz", method="GET")
        ready = await post(client, source, b"", path="/readyz", method="GET")
        gate.set()
        results = await asyncio.gather(*held)
        after = await post(client, source, b"four", {"Idempotency-Key": "four"})
    assert (status, headers["Retry-After"]) == (503, "9")
    assert "WEBHOOK_MAX_IN_FLIGHT" in text
    assert (health[0], ready[0]) == (200, 200)  # probes are not requests in flight
    assert [r[0] for r in results] == [202, 202] and after[0] == 202
    assert sorted(r.header("ce-id") or "" for r in sink.accepted) == ["four", "one", "two"]


# --- the sink failing, restarts ------------------------------------------------------------


async def test_sink_down_then_back(sink: RecordingSink, client: aiohttp.ClientSession) -> None:
    env = {
        "SPRINGHEAD_DELIVERY_RETRY": "1",
        "SPRINGHEAD_DELIVERY_BACKOFF_DELAY": "PT0.001S",
        "WEBHOOK_RETRY_AFTER": "7",
    }
    async with http_source(sink, **env) as source:
        sink.respond_with(status=503)
        status, _, headers = await post(client, source, b"first", {"Idempotency-Key": "k1"})
        assert status == 503 and headers["Retry-After"] == "7"
        sink.respond_with(status=202)
        status, _, _ = await post(client, source, b"first", {"Idempotency-Key": "k1"})
        assert status == 202
    assert [r.status for r in sink.requests] == [503, 503, 202]
    assert [r.header("ce-id") for r in sink.accepted] == ["k1"]


async def test_sigterm_during_a_burst_loses_no_accepted_event(
    sink: RecordingSink, client: aiohttp.ClientSession
) -> None:
    gate = asyncio.Event()
    sink.respond_with(status=202, gate=gate)
    async with http_source(sink) as source:
        posts = [
            asyncio.create_task(
                post(client, source, f"e{i}".encode(), {"Idempotency-Key": f"e{i}"})
            )
            for i in range(20)
        ]
        await sink.wait_held(20)
        source.signal(signal.SIGTERM)
        await until_draining(client, source)
        late = await post(client, source, b"late")
        gate.set()
        results = await asyncio.gather(*posts)
        assert await source.wait() == 0
    assert late[0] == 503 and late[2]["Retry-After"] == "5"
    accepted = {f"e{i}" for i, (status, _, _) in enumerate(results) if status == 202}
    assert accepted == {f"e{i}" for i in range(20)}
    assert {r.header("ce-id") for r in sink.accepted} == accepted
    assert "Traceback" not in source.stderr_text()


async def test_grace_running_out_asks_accepted_callers_to_redeliver_without_a_traceback(
    sink: RecordingSink, client: aiohttp.ClientSession
) -> None:
    gate = asyncio.Event()
    sink.respond_with(status=202, gate=gate)  # the sink answers only after the source is gone
    env = {"SPRINGHEAD_SHUTDOWN_GRACE": "PT0.3S", "WEBHOOK_RETRY_AFTER": "7"}
    async with http_source(sink, **env) as source:
        posts = [asyncio.create_task(post(client, source, b"held")) for _ in range(3)]
        await sink.wait_held(3)
        source.signal(signal.SIGTERM)
        assert await source.wait() == 1
        results = await asyncio.gather(*posts)
    gate.set()
    assert [(status, headers["Retry-After"]) for status, _, headers in results] == [(503, "7")] * 3
    over = await source.wait_for_log("grace period over with deliveries in flight")
    assert over["requests"] == 3
    assert "Traceback" not in source.stderr_text()


async def until_draining(client: aiohttp.ClientSession, source: SourceProcess) -> None:
    """Return once the source's signal handler ran: /healthz answers 503 from then on."""
    while (await post(client, source, path="/healthz", method="GET"))[0] == 200:
        pass


async def test_credentials_with_non_utf8_bytes_are_refused_not_a_crash(sink: RecordingSink) -> None:
    env = {"WEBHOOK_BEARER_TOKEN": "tok", "HTTP_HMAC_SECRET": "k"}
    requests = [
        b"Authorization: Bearer \xff\xfe\r\n",
        b"Authorization: Bearer tok\r\nX-Signature-256: sha256=\xff\r\n",
    ]
    answers = []
    async with http_source(sink, **env) as source:
        for headers in requests:
            reader, writer = await asyncio.open_connection("127.0.0.1", source.port)
            writer.write(
                b"POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nConnection: close\r\n"
                + headers
                + b"\r\nx"
            )
            await writer.drain()
            answer = await reader.read()
            answers.append((int(answer.split()[1]), answer.rpartition(b"\r\n\r\n")[2]))
            writer.close()
            await writer.wait_closed()
    assert answers == [
        (400, b"header Authorization is not valid UTF-8\n"),
        (400, b"header X-Signature-256 is not valid UTF-8\n"),
    ]
    assert sink.requests == []


# --- slow clients (slowloris) -----------------------------------------------------------------

SLOW = {
    "WEBHOOK_BEARER_TOKEN": "tok",
    "WEBHOOK_MAX_IN_FLIGHT": "4",
    "SPRINGHEAD_HEAD_TIMEOUT": "PT1S",
    "SPRINGHEAD_BODY_TIMEOUT": "PT1S",
}
AUTHORIZED = {"Authorization": "Bearer tok", "Content-Type": "application/json"}


async def test_slow_clients_hold_no_slot_and_are_disconnected(
    sink: RecordingSink, client: aiohttp.ClientSession
) -> None:
    async with http_source(sink, **SLOW) as source:
        assert source.process is not None
        before = rss_bytes(source.process.pid)
        # six of each kind (more than WEBHOOK_MAX_IN_FLIGHT), without credentials
        slow = await open_slow_clients(source.port, count=6, path="/hook")
        # bearer credentials are decided from the head: the slow bodies were refused before any
        # of them was read, so every slot is free for the caller who has them
        assert (await post(client, source, b'{"n": 1}', AUTHORIZED))[0] == 202
        outcomes = await asyncio.gather(*(each.outcome() for each in slow))
        seen = {(each.kind, status) for each, (status, _) in zip(slow, outcomes, strict=True)}
        assert seen == {
            ("idle", None),  # closed after SPRINGHEAD_HEAD_TIMEOUT, nothing to answer
            ("partial-head", 408),
            ("partial-body", 401),
            ("endless-chunked", 401),
        }
        # with credentials, a slow body does take a slot, and gives it back at the body timeout
        kinds = ("partial-body", "endless-chunked")
        slow = await open_slow_clients(
            source.port, count=6, path="/hook", head=b"Authorization: Bearer tok\r\n", kinds=kinds
        )
        statuses = [status for status, _ in await asyncio.gather(*(s.outcome() for s in slow))]
        assert sorted(statuses) == [408] * 4 + [503] * 8  # four slots; the rest refused at once
        assert (await post(client, source, b'{"n": 2}', AUTHORIZED))[0] == 202
        # heads of 36 connections, four 1 MiB bodies at most, and the allocator's own slack
        assert rss_bytes(source.process.pid) - before < 36 * 64 * 1024 + 4 * 2**20 + 16 * 2**20
    assert [request.body for request in sink.requests] == [b'{"n": 1}', b'{"n": 2}']


async def test_the_head_bound_is_exact_however_the_bytes_arrive(sink: RecordingSink) -> None:
    async def status_for(head_size: int, piece: int) -> int:
        start = b"POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n"
        filler = b"X-Filler: "
        line_end, end = b"\r\n", b"\r\n"
        pad = head_size - len(start) - len(filler) - len(line_end) - len(end)
        head = start + filler + b"f" * pad + line_end + end
        assert len(head) == head_size
        reader, writer = await asyncio.open_connection("127.0.0.1", source.port)
        for at in range(0, len(head), piece):
            writer.write(head[at : at + piece])
            await writer.drain()
        answer = await reader.read()
        writer.close()
        return int(answer.split()[1])

    async with http_source(sink) as source:
        for piece in (1 << 20, 1000, 7):  # one write, many, and many tiny ones
            assert await status_for(MAX_HEAD_BYTES, piece) == 202, piece
            assert await status_for(MAX_HEAD_BYTES + 1, piece) == 431, piece


@pytest.mark.parametrize(
    "header",
    [b"ce-id", b"ce-type", b"ce-specversion", b"ce-source", b"Content-Type", b"Idempotency-Key"],
)
async def test_a_header_read_once_and_sent_twice_is_refused(
    sink: RecordingSink, header: bytes
) -> None:
    head = {
        b"ce-id": b"1",
        b"ce-type": b"t",
        b"ce-specversion": b"1.0",
        b"ce-source": b"/s",
        b"Content-Type": b"text/plain",
    }
    if header == b"Idempotency-Key":  # a plain request: the key becomes the id
        head = {b"Content-Type": b"text/plain"}
    value = head.pop(header, b"k")
    lines = b"".join(b"%s: %s\r\n" % item for item in head.items())
    lines += b"%s: %s\r\n%s: %s\r\n" % (header, value, header, b"other")
    async with http_source(sink) as source:
        reader, writer = await asyncio.open_connection("127.0.0.1", source.port)
        writer.write(
            b"POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nConnection: close\r\n"
            + lines
            + b"\r\nx"
        )
        answer = await reader.read()
        writer.close()
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert header.decode().lower() in answer.rpartition(b"\r\n\r\n")[2].decode().lower()
    assert b"more than once" in answer or b"appears 2 times" in answer, answer
    assert sink.requests == []
