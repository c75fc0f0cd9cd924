"""The PingSource reconciler: check the spec, resolve the sink into ``status.sinkUri`` and set
Knative's conditions, so that the multi-tenant ping (``PING_MULTI_TENANT``) fires it.

The controller creates nothing for a PingSource: one ping process serves them all and fires
those that are Ready. A spec the ping could not fire (a bad schedule or time zone, both ``data``
and ``dataBase64``, invalid base64, non-object JSON data, bad ``ceOverrides``) is reported as
``Deployed=False`` with a reason, as is a sink that cannot be resolved as ``SinkProvided=False``;
the sink is watched, so the PingSource becomes Ready when it appears.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from springhead.kube import KubeClient
from springhead_ping.adapter import PING_EVENT_TYPE
from springhead_ping.spec import DEFAULT_SCHEDULE, PingSpecError, parse_ping_spec, ping_source_uri

from springhead_controller.cache import PING_SOURCE, Cache
from springhead_controller.conditions import Conditions, write_status
from springhead_controller.spec import (
    InvalidSpec,
    SinkError,
    parse_destination,
    resolve_sink,
    validate_ce_overrides,
)

__all__ = [
    "DEPLOYED",
    "OIDC_IDENTITY_CREATED",
    "PingSourceReconciler",
    "SINK_PROVIDED",
    "check_ping_source",
]

DEPLOYED = "Deployed"
SINK_PROVIDED = "SinkProvided"
OIDC_IDENTITY_CREATED = "OIDCIdentityCreated"
#: Knative's reason while its OIDC feature is off (Springhead has no OIDC identities to create).
OIDC_DISABLED = "authentication-oidc feature disabled"
_PATH = "/apis/sources.knative.dev/v1/namespaces/{namespace}/pingsources/{name}"
_REASONS = {
    "schedule": "InvalidSchedule",
    "timezone": "InvalidTimezone",
    "contentType": "InvalidData",
    "data": "InvalidData",
    "dataBase64": "InvalidData",
}


def _text(spec: Mapping[str, Any], key: str) -> str:
    value = spec.get(key)
    return value if isinstance(value, str) else ""


def check_ping_source(source: Mapping[str, Any]) -> None:
    """Raise :class:`InvalidSpec` (reason ``InvalidSchedule``, ``InvalidTimezone``,
    ``InvalidData`` or ``InvalidOverrides``) when the multi-tenant ping could not fire ``source``.
    """
    spec = source.get("spec") or {}
    try:
        parse_ping_spec(
            schedule=_text(spec, "schedule") or DEFAULT_SCHEDULE,
            timezone=_text(spec, "timezone"),
            content_type=_text(spec, "contentType"),
            data=_text(spec, "data"),
            data_base64=_text(spec, "dataBase64"),
        )
    except PingSpecError as exc:
        raise InvalidSpec(_REASONS[exc.field], f"spec.{exc.field}: {exc.reason}") from None
    validate_ce_overrides(spec.get("ceOverrides"))


class PingSourceReconciler:
    """Reconciles one PingSource at a time (many may run concurrently)."""

    def __init__(self, client: KubeClient, cache: Cache, *, cluster_domain: str = "cluster.local"):
        self.client = client
        self.cache = cache
        self.cluster_domain = cluster_domain

    async def reconcile(self, namespace: str, name: str) -> float | None:
        """Bring one PingSource's status in line; returns seconds after which to look again
        (None: only when something changes). Raises on failures worth retrying."""
        where = (namespace, name)
        source = self.cache.ping_sources.get(where)
        if source is None or (source.get("metadata") or {}).get("deletionTimestamp"):
            self.cache.track_sink(where, None, PING_SOURCE)
            return None
        metadata = source.get("metadata") or {}
        old = source.get("status") or {}
        conditions = Conditions(
            [DEPLOYED, OIDC_IDENTITY_CREATED, SINK_PROVIDED], old.get("conditions")
        )
        conditions.true(OIDC_IDENTITY_CREATED, OIDC_DISABLED)
        status: dict[str, Any] = {
            "observedGeneration": metadata.get("generation", 0),
            "ceAttributes": [{"type": PING_EVENT_TYPE, "source": ping_source_uri(*where)}],
        }
        retry: float | None = None
        try:
            check_ping_source(source)
        except InvalidSpec as exc:
            conditions.false(DEPLOYED, exc.reason, exc.message)
        else:
            conditions.true(DEPLOYED)
        try:
            destination = parse_destination((source.get("spec") or {}).get("sink"), namespace)
        except InvalidSpec as exc:
            self.cache.track_sink(where, None, PING_SOURCE)
            conditions.false(SINK_PROVIDED, exc.reason, exc.message)
        else:
            ref = destination.ref
            self.cache.track_sink(where, ref, PING_SOURCE)
            try:
                target = await self.cache.sink_target(ref) if ref is not None else None
                sink = resolve_sink(
                    destination, lambda _: target, cluster_domain=self.cluster_domain
                )
            except SinkError as exc:
                conditions.false(SINK_PROVIDED, exc.reason, exc.message)
                retry = 30.0  # also watched: this is only a safety net
            else:
                conditions.true(SINK_PROVIDED)
                status["sinkUri"] = sink.url
                if sink.ca_certs:
                    status["sinkCACerts"] = sink.ca_certs
        await self._write_status(source, conditions, status)
        return retry

    async def _write_status(
        self, source: Mapping[str, Any], conditions: Conditions, status: dict[str, Any]
    ) -> None:
        metadata = source.get("metadata") or {}
        path = _PATH.format(namespace=metadata["namespace"], name=metadata["name"])
        await write_status(self.client, path, source, conditions, status, keep=("annotations",))
