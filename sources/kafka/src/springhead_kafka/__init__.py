"""Springhead KafkaSource: Kafka records (aiokafka) -> CloudEvents, at least once."""

from __future__ import annotations

__all__: list[str] = []
