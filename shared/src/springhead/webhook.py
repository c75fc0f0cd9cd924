"""Receiving webhooks: what the HTTP and GitHub sources share.

A webhook source is a :class:`WebhookAdapter` given a *receiver*: a pure function from a
:class:`WebhookRequest` to the CloudEvents it carries (or a :class:`Rejection`). The adapter serves
the receiver on the runtime's HTTP server and answers the caller only after the sink accepted every
event: 202 then, or 503 with Retry-After when the sink failed after the delivery policy's retries,
so the caller redelivers and nothing is lost.

Order of checks: method (405), requests in flight (503), credentials decided from the head
(bearer, basic: 401/403, before any of the body is read), body size (413), rate limit (429),
signatures over the body (HMAC: 401/403), then the receiver (400/404/415 ... with the reason in
the body). A caller's mistake is never a 5xx. Slow heads and bodies are the server's to time out
(408; ``SPRINGHEAD_HEAD_TIMEOUT``, ``SPRINGHEAD_BODY_TIMEOUT``).

Headers a source reads a single value from (CloudEvents attributes, credentials, signatures, the
idempotency key, GitHub's delivery headers) must appear once and be valid UTF-8: a repeat or
undecodable bytes get 400 naming the header. One rule for all of them, credentials included: a
request that says two things is ambiguous, and no guess is safe.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Self
from urllib.parse import parse_qsl

from cloudevents.core.base import BaseCloudEvent
from multidict import CIMultiDictProxy
from pydantic import AfterValidator, Field, model_validator

from springhead.asgi import (
    AsgiApp,
    BodyTooLarge,
    ClientGone,
    Receive,
    Scope,
    Send,
    read_body,
    request_headers,
    respond,
)
from springhead.config import ConfigError, Secret, SourceSettings
from springhead.metrics import WebhookMetrics
from springhead.sender import Sender

__all__ = [
    "Authenticator",
    "Rejection",
    "TokenBucket",
    "WebhookAdapter",
    "WebhookRequest",
    "WebhookSettings",
    "basic_auth",
    "bearer_auth",
    "header_text",
    "hmac_signature",
    "sign",
]

log = logging.getLogger("springhead.webhook")

_RESERVED_PATHS = frozenset({"/healthz", "/readyz", "/health", "/readiness", "/metrics"})


class Rejection(Exception):
    """A request the source will not forward: ``status`` and a ``reason`` for the caller."""

    def __init__(self, status: int, reason: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"{status}: {reason}")
        self.status = status
        self.reason = reason
        self.headers = dict(headers or {})


@dataclass(frozen=True)
class WebhookRequest:
    """What a receiver sees of one request: the raw body, byte for byte, and its headers."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    query: Mapping[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        """A header, case-insensitively (``headers`` may be a plain dict in tests); Rejection
        (400) when its value is not valid UTF-8."""
        value = self.headers.get(name)
        if value is None:
            lowered = name.lower()
            value = next((v for k, v in self.headers.items() if k.lower() == lowered), None)
        return None if value is None else header_text(name, value)

    def combined_header(self, name: str) -> str | None:
        """A header that may be sent several times (``tracestate``), its values joined by
        commas as RFC 9110 combines them."""
        return self.header(name)


class _ServedRequest(WebhookRequest):
    """A request as the server received it: its headers are a case-insensitive multidict, so
    a header sent twice is seen, and refused (400) where one value is read."""

    headers: CIMultiDictProxy[str]

    def header(self, name: str) -> str | None:
        values = self.headers.getall(name, None)
        if values is None:
            return None
        if len(values) > 1:
            raise Rejection(400, f"header {name} appears {len(values)} times; send it once")
        return header_text(name, values[0])

    def combined_header(self, name: str) -> str | None:
        values = self.headers.getall(name, None)
        if values is None:
            return None
        return ",".join(header_text(name, value) for value in values)


def header_text(name: str, value: str) -> str:
    """``value`` of header ``name`` as text; Rejection (400 naming the header) when the bytes
    sent were not UTF-8 (the server decodes them as lone surrogates, which no event may carry)."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise Rejection(400, f"header {name} is not valid UTF-8") from None
    return value


