"""The event display service: a CloudEvents sink on ``POST /`` whose events are printed (the
terminal view), kept within bounds (:class:`~springhead_display.store.EventStore`) and shown on
the web page that ``GET /`` serves.

The sink is a plain ASGI route on the process host's lean server, like a source's webhook: it
is the hot path. The web page and its API are a FastAPI application mounted on the same port,
on the exact paths it answers. FastAPI is imported only when the page is on, and then in a
thread once the port listens, so that the sink listens without waiting for it; a page request
that comes sooner waits for it.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import BinaryIO

from prometheus_client import Counter
from springhead.asgi import (
    AsgiApp,
    BodyTooLarge,
    ClientGone,
    Receive,
    Scope,
    Send,
    read_body,
    respond,
)
from springhead.httpbinding import MalformedEvent
from springhead.runtime import ProcessHost

from springhead_display.config import DisplaySettings
from springhead_display.parse import events_in
from springhead_display.received import ReceivedEvent
from springhead_display.store import EventStore
from springhead_display.terminal import event_bytes

__all__ = ["EventDisplay", "WEB_PATHS"]

#: The paths the web application answers besides ``GET /`` (the page).
WEB_PATHS = ("/api/events", "/api/stream", "/openapi.json", "/docs")
#: Seconds in the Retry-After of a request refused while the display shuts down.
RETRY_AFTER = 1


class EventDisplay:
    """Receives CloudEvents, prints them to ``out`` (default: stdout) when ``terminal``, and
    keeps them in ``store``; ``web`` gives the web application's factory (None: no page)."""

    def __init__(
        self,
        *,
        store: EventStore,
        host: ProcessHost,
        max_body_bytes: int,
        terminal: bool = True,
        out: BinaryIO | None = None,
        web: Callable[[], Callable[[EventStore], AsgiApp]] | None = None,
    ) -> None:
        self.store = store
        self.max_body_bytes = max_body_bytes
        self.terminal = terminal
        self._out = out
        self._web_factory = web
        self._web_app: asyncio.Future[AsgiApp] | None = None
        self._stopped = asyncio.Event()
        registry = host.metrics.registry
        self._received = Counter(
            "springhead_display_events_received",
            "CloudEvents the display received and showed.",
            registry=registry,
        )
        self._rejected = Counter(
            "springhead_display_requests_rejected",
            "Requests to the sink that held no valid CloudEvent, by the status answered.",
            ["status"],
            registry=registry,
        )

    @classmethod
    def from_settings(cls, settings: DisplaySettings, host: ProcessHost) -> EventDisplay:
        """The display the process host runs (the factory of ``python -m springhead_display``)."""
        return cls(
            store=EventStore(max_events=settings.max_events, max_bytes=settings.max_bytes),
            host=host,
            max_body_bytes=settings.max_body_bytes,
            terminal=settings.terminal,
            web=_web_app if settings.web else None,
        )

    @property
    def retry_after(self) -> int:
        """Seconds in the Retry-After of a request refused while draining."""
        return RETRY_AFTER

    def routes(self) -> Mapping[str, AsgiApp]:
        """``/`` (the sink, and the page), and the web application's paths when it is on."""
        routes: dict[str, AsgiApp] = {"/": self.handle}
        if self._web_factory is not None:
            routes.update(dict.fromkeys(WEB_PATHS, self._web))
        return routes

    async def _web(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = await self.web_app()
        await app(scope, receive, send)

    def web_app(self) -> asyncio.Future[AsgiApp]:
        """The web application, built (its modules imported in a thread) on first use."""
        if self._web_app is None:
            factory = self._web_factory
            assert factory is not None  # noqa: S101  (routes() serves it only then)
            loop = asyncio.get_running_loop()
            built = loop.run_in_executor(None, factory)
            self._web_app = asyncio.ensure_future(self._build(built))
        return self._web_app

    async def _build(self, factory: Awaitable[Callable[[EventStore], AsgiApp]]) -> AsgiApp:
        return (await factory)(self.store)

    async def run(self) -> None:
        """Serve until :meth:`stop`; the web application is prepared meanwhile."""
        if self._web_factory is not None:
            await self.web_app()
        await self._stopped.wait()

    async def stop(self) -> None:
        """Stop: live streams end, so that the requests carrying them finish."""
        self.store.close()
        self._stopped.set()

    def show(self, events: Sequence[ReceivedEvent]) -> None:
        """Print ``events`` (terminal view) and keep them (web view)."""
        if self.terminal and events:
            out = self._out or sys.stdout.buffer
            out.write(b"".join(event_bytes(event) for event in events))
            out.flush()
        for event in events:
            self.store.add(event)
        self._received.inc(len(events))

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``/``: POST is the sink (202, or 400/413/415 with a reason); GET the web page."""
        method = scope["method"]
        if method == "POST":
            try:
                body = await read_body(receive, self.max_body_bytes)
            except BodyTooLarge:
                self._rejected.labels("413").inc()
                await respond(send, 413, f"body larger than {self.max_body_bytes} bytes\n")
                return
            except ClientGone:
                return
            try:
                events = events_in(scope["headers"], body)
            except MalformedEvent as exc:
                self._rejected.labels(str(exc.status)).inc()
                await respond(send, exc.status, exc.reason + "\n")
                return
            self.show(events)
            await respond(send, 202)
        elif self._web_factory is not None and method in ("GET", "HEAD"):
            await self._web(scope, receive, send)
        else:
            allow = "GET, HEAD, POST" if self._web_factory is not None else "POST"
            await respond(send, 405, "method not allowed\n", {"Allow": allow})


def _web_app() -> Callable[[EventStore], AsgiApp]:
    from springhead_display.web import web_app  # FastAPI only when the page is served

    return web_app
