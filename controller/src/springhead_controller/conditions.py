"""Knative-style status conditions: a set of dependent conditions and a ``Ready`` summary."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from springhead.kube import KubeApiError, KubeClient

__all__ = ["Conditions", "condition_of", "write_status"]

TRUE, FALSE, UNKNOWN = "True", "False", "Unknown"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def condition_of(status: Mapping[str, Any] | None, kind: str) -> Mapping[str, Any] | None:
    """The condition of type ``kind`` in a ``status``, or None."""
    for condition in (status or {}).get("conditions") or ():
        if isinstance(condition, Mapping) and condition.get("type") == kind:
            return condition
    return None


class Conditions:
    """Conditions ``dependents`` plus ``Ready`` (True when all are True; else the first False,
    else Unknown), keeping ``lastTransitionTime`` when a condition's status does not change."""

    def __init__(
        self,
        dependents: Sequence[str],
        existing: Sequence[Mapping[str, Any]] | None = None,
        *,
        now: Callable[[], str] = _now,
    ) -> None:
        self.dependents = tuple(dependents)
        self._previous = {
            str(c.get("type")): dict(c) for c in existing or () if isinstance(c, Mapping)
        }
        self._now = now
        self._current: dict[str, dict[str, Any]] = {}
        for kind in self.dependents:
            self.mark(kind, UNKNOWN, "", "")

    def mark(self, kind: str, status: str, reason: str = "", message: str = "") -> None:
        """Set condition ``kind``."""
        self._current[kind] = {"type": kind, "status": status, "reason": reason, "message": message}

    def true(self, kind: str, reason: str = "", message: str = "") -> None:
        """Mark ``kind`` True."""
        self.mark(kind, TRUE, reason, message)

    def false(self, kind: str, reason: str, message: str) -> None:
        """Mark ``kind`` False with a reason and message."""
        self.mark(kind, FALSE, reason, message)

    def unknown(self, kind: str, reason: str, message: str) -> None:
        """Mark ``kind`` Unknown with a reason and message."""
        self.mark(kind, UNKNOWN, reason, message)

    def status(self, kind: str) -> str:
        """The status of ``kind`` as marked."""
        return str(self._current[kind]["status"])

    def render(self) -> list[dict[str, Any]]:
        """The conditions (``Ready`` first, then the dependents sorted by type)."""
        ready: dict[str, Any] = {"type": "Ready", "status": TRUE, "reason": "", "message": ""}
        dependents = [self._current[k] for k in self.dependents]
        failed = next((c for c in dependents if c["status"] == FALSE), None)
        pending = next((c for c in dependents if c["status"] == UNKNOWN), None)
        for culprit, status in ((failed, FALSE), (pending, UNKNOWN)):
            if culprit is not None:
                ready = {
                    "type": "Ready",
                    "status": status,
                    "reason": culprit["reason"] or culprit["type"],
                    "message": culprit["message"],
                }
                break
        rendered = []
        for condition in [ready, *sorted(dependents, key=lambda c: str(c["type"]))]:
            entry = {k: v for k, v in condition.items() if v != ""}
            previous = self._previous.get(str(condition["type"]))
            if previous is not None and previous.get("status") == condition["status"]:
                entry["lastTransitionTime"] = previous.get("lastTransitionTime") or self._now()
            else:
                entry["lastTransitionTime"] = self._now()
            rendered.append(entry)
        return rendered

    def ready(self) -> str:
        """The ``Ready`` status the conditions add up to."""
        return str(self.render()[0]["status"])


async def write_status(
    client: KubeClient,
    path: str,
    obj: Mapping[str, Any],
    conditions: Conditions,
    status: Mapping[str, Any],
    *,
    keep: Sequence[str] = (),
    tolerate: Collection[int] = (409,),
) -> None:
    """Replace the status of ``obj`` (its object path ``path``) with ``status`` and the
    rendered ``conditions``, carrying over the ``keep`` fields of its current status; nothing
    is written when that equals the current status. An answer in ``tolerate`` is not an error:
    409 means the object changed since it was read (our own last write, say), and its watch
    event brings the newer one and another reconcile."""
    old = obj.get("status") or {}
    new = {**status, "conditions": conditions.render()}
    for field in keep:
        if field in old:
            new[field] = old[field]
    if new == old:
        return
    try:
        await asyncio.to_thread(
            client.request, "PUT", f"{path}/status", body={**obj, "status": new}
        )
    except KubeApiError as exc:
        if exc.status not in tolerate:
            raise
