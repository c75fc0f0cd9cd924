"""Feed source settings: defaults, and bad values stopping the process with one line."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest
from feed_source.config import FeedSettings
from springhead.config import load_settings

BASE = {"K_SINK": "http://127.0.0.1:9/", "FEED_URL": "https://example.org/feed.xml"}


def test_defaults() -> None:
    settings = load_settings(FeedSettings, BASE)
    assert settings.url == "https://example.org/feed.xml"
    assert settings.interval == timedelta(seconds=60)
    assert settings.event_type == "dev.springhead.example.feed.item"
    assert settings.emit_existing is False


def test_every_variable_is_read() -> None:
    settings = load_settings(
        FeedSettings,
        {
            **BASE,
            "FEED_URL": "file:///srv/feeds/news.xml",
            "FEED_INTERVAL": "PT1M30S",
            "FEED_EVENT_TYPE": "com.example.news",
            "FEED_EMIT_EXISTING": "true",
        },
    )
    assert settings.url == "file:///srv/feeds/news.xml"
    assert settings.interval == timedelta(seconds=90)
    assert settings.event_type == "com.example.news"
    assert settings.emit_existing is True


@pytest.mark.parametrize(
    ("env", "line"),
    [
        ({"FEED_URL": None}, "FEED_URL: required but not set"),
        ({"FEED_URL": "example.org/feed"}, "FEED_URL: must be an absolute http://, https:// or"),
        ({"FEED_URL": "ftp://example.org/feed"}, "FEED_URL: must be an absolute http://"),
        ({"FEED_URL": "https:///feed"}, "FEED_URL: must be an absolute http://"),
        ({"FEED_INTERVAL": "60s"}, "FEED_INTERVAL: expected an ISO-8601 duration"),
        ({"FEED_INTERVAL": "PT0S"}, "FEED_INTERVAL: must be longer than zero"),
        ({"FEED_EVENT_TYPE": ""}, "FEED_EVENT_TYPE: "),
        ({"FEED_EMIT_EXISTING": "perhaps"}, "FEED_EMIT_EXISTING: "),
    ],
)
def test_bad_settings_stop_the_process_with_one_line(env: dict[str, str | None], line: str) -> None:
    merged = {**BASE, **env}
    result = subprocess.run(
        [sys.executable, "-m", "feed_source"],
        env={name: value for name, value in merged.items() if value is not None},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith(f"configuration error: {line}"), result.stderr
