"""Property-based: whatever a caller sends, the HTTP source answers with a documented status,
never a 5xx except 503, keeps running, and never forwards an unauthenticated request.

Runs the real source process and the real loopback sink (in a background event loop), driven by
hypothesis through a plain blocking HTTP client.
"""

from __future__ import annotations

import asyncio
import http.client
import string
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from springhead_testing import RecordingSink, SourceProcess, adapter_env
from springhead_testing.raw import exchange, is_text

TOKEN = "t0ken"
TOKEN_CHARS = string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~"
DOCUMENTED = {202, 400, 401, 403, 404, 405, 413, 415, 429, 503}


class Running:
    """An event loop in a thread holding the sink and the source process."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.sink = RecordingSink()
        self.source: SourceProcess | None = None

    def call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=60)

    def start(self, **settings: str) -> None:
        self.call(self.sink.start())
        env = adapter_env(
            self.sink.url,
            WEBHOOK_PATH="/hook",
            WEBHOOK_BEARER_TOKEN=TOKEN,
            WEBHOOK_MAX_BODY_BYTES="1024",
            **settings,
        )
        self.source = self.call(SourceProcess("springhead_http", env).start())

    def stop(self) -> int:
        assert self.source is not None
        status = self.call(self.source.stop())
        self.call(self.sink.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()
        return int(status)


@pytest.fixture(scope="module")
def running() -> Iterator[Running]:
    state = Running()
    state.start()
    yield state
    assert state.stop() == 0


header_names = st.text(TOKEN_CHARS, min_size=1, max_size=20)
header_values = st.text(string.printable.strip("\r\n\x0b\x0c") + " ", max_size=60)
content_types = st.sampled_from(
    [
        "application/cloudevents+json",
        "application/cloudevents-batch+json",
        "application/cloudevents+xml",
        "application/json",
        "text/plain",
        "",
        "a/b; charset=x",
    ]
)
ce_headers = st.dictionaries(
    st.sampled_from(
        [
            "ce-specversion",
            "ce-id",
            "ce-type",
            "ce-source",
            "ce-time",
            "ce-subject",
            "ce-x_y",
            "ce-ok",
        ]
    ),
    st.sampled_from(["1.0", "0.3", "", "x", "2018-04-05T03:56:24Z", "%zz", "/s"]),
)
auth = st.sampled_from([None, f"Bearer {TOKEN}", "Bearer nope", "Basic Zm9vOmJhcg==", "Bearer"])
bodies = st.one_of(
    st.binary(max_size=1500),
    st.sampled_from(
        [
            b'{"specversion":"1.0","id":"1","type":"t","source":"/s"}',
            b"[]",
            b"[{}]",
            b'[{"specversion":"1.0","id":"1","type":"t","source":"/s"}]',
            b"{",
        ]
    ),
)


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    method=st.one_of(
        st.sampled_from(["POST", "GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]),
        st.text(string.ascii_uppercase, min_size=1, max_size=8),
    ),
    path=st.sampled_from(["/hook", "/hook", "/hook", "/", "/hook/x", "/metricsx"]),
    headers=st.dictionaries(header_names, header_values, max_size=5),
    ce=ce_headers,
    content_type=content_types,
    authorization=auth,
    body=bodies,
)
def test_any_request_gets_a_documented_answer(
    running: Running,
    method: str,
    path: str,
    headers: dict[str, str],
    ce: dict[str, str],
    content_type: str,
    authorization: str | None,
    body: bytes,
) -> None:
    assert running.source is not None
    headers = {
        k: v
        for k, v in headers.items()
        if k.lower() not in ("authorization", "content-length", "host", "transfer-encoding")
    }
    headers.update(ce)
    if content_type:
        headers["Content-Type"] = content_type
    if authorization is not None:
        headers["Authorization"] = authorization
    forwarded_before = len(running.sink.requests)
    connection = http.client.HTTPConnection("127.0.0.1", running.source.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        status = response.status
    finally:
        connection.close()
    forwarded = len(running.sink.requests) - forwarded_before
    assert status in DOCUMENTED, status
    assert status < 500 or status == 503
    if authorization != f"Bearer {TOKEN}":
        assert forwarded == 0
        assert status not in (202, 503)
    if status != 202:
        assert forwarded == 0
    assert running.source.process is not None and running.source.process.returncode is None


# --- header bytes of any kind ---------------------------------------------------------------


@pytest.fixture(scope="module", params=["binary", "structured"])
def running_mode(request: pytest.FixtureRequest) -> Iterator[Running]:
    """The source with the sink in binary or in structured content mode."""
    state = Running()
    state.start(SPRINGHEAD_CONTENT_MODE=request.param)
    yield state
    assert state.stop() == 0


read_once = [b"ce-id", b"ce-type", b"ce-source", b"ce-specversion", b"ce-subject", b"ce-ext1"]
read_once += [b"Content-Type", b"Idempotency-Key", b"traceparent", b"tracestate", b"X-Other"]
raw_names = st.one_of(
    st.sampled_from(read_once),
    st.text(string.ascii_letters + string.digits + "-", min_size=1, max_size=12).map(str.encode),
)
#: Any bytes but the line breaks that would end the header (those are the parser's to refuse).
raw_values = st.binary(max_size=24).map(lambda value: value.replace(b"\r", b"").replace(b"\n", b""))


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    headers=st.lists(st.tuples(raw_names, raw_values), max_size=6),
    body=st.sampled_from([b"x", b'{"a": 1}']),
)
def test_any_header_bytes_get_a_4xx_or_arrive_as_valid_text(
    running_mode: Running, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    source = running_mode.source
    assert source is not None and source.port is not None
    lines = b"".join(b"%s: %s\r\n" % (name, value) for name, value in headers)
    request = (
        b"POST /hook HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        + b"Authorization: Bearer %s\r\nContent-Length: %d\r\n" % (TOKEN.encode(), len(body))
        + lines
        + b"\r\n"
        + body
    )
    forwarded_before = len(running_mode.sink.requests)
    answer = exchange(source.port, request)
    status = int(answer.split()[1])
    assert status in DOCUMENTED, answer
    assert status < 500 or status == 503, answer
    forwarded = running_mode.sink.requests[forwarded_before:]
    if status != 202:
        assert forwarded == []
    for received in forwarded:  # what reaches the sink is text, in its headers and its body
        assert all(is_text(value) for value in received.headers.values())
        assert is_text(received.body.decode("utf-8", "surrogatepass"))
        assert all(is_text(str(value)) for value in received.event.get_attributes().values())
    assert source.process is not None and source.process.returncode is None
