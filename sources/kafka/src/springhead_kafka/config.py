"""Kafka source settings: the adapter contract plus Knative's KafkaSource spec, from the env.

When no delivery setting is given, Knative's KafkaSource delivery defaults apply (retry 10,
exponential backoff from PT0.3S, PT600S per attempt) instead of the shared source defaults.
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import BeforeValidator, Field, field_validator, model_validator
from pydantic_settings import NoDecode
from springhead.config import (
    ConfigError,
    IsoDuration,
    KafkaAccess,
    SaslMechanism,
    SourceSettings,
    empty_as_unset,
)
from springhead.kafka.mapping import KeyType

__all__ = [
    "DEFAULT_ATTEMPT_TIMEOUT",
    "InitialOffset",
    "KafkaSettings",
    "OnExhausted",
    "Ordering",
    "SaslMechanism",
]

#: Per-attempt timeout in seconds when neither the delivery timeout nor K_SINK_TIMEOUT is set
#: (Knative's KafkaSource default, PT600S).
DEFAULT_ATTEMPT_TIMEOUT = 600.0


class InitialOffset(StrEnum):
    """Where a consumer group without a committed offset starts (``initialOffset``)."""

    EARLIEST = "earliest"
    LATEST = "latest"


class Ordering(StrEnum):
    """Delivery order (``ordering``)."""

    ORDERED = "ordered"
    """One event at a time per partition, partitions in parallel."""
    UNORDERED = "unordered"
    """Up to ``KAFKA_MAX_IN_FLIGHT`` events at once, commits still in offset order."""


class OnExhausted(StrEnum):
    """What happens to an event that neither the sink nor a dead-letter sink accepted."""

    BLOCK = "block"
    """Deliver it again (a new round of retries) until accepted; its partition waits."""
    COMMIT = "commit"
    """Log it as lost and commit past it (Knative's behaviour)."""


def _comma_list(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class KafkaSettings(SourceSettings, KafkaAccess):
    """Settings of one KafkaSource (Knative ``sources.knative.dev/v1beta1`` KafkaSource spec);
    the brokers, SASL and TLS are the shared :class:`~springhead.config.KafkaAccess` group."""

    bootstrap_servers: Annotated[list[str], NoDecode, BeforeValidator(_comma_list)] = Field(
        validation_alias="KAFKA_BOOTSTRAP_SERVERS"
    )
    """``bootstrapServers``: ``host:port`` of one or more brokers, comma-separated; required."""

    topics: Annotated[list[str], NoDecode, BeforeValidator(_comma_list)] = Field(
        default_factory=list, validation_alias="KAFKA_TOPICS"
    )
    """``topics``: topics to consume, comma-separated (or set ``KAFKA_TOPIC_PATTERN``)."""

    topic_pattern: Annotated[str | None, BeforeValidator(empty_as_unset)] = Field(
        default=None, validation_alias="KAFKA_TOPIC_PATTERN"
    )
    """A regular expression (Python syntax) that must match a whole topic name; matching topics
    are consumed, including ones created later. Exclusive with ``KAFKA_TOPICS``."""

    consumer_group: Annotated[str | None, BeforeValidator(empty_as_unset)] = Field(
        default=None, validation_alias="KAFKA_CONSUMER_GROUP"
    )
    """``consumerGroup``; empty: ``springhead-<NAMESPACE>-<NAME>`` (stable across restarts)."""

    initial_offset: InitialOffset = Field(
        default=InitialOffset.LATEST, validation_alias="KAFKA_INITIAL_OFFSET"
    )
    """``initialOffset``: ``earliest`` or ``latest``; used only while the group has no committed
    offset for a partition."""

    ordering: Ordering = Field(default=Ordering.ORDERED, validation_alias="KAFKA_ORDERING")
    """``ordering``: ``ordered`` (per partition, one event at a time) or ``unordered``."""

    max_in_flight: int = Field(default=50, ge=1, le=10_000, validation_alias="KAFKA_MAX_IN_FLIGHT")
    """Deliveries in progress at once, across all partitions (unordered mode: also within one
    partition; ordered mode: at most one per partition)."""

    max_uncommitted: int = Field(
        default=1000, ge=1, le=1_000_000, validation_alias="KAFKA_MAX_UNCOMMITTED"
    )
    """Records of one partition handed to delivery whose offset is not committed yet, at most.
    A commit starts when half of them are done; delivery waits when the window is full. After a
    crash, at most this many records per partition are delivered again."""

    prefetch: int = Field(default=500, ge=1, le=100_000, validation_alias="KAFKA_PREFETCH")
    """Records fetched ahead of delivery per partition; the partition is paused when its queue
    holds this many and resumed at half."""

    max_partition_fetch_bytes: int = Field(
        default=1024 * 1024, ge=1024, validation_alias="KAFKA_MAX_PARTITION_FETCH_BYTES"
    )
    """Bytes fetched per partition and request at most (Kafka ``max.partition.fetch.bytes``)."""

    fetch_max_bytes: int = Field(
        default=50 * 1024 * 1024, ge=1024, validation_alias="KAFKA_FETCH_MAX_BYTES"
    )
    """Bytes per fetch response at most (Kafka ``fetch.max.bytes``)."""

    commit_interval: IsoDuration = Field(
        default=timedelta(seconds=5), validation_alias="KAFKA_COMMIT_INTERVAL"
    )
    """How often done offsets are committed at least (ISO-8601; Knative: PT5S)."""

    revoke_timeout: IsoDuration = Field(
        default=timedelta(seconds=10), validation_alias="KAFKA_REVOKE_TIMEOUT"
    )
    """On a rebalance, how long deliveries of a revoked partition may take to finish before they
    are abandoned (their records then go to the partition's next owner again)."""

    key_type: KeyType = Field(default=KeyType.STRING, validation_alias="KAFKA_KEY_TYPE")
    """How the record key is decoded: ``string``, ``int``, ``float`` or ``byte-array`` (Knative's
    ``kafkasources.sources.knative.dev/key-type`` label)."""

    on_exhausted: OnExhausted = Field(
        default=OnExhausted.BLOCK, validation_alias="KAFKA_ON_EXHAUSTED"
    )
    """An event neither the sink nor a dead-letter sink accepted: ``block`` delivers it again
    until accepted (its partition waits; nothing is dropped), ``commit`` logs it as lost and moves
    on (Knative's behaviour)."""

    # Knative's KafkaSource delivery defaults (the shared ones are a generic source's).
    retry: int = Field(default=10, ge=0, le=1000, validation_alias="SPRINGHEAD_DELIVERY_RETRY")
    """Delivery ``retry``: attempts after the first (Knative's KafkaSource default: 10)."""

    backoff_delay: IsoDuration = Field(
        default=timedelta(milliseconds=300), validation_alias="SPRINGHEAD_DELIVERY_BACKOFF_DELAY"
    )
    """Delivery ``backoffDelay`` (ISO-8601; Knative's KafkaSource default: PT0.3S)."""

    @field_validator("bootstrap_servers")
    @classmethod
    def _some_servers(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one host:port is required")
        return value

    @field_validator("topics")
    @classmethod
    def _topic_names(cls, value: list[str]) -> list[str]:
        for topic in value:
            if not re.fullmatch(r"[A-Za-z0-9._-]{1,249}", topic):
                raise ValueError(f"{topic!r} is not a valid Kafka topic name")
        return value

    @field_validator("commit_interval", "revoke_timeout")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be a positive duration")
        return value

    @model_validator(mode="after")
    def _check_spec(self) -> Self:
        if self.topics and self.topic_pattern:
            raise ConfigError("KAFKA_TOPIC_PATTERN", "cannot be combined with KAFKA_TOPICS")
        if not self.topics and not self.topic_pattern:
            raise ConfigError("KAFKA_TOPICS", "set the topics to consume (or KAFKA_TOPIC_PATTERN)")
        if self.topic_pattern:
            try:
                re.compile(self.topic_pattern)
            except re.error as exc:
                raise ConfigError(
                    "KAFKA_TOPIC_PATTERN", f"not a regular expression ({exc})"
                ) from None
        return self

    @property
    def group_id(self) -> str:
        """The consumer group: ``KAFKA_CONSUMER_GROUP`` or ``springhead-<ns>-<name>``."""
        return self.consumer_group or f"springhead-{self.namespace}-{self.name}"

    @property
    def attempt_timeout(self) -> float | None:
        """Per-attempt timeout in seconds: delivery ``timeout``, else ``K_SINK_TIMEOUT``, else
        Knative's KafkaSource default of 600 s."""
        timeout = super().attempt_timeout
        return DEFAULT_ATTEMPT_TIMEOUT if timeout is None else timeout
