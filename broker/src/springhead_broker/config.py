"""Broker data-plane settings: the process settings plus the role, the backend, Kafka and where
the brokers and triggers are described (the contract file, :mod:`springhead_broker.contract`)."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Self

from pydantic import Field, field_validator, model_validator
from springhead.config import ConfigError, IsoDuration, KafkaAccess

from springhead_broker.contract import ContractError, parse_contract

__all__ = ["BackendKind", "BrokerSettings", "InitialOffset", "Role"]


class Role(StrEnum):
    """What this process does (``BROKER_ROLE``)."""

    INGRESS = "ingress"
    """Serve ``POST /<namespace>/<broker>`` and write events to the broker's topic."""
    DISPATCHER = "dispatcher"
    """Consume each trigger's group and deliver the matching events to its subscriber."""
    ALL = "all"
    """Both in one process (the in-memory backend needs this: its events live in the process)."""


class BackendKind(StrEnum):
    """Where events are kept between the ingress and the dispatcher (``BROKER_BACKEND``)."""

    KAFKA = "kafka"
    """Apache Kafka: one topic per broker, one consumer group per trigger; durable."""
    MEMORY = "memory"
    """In this process's memory: NOT durable (a restart loses every event not yet delivered),
    one process only; for ``make run`` and development, as Knative's InMemoryChannel."""


class InitialOffset(StrEnum):
    """Where a trigger without committed offsets starts (``BROKER_INITIAL_OFFSET``)."""

    LATEST = "latest"
    """Events written from the moment the trigger's group first joins (Knative's default)."""
    EARLIEST = "earliest"
    """Every event the topic still holds."""


class BrokerSettings(KafkaAccess):
    """Settings of the broker data plane (``BROKER_*``, the shared ``SPRINGHEAD_*``, and Kafka's
    brokers, SASL and TLS: the shared :class:`~springhead.config.KafkaAccess` group,
    ``KAFKA_*``, as the Kafka source reads them; ``KAFKA_BOOTSTRAP_SERVERS`` required for the
    ``kafka`` backend)."""

    role: Role = Field(default=Role.ALL, validation_alias="BROKER_ROLE")
    """``ingress``, ``dispatcher`` or ``all`` (both in one process)."""

    backend: BackendKind = Field(default=BackendKind.KAFKA, validation_alias="BROKER_BACKEND")
    """``kafka`` (durable) or ``memory`` (one process, not durable; needs ``BROKER_ROLE=all``)."""

    contract_file: Path = Field(validation_alias="BROKER_CONTRACT_FILE")
    """The brokers and their triggers, as JSON (a mounted ConfigMap key the controller writes);
    re-read when it changes. Required."""

    contract_poll: IsoDuration = Field(
        default=timedelta(seconds=2), validation_alias="BROKER_CONTRACT_POLL"
    )
    """How often the contract file is checked for changes (ISO-8601)."""

    produce_timeout: IsoDuration = Field(
        default=timedelta(seconds=10), validation_alias="BROKER_PRODUCE_TIMEOUT"
    )
    """How long the ingress waits for Kafka to acknowledge an event (acks=all) before it answers
    503 with Retry-After."""

    retry_after: int = Field(default=5, ge=1, le=3600, validation_alias="BROKER_RETRY_AFTER")
    """Seconds in the Retry-After of a 503 (Kafka unavailable, or the process draining)."""

    max_body_bytes: int = Field(default=1024 * 1024, ge=1, validation_alias="BROKER_MAX_BODY_BYTES")
    """Largest event body accepted (413 beyond; Kafka's default record limit is 1 MiB)."""

    initial_offset: InitialOffset = Field(
        default=InitialOffset.LATEST, validation_alias="BROKER_INITIAL_OFFSET"
    )
    """Where a new trigger starts: ``latest`` (Knative's default) or ``earliest``."""

    max_in_flight: int = Field(default=50, ge=1, le=10_000, validation_alias="BROKER_MAX_IN_FLIGHT")
    """Deliveries in progress at once per trigger (unordered triggers)."""

    max_uncommitted: int = Field(
        default=1000, ge=1, le=1_000_000, validation_alias="BROKER_MAX_UNCOMMITTED"
    )
    """Records of one partition handed to delivery ahead of the committed offset, per trigger:
    what a crash of the dispatcher may deliver again."""

    commit_interval: IsoDuration = Field(
        default=timedelta(seconds=5), validation_alias="BROKER_COMMIT_INTERVAL"
    )
    """How often done offsets are committed at least (ISO-8601)."""

    @field_validator("commit_interval")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be a positive duration")
        return value

    @field_validator("contract_file")
    @classmethod
    def _readable_contract(cls, value: Path) -> Path:
        try:
            parse_contract(value.read_bytes())
        except OSError as exc:
            raise ValueError(f"cannot read {value}: {exc.strerror or exc}") from None
        except ContractError as exc:
            raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _backend_needs(self) -> Self:
        if self.backend is BackendKind.MEMORY and self.role is not Role.ALL:
            raise ConfigError(
                "BROKER_ROLE", "the memory backend keeps events in one process: use BROKER_ROLE=all"
            )
        if self.backend is BackendKind.KAFKA and not self.bootstrap_servers:
            raise ConfigError("KAFKA_BOOTSTRAP_SERVERS", "required with BROKER_BACKEND=kafka")
        return self