def _raw(value: str) -> bytes:
    """A header value's original bytes: the server decodes non-UTF-8 bytes as surrogates."""
    return value.encode("utf-8", "surrogateescape")


@dataclass(frozen=True)
class Authenticator:
    """Checks a request's credentials; raises :class:`Rejection` (401/403) when they do not hold.

    ``needs_body``: False for a check decided from the head alone (bearer, basic), which runs
    before any of the body is read, so an unauthenticated caller cannot hold a request slot
    with a slow body; True for a signature over the body (HMAC).
    """

    check: Callable[[WebhookRequest], None]
    needs_body: bool = True

    def __call__(self, request: WebhookRequest) -> None:
        self.check(request)


def bearer_auth(token: str) -> Authenticator:
    """``Authorization: Bearer <token>``, compared in constant time."""
    expected = token.encode()

    def check(request: WebhookRequest) -> None:
        header = request.header("Authorization") or ""
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given:
            raise Rejection(401, "bearer token required", {"WWW-Authenticate": "Bearer"})
        if not hmac.compare_digest(_raw(given.strip()), expected):
            raise Rejection(403, "bearer token not accepted")

    return Authenticator(check, needs_body=False)


def basic_auth(user: str, password: str) -> Authenticator:
    """HTTP basic authentication, compared in constant time."""
    expected = f"{user}:{password}".encode()

    def check(request: WebhookRequest) -> None:
        header = request.header("Authorization") or ""
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "basic" or not given:
            raise Rejection(401, "basic credentials required", {"WWW-Authenticate": "Basic"})
        try:
            decoded = base64.b64decode(given.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise Rejection(
                401, "malformed basic credentials", {"WWW-Authenticate": "Basic"}
            ) from None
        if not hmac.compare_digest(decoded, expected):
            raise Rejection(403, "credentials not accepted")

    return Authenticator(check, needs_body=False)


def sign(secret: str | bytes, body: bytes, algorithm: str = "sha256") -> str:
    """``<algorithm>=<hex HMAC of body>``, the signature header value GitHub and others send."""
    key = secret.encode() if isinstance(secret, str) else secret
    return f"{algorithm}={hmac.new(key, body, algorithm).hexdigest()}"


def hmac_signature(secret: str, header: str, algorithm: str = "sha256") -> Authenticator:
    """Header ``header`` must be ``<algorithm>=<hex HMAC of the raw body>`` (constant time)."""
    key = secret.encode()
    if algorithm not in hashlib.algorithms_guaranteed:
        raise ValueError(f"unknown digest {algorithm!r}")

    def check(request: WebhookRequest) -> None:
        given = request.header(header)
        if not given:
            raise Rejection(401, f"signature header {header} missing")
        expected = sign(key, request.body, algorithm)
        if not hmac.compare_digest(_raw(given.strip()), expected.encode()):
            raise Rejection(403, f"signature in {header} does not match the body")

    return Authenticator(check)


class TokenBucket:
    """Requests per second with a burst allowance; ``take`` says how long to wait if empty."""

    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.capacity = float(max(1, burst))
        self.tokens = self.capacity
        self.clock = clock
        self.updated = clock()

    def take(self) -> float:
        """Take one token: 0.0 when allowed, else the seconds until one is available."""
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


def _webhook_path(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError(f"must start with '/', got {value!r}")
    if value in _RESERVED_PATHS:
        raise ValueError(f"{value} is served by the runtime (health, readiness, metrics)")
    return value


class WebhookSettings(SourceSettings):
    """Settings every webhook source shares (``WEBHOOK_*``)."""

    webhook_path: Annotated[str, AfterValidator(_webhook_path)] = Field(
        default="/", validation_alias="WEBHOOK_PATH"
    )
    """Path that accepts POSTs; served on the runtime's port (``SPRINGHEAD_PORT``)."""

    max_body_bytes: int = Field(
        default=1024 * 1024, ge=1, validation_alias="WEBHOOK_MAX_BODY_BYTES"
    )
    """Largest accepted body; larger requests get 413 (default 1 MiB)."""

    rate_limit: float | None = Field(default=None, gt=0, validation_alias="WEBHOOK_RATE_LIMIT")
    """Requests per second accepted (token bucket); more get 429 with Retry-After. Unset: none."""

    rate_burst: int = Field(default=100, ge=1, validation_alias="WEBHOOK_RATE_BURST")
    """Requests accepted at once above ``WEBHOOK_RATE_LIMIT`` before 429s start."""

    max_in_flight: int = Field(default=256, ge=1, validation_alias="WEBHOOK_MAX_IN_FLIGHT")
    """Requests handled at once (being read, checked or waiting for the sink); more get 503 with
    Retry-After at once. Bounds what a burst or a slow sink can hold in memory: at most this many
    bodies of up to ``WEBHOOK_MAX_BODY_BYTES``. Health, readiness and metrics are not counted."""

    retry_after: int = Field(default=5, ge=0, validation_alias="WEBHOOK_RETRY_AFTER")
    """Seconds in the Retry-After of a 503 (sink failed) or of a request refused while draining."""

    bearer_token: Secret = Field(default=None, validation_alias="WEBHOOK_BEARER_TOKEN")
    """Require ``Authorization: Bearer <token>`` (or ``WEBHOOK_BEARER_TOKEN_FILE``)."""

    basic_user: str | None = Field(default=None, validation_alias="WEBHOOK_BASIC_USER")
    """Require HTTP basic auth with this user (and ``WEBHOOK_BASIC_PASSWORD``)."""

    basic_password: Secret = Field(default=None, validation_alias="WEBHOOK_BASIC_PASSWORD")
    """Password for ``WEBHOOK_BASIC_USER`` (or ``WEBHOOK_BASIC_PASSWORD_FILE``)."""

    @model_validator(mode="after")
    def _basic_pair(self) -> Self:
        if bool(self.basic_user) != bool(self.basic_password):
            raise ConfigError(
                "WEBHOOK_BASIC_PASSWORD" if self.basic_user else "WEBHOOK_BASIC_USER",
                "WEBHOOK_BASIC_USER and WEBHOOK_BASIC_PASSWORD must be set together",
            )
        return self

    def authenticators(self) -> list[Authenticator]:
        """The credential checks these settings ask for (each must pass)."""
        checks: list[Authenticator] = []
        if self.bearer_token:
            checks.append(bearer_auth(self.bearer_token.get_secret_value()))
        if self.basic_user and self.basic_password:
            checks.append(basic_auth(self.basic_user, self.basic_password.get_secret_value()))
        return checks


#: What a webhook request gets: status, text (None: no body) and headers.
Answer = tuple[int, str | None, Mapping[str, str] | None]

#: Turns a request into the events it carries, or raises :class:`Rejection`.
Receiver = Callable[[WebhookRequest], Sequence[BaseCloudEvent]]


class WebhookAdapter:
    """Serves ``receiver`` at the settings' path and hands each event to the sender."""

    def __init__(
        self,
        *,
        settings: WebhookSettings,
        sender: Sender,
        receiver: Receiver,
        authenticators: Sequence[Authenticator] = (),
        accepted_status: int = 202,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.sender = sender
        self.receiver = receiver
        self.authenticators = list(authenticators)
        self._head_checks = [check for check in self.authenticators if not check.needs_body]
        self._body_checks = [check for check in self.authenticators if check.needs_body]
        self.accepted_status = accepted_status
        self.limiter = (
            TokenBucket(settings.rate_limit, settings.rate_burst, clock=clock)
            if settings.rate_limit
            else None
        )
        self._stopping = asyncio.Event()
        self._in_flight = 0
        self._retry_after = {"Retry-After": str(settings.retry_after)}
        self.metrics = WebhookMetrics(sender.metrics.registry)

    @property
    def retry_after(self) -> int:
        """Seconds in the Retry-After of a 503: the runtime's, too, for requests refused while
        draining."""
        return self.settings.retry_after

    @property
    def in_flight(self) -> int:
        """Requests being handled now (counted against ``WEBHOOK_MAX_IN_FLIGHT``)."""
        return self._in_flight

    def routes(self) -> dict[str, AsgiApp]:
        """Routes the runtime adds to its HTTP server."""
        return {self.settings.webhook_path: self.handle}

    async def run(self) -> None:
        """The runtime's server does the receiving; this waits for :meth:`stop`."""
        await self._stopping.wait()

    async def stop(self) -> None:
        """End :meth:`run`. The runtime's server refuses new requests from the moment a signal is
        handled (503, so callers redeliver) and lets accepted ones finish sending."""
        self._stopping.set()

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The webhook path's ASGI app: check, receive, deliver, answer."""
        try:
            status, text, headers = await self.answer(scope, receive)
        except ClientGone:  # nobody to answer; nothing was forwarded
            return
        self.metrics.requests.labels(str(status)).inc()
        await respond(send, status, text, headers)

    async def answer(self, scope: Scope, receive: Receive) -> Answer:
        """The status, text and headers a request gets, after its events were delivered."""
        if scope["method"] != "POST":
            return _refused(405, "only POST is accepted", {"Allow": "POST"})
        if self._in_flight >= self.settings.max_in_flight:
            return _refused(
                503,
                f"{self._in_flight} requests in flight already (WEBHOOK_MAX_IN_FLIGHT)",
                self._retry_after,
            )
        self._in_flight += 1
        try:
            return await self._admitted(scope, receive)
        finally:
            self._in_flight -= 1

    async def _admitted(self, scope: Scope, receive: Receive) -> Answer:
        headers = request_headers(scope)
        query = scope["query_string"]
        queried = _first_values(query.decode("latin-1")) if query else {}
        if self._head_checks:  # before any of the body is read
            head = _ServedRequest(scope["method"], scope["path"], headers, b"", queried)
            try:
                for check in self._head_checks:
                    check(head)
            except Rejection as rejection:
                return _refused(rejection.status, rejection.reason, rejection.headers)
        limit = self.settings.max_body_bytes
        length = headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) > limit:
            return _refused(413, f"body larger than {limit} bytes")
        try:
            body = await read_body(receive, limit)
        except BodyTooLarge:
            return _refused(413, f"body larger than {limit} bytes")
        if self.limiter is not None:
            wait = self.limiter.take()
            if wait > 0:
                return _refused(
                    429, "rate limit exceeded", {"Retry-After": str(max(1, round(wait + 0.5)))}
                )
        incoming = _ServedRequest(scope["method"], scope["path"], headers, body, queried)
        try:
            for check in self._body_checks:
                check(incoming)
            events = self.receiver(incoming)
        except Rejection as rejection:
            return _refused(rejection.status, rejection.reason, rejection.headers)
        if len(events) == 1:  # the usual case: no task and gather for one delivery
            results = [await self.sender.send(events[0])]
        else:
            results = await asyncio.gather(*(self.sender.send(event) for event in events))
        if all(result.accepted for result in results):
            return self.accepted_status, None, None
        failed = next(result for result in results if not result.accepted)
        log.warning(
            "sink did not accept the event; caller asked to redeliver",
            extra={"status": failed.status, "error": failed.error},
        )
        return 503, "sink unavailable, redeliver later\n", self._retry_after


def _refused(status: int, reason: str, headers: Mapping[str, str] | None = None) -> Answer:
    log.info("request refused", extra={"status": status, "reason": reason})
    return status, reason + "\n", headers


def _first_values(query: str) -> dict[str, str]:
    """Query parameters, the first value of each name."""
    values: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        values.setdefault(name, value)
    return values
