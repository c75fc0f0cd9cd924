"""``python -m springhead_ping``: the PingSource process."""

from __future__ import annotations

from springhead.runtime import main

from springhead_ping.adapter import PingAdapter
from springhead_ping.config import PingSettings


def run() -> None:
    """Run the ping source with settings from the environment."""
    main(PingSettings, PingAdapter.from_settings)


if __name__ == "__main__":
    run()
