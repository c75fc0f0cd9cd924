"""Kafka source settings: Knative's defaults, and bad settings stopping start-up with one line."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from springhead.config import BackoffPolicy, ConfigError, load_settings
from springhead.delivery import DeliveryPolicy
from springhead.kafka.mapping import KeyType
from springhead_kafka.config import InitialOffset, KafkaSettings, OnExhausted, Ordering

BASE = {
    "K_SINK": "http://sink/",
    "KAFKA_BOOTSTRAP_SERVERS": "broker-0:9092, broker-1:9092",
    "KAFKA_TOPICS": "orders,payments",
}
BAD_PEM = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"


def test_knative_kafka_source_defaults() -> None:
    settings = load_settings(KafkaSettings, BASE)
    assert settings.bootstrap_servers == ["broker-0:9092", "broker-1:9092"]
    assert settings.topics == ["orders", "payments"]
    assert settings.initial_offset is InitialOffset.LATEST
    assert settings.ordering is Ordering.ORDERED
    assert settings.key_type is KeyType.STRING
    assert settings.on_exhausted is OnExhausted.BLOCK
    assert settings.group_id == "springhead-default-springhead"
    assert settings.security_protocol == "PLAINTEXT"
    assert DeliveryPolicy.from_settings(settings) == DeliveryPolicy(
        retry=10, backoff_policy=BackoffPolicy.EXPONENTIAL, backoff_delay=0.3, timeout=600.0
    )


def test_delivery_settings_override_the_defaults() -> None:
    settings = load_settings(
        KafkaSettings,
        {
            **BASE,
            "SPRINGHEAD_DELIVERY_RETRY": "2",
            "SPRINGHEAD_DELIVERY_BACKOFF_DELAY": "PT1S",
            "SPRINGHEAD_DELIVERY_BACKOFF_POLICY": "linear",
            "K_SINK_TIMEOUT": "7",
        },
    )
    assert DeliveryPolicy.from_settings(settings) == DeliveryPolicy(
        retry=2, backoff_policy=BackoffPolicy.LINEAR, backoff_delay=1.0, timeout=7.0
    )
    with_timeout = load_settings(
        KafkaSettings, {**BASE, "K_SINK_TIMEOUT": "7", "SPRINGHEAD_DELIVERY_TIMEOUT": "PT30S"}
    )
    assert with_timeout.attempt_timeout == 30.0


def test_all_kafka_settings_parse() -> None:
    settings = load_settings(
        KafkaSettings,
        {
            **BASE,
            "KAFKA_TOPICS": "",
            "KAFKA_TOPIC_PATTERN": "orders-.*",
            "KAFKA_CONSUMER_GROUP": "billing",
            "KAFKA_INITIAL_OFFSET": "earliest",
            "KAFKA_ORDERING": "unordered",
            "KAFKA_MAX_IN_FLIGHT": "8",
            "KAFKA_MAX_UNCOMMITTED": "100",
            "KAFKA_PREFETCH": "50",
            "KAFKA_COMMIT_INTERVAL": "PT1S",
            "KAFKA_REVOKE_TIMEOUT": "PT3S",
            "KAFKA_KEY_TYPE": "byte-array",
            "KAFKA_ON_EXHAUSTED": "commit",
            "KAFKA_SASL_MECHANISM": "scram-sha-512",
            "KAFKA_SASL_USER": "user",
            "KAFKA_SASL_PASSWORD": "secret",
            "KAFKA_TLS_ENABLE": "true",
        },
    )
    assert settings.topics == [] and settings.topic_pattern == "orders-.*"
    assert settings.group_id == "billing"
    assert (settings.max_in_flight, settings.max_uncommitted, settings.prefetch) == (8, 100, 50)
    assert settings.commit_interval.total_seconds() == 1.0
    assert settings.key_type is KeyType.BYTE_ARRAY
    assert settings.on_exhausted is OnExhausted.COMMIT
    assert settings.security_protocol == "SASL_SSL"
    assert "secret" not in repr(settings)


@pytest.mark.parametrize(
    ("env", "protocol"),
    [
        ({}, "PLAINTEXT"),
        ({"KAFKA_TLS_ENABLE": "true"}, "SSL"),
        ({"KAFKA_SASL_MECHANISM": "PLAIN", "KAFKA_SASL_USER": "u", "KAFKA_SASL_PASSWORD": "p"},
         "SASL_PLAINTEXT"),
    ],
)  # fmt: skip
def test_security_protocol(env: dict[str, str], protocol: str) -> None:
    assert load_settings(KafkaSettings, {**BASE, **env}).security_protocol == protocol


@pytest.mark.parametrize(
    ("env", "variable", "reason"),
    [
        ({"KAFKA_BOOTSTRAP_SERVERS": None}, "KAFKA_BOOTSTRAP_SERVERS", "required"),
        ({"KAFKA_BOOTSTRAP_SERVERS": ""}, "KAFKA_BOOTSTRAP_SERVERS", "at least one"),
        ({"KAFKA_BOOTSTRAP_SERVERS": "a:b"}, "KAFKA_BOOTSTRAP_SERVERS", "host:port"),
        ({"KAFKA_BOOTSTRAP_SERVERS": "a:99999"}, "KAFKA_BOOTSTRAP_SERVERS", "host:port"),
        ({"KAFKA_TOPICS": ""}, "KAFKA_TOPICS", "set the topics"),
        ({"KAFKA_TOPICS": "bad topic"}, "KAFKA_TOPICS", "not a valid Kafka topic"),
        ({"KAFKA_TOPIC_PATTERN": "x.*"}, "KAFKA_TOPIC_PATTERN", "cannot be combined"),
        ({"KAFKA_TOPICS": "", "KAFKA_TOPIC_PATTERN": "(("}, "KAFKA_TOPIC_PATTERN", "regular"),
        ({"KAFKA_INITIAL_OFFSET": "oldest"}, "KAFKA_INITIAL_OFFSET", "earliest"),
        ({"KAFKA_ORDERING": "random"}, "KAFKA_ORDERING", "ordered"),
        ({"KAFKA_KEY_TYPE": "long"}, "KAFKA_KEY_TYPE", "byte-array"),
        ({"KAFKA_ON_EXHAUSTED": "drop"}, "KAFKA_ON_EXHAUSTED", "block"),
        ({"KAFKA_MAX_IN_FLIGHT": "0"}, "KAFKA_MAX_IN_FLIGHT", "greater than or equal"),
        ({"KAFKA_MAX_UNCOMMITTED": "0"}, "KAFKA_MAX_UNCOMMITTED", "greater than or equal"),
        ({"KAFKA_PREFETCH": "x"}, "KAFKA_PREFETCH", "integer"),
        ({"KAFKA_COMMIT_INTERVAL": "5s"}, "KAFKA_COMMIT_INTERVAL", "ISO-8601"),
        ({"KAFKA_COMMIT_INTERVAL": "PT0S"}, "KAFKA_COMMIT_INTERVAL", "positive"),
        ({"KAFKA_REVOKE_TIMEOUT": "PT0S"}, "KAFKA_REVOKE_TIMEOUT", "positive"),
        ({"KAFKA_SASL_MECHANISM": "GSSAPI"}, "KAFKA_SASL_MECHANISM", "PLAIN"),
        ({"KAFKA_SASL_MECHANISM": "PLAIN"}, "KAFKA_SASL_USER", "required"),
        ({"KAFKA_SASL_MECHANISM": "PLAIN", "KAFKA_SASL_USER": "u"}, "KAFKA_SASL_PASSWORD",
         "required"),
        ({"KAFKA_SASL_USER": "u", "KAFKA_SASL_PASSWORD": "p"}, "KAFKA_SASL_MECHANISM",
         "required"),
        ({"KAFKA_TLS_CA_CERT": BAD_PEM}, "KAFKA_TLS_CA_CERT", "PEM"),
        ({"KAFKA_TLS_CA_CERT_FILE": "/nonexistent"}, "KAFKA_TLS_CA_CERT_FILE", "cannot read"),
        ({"KAFKA_TLS_CA_CERT": "/etc/ca.pem"}, "KAFKA_TLS_CA_CERT", "PEM"),  # a value, not a path
        ({"KAFKA_TLS_CERT": BAD_PEM}, "KAFKA_TLS_KEY", "together"),
        ({"KAFKA_TLS_KEY": BAD_PEM}, "KAFKA_TLS_CERT", "together"),
        ({"KAFKA_TLS_CERT": BAD_PEM, "KAFKA_TLS_KEY": BAD_PEM}, "KAFKA_TLS_CERT", "do not load"),
        ({"SPRINGHEAD_DELIVERY_RETRY": "-1"}, "SPRINGHEAD_DELIVERY_RETRY", "greater than"),
    ],
)  # fmt: skip
def test_bad_settings(env: dict[str, str | None], variable: str, reason: str) -> None:
    merged = {**BASE, **env}
    values = {k: v for k, v in merged.items() if v is not None}
    with pytest.raises(ConfigError) as caught:
        load_settings(KafkaSettings, values)
    assert caught.value.variable == variable
    assert reason in caught.value.reason


def test_a_pem_file_without_pem_is_named_by_its_file_variable(tmp_path: Path) -> None:
    not_pem = tmp_path / "ca.txt"
    not_pem.write_text("hello")
    with pytest.raises(ConfigError) as caught:
        load_settings(KafkaSettings, {**BASE, "KAFKA_TLS_CA_CERT_FILE": str(not_pem)})
    assert caught.value.variable == "KAFKA_TLS_CA_CERT_FILE"
    assert "not a valid PEM certificate bundle" in caught.value.reason


async def test_bad_settings_stop_the_process_with_one_line() -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "K_SINK": "http://127.0.0.1:9/",
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
        "KAFKA_ORDERING": "sideways",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "springhead_kafka",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        _, stderr = await process.communicate()
    assert process.returncode == 2
    lines = stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("configuration error: KAFKA_ORDERING: ")
