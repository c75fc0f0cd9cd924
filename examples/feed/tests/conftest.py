"""A real feed server for the feed source's tests: an aiohttp server on loopback serving the
document a test published, honouring conditional GETs, and counting what it was asked.

Handed to tests as the ``feed_server`` fixture (test modules cannot import a conftest).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Literal

import pytest_asyncio
from aiohttp import web

#: Item ``n`` of a test feed was published ``n`` hours after this.
EPOCH = datetime(2026, 3, 1, tzinfo=UTC)


class FeedServer:
    """Serves the last published document at ``/feed``.

    ``validator`` says how the server lets clients revalidate: ``etag`` (answers 304 when
    If-None-Match matches), ``last-modified`` (when If-Modified-Since matches) or ``none``.
    Test item ``n`` has guid ``urn:item:<n>``, title ``Item <n>``, link
    ``https://example.org/items/<n>`` and was published ``n`` hours after :data:`EPOCH`.
    """

    def __init__(self, validator: Literal["etag", "last-modified", "none"] = "etag") -> None:
        self.validator = validator
        self.status = 200
        """Status answered instead of the document when not 200 (a failing server)."""
        self.requests: list[Mapping[str, str]] = []
        """Headers of every request, in arrival order."""
        self.not_modified = 0
        """How many requests were answered 304 Not Modified."""
        self.version = 0
        self._document = b""
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._port = 0

    @property
    def url(self) -> str:
        """The feed's URL."""
        return f"http://127.0.0.1:{self._port}/feed"

    @property
    def etag(self) -> str:
        """The current document's ETag."""
        return f'"v{self.version}"'

    @property
    def last_modified(self) -> str:
        """The current document's Last-Modified date."""
        return format_datetime(EPOCH + timedelta(minutes=self.version), usegmt=True)

    def publish(self, document: bytes) -> None:
        """Serve ``document`` from now on (a new version, with a new ETag and date)."""
        self._document = document
        self.version += 1

    def publish_rss(self, *numbers: int) -> None:
        """Serve an RSS 2.0 feed of the test items ``numbers``."""
        self.publish(rss(*numbers))

    def publish_atom(self, *numbers: int) -> None:
        """Serve an Atom feed of the test items ``numbers``."""
        self.publish(atom(*numbers))

    def rss(self, *numbers: int) -> bytes:
        """An RSS 2.0 document of the test items ``numbers`` (newest first, as feeds are)."""
        return rss(*numbers)

    async def wait_for_requests(self, count: int, *, timeout: float = 60.0) -> None:
        """Wait until ``count`` requests were answered in all."""
        await self._until(lambda: len(self.requests) >= count, timeout, f"{count} requests")

    async def wait_for_not_modified(self, count: int, *, timeout: float = 60.0) -> None:
        """Wait until ``count`` requests were answered 304."""
        await self._until(lambda: self.not_modified >= count, timeout, f"{count} 304 answers")

    async def _until(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        async with self._changed:
            try:
                async with asyncio.timeout(timeout):
                    await self._changed.wait_for(condition)
            except TimeoutError:
                raise AssertionError(
                    f"feed server: no {what} within {timeout}s ({len(self.requests)} requests, "
                    f"{self.not_modified} answered 304)"
                ) from None

    def _answer(self, request: web.Request) -> web.Response:
        if self.status != 200:
            return web.Response(status=self.status, text="feed server failing on purpose")
        unchanged = (
            self.validator == "etag" and request.headers.get("If-None-Match") == self.etag
        ) or (
            self.validator == "last-modified"
            and request.headers.get("If-Modified-Since") == self.last_modified
        )
        if unchanged:
            self.not_modified += 1
            return web.Response(status=304)
        headers = {"Content-Type": "application/xml"}
        if self.validator == "etag":
            headers["ETag"] = self.etag
        elif self.validator == "last-modified":
            headers["Last-Modified"] = self.last_modified
        return web.Response(body=self._document, headers=headers)

    async def _handle(self, request: web.Request) -> web.Response:
        response = self._answer(request)
        async with self._changed:
            self.requests.append(dict(request.headers))
            self._changed.notify_all()
        return response

    async def start(self) -> FeedServer:
        """Start serving on a free loopback port."""
        app = web.Application()
        app.router.add_get("/feed", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self._port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()


def _published(number: int) -> datetime:
    return EPOCH + timedelta(hours=number)


def rss(*numbers: int) -> bytes:
    """An RSS 2.0 document of the test items ``numbers``, newest first."""
    items = "".join(
        f"<item><guid isPermaLink='false'>urn:item:{n}</guid><title>Item {n}</title>"
        f"<link>https://example.org/items/{n}</link><description>About {n}</description>"
        f"<pubDate>{format_datetime(_published(n), usegmt=True)}</pubDate></item>"
        for n in sorted(numbers, reverse=True)
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>Test</title>"
        f"<link>https://example.org/</link><description>A test feed</description>{items}"
        "</channel></rss>"
    ).encode()


def atom(*numbers: int) -> bytes:
    """An Atom document of the test items ``numbers``, newest first."""
    entries = "".join(
        f"<entry><id>urn:item:{n}</id><title>Item {n}</title>"
        f"<link rel='alternate' href='https://example.org/items/{n}'/>"
        f"<summary>About {n}</summary><published>{_published(n).isoformat()}</published>"
        f"<updated>{(_published(n) + timedelta(days=1)).isoformat()}</updated></entry>"
        for n in sorted(numbers, reverse=True)
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'>"
        f"<id>urn:test-feed</id><title>Test</title><updated>{EPOCH.isoformat()}</updated>"
        f"{entries}</feed>"
    ).encode()


@pytest_asyncio.fixture
async def feed_server() -> AsyncIterator[FeedServer]:
    """A started :class:`FeedServer` with ETag revalidation and an empty RSS feed."""
    server = await FeedServer().start()
    server.publish_rss()
    try:
        yield server
    finally:
        await server.stop()
