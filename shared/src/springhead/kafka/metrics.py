"""The Kafka consumers' own Prometheus metrics (the Kafka source's, the broker dispatcher's),
registered on the process's registry.

The shared sender already counts sends, retries and dead letters by event type; these add what
only a Kafka consumer knows: records per topic and outcome, redelivery rounds, consumer lag (per
consumer group: a dispatcher runs one group per Trigger, on the same topic) and commits.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["KafkaMetrics"]

_COMMIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class KafkaMetrics:
    """Counters, gauges and histograms of one Kafka source process."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.records_received = Counter(
            "springhead_kafka_records_received",
            "Records fetched from Kafka and queued for delivery, by topic.",
            ["topic"],
            registry=registry,
        )
        self.records_done = Counter(
            "springhead_kafka_records_done",
            "Records whose delivery finished, by topic and outcome (delivered, dead_lettered, "
            "lost: given up with KAFKA_ON_EXHAUSTED=commit).",
            ["topic", "outcome"],
            registry=registry,
        )
        self.redeliveries = Counter(
            "springhead_kafka_redeliveries",
            "Delivery rounds started again for an event no sink accepted "
            "(KAFKA_ON_EXHAUSTED=block), by topic.",
            ["topic"],
            registry=registry,
        )
        self.invalid_cloudevents = Counter(
            "springhead_kafka_invalid_cloudevents",
            "Records in a broken CloudEvents form, delivered as plain records, by topic.",
            ["topic"],
            registry=registry,
        )
        self.abandoned = Counter(
            "springhead_kafka_deliveries_abandoned",
            "Deliveries given up at a partition revoke or at shutdown; their records are "
            "delivered again by the partition's next owner, by topic.",
            ["topic"],
            registry=registry,
        )
        self.lag = Gauge(
            "springhead_kafka_consumer_lag",
            "High watermark minus the next offset to deliver, per consumer group and assigned "
            "partition (a broker's Trigger is group knative-trigger-<namespace>-<name>).",
            ["group", "topic", "partition"],
            registry=registry,
        )
        self.commit_latency = Histogram(
            "springhead_kafka_commit_latency_seconds",
            "Time an offset commit took.",
            buckets=_COMMIT_BUCKETS,
            registry=registry,
        )
        self.commit_failures = Counter(
            "springhead_kafka_commit_failures",
            "Offset commits that failed (retried at the next commit).",
            registry=registry,
        )
