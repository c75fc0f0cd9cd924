"""PingSource settings: the adapter contract plus the PingSource spec, from the environment."""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import AfterValidator, BeforeValidator, Field, model_validator
from pydantic_settings import NoDecode
from springhead.config import (
    ConfigError,
    IsoDuration,
    KubeAccess,
    LeaseSettings,
    SourceSettings,
    http_url,
    namespace_names,
    namespace_selector_text,
)
from springhead.names import is_dns_label

from springhead_ping.schedule import Schedule
from springhead_ping.spec import PingSpec, PingSpecError, parse_ping_spec, ping_source_uri

__all__ = ["PingSettings"]

#: The variable of each PingSource field, for configuration errors.
_VARIABLES = {
    "schedule": "PING_SCHEDULE",
    "timezone": "PING_TIMEZONE",
    "contentType": "PING_CONTENT_TYPE",
    "data": "PING_DATA",
    "dataBase64": "PING_DATA_BASE64",
}


def _unset_as_empty(value: Any) -> Any:
    return "" if value is None else value


def _sink_url(value: str) -> str:
    return "" if not value else str(http_url(value))


class PingSettings(SourceSettings, LeaseSettings, KubeAccess):
    """Settings of one PingSource (Knative ``sources.knative.dev/v1`` PingSource spec).

    With ``PING_LEADER_ELECTION`` several replicas run safely: only the holder of the Lease
    fires, each tick once across replicas, and the last fired tick is kept on the Lease.
    """

    settings_prefix = "PING"

    lease_name: str = ""
    """Name of the Lease the replicas share; empty means ``pingsource-<NAME>`` (with
    ``PING_MULTI_TENANT``: ``pingsource-mt-adapter``)."""

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

    multi_tenant: bool = Field(default=False, validation_alias="PING_MULTI_TENANT")
    """Serve every ``sources.knative.dev/v1`` PingSource the API server has (instead of the one
    schedule above): each Ready one fires to its ``status.sinkUri`` with its own schedule, data and
    ``ceOverrides``, changes take effect without a restart. Needs ``PING_LEADER_ELECTION`` (one
    replica fires) and API access to list and watch PingSources; ``K_SINK`` and the ``PING_*``
    spec variables are then not used."""

    namespaces: Annotated[list[str] | None, NoDecode, BeforeValidator(namespace_names)] = Field(
        default=None, validation_alias="PING_NAMESPACES"
    )
    """With ``PING_MULTI_TENANT``: serve only the PingSources in these namespaces
    (comma-separated or a JSON list), watched one namespace at a time, so a Role in each is all
    the access needed. Unset: every namespace."""

    namespace_selector: Annotated[
        str | None, NoDecode, BeforeValidator(namespace_selector_text)
    ] = Field(default=None, validation_alias="PING_NAMESPACE_SELECTOR")
    """With ``PING_MULTI_TENANT``: serve only the PingSources in namespaces whose labels match
    (text ``env=prod`` or a LabelSelector JSON object; ``{}`` = all), following namespaces as
    they are labelled and unlabelled (needs list and watch on namespaces). Exclusive with
    ``PING_NAMESPACES``."""

    sink: Annotated[str, BeforeValidator(_unset_as_empty), AfterValidator(_sink_url)] = Field(
        default="", validation_alias="K_SINK"
    )
    """Where events are POSTed (``K_SINK``); required, except with ``PING_MULTI_TENANT``."""

    @model_validator(mode="after")
    def _check_spec(self) -> Self:
        self._check_namespaces()
        if self.multi_tenant:
            if not self.leader_election:
                raise ConfigError(
                    "PING_MULTI_TENANT",
                    "the multi-tenant ping fires from one replica: set PING_LEADER_ELECTION=true",
                )
            return self
        if not self.sink:
            raise ConfigError("K_SINK", "required but not set")
        try:
            self._spec()
        except PingSpecError as exc:
            raise ConfigError(_VARIABLES[exc.field], exc.reason) from None
        return self

    def _check_namespaces(self) -> None:
        for variable, value in (
            ("PING_NAMESPACES", self.namespaces),
            ("PING_NAMESPACE_SELECTOR", self.namespace_selector),
        ):
            if value is not None and not self.multi_tenant:
                raise ConfigError(
                    variable, "selects PingSource objects: set PING_MULTI_TENANT=true"
                )
        if self.namespaces is not None and self.namespace_selector is not None:
            raise ConfigError(
                "PING_NAMESPACE_SELECTOR",
                "cannot be combined with PING_NAMESPACES; use one of them",
            )
        if self.namespaces is not None and not self.namespaces:
            raise ConfigError("PING_NAMESPACES", "name at least one namespace")
        for namespace in self.namespaces or ():
            if not is_dns_label(namespace):
                raise ConfigError("PING_NAMESPACES", f"{namespace!r} is not a valid namespace name")

    def _spec(self) -> PingSpec:
        return parse_ping_spec(
            schedule=self.schedule,
            timezone=self.timezone,
            content_type=self.content_type,
            data=self.data,
            data_base64=self.data_base64,
            names=_VARIABLES,
        )

    @property
    def parsed_schedule(self) -> Schedule:
        """The schedule as a trigger in its time zone."""
        return self._spec().schedule

    @property
    def payload(self) -> bytes | None:
        """The event data bytes, or None when neither data field is set."""
        return self._spec().payload

    @property
    def event_source(self) -> str:
        """The CloudEvents ``source``: ``/apis/v1/namespaces/<ns>/pingsources/<name>``."""
        return ping_source_uri(self.namespace, self.name)

    @model_validator(mode="after")
    def _check_leader_election(self) -> Self:
        if self.catchup_window is not None and not self.leader_election:
            raise ConfigError(
                "PING_CATCHUP_WINDOW",
                "catch-up keeps the last fired tick on the Lease: set PING_LEADER_ELECTION=true",
            )
        return self

    def default_lease_name(self) -> str:
        """``pingsource-<NAME>``; with ``PING_MULTI_TENANT``, ``pingsource-mt-adapter``."""
        return "pingsource-mt-adapter" if self.multi_tenant else f"pingsource-{self.name}"
