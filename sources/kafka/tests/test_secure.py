"""The Kafka source over SASL (PLAIN, SCRAM) and TLS (server and mutual) to the real secure
broker; credentials it cannot use keep it retrying and not ready."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from springhead.config import load_settings
from springhead_kafka.config import KafkaSettings
from springhead_testing import RecordingSink


def sasl(broker: Any, mechanism: str) -> dict[str, str]:
    user = broker.users[mechanism]
    return {
        "KAFKA_SASL_MECHANISM": mechanism,
        "KAFKA_SASL_USER": user.username,
        "KAFKA_SASL_PASSWORD": user.password,
    }


CASES = [
    # listener, mechanism, how the source is configured (CA/cert/key as PEM text or X_FILE)
    ("SASL_PLAINTEXT", "PLAIN", "sasl"),
    ("SASL_PLAINTEXT", "SCRAM-SHA-512", "sasl"),
    ("SASL_SSL", "SCRAM-SHA-256", "sasl + CA file"),
    ("SSL", None, "CA as PEM text"),
    ("MTLS", None, "CA file, client certificate as PEM text, key file"),
]


def source_env(broker: Any, listener: str, mechanism: str | None) -> dict[str, str]:
    env = sasl(broker, mechanism) if mechanism else {}
    if listener == "SASL_SSL":
        env["KAFKA_TLS_CA_CERT_FILE"] = str(broker.ca_file)
    elif listener == "SSL":
        env["KAFKA_TLS_CA_CERT"] = broker.ca_file.read_text()
    elif listener == "MTLS":
        env["KAFKA_TLS_CA_CERT_FILE"] = str(broker.ca_file)
        env["KAFKA_TLS_CERT"] = broker.client_cert.read_text()
        env["KAFKA_TLS_KEY_FILE"] = str(broker.client_key)
    return env


@pytest.mark.parametrize(("listener", "mechanism", "how"), CASES)
async def test_consumes_over(
    kafka_secure: Any,
    secure_tools: Any,
    sink: RecordingSink,
    listener: str,
    mechanism: str | None,
    how: str,
) -> None:
    tools = secure_tools(listener, mechanism, **source_env(kafka_secure, listener, mechanism))
    topic = await tools.create_topic(tools.unique("secure"))
    produced = await tools.produce(topic, [tools.Out(value=f"{i}".encode()) for i in range(3)])
    async with tools.source(sink, topic):
        await sink.wait_for(3)
    assert tools.accepted_ids(sink) == [p.id for p in produced]


def test_settings_load_pem_files_and_text(kafka_secure: Any) -> None:
    env = {
        "K_SINK": "http://sink/",
        "KAFKA_BOOTSTRAP_SERVERS": kafka_secure.listeners["MTLS"],
        "KAFKA_TOPICS": "t",
        **source_env(kafka_secure, "MTLS", None),
    }
    settings = load_settings(KafkaSettings, env)
    assert settings.tls_ca_cert == kafka_secure.ca_file.read_text().rstrip("\n")
    assert settings.tls_key is not None
    assert settings.tls_key.get_secret_value() == kafka_secure.client_key.read_text().rstrip("\n")
    assert settings.security_protocol == "SSL"
    assert settings.ssl_context().verify_mode.name == "CERT_REQUIRED"


@pytest.mark.parametrize(
    ("listener", "mechanism", "change"),
    [
        ("SASL_PLAINTEXT", "SCRAM-SHA-512", {"KAFKA_SASL_PASSWORD": "wrong"}),
        ("SSL", None, {"KAFKA_TLS_CA_CERT": "", "KAFKA_TLS_ENABLE": "true"}),  # system CAs only
    ],
)
async def test_unusable_credentials_keep_retrying_and_not_ready(
    kafka_secure: Any,
    secure_tools: Any,
    sink: RecordingSink,
    listener: str,
    mechanism: str | None,
    change: dict[str, str],
) -> None:
    env = {**source_env(kafka_secure, listener, mechanism), **change}
    tools = secure_tools(listener, mechanism, **env)
    async with tools.source(sink, tools.unique("refused")) as source:
        await source.wait_for_log("cannot reach Kafka; retrying")
        url = f"http://127.0.0.1:{source.port}/readyz"
        async with aiohttp.ClientSession() as session, session.get(url) as ready:
            assert ready.status == 503
    assert source.process is not None and source.process.returncode == 0
    assert sink.requests == []
