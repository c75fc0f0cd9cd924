"""PingSource settings: the adapter contract plus the PingSource spec, from the environment."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Self

from pydantic import Field, model_validator
from springhead.config import ConfigError, IsoDuration, KubeAccess, LeaseSettings, SourceSettings

from springhead_ping.schedule import Schedule, ScheduleError, parse_schedule, parse_timezone

__all__ = ["PingSettings"]


class PingSettings(SourceSettings, LeaseSettings, KubeAccess):
    """Settings of one PingSource (Knative ``sources.knative.dev/v1`` PingSource spec).

    With ``PING_LEADER_ELECTION`` several replicas run safely: only the holder of the Lease
    fires, each tick once across replicas, and the last fired tick is kept on the Lease.
    """

    settings_prefix = "PING"

    lease_name: str = ""
    """Name of the Lease the replicas share; empty means ``pingsource-<NAME>``."""

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

    catchup_window: IsoDuration | None = Field(default=None, validation_alias="PING_CATCHUP_WINDOW")
    """On becoming leader, fire the ticks missed while no replica led, if they are at most this
    old (each once, with extension ``catchup: "true"``). Unset: missed ticks are skipped, as
    Knative does. Needs ``PING_LEADER_ELECTION``."""

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

    @model_validator(mode="after")
    def _check_leader_election(self) -> Self:
        if self.catchup_window is not None and not self.leader_election:
            raise ConfigError(
                "PING_CATCHUP_WINDOW",
                "catch-up keeps the last fired tick on the Lease: set PING_LEADER_ELECTION=true",
            )
        return self

    def default_lease_name(self) -> str:
        """``pingsource-<NAME>``."""
        return f"pingsource-{self.name}"
