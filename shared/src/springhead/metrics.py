"""Prometheus metrics of one Springhead process, on a registry of its own.

Nothing is registered at import time: each process (and each test) builds its own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    """The delivery metrics every source exports; sources may register more on ``registry``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
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

    def render(self) -> bytes:
        """The Prometheus text exposition of this registry."""
        return generate_latest(self.registry)
