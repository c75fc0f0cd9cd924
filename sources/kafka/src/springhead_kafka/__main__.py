"""``python -m springhead_kafka``: the KafkaSource process."""

from __future__ import annotations

from springhead.runtime import main

from springhead_kafka.adapter import KafkaAdapter
from springhead_kafka.config import KafkaSettings


def run() -> None:
    """Run the Kafka source with settings from the environment."""
    main(KafkaSettings, KafkaAdapter.from_settings)


if __name__ == "__main__":
    run()
