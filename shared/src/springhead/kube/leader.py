"""Leader election on a ``coordination.k8s.io/v1`` Lease, with client-go's semantics.

Several replicas of a process run a :class:`LeaderElector` on the same Lease; at most one of them
is the leader at a time, the others stand by and take over when the leader stops renewing.

How it decides (as client-go's ``leaderelection`` package does):

* A candidate reads the Lease. It may take it when it does not exist, when ``holderIdentity`` is
  empty (released), or when the holder's record has not changed for ``leaseDurationSeconds`` *as
  measured on the candidate's own monotonic clock* since the candidate last saw it change - so
  clock skew between machines does not matter, only clock rate.
* Every write carries the ``resourceVersion`` that was read: two candidates racing for a Lease
  cannot both win; the loser gets 409 Conflict and tries again later.
* The leader renews every ``retry_period``. When no renewal succeeded for ``renew_deadline``
  (shorter than the lease duration), or the Lease shows another holder, it stops being the
  leader - before any other candidate can have taken over.
* On :meth:`LeaderElector.stop` the leader releases the Lease (empty holder, 1 s duration), so a
  standby takes over at its next attempt instead of waiting for the lease to expire.

The leader can keep small pieces of state in the Lease's annotations
(:meth:`LeaderElector.update_annotations`, e.g. the last tick a ping source fired); a write is
fenced by the Lease's ``resourceVersion`` and refused unless the Lease still names this elector.

Every Kubernetes call is blocking and runs in a thread. This module imports ``kubernetes``
(through :mod:`springhead.kube.client`): import it only where leader election is enabled.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from springhead.backoff import jittered, stopped_within
from springhead.kube.client import KubeApiError, KubeClient

__all__ = [
    "LeaderElector",
    "LeaseRecord",
    "NotLeaderError",
    "Term",
    "default_identity",
    "format_micro_time",
    "parse_micro_time",
]

log = logging.getLogger("springhead.leader")

#: client-go's jitter factor: a candidate waits retry_period * (1 .. 1 + JITTER) between tries.
JITTER = 0.2
#: Attempts at an annotation write that keeps meeting 409 Conflict before giving up.
ANNOTATION_WRITE_ATTEMPTS = 5


def default_identity() -> str:
    """``<hostname>_<random uuid>``: unique per process, readable in ``kubectl get lease``."""
    return f"{socket.gethostname()}_{uuid.uuid4()}"


def format_micro_time(moment: datetime) -> str:
    """A Kubernetes ``MicroTime``: RFC 3339 in UTC with exactly six fractional digits."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_micro_time(text: str | None) -> datetime | None:
    """The moment a ``MicroTime`` (or ``Time``) string names; None for None or ""."""
    if not text:
        return None
    return datetime.fromisoformat(text).astimezone(UTC)


class NotLeaderError(Exception):
    """An operation reserved to the leader was attempted by an elector that is not (or no longer)
    the leader."""


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    """The leader-election fields of a Lease's spec, as strings exactly as stored.

    Two records are compared field by field: any change (a renewal, a new holder) resets the
    observers' expiry clocks.
    """

    holder_identity: str = ""
    lease_duration_seconds: int = 0
    acquire_time: str = ""
    renew_time: str = ""
    lease_transitions: int = 0

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any] | None) -> LeaseRecord:
        """The record in a Lease's ``spec`` (missing fields read as empty)."""
        spec = spec or {}
        return cls(
            holder_identity=str(spec.get("holderIdentity") or ""),
            lease_duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
            acquire_time=str(spec.get("acquireTime") or ""),
            renew_time=str(spec.get("renewTime") or ""),
            lease_transitions=int(spec.get("leaseTransitions") or 0),
        )

    def to_spec(self) -> dict[str, Any]:
        """The record as Lease ``spec`` fields (empty times left out)."""
        spec: dict[str, Any] = {
            "holderIdentity": self.holder_identity,
            "leaseDurationSeconds": self.lease_duration_seconds,
            "leaseTransitions": self.lease_transitions,
        }
        if self.acquire_time:
            spec["acquireTime"] = self.acquire_time
        if self.renew_time:
            spec["renewTime"] = self.renew_time
        return spec


