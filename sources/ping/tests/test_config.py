"""PingSource settings: the spec's validation, one clear error per bad value."""

from __future__ import annotations

import subprocess
import sys

import pytest
from springhead.config import ConfigError, load_settings
from springhead_ping.config import PingSettings

BASE = {"K_SINK": "http://sink/", "NAMESPACE": "ns", "NAME": "every-minute"}


def test_defaults() -> None:
    settings = load_settings(PingSettings, BASE)
    assert settings.schedule == "* * * * *"
    assert settings.timezone == ""
    assert str(settings.parsed_schedule.timezone) == "UTC"
    assert settings.payload is None
    assert settings.event_source == "/apis/v1/namespaces/ns/pingsources/every-minute"


def test_data_and_base64_payloads() -> None:
    text = load_settings(PingSettings, {**BASE, "PING_DATA": "héllo"})
    assert text.payload == "héllo".encode()
    binary = load_settings(PingSettings, {**BASE, "PING_DATA_BASE64": "AAEC/w=="})
    assert binary.payload == b"\x00\x01\x02\xff"


def test_json_object_accepted_with_application_json() -> None:
    env = {**BASE, "PING_CONTENT_TYPE": "application/json", "PING_DATA": '{"a": [1, 2]}'}
    assert load_settings(PingSettings, env).payload == b'{"a": [1, 2]}'


@pytest.mark.parametrize(
    ("env", "variable", "reason"),
    [
        ({"PING_SCHEDULE": "every minute"}, "PING_SCHEDULE", "fields"),
        ({"PING_SCHEDULE": "99 * * * *"}, "PING_SCHEDULE", "invalid schedule"),
        ({"PING_SCHEDULE": "CRON_TZ=Nowhere/Land * * * * *"}, "PING_SCHEDULE", "unknown time zone"),
        (
            {"PING_SCHEDULE": "TZ=UTC * * * * *", "PING_TIMEZONE": "UTC"},
            "PING_SCHEDULE",
            "use one of them",
        ),
        ({"PING_TIMEZONE": "Europe/Atlantis"}, "PING_TIMEZONE", "unknown time zone"),
        ({"PING_DATA": "x", "PING_DATA_BASE64": "eA=="}, "PING_DATA_BASE64", "cannot both be set"),
        ({"PING_DATA_BASE64": "not base64!"}, "PING_DATA_BASE64", "not valid base64"),
        ({"PING_DATA_BASE64": "abc"}, "PING_DATA_BASE64", "not valid base64"),
        (
            {"PING_CONTENT_TYPE": "application/json", "PING_DATA": "[1, 2]"},
            "PING_DATA",
            "JSON object",
        ),
        (
            {"PING_CONTENT_TYPE": "application/json", "PING_DATA": "{oops"},
            "PING_DATA",
            "JSON object",
        ),
    ],
)
def test_bad_spec(env: dict[str, str], variable: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(PingSettings, {**BASE, **env})
    assert caught.value.variable == variable
    assert reason in caught.value.reason


def test_bad_spec_stops_the_process_with_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "springhead_ping"],
        env={**BASE, "PING_SCHEDULE": "@fortnightly"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("configuration error: PING_SCHEDULE: unknown descriptor")


def test_no_sink_stops_the_process() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "springhead_ping"],
        env={},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr == "configuration error: K_SINK: required but not set\n"


def test_multi_tenant_needs_no_sink_nor_schedule_but_leader_election() -> None:
    env = {"NAMESPACE": "ns", "PING_MULTI_TENANT": "true", "PING_LEADER_ELECTION": "true"}
    settings = load_settings(PingSettings, env)
    assert settings.multi_tenant and settings.sink == ""
    assert settings.effective_lease_name == "pingsource-mt-adapter"
    with pytest.raises(ConfigError) as caught:
        load_settings(PingSettings, {**env, "PING_LEADER_ELECTION": "false"})
    assert caught.value.variable == "PING_MULTI_TENANT"
    assert "PING_LEADER_ELECTION=true" in caught.value.reason


def test_a_bad_sink_is_refused_in_either_mode() -> None:
    for env in (BASE, {"PING_MULTI_TENANT": "true", "PING_LEADER_ELECTION": "true"}):
        with pytest.raises(ConfigError) as caught:
            load_settings(PingSettings, {**env, "K_SINK": "not-a-url"})
        assert caught.value.variable == "K_SINK"


MULTI_TENANT = {"NAMESPACE": "ns", "PING_MULTI_TENANT": "true", "PING_LEADER_ELECTION": "true"}


@pytest.mark.parametrize(
    ("env", "namespaces", "selector"),
    [
        ({}, None, None),
        ({"PING_NAMESPACES": "a, b"}, ["a", "b"], None),
        ({"PING_NAMESPACES": '["a", "b"]'}, ["a", "b"], None),
        ({"PING_NAMESPACES": " "}, None, None),
        ({"PING_NAMESPACE_SELECTOR": "env=prod,!legacy"}, None, "env=prod,!legacy"),
        (
            {"PING_NAMESPACE_SELECTOR": '{"matchLabels": {"env": "prod"}}'},
            None,
            "env=prod",
        ),
        ({"PING_NAMESPACE_SELECTOR": "{}"}, None, ""),
    ],
)
def test_the_multi_tenant_namespace_selection(
    env: dict[str, str], namespaces: list[str] | None, selector: str | None
) -> None:
    settings = load_settings(PingSettings, {**MULTI_TENANT, **env})
    assert settings.namespaces == namespaces
    assert settings.namespace_selector == selector


@pytest.mark.parametrize(
    ("env", "variable", "reason"),
    [
        ({"PING_NAMESPACES": "a,B_c"}, "PING_NAMESPACES", "'B_c' is not a valid namespace name"),
        ({"PING_NAMESPACES": "[]"}, "PING_NAMESPACES", "at least one namespace"),
        ({"PING_NAMESPACES": "[1"}, "PING_NAMESPACES", "not valid JSON"),
        (
            {"PING_NAMESPACES": "a", "PING_NAMESPACE_SELECTOR": "env=prod"},
            "PING_NAMESPACE_SELECTOR",
            "cannot be combined with PING_NAMESPACES",
        ),
        (
            {"PING_NAMESPACE_SELECTOR": '{"matchExpressions": [{"key": "a", "operator": "In"}]}'},
            "PING_NAMESPACE_SELECTOR",
            "needs values",
        ),
        (
            {"PING_NAMESPACE_SELECTOR": '{"matchLabels": {}, "other": 1}'},
            "PING_NAMESPACE_SELECTOR",
            "unknown label selector field",
        ),
    ],
)
def test_a_bad_namespace_selection_is_refused(
    env: dict[str, str], variable: str, reason: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(PingSettings, {**MULTI_TENANT, **env})
    assert caught.value.variable == variable
    assert reason in caught.value.reason


@pytest.mark.parametrize("variable", ["PING_NAMESPACES", "PING_NAMESPACE_SELECTOR"])
def test_a_namespace_selection_needs_the_multi_tenant_mode(variable: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(PingSettings, {**BASE, variable: "a"})
    assert caught.value.variable == variable
    assert "PING_MULTI_TENANT=true" in caught.value.reason
