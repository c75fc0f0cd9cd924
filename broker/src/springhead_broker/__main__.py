"""``python -m springhead_broker``: the ingress, the dispatcher, or both (``BROKER_ROLE``)."""

from __future__ import annotations

from springhead.runtime import process_main

from springhead_broker.config import BrokerSettings
from springhead_broker.service import broker_service


def run() -> None:
    """Run the broker data plane with settings from the environment."""
    process_main(BrokerSettings, broker_service)


if __name__ == "__main__":
    run()
