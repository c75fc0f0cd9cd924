"""KafkaSource against the real kube-apiserver and the real Kafka broker (testinfra's SASL/TLS
profile): the controller runs one Deployment of the Kafka source per object with
``spec.consumers`` replicas and Knative's status; its container, started as a process with exactly
the environment the controller gave it (credentials resolved from the Secret by ``secretKeyRef``,
as the kubelet does), consumes over SASL and delivers to a loopback sink; deleting the source
removes the Deployment.

No kube-controller-manager runs here: the tests report a Deployment Available themselves
(``Cluster.make_available``), and nothing garbage-collects (the controller removes the
Deployment of a deleted source itself).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from springhead_controller.kafkasources import adapter_name
from springhead_testinfra.kafka import SecureKafkaBroker
from springhead_testinfra.kafka_clients import produce
from springhead_testing.kube import custom_resource_definition
from springhead_testing.process import SourceProcess
from springhead_testing.sink import RecordingSink

if TYPE_CHECKING:
    from conftest import Cluster
    from springhead_controller.controller import Controller

SOURCES = "sources.knative.dev/v1"
KIND = "KafkaSource"
IMAGE = "registry.example/springhead-kafka:test"
DATA = Path(__file__).parent / "data" / "knative-docs"


@pytest.fixture
async def controller(start_controller: Any) -> AsyncIterator[Controller]:
    async with start_controller(CONTROLLER_KAFKA_IMAGE=IMAGE) as started:
        yield started


@pytest.fixture
async def sink() -> AsyncIterator[RecordingSink]:
    async with RecordingSink() as recording:
        yield recording


def kafka_source(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": SOURCES,
        "kind": KIND,
        "metadata": {"name": name},
        "spec": {
            "bootstrapServers": ["kafka.example:9092"],
            "topics": ["orders"],
            "sink": {"uri": "http://sink.example/"},
            **spec,
        },
    }


async def adapter_deployment(
    cluster: Cluster, source: Mapping[str, Any], check: Any = None
) -> dict[str, Any]:
    namespace = source["metadata"]["namespace"]

    async def found() -> dict[str, Any] | None:
        deployment = await cluster.get("apps/v1", "Deployment", namespace, adapter_name(source))
        if deployment is None or (check is not None and not check(deployment)):
            return None
        return deployment

    return await cluster.eventually(found, f"the Deployment of {source['metadata']['name']}")


def env_of(deployment: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e for e in container["env"]}


def filled_docs_example(placeholders: Mapping[str, str]) -> dict[str, Any]:
    """knative/docs' ``event-source.yaml`` with its placeholders replaced (the file is kept
    byte for byte; its comment lists the placeholders, each a whole word)."""
    text = (DATA / "kafka-source-event-source.yaml").read_text()
    found = set(re.findall(r"\bKAFKA_[A-Z_]+\b", text.split("apiVersion:", 1)[1]))
    assert found == set(placeholders), found ^ set(placeholders)
    filled = re.sub(r"\bKAFKA_[A-Z_]+\b", lambda m: placeholders.get(m[0], m[0]), text)
    document: dict[str, Any] = yaml.safe_load(filled)
    return document


@pytest.mark.usefixtures("controller")
async def test_the_knative_docs_example_with_sasl_from_a_secret_delivers(
    cluster: Cluster,
    namespace: str,
    sink: RecordingSink,
    kafka_secure: SecureKafkaBroker,
) -> None:
    user = kafka_secure.users["PLAIN"]
    topic = f"knative-demo-{uuid.uuid4().hex[:8]}"
    kafka_secure.create_topic(topic)
    await cluster.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "kafka-sasl"},
            "stringData": {"user": user.username, "password": user.password},
        },
        namespace,
    )
    source = filled_docs_example(
        {
            "KAFKA_CONSUMER_GROUP_NAME": "knative-group",
            "KAFKA_INITIAL_OFFSET": "earliest",
            "KAFKA_BOOTSTRAP_SERVERS": kafka_secure.listeners["SASL_PLAINTEXT"],
            "KAFKA_TOPICS": topic,
            "KAFKA_SASL_ENABLE": "true",
            "KAFKA_SASL_USER_SECRET_NAME": "kafka-sasl",
            "KAFKA_SASL_USER_SECRET_KEY": "user",
            "KAFKA_SASL_PASSWORD_SECRET_NAME": "kafka-sasl",
            "KAFKA_SASL_PASSWORD_SECRET_KEY": "password",
            # TLS off: its references name a Secret that does not exist, and are not used.
            "KAFKA_TLS_ENABLE": "false",
            "KAFKA_TLS_CERT_SECRET_NAME": "kafka-tls",
            "KAFKA_TLS_CERT_SECRET_KEY": "cert",
            "KAFKA_TLS_KEY_SECRET_NAME": "kafka-tls",
            "KAFKA_TLS_KEY_SECRET_KEY": "key",
            "KAFKA_TLS_CA_CERT_SECRET_NAME": "kafka-tls",
            "KAFKA_TLS_CA_CERT_SECRET_KEY": "ca",
        }
    )
    # Knative Serving is not installed: a minimal CRD stands in for its Service, whose address
    # (the loopback sink) the test writes as Serving would.
    await cluster.ensure_crd(custom_resource_definition("serving.knative.dev", "Service"))
    await cluster.create(
        {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
         "metadata": {"name": "event-display"}},
        namespace,
    )  # fmt: skip
    await cluster.publish_address(
        "serving.knative.dev/v1", "Service", namespace, "event-display", sink.url
    )
    created = await cluster.create(source, namespace)
    # spec.resources of the example is not in Knative's schema: the API server prunes it.
    assert "resources" not in created["spec"]
    deployment = await adapter_deployment(cluster, created)
    await cluster.wait_condition(KIND, namespace, "kafka-source", "SinkProvided", "True")
    await cluster.wait_condition(KIND, namespace, "kafka-source", "ConsumerGroup", "Unknown")

    env = env_of(deployment)
    assert env["KAFKA_SASL_PASSWORD"]["valueFrom"] == {
        "secretKeyRef": {"name": "kafka-sasl", "key": "password"}
    }
    assert env["KAFKA_SASL_USER"]["valueFrom"] == {
        "secretKeyRef": {"name": "kafka-sasl", "key": "user"}
    }
    assert env["KAFKA_SASL_MECHANISM"]["value"] == "PLAIN"
    assert not any(name.startswith("KAFKA_TLS") for name in env)
    assert user.password not in json.dumps(deployment)
    assert env["KAFKA_CONSUMER_GROUP"]["value"] == "knative-group"
    assert env["KAFKA_INITIAL_OFFSET"]["value"] == "earliest"
    assert deployment["spec"]["replicas"] == 1

    await cluster.make_available(deployment)
    await cluster.wait_condition(KIND, namespace, "kafka-source", "Ready", "True")
    status = (await cluster.get(SOURCES, KIND, namespace, "kafka-source") or {})["status"]
    assert status["sinkUri"] == sink.url
    assert status["consumers"] == 1
    assert status["ceAttributes"] == [
        {
            "type": "dev.knative.kafka.event",
            "source": f"/apis/v1/namespaces/{namespace}/kafkasources/kafka-source#{topic}",
        }
    ]

    resolved = await cluster.container_env(deployment)
    node = {"SPRINGHEAD_PORT": "0", "SPRINGHEAD_HOST": "127.0.0.1"}
    async with SourceProcess("springhead_kafka", {**resolved, **node}):
        await produce(
            kafka_secure.client_kwargs("SASL_PLAINTEXT", "PLAIN"),
            topic,
            [b'{"msg": "This is a test!"}'],
        )
        [received] = await sink.wait_for(1)
    event = received.event
    assert event.get_type() == "dev.knative.kafka.event"
    assert (
        event.get_source() == f"/apis/v1/namespaces/{namespace}/kafkasources/kafka-source#{topic}"
    )
    assert event.get_id() == "partition:0/offset:0"
    assert received.body == b'{"msg": "This is a test!"}'


@pytest.mark.usefixtures("controller")
async def test_scram_over_tls_with_every_credential_from_secrets_delivers(
    cluster: Cluster,
    namespace: str,
    sink: RecordingSink,
    kafka_secure: SecureKafkaBroker,
) -> None:
    user = kafka_secure.users["SCRAM-SHA-512"]
    topic = f"tls-{uuid.uuid4().hex[:8]}"
    kafka_secure.create_topic(topic)
    await cluster.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "kafka-scram"},
            "stringData": {
                "mechanism": "SCRAM-SHA-512",
                "user": user.username,
                "password": user.password,
                "ca.crt": kafka_secure.ca_file.read_text(),
            },
        },
        namespace,
    )

    def ref(key: str) -> dict[str, Any]:
        return {"secretKeyRef": {"name": "kafka-scram", "key": key}}

    net = {
        "sasl": {"enable": True, "type": ref("mechanism"), "user": ref("user"),
                 "password": ref("password")},
        "tls": {"enable": True, "caCert": ref("ca.crt")},
    }  # fmt: skip
    created = await cluster.create(
        kafka_source(
            "secure",
            bootstrapServers=[kafka_secure.listeners["SASL_SSL"]],
            topics=[topic],
            initialOffset="earliest",
            net=net,
            sink={"uri": sink.url},
        ),
        namespace,
    )
    deployment = await adapter_deployment(cluster, created)
    assert kafka_secure.ca_file.read_text() not in json.dumps(deployment)
    assert user.password not in json.dumps(deployment)
    resolved = await cluster.container_env(deployment)
    node = {"SPRINGHEAD_PORT": "0", "SPRINGHEAD_HOST": "127.0.0.1"}
    async with SourceProcess("springhead_kafka", {**resolved, **node}):
        await produce(kafka_secure.client_kwargs("SASL_SSL", "SCRAM-SHA-512"), topic, [b"over TLS"])
        [received] = await sink.wait_for(1)
    assert received.body == b"over TLS"
    assert received.event.get_extension("knativekafkaoffset") is not None


@pytest.mark.usefixtures("controller")
async def test_consumers_scale_the_deployment_and_deleting_removes_it(
    cluster: Cluster, namespace: str
) -> None:
    created = await cluster.create(kafka_source("scaled", consumers=3), namespace)
    assert created["apiVersion"] == SOURCES
    deployment = await adapter_deployment(cluster, created)
    assert deployment["spec"]["replicas"] == 3
    env = env_of(deployment)
    # Knative's defaults: a consumer group per object, latest offset, ordered delivery.
    uid = created["metadata"]["uid"]
    assert env["KAFKA_CONSUMER_GROUP"]["value"] == f"knative-kafka-source-{uid}"
    assert env["KAFKA_INITIAL_OFFSET"]["value"] == "latest"
    assert env["KAFKA_ORDERING"]["value"] == "ordered"
    # The scale subresource (kubectl scale kafkasource) sets spec.consumers.
    await cluster.merge_patch(
        SOURCES, KIND, namespace, "scaled", {"spec": {"replicas": 2}}, subresource="scale"
    )
    await adapter_deployment(cluster, created, lambda d: d["spec"]["replicas"] == 2)
    stored = await cluster.get("sources.knative.dev/v1beta1", KIND, namespace, "scaled")
    assert stored is not None and stored["spec"]["consumers"] == 2

    await cluster.delete(SOURCES, KIND, namespace, "scaled")

    async def gone() -> bool:
        name = adapter_name(created)
        return await cluster.get("apps/v1", "Deployment", namespace, name) is None

    await cluster.eventually(gone, "the Deployment of the deleted KafkaSource to be gone")


@pytest.mark.usefixtures("controller")
async def test_delivery_and_tls_become_the_sources_settings(
    cluster: Cluster, namespace: str
) -> None:
    delivery = {
        "retry": 3,
        "backoffPolicy": "linear",
        "backoffDelay": "PT0.5S",
        "timeout": "PT2S",
        "deadLetterSink": {"uri": "http://dead.example/"},
    }
    tls = {
        "enable": True,
        "caCert": {"secretKeyRef": {"name": "kafka-tls", "key": "ca.crt"}},
        "cert": {"secretKeyRef": {"name": "kafka-tls", "key": "tls.crt"}},
        "key": {"secretKeyRef": {"name": "kafka-tls", "key": "tls.key"}},
    }
    created = await cluster.create(
        kafka_source("delivered", delivery=delivery, net={"tls": tls}, ordering="unordered"),
        namespace,
    )
    env = env_of(await adapter_deployment(cluster, created))
    values = {k: v.get("value") for k, v in env.items()}
    assert {k: v for k, v in values.items() if k.startswith("SPRINGHEAD_DELIVERY_")} == {
        "SPRINGHEAD_DELIVERY_RETRY": "3",
        "SPRINGHEAD_DELIVERY_BACKOFF_POLICY": "linear",
        "SPRINGHEAD_DELIVERY_BACKOFF_DELAY": "PT0.5S",
        "SPRINGHEAD_DELIVERY_TIMEOUT": "PT2S",
        "SPRINGHEAD_DELIVERY_DEAD_LETTER_SINK": "http://dead.example/",
    }
    assert values["KAFKA_ORDERING"] == "unordered"
    assert values["KAFKA_TLS_ENABLE"] == "true"
    assert env["KAFKA_TLS_KEY"]["valueFrom"] == {
        "secretKeyRef": {"name": "kafka-tls", "key": "tls.key"}
    }
    assert "KAFKA_SASL_MECHANISM" not in env


@pytest.mark.usefixtures("controller")
@pytest.mark.parametrize(
    ("spec", "reason", "message"),
    [
        (
            {"initialOffset": "middle"},
            "InvalidSpec",
            "spec.initialOffset: 'middle' is not one of earliest, latest",
        ),
        ({"consumers": 0}, "InvalidSpec", "spec.consumers: 0 is not a positive number"),
        (
            {
                "net": {
                    "sasl": {"enable": True, "user": {"secretKeyRef": {"name": "s", "key": "u"}}}
                }
            },
            "InvalidSpec",
            "spec.net.sasl.password is required with SASL",
        ),
        (
            {"delivery": {"backoffPolicy": "random"}},
            "InvalidDelivery",
            "spec.delivery.backoffPolicy: Input should be 'linear' or 'exponential'",
        ),
        (
            {"net": {"sasl": {"enable": True, "tokenProvider": "MSKAccessTokenProvider"}}},
            "InvalidSpec",
            "spec.net.sasl.tokenProvider (MSK IAM) is not supported",
        ),
    ],
)
async def test_a_bad_spec_is_reported_with_a_clear_reason(
    cluster: Cluster, namespace: str, spec: dict[str, Any], reason: str, message: str
) -> None:
    created = await cluster.create(kafka_source("bad", **spec), namespace)
    condition = await cluster.wait_condition(KIND, namespace, "bad", "ConsumerGroup", "False")
    assert (condition["reason"], condition["message"]) == (reason, message)
    ready = await cluster.condition(KIND, namespace, "bad", "Ready")
    assert ready is not None and ready["status"] == "False"
    assert await cluster.get("apps/v1", "Deployment", namespace, adapter_name(created)) is None
