"""A PingSource spec checked and turned into what a ping fires: one set of rules, whether the spec
comes from the environment (``PING_*``), from a ``sources.knative.dev/v1`` PingSource object the
controller reconciles, or from one the multi-tenant ping serves."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass

from springhead_ping.schedule import Schedule, ScheduleError, parse_schedule, parse_timezone

__all__ = ["DEFAULT_SCHEDULE", "PingSpec", "PingSpecError", "parse_ping_spec", "ping_source_uri"]

#: A PingSource's schedule when the spec has none (Knative's default).
DEFAULT_SCHEDULE = "* * * * *"

#: The PingSource object's field names, used in messages unless the caller names them its way.
_FIELDS = {
    "schedule": "schedule",
    "timezone": "timezone",
    "contentType": "contentType",
    "data": "data",
    "dataBase64": "dataBase64",
}


class PingSpecError(ValueError):
    """A spec that cannot be fired: ``field`` is the PingSource field at fault (``schedule``,
    ``timezone``, ``data`` or ``dataBase64``), ``reason`` says why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True, slots=True)
class PingSpec:
    """What a valid spec fires: the schedule (in its zone), ``datacontenttype`` ("" leaves it out)
    and the data bytes (None: no data)."""

    schedule: Schedule
    content_type: str
    payload: bytes | None


def ping_source_uri(namespace: str, name: str) -> str:
    """The CloudEvents ``source`` of a PingSource:
    ``/apis/v1/namespaces/<ns>/pingsources/<name>``."""
    return f"/apis/v1/namespaces/{namespace}/pingsources/{name}"


def parse_ping_spec(
    *,
    schedule: str = DEFAULT_SCHEDULE,
    timezone: str = "",
    content_type: str = "",
    data: str = "",
    data_base64: str = "",
    names: Mapping[str, str] | None = None,
) -> PingSpec:
    """Check a spec as Knative's webhook does; raises :class:`PingSpecError`.

    ``data`` and ``data_base64`` are exclusive; ``data_base64`` must be valid base64; with
    ``application/json`` the data must be a JSON object. ``names`` renames fields in messages
    (``{"data": "PING_DATA", ...}``).
    """
    named = {**_FIELDS, **(names or {})}
    try:
        parse_timezone(timezone)
    except ScheduleError as exc:
        raise PingSpecError("timezone", str(exc)) from None
    try:
        parsed = parse_schedule(schedule, timezone)
    except ScheduleError as exc:
        raise PingSpecError("schedule", str(exc)) from None
    if data and data_base64:
        raise PingSpecError(
            "dataBase64", f"{named['data']} and {named['dataBase64']} cannot both be set"
        )
    payload: bytes | None = None
    if data_base64:
        try:
            payload = base64.b64decode(data_base64, validate=True)
        except (binascii.Error, ValueError):
            raise PingSpecError("dataBase64", "not valid base64") from None
    elif data:
        if content_type == "application/json":
            try:
                value = json.loads(data)
            except ValueError:
                value = None
            if not isinstance(value, dict):
                raise PingSpecError(
                    "data",
                    f"{named['contentType']} is application/json, so the data must be a JSON "
                    "object",
                )
        payload = data.encode("utf-8")
    return PingSpec(parsed, content_type, payload)
