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
from springhead.testing import RecordingSink, SourceProcess, adapter_env

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

    def start(self) -> None:
        self.call(self.sink.start())
        env = adapter_env(
            self.sink.url,
            WEBHOOK_PATH="/hook",
            WEBHOOK_BEARER_TOKEN=TOKEN,
            WEBHOOK_MAX_BODY_BYTES="1024",
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
