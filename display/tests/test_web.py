"""The web page's API over real HTTP: the page, the events, the live stream, the schema."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import aiohttp

if TYPE_CHECKING:
    from conftest import Running


BINARY = {"ce-specversion": "1.0", "ce-type": "t", "ce-source": "/s"}


async def messages(response: aiohttp.ClientResponse, wanted: str, count: int) -> list[object]:
    """The data of the next ``count`` messages named ``wanted`` of an SSE stream."""
    found: list[object] = []
    name = None
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: ") and name == wanted:
            found.append(json.loads(line[6:]))
            if len(found) == count:
                return found
    raise AssertionError(f"the stream ended after {len(found)} {wanted} messages")


async def test_the_page_is_one_static_html_file(running: Running) -> None:
    async with running.client.get(running.url + "/") as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        page = await response.text()
    assert "<script>" in page
    assert "api/stream" in page


async def test_new_events_stream_live_and_the_stream_ends_when_the_display_stops(
    running: Running,
) -> None:
    assert (await running.post("", {**BINARY, "ce-id": "before"}))[0] == 202
    async with running.client.get(running.url + "/api/stream") as response:
        assert response.status == 200
        assert response.content_type == "text/event-stream"
        [stats] = await messages(response, "stats", 1)
        assert isinstance(stats, dict) and stats["received"] == 1
        for n in range(3):
            assert (await running.post("", {**BINARY, "ce-id": str(n)}))[0] == 202
        events = await messages(response, "cloudevent", 3)
        assert [e["attributes"]["id"] for e in events if isinstance(e, dict)] == ["0", "1", "2"]
        await running.display.stop()
        assert await response.content.read() is not None  # returns: the stream ended
        assert response.content.at_eof()


async def test_a_reader_resuming_after_an_id_gets_what_followed(running: Running) -> None:
    for n in range(5):
        assert (await running.post("", {**BINARY, "ce-id": str(n)}))[0] == 202
    headers = {"Last-Event-ID": "3"}
    async with running.client.get(running.url + "/api/stream", headers=headers) as response:
        events = await messages(response, "cloudevent", 2)
    assert [e["seq"] for e in events if isinstance(e, dict)] == [4, 5]


async def test_events_newest_first_with_counters(running: Running) -> None:
    for n, source in enumerate(["/a", "/b", "/b"]):
        headers = {**BINARY, "ce-id": str(n), "ce-source": source}
        assert (await running.post("", headers))[0] == 202
    page = await running.get_json("/api/events?limit=2")
    assert isinstance(page, dict)
    assert [e["seq"] for e in page["events"]] == [3, 2]
    assert page["stats"]["sources"] == {"/a": 1, "/b": 2}
    assert page["stats"]["types"] == {"t": 3}
    assert page["stats"]["received"] == 3


async def test_the_api_is_documented_in_the_openapi_schema(running: Running) -> None:
    schema = await running.get_json("/openapi.json")
    assert isinstance(schema, dict)
    paths = schema["paths"]
    assert set(paths) == {"/api/events", "/api/stream"}
    assert "text/event-stream" in paths["/api/stream"]["get"]["responses"]["200"]["content"]
    assert "EventOut" in schema["components"]["schemas"]
    async with running.client.get(running.url + "/docs") as response:
        assert response.status == 200
