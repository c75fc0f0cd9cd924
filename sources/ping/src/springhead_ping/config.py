"""PingSource settings: the adapter contract plus the PingSource spec, from the environment."""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Self

from pydantic import Field, model_validator
from springhead.config import ConfigError, IsoDuration, SourceSettings

from springhead_ping.schedule import Schedule, ScheduleError, parse_schedule, parse_timezone

__all__ = ["PingSettings"]

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class PingSettings(SourceSettings):
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

    leader_election: bool = Field(default=False, validation_alias="PING_LEADER_ELECTION")
    """Run several replicas safely: only the holder of a Kubernetes Lease fires, each tick once
    across replicas, and the last fired tick is kept on the Lease. Needs API access to Leases."""

    lease_name: str = Field(default="", validation_alias="PING_LEASE_NAME")
    """Name of the Lease the replicas share; empty means ``pingsource-<NAME>``."""

    lease_namespace: str = Field(default="", validation_alias="PING_LEASE_NAMESPACE")
    """Namespace of the Lease; empty means ``NAMESPACE``."""

    kubeconfig: str = Field(default="", validation_alias="PING_KUBECONFIG")
    """Kubeconfig file for reaching the API server; empty means the pod's service account
    (in-cluster configuration)."""

    lease_duration: IsoDuration = Field(
        default=timedelta(seconds=15), validation_alias="PING_LEASE_DURATION"
    )
    """How long a standby waits after the leader's last renewal before taking over (whole
    seconds, at least PT1S)."""

    renew_deadline: IsoDuration = Field(
        default=timedelta(seconds=10), validation_alias="PING_LEASE_RENEW_DEADLINE"
    )
    """How long the leader keeps trying to renew before it stops firing (below the duration)."""

    retry_period: IsoDuration = Field(
        default=timedelta(seconds=2), validation_alias="PING_LEASE_RETRY_PERIOD"
    )
    """How often the leader renews and a standby tries to take over."""

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
        if not self.leader_election:
            return self
        if len(self.effective_lease_name) > 253 or not _DNS_SUBDOMAIN.match(
            self.effective_lease_name
        ):
            raise ConfigError(
                "PING_LEASE_NAME", f"{self.effective_lease_name!r} is not a valid Lease name"
            )
        if self.kubeconfig and not Path(self.kubeconfig).is_file():
            raise ConfigError("PING_KUBECONFIG", f"no such file: {self.kubeconfig}")
        duration = self.lease_duration.total_seconds()
        deadline = self.renew_deadline.total_seconds()
        retry = self.retry_period.total_seconds()
        if duration < 1 or duration != int(duration):
            raise ConfigError("PING_LEASE_DURATION", "must be whole seconds, at least PT1S")
        if not deadline < duration:
            raise ConfigError(
                "PING_LEASE_RENEW_DEADLINE", "must be shorter than PING_LEASE_DURATION"
            )
        if not 0 < retry * 1.2 < deadline:
            raise ConfigError(
                "PING_LEASE_RETRY_PERIOD",
                "must be positive and, times 1.2, shorter than PING_LEASE_RENEW_DEADLINE",
            )
        return self

    @property
    def effective_lease_name(self) -> str:
        """The Lease's name: ``PING_LEASE_NAME`` or ``pingsource-<NAME>``."""
        return self.lease_name or f"pingsource-{self.name}"

    @property
    def effective_lease_namespace(self) -> str:
        """The Lease's namespace: ``PING_LEASE_NAMESPACE`` or ``NAMESPACE``."""
        return self.lease_namespace or self.namespace
