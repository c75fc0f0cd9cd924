"""The ingress: ``POST /<namespace>/<broker>`` takes one CloudEvent and stores it in the broker.

Answers, in order of the checks: 404 for a path that is not a broker's (the runtime's server,
before the body is read, as Knative's Kafka broker answers; its MT broker reads the body first);
405 for a method other than POST (OPTIONS: 200, as Knative's broker); 413 for a body over
``BROKER_MAX_BODY_BYTES``; 400 for a request that is not one valid CloudEvent in binary or
structured mode (a batch too), or whose ``knativebrokerttl`` ran out; 503 with ``Retry-After``
when the backend did not store it (Kafka unreachable, or slower than ``BROKER_PRODUCE_TIMEOUT``);
202 once it is stored (Kafka: acknowledged by every in-sync replica, ``acks=all``).

A ``GET`` carrying ``K-Network-Probe: probe`` (Knative's data-plane probe, which the controller
sends to every ingress endpoint for its Broker's ``ProbeSucceeded`` condition) is answered 200 on
a broker this ingress serves, 404 on any other path; it is not counted as a request.

Before storing, the event gets ``knativearrivaltime`` and its ``knativebrokerttl``
(:func:`springhead_broker.events.admit`); the ``partitionkey`` extension becomes the record key.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter
from springhead.asgi import (
    AsgiApp,
    BodyTooLarge,
    ClientGone,
    Receive,
    Scope,
    Send,
    read_body,
    respond,
)
from springhead.httpbinding import MalformedEvent
from springhead.webhook import Rejection, header_text

from springhead_broker.backend import Backend, Unavailable
from springhead_broker.contract import BrokerSpec, Contract
from springhead_broker.events import LoopExhausted, admit, decode_event

__all__ = ["Ingress"]

log = logging.getLogger("springhead.broker")

_ALLOW = {"Allow": "POST, OPTIONS"}
#: Knative's probe header (knative.dev/pkg/network ProbeHeaderName) and the value it sends.
_PROBE = (b"k-network-probe", b"probe")


class Ingress:
    """Serves one route per broker of the current contract (:meth:`update` swaps them)."""

    def __init__(
        self,
        backend: Backend,
        *,
        max_body_bytes: int,
        retry_after: int,
        registry: CollectorRegistry,
    ) -> None:
        self._backend = backend
        self._max_body = max_body_bytes
        self._retry_after = {"Retry-After": str(retry_after)}
        self._routes: dict[str, AsgiApp] = {}
        self._requests = Counter(
            "springhead_broker_ingress_requests",
            "Requests to the ingress by broker (<namespace>/<name>) and answer status.",
            ["broker", "status"],
            registry=registry,
        )

    @property
    def routes(self) -> Mapping[str, AsgiApp]:
        """Path -> app, one per broker; the same mapping object for the process's lifetime."""
        return self._routes

    def update(self, contract: Contract) -> None:
        """Serve exactly the brokers of ``contract`` from now on (others get 404)."""
        fresh = {path: self._app(broker) for path, broker in contract.brokers.items()}
        for path in [path for path in self._routes if path not in fresh]:
            del self._routes[path]
        self._routes.update(fresh)

    def _app(self, broker: BrokerSpec) -> AsgiApp:
        name = f"{broker.namespace}/{broker.name}"
        # The counter's child per status, looked up once: labels() on every request cost more
        # than picking the event's headers (bench/BROKER.md).
        counted: dict[int, Any] = {}

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["method"] == "GET" and _probed(scope):
                await respond(send, 200, None, None)
                return
            status, text, headers = await self._answer(broker, scope, receive)
            child = counted.get(status)
            if child is None:
                child = counted[status] = self._requests.labels(name, str(status))
            child.inc()
            await respond(send, status, text, headers)

        return app

    async def _answer(
        self, broker: BrokerSpec, scope: Scope, receive: Receive
    ) -> tuple[int, str | None, Mapping[str, str] | None]:
        method = scope["method"]
        if method == "OPTIONS":
            return 200, None, _ALLOW
        if method != "POST":
            return 405, f"method {method} not allowed: POST one CloudEvent\n", _ALLOW
        try:
            body = await read_body(receive, self._max_body)
        except BodyTooLarge:
            return 413, f"event larger than {self._max_body} bytes\n", None
        except ClientGone:
            return 400, "request body incomplete\n", None
        try:
            event = admit(decode_event(_single_headers(scope), body))
        except (MalformedEvent, LoopExhausted, Rejection) as exc:
            reason = getattr(exc, "reason", None) or str(exc)
            status = getattr(exc, "status", 400)
            return status, f"{reason}\n", None
        try:
            await self._backend.append(broker, event)
        except Unavailable as exc:
            log.warning(
                "event not stored: backend unavailable",
                extra={"broker": broker.path, "event_id": event.get_id(), "error": str(exc)},
            )
            return 503, "broker unavailable; try again later\n", self._retry_after
        return 202, None, None


def _probed(scope: Scope) -> bool:
    """Whether a request carries Knative's data-plane probe header."""
    return any((name, value) == _PROBE for name, value in scope["headers"])


def _single_headers(scope: Scope) -> dict[str, str]:
    """The ``ce-*`` and Content-Type headers, lower-cased: each once and valid UTF-8
    (:class:`~springhead.webhook.Rejection` 400 naming it, else)."""
    found: dict[str, str] = {}
    # The raw (name, value) pairs, not request_headers(): a case-insensitive copy of every
    # header costs more than picking the few an event has (ASGI gives names lower-cased).
    for raw_name, raw_value in scope["headers"]:
        key = raw_name.decode("latin-1").lower()
        if key.startswith("ce-") or key == "content-type":
            if key in found:
                raise Rejection(400, f"header {key} appears more than once; send it once")
            found[key] = header_text(key, raw_value.decode("utf-8", "surrogateescape"))
    return found
