"""A real event display on loopback: its routes served by the runtime's own server."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest_asyncio
from springhead.asgi import Server
from springhead.metrics import Metrics
from springhead.runtime import ProcessHost
from springhead_display.adapter import EventDisplay
from springhead_display.store import EventStore
from springhead_display.web import web_app


@dataclass
class Running:
    display: EventDisplay
    out: io.BytesIO
    url: str
    client: aiohttp.ClientSession

    async def post(
        self, body: bytes | str = b"", headers: dict[str, str] | None = None, method: str = "POST"
    ) -> tuple[int, str]:
        data = body.encode() if isinstance(body, str) else body
        async with self.client.request(method, self.url + "/", data=data, headers=headers) as r:
            return r.status, await r.text()

    async def get_json(self, path: str) -> object:
        async with self.client.get(self.url + path) as response:
            assert response.status == 200, await response.text()
            return await response.json()


@pytest_asyncio.fixture
async def running() -> AsyncIterator[Running]:
    out = io.BytesIO()
    display = EventDisplay(
        store=EventStore(max_events=50, max_bytes=1024 * 1024),
        host=ProcessHost(Metrics()),
        max_body_bytes=64 * 1024,
        out=out,
        web=lambda: web_app,
    )
    server = Server("127.0.0.1", 0, {}, work=display.routes())
    await server.start()
    try:
        async with aiohttp.ClientSession() as client:
            yield Running(display, out, f"http://127.0.0.1:{server.port}", client)
    finally:
        await display.stop()
        await server.stop()
