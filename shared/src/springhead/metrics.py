"""Prometheus metrics of one Springhead process, on a registry of its own.

Nothing is registered at import time: each process (and each test) builds its own. The host owns
the registry (:class:`Metrics`, with ``springhead_build_info``); a sender registers
:class:`DeliveryMetrics` on it, and a service its own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "DeliveryMetrics", "Metrics"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    """A process's registry, holding ``springhead_build_info{version,revision}`` (always 1, as
    Prometheus' ``*_build_info`` convention has it) once :meth:`set_build` names the build."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self._build_info = Gauge(
            "springhead_build_info",
            "The running build: Springhead's version and the source revision it was built from.",
            ["version", "revision"],
            registry=self.registry,
        )

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
