"""The runtime's HTTP server: plain ASGI callables served by uvicorn (httptools parser).

Every source serves its health, readiness and metrics endpoints (and a webhook source its webhook
path) on one port. No web framework sits in between: the routes are a handful of exact paths.
It is the sources' hot path, so it is the cheapest server per request that keeps HTTP/1.1 right
(bench/RESULTS.md (f) compares the candidates, (z) the instruction counts).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

import uvicorn
from multidict import CIMultiDict, CIMultiDictProxy
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = [
    "AsgiApp",
    "BodyTooLarge",
    "ClientGone",
    "MAX_HEAD_BYTES",
    "Receive",
    "Scope",
    "Send",
    "Server",
    "ServerLimits",
    "TEXT_PLAIN",
    "read_body",
    "read_only_route",
    "request_headers",
    "respond",
]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
#: What a route is: an ASGI application for one path.
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]

TEXT_PLAIN = "text/plain; charset=utf-8"
_TEXT = (b"content-type", TEXT_PLAIN.encode())

#: Largest request head (request line, headers and the empty line ending them) before 431:
#: httptools has no limit of its own, so a caller streaming an endless header would grow the
#: process without bound.
MAX_HEAD_BYTES = 64 * 1024
#: How long a connection whose answer was sent before its request arrived whole (431, 408, or a
#: refusal before the body was read) is drained of what the caller still sends before it closes.
_LINGER = 10.0
_EARLY_ANSWER = (
    b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: %d\r\nconnection: close\r\n\r\n%s"
)
_HEAD_END = b"\r\n\r\n"


@dataclass(frozen=True)
class ServerLimits:
    """What one caller can hold of the server, and for how long.

    Memory follows from them: at most ``max_connections`` connections, each holding at most one
    request head (:data:`MAX_HEAD_BYTES`) while it arrives; bodies are bounded by the routes.
    """

    head_timeout: float = 10.0
    """Seconds a request head may take to arrive whole, from its first byte (or from the opening
    of a new connection): then 408 (or, if nothing came, the connection closes)."""

    body_timeout: float = 30.0
    """Seconds a request body may take to arrive whole once its head did: then 408, and the
    route reading it sees the caller gone (a webhook gives its request slot back)."""

    idle_timeout: float = 75.0
    """Seconds a kept-alive connection may stay idle between requests: callers that pool
    connections (GitHub) keep them a while, and closing them sooner races their next request."""

    max_connections: int = 1024
    """Open connections at most; one more is closed at once (after a 503)."""


class _GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the :class:`ServerLimits` enforced.

    - The head bound is exact: bytes are counted up to the empty line ending the head, however
      they arrive (one write or many). Only a request pipelined behind another in the same read
      is counted from the next read.
    - A timer runs only while a request waits for more of its bytes (checked after each read),
      so a request that arrives in one read costs no timer: a head not complete within
      ``head_timeout`` gets 408 (a new connection that sent nothing is closed); a body not
      complete within ``body_timeout`` gets 408, and the route sees ``http.disconnect``.
    - An answer given before the request's body arrived whole (a refusal, 413, 408) ends the
      connection: the rest of the body is read and dropped, for at most :data:`_LINGER` seconds,
      so a caller trickling a body cannot keep the connection.
    """

    def __init__(self, *args: Any, limits: ServerLimits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self._expect_head = True
        self._head_bytes = 0
        self._head_tail = b""
        self._served = False
        self._timer: asyncio.TimerHandle | None = None
        self._timer_for = ""
        self._discarding = False
        self._last_read = b""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            self._discarding = True
            transport.write(_early(503, b"Service Unavailable", b"too many connections\n"))
            transport.close()
            return
        self._arm("head")  # a new connection must send a head in time

    def connection_lost(self, exc: Exception | None) -> None:
        self._arm("")
        super().connection_lost(exc)

    def _arm(self, phase: str) -> None:
        """Run the timer of ``phase`` ("head", "body"; "" for none), keeping one already running
        for the same phase: a phase's time counts from its start."""
        if phase == self._timer_for:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_for = phase
        if phase:
            timeout = self.limits.head_timeout if phase == "head" else self.limits.body_timeout
            self._timer = self.loop.call_later(timeout, self._late)

    def _waiting_for(self) -> str:
        """The phase of a request that still waits for bytes after a read, or ""."""
        if self._expect_head:
            return "head" if self._head_bytes or not self._served else ""
        cycle = self.cycle
        if cycle is not None and cycle.more_body and not cycle.response_complete:
            return "body"
        return ""

    def _late(self) -> None:
        phase, self._timer, self._timer_for = self._timer_for, None, ""
        if phase == "head":
            if self._head_bytes == 0:  # nothing of a request came: nobody to answer
                self.transport.close()
                return
            reason = b"request head not complete within %gs\n" % self.limits.head_timeout
        else:
            reason = b"request body not complete within %gs\n" % self.limits.body_timeout
            cycle = self.cycle
            if cycle.response_started:  # the route answered already; only the body is late
                self._answer_early(b"")
                return
            cycle.disconnected = True  # the route's receive() now says the caller is gone
            cycle.message_event.set()
        self._answer_early(_early(408, b"Request Timeout", reason))

    def _answer_early(self, answer: bytes) -> None:
        """Send ``answer`` and end our side; read and drop what the caller still sends (closing
        with unread bytes would reset the connection, and the caller would lose the answer)
        until it closes, or :data:`_LINGER` seconds passed."""
        self._arm("")
        self._expect_head = False
        self._discarding = True
        if answer:
            self.transport.write(answer)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(_LINGER, self.transport.close)

    def on_headers_complete(self) -> None:
        self._expect_head = False
        self._head_bytes = 0
        self._head_tail = b""
        self._served = True
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._expect_head = True

    def on_response_complete(self) -> None:
        cycle = self.cycle
        super().on_response_complete()
        if cycle is not None and cycle.more_body and not self.transport.is_closing():
            self._answer_early(b"")  # answered before the body came whole

    def send_400_response(self, msg: str) -> None:
        """The parser refused the request: say which header line it stumbled on, when one of
        the bytes read holds a byte no header may (controls but tab, DEL) or lacks its colon."""
        super().send_400_response(_malformed_head(self._last_read) or msg)

    def data_received(self, data: bytes) -> None:
        if self._discarding:
            return
        self._last_read = data
        if self._expect_head:
            if self._head_tail:
                window = self._head_tail + data
                end = window.find(_HEAD_END)
                counted = len(data) if end < 0 else end + len(_HEAD_END) - len(self._head_tail)
            else:
                window = data
                end = data.find(_HEAD_END)
                counted = len(data) if end < 0 else end + len(_HEAD_END)
            self._head_bytes += counted
            self._head_tail = window[-3:] if end < 0 else b""
            if self._head_bytes > MAX_HEAD_BYTES:
                reason = b"request head larger than %d bytes\n" % MAX_HEAD_BYTES
                self._answer_early(_early(431, b"Request Header Fields Too Large", reason))
                return
        super().data_received(data)
        if not self._discarding:
            self._arm(self._waiting_for())


_NOT_IN_A_HEADER = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_HEADER_NAME = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def _malformed_head(data: bytes) -> str | None:
    """The first header line of ``data`` (a read that held a head) that no parser accepts, as a
    reason naming it; None when none is found there."""
    head = data.split(b"\r\n\r\n", 1)[0]
    for line in head.split(b"\r\n")[1:]:
        name, colon, value = line.partition(b":")
        shown = name.decode("ascii", "backslashreplace")
        if not colon or _HEADER_NAME.fullmatch(name) is None:
            return f"malformed header line {line[:40].decode('ascii', 'backslashreplace')!r}"
        bad = _NOT_IN_A_HEADER.search(value)
        if bad is not None:
            return f"header {shown} holds byte 0x{bad.group()[0]:02X}, which no header may"
    return None


def _early(status: int, phrase: bytes, reason: bytes) -> bytes:
    return _EARLY_ANSWER % (status, phrase, len(reason), reason)


class BodyTooLarge(Exception):
    """The request body is longer than the limit :func:`read_body` was given."""


class ClientGone(Exception):
    """The caller disconnected before its request body arrived whole."""


def request_headers(scope: Scope) -> CIMultiDictProxy[str]:
    """The request's headers, case-insensitive; values decoded as UTF-8 with surrogate escapes,
    so ``value.encode("utf-8", "surrogateescape")`` gives back the bytes that were sent."""
    return CIMultiDictProxy(
        CIMultiDict(
            (name.decode("latin-1"), value.decode("utf-8", "surrogateescape"))
            for name, value in scope["headers"]
        )
    )


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole request body; :class:`BodyTooLarge` as soon as more than ``limit`` bytes came,
    :class:`ClientGone` when the caller hung up first (or its body was too slow: the server's
    ``body_timeout``)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge
            chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def respond(
    send: Send,
    status: int,
    text: str | None = None,
    headers: Mapping[str, str] | None = None,
    *,
    body: bytes = b"",
    content_type: str | None = None,
) -> None:
    """Answer with ``status``; ``text`` as a text/plain body, or ``body`` of ``content_type``."""
    raw: list[tuple[bytes, bytes]] = []
    if text is not None:
        body = text.encode()
        raw.append(_TEXT)
    elif content_type is not None:
        raw.append((b"content-type", content_type.encode("latin-1")))
    if headers:
        raw.extend((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items())
    raw.append((b"content-length", b"%d" % len(body)))  # else uvicorn answers chunked
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class Server:
    """Serves ``routes`` (exact path -> ASGI app) on ``host``:``port``; 404 for other paths.

    ``work`` routes are those that take work from callers (a webhook, say), as opposed to the
    health, readiness and metrics routes: once :meth:`refuse_work` was called they answer 503 with
    Retry-After at once, while the requests already under way finish; :meth:`work_done` waits for
    those. A work request still under way when :meth:`stop`'s timeout runs out is answered 503
    (unless its answer began) and ends quietly: the caller redelivers.

    Signals stay the runtime's: uvicorn's own handlers are never installed (its ``serve`` is not
    used, only start-up and shutdown).
    """

    def __init__(
        self,
        host: str,
        port: int,
        routes: Mapping[str, AsgiApp],
        *,
        work: Mapping[str, AsgiApp] | None = None,
        limits: ServerLimits | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.routes = dict(routes)
        # Not copied: read per request, so a service may add and remove routes as it runs.
        self.work: Mapping[str, AsgiApp] = work if work is not None else {}
        self.limits = limits or ServerLimits()
        self._server: uvicorn.Server | None = None
        self._refusal: dict[str, str] | None = None
        self._working = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def work_in_progress(self) -> int:
        """Requests to ``work`` routes being handled now."""
        return self._working

    def refuse_work(self, retry_after: int) -> None:
        """From now on, answer new requests to ``work`` routes 503 with ``Retry-After``."""
        self._refusal = {"Retry-After": str(retry_after)}

    async def work_done(self, timeout: float | None) -> bool:
        """Wait until no request to a ``work`` route is under way; False if ``timeout`` passed."""
        if self._idle.is_set():
            return True
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan is off and websockets are not served
            return
        path = scope["path"]
        route = self.routes.get(path)
        if route is not None:
            await route(scope, receive, send)
            return
        route = self.work.get(path)
        if route is None:
            await respond(send, 404, "not found\n")
        elif self._refusal is not None:
            await respond(send, 503, "shutting down\n", self._refusal)
        else:
            await self._work(route, scope, receive, send)

    async def _work(self, route: AsgiApp, scope: Scope, receive: Receive, send: Send) -> None:
        self._working += 1
        self._idle.clear()
        try:
            await route(scope, receive, send)
        except asyncio.CancelledError:
            # stop()'s timeout ran out with this request under way: whatever it handed on may
            # not have arrived, so the caller is asked to redeliver; no traceback for it. If the
            # answer had begun, uvicorn refuses a second one, and the connection just closes.
            with contextlib.suppress(RuntimeError):
                await respond(send, 503, "shutting down\n", self._refusal)
        finally:
            self._working -= 1
            if not self._working:
                self._idle.set()

    async def start(self) -> None:
        """Bind and serve; ``port`` is updated with the bound port when 0 was asked for."""
        config = uvicorn.Config(
            self,
            host=self.host,
            port=self.port,
            loop="none",
            http=functools.partial(_GuardedProtocol, limits=self.limits),  # type: ignore[arg-type]
            ws="none",
            lifespan="off",
            interface="asgi3",
            log_config=None,
            log_level=logging.WARNING,
            access_log=False,
            proxy_headers=False,
            server_header=False,
            timeout_keep_alive=self.limits.idle_timeout,  # type: ignore[arg-type]  # seconds
        )
        config.load()
        server = uvicorn.Server(config)
        server.lifespan = config.lifespan_class(config)
        try:
            await server.startup()
        except SystemExit:  # uvicorn logged why (the port is taken, say)
            raise OSError(f"cannot listen on {self.host}:{self.port}") from None
        self._server = server
        self.port = server.servers[0].sockets[0].getsockname()[1]

    async def stop(self, timeout: float | None = 5.0) -> None:
        """Stop listening, close idle connections, let answers in progress finish within
        ``timeout`` seconds."""
        server, self._server = self._server, None
        if server is None:
            return
        server.config.timeout_graceful_shutdown = timeout  # type: ignore[assignment]
        await server.shutdown()


def read_only_route(answer: Callable[[], tuple[int, bytes]], content_type: str) -> AsgiApp:
    """A route answering GET and HEAD with ``answer()``'s (status, body), 405 to other methods."""

    async def route(scope: Scope, _receive: Receive, send: Send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            await respond(send, 405, "method not allowed\n", {"Allow": "GET, HEAD"})
            return
        status, body = answer()
        await respond(send, status, body=body, content_type=content_type)

    return route
