"""The brokers and triggers a data-plane process serves: the contract file. Pure, no I/O.

The controller (a reconciler of Knative's ``eventing.knative.dev/v1`` Broker and Trigger) hands
the data plane its work through one JSON document, written to a ConfigMap that the ingress and
dispatcher Deployments mount; they re-read it when it changes (Knative's Kafka broker does the
same with its ``kafka-broker-brokers-triggers`` ConfigMap). A ConfigMap rather than a watch: the
data plane then needs no Kubernetes API access at all (no RBAC, no kubernetes client in its
memory), sees one consistent snapshot of brokers and triggers with resolved URLs, and keeps
serving what it last read while the API server is away.

The document::

    {"brokers": [{
        "namespace": "default", "name": "default",
        "topic": "knative-broker-default-default",          # optional: the default topic name
        "bootstrapServers": ["kafka-b:9092"],               # optional: another Kafka cluster
        "delivery": {"retry": 3, "backoffPolicy": "exponential", "backoffDelay": "PT0.2S",
                     "timeout": "PT10S", "retryAfterMax": "PT30S",
                     "deadLetterSink": "http://dls.default.svc.cluster.local"},   # optional
        "triggers": [{
            "name": "t1",
            "subscriber": "http://svc.default.svc.cluster.local/",   # resolved by the controller
            "filter": {"attributes": {"type": "x"}}, "filters": [...],  # Knative's, verbatim
            "delivery": {...},                                       # replaces the broker's
            "annotations": {"kafka.eventing.knative.dev/delivery.order": "ordered"}
        }]
    }]}

A trigger's ``delivery``, when given, replaces the broker's as a whole (Knative: the trigger's
delivery spec is used when set, else the broker's).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from springhead.config import BackoffPolicy, IsoDuration
from springhead.delivery import DeliveryPolicy
from springhead.eventfilter import Filter, FilterSpecError, trigger_filter

__all__ = [
    "BrokerSpec",
    "Contract",
    "ContractError",
    "DELIVERY_ORDER_ANNOTATION",
    "DeliverySpec",
    "TriggerSpec",
    "broker_topic",
    "parse_contract",
    "trigger_group",
]

#: Kafka broker annotation choosing a trigger's delivery order: ``ordered`` or ``unordered``.
DELIVERY_ORDER_ANNOTATION = "kafka.eventing.knative.dev/delivery.order"


def broker_topic(namespace: str, name: str) -> str:
    """A broker's topic: ``knative-broker-<namespace>-<name>`` (Knative's Kafka broker)."""
    return f"knative-broker-{namespace}-{name}"


def trigger_group(namespace: str, name: str) -> str:
    """A trigger's consumer group: ``knative-trigger-<namespace>-<name>``."""
    return f"knative-trigger-{namespace}-{name}"


class ContractError(ValueError):
    """The contract file is not a valid document; the message says where."""


class DeliverySpec(BaseModel):
    """Knative's delivery spec (``DeliverySpec`` duck type)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    retry: int | None = Field(default=None, ge=0)
    backoff_policy: BackoffPolicy | None = Field(default=None, alias="backoffPolicy")
    backoff_delay: IsoDuration | None = Field(default=None, alias="backoffDelay")
    timeout: IsoDuration | None = None
    retry_after_max: IsoDuration | None = Field(default=None, alias="retryAfterMax")
    dead_letter_sink: str | None = Field(default=None, alias="deadLetterSink")

    def policy(self) -> DeliveryPolicy:
        """The sender's policy: the spec's fields, Knative's defaults for the others."""
        default = DeliveryPolicy()

        def seconds(value: timedelta | None) -> float | None:
            return value.total_seconds() if value is not None else None

        return DeliveryPolicy(
            retry=self.retry if self.retry is not None else default.retry,
            backoff_policy=self.backoff_policy or default.backoff_policy,
            backoff_delay=seconds(self.backoff_delay) or default.backoff_delay,
            timeout=seconds(self.timeout),
            retry_after_max=seconds(self.retry_after_max),
            dead_letter_sink=self.dead_letter_sink or None,
        )


class TriggerSpec(BaseModel):
    """One trigger of a broker."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str = Field(min_length=1)
    subscriber: str = Field(min_length=1)
    filter: dict[str, Any] | None = None
    filters: list[dict[str, Any]] | None = None
    delivery: DeliverySpec | None = None
    annotations: dict[str, str] = Field(default_factory=dict)

    @field_validator("subscriber")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an absolute http(s) URL")
        return value

    @property
    def ordered(self) -> bool:
        """Whether its events are delivered in order per partition (annotation
        ``kafka.eventing.knative.dev/delivery.order``; default unordered, as Knative's)."""
        order = self.annotations.get(DELIVERY_ORDER_ANNOTATION, "unordered")
        return order == "ordered"

    def event_filter(self) -> Filter:
        """The trigger's filter (:func:`springhead.eventfilter.trigger_filter`)."""
        return trigger_filter({"filter": self.filter, "filters": self.filters})


class BrokerSpec(BaseModel):
    """One broker and its triggers."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    namespace: str = Field(min_length=1)
    name: str = Field(min_length=1)
    topic: str | None = None
    bootstrap_servers: tuple[str, ...] | None = Field(
        default=None, alias="bootstrapServers", min_length=1
    )
    """The Kafka cluster of its topic when not the process's ``KAFKA_BOOTSTRAP_SERVERS`` (a
    Broker's ``spec.config`` named another; reached with the same credentials)."""
    delivery: DeliverySpec | None = None
    triggers: list[TriggerSpec] = Field(default_factory=list)

    @property
    def topic_name(self) -> str:
        """The topic holding the broker's events."""
        return self.topic or broker_topic(self.namespace, self.name)

    @property
    def path(self) -> str:
        """The ingress path: ``/<namespace>/<name>``."""
        return f"/{self.namespace}/{self.name}"

    def policy_of(self, trigger: TriggerSpec) -> DeliveryPolicy:
        """A trigger's delivery policy: its own spec, else the broker's, else the defaults."""
        spec = trigger.delivery or self.delivery or DeliverySpec()
        return spec.policy()


@dataclass(frozen=True, slots=True)
class Contract:
    """Every broker, by ingress path."""

    brokers: dict[str, BrokerSpec]


class _Document(BaseModel):
    model_config = ConfigDict(extra="ignore")

    brokers: list[BrokerSpec] = Field(default_factory=list)


def parse_contract(text: str | bytes) -> Contract:
    """The contract a JSON document describes; :class:`ContractError` says what is wrong
    (bad JSON, a missing field, an invalid filter, a broker or trigger named twice)."""
    try:
        document = _Document.model_validate(json.loads(text or b"{}"))
    except (ValueError, ValidationError) as exc:
        raise ContractError(f"contract: {exc}") from None
    brokers: dict[str, BrokerSpec] = {}
    for index, broker in enumerate(document.brokers):
        if broker.path in brokers:
            raise ContractError(f"contract: brokers[{index}]: broker {broker.path} twice")
        names: set[str] = set()
        for number, trigger in enumerate(broker.triggers):
            where = f"contract: brokers[{index}].triggers[{number}]"
            if trigger.name in names:
                raise ContractError(f"{where}: trigger {trigger.name!r} twice")
            names.add(trigger.name)
            try:
                trigger.event_filter()
            except FilterSpecError as exc:
                raise ContractError(f"{where}: {exc}") from None
        brokers[broker.path] = broker
    return Contract(brokers)
