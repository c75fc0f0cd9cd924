"""Reading the event display's Server-Sent Events stream, as a browser's EventSource would."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

__all__ = ["first_streamed_event"]


async def first_streamed_event(url: str) -> dict[str, Any]:
    """The first ``cloudevent`` message of the display's stream at ``url`` (its JSON data)."""
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        if response.status != 200:
            raise AssertionError(f"{url}: {response.status} {await response.text()}")
        kind = ""
        async for raw in response.content:
            line = raw.decode().rstrip("\r\n")
            if line.startswith("event:"):
                kind = line.removeprefix("event:").strip()
            elif line.startswith("data:") and kind == "cloudevent":
                return dict(json.loads(line.removeprefix("data:")))
    raise AssertionError("the stream ended without an event")
