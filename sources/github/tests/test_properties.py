"""Property-based tests of the receiver (hypothesis).

Whatever arrives — any method, headers, body — the GitHub source answers with a 4xx or 202
(503 only when the sink fails, which it does not here), never lets an exception out of the handler
(that would be a 500), and forwards nothing that is not signed with the secret.

The receiver runs behind the shared WebhookAdapter on the runtime's real server (uvicorn), with a
real loopback sink, on an event loop in a background thread, so each example is a plain blocking
HTTP request from the test thread. Bounded to a few hundred examples (a few seconds).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cloudevents.core.bindings.http import to_binary
from cloudevents.core.formats.json import JSONFormat
from hypothesis import HealthCheck, given, settings
from hypothesis import event as note
from hypothesis import strategies as st
from springhead.asgi import Server
from springhead.config import load_settings
from springhead.runtime import SourceHost
from springhead.sender import Sender
from springhead.webhook import Rejection, WebhookRequest, sign
from springhead_github.adapter import github_adapter, github_receiver
from springhead_github.config import GitHubSettings
from springhead_testing import ReceivedRequest, RecordingSink
from springhead_testing.raw import exchange, is_text

SECRET = "It's a Secret to Everybody"
PAYLOADS = [p.read_bytes() for p in sorted((Path(__file__).parent / "data/payloads").glob("*/*"))]
ENV = {
    "GITHUB_OWNER_AND_REPOSITORY": "octo-org/octo-repo",
    "GITHUB_EVENT_TYPES": "push,issues,pull_request",
    "GITHUB_WEBHOOK_SECRET": SECRET,
    "SPRINGHEAD_DELIVERY_RETRY": "0",
}


class ServedSource:
    """The GitHub source's webhook handler and a recording sink, served from a background
    thread's event loop."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.sink = RecordingSink()
        self.port = 0
        self._server: Server | None = None
        self._sender: Sender | None = None

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=30)

    async def _start(self) -> None:
        await self.sink.start()
        config = load_settings(GitHubSettings, self.env | {"K_SINK": self.sink.url})
        self._sender = Sender.from_settings(config)
        await self._sender.start()
        self._server = Server(
            "127.0.0.1",
            0,
            github_adapter(config, SourceHost(self._sender.metrics, self._sender)).routes(),
        )
        await self._server.start()
        self.port = self._server.port

    async def _stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
        if self._sender is not None:
            await self._sender.close()
        await self.sink.stop()

    def __enter__(self) -> ServedSource:
        self.thread.start()
        self._call(self._start())
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._call(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)
        self.loop.close()

    def accepted(self) -> int:
        return self._call(self._count())  # type: ignore[no-any-return]

    async def _count(self) -> int:
        return len(self.sink.accepted)

    def last(self) -> ReceivedRequest:
        """The last request the sink accepted."""
        return self.sink.accepted[-1]

    def send(self, method: str, headers: dict[str, str], body: bytes) -> tuple[int, str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, "/", body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.read().decode("utf-8", "replace")
        finally:
            connection.close()


@pytest.fixture(scope="module", params=[False, True], ids=["sha256-only", "sha1-allowed"])
def served(request: pytest.FixtureRequest) -> Iterator[ServedSource]:
    env = ENV | {"GITHUB_ALLOW_SHA1": "true" if request.param else "false"}
    with ServedSource(env) as source:
        yield source


header_text = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=80,
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
bodies = st.one_of(
    st.sampled_from(PAYLOADS),
    st.binary(max_size=512),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.dictionaries(
        st.sampled_from(
            [
                "action",
                "compare",
                "number",
                "pull_request",
                "issue",
                "repository",
                "sender",
                "label",
                "hook_id",
            ]
        ),
        json_values,
        max_size=5,
    ).map(lambda value: json.dumps(value).encode()),
)
event_names = st.one_of(
    st.sampled_from(["push", "issues", "pull_request", "ping"]),  # accepted
    st.sampled_from(["release", "Push", "", " ", "push\t"]),
    header_text,
)
delivery_ids = st.one_of(st.uuids().map(str), header_text)
signature_kinds = st.sampled_from(
    ["wrong-secret", "other-body", "missing", "garbage", "valid-sha1", "valid-and-sha1"]
)
methods = st.one_of(
    st.sampled_from(["GET", "PUT", "DELETE", "PATCH", "OPTIONS"]),
    st.from_regex(r"\A[A-Z]{1,10}\Z"),
)
extra_headers = st.dictionaries(
    st.sampled_from(
        ["Content-Type", "X-Hub-Signature", "User-Agent", "X-Other", "Accept", "Authorization"]
    ),
    header_text,
    max_size=3,
)


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, dict[str, str], bytes]:
    """A proper signed delivery, with each part broken or replaced with some probability (so
    valid, nearly valid and wild requests all occur)."""
    body = draw(st.sampled_from(PAYLOADS))
    if draw(st.booleans()):
        body = draw(bodies)
    headers = {
        "X-GitHub-Event": draw(st.sampled_from(["push", "issues", "pull_request", "ping"])),
        "X-GitHub-Delivery": str(draw(st.uuids())),
        "Content-Type": "application/json",
    }
    if draw(st.booleans()):
        headers |= draw(extra_headers)
    for name, values in (("X-GitHub-Event", event_names), ("X-GitHub-Delivery", delivery_ids)):
        change = draw(st.sampled_from(["keep", "keep", "keep", "drop", "replace"]))
        if change == "drop":
            del headers[name]
        elif change == "replace":
            headers[name] = draw(values)
    method = "POST" if draw(st.integers(0, 5)) else draw(methods)
    kind = "valid" if draw(st.booleans()) else draw(signature_kinds)
    headers |= _signed(kind, body, draw(header_text))
    return method, headers, body


