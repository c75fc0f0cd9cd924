"""``python -m springhead_http``: the HTTP source process."""

from __future__ import annotations

from springhead.runtime import main

from springhead_http.adapter import http_adapter
from springhead_http.config import HttpSettings


def run() -> None:
    """Run the HTTP source with settings from the environment."""
    main(HttpSettings, http_adapter)


if __name__ == "__main__":
    run()
