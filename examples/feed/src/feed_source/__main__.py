"""``python -m feed_source``: the feed source process."""

from __future__ import annotations

from springhead.runtime import main

from feed_source.adapter import FeedAdapter
from feed_source.config import FeedSettings


def run() -> None:
    """Run the feed source with settings from the environment."""
    main(FeedSettings, FeedAdapter.from_settings)


if __name__ == "__main__":
    run()
