"""CloudEvent -> HTTP delivery to the sink, with the Knative delivery policy.

One :class:`Sender` per process holds one pooled keep-alive aiohttp session. Messages are built
with the CloudEvents 2.x HTTP binding (``cloudevents.core.bindings.http``).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import aiohttp
from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings.http import HTTPMessage, to_binary, to_structured
from cloudevents.core.formats.json import JSONFormat

from springhead.backoff import exponential_backoff, stopped_within
from springhead.cespec import binary_headers
from springhead.config import ContentMode, SourceSettings
from springhead.delivery import (
    DeliveryPolicy,
    backoff_delay,
    dead_letter_extensions,
    is_retryable,
    retry_after_delay,
)
from springhead.events import trusted_event
from springhead.metrics import DeliveryMetrics, Metrics

__all__ = ["DeliveryOutcome", "DeliveryResult", "Reply", "Sender", "SinkTarget", "with_extensions"]

log = logging.getLogger("springhead.sender")

_FORMAT = JSONFormat()
_NO_AUTO_CONTENT_TYPE = ("Content-Type",)

#: Longest pause between two rounds of :meth:`Sender.send_until_accepted`.
REDELIVERY_PAUSE_MAX = 30.0
#: Smallest base of that pause: a policy without backoff delay must not resend in a tight loop.
REDELIVERY_PAUSE_MIN_BASE = 0.05
#: Rounds beyond this one pause as long as it: the ceiling has long reached the maximum, and
#: ``2.0 ** n`` overflows a float past n = 1023.
_REDELIVERY_ROUNDS_CAP = 32


class DeliveryOutcome(StrEnum):
    """Final outcome of one event."""

    DELIVERED = "delivered"
    """The sink answered 2xx."""
    DEAD_LETTERED = "dead_lettered"
    """Retries were exhausted (or the failure was not retryable); the dead-letter sink took it."""
    FAILED = "failed"
    """Neither the sink nor a dead-letter sink accepted the event."""


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What happened to one event: outcome, the last status seen, attempts made."""

    outcome: DeliveryOutcome
    status: int | None
    attempts: int
    error: str | None = None
    reply: Reply | None = None
    """The sink's answer when it accepted the event with a non-empty body (a broker routes a
    reply that is a CloudEvent back in); None for an empty body or any other outcome."""

    @property
    def accepted(self) -> bool:
        """True when someone (sink or dead-letter sink) took responsibility for the event."""
        return self.outcome is not DeliveryOutcome.FAILED


@dataclass(frozen=True, slots=True)
class Reply:
    """A non-empty 2xx answer of the sink: its headers and body, as received."""

    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class SinkTarget:
    """Where one event goes when a process sends for many source objects, each with its own
    sink (the multi-tenant ping): the sink URL, the object's namespace (the ``Kn-Namespace``
    header) and its extension overrides (``ceOverrides``). The sender's session, delivery policy,
    dead-letter sink and metrics serve every target."""

    sink: str
    namespace: str = "default"
    overrides: Mapping[str, str] = field(default_factory=dict)


class _Attempt:
    """One POST's answer (a plain class: one is made per event, a frozen dataclass costs more)."""

    __slots__ = ("body", "error", "headers", "ok", "status")

    def __init__(
        self, status: int | None, headers: Mapping[str, str], body: bytes, error: str | None
    ) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.error = error
        self.ok = status is not None and 200 <= status < 300


def with_extensions(event: BaseCloudEvent, extensions: Mapping[str, str]) -> BaseCloudEvent:
    """A copy of ``event`` whose extensions are overwritten by ``extensions``."""
    if not extensions:
        return event
    # Not validated again: the event's attributes were, and the extensions (overrides checked at
    # start-up, knativeerror*) are valid by construction; a received event keeps its attributes
    # in the binding's string form (time included), which the SDK's validation would refuse.
    return trusted_event({**event.get_attributes(), **extensions}, event.get_data())


def _redelivery_pause(policy: DeliveryPolicy, rounds: int) -> float:
    """Seconds to wait after the ``rounds``-th refused round of :meth:`Sender.send_until_accepted`:
    :func:`~springhead.backoff.exponential_backoff` from the policy's backoff delay (at least
    :data:`REDELIVERY_PAUSE_MIN_BASE`), at most :data:`REDELIVERY_PAUSE_MAX`."""
    return exponential_backoff(
        min(rounds, _REDELIVERY_ROUNDS_CAP),
        base=max(REDELIVERY_PAUSE_MIN_BASE, policy.backoff_delay),
        maximum=REDELIVERY_PAUSE_MAX,
    )


def _to_binary(event: BaseCloudEvent, event_format: JSONFormat) -> HTTPMessage:
    """The SDK's binary mode, with each value in the spec's string form (a Boolean extension is
    ``true``, where the SDK writes Python's ``True``)."""
    message = to_binary(event, event_format)
    message.headers.update(binary_headers(event.get_attributes()))
    return message


