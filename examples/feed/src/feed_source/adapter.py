"""Feed adapter: poll the feed, send one CloudEvent per item not seen before.

Everything else a source needs (settings, sending with retries and dead letters, health, metrics,
logs, shutdown) comes from ``springhead``; this module only turns the feed into events.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import OrderedDict
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import aiohttp
from cloudevents.core.base import BaseCloudEvent
from springhead.backoff import stopped_within
from springhead.events import validated_event
from springhead.runtime import SourceHost
from springhead.sender import Sender

from feed_source.config import FeedSettings
from feed_source.feed import FeedError, FeedItem, parse_feed

__all__ = ["FeedAdapter", "item_event"]

log = logging.getLogger("feed_source")

#: Item keys remembered at most, besides those in the latest document (oldest forgotten first).
REMEMBERED_ITEMS = 10_000
#: Largest feed document read (after decompression).
MAX_FEED_BYTES = 10 * 1024 * 1024
_FETCH_TIMEOUT = aiohttp.ClientTimeout(total=30)
_ACCEPT = {"Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.1"}
_ID_NAMESPACE = uuid.UUID("8e4a3c1e-2b57-4f0d-9a63-5d1f0c7b2e94")


def item_event(item: FeedItem, *, feed_url: str, event_type: str) -> BaseCloudEvent:
    """The event of ``item``: its id derives from the item's key, so it never changes."""
    attributes: dict[str, object] = {
        "specversion": "1.0",
        "type": event_type,
        "source": feed_url,
        "id": str(uuid.uuid5(_ID_NAMESPACE, item.key)),
        "datacontenttype": "application/json",
    }
    if item.link:
        attributes["subject"] = item.link
    if item.published is not None:
        attributes["time"] = item.published
    published = item.published.isoformat() if item.published is not None else None
    data = {"title": item.title, "link": item.link, "summary": item.summary, "published": published}
    return validated_event(attributes, data)


class FeedAdapter:
    """Polls one feed every ``interval`` seconds and sends its new items, oldest first.

    An item counts as seen only once the sink (or its dead-letter sink) accepted it; the first
    refusal ends the poll and the rest wait for the next one, which fetches the whole document
    again (the conditional-GET validators are kept only after a fully sent document).
    """

    def __init__(
        self,
        *,
        url: str,
        sender: Sender,
        interval: float,
        event_type: str,
        emit_existing: bool = False,
        remember: int = REMEMBERED_ITEMS,
    ) -> None:
        self.url = url
        self.sender = sender
        self.interval = interval
        self.event_type = event_type
        self.emit_existing = emit_existing
        self.remember = remember
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._first_poll = True
        self._validators: dict[str, str] = {}
        self._stop = asyncio.Event()

    @classmethod
    def from_settings(cls, settings: FeedSettings, host: SourceHost) -> FeedAdapter:
        """The adapter a :class:`FeedSettings` describes."""
        return cls(
            url=settings.url,
            sender=host.sender,
            interval=settings.interval.total_seconds(),
            event_type=settings.event_type,
            emit_existing=settings.emit_existing,
        )

    async def run(self) -> None:
        """Poll until :meth:`stop`; a failed poll is logged and the next one tried."""
        async with aiohttp.ClientSession(timeout=_FETCH_TIMEOUT) as session:
            while not self._stop.is_set():
                try:
                    await self.poll(session)
                except (FeedError, aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
                    error = str(exc) or type(exc).__name__
                    log.warning("feed poll failed", extra={"feed": self.url, "error": error})
                await stopped_within(self._stop, self.interval)

    async def stop(self) -> None:
        """Stop polling; an item being sent finishes (the runtime bounds how long)."""
        self._stop.set()

    async def poll(self, session: aiohttp.ClientSession) -> None:
        """Fetch the feed once and send the items not seen before."""
        fetched = await self.fetch(session)
        if fetched is None:
            return  # 304 Not Modified
        document, validators = fetched
        items = parse_feed(document)
        if self._first_poll and not self.emit_existing:
            log.info("existing items remembered, not sent", extra={"items": len(items)})
        else:
            for item in reversed(items):  # feeds list the newest first
                if self._stop.is_set():
                    return
                if item.key in self._seen:
                    continue
                event = item_event(item, feed_url=self.url, event_type=self.event_type)
                if not (await self.sender.send(event)).accepted:
                    log.warning(
                        "item not accepted by the sink; it is sent again on the next poll",
                        extra={"feed": self.url, "event_id": event.get_id()},
                    )
                    return
                self._seen[item.key] = None
        self._first_poll = False
        self._validators = validators
        # Items still in the feed are the last to be forgotten, however long the feed is.
        for item in items:
            self._seen[item.key] = None
            self._seen.move_to_end(item.key)
        while len(self._seen) > max(self.remember, len(items)):
            self._seen.popitem(last=False)

    async def fetch(self, session: aiohttp.ClientSession) -> tuple[bytes, dict[str, str]] | None:
        """The feed document and the validators for the next conditional GET; None when the
        server answered 304 Not Modified to this one."""
        parts = urlsplit(self.url)
        if parts.scheme == "file":
            path = Path(url2pathname(parts.path))
            return await asyncio.to_thread(path.read_bytes), {}
        headers = {**_ACCEPT, **self._validators}
        async with session.get(self.url, headers=headers) as response:
            if response.status == 304:
                return None
            if response.status != 200:
                raise FeedError(f"the feed server answered HTTP {response.status}")
            document = bytearray()
            async for chunk in response.content.iter_chunked(64 * 1024):
                document += chunk
                if len(document) > MAX_FEED_BYTES:
                    raise FeedError(f"the feed is larger than {MAX_FEED_BYTES} bytes")
            validators = {}
            if etag := response.headers.get("ETag"):
                validators["If-None-Match"] = etag
            if last_modified := response.headers.get("Last-Modified"):
                validators["If-Modified-Since"] = last_modified
            return bytes(document), validators