@dataclass(eq=False)
class Term:
    """One period of leadership, from acquiring the Lease until losing or releasing it."""

    identity: str
    """The elector that leads in this term."""
    annotations: Mapping[str, str]
    """The Lease's annotations when the term began (state left by the previous leaders)."""
    transitions: int
    """``leaseTransitions`` of the Lease when the term began."""
    lost: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the term ends: leadership lost (renewal failed, another holder) or released."""

    @property
    def active(self) -> bool:
        """Whether this term is still running."""
        return not self.lost.is_set()

    async def wait_lost(self) -> None:
        """Wait until the term ends."""
        await self.lost.wait()


class LeaderElector:
    """Runs for leadership of one Lease until stopped.

    Use it as an async context manager (runs in the background, releases on exit) or call
    :meth:`run` in a task and :meth:`stop` it. Acting only while leading looks like::

        async with LeaderElector(client, name="my-lease", namespace="ns") as elector:
            while True:
                term = await elector.wait_until_leader()
                ...  # act until term.lost is set

    Timings follow client-go's constraints: ``lease_duration > renew_deadline >
    retry_period * 1.2``; defaults are client-go's usual 15 s / 10 s / 2 s.
    """

    def __init__(
        self,
        client: KubeClient,
        *,
        name: str,
        namespace: str,
        identity: str | None = None,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        release_on_stop: bool = True,
        monotonic: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if lease_duration < 1:
            raise ValueError("lease_duration must be at least 1 second")
        if not lease_duration > renew_deadline:
            raise ValueError("lease_duration must be greater than renew_deadline")
        if not renew_deadline > retry_period * (1 + JITTER):
            raise ValueError("renew_deadline must be greater than retry_period * 1.2")
        if retry_period <= 0:
            raise ValueError("retry_period must be positive")
        self.client = client
        self.name = name
        self.namespace = namespace
        self.identity = identity or default_identity()
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.release_on_stop = release_on_stop
        self._monotonic = monotonic
        self._wall_clock = wall_clock
        self._observed = LeaseRecord()
        self._observed_at = 0.0
        self._annotations: dict[str, str] = {}
        self._term: Term | None = None
        self._leading = asyncio.Event()
        self._stopping = asyncio.Event()
        self._write_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    # -- what callers look at ---------------------------------------------------------------

    @property
    def lease_path(self) -> str:
        """The Lease's API path."""
        return f"/apis/coordination.k8s.io/v1/namespaces/{self.namespace}/leases/{self.name}"

    @property
    def is_leader(self) -> bool:
        """Whether this elector leads right now."""
        return self._term is not None and self._term.active

    @property
    def term(self) -> Term | None:
        """The current term while leading, else None."""
        return self._term if self.is_leader else None

    @property
    def leader(self) -> str:
        """The holder the Lease named when last read ("" when free or unknown)."""
        return self._observed.holder_identity

    @property
    def annotations(self) -> Mapping[str, str]:
        """The Lease's annotations as last read or written."""
        return MappingProxyType(self._annotations)

    async def wait_until_leader(self, timeout: float | None = None) -> Term:
        """Wait until this elector leads; return the term. ``TimeoutError`` after ``timeout``."""
        async with asyncio.timeout(timeout):
            while True:
                term = self.term
                if term is not None:
                    return term
                await self._leading.wait()

    async def update_annotations(self, changes: Mapping[str, str | None]) -> None:
        """Set (or, for None values, remove) annotations on the Lease while leading.

        The write is refused (:class:`NotLeaderError`) unless the Lease, read just before,
        still names this elector; it carries that read's ``resourceVersion``, so it cannot land
        after another elector took over. Raises :class:`~springhead.kube.KubeApiError` when the
        API server fails.
        """
        if not self.is_leader:
            raise NotLeaderError(f"{self.identity} does not lead lease {self.name}")
        try:
            async with asyncio.timeout(self.renew_deadline):
                await self._write_annotations(changes)
        except TimeoutError:
            raise KubeApiError(
                0, "Timeout", f"lease {self.name}: annotations not written"
            ) from None

    async def _write_annotations(self, changes: Mapping[str, str | None]) -> None:
        async with self._write_lock:
            for _ in range(ANNOTATION_WRITE_ATTEMPTS):
                lease = await asyncio.to_thread(self.client.get, self.lease_path)
                record = LeaseRecord.from_spec(lease.get("spec"))
                if record.holder_identity != self.identity:
                    raise NotLeaderError(f"lease {self.name} is held by {record.holder_identity!r}")
                metadata = lease.setdefault("metadata", {})
                annotations = dict(metadata.get("annotations") or {})
                for key, value in changes.items():
                    if value is None:
                        annotations.pop(key, None)
                    else:
                        annotations[key] = value
                metadata["annotations"] = annotations
                try:
                    written = await asyncio.to_thread(self._put, lease)
                except KubeApiError as exc:
                    if exc.status == 409:
                        continue
                    raise
                self._annotations = dict(written.get("metadata", {}).get("annotations") or {})
                return
        raise KubeApiError(409, "Conflict", f"lease {self.name} kept changing; annotations not set")

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Campaign, lead, and campaign again after losing, until :meth:`stop`.

        On stop the Lease is released when this elector leads (``release_on_stop``).
        """
        try:
            while not self._stopping.is_set():
                if not await self._acquire():
                    break
                await self._renew_until_lost()
        finally:
            was_leading = self.is_leader
            self._end_term("stopped")
            if was_leading and self.release_on_stop:
                await self._release()

    async def stop(self) -> None:
        """Stop campaigning (and leading); :meth:`run` returns soon after, releasing the Lease."""
        self._stopping.set()

    async def __aenter__(self) -> LeaderElector:
        self._task = asyncio.create_task(self.run(), name=f"leader-election {self.name}")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
        if self._task is not None:
            await self._task
            self._task = None

    # -- the algorithm -----------------------------------------------------------------------

    async def _acquire(self) -> bool:
        """Try until the Lease is ours (True) or the elector is stopped (False)."""
        log.info("campaigning for leadership", extra=self._log_fields())
        while not self._stopping.is_set():
            if await self._try(self.retry_period * (1 + JITTER)):
                self._begin_term()
                return True
            if await stopped_within(self._stopping, jittered(self.retry_period, JITTER)):
                return False
        return False

    async def _renew_until_lost(self) -> None:
        """Renew every retry_period; return once renewal failed for renew_deadline or a
        stop was asked for."""
        last_renewal = self._monotonic()
        while not self._stopping.is_set():
            if await stopped_within(self._stopping, self.retry_period):
                return
            deadline = last_renewal + self.renew_deadline
            while True:
                remaining = deadline - self._monotonic()
                if remaining <= 0:
                    self._end_term("renewal failed within the renew deadline")
                    return
                if await self._try(remaining):
                    last_renewal = self._monotonic()
                    break
                if self._observed.holder_identity not in ("", self.identity):
                    self._end_term(f"lease taken by {self._observed.holder_identity}")
                    return
                if await stopped_within(self._stopping, min(self.retry_period, remaining)):
                    return

    async def _try(self, timeout: float) -> bool:
        """One acquire-or-renew attempt, bounded by ``timeout`` seconds (waiting for a write in
        progress included); False on any failure."""

        async def attempt() -> bool:
            async with self._write_lock:
                return await asyncio.to_thread(self._try_acquire_or_renew)

        try:
            async with asyncio.timeout(max(timeout, 0.001)):
                return await attempt()
        except TimeoutError:
            log.warning("lease request timed out", extra=self._log_fields())
        except KubeApiError as exc:
            log.warning("lease request failed", extra={**self._log_fields(), "error": str(exc)})
        return False

    def _try_acquire_or_renew(self) -> bool:
        """client-go's ``tryAcquireOrRenew`` (blocking)."""
        now = format_micro_time(self._wall_clock())
        desired = LeaseRecord(
            holder_identity=self.identity,
            lease_duration_seconds=max(1, round(self.lease_duration)),
            acquire_time=now,
            renew_time=now,
            lease_transitions=0,
        )
        try:
            lease = self.client.get(self.lease_path)
        except KubeApiError as exc:
            if exc.status != 404:
                raise
            return self._create(desired)
        current = LeaseRecord.from_spec(lease.get("spec"))
        if current != self._observed:
            self._observed = current
            self._observed_at = self._monotonic()
        self._annotations = dict((lease.get("metadata") or {}).get("annotations") or {})
        held_by_other = current.holder_identity not in ("", self.identity)
        if held_by_other and not self._expired(current):
            return False
        if current.holder_identity == self.identity:
            desired = LeaseRecord(
                holder_identity=self.identity,
                lease_duration_seconds=desired.lease_duration_seconds,
                acquire_time=current.acquire_time or now,
                renew_time=now,
                lease_transitions=current.lease_transitions,
            )
        else:
            desired = LeaseRecord(
                holder_identity=self.identity,
                lease_duration_seconds=desired.lease_duration_seconds,
                acquire_time=now,
                renew_time=now,
                lease_transitions=current.lease_transitions + 1,
            )
        lease["spec"] = {**(lease.get("spec") or {}), **desired.to_spec()}
        try:
            written = self._put(lease)
        except KubeApiError as exc:
            if exc.status == 409:
                return False
            raise
        self._observe_written(written, desired)
        return True

    def _expired(self, record: LeaseRecord) -> bool:
        return self._observed_at + record.lease_duration_seconds <= self._monotonic()

    def _create(self, desired: LeaseRecord) -> bool:
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": desired.to_spec(),
        }
        path = self.lease_path.rsplit("/", 1)[0]
        try:
            written = self.client.request("POST", path, body=body)
        except KubeApiError as exc:
            if exc.status == 409:  # another candidate created it first
                return False
            raise
        self._observe_written(written, desired)
        return True

    def _put(self, lease: dict[str, Any]) -> dict[str, Any]:
        """Replace the Lease; the body's ``metadata.resourceVersion`` makes it conditional."""
        return self.client.request("PUT", self.lease_path, body=lease)

    def _observe_written(self, written: Mapping[str, Any], record: LeaseRecord) -> None:
        spec = written.get("spec")
        self._observed = LeaseRecord.from_spec(spec) if spec else record
        self._observed_at = self._monotonic()
        self._annotations = dict((written.get("metadata") or {}).get("annotations") or {})

    async def _release(self) -> None:
        """Give the Lease up (empty holder, 1 s duration) if it still names this elector."""

        def release() -> bool:
            lease = self.client.get(self.lease_path)
            current = LeaseRecord.from_spec(lease.get("spec"))
            if current.holder_identity != self.identity:
                return False
            now = format_micro_time(self._wall_clock())
            released = LeaseRecord(
                holder_identity="",
                lease_duration_seconds=1,
                acquire_time=now,
                renew_time=now,
                lease_transitions=current.lease_transitions,
            )
            lease["spec"] = {**(lease.get("spec") or {}), **released.to_spec()}
            self._observe_written(self._put(lease), released)
            return True

        try:
            async with self._write_lock:
                async with asyncio.timeout(self.renew_deadline):
                    released = await asyncio.to_thread(release)
        except (TimeoutError, KubeApiError) as exc:
            log.warning(
                "could not release the lease", extra={**self._log_fields(), "error": str(exc)}
            )
            return
        if released:
            log.info("released the lease", extra=self._log_fields())

    def _begin_term(self) -> None:
        self._term = Term(
            identity=self.identity,
            annotations=MappingProxyType(dict(self._annotations)),
            transitions=self._observed.lease_transitions,
        )
        self._leading.set()
        self._leading.clear()
        log.info("became the leader", extra=self._log_fields())

    def _end_term(self, why: str) -> None:
        term, self._term = self._term, None
        if term is not None and term.active:
            term.lost.set()
            log.info("no longer the leader", extra={**self._log_fields(), "reason": why})

    def _log_fields(self) -> dict[str, str]:
        return {"lease": f"{self.namespace}/{self.name}", "identity": self.identity}
