"""The feed source as a real process between a real feed server and the real loopback sink."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from feed_source.adapter import item_event
from feed_source.feed import FeedItem
from springhead_testing import RecordingSink, SourceProcess, adapter_env

FAST = "PT0.2S"


def feed_source(sink: RecordingSink, url: str, **env: str) -> SourceProcess:
    return SourceProcess(
        "feed_source", adapter_env(sink.url, FEED_URL=url, FEED_INTERVAL=FAST, **env)
    )


async def polls_later(server: Any, polls: int = 2) -> None:
    """Wait until the source polled ``polls`` more times: polls run one after the other, so
    each request the server answers means the poll before it has finished."""
    await server.wait_for_requests(len(server.requests) + polls)


def subjects(sink: RecordingSink) -> list[str | None]:
    return [event.get_subject() for event in sink.events]


async def test_new_rss_items_arrive_once_with_their_attributes(
    sink: RecordingSink, feed_server: Any
) -> None:
    feed_server.publish_rss(1, 2)
    async with feed_source(sink, feed_server.url) as source:
        baseline = await source.wait_for_log("existing items remembered, not sent")
        assert baseline["items"] == 2
        feed_server.publish_rss(1, 2, 3, 4)
        await sink.wait_for(2)
        await polls_later(feed_server)
        assert await source.stop() == 0
    assert subjects(sink) == ["https://example.org/items/3", "https://example.org/items/4"]
    request = sink.accepted[0]
    assert request.header("ce-type") == "dev.springhead.example.feed.item"
    assert request.header("ce-source") == feed_server.url
    assert request.header("ce-subject") == "https://example.org/items/3"
    assert request.header("ce-time") == "2026-03-01T03:00:00Z"
    assert request.header("Content-Type") == "application/json"
    assert request.header("Kn-Namespace") == "testns"
    assert json.loads(request.body) == {
        "title": "Item 3",
        "link": "https://example.org/items/3",
        "summary": "About 3",
        "published": "2026-03-01T03:00:00+00:00",
    }
    expected = item_event(
        FeedItem(
            key="urn:item:3",
            title="Item 3",
            link="https://example.org/items/3",
            summary="About 3",
            published=datetime(2026, 3, 1, 3, tzinfo=UTC),
        ),
        feed_url=feed_server.url,
        event_type="dev.springhead.example.feed.item",
    )
    assert request.header("ce-id") == expected.get_id()
    assert sink.accepted[1].header("ce-id") != expected.get_id()


async def test_atom_entries_with_emit_existing_and_a_custom_type(
    sink: RecordingSink, feed_server: Any
) -> None:
    feed_server.publish_atom(1, 2)
    env = {"FEED_EMIT_EXISTING": "true", "FEED_EVENT_TYPE": "com.example.news.entry"}
    async with feed_source(sink, feed_server.url, **env):
        await sink.wait_for(2)
        feed_server.publish_atom(1, 2, 3)
        await sink.wait_for(3)
        await polls_later(feed_server)
    assert subjects(sink) == [f"https://example.org/items/{n}" for n in (1, 2, 3)]
    assert {event.get_type() for event in sink.events} == {"com.example.news.entry"}
    # Atom: ``published`` wins over ``updated``.
    assert sink.accepted[0].header("ce-time") == "2026-03-01T01:00:00Z"
    assert json.loads(sink.accepted[2].body)["summary"] == "About 3"
    assert len({request.header("ce-id") for request in sink.accepted}) == 3


@pytest.mark.parametrize(
    ("validator", "request_header", "current"),
    [
        ("etag", "If-None-Match", lambda server: server.etag),
        ("last-modified", "If-Modified-Since", lambda server: server.last_modified),
    ],
)
async def test_conditional_get_is_honoured(
    sink: RecordingSink, feed_server: Any, validator: str, request_header: str, current: Any
) -> None:
    feed_server.validator = validator
    feed_server.publish_rss(1)
    async with feed_source(sink, feed_server.url, FEED_EMIT_EXISTING="true"):
        await sink.wait_for(1)
        await feed_server.wait_for_not_modified(2)
        first_version = current(feed_server)
        feed_server.publish_rss(1, 2)
        await sink.wait_for(2)
        await feed_server.wait_for_not_modified(feed_server.not_modified + 2)
    assert feed_server.requests[0].get(request_header) is None
    revalidations = [headers.get(request_header) for headers in feed_server.requests[1:]]
    assert first_version in revalidations
    assert current(feed_server) in revalidations
    assert None not in revalidations
    assert subjects(sink) == ["https://example.org/items/1", "https://example.org/items/2"]


async def test_an_item_the_sink_refused_is_sent_again_after_it_recovers(
    sink: RecordingSink, feed_server: Any
) -> None:
    sink.fail_next(3, status=503)
    feed_server.publish_rss(1)
    async with feed_source(sink, feed_server.url, SPRINGHEAD_DELIVERY_RETRY="0") as source:
        await source.wait_for_log("existing items remembered, not sent")
        feed_server.publish_rss(1, 2)
        await sink.wait_for(1)
        await source.wait_for_log(
            "item not accepted by the sink; it is sent again on the next poll"
        )
        await polls_later(feed_server)
    assert [request.status for request in sink.requests] == [503, 503, 503, 202]
    assert len({request.header("ce-id") for request in sink.requests}) == 1
    assert subjects(sink) == ["https://example.org/items/2"]


@pytest.mark.parametrize(
    ("document", "status", "error"),
    [
        (b"<rss><channel><item>", 200, "not well-formed XML"),
        (b"<html><body>Moved</body></html>", 200, "not an RSS 2.0 or Atom feed"),
        (b"", 500, "the feed server answered HTTP 500"),
    ],
    ids=["malformed", "not-a-feed", "server-error"],
)
async def test_a_failed_poll_is_logged_and_the_source_stays_up(
    sink: RecordingSink, feed_server: Any, document: bytes, status: int, error: str
) -> None:
    feed_server.publish(document)
    feed_server.status = status
    async with feed_source(sink, feed_server.url, FEED_EMIT_EXISTING="true") as source:
        failure = await source.wait_for_log("feed poll failed")
        assert error in failure["error"]
        assert failure["feed"] == feed_server.url
        async with (
            aiohttp.ClientSession() as client,
            client.get(f"http://127.0.0.1:{source.port}/readyz") as ready,
        ):
            assert ready.status == 200
        feed_server.status = 200
        feed_server.publish_rss(1)
        await sink.wait_for(1)
    assert subjects(sink) == ["https://example.org/items/1"]


async def test_a_feed_with_a_doctype_is_refused(sink: RecordingSink, feed_server: Any) -> None:
    feed_server.publish(
        b'<?xml version="1.0"?>\n'
        b'<!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b"<rss version='2.0'><channel><item><guid>urn:item:1</guid><title>&b;</title></item>"
        b"</channel></rss>"
    )
    async with feed_source(sink, feed_server.url, FEED_EMIT_EXISTING="true") as source:
        failure = await source.wait_for_log("feed poll failed")
        assert "DOCTYPE" in failure["error"]
        await polls_later(feed_server)
    assert sink.requests == []


async def test_a_file_url_is_read(sink: RecordingSink, feed_server: Any, tmp_path: Path) -> None:
    feed_file = tmp_path / "feed.xml"
    feed_file.write_bytes(feed_server.rss(1, 2))
    async with feed_source(sink, feed_file.as_uri(), FEED_EMIT_EXISTING="true"):
        await sink.wait_for(2)
    assert subjects(sink) == ["https://example.org/items/1", "https://example.org/items/2"]
    assert sink.events[0].get_source() == feed_file.as_uri()