def _signed(kind: str, body: bytes, garbage: str) -> dict[str, str]:
    return {
        "valid": {"X-Hub-Signature-256": sign(SECRET, body)},
        "valid-and-sha1": {
            "X-Hub-Signature-256": sign(SECRET, body),
            "X-Hub-Signature": sign(SECRET, body, "sha1"),
        },
        "valid-sha1": {"X-Hub-Signature": sign(SECRET, body, "sha1")},
        "wrong-secret": {"X-Hub-Signature-256": sign("not it", body)},
        "other-body": {"X-Hub-Signature-256": sign(SECRET, body + b"x")},
        "missing": {},
        "garbage": {"X-Hub-Signature-256": garbage},
    }[kind]


def _authentic(headers: dict[str, str], body: bytes, *, sha1_allowed: bool) -> bool:
    sha256 = headers.get("X-Hub-Signature-256", "").strip()
    if sha256:
        return sha256 == sign(SECRET, body)
    sha1 = headers.get("X-Hub-Signature", "").strip()
    return sha1_allowed and sha1 == sign(SECRET, body, "sha1")


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(request=requests())
def test_any_request_gets_a_4xx_or_202_and_only_signed_ones_are_forwarded(
    served: ServedSource, request: tuple[str, dict[str, str], bytes]
) -> None:
    method, headers, body = request
    before = served.accepted()

    status, text = served.send(method, headers, body)

    forwarded = served.accepted() - before
    note(f"status {status}")
    assert status < 500, (status, text)  # 503 only when the sink fails; it does not here
    assert status == 202 or 400 <= status < 500, (status, text)
    assert forwarded == (1 if status == 202 else 0)
    if forwarded:
        sha1_allowed = served.env["GITHUB_ALLOW_SHA1"] == "true"
        assert method == "POST"
        assert _authentic(headers, body, sha1_allowed=sha1_allowed)


def test_a_signed_delivery_is_forwarded(served: ServedSource) -> None:
    """The property above is not vacuous: a proper delivery does get through."""
    body = PAYLOADS[0]
    before = served.accepted()
    headers = {
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": "d-1",
        "X-Hub-Signature-256": sign(SECRET, body),
        "Content-Type": "application/json",
    }
    assert served.send("POST", headers, body)[0] == 202
    assert served.accepted() == before + 1


pure_headers = st.dictionaries(
    st.sampled_from(["X-GitHub-Event", "X-GitHub-Delivery", "Content-Type", "x-github-event"]),
    st.one_of(
        st.text(max_size=40),
        # what aiohttp makes of bytes that are not UTF-8 (surrogateescape)
        st.text(max_size=10).map(lambda text: text + "\udcff"),
        st.sampled_from(["push", "ping", "issues", "d-1"]),
    ),
    max_size=4,
)


@settings(max_examples=400, deadline=None, database=None)
@given(headers=pure_headers, body=bodies)
def test_the_pure_receiver_returns_a_sendable_event_or_a_4xx_rejection(
    headers: dict[str, str], body: bytes
) -> None:
    config = load_settings(GitHubSettings, ENV | {"K_SINK": "http://sink.example/"})
    try:
        events = github_receiver(config)(WebhookRequest("POST", "/", headers, body))
    except Rejection as rejection:
        assert 400 <= rejection.status < 500
        return
    [event] = events
    message = to_binary(event, JSONFormat())  # what the sender does: must never fail
    assert message.body == body
    assert all(isinstance(v, str) for v in message.headers.values())


raw_names = st.sampled_from(
    [b"X-GitHub-Event", b"X-GitHub-Delivery", b"X-Hub-Signature-256", b"X-Hub-Signature"]
    + [b"Content-Type", b"X-GitHub-Hook-ID", b"User-Agent", b"X-Other"]
)
#: Any bytes but the line breaks that would end the header (those are the parser's to refuse).
raw_values = st.binary(max_size=24).map(lambda value: value.replace(b"\r", b"").replace(b"\n", b""))


@settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(extra=st.lists(st.tuples(raw_names, raw_values), max_size=4))
def test_any_header_bytes_on_a_signed_delivery_get_a_4xx_or_arrive_as_valid_text(
    served: ServedSource, extra: list[tuple[bytes, bytes]]
) -> None:
    body = PAYLOADS[0]
    head = [
        (b"X-GitHub-Event", b"push"),
        (b"X-GitHub-Delivery", b"72d3162e-cc78-11e3-81ab-4c9367dc0958"),
        (b"X-Hub-Signature-256", sign(SECRET, body).encode()),
        (b"Content-Type", b"application/json"),
        *extra,  # repeats a header above, or adds bytes that are not UTF-8
    ]
    before = served.accepted()
    request = b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n" % len(
        body
    )
    request += b"".join(b"%s: %s\r\n" % pair for pair in head) + b"\r\n" + body
    answer = exchange(served.port, request)
    status = int(answer.split()[1])
    assert status == 202 or 400 <= status < 500, answer
    forwarded = served.accepted() - before
    assert forwarded == (1 if status == 202 else 0)
    if forwarded:
        received = served.last()
        assert all(is_text(value) for value in received.headers.values())
        assert all(is_text(str(value)) for value in received.event.get_attributes().values())
