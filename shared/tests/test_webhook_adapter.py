"""WebhookAdapter.handle as an ASGI app fed message by message: a body arriving in pieces, a
caller that hangs up (the real sender and the real loopback sink)."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

from cloudevents.core.v1.event import CloudEvent
from springhead.config import load_settings
from springhead.sender import Sender
from springhead.testing import RecordingSink
from springhead.webhook import WebhookAdapter, WebhookRequest, WebhookSettings


def as_event(request: WebhookRequest) -> list[CloudEvent]:
    return [CloudEvent({"type": "t", "source": "/s", "id": "1"}, request.body)]


def post_scope() -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "path": "/",
        "query_string": b"",
        "headers": [(b"transfer-encoding", b"chunked")],
    }


class Exchange:
    """The server's side of one request: messages the test feeds in, the answer sent back."""

    def __init__(self) -> None:
        self.incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.sent: list[MutableMapping[str, Any]] = []
        self.waiting = asyncio.Event()
        """Set while the handler waits for the next message."""

    async def receive(self) -> dict[str, Any]:
        self.waiting.set()
        return await self.incoming.get()

    async def send(self, message: MutableMapping[str, Any]) -> None:
        self.sent.append(message)

    def piece(self, body: bytes, *, more: bool) -> None:
        self.waiting.clear()
        self.incoming.put_nowait({"type": "http.request", "body": body, "more_body": more})

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])


async def handled(sink: RecordingSink, env: dict[str, str], pieces: list[bytes]) -> Exchange:
    """Feeds ``pieces`` one at a time, each only once the handler waits for more."""
    settings = load_settings(WebhookSettings, {"K_SINK": sink.url, **env})
    exchange = Exchange()
    async with Sender(sink=sink.url) as sender:
        adapter = WebhookAdapter(settings=settings, sender=sender, receiver=as_event)
        handling = asyncio.create_task(
            adapter.handle(post_scope(), exchange.receive, exchange.send)
        )
        for n, piece in enumerate(pieces):
            await exchange.waiting.wait()
            exchange.piece(piece, more=n < len(pieces) - 1)
        await handling
    return exchange


async def test_a_body_arriving_in_pieces_is_read_whole(sink: RecordingSink) -> None:
    exchange = await handled(sink, {}, [b"first half, ", b"", b"second half"])
    assert exchange.status == 202
    assert [r.body for r in sink.requests] == [b"first half, second half"]


async def test_a_body_over_the_limit_in_pieces_is_refused(sink: RecordingSink) -> None:
    exchange = await handled(sink, {"WEBHOOK_MAX_BODY_BYTES": "10"}, [b"123456", b"789012"])
    assert exchange.status == 413
    assert exchange.sent[1]["body"] == b"body larger than 10 bytes\n"
    assert sink.requests == []


async def test_a_caller_hanging_up_mid_body_gets_nothing_forwarded(sink: RecordingSink) -> None:
    settings = load_settings(WebhookSettings, {"K_SINK": sink.url})
    exchange = Exchange()
    exchange.piece(b"half a body", more=True)
    exchange.incoming.put_nowait({"type": "http.disconnect"})
    async with Sender(sink=sink.url) as sender:
        adapter = WebhookAdapter(settings=settings, sender=sender, receiver=as_event)
        await adapter.handle(post_scope(), exchange.receive, exchange.send)
    assert exchange.sent == []
    assert sink.requests == []


async def test_the_receiver_sees_method_path_query_and_headers_as_sent(sink: RecordingSink) -> None:
    settings = load_settings(WebhookSettings, {"K_SINK": sink.url, "WEBHOOK_PATH": "/hooks/a b"})
    seen: list[WebhookRequest] = []

    def record(request: WebhookRequest) -> list[CloudEvent]:
        seen.append(request)
        return as_event(request)

    exchange = Exchange()
    exchange.piece(b"{}", more=False)
    scope = post_scope() | {
        "path": "/hooks/a b",
        "query_string": b"a=1&a=2&b=&c=%C3%A9",
        "headers": [(b"x-signature", b"caf\xe9"), (b"x-multi", b"one"), (b"x-multi", b"two")],
    }
    async with Sender(sink=sink.url) as sender:
        adapter = WebhookAdapter(settings=settings, sender=sender, receiver=record)
        assert list(adapter.routes()) == ["/hooks/a b"]
        await adapter.handle(scope, exchange.receive, exchange.send)
    assert exchange.status == 202
    [request] = seen
    assert (request.method, request.path, request.body) == ("POST", "/hooks/a b", b"{}")
    assert request.query == {"a": "1", "b": "", "c": "\xe9"}  # first value of each name
    # a header's value gives back the bytes that were sent; lookups ignore case
    assert request.header("X-SIGNATURE").encode("utf-8", "surrogateescape") == b"caf\xe9"
    assert request.header("x-multi") == "one"
