"""The SASL/TLS Kafka profile: every listener and mechanism works, and wrong credentials fail."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import ssl
import uuid

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from springhead_testinfra.kafka import SecureKafkaBroker
from springhead_testinfra.kafka_clients import consume_and_commit, produce
from springhead_testinfra.process import wait_until

CASES = [
    ("SASL_PLAINTEXT", "PLAIN"),
    ("SASL_PLAINTEXT", "SCRAM-SHA-512"),
    ("SASL_PLAINTEXT", "SCRAM-SHA-256"),
    ("SASL_SSL", "PLAIN"),
    ("SASL_SSL", "SCRAM-SHA-512"),
    ("SSL", None),
    ("MTLS", None),
]


@pytest.mark.parametrize(("listener", "mechanism"), CASES)
async def test_produce_and_consume_over(
    kafka_secure: SecureKafkaBroker, listener: str, mechanism: str | None
) -> None:
    client = kafka_secure.client_kwargs(listener, mechanism)
    topic, group = f"secure-{uuid.uuid4().hex[:10]}", f"group-{uuid.uuid4().hex[:10]}"
    kafka_secure.create_topic(topic)
    values = [f"{listener}-{mechanism}-{i}".encode() for i in range(3)]
    await produce(client, topic, values)
    got, committed = await consume_and_commit(client, topic, group, len(values))
    assert got == values
    assert sum(committed.values()) == len(values)


async def _fails_to_start(client: dict[str, object]) -> BaseException:
    producer = AIOKafkaProducer(**client, request_timeout_ms=5000)
    try:
        async with asyncio.timeout(30):
            await producer.start()
    except (KafkaError, OSError, TimeoutError) as exc:
        return exc
    finally:
        await producer.stop()
    raise AssertionError(f"a producer with {client} connected, but should have been refused")


def _broker_logged(broker: SecureKafkaBroker, text: str, after: int) -> None:
    """Wait until the broker's log, past byte ``after``, contains ``text``."""

    def logged() -> bool:
        with open(broker.log_path, "rb") as log:
            log.seek(after)
            return text.encode() in log.read()

    wait_until(logged, timeout=30, what=f"{text!r} in {broker.log_path}")


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-512"])
async def test_wrong_password_is_refused(
    kafka_secure: SecureKafkaBroker, mechanism: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = kafka_secure.users[mechanism]
    monkeypatch.setitem(
        kafka_secure.users, mechanism, dataclasses.replace(user, password="not-the-password")
    )
    mark = kafka_secure.log_path.stat().st_size
    await _fails_to_start(kafka_secure.client_kwargs("SASL_PLAINTEXT", mechanism))
    _broker_logged(kafka_secure, "Failed authentication", mark)


async def test_mutual_tls_requires_a_client_certificate(kafka_secure: SecureKafkaBroker) -> None:
    client = kafka_secure.client_kwargs("MTLS")
    client["ssl_context"] = kafka_secure.ssl_context(client_cert=False)
    mark = kafka_secure.log_path.stat().st_size
    await _fails_to_start(client)
    _broker_logged(kafka_secure, "SSL handshake failed", mark)


async def test_tls_listener_needs_the_run_ca(kafka_secure: SecureKafkaBroker) -> None:
    client = kafka_secure.client_kwargs("SSL")
    client["ssl_context"] = ssl.create_default_context()  # system CAs only
    await _fails_to_start(client)


def test_server_certificate_names_the_loopback_address(kafka_secure: SecureKafkaBroker) -> None:
    host, port = kafka_secure.listeners["SSL"].split(":")
    context = kafka_secure.ssl_context()  # verifies the chain and the host name
    with (
        socket.create_connection((host, int(port)), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        certificate = tls.getpeercert()
    assert certificate is not None
    assert ("IP Address", "127.0.0.1") in certificate["subjectAltName"]
