"""``python -m springhead_display``: the event display process."""

from __future__ import annotations

from springhead.runtime import process_main

from springhead_display.adapter import EventDisplay
from springhead_display.config import DisplaySettings


def run() -> None:
    """Run the event display with settings from the environment."""
    process_main(DisplaySettings, EventDisplay.from_settings)


if __name__ == "__main__":
    run()
