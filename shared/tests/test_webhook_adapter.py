"""WebhookAdapter.handle as an ASGI app fed message by message: a body arriving in pieces, a
caller that hangs up (the real sender and the real loopback sink)."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

import pytest
from cloudevents.core.v1.event import CloudEvent
from springhead.config import load_settings
from springhead.delivery import DeliveryPolicy
from springhead.sender import Sender
from springhead.webhook import Rejection, WebhookAdapter, WebhookRequest, WebhookSettings
from springhead_testing import RecordingSink


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
    assert request.headers["X-SIGNATURE"].encode("utf-8", "surrogateescape") == b"caf\xe9"
    assert request.combined_header("x-multi") == "one,two"
    # where one value is read, bytes that are not UTF-8 and a repeated header are refused
    with pytest.raises(Rejection, match="header X-SIGNATURE is not valid UTF-8") as caught:
        request.header("X-SIGNATURE")
    assert caught.value.status == 400
    with pytest.raises(Rejection, match="header x-multi appears 2 times") as caught:
        request.header("x-multi")
    assert caught.value.status == 400


async def test_requests_over_the_in_flight_limit_get_503_until_one_finishes(
    sink: RecordingSink,
) -> None:
    env = {"K_SINK": sink.url, "WEBHOOK_MAX_IN_FLIGHT": "2", "WEBHOOK_RETRY_AFTER": "7"}
    settings = load_settings(WebhookSettings, env)
    gate = asyncio.Event()
    sink.respond_with(gate=gate)  # the sink holds every answer until the test opens the gate
    async with Sender(sink=sink.url) as sender:
        adapter = WebhookAdapter(settings=settings, sender=sender, receiver=as_event)

        def started(body: bytes) -> tuple[Exchange, asyncio.Task[None]]:
            exchange = Exchange()
            exchange.piece(body, more=False)
            handling = adapter.handle(post_scope(), exchange.receive, exchange.send)
            return exchange, asyncio.create_task(handling)

        held = [started(b"one"), started(b"two")]
        await sink.wait_held(2)
        assert adapter.in_flight == 2
        refused, refusing = started(b"three")
        reached_sink = asyncio.create_task(sink.wait_held(3))
        await asyncio.wait({refusing, reached_sink}, return_when=asyncio.FIRST_COMPLETED)
        reached_sink.cancel()
        assert refusing.done(), "a third request was let through to the sink"
        assert refused.status == 503
        assert (b"retry-after", b"7") in refused.sent[0]["headers"]
        assert refused.sent[1]["body"] == b"2 requests in flight already (WEBHOOK_MAX_IN_FLIGHT)\n"
        assert not refused.waiting.is_set()  # refused before its body was read
        gate.set()
        for exchange, handling in held:
            await handling
            assert exchange.status == 202
        assert adapter.in_flight == 0
        later, handling = started(b"four")
        await handling
        assert later.status == 202
    assert sorted(r.body for r in sink.requests) == [b"four", b"one", b"two"]


async def test_every_way_a_request_ends_gives_its_place_back(sink: RecordingSink) -> None:
    env = {"K_SINK": sink.url, "WEBHOOK_MAX_IN_FLIGHT": "1", "WEBHOOK_MAX_BODY_BYTES": "4"}
    settings = load_settings(WebhookSettings, env)

    def receiver(request: WebhookRequest) -> list[CloudEvent]:
        if request.body == b"bad":
            raise Rejection(400, "not this one")
        return as_event(request)

    async with Sender(sink=sink.url, policy=DeliveryPolicy(retry=0)) as sender:
        adapter = WebhookAdapter(settings=settings, sender=sender, receiver=receiver)

        async def status_of(*messages: dict[str, Any]) -> int | None:
            exchange = Exchange()
            for message in messages:
                exchange.incoming.put_nowait(message)
            await adapter.handle(post_scope(), exchange.receive, exchange.send)
            assert adapter.in_flight == 0
            return exchange.status if exchange.sent else None

        def body(data: bytes) -> dict[str, Any]:
            return {"type": "http.request", "body": data, "more_body": False}

        assert await status_of(body(b"12345")) == 413
        assert await status_of(body(b"bad")) == 400
        assert await status_of({"type": "http.disconnect"}) is None  # the caller hung up
        sink.fail_next(status=500)
        assert await status_of(body(b"down")) == 503  # the sink refused it
        assert await status_of(body(b"ok")) == 202
        # Every answer is counted by its status; a caller who hung up got none.
        registry = sender.metrics.registry
        answered = {
            status: registry.get_sample_value(
                "springhead_webhook_requests_total", {"status": status}
            )
            for status in ("413", "400", "503", "202")
        }
        assert answered == {"413": 1, "400": 1, "503": 1, "202": 1}
    assert [r.body for r in sink.accepted] == [b"ok"]
