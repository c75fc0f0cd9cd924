"""Settings of the adapter contract: good values, and one clear error per bad value."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import Field, ValidationError
from springhead.config import (
    BackoffPolicy,
    ConfigError,
    ContentMode,
    EventLoop,
    KubeAccess,
    LeaseSettings,
    ProcessSettings,
    Secret,
    SecretText,
    SourceSettings,
    load_settings,
    source_variables_in,
)

SINK = {"K_SINK": "http://sink.example:8080/path"}


def test_defaults_follow_knative() -> None:
    settings = load_settings(SourceSettings, SINK)
    assert settings.sink == "http://sink.example:8080/path"
    assert settings.ce_overrides == {}
    assert settings.ca_certs is None
    assert settings.sink_timeout is None
    assert settings.retry == 5
    assert settings.backoff_policy is BackoffPolicy.EXPONENTIAL
    assert settings.backoff_delay == timedelta(milliseconds=200)
    assert settings.timeout is None and settings.attempt_timeout is None
    assert settings.dead_letter_sink is None
    assert settings.content_mode is ContentMode.BINARY
    assert settings.event_loop is EventLoop.AUTO


def test_process_defaults() -> None:
    settings = load_settings(SourceSettings, SINK)
    assert (settings.namespace, settings.name, settings.component) == (
        "default",
        "springhead",
        "springhead",
    )
    assert (settings.host, settings.port) == ("0.0.0.0", 8080)  # noqa: S104
    assert settings.head_timeout == timedelta(seconds=10)
    assert settings.body_timeout == timedelta(seconds=30)
    assert settings.idle_timeout == timedelta(seconds=75)
    assert settings.max_inbound_connections == 1024
    assert settings.shutdown_grace == timedelta(seconds=25)
    assert (settings.revision, settings.log_level) == ("", "INFO")
    assert settings.max_connections == 100
    assert (settings.retry_after_max, settings.audience, settings.oidc_token_file) == (None,) * 3


def test_variable_names_are_case_sensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("K_SINK", raising=False)
    monkeypatch.setenv("k_sink", "http://sink.example/")
    with pytest.raises(ConfigError) as caught:
        load_settings(SourceSettings)  # from the process environment
    assert (caught.value.variable, caught.value.reason) == ("K_SINK", "required but not set")
    monkeypatch.setenv("K_SINK", "http://sink.example/")
    assert load_settings(SourceSettings).sink == "http://sink.example/"


class _WithList(SourceSettings):
    topics: list[str] = Field(default_factory=list, validation_alias="DEMO_TOPICS")


def test_a_variable_that_cannot_be_decoded_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("K_SINK", "http://sink.example/")
    monkeypatch.setenv("DEMO_TOPICS", "[not json")
    with pytest.raises(ConfigError) as caught:
        load_settings(_WithList)  # from the process environment
    assert caught.value.variable == "environment"
    assert 'error parsing value for field "topics"' in caught.value.reason


def test_a_bad_item_of_a_list_names_the_list_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("K_SINK", "http://sink.example/")
    monkeypatch.setenv("DEMO_TOPICS", '["a", {"b": 1}]')
    with pytest.raises(ConfigError) as caught:
        load_settings(_WithList)
    assert (caught.value.variable, caught.value.reason) == (
        "DEMO_TOPICS",
        "Input should be a valid string",
    )


def test_settings_cannot_be_changed_once_read() -> None:
    settings = load_settings(SourceSettings, SINK)
    with pytest.raises(ValidationError, match="frozen"):
        settings.retry = 1


@pytest.mark.parametrize(
    ("variable", "value", "field"),
    [
        ("SPRINGHEAD_PORT", "0", "port"),
        ("SPRINGHEAD_PORT", "65535", "port"),
        ("SPRINGHEAD_DELIVERY_RETRY", "0", "retry"),
        ("SPRINGHEAD_DELIVERY_RETRY", "1000", "retry"),
        ("SPRINGHEAD_MAX_CONNECTIONS", "1", "max_connections"),
        ("SPRINGHEAD_MAX_INBOUND_CONNECTIONS", "1", "max_inbound_connections"),
        ("K_SINK_TIMEOUT", "1", "sink_timeout"),
    ],
)
def test_the_bounds_of_a_number_are_allowed(variable: str, value: str, field: str) -> None:
    settings = load_settings(SourceSettings, {**SINK, variable: value})
    assert getattr(settings, field) == int(value)


def test_override_values_become_strings_as_given() -> None:
    overrides = '{"extensions": {"team": "Blue", "tier": 2, "canary": true}}'
    settings = load_settings(SourceSettings, {**SINK, "K_CE_OVERRIDES": overrides})
    assert settings.ce_overrides == {"team": "Blue", "tier": "2", "canary": "true"}


def test_every_setting_read_from_its_variable() -> None:
    env = {
        **SINK,
        "K_CE_OVERRIDES": '{"extensions": {"team": "blue", "tier": 2}}',
        "K_SINK_TIMEOUT": "7",
        "NAMESPACE": "ns1",
        "NAME": "pinger",
        "K_COMPONENT": "ping",
        "SPRINGHEAD_DELIVERY_RETRY": "3",
        "SPRINGHEAD_DELIVERY_BACKOFF_POLICY": "linear",
        "SPRINGHEAD_DELIVERY_BACKOFF_DELAY": "PT1.5S",
        "SPRINGHEAD_DELIVERY_RETRY_AFTER_MAX": "PT1M",
        "SPRINGHEAD_DELIVERY_DEAD_LETTER_SINK": "https://dls.example/",
        "SPRINGHEAD_CONTENT_MODE": "structured",
        "SPRINGHEAD_EVENT_LOOP": "asyncio",
    }
    settings = load_settings(SourceSettings, env)
    assert settings.ce_overrides == {"team": "blue", "tier": "2"}
    assert settings.attempt_timeout == 7.0
    assert settings.source_name == "ns1/pinger"
    assert settings.component == "ping"
    assert settings.retry == 3
    assert settings.backoff_policy is BackoffPolicy.LINEAR
    assert settings.backoff_delay == timedelta(seconds=1.5)
    assert settings.retry_after_max == timedelta(minutes=1)
    assert settings.dead_letter_sink == "https://dls.example/"
    assert settings.content_mode is ContentMode.STRUCTURED
    assert settings.event_loop is EventLoop.ASYNCIO


def test_delivery_timeout_wins_over_k_sink_timeout() -> None:
    env = {**SINK, "K_SINK_TIMEOUT": "7", "SPRINGHEAD_DELIVERY_TIMEOUT": "PT0.5S"}
    assert load_settings(SourceSettings, env).attempt_timeout == 0.5


def test_empty_overrides_mean_none() -> None:
    assert load_settings(SourceSettings, {**SINK, "K_CE_OVERRIDES": ""}).ce_overrides == {}
    assert load_settings(SourceSettings, {**SINK, "K_CE_OVERRIDES": "{}"}).ce_overrides == {}


@pytest.mark.parametrize(
    ("env", "variable", "reason"),
    [
        ({}, "K_SINK", "required but not set"),
        ({"K_SINK": "sink.example"}, "K_SINK", "absolute http"),
        ({"K_SINK": "ftp://sink.example/"}, "K_SINK", "absolute http"),
        ({"K_CE_OVERRIDES": "{not json"}, "K_CE_OVERRIDES", "not valid JSON"),
        ({"K_CE_OVERRIDES": "[1]"}, "K_CE_OVERRIDES", "JSON object"),
        ({"K_CE_OVERRIDES": '{"extensions": {"type": "x"}}'}, "K_CE_OVERRIDES", "spec attribute"),
        ({"K_CE_OVERRIDES": '{"extensions": {"source": "x"}}'}, "K_CE_OVERRIDES", "spec attribute"),
        ({"K_CE_OVERRIDES": '{"extensions": {"id": "x"}}'}, "K_CE_OVERRIDES", "spec attribute"),
        ({"K_CE_OVERRIDES": '{"extensions": {"Bad-Name": "x"}}'}, "K_CE_OVERRIDES", "lowercase"),
        ({"K_CE_OVERRIDES": '{"extensions": {"x": {"a": 1}}}'}, "K_CE_OVERRIDES", "string"),
        ({"K_CA_CERTS": "not a certificate"}, "K_CA_CERTS", "PEM"),
        ({"K_SINK_TIMEOUT": "soon"}, "K_SINK_TIMEOUT", "integer"),
        ({"K_SINK_TIMEOUT": "0"}, "K_SINK_TIMEOUT", "greater than or equal to 1"),
        ({"SPRINGHEAD_DELIVERY_RETRY": "-1"}, "SPRINGHEAD_DELIVERY_RETRY", "greater than"),
        ({"SPRINGHEAD_DELIVERY_RETRY": "1001"}, "SPRINGHEAD_DELIVERY_RETRY", "less than"),
        ({"SPRINGHEAD_MAX_CONNECTIONS": "0"}, "SPRINGHEAD_MAX_CONNECTIONS", "greater than"),
        (
            {"SPRINGHEAD_MAX_INBOUND_CONNECTIONS": "0"},
            "SPRINGHEAD_MAX_INBOUND_CONNECTIONS",
            "greater than",
        ),
        ({"SPRINGHEAD_HEAD_TIMEOUT": "PT0S"}, "SPRINGHEAD_HEAD_TIMEOUT", "greater than"),
        ({"SPRINGHEAD_BODY_TIMEOUT": "PT0S"}, "SPRINGHEAD_BODY_TIMEOUT", "greater than"),
        ({"SPRINGHEAD_IDLE_TIMEOUT": "PT0S"}, "SPRINGHEAD_IDLE_TIMEOUT", "greater than"),
        ({"NAMESPACE": ""}, "NAMESPACE", "at least 1"),
        ({"NAME": ""}, "NAME", "at least 1"),
        (
            {"SPRINGHEAD_DELIVERY_BACKOFF_POLICY": "random"},
            "SPRINGHEAD_DELIVERY_BACKOFF_POLICY",
            "linear",
        ),
        (
            {"SPRINGHEAD_DELIVERY_BACKOFF_DELAY": "200ms"},
            "SPRINGHEAD_DELIVERY_BACKOFF_DELAY",
            "ISO-8601",
        ),
        (
            {"SPRINGHEAD_DELIVERY_BACKOFF_DELAY": "-PT1S"},
            "SPRINGHEAD_DELIVERY_BACKOFF_DELAY",
            "ISO-8601",
        ),
        ({"SPRINGHEAD_DELIVERY_TIMEOUT": "P"}, "SPRINGHEAD_DELIVERY_TIMEOUT", "ISO-8601"),
        (
            {"SPRINGHEAD_DELIVERY_RETRY_AFTER_MAX": "5"},
            "SPRINGHEAD_DELIVERY_RETRY_AFTER_MAX",
            "ISO-8601",
        ),
        (
            {"SPRINGHEAD_DELIVERY_DEAD_LETTER_SINK": "dls"},
            "SPRINGHEAD_DELIVERY_DEAD_LETTER_SINK",
            "absolute http",
        ),
        ({"SPRINGHEAD_CONTENT_MODE": "batched"}, "SPRINGHEAD_CONTENT_MODE", "binary"),
        ({"SPRINGHEAD_PORT": "70000"}, "SPRINGHEAD_PORT", "less than or equal"),
        ({"SPRINGHEAD_PORT": "65536"}, "SPRINGHEAD_PORT", "less than or equal"),
        ({"SPRINGHEAD_PORT": "-1"}, "SPRINGHEAD_PORT", "greater than or equal"),
        ({"SPRINGHEAD_LOG_LEVEL": "LOUD"}, "SPRINGHEAD_LOG_LEVEL", "DEBUG, INFO"),
        ({"SPRINGHEAD_EVENT_LOOP": "trio"}, "SPRINGHEAD_EVENT_LOOP", "'auto', 'asyncio'"),
        ({"K_AUDIENCE": "sink-aud"}, "SPRINGHEAD_OIDC_TOKEN_FILE", "token file"),
    ],
)
def test_bad_value_names_its_variable(env: dict[str, str], variable: str, reason: str) -> None:
    full = {**SINK, **env} if "K_SINK" not in env and env else env
    with pytest.raises(ConfigError) as caught:
        load_settings(SourceSettings, full)
    assert caught.value.variable == variable
    assert reason in caught.value.reason


def test_of_several_bad_values_the_first_is_named() -> None:
    env = {**SINK, "SPRINGHEAD_PORT": "-1", "SPRINGHEAD_DELIVERY_RETRY": "-1"}
    with pytest.raises(ConfigError) as caught:
        load_settings(SourceSettings, env)
    assert caught.value.variable == "SPRINGHEAD_PORT"


MAIN = (
    "from springhead.runtime import main; from springhead.config import SourceSettings; "
    "main(SourceSettings, None)"
)
#: The same, in an interpreter where uvloop cannot be imported (as in the ping image).
MAIN_WITHOUT_UVLOOP = "import sys; sys.modules['uvloop'] = None; " + MAIN


@pytest.mark.parametrize(
    ("code", "env", "line"),
    [
        (
            MAIN,
            {"SPRINGHEAD_DELIVERY_RETRY": "many"},
            "configuration error: SPRINGHEAD_DELIVERY_RETRY: Input should be a valid integer, "
            "unable to parse string as an integer",
        ),
        (
            MAIN_WITHOUT_UVLOOP,
            {"SPRINGHEAD_EVENT_LOOP": "uvloop"},
            "configuration error: SPRINGHEAD_EVENT_LOOP: uvloop is not installed "
            "(install springhead[uvloop]) or choose auto or asyncio",
        ),
    ],
)
def test_bad_config_exits_with_one_line_and_no_traceback(
    code: str, env: dict[str, str], line: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={"K_SINK": "http://sink/", **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [line]
    assert "Traceback" not in result.stderr


def test_source_variables_are_told_apart_from_process_variables() -> None:
    env = {
        "K_SINK": "http://sink/",
        "K_CE_OVERRIDES": "",
        "SPRINGHEAD_DELIVERY_RETRY": "3",
        "SPRINGHEAD_PORT": "0",
        "NAMESPACE": "ns",
        "PING_SCHEDULE": "* * * * *",
    }
    assert source_variables_in(env) == ["K_CE_OVERRIDES", "K_SINK", "SPRINGHEAD_DELIVERY_RETRY"]
    settings = load_settings(ProcessSettings, env)
    assert not hasattr(settings, "sink")
    assert settings.port == 0


# --- settings groups: one definition, each service's own variable names ---------------------


class _Replicated(SourceSettings, LeaseSettings, KubeAccess):
    settings_prefix = "DEMO"


def test_a_group_reads_its_variables_under_the_service_prefix(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\n")
    env = {
        **SINK,
        "NAME": "demo",
        "DEMO_LEADER_ELECTION": "true",
        "DEMO_LEASE_NAMESPACE": "leases",
        "DEMO_LEASE_DURATION": "PT20S",
        "DEMO_LEASE_RENEW_DEADLINE": "PT12S",
        "DEMO_LEASE_RETRY_PERIOD": "PT3S",
        "DEMO_KUBECONFIG": str(kubeconfig),
        "LEASE_DURATION": "PT99S",  # no prefix: not read
    }
    settings = load_settings(_Replicated, env)
    assert settings.leader_election is True
    assert settings.effective_lease_name == "springhead"  # the component, unless overridden
    assert settings.effective_lease_namespace == "leases"
    assert settings.lease_duration == timedelta(seconds=20)
    assert settings.lease_renew_deadline == timedelta(seconds=12)
    assert settings.lease_retry_period == timedelta(seconds=3)
    assert settings.kubeconfig == str(kubeconfig)
    assert _Replicated.variable("lease_retry_period") == "DEMO_LEASE_RETRY_PERIOD"
    # The groups themselves keep no prefix: another service's prefix is its own.
    assert LeaseSettings.model_fields["lease_name"].validation_alias is None


@pytest.mark.parametrize(
    ("env", "variable", "reason"),
    [
        ({"DEMO_LEASE_DURATION": "PT1.5S"}, "DEMO_LEASE_DURATION", "whole seconds"),
        ({"DEMO_LEASE_DURATION": "PT0S"}, "DEMO_LEASE_DURATION", "at least PT1S"),
        ({"DEMO_LEASE_RENEW_DEADLINE": "PT15S"}, "DEMO_LEASE_RENEW_DEADLINE", "shorter than"),
        ({"DEMO_LEASE_RENEW_DEADLINE": "PT20S"}, "DEMO_LEASE_RENEW_DEADLINE", "shorter than"),
        (
            {"DEMO_LEASE_RENEW_DEADLINE": "PT1.1S", "DEMO_LEASE_RETRY_PERIOD": "PT1S"},
            "DEMO_LEASE_RETRY_PERIOD",
            "times 1.2",
        ),
        (
            {"DEMO_LEASE_RENEW_DEADLINE": "PT6S", "DEMO_LEASE_RETRY_PERIOD": "PT5S"},
            "DEMO_LEASE_RETRY_PERIOD",
            "times 1.2",
        ),
        ({"DEMO_LEASE_RETRY_PERIOD": "PT9S"}, "DEMO_LEASE_RETRY_PERIOD", "times 1.2"),
        ({"DEMO_LEASE_RETRY_PERIOD": "PT0S"}, "DEMO_LEASE_RETRY_PERIOD", "positive"),
        ({"DEMO_LEASE_NAME": "Not_A_Name"}, "DEMO_LEASE_NAME", "not a valid Lease name"),
        ({"DEMO_KUBECONFIG": "/nonexistent/kubeconfig"}, "DEMO_KUBECONFIG", "no such file"),
    ],
)
def test_a_group_checks_its_settings_once_for_every_service(
    env: dict[str, str], variable: str, reason: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(_Replicated, {**SINK, "DEMO_LEADER_ELECTION": "true", **env})
    assert caught.value.variable == variable
    assert reason in caught.value.reason


@pytest.mark.parametrize(
    ("duration", "deadline", "retry"),
    [("PT1S", "PT0.5S", "PT0.4S"), ("PT15S", "PT10S", "PT5S")],
)
def test_the_tightest_lease_timings_are_allowed(duration: str, deadline: str, retry: str) -> None:
    env = {
        **SINK,
        "DEMO_LEADER_ELECTION": "true",
        "DEMO_LEASE_DURATION": duration,
        "DEMO_LEASE_RENEW_DEADLINE": deadline,
        "DEMO_LEASE_RETRY_PERIOD": retry,
    }
    settings = load_settings(_Replicated, env)
    assert settings.lease_retry_period * 1.2 < settings.lease_renew_deadline


def test_lease_defaults() -> None:
    settings = load_settings(_Replicated, SINK)
    assert settings.leader_election is False
    assert (settings.lease_name, settings.lease_namespace, settings.kubeconfig) == ("", "", None)
    assert settings.effective_lease_namespace == "default"
    assert settings.lease_duration == timedelta(seconds=15)
    assert settings.lease_renew_deadline == timedelta(seconds=10)
    assert settings.lease_retry_period == timedelta(seconds=2)


def test_lease_timings_are_checked_only_with_leader_election_on() -> None:
    env = {**SINK, "DEMO_LEASE_RENEW_DEADLINE": "PT99S"}
    assert load_settings(_Replicated, env).lease_renew_deadline == timedelta(seconds=99)
    assert load_settings(_Replicated, {**SINK, "DEMO_KUBECONFIG": ""}).kubeconfig is None


# --- one secret convention: X, or the file X_FILE names ---------------------------------------


class _WithSecrets(SourceSettings):
    password: Secret = Field(default=None, validation_alias="DEMO_PASSWORD")
    ca: SecretText = Field(default=None, validation_alias="DEMO_CA")


def test_a_secret_comes_from_its_variable_or_from_the_file_its_file_variable_names(
    tmp_path: Path,
) -> None:
    given = load_settings(_WithSecrets, {**SINK, "DEMO_PASSWORD": "p", "DEMO_CA": "pem"})
    assert given.password is not None and given.password.get_secret_value() == "p"
    assert "p" not in repr(given.password)
    assert (given.ca, given.variable_of("ca"), given.file_of("ca")) == ("pem", "DEMO_CA", None)
    password, ca = tmp_path / "password", tmp_path / "ca"
    password.write_text("from-file\r\n")
    ca.write_text("-----BEGIN\n\n")
    env = {**SINK, "DEMO_PASSWORD_FILE": str(password), "DEMO_CA_FILE": str(ca), "DEMO_CA": ""}
    mounted = load_settings(_WithSecrets, env)
    assert mounted.password is not None
    assert mounted.password.get_secret_value() == "from-file"  # line breaks at the end dropped
    assert mounted.ca == "-----BEGIN"
    assert mounted.variable_of("ca") == "DEMO_CA_FILE" and mounted.file_of("ca") == str(ca)
    only_ca = load_settings(_WithSecrets, {**SINK, "DEMO_CA_FILE": str(ca)})
    assert (only_ca.password, only_ca.ca) == (None, "-----BEGIN")  # each file setting on its own
    unset = load_settings(_WithSecrets, {**SINK, "DEMO_PASSWORD": " "})
    assert (unset.password, unset.ca) == (None, None)


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        ({"DEMO_PASSWORD": "p", "DEMO_PASSWORD_FILE": "{file}"}, "cannot both be set"),
        ({"DEMO_PASSWORD_FILE": "{missing}"}, "cannot read"),
        ({"DEMO_PASSWORD_FILE": "{empty}"}, "is empty"),
    ],
)
def test_a_secret_file_that_cannot_serve_is_named(
    tmp_path: Path, env: dict[str, str], reason: str
) -> None:
    (tmp_path / "file").write_text("x")
    (tmp_path / "empty").write_text("\n")
    paths = {name: str(tmp_path / name) for name in ("file", "missing", "empty")}
    with pytest.raises(ConfigError) as caught:
        load_settings(_WithSecrets, {**SINK, **{k: v.format(**paths) for k, v in env.items()}})
    assert caught.value.variable == "DEMO_PASSWORD_FILE"
    assert reason in caught.value.reason


def test_every_secret_setting_of_every_service_takes_the_file_convention() -> None:
    # No service keeps a secret of its own kind: each one is a Secret (X or X_FILE).
    from springhead.webhook import WebhookSettings
    from springhead_github.config import GitHubSettings, HookSettings
    from springhead_http.config import HttpSettings
    from springhead_kafka.config import KafkaSettings

    expected = {
        WebhookSettings: {"WEBHOOK_BEARER_TOKEN", "WEBHOOK_BASIC_PASSWORD"},
        HttpSettings: {"WEBHOOK_BEARER_TOKEN", "WEBHOOK_BASIC_PASSWORD", "HTTP_HMAC_SECRET"},
        GitHubSettings: {"WEBHOOK_BEARER_TOKEN", "WEBHOOK_BASIC_PASSWORD", "GITHUB_WEBHOOK_SECRET"},
        HookSettings: {"GITHUB_WEBHOOK_SECRET", "GITHUB_TOKEN", "GITHUB_APP_PRIVATE_KEY"},
        KafkaSettings: {
            "KAFKA_SASL_PASSWORD", "KAFKA_TLS_CA_CERT", "KAFKA_TLS_CERT", "KAFKA_TLS_KEY",
        },
    }  # fmt: skip
    for cls, variables in expected.items():
        aliases = {str(field.validation_alias) for field in cls.model_fields.values()}
        assert {f"{variable}_FILE" for variable in variables} <= aliases, cls.__name__
        files = {alias for alias in aliases if alias.endswith("_FILE")}
        assert files - {"SPRINGHEAD_OIDC_TOKEN_FILE"} == {f"{v}_FILE" for v in variables}, cls
