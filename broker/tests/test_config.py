"""The broker's settings: what each backend needs, and one clear line for what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from springhead.config import ConfigError, load_settings
from springhead_broker.config import BackendKind, BrokerSettings, InitialOffset, Role


@pytest.fixture
def contract(tmp_path: Path) -> str:
    path = tmp_path / "contract.json"
    path.write_text('{"brokers": [{"namespace": "n", "name": "b"}]}')
    return str(path)


def test_defaults(contract: str) -> None:
    settings = load_settings(
        BrokerSettings,
        {"BROKER_CONTRACT_FILE": contract, "KAFKA_BOOTSTRAP_SERVERS": "k1:9092, k2:9092"},
    )
    assert (settings.role, settings.backend) == (Role.ALL, BackendKind.KAFKA)
    assert settings.bootstrap_servers == ["k1:9092", "k2:9092"]
    assert settings.initial_offset is InitialOffset.LATEST
    assert settings.produce_timeout.total_seconds() == 10


@pytest.mark.parametrize(
    "env, variable, reason",
    [
        ({}, "BROKER_CONTRACT_FILE", ""),
        ({"BROKER_CONTRACT_FILE": "/nonexistent/contract.json"}, "BROKER_CONTRACT_FILE",
         "cannot read"),
        ({"BROKER_BACKEND": "memory", "BROKER_ROLE": "ingress"}, "BROKER_ROLE", "BROKER_ROLE=all"),
        ({"BROKER_BACKEND": "kafka"}, "KAFKA_BOOTSTRAP_SERVERS", "required"),
        ({"BROKER_BACKEND": "disk"}, "BROKER_BACKEND", ""),
        ({"BROKER_ROLE": "both"}, "BROKER_ROLE", ""),
        ({"BROKER_COMMIT_INTERVAL": "PT0S"}, "BROKER_COMMIT_INTERVAL", "positive"),
    ],
)  # fmt: skip
def test_bad_settings_name_the_variable(
    contract: str, env: dict[str, str], variable: str, reason: str
) -> None:
    full = {"BROKER_CONTRACT_FILE": contract, **env}
    if not env:
        full = {}
    with pytest.raises(ConfigError) as error:
        load_settings(BrokerSettings, full)
    assert error.value.variable == variable
    assert reason in error.value.reason


def test_kafka_security_is_the_shared_kafka_settings(contract: str) -> None:
    """SASL and TLS are the ``KAFKA_*`` variables the Kafka source reads, turned into the same
    client options; the password stays out of the settings' repr."""
    settings = load_settings(
        BrokerSettings,
        {
            "BROKER_CONTRACT_FILE": contract,
            "KAFKA_BOOTSTRAP_SERVERS": "k1:9093",
            "KAFKA_SASL_MECHANISM": "scram-sha-512",
            "KAFKA_SASL_USER": "broker",
            "KAFKA_SASL_PASSWORD": "s3cret",
            "KAFKA_TLS_ENABLE": "true",
        },
    )
    options = settings.kafka_options()
    assert options["bootstrap_servers"] == ["k1:9093"]
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("broker", "s3cret")
    assert options["ssl_context"].verify_mode.name == "CERT_REQUIRED"
    assert settings.kafka_options(["other:9092"])["bootstrap_servers"] == ["other:9092"]
    assert "s3cret" not in repr(settings)
    plain = load_settings(
        BrokerSettings, {"BROKER_CONTRACT_FILE": contract, "KAFKA_BOOTSTRAP_SERVERS": "k1:9092"}
    )
    assert plain.kafka_options() == {
        "bootstrap_servers": ["k1:9092"], "security_protocol": "PLAINTEXT",
    }  # fmt: skip


@pytest.mark.parametrize(
    "env, variable, reason",
    [
        ({"KAFKA_SASL_MECHANISM": "PLAIN"}, "KAFKA_SASL_USER", "required"),
        ({"KAFKA_SASL_MECHANISM": "PLAIN", "KAFKA_SASL_USER": "u"}, "KAFKA_SASL_PASSWORD",
         "required"),
        ({"KAFKA_SASL_MECHANISM": "OAUTHBEARER"}, "KAFKA_SASL_MECHANISM", "PLAIN"),
        ({"KAFKA_SASL_USER": "u"}, "KAFKA_SASL_MECHANISM", "required"),
        ({"KAFKA_TLS_CA_CERT": "not a certificate"}, "KAFKA_TLS_CA_CERT", "PEM"),
        ({"KAFKA_TLS_KEY": "k"}, "KAFKA_TLS_CERT", "together"),
        ({"KAFKA_BOOTSTRAP_SERVERS": "k1:0"}, "KAFKA_BOOTSTRAP_SERVERS", "host:port"),
    ],
)  # fmt: skip
def test_bad_kafka_security_names_the_variable(
    contract: str, env: dict[str, str], variable: str, reason: str
) -> None:
    full = {"BROKER_CONTRACT_FILE": contract, "KAFKA_BOOTSTRAP_SERVERS": "k1:9092", **env}
    with pytest.raises(ConfigError) as error:
        load_settings(BrokerSettings, full)
    assert error.value.variable == variable
    assert reason in error.value.reason
