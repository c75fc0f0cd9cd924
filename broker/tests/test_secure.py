"""The broker data plane over SASL and TLS to the real secure Kafka (testinfra's kafka-secure
profile): the ingress and the dispatcher, each its own process, read the shared ``KAFKA_*``
settings the Kafka source reads; events go ingress -> Kafka -> dispatcher -> a loopback
subscriber. Credentials Kafka refuses are a 503 at the ingress and a dispatcher that is not
ready, each with a log line naming the failure."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from springhead_testing import RecordingSink

if TYPE_CHECKING:
    from conftest import BrokerTools


def secure_env(broker: Any, listener: str, mechanism: str | None) -> dict[str, str]:
    """The ``KAFKA_*`` settings for one listener of the secure broker (PEM files, as a mounted
    Secret gives them, and PEM text, as ``secretKeyRef`` gives them)."""
    env = {"KAFKA_BOOTSTRAP_SERVERS": broker.listeners[listener]}
    if mechanism is not None:
        user = broker.users[mechanism]
        env |= {
            "KAFKA_SASL_MECHANISM": mechanism,
            "KAFKA_SASL_USER": user.username,
            "KAFKA_SASL_PASSWORD": user.password,
        }
    if listener == "SASL_SSL":
        env["KAFKA_TLS_CA_CERT_FILE"] = str(broker.ca_file)
    elif listener == "MTLS":
        env["KAFKA_TLS_CA_CERT"] = broker.ca_file.read_text()
        env["KAFKA_TLS_CERT"] = broker.client_cert.read_text()
        env["KAFKA_TLS_KEY_FILE"] = str(broker.client_key)
    return env


def refusal_logged(process: Any) -> bool:
    """Whether the process logged Kafka's own reason for refusing it (the Kafka client's error
    line precedes Springhead's "cannot reach Kafka" / "backend unavailable" one)."""
    return any(
        "SaslAuthenticationFailed" in entry.get("msg", "") and "invalid credentials" in entry["msg"]
        for entry in process.logs
    )


@pytest.mark.parametrize(
    ("listener", "mechanism"),
    [("SASL_SSL", "SCRAM-SHA-512"), ("SASL_PLAINTEXT", "PLAIN"), ("MTLS", None)],
)
async def test_events_flow_over(
    kafka_secure: Any, secure_tools: BrokerTools, listener: str, mechanism: str | None
) -> None:
    name = secure_tools.unique("secure")
    kafka_secure.create_topic(f"knative-broker-testns-{name}")
    env = secure_env(kafka_secure, listener, mechanism)
    async with RecordingSink() as sink:
        trigger = {"name": secure_tools.unique("all"), "subscriber": sink.url}
        secure_tools.write_contract([{"namespace": "testns", "name": name, "triggers": [trigger]}])
        async with (
            secure_tools.process(BROKER_ROLE="dispatcher", **env) as dispatcher,
            secure_tools.process(BROKER_ROLE="ingress", **env) as ingress,
        ):
            await secure_tools.ready(dispatcher, triggers=1)
            await ingress.wait_for_log("contract applied")
            for n in range(3):
                status = await secure_tools.send(ingress, f"/testns/{name}", f"e{n}", "t")
                assert status == 202
            await sink.wait_for(3)
    assert sorted(secure_tools.ids(sink)) == ["e0", "e1", "e2"]


async def test_refused_credentials_are_a_503_and_a_dispatcher_not_ready(
    kafka_secure: Any, secure_tools: BrokerTools, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = kafka_secure.users["SCRAM-SHA-512"]
    monkeypatch.setitem(
        kafka_secure.users, "SCRAM-SHA-512", dataclasses.replace(user, password="wrong")
    )
    name = secure_tools.unique("refused")
    kafka_secure.create_topic(f"knative-broker-testns-{name}")
    env = {
        **secure_env(kafka_secure, "SASL_SSL", "SCRAM-SHA-512"),
        "BROKER_PRODUCE_TIMEOUT": "PT5S",
    }
    async with RecordingSink() as sink:
        trigger = {"name": "all", "subscriber": sink.url}
        secure_tools.write_contract([{"namespace": "testns", "name": name, "triggers": [trigger]}])
        async with (
            secure_tools.process(BROKER_ROLE="dispatcher", **env) as dispatcher,
            secure_tools.process(BROKER_ROLE="ingress", **env) as ingress,
        ):
            await dispatcher.wait_for_log("cannot reach Kafka; retrying", timeout=60)
            assert refusal_logged(dispatcher), dispatcher.stderr_text()
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"http://127.0.0.1:{dispatcher.port}/readyz") as ready,
            ):
                assert ready.status == 503
            await ingress.wait_for_log("contract applied")
            status = await secure_tools.send(ingress, f"/testns/{name}", "e0", "t")
            assert status == 503
            await ingress.wait_for_log("event not stored: backend unavailable")
            assert refusal_logged(ingress), ingress.stderr_text()
    assert sink.requests == []