class Sender:
    """Delivers CloudEvents to one sink under a :class:`DeliveryPolicy`.

    Create it inside the running event loop (or call :meth:`start`), ``await close()`` at the end.
    :meth:`send` never raises for delivery failures: it returns a :class:`DeliveryResult`.
    """

    def __init__(
        self,
        *,
        sink: str,
        policy: DeliveryPolicy | None = None,
        namespace: str = "default",
        overrides: Mapping[str, str] | None = None,
        content_mode: ContentMode = ContentMode.BINARY,
        ca_certs: str | None = None,
        max_connections: int = 100,
        token_file: str | None = None,
        metrics: Metrics | None = None,
        delivery_metrics: DeliveryMetrics | None = None,
    ) -> None:
        self.sink = sink
        self.policy = policy or DeliveryPolicy()
        # Several senders in one process (the broker's, one per trigger) share one set.
        self.metrics = delivery_metrics or DeliveryMetrics((metrics or Metrics()).registry)
        self._overrides = dict(overrides or {})
        self._encode = to_structured if content_mode is ContentMode.STRUCTURED else _to_binary
        self._headers = {"Kn-Namespace": namespace}
        self._token_file = Path(token_file) if token_file else None
        self._ssl: ssl.SSLContext | bool = True
        if ca_certs:
            context = ssl.create_default_context()
            context.load_verify_locations(cadata=ca_certs)
            self._ssl = context
        self._max_connections = max_connections
        self._timeout = aiohttp.ClientTimeout(total=self.policy.timeout)
        self._session: aiohttp.ClientSession | None = None
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._per_type: dict[str, tuple[Any, Any]] = {}
        """Per event type: the metrics children of a delivery (``labels()`` takes a lock and a
        lookup per call)."""
        self._delivered: dict[int | None, DeliveryResult] = {}
        """Results of first-attempt deliveries by status; frozen, so one serves every event."""

    @classmethod
    def from_settings(cls, settings: SourceSettings, metrics: Metrics | None = None) -> Sender:
        """A sender configured by the adapter contract's settings."""
        return cls(
            sink=settings.sink,
            policy=DeliveryPolicy.from_settings(settings),
            namespace=settings.namespace,
            overrides=settings.ce_overrides,
            content_mode=settings.content_mode,
            ca_certs=settings.ca_certs,
            max_connections=settings.max_connections,
            token_file=settings.oidc_token_file if settings.audience else None,
            metrics=metrics,
        )

    async def start(self) -> None:
        """Open the pooled HTTP session (done lazily by :meth:`send` too)."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, keepalive_timeout=30, ssl=self._ssl
            )
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, auto_decompress=False
            )

    async def close(self) -> None:
        """Close the HTTP session and its connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> Sender:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def in_flight(self) -> int:
        """Events handed to :meth:`send` whose outcome is not known yet."""
        return self._in_flight

    async def drain(self, timeout: float | None) -> bool:
        """Wait until no event is in flight; False if ``timeout`` seconds passed first."""
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    def encode(self, event: BaseCloudEvent) -> HTTPMessage:
        """The HTTP message (headers and body) ``event`` is sent as, overrides applied."""
        return self._encode(with_extensions(event, self._overrides), _FORMAT)

    async def send(self, event: BaseCloudEvent, target: SinkTarget | None = None) -> DeliveryResult:
        """Deliver ``event`` to the sink (``target``'s, with its namespace and overrides, when
        given), retrying and dead-lettering as the policy says."""
        if self._in_flight == 0:
            self._idle.clear()
        self._in_flight += 1
        started = time.perf_counter()
        event_type = event.get_type()
        try:
            overrides = self._overrides if target is None else target.overrides
            if overrides:
                event = with_extensions(event, overrides)
            if target is None:
                result = await self._deliver(event, self.sink, self._headers)
            else:
                result = await self._deliver(event, target.sink, {"Kn-Namespace": target.namespace})
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()
        children = self._per_type.get(event_type)
        if children is None:
            metrics = self.metrics
            children = self._per_type[event_type] = (
                metrics.events_sent.labels(event_type, DeliveryOutcome.DELIVERED.value),
                metrics.latency.labels(event_type),
            )
        children[1].observe(time.perf_counter() - started)
        if result.outcome is DeliveryOutcome.DELIVERED:
            children[0].inc()
        else:
            self.metrics.events_sent.labels(event_type, result.outcome.value).inc()
            if result.outcome is DeliveryOutcome.DEAD_LETTERED:
                self.metrics.dead_lettered.labels(event_type).inc()
            log.warning(
                "event not delivered to sink",
                extra={
                    "event_id": event.get_id(),
                    "event_type": event_type,
                    "outcome": result.outcome.value,
                    "status": result.status,
                    "attempts": result.attempts,
                    "error": result.error,
                },
            )
        return result

    async def send_until_accepted(
        self,
        event: BaseCloudEvent,
        stop: asyncio.Event | None = None,
        *,
        on_refused: Callable[[DeliveryResult, int, float], None] | None = None,
    ) -> DeliveryResult:
        """Deliver ``event`` in rounds until the sink or the dead-letter sink accepts it, for
        at-least-once sources that must not move past an event nobody took.

        A round is one :meth:`send` (the policy's retries, then the dead-letter sink), with its
        metrics and logs. After the ``n``-th round nobody accepted (``n`` from 1), the sender
        waits before the next: a jittered exponential backoff
        (:func:`~springhead.backoff.exponential_backoff`) from the policy's ``backoff_delay`` (at
        least :data:`REDELIVERY_PAUSE_MIN_BASE`), never longer than :data:`REDELIVERY_PAUSE_MAX`.
        ``on_refused(result, n, pause)``, if given, is called before that wait with the round's
        result and the seconds about to be waited (for the caller's own metrics and logs).

        Returns the first accepted result (``accepted`` True: delivered or dead-lettered). With
        ``stop`` given, it also returns once ``stop`` is set: after a refused round when ``stop``
        is already set (then without calling ``on_refused``), or as soon as it is set during the
        wait; the result returned then is the last round's, refused (``accepted`` False). ``stop``
        never prevents the first round, nor interrupts a round under way. Without ``stop`` it
        returns only when the event was accepted; only cancelling the caller ends it sooner. It
        never raises for delivery failures.
        """
        result = await self.send(event)
        rounds = 0
        while not result.accepted:
            if stop is not None and stop.is_set():
                return result
            rounds += 1
            delay = _redelivery_pause(self.policy, rounds)
            if on_refused is not None:
                on_refused(result, rounds, delay)
            if stop is None:
                await asyncio.sleep(delay)
            elif await stopped_within(stop, delay):
                return result
            result = await self.send(event)
        return result

    async def _deliver(
        self, event: BaseCloudEvent, sink: str, extra_headers: Mapping[str, str]
    ) -> DeliveryResult:
        message = self._encode(event, _FORMAT)
        first = await self._post(sink, message, extra_headers)
        if first.ok and first.body:
            return DeliveryResult(
                DeliveryOutcome.DELIVERED, first.status, 1, reply=Reply(first.headers, first.body)
            )
        if first.ok:
            result = self._delivered.get(first.status)
            if result is None:
                result = DeliveryResult(DeliveryOutcome.DELIVERED, first.status, 1)
                self._delivered[first.status] = result
            return result
        attempt, attempts = await self._with_retries(
            sink, message, event.get_type(), extra_headers, first
        )
        if attempt.ok:
            reply = Reply(attempt.headers, attempt.body) if attempt.body else None
            return DeliveryResult(DeliveryOutcome.DELIVERED, attempt.status, attempts, reply=reply)
        dls = self.policy.dead_letter_sink
        if dls is None:
            return DeliveryResult(DeliveryOutcome.FAILED, attempt.status, attempts, attempt.error)
        dead = with_extensions(event, dead_letter_extensions(sink, attempt.status, attempt.body))
        dls_attempt, dls_attempts = await self._with_retries(
            dls, self._encode(dead, _FORMAT), event.get_type(), extra_headers
        )
        outcome = DeliveryOutcome.DEAD_LETTERED if dls_attempt.ok else DeliveryOutcome.FAILED
        error = None if dls_attempt.ok else f"dead-letter sink: {dls_attempt.error or 'rejected'}"
        return DeliveryResult(outcome, attempt.status, attempts + dls_attempts, error)

    async def _with_retries(
        self,
        url: str,
        message: HTTPMessage,
        event_type: str,
        extra_headers: Mapping[str, str],
        first: _Attempt | None = None,
    ) -> tuple[_Attempt, int]:
        """Attempts until one succeeds or the policy gives up; ``first``: one already made."""
        policy = self.policy
        retries = 0
        while True:
            attempt = first if first is not None else await self._post(url, message, extra_headers)
            first = None
            if attempt.ok or not is_retryable(attempt.status) or retries >= policy.retry:
                return attempt, retries + 1
            retries += 1
            self.metrics.retries.labels(event_type).inc()
            delay = retry_after_delay(policy, attempt.status, attempt.headers)
            if delay is None:
                delay = backoff_delay(policy, retries)
            await asyncio.sleep(delay)

    async def _post(
        self, url: str, message: HTTPMessage, extra_headers: Mapping[str, str]
    ) -> _Attempt:
        if self._session is None or self._session.closed:
            await self.start()
        assert self._session is not None  # noqa: S101 - start() just opened it
        headers: dict[str, Any] = {**message.headers, **extra_headers}
        if self._token_file is not None:
            headers["Authorization"] = f"Bearer {self._read_token()}"
        try:
            async with self._session.post(
                url,
                data=message.body,
                headers=headers,
                allow_redirects=False,
                # An event without datacontenttype reaches the sink without Content-Type, not
                # octet-stream. Per request, only then: a session-wide skip list costs every
                # request a header merge in aiohttp.
                skip_auto_headers=None if "content-type" in headers else _NO_AUTO_CONTENT_TYPE,
            ) as response:
                body = await response.read()
                return _Attempt(response.status, response.headers, body, None)
        except TimeoutError:
            return _Attempt(None, {}, b"", "timed out")
        except aiohttp.ClientError as exc:
            return _Attempt(None, {}, b"", f"{type(exc).__name__}: {exc}")

    def _read_token(self) -> str:
        assert self._token_file is not None  # noqa: S101 - only called when configured
        return self._token_file.read_text().strip()
