"""The web view: a page of the events as they arrive, and the JSON API behind it (FastAPI).

- ``GET /``: the page (one static HTML file, no build step).
- ``GET /api/events``: the events kept, newest first, and counters.
- ``GET /api/stream``: Server-Sent Events: each new event (``cloudevent``), the count of those a
  slow reader missed (``skipped``), and counters once a second (``stats``).
- ``GET /openapi.json``, ``GET /docs``: the API's OpenAPI schema and its viewer.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from importlib.resources import files
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Header, Query
from fastapi.responses import HTMLResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel, Field

from springhead_display.received import event_json
from springhead_display.store import EventStore, Stats

__all__ = ["web_app"]

#: Events one stream sends before it looks at the clock (counters) again.
STREAM_BATCH = 100
#: Seconds between two ``stats`` messages of a stream.
STATS_INTERVAL = 1.0

_DESCRIPTION = """\
The event display's JSON API, behind its web page (`GET /`).

The display itself is a CloudEvents sink: `POST /` takes one event in binary or structured mode,
or a batch (`application/cloudevents-batch+json`), and answers 202, or 400/413/415 with a reason.
It keeps the newest events only (`DISPLAY_MAX_EVENTS`, `DISPLAY_MAX_BYTES`).
"""


class EventOut(BaseModel):
    """One event as received."""

    seq: int = Field(description="Position in the order of arrival; 1 is the first event.")
    received: str = Field(description="When the display received it (RFC 3339, UTC).")
    attributes: dict[str, str | bool | int] = Field(
        description="Context attributes and extensions, as sent."
    )
    data_kind: Literal["none", "json", "text", "binary"] = Field(
        description="How `data` is given: JSON, text, or (binary) in `data_base64`."
    )
    data: Any = Field(description="The data: a JSON value (json) or a string (text).")
    data_base64: str | None = Field(description="Binary data, base64-encoded.")
    data_size: int = Field(description="Size of the data in bytes.")


class StatsOut(BaseModel):
    """Counters of the display."""

    received: int = Field(description="Events received since the display started.")
    kept: int = Field(description="Events kept now (the newest).")
    kept_bytes: int = Field(description="Bytes of the events kept, as counted against the budget.")
    per_second: float = Field(description="Events received per second over the last 10 s.")
    types: dict[str, int] = Field(description="Events kept, by type.")
    sources: dict[str, int] = Field(description="Events kept, by source.")


class EventsOut(BaseModel):
    """The events kept, newest first, with the counters."""

    events: list[EventOut]
    stats: StatsOut


def _stats(stats: Stats) -> dict[str, Any]:
    return {
        "received": stats.received,
        "kept": stats.kept,
        "kept_bytes": stats.kept_bytes,
        "per_second": stats.per_second,
        "types": stats.types,
        "sources": stats.sources,
    }


def _page() -> str:
    return (files("springhead_display") / "static" / "index.html").read_text(encoding="utf-8")


def web_app(store: EventStore) -> FastAPI:
    """The web application showing ``store``."""
    app = FastAPI(
        title="Springhead event display",
        description=_DESCRIPTION,
        version="1",
        redoc_url=None,
        docs_url="/docs",
        swagger_ui_oauth2_redirect_url=None,
    )
    page = _page()

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(page, headers={"Cache-Control": "no-cache"})

    @app.get("/api/events", response_model=EventsOut)
    async def events(
        limit: Annotated[int | None, Query(ge=1, description="At most this many events.")] = None,
    ) -> dict[str, Any]:
        """The events kept, newest first, and the counters."""
        return {
            "events": [event_json(event) for event in store.newest(limit)],
            "stats": _stats(store.stats()),
        }

    @app.get(
        "/api/stream",
        response_class=EventSourceResponse,
        responses={
            200: {
                "description": (
                    "`cloudevent` messages (data: an event as in `/api/events`, id: its seq), "
                    '`skipped` (data: `{"skipped": n}`, events this reader was too slow for '
                    "and the display forgot) and `stats` (data: the counters, once a second)."
                )
            }
        },
    )
    async def stream(
        after: Annotated[
            int | None,
            Query(ge=0, description="Start after the event with this seq (default: from now)."),
        ] = None,
        last_event_id: Annotated[
            str | None, Header(description="Set by a browser reconnecting: resume after it.")
        ] = None,
    ) -> AsyncIterator[ServerSentEvent]:
        """New events as they arrive, as Server-Sent Events. A reader that falls behind the
        events kept skips ahead (a ``skipped`` message says how many it missed); nothing is
        buffered for it."""
        if last_event_id is not None and last_event_id.isdigit():
            after = int(last_event_id)
        watcher = store.watch(after)
        try:
            yield ServerSentEvent(raw_data=json.dumps(_stats(store.stats())), event="stats")
            stats_due = time.monotonic() + STATS_INTERVAL
            while not watcher.closed:
                skipped, batch = watcher.take(STREAM_BATCH)
                if skipped:
                    yield ServerSentEvent(
                        raw_data=json.dumps({"skipped": skipped}), event="skipped"
                    )
                for event in batch:
                    yield ServerSentEvent(
                        raw_data=json.dumps(event_json(event), ensure_ascii=False),
                        event="cloudevent",
                        id=str(event.seq),
                    )
                now = time.monotonic()
                if now >= stats_due:
                    yield ServerSentEvent(raw_data=json.dumps(_stats(store.stats())), event="stats")
                    stats_due = now + STATS_INTERVAL
                if len(batch) < STREAM_BATCH:
                    await watcher.wait(max(0.0, stats_due - time.monotonic()))
        finally:
            watcher.close()

    return app
