"""Settings of replicated pings, and the promise that a single ping never loads kubernetes."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from springhead.config import ConfigError, load_settings
from springhead_ping.config import PingSettings

BASE = {"K_SINK": "http://sink/", "NAMESPACE": "ns", "NAME": "every-minute"}


def test_leader_election_is_off_by_default() -> None:
    settings = load_settings(PingSettings, BASE)
    assert settings.leader_election is False
    assert settings.catchup_window is None


def test_lease_defaults_follow_namespace_and_name() -> None:
    settings = load_settings(PingSettings, {**BASE, "PING_LEADER_ELECTION": "true"})
    assert settings.effective_lease_name == "pingsource-every-minute"
    assert settings.effective_lease_namespace == "ns"
    assert settings.lease_duration == timedelta(seconds=15)
    assert settings.lease_renew_deadline == timedelta(seconds=10)
    assert settings.lease_retry_period == timedelta(seconds=2)


def test_lease_settings(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("{}")
    settings = load_settings(
        PingSettings,
        {
            **BASE,
            "PING_LEADER_ELECTION": "true",
            "PING_LEASE_NAME": "my-lease",
            "PING_LEASE_NAMESPACE": "other",
            "PING_KUBECONFIG": str(kubeconfig),
            "PING_LEASE_DURATION": "PT3S",
            "PING_LEASE_RENEW_DEADLINE": "PT2S",
            "PING_LEASE_RETRY_PERIOD": "PT0.5S",
            "PING_CATCHUP_WINDOW": "PT1H",
        },
    )
    assert settings.effective_lease_name == "my-lease"
    assert settings.effective_lease_namespace == "other"
    assert settings.catchup_window == timedelta(hours=1)


@pytest.mark.parametrize(
    ("env", "variable", "reason"),
    [
        ({"PING_CATCHUP_WINDOW": "PT1H"}, "PING_CATCHUP_WINDOW", "PING_LEADER_ELECTION=true"),
        (
            {"PING_LEADER_ELECTION": "true", "PING_CATCHUP_WINDOW": "an hour"},
            "PING_CATCHUP_WINDOW",
            "ISO-8601",
        ),
        ({"PING_LEADER_ELECTION": "true", "PING_LEASE_NAME": "Bad_Name"}, "PING_LEASE_NAME", ""),
        (
            {"PING_LEADER_ELECTION": "true", "PING_KUBECONFIG": "/nonexistent"},
            "PING_KUBECONFIG",
            "",
        ),
        (
            {"PING_LEADER_ELECTION": "true", "PING_LEASE_DURATION": "PT1.5S"},
            "PING_LEASE_DURATION",
            "whole seconds",
        ),
        (
            {"PING_LEADER_ELECTION": "true", "PING_LEASE_RENEW_DEADLINE": "PT20S"},
            "PING_LEASE_RENEW_DEADLINE",
            "shorter",
        ),
        (
            {"PING_LEADER_ELECTION": "true", "PING_LEASE_RETRY_PERIOD": "PT9S"},
            "PING_LEASE_RETRY_PERIOD",
            "1.2",
        ),
        ({"PING_LEADER_ELECTION": "maybe"}, "PING_LEADER_ELECTION", ""),
    ],
)
def test_bad_leader_election_settings_name_the_variable(
    env: dict[str, str], variable: str, reason: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(PingSettings, {**BASE, **env})
    assert caught.value.variable == variable
    assert reason in caught.value.reason


def test_tick_format_round_trips() -> None:
    from springhead_ping.replicas import format_tick, parse_tick

    tick = datetime(2026, 11, 22, 8, 30, 5, tzinfo=UTC)
    assert format_tick(tick) == "2026-11-22T08:30:05Z"
    assert parse_tick(format_tick(tick)) == tick
    assert parse_tick("") is None
    assert parse_tick("yesterday") is None


def test_a_single_ping_never_loads_the_kubernetes_client() -> None:
    """The RSS budget of a plain ping: building and running its adapter imports no kubernetes."""
    script = """
import asyncio, sys
from springhead.config import load_settings
from springhead.runtime import SourceHost
from springhead.sender import Sender
import springhead_ping.__main__
from springhead_ping.adapter import PingAdapter
from springhead_ping.config import PingSettings

async def main():
    settings = load_settings(PingSettings, {"K_SINK": "http://127.0.0.1:9/"})
    async with Sender.from_settings(settings) as sender:
        adapter = PingAdapter.from_settings(settings, SourceHost(sender.metrics, sender))
        assert type(adapter) is PingAdapter
asyncio.run(main())
print(sorted(m for m in sys.modules if m.split(".")[0] in ("kubernetes", "urllib3")))
"""
    output = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert output.strip() == "[]"


def test_leader_election_builds_the_replicated_adapter(tmp_path: Path) -> None:
    script = """
import asyncio, sys
from springhead.config import load_settings
from springhead.runtime import SourceHost
from springhead.sender import Sender
from springhead_ping.adapter import PingAdapter
from springhead_ping.config import PingSettings

async def main():
    settings = load_settings(
        PingSettings, {"K_SINK": "http://127.0.0.1:9/", "PING_LEADER_ELECTION": "true"}
    )
    async with Sender.from_settings(settings) as sender:
        adapter = PingAdapter.from_settings(settings, SourceHost(sender.metrics, sender))
        print(type(adapter).__name__, "kubernetes" in sys.modules)
asyncio.run(main())
"""
    output = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert output.strip() == "ReplicatedPingAdapter True"
