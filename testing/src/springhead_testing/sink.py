"""A real HTTP sink on loopback that records what it receives and can be told to fail."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from aiohttp import web
from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings.http import HTTPMessage, from_http
from cloudevents.core.formats.json import JSONFormat

__all__ = ["Behaviour", "ReceivedRequest", "RecordingSink"]


@dataclass(frozen=True, kw_only=True)
class Behaviour:
    """How the sink answers one request."""

    status: int = 202
    """Status code to answer with."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """Extra response headers (e.g. Retry-After)."""
    body: bytes = b""
    """Response body."""
    delay: float = 0.0
    """Seconds to wait before answering (a slow sink)."""
    drop: bool = False
    """Close the connection without answering."""
    gate: asyncio.Event | None = None
    """Hold the answer until this event is set (a sink that is busy until the test says so)."""


@dataclass(frozen=True)
class ReceivedRequest:
    """One request the sink received, and how it answered."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    status: int | None
    """What the sink answered; None when it dropped the connection."""
    received_at: float
    """``time.monotonic()`` when the request arrived."""
    received_wall: float
    """``time.time()`` when the request arrived."""

    @property
    def accepted(self) -> bool:
        """Whether the sink answered 2xx."""
        return self.status is not None and 200 <= self.status < 300

    @property
    def event(self) -> BaseCloudEvent:
        """The CloudEvent in this request (binary or structured mode)."""
        return from_http(HTTPMessage(dict(self.headers), self.body), JSONFormat())

    def header(self, name: str) -> str | None:
        """A request header, case-insensitively."""
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)


class RecordingSink:
    """An aiohttp server on 127.0.0.1 recording every request.

    By default it answers 202. :meth:`fail_next` queues behaviours for the next requests;
    :meth:`respond_with` changes the default. :meth:`wait_for` waits for accepted requests.
    ``on_request`` (if given) is called with each accepted request, e.g. to print it.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        path: str = "/",
        on_request: Callable[[ReceivedRequest], None] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.path = path
        self.on_request = on_request
        self.ssl_context = ssl_context
        self.requests: list[ReceivedRequest] = []
        self.held = 0
        """Requests that reached a gate (see :attr:`Behaviour.gate`)."""
        self._default = Behaviour()
        self._queued: deque[Behaviour] = deque()
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """The sink's URL (after :meth:`start`)."""
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{self.host}:{self.port}{self.path}"

    @property
    def accepted(self) -> list[ReceivedRequest]:
        """Requests answered 2xx, in arrival order."""
        return [r for r in self.requests if r.accepted]

    @property
    def events(self) -> list[BaseCloudEvent]:
        """CloudEvents of the accepted requests, in arrival order."""
        return [r.event for r in self.accepted]

    def respond_with(self, behaviour: Behaviour | None = None, **kwargs: object) -> None:
        """Answer every request not covered by :meth:`fail_next` this way."""
        self._default = behaviour or Behaviour(**kwargs)  # type: ignore[arg-type]

    def fail_next(self, count: int = 1, **kwargs: object) -> None:
        """Answer the next ``count`` requests as ``Behaviour(**kwargs)`` (default: 503)."""
        kwargs.setdefault("status", 503)
        behaviour = Behaviour(**kwargs)  # type: ignore[arg-type]
        self._queued.extend([behaviour] * count)

    async def wait_for(self, count: int, *, timeout: float = 60.0) -> list[ReceivedRequest]:
        """Wait until at least ``count`` requests were accepted; return the accepted ones."""
        await self._until(
            lambda: len(self.accepted) >= count,
            timeout,
            lambda: (
                f"sink accepted {len(self.accepted)} of {count} expected requests "
                f"({len(self.requests)} received in all)"
            ),
        )
        return self.accepted

    async def wait_held(self, count: int = 1, *, timeout: float = 60.0) -> None:
        """Wait until ``count`` requests are held at a gate."""
        await self._until(
            lambda: self.held >= count, timeout, lambda: f"{self.held} of {count} requests held"
        )

    async def wait_for_requests(
        self, count: int, *, timeout: float = 60.0
    ) -> list[ReceivedRequest]:
        """Wait until at least ``count`` requests arrived, whatever the answer."""
        await self._until(
            lambda: len(self.requests) >= count,
            timeout,
            lambda: f"sink received {len(self.requests)} of {count} expected requests",
        )
        return self.requests

    async def _until(
        self, condition: Callable[[], bool], timeout: float, describe: Callable[[], str]
    ) -> None:
        async with self._changed:
            try:
                async with asyncio.timeout(timeout):
                    await self._changed.wait_for(condition)
            except TimeoutError:
                raise AssertionError(f"{describe()} within {timeout}s") from None

    async def _record(self, request: ReceivedRequest) -> None:
        self.requests.append(request)
        if request.accepted and self.on_request is not None:
            self.on_request(request)
        async with self._changed:
            self._changed.notify_all()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        arrived, arrived_wall = time.monotonic(), time.time()
        body = await request.read()
        behaviour = self._queued.popleft() if self._queued else self._default
        if behaviour.gate is not None:
            self.held += 1
            async with self._changed:
                self._changed.notify_all()
            await behaviour.gate.wait()
        if behaviour.delay:
            await asyncio.sleep(behaviour.delay)
        status = None if behaviour.drop else behaviour.status
        await self._record(
            ReceivedRequest(
                request.method,
                request.path_qs,
                dict(request.headers),
                body,
                status,
                arrived,
                arrived_wall,
            )
        )
        if behaviour.drop:
            if request.transport is not None:
                request.transport.abort()
            raise ConnectionResetError("sink dropped the connection on purpose")
        return web.Response(
            status=behaviour.status, headers=dict(behaviour.headers), body=behaviour.body
        )

    async def start(self) -> RecordingSink:
        """Start serving; returns self."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=self.ssl_context)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        """Stop serving and close connections."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> RecordingSink:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
