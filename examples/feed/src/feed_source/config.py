"""Feed source settings: the adapter contract (K_SINK ...) plus four ``FEED_`` variables."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field
from springhead.config import IsoDuration, SourceSettings

__all__ = ["FeedSettings"]


def _feed_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme in ("http", "https") and parts.netloc:
        return value
    if parts.scheme == "file" and parts.path:
        return value
    raise ValueError(f"must be an absolute http://, https:// or file:// URL, got {value!r}")


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than zero")
    return value


class FeedSettings(SourceSettings):
    """Settings of one feed source; the shared class brings the sink, delivery and runtime."""

    url: Annotated[str, AfterValidator(_feed_url)] = Field(validation_alias="FEED_URL")
    """The RSS 2.0 or Atom feed to poll (http, https or file URL); required. It is also the
    ``source`` of every event."""

    interval: Annotated[IsoDuration, AfterValidator(_positive)] = Field(
        default=timedelta(seconds=60), validation_alias="FEED_INTERVAL"
    )
    """Time between the end of one poll and the start of the next (ISO-8601, default PT60S)."""

    event_type: str = Field(
        default="dev.springhead.example.feed.item", min_length=1, validation_alias="FEED_EVENT_TYPE"
    )
    """CloudEvents ``type`` of every event."""

    emit_existing: bool = Field(default=False, validation_alias="FEED_EMIT_EXISTING")
    """Send the items already in the feed on the first poll too; by default they are only
    remembered and only items that appear later are sent (as Knative's ApiServerSource does)."""
