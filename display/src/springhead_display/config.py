"""Event display settings: the process settings plus how much it keeps and what it shows."""

from __future__ import annotations

from pydantic import Field
from springhead.config import ProcessSettings

__all__ = ["DisplaySettings"]


class DisplaySettings(ProcessSettings):
    """Settings of the event display (``DISPLAY_*`` plus the shared ``SPRINGHEAD_*``).

    The sink is ``POST /`` on ``SPRINGHEAD_PORT``; the web page is ``GET /`` on the same port.
    """

    max_events: int = Field(default=1000, ge=1, validation_alias="DISPLAY_MAX_EVENTS")
    """Events kept for the web page and its API: the newest ones; older ones are forgotten."""

    max_bytes: int = Field(default=64 * 1024 * 1024, ge=1024, validation_alias="DISPLAY_MAX_BYTES")
    """Bytes of events kept at most (attributes and data, as received): older events are
    forgotten sooner when events are large (default 64 MiB). The newest event is always kept."""

    max_body_bytes: int = Field(
        default=4 * 1024 * 1024, ge=1, validation_alias="DISPLAY_MAX_BODY_BYTES"
    )
    """Largest request body accepted; larger requests get 413 (default 4 MiB)."""

    terminal: bool = Field(default=True, validation_alias="DISPLAY_TERMINAL")
    """Print every event on stdout in Knative event_display's format."""

    web: bool = Field(default=True, validation_alias="DISPLAY_WEB")
    """Serve the web page (``GET /``) and its JSON API (``/api/events``, ``/api/stream``,
    ``/openapi.json``, ``/docs``). Off: the process never imports the web framework."""
