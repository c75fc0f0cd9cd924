"""WebhookAdapter.handle with a request whose body arrives in pieces (aiohttp's own request
factory and StreamReader; the real sender and the real loopback sink)."""

from __future__ import annotations

import asyncio
from unittest import mock

from aiohttp import streams
from aiohttp.test_utils import make_mocked_request
from cloudevents.core.v1.event import CloudEvent
from springhead.config import load_settings
from springhead.sender import Sender
from springhead.testing import RecordingSink
from springhead.webhook import WebhookAdapter, WebhookRequest, WebhookSettings


def as_event(request: WebhookRequest) -> list[CloudEvent]:
    return [CloudEvent({"type": "t", "source": "/s", "id": "1"}, request.body)]


async def test_a_body_arriving_in_pieces_is_read_whole(sink: RecordingSink) -> None:
    settings = load_settings(WebhookSettings, {"K_SINK": sink.url})
    body = streams.StreamReader(
        mock.Mock(_reading_paused=False), 2**16, loop=asyncio.get_running_loop()
    )
    body.feed_data(b"first half, ")
    request = make_mocked_request(
        "POST", "/", headers={"Transfer-Encoding": "chunked"}, payload=body
    )
    async with Sender(sink=sink.url) as sender:
        adapter = WebhookAdapter(settings=settings, sender=sender, receiver=as_event)
        handling = asyncio.create_task(adapter.handle(request))
        await asyncio.sleep(0)  # let the handler run until it needs more of the body
        body.feed_data(b"second half")
        body.feed_eof()
        response = await handling
    assert response.status == 202
    assert [r.body for r in sink.requests] == [b"first half, second half"]


async def test_a_body_over_the_limit_in_pieces_is_refused(sink: RecordingSink) -> None:
    settings = load_settings(WebhookSettings, {"K_SINK": sink.url, "WEBHOOK_MAX_BODY_BYTES": "10"})
    body = streams.StreamReader(
        mock.Mock(_reading_paused=False), 2**16, loop=asyncio.get_running_loop()
    )
    body.feed_data(b"123456")
    request = make_mocked_request(
        "POST", "/", headers={"Transfer-Encoding": "chunked"}, payload=body
    )
    async with Sender(sink=sink.url) as sender:
        adapter = WebhookAdapter(settings=settings, sender=sender, receiver=as_event)
        handling = asyncio.create_task(adapter.handle(request))
        await asyncio.sleep(0)
        body.feed_data(b"789012")
        body.feed_eof()
        response = await handling
    assert response.status == 413
    assert sink.requests == []
