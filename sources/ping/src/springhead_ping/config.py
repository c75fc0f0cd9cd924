"""PingSource settings: the adapter contract plus the PingSource spec, from the environment."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Self

from pydantic import Field, model_validator
from springhead.config import AdapterSettings, ConfigError

from springhead_ping.schedule import Schedule, ScheduleError, parse_schedule, parse_timezone

__all__ = ["PingSettings"]


class PingSettings(AdapterSettings):
    """Settings of one PingSource (Knative ``sources.knative.dev/v1`` PingSource spec)."""

    schedule: str = Field(default="* * * * *", validation_alias="PING_SCHEDULE")
    """Cron schedule: 5 fields, 6 with seconds first, or a descriptor such as ``@hourly``;
    may start with ``CRON_TZ=<zone>`` or ``TZ=<zone>`` when ``PING_TIMEZONE`` is empty."""

    timezone: str = Field(default="", validation_alias="PING_TIMEZONE")
    """IANA time zone the schedule is read in; empty means UTC (Knative: the node's zone)."""

    content_type: str = Field(default="", validation_alias="PING_CONTENT_TYPE")
    """``datacontenttype`` of every event; empty leaves the attribute out."""

    data: str = Field(default="", validation_alias="PING_DATA")
    """Event data as text. With ``application/json`` it must be a JSON object."""

    data_base64: str = Field(default="", validation_alias="PING_DATA_BASE64")
    """Event data as base64 (for binary payloads); exclusive with ``PING_DATA``."""

    @model_validator(mode="after")
    def _check_spec(self) -> Self:
        try:
            parse_timezone(self.timezone)
        except ScheduleError as exc:
            raise ConfigError("PING_TIMEZONE", str(exc)) from None
        try:
            parse_schedule(self.schedule, self.timezone)
        except ScheduleError as exc:
            raise ConfigError("PING_SCHEDULE", str(exc)) from None
        if self.data and self.data_base64:
            raise ConfigError(
                "PING_DATA_BASE64", "PING_DATA and PING_DATA_BASE64 cannot both be set"
            )
        if self.data_base64:
            try:
                base64.b64decode(self.data_base64, validate=True)
            except (binascii.Error, ValueError):
                raise ConfigError("PING_DATA_BASE64", "not valid base64") from None
        if self.data and self.content_type == "application/json":
            try:
                parsed = json.loads(self.data)
            except ValueError:
                parsed = None
            if not isinstance(parsed, dict):
                raise ConfigError(
                    "PING_DATA",
                    "PING_CONTENT_TYPE is application/json, so the data must be a JSON object",
                )
        return self

    @property
    def parsed_schedule(self) -> Schedule:
        """The schedule as a trigger in its time zone."""
        return parse_schedule(self.schedule, self.timezone)

    @property
    def payload(self) -> bytes | None:
        """The event data bytes, or None when neither data field is set."""
        if self.data_base64:
            return base64.b64decode(self.data_base64, validate=True)
        if self.data:
            return self.data.encode("utf-8")
        return None

    @property
    def event_source(self) -> str:
        """The CloudEvents ``source``: ``/apis/v1/namespaces/<ns>/pingsources/<name>``."""
        return f"/apis/v1/namespaces/{self.namespace}/pingsources/{self.name}"
