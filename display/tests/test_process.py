"""The event display as a real process (``python -m springhead_display``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from springhead_testing import SourceProcess
from springhead_testing.slow_clients import rss_bytes

pytestmark = pytest.mark.integration

ENV = {"SPRINGHEAD_PORT": "0", "SPRINGHEAD_HOST": "127.0.0.1", "NAME": "display"}
BATCH = {"Content-Type": "application/cloudevents-batch+json"}
#: Events per request and requests at once while filling the display.
PER_BATCH = 100
CONCURRENCY = 4
#: Growth of the resident set from 10k to 100k events that still counts as flat: allocator
#: noise, not the ~1 KB per event that keeping events would cost (90 MB).
FLAT_MARGIN = 12 * 1024 * 1024


@pytest_asyncio.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def batch(start: int) -> bytes:
    return json.dumps(
        [
            {
                "specversion": "1.0",
                "type": f"dev.example.type{n % 7}",
                "source": f"/load/{n % 13}",
                "id": str(n),
                "data": {"n": n, "padding": "x" * 900},
            }
            for n in range(start, start + PER_BATCH)
        ]
    ).encode()


async def send(client: aiohttp.ClientSession, url: str, first: int, count: int) -> None:
    """Events ``first`` .. ``first + count`` in batches, ``CONCURRENCY`` requests at once."""
    starts = iter(range(first, first + count, PER_BATCH))

    async def worker() -> None:
        for start in starts:
            async with client.post(url, data=batch(start), headers=BATCH) as response:
                assert response.status == 202, await response.text()

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


async def stalled_stream(port: int) -> asyncio.StreamWriter:
    """A live-stream reader that never reads: the display must not buffer for it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /api/stream HTTP/1.1\r\nHost: display\r\n\r\n")
    await writer.drain()
    assert (await reader.readline()).startswith(b"HTTP/1.1 200")
    return writer


async def test_rss_is_flat_from_10k_to_100k_events(client: aiohttp.ClientSession) -> None:
    async with SourceProcess("springhead_display", ENV) as display:
        assert display.process is not None and display.port is not None
        url = f"http://127.0.0.1:{display.port}/"
        stalled = await stalled_stream(display.port)
        await send(client, url, 0, 10_000)
        at_10k = rss_bytes(display.process.pid)
        await send(client, url, 10_000, 90_000)
        at_100k = rss_bytes(display.process.pid)
        async with client.get(url + "api/events?limit=1") as response:
            page = await response.json()
        stalled.close()
    assert page["stats"]["received"] == 100_000
    assert page["stats"]["kept"] == 1000
    # the newest event is of one of the last batches (they arrive concurrently)
    assert int(page["events"][0]["attributes"]["id"]) >= 100_000 - CONCURRENCY * PER_BATCH
    print(f"RSS at 10k events {at_10k / 2**20:.1f} MiB, at 100k {at_100k / 2**20:.1f} MiB")
    assert at_100k - at_10k < FLAT_MARGIN


async def test_sigterm_ends_live_streams_and_exits_0(client: aiohttp.ClientSession) -> None:
    async with SourceProcess("springhead_display", ENV) as display:
        assert display.port is not None
        async with client.get(f"http://127.0.0.1:{display.port}/api/stream") as response:
            assert response.status == 200
            status = await display.stop()
            await response.content.read()  # the stream ended with the process
    assert status == 0
    assert any(entry.get("msg") == "process stopped" for entry in display.logs)
