"""Prometheus metrics of one Springhead process, on a registry of its own.

Nothing is registered at import time: each process (and each test) builds its own. The host owns
the registry (:class:`Metrics`, with ``springhead_build_info``); a sender registers
:class:`DeliveryMetrics` on it, and a service its own."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "DeliveryMetrics", "Metrics", "WatchMetrics", "WebhookMetrics"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    """A process's registry, holding ``springhead_build_info{version,revision}`` (always 1, as
    Prometheus' ``*_build_info`` convention has it) once :meth:`set_build` names the build, and
    ``springhead_ready`` (what ``/readyz`` answers, read at each scrape once
    :meth:`report_readiness` names the check)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self._build_info = Gauge(
            "springhead_build_info",
            "The running build: Springhead's version and the source revision it was built from.",
            ["version", "revision"],
            registry=self.registry,
        )
        self._ready = Gauge(
            "springhead_ready",
            "1 while the process is ready for work (/readyz answers 200), else 0.",
            registry=self.registry,
        )

    def report_readiness(self, is_ready: Callable[[], bool]) -> None:
        """Read ``springhead_ready`` from ``is_ready`` at every scrape."""
        self._ready.set_function(lambda: 1.0 if is_ready() else 0.0)

    def set_build(self, version: str, revision: str) -> None:
        """Name the running build (one series, value 1)."""
        self._build_info.clear()
        self._build_info.labels(version, revision).set(1)

    def render(self) -> bytes:
        """The Prometheus text exposition of this registry."""
        return generate_latest(self.registry)


class DeliveryMetrics:
    """The delivery metrics every source exports, registered on the process's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.events_sent = Counter(
            "springhead_events_sent",
            "Events handed to the sender, by CloudEvent type and final outcome "
            "(delivered, dead_lettered, failed).",
            ["type", "outcome"],
            registry=self.registry,
        )
        self.retries = Counter(
            "springhead_delivery_retries",
            "Delivery attempts after the first, by CloudEvent type.",
            ["type"],
            registry=self.registry,
        )
        self.dead_lettered = Counter(
            "springhead_events_dead_lettered",
            "Events delivered to the dead-letter sink, by CloudEvent type.",
            ["type"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "springhead_delivery_latency_seconds",
            "Time from handing an event to the sender until its final outcome, retries included.",
            ["type"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )


class WebhookMetrics:
    """What a webhook source answered: ``springhead_webhook_requests_total{status}``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "springhead_webhook_requests",
            "Requests to the webhook path, by the HTTP status answered.",
            ["status"],
            registry=registry,
        )


class WatchMetrics:
    """How the Kubernetes watches of an informer went, by watched resource and namespace
    (``*``: all, or cluster-scoped): each series exists from the informer's start, at 0."""

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ["resource", "watch_namespace"]
        self.restarts = Counter(
            "springhead_watch_restarts",
            "Watches reopened after they ended (server timeout, error or 410 Gone).",
            labels,
            registry=registry,
        )
        self.relists = Counter(
            "springhead_watch_relists",
            "Lists made again because the watch's resourceVersion was gone (410), to find what "
            "changed meanwhile.",
            labels,
            registry=registry,
        )
