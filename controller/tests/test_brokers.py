"""Broker and Trigger reconciling against the real kube-apiserver and a real Kafka: Knative's
documented examples (``data/knative-docs``) applied unchanged become Ready, with the address,
conditions, topic and contract ConfigMap the data plane reads; an invalid filter is reported;
deletion cleans up the topic and consumer group; a SinkBinding to a Broker gets its address.

No ingress serves these Brokers (one test starts the data plane after the fact), so the
controller does not probe it here (``BROKER_PROBE=false``): test_broker_probe.py shows Ready
waiting for the probe."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp
import pytest
import yaml
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from springhead.kafka.admin import KafkaAdmin
from springhead_broker.contract import parse_contract
from springhead_testing import RecordingSink, SourceProcess
from springhead_testing.kube import custom_resource_definition

if TYPE_CHECKING:
    from conftest import Cluster
    from springhead_controller.controller import Controller

DATA = Path(__file__).parent / "data" / "knative-docs"
EVENTING = "eventing.knative.dev/v1"
CONTRACT = "springhead-broker-contract"
CLASS = "eventing.knative.dev/broker.class"

StartController = Callable[..., contextlib.AbstractAsyncContextManager["Controller"]]


def documents(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((DATA / name).read_text()) if doc]


async def apply(cluster: Cluster, name: str, namespace: str) -> None:
    for doc in documents(name):
        await cluster.create(doc, doc["metadata"].get("namespace") or namespace)


async def service(cluster: Cluster, namespace: str, name: str) -> None:
    await cluster.create(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name},
            "spec": {"ports": [{"port": 80}], "selector": {"app": name}},
        },
        namespace,
    )


async def conditions_of(cluster: Cluster, kind: str, namespace: str, name: str) -> dict[str, Any]:
    obj = await cluster.get(EVENTING, kind, namespace, name) or {}
    return {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or ()}


async def wait_condition(
    cluster: Cluster, kind: str, namespace: str, name: str, condition: str, status: str,
    reason: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    async def check() -> dict[str, Any] | None:
        found = (await conditions_of(cluster, kind, namespace, name)).get(condition)
        if found is None or found["status"] != status:
            return None
        if reason is not None and found.get("reason") != reason:
            return None
        return dict(found)

    what = f"{kind} {namespace}/{name} {condition}={status} ({reason})"
    try:
        return await cluster.eventually(check, what)
    except AssertionError as exc:
        current = await conditions_of(cluster, kind, namespace, name)
        raise AssertionError(f"{exc}; conditions: {current}") from None


@pytest.fixture
async def contract_namespace(cluster: Cluster) -> str:
    """The broker chart's namespace stand-in: it holds the (empty) contract ConfigMap."""
    namespace = await cluster.new_namespace("broker-system")
    await cluster.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": CONTRACT},
            "data": {"contract.json": '{"brokers": []}'},
        },
        namespace,
    )
    return namespace


@pytest.fixture
async def brokers(
    start_controller: StartController, contract_namespace: str, kafka: Any
) -> AsyncIterator[Controller]:
    """The controller reconciling Brokers (default class: Knative's examples have no class) and,
    in the same process, the core's kinds (a SinkBinding may point at a Broker)."""
    async with start_controller(
        CONTROLLER_ROLES="core,broker",
        BROKER_CONTRACT_CONFIGMAP=f"{contract_namespace}/{CONTRACT}",
        BROKER_PROBE="false",
        BROKER_DEFAULT_CLASS="true",
        BROKER_TOPIC_PARTITIONS="3",
        BROKER_TOPIC_REPLICATION="1",
        KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap,
    ) as controller:
        yield controller


async def contract(cluster: Cluster, namespace: str) -> dict[str, Any]:
    configmap = await cluster.get("v1", "ConfigMap", namespace, CONTRACT)
    assert configmap is not None
    text = configmap["data"]["contract.json"]
    parse_contract(text)  # the data plane accepts what the controller writes
    document: dict[str, Any] = json.loads(text)
    return document


def broker_entry(document: dict[str, Any], namespace: str, name: str) -> dict[str, Any] | None:
    for entry in document["brokers"]:
        if (entry["namespace"], entry["name"]) == (namespace, name):
            return dict(entry)
    return None


@pytest.mark.usefixtures("brokers")
async def test_bookstore_broker_and_trigger_become_ready(
    cluster: Cluster, namespace: str, contract_namespace: str, kafka: Any
) -> None:
    await service(cluster, namespace, "node-server-svc")
    await apply(cluster, "bookstore-200-broker.yaml", namespace)
    await wait_condition(cluster, "Broker", namespace, "bookstore-broker", "Ready", "True")
    broker = await cluster.get(EVENTING, "Broker", namespace, "bookstore-broker")
    assert broker is not None
    url = (
        f"http://springhead-broker-ingress.{contract_namespace}.svc.cluster.local/"
        f"{namespace}/bookstore-broker"
    )
    assert broker["status"]["address"]["url"] == url
    topic = f"knative-broker-{namespace}-bookstore-broker"
    assert broker["status"]["annotations"] == {"default.topic": topic}
    assert sorted(c["type"] for c in broker["status"]["conditions"]) == [
        "Addressable", "ConfigMapUpdated", "ConfigParsed", "DataPlaneAvailable", "Ready",
        "TopicReady",
    ]  # fmt: skip
    assert all(c["status"] == "True" for c in broker["status"]["conditions"])
    assert "brokers.eventing.springhead.dev" in broker["metadata"]["finalizers"]
    assert topic in await KafkaAdmin({"bootstrap_servers": kafka.bootstrap}).topics()

    trigger_name = "db-insert-trigger"
    await wait_condition(cluster, "Trigger", namespace, trigger_name, "Ready", "True")
    trigger = await cluster.get(EVENTING, "Trigger", namespace, trigger_name)
    assert trigger is not None
    subscriber = f"http://node-server-svc.{namespace}.svc.cluster.local/insert"
    assert trigger["status"]["subscriberUri"] == subscriber
    assert trigger["status"]["annotations"] == {
        "group.id": f"knative-trigger-{namespace}-{trigger_name}"
    }
    assert sorted(c["type"] for c in trigger["status"]["conditions"]) == [
        "BrokerReady", "DeadLetterSinkResolved", "DependencyReady", "Ready", "SubscriberResolved",
        "SubscriptionReady",
    ]  # fmt: skip
    dls = next(c for c in trigger["status"]["conditions"] if c["type"] == "DeadLetterSinkResolved")
    assert dls["reason"] == "DeadLetterSinkNotConfigured"

    entry = broker_entry(await contract(cluster, contract_namespace), namespace, "bookstore-broker")
    assert entry == {
        "namespace": namespace,
        "name": "bookstore-broker",
        "topic": topic,
        "triggers": [
            {
                "name": trigger_name,
                "subscriber": subscriber,
                "filter": {"attributes": {"type": "moderated-comment", "badwordfilter": "good"}},
            }
        ],
    }


@pytest.mark.usefixtures("brokers")
async def test_trigger_examples_resolve_their_subscribers(
    cluster: Cluster, contract_namespace: str
) -> None:
    """Knative's Trigger examples on a Broker ``default``: a v1 Service with a custom path, and a
    Knative Service (its address published as Knative Serving would) with ``filters`` - an
    example Knative's own validation refuses."""
    await cluster.ensure_crd(custom_resource_definition("serving.knative.dev", "Service"))
    first, second = await cluster.new_namespace(), await cluster.new_namespace()
    for namespace in (first, second):
        await cluster.create(
            {"apiVersion": EVENTING, "kind": "Broker", "metadata": {"name": "default"}}, namespace
        )
    await service(cluster, first, "my-service")
    await apply(cluster, "triggers-custom-path.yaml", first)
    await apply(cluster, "triggers-filters.yaml", second)
    name = "my-service-trigger"
    await wait_condition(cluster, "Trigger", first, name, "Ready", "True")
    await wait_condition(
        cluster, "Trigger", second, name, "SubscriberResolved", "False", "NoAddressable"
    )
    await cluster.create(
        {
            "apiVersion": "serving.knative.dev/v1",
            "kind": "Service",
            "metadata": {"name": "my-service"},
        },
        second,
    )
    knative_url = f"http://my-service.{second}.example.com"
    await cluster.publish_address(
        "serving.knative.dev/v1", "Service", second, "my-service", knative_url
    )
    # The documented filters example puts two dialects in one item, which Knative's own
    # validation refuses ("multiple dialects found"); so does Springhead, as a condition.
    invalid = await wait_condition(
        cluster, "Trigger", second, name, "SubscriptionReady", "False", "InvalidFilter"
    )
    assert "multiple dialects" in invalid["message"]
    await wait_condition(cluster, "Trigger", second, name, "SubscriberResolved", "True")
    resolved = await cluster.get(EVENTING, "Trigger", second, name)
    assert (resolved or {})["status"]["subscriberUri"] == knative_url

    document = await contract(cluster, contract_namespace)
    [one] = (broker_entry(document, first, "default") or {})["triggers"]
    assert one == {
        "name": name,
        "subscriber": f"http://my-service.{first}.svc.cluster.local/my-custom-path",
    }
    assert (broker_entry(document, second, "default") or {})["triggers"] == []


@pytest.mark.usefixtures("brokers")
async def test_an_invalid_filter_is_a_false_condition_with_the_reason(
    cluster: Cluster, namespace: str, contract_namespace: str
) -> None:
    await cluster.create(
        {"apiVersion": EVENTING, "kind": "Broker", "metadata": {"name": "default"}}, namespace
    )
    await service(cluster, namespace, "display")
    await cluster.create(
        {
            "apiVersion": EVENTING,
            "kind": "Trigger",
            "metadata": {"name": "bad"},
            "spec": {
                "broker": "default",
                "filters": [{"cesql": "type = 'a' AND"}],
                "subscriber": {"ref": {"apiVersion": "v1", "kind": "Service", "name": "display"}},
            },
        },
        namespace,
    )
    condition = await wait_condition(
        cluster, "Trigger", namespace, "bad", "SubscriptionReady", "False", "InvalidFilter"
    )
    assert "cesql" in condition["message"]
    await wait_condition(cluster, "Trigger", namespace, "bad", "Ready", "False", "InvalidFilter")
    await wait_condition(cluster, "Broker", namespace, "default", "Ready", "True")
    entry = broker_entry(await contract(cluster, contract_namespace), namespace, "default")
    assert entry is not None
    assert entry["triggers"] == []


@pytest.mark.usefixtures("brokers")
async def test_a_trigger_on_a_missing_broker_is_not_ready(cluster: Cluster, namespace: str) -> None:
    await service(cluster, namespace, "my-service")
    await apply(cluster, "triggers-custom-path.yaml", namespace)
    condition = await wait_condition(
        cluster, "Trigger", namespace, "my-service-trigger", "BrokerReady", "False",
        "BrokerDoesNotExist",
    )  # fmt: skip
    assert "default" in condition["message"]


@pytest.mark.usefixtures("brokers")
async def test_deleting_a_trigger_and_a_broker_deletes_group_and_topic(
    cluster: Cluster, namespace: str, contract_namespace: str, kafka: Any
) -> None:
    await cluster.create(
        {"apiVersion": EVENTING, "kind": "Broker", "metadata": {"name": "default"}}, namespace
    )
    await service(cluster, namespace, "my-service")
    await apply(cluster, "triggers-custom-path.yaml", namespace)
    trigger = "my-service-trigger"
    await wait_condition(cluster, "Trigger", namespace, trigger, "Ready", "True")
    topic = f"knative-broker-{namespace}-default"
    group = f"knative-trigger-{namespace}-{trigger}"
    # The group a dispatcher would have made: committed offsets, no member left.
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        await consumer.commit({TopicPartition(topic, 0): OffsetAndMetadata(0, "")})
    finally:
        await consumer.stop()
    admin = KafkaAdmin({"bootstrap_servers": kafka.bootstrap})
    assert await admin.delete_groups([]) == []

    await cluster.delete(EVENTING, "Trigger", namespace, trigger)

    async def trigger_gone() -> bool:
        return await cluster.get(EVENTING, "Trigger", namespace, trigger) is None

    await cluster.eventually(trigger_gone, "the Trigger released and gone")
    # Deleting it again finds no group: the controller deleted it.
    assert await admin.delete_groups([group]) == []
    entry = broker_entry(await contract(cluster, contract_namespace), namespace, "default")
    assert entry is not None
    assert entry["triggers"] == []

    await cluster.delete(EVENTING, "Broker", namespace, "default")

    async def broker_gone() -> bool:
        return await cluster.get(EVENTING, "Broker", namespace, "default") is None

    await cluster.eventually(broker_gone, "the Broker released and gone")
    assert topic not in await admin.topics()
    assert broker_entry(await contract(cluster, contract_namespace), namespace, "default") is None


@pytest.mark.usefixtures("brokers")
async def test_a_sinkbinding_to_a_broker_gets_its_address(
    cluster: Cluster, namespace: str, contract_namespace: str
) -> None:
    await cluster.create(
        {"apiVersion": EVENTING, "kind": "Broker", "metadata": {"name": "default"}}, namespace
    )
    await cluster.create(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "source", "labels": {"app": "source"}},
            "spec": {
                "selector": {"matchLabels": {"app": "source"}},
                "template": {
                    "metadata": {"labels": {"app": "source"}},
                    "spec": {"containers": [{"name": "c", "image": "registry.example/c:1"}]},
                },
            },
        },
        namespace,
    )
    await cluster.create(
        {
            "apiVersion": "sources.knative.dev/v1",
            "kind": "SinkBinding",
            "metadata": {"name": "to-broker"},
            "spec": {
                "subject": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "source"},
                "sink": {"ref": {"apiVersion": EVENTING, "kind": "Broker", "name": "default"}},
            },
        },
        namespace,
    )
    url = f"http://springhead-broker-ingress.{contract_namespace}.svc.cluster.local/{namespace}/default"

    async def bound() -> bool:
        injected = await cluster.injected("apps/v1", "Deployment", namespace, "source")
        return (injected or {}).get("c", {}).get("K_SINK") == url

    await cluster.eventually(bound, "the Deployment to receive the Broker's address")


@pytest.mark.usefixtures("brokers")
async def test_end_to_end_events_reach_the_matching_trigger(
    cluster: Cluster, namespace: str, contract_namespace: str, kafka: Any, tmp_path: Path
) -> None:
    """The controller's contract, handed to a real data-plane process (as the mounted ConfigMap
    would be): an event posted to the Broker's address reaches the subscriber of the Trigger
    whose filter it matches, and not the other's."""
    async with RecordingSink() as wanted, RecordingSink() as unwanted:
        await cluster.create(
            {"apiVersion": EVENTING, "kind": "Broker", "metadata": {"name": "default"}}, namespace
        )
        for name, sink, event_type in (
            ("wanted", wanted, "com.example.wanted"),
            ("unwanted", unwanted, "com.example.other"),
        ):
            await cluster.create(
                {
                    "apiVersion": EVENTING,
                    "kind": "Trigger",
                    "metadata": {"name": name},
                    "spec": {
                        "broker": "default",
                        "filter": {"attributes": {"type": event_type}},
                        "subscriber": {"uri": sink.url},
                    },
                },
                namespace,
            )
            await wait_condition(cluster, "Trigger", namespace, name, "Ready", "True")
        broker = await cluster.get(EVENTING, "Broker", namespace, "default")
        address = urlsplit((broker or {})["status"]["address"]["url"])
        configmap = await cluster.get("v1", "ConfigMap", contract_namespace, CONTRACT)
        contract_file = tmp_path / "contract.json"
        contract_file.write_text((configmap or {})["data"]["contract.json"])
        env = {
            "NAMESPACE": contract_namespace,
            "NAME": "springhead-broker",
            "K_COMPONENT": "springhead-broker",
            "SPRINGHEAD_PORT": "0",
            "SPRINGHEAD_HOST": "127.0.0.1",
            "BROKER_ROLE": "all",
            "BROKER_BACKEND": "kafka",
            "BROKER_CONTRACT_FILE": str(contract_file),
            "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
            "BROKER_INITIAL_OFFSET": "earliest",
        }
        async with SourceProcess("springhead_broker", env) as process:
            await process.wait_for_log("contract applied", timeout=60)
            headers = {
                "ce-specversion": "1.0",
                "ce-id": "e2e-1",
                "ce-source": "/test",
                "ce-type": "com.example.wanted",
                "content-type": "application/json",
            }
            # The Service would route address.url's host to the ingress; here it is the process.
            url = f"http://127.0.0.1:{process.port}{address.path}"
            async with aiohttp.ClientSession() as session:
                async with session.post(url, headers=headers, data=b'{"n": 1}') as response:
                    assert response.status == 202
            [received] = await wanted.wait_for(1)
            assert received.event.get_id() == "e2e-1"
            assert received.event.get_type() == "com.example.wanted"
        assert unwanted.accepted == []


async def test_kafka_unreachable_is_a_false_topic_condition(
    cluster: Cluster, namespace: str, contract_namespace: str, start_controller: StartController
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{probe.getsockname()[1]}"
    async with start_controller(
        CONTROLLER_ROLES="broker",  # the broker role alone, as its own Deployment runs it
        BROKER_CONTRACT_CONFIGMAP=f"{contract_namespace}/{CONTRACT}",
        BROKER_PROBE="false",
        BROKER_DEFAULT_CLASS="true",
        KAFKA_BOOTSTRAP_SERVERS=closed,
    ):
        await cluster.create(
            {"apiVersion": EVENTING, "kind": "Broker", "metadata": {"name": "default"}}, namespace
        )
        topic = await wait_condition(
            cluster, "Broker", namespace, "default", "TopicReady", "False",
            "TopicNotPresentOrInvalid",
        )  # fmt: skip
        assert "cannot reach Kafka" in topic["message"]
        await wait_condition(cluster, "Broker", namespace, "default", "Ready", "False")
        broker = await cluster.get(EVENTING, "Broker", namespace, "default")
        assert "address" not in (broker or {}).get("status", {})


async def test_a_missing_contract_configmap_is_a_false_condition(
    cluster: Cluster, namespace: str, start_controller: StartController, kafka: Any
) -> None:
    async with start_controller(
        CONTROLLER_ROLES="broker",
        BROKER_CONTRACT_CONFIGMAP=f"{namespace}/not-installed-contract",
        BROKER_PROBE="false",
        BROKER_DEFAULT_CLASS="true",
        BROKER_TOPIC_PARTITIONS="1",
        BROKER_TOPIC_REPLICATION="1",
        KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap,
    ):
        await cluster.create(
            {"apiVersion": EVENTING, "kind": "Broker", "metadata": {"name": "default"}}, namespace
        )
        condition = await wait_condition(
            cluster, "Broker", namespace, "default", "DataPlaneAvailable", "False",
            "ContractConfigMapUnavailable",
        )  # fmt: skip
        assert "install the broker chart" in condition["message"]
        await wait_condition(cluster, "Broker", namespace, "default", "TopicReady", "True")


@pytest.mark.usefixtures("brokers")
async def test_a_subscribers_new_address_reaches_status_and_contract(
    cluster: Cluster, namespace: str, contract_namespace: str
) -> None:
    await cluster.ensure_crd(custom_resource_definition("serving.knative.dev", "Service"))
    serving = ("serving.knative.dev/v1", "Service", namespace, "display")
    await cluster.create(
        {"apiVersion": serving[0], "kind": serving[1], "metadata": {"name": "display"}}, namespace
    )
    await cluster.publish_address(*serving, "http://display-1.example.com")
    await cluster.create(
        {"apiVersion": EVENTING, "kind": "Broker", "metadata": {"name": "default"}}, namespace
    )
    await cluster.create(
        {
            "apiVersion": EVENTING,
            "kind": "Trigger",
            "metadata": {"name": "all"},
            "spec": {
                "broker": "default",
                "subscriber": {
                    "ref": {"apiVersion": serving[0], "kind": "Service", "name": "display"}
                },
            },
        },
        namespace,
    )
    await wait_condition(cluster, "Trigger", namespace, "all", "Ready", "True")
    await cluster.publish_address(*serving, "http://display-2.example.com")

    async def moved() -> bool:
        trigger = await cluster.get(EVENTING, "Trigger", namespace, "all") or {}
        if trigger.get("status", {}).get("subscriberUri") != "http://display-2.example.com":
            return False
        entry = broker_entry(await contract(cluster, contract_namespace), namespace, "default")
        return entry is not None and entry["triggers"][0]["subscriber"] == (
            "http://display-2.example.com"
        )

    await cluster.eventually(moved, "the new address in the Trigger's status and the contract")


@pytest.mark.usefixtures("brokers")
async def test_dead_letter_sinks_resolve_per_broker_and_trigger(
    cluster: Cluster, namespace: str, contract_namespace: str
) -> None:
    for name in ("display", "dead-letters"):
        await service(cluster, namespace, name)
    dls = {"ref": {"apiVersion": "v1", "kind": "Service", "name": "dead-letters"}}
    await cluster.create(
        {
            "apiVersion": EVENTING,
            "kind": "Broker",
            "metadata": {"name": "default"},
            "spec": {"delivery": {"retry": 3, "backoffDelay": "PT0.5S", "deadLetterSink": dls}},
        },
        namespace,
    )
    subscriber = {"ref": {"apiVersion": "v1", "kind": "Service", "name": "display"}}
    for name, delivery in (
        ("inherits", None),
        ("missing-dls", {"deadLetterSink": {"ref": {**dls["ref"], "name": "nowhere"}}}),
    ):
        spec: dict[str, Any] = {"broker": "default", "subscriber": subscriber}
        if delivery:
            spec["delivery"] = delivery
        await cluster.create(
            {"apiVersion": EVENTING, "kind": "Trigger", "metadata": {"name": name}, "spec": spec},
            namespace,
        )
    dls_url = f"http://dead-letters.{namespace}.svc.cluster.local"
    await wait_condition(cluster, "Trigger", namespace, "inherits", "Ready", "True")
    inherits = await cluster.get(EVENTING, "Trigger", namespace, "inherits") or {}
    assert inherits["status"]["deadLetterSinkUri"] == dls_url
    broker = await cluster.get(EVENTING, "Broker", namespace, "default") or {}
    assert broker["status"]["deadLetterSinkUri"] == dls_url
    missing = await wait_condition(
        cluster, "Trigger", namespace, "missing-dls", "DeadLetterSinkResolved", "False",
        "DeadLetterSinkResolutionFailed",
    )  # fmt: skip
    assert "nowhere" in missing["message"]
    entry = broker_entry(await contract(cluster, contract_namespace), namespace, "default")
    assert entry is not None
    assert entry["delivery"] == {"retry": 3, "backoffDelay": "PT0.5S", "deadLetterSink": dls_url}
    assert [t["name"] for t in entry["triggers"]] == ["inherits"]


def sasl_ssl_env(kafka_secure: Any, password: str | None = None) -> dict[str, str]:
    """The controller's ``KAFKA_*`` settings for the secure broker's SASL_SSL listener (SCRAM)."""
    user = kafka_secure.users["SCRAM-SHA-512"]
    return {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_secure.listeners["SASL_SSL"],
        "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "KAFKA_SASL_USER": user.username,
        "KAFKA_SASL_PASSWORD": password or user.password,
        "KAFKA_TLS_CA_CERT_FILE": str(kafka_secure.ca_file),
    }


async def test_topics_are_managed_over_sasl_and_tls(
    cluster: Cluster,
    namespace: str,
    contract_namespace: str,
    start_controller: StartController,
    kafka_secure: Any,
) -> None:
    """The reconciler's admin client reads the shared KAFKA_* settings: it creates and deletes
    a Broker's topic on a Kafka that takes only SCRAM over TLS there."""
    async with start_controller(
        CONTROLLER_ROLES="core,broker",
        BROKER_CONTRACT_CONFIGMAP=f"{contract_namespace}/{CONTRACT}",
        BROKER_PROBE="false",
        BROKER_DEFAULT_CLASS="true",
        BROKER_TOPIC_PARTITIONS="1",
        BROKER_TOPIC_REPLICATION="1",
        **sasl_ssl_env(kafka_secure),
    ):
        await cluster.create(
            {"apiVersion": EVENTING, "kind": "Broker", "metadata": {"name": "default"}}, namespace
        )
        await wait_condition(cluster, "Broker", namespace, "default", "Ready", "True")
        topic = f"knative-broker-{namespace}-default"
        plain = KafkaAdmin({"bootstrap_servers": kafka_secure.bootstrap})
        assert topic in await plain.topics()
        await cluster.delete(EVENTING, "Broker", namespace, "default")

        async def broker_gone() -> bool:
            return await cluster.get(EVENTING, "Broker", namespace, "default") is None

        await cluster.eventually(broker_gone, "the Broker released and gone")
        assert topic not in await plain.topics()


async def test_refused_kafka_credentials_are_named_in_the_topic_condition(
    cluster: Cluster,
    namespace: str,
    contract_namespace: str,
    start_controller: StartController,
    kafka_secure: Any,
) -> None:
    async with start_controller(
        CONTROLLER_ROLES="core,broker",
        BROKER_CONTRACT_CONFIGMAP=f"{contract_namespace}/{CONTRACT}",
        BROKER_PROBE="false",
        BROKER_DEFAULT_CLASS="true",
        **sasl_ssl_env(kafka_secure, password="not-the-password"),
    ):
        await cluster.create(
            {"apiVersion": EVENTING, "kind": "Broker", "metadata": {"name": "default"}}, namespace
        )
        topic = await wait_condition(
            cluster, "Broker", namespace, "default", "TopicReady", "False",
            "TopicNotPresentOrInvalid",
        )  # fmt: skip
        assert "SaslAuthenticationFailed" in topic["message"], topic
        assert "invalid credentials" in topic["message"], topic
        assert "not-the-password" not in topic["message"]


def config_map(name: str, data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def broker_manifest(
    name: str, *, config: str | None = None, kind: str = "ConfigMap", **annotations: str
) -> dict[str, Any]:
    """A Broker, with ``spec.config`` naming a ``kind`` ``config`` when given."""
    broker: dict[str, Any] = {"apiVersion": EVENTING, "kind": "Broker", "metadata": {"name": name}}
    if annotations:
        broker["metadata"]["annotations"] = annotations
    if config is not None:
        broker["spec"] = {"config": {"apiVersion": "v1", "kind": kind, "name": config}}
    return broker


async def nudge(cluster: Cluster, namespace: str, name: str, value: str) -> None:
    """Change a label of a Broker: the reconciler runs a pass at once (the ConfigMaps a Broker
    names are read on every pass, not watched)."""
    patch = {"metadata": {"labels": {"test/nudge": value}}}
    await cluster.merge_patch(EVENTING, "Broker", namespace, name, patch)


async def partitions_of(bootstrap: str, topic: str) -> int:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return len(described["partitions"])


async def test_spec_config_sets_partitions_and_the_kafka_cluster(
    cluster: Cluster,
    namespace: str,
    contract_namespace: str,
    brokers: Controller,
    kafka: Any,
    kafka_secure: Any,
) -> None:
    """Knative's kafka-broker-config shape: the topic gets the ConfigMap's partitions on the
    ConfigMap's cluster (here the secure profile's PLAINTEXT listener, not the controller's
    default Kafka); the keys are kept in the status annotations and rebuild the config once the
    ConfigMap is gone; deleting the Broker deletes the topic there."""
    data = {
        "default.topic.partitions": "2",
        "default.topic.replication.factor": "1",
        "bootstrap.servers": kafka_secure.bootstrap,
    }
    await cluster.create(config_map("kafka-broker-config", data), namespace)
    await cluster.create(broker_manifest("orders", config="kafka-broker-config"), namespace)
    await service(cluster, namespace, "display")
    await cluster.create(
        {
            "apiVersion": EVENTING,
            "kind": "Trigger",
            "metadata": {"name": "all"},
            "spec": {
                "broker": "orders",
                "subscriber": {"ref": {"apiVersion": "v1", "kind": "Service", "name": "display"}},
            },
        },
        namespace,
    )
    await wait_condition(cluster, "Broker", namespace, "orders", "Ready", "True")
    topic = f"knative-broker-{namespace}-orders"
    broker = await cluster.get(EVENTING, "Broker", namespace, "orders") or {}
    assert broker["status"]["annotations"] == {**data, "default.topic": topic}
    assert await partitions_of(kafka_secure.bootstrap, topic) == 2
    assert topic not in await KafkaAdmin({"bootstrap_servers": kafka.bootstrap}).topics()
    await wait_condition(cluster, "Trigger", namespace, "all", "Ready", "True")
    trigger = await cluster.get(EVENTING, "Trigger", namespace, "all") or {}
    assert trigger["status"]["annotations"]["bootstrap.servers"] == kafka_secure.bootstrap
    entry = broker_entry(await contract(cluster, contract_namespace), namespace, "orders")
    assert entry is not None
    assert entry["bootstrapServers"] == [kafka_secure.bootstrap]
    assert [t["name"] for t in entry["triggers"]] == ["all"]

    await cluster.delete("v1", "ConfigMap", namespace, "kafka-broker-config")
    await nudge(cluster, namespace, "orders", "1")
    parsed = await wait_condition(cluster, "Broker", namespace, "orders", "ConfigParsed", "True")
    assert parsed.get("reason") is None
    await wait_condition(cluster, "Broker", namespace, "orders", "Ready", "True")

    await cluster.delete(EVENTING, "Trigger", namespace, "all")
    await cluster.delete(EVENTING, "Broker", namespace, "orders")

    async def gone() -> bool:
        return await cluster.get(EVENTING, "Broker", namespace, "orders") is None

    await cluster.eventually(gone, "the Broker released and gone")
    other = KafkaAdmin({"bootstrap_servers": kafka_secure.bootstrap})

    async def topic_gone() -> bool:
        # Kafka deletes a topic asynchronously: its metadata may list it a moment longer.
        return topic not in await other.topics()

    await cluster.eventually(topic_gone, f"topic {topic} deleted on the ConfigMap's cluster")


@pytest.mark.usefixtures("brokers")
async def test_an_unusable_spec_config_is_a_false_config_parsed(
    cluster: Cluster, namespace: str, contract_namespace: str
) -> None:
    await cluster.create(
        config_map("bad-partitions", {"default.topic.partitions": "many"}), namespace
    )
    await cluster.create(
        config_map("per-broker-auth", {"auth.secret.ref.name": "kafka-sasl"}), namespace
    )
    cases = {
        "missing": (broker_manifest("missing", config="nowhere"), "ConfigMapNotFound",
                    f"ConfigMap {namespace}/nowhere (spec.config) does not exist"),
        "kind": (broker_manifest("kind", config="kafka-broker-config", kind="Secret"),
                 "UnsupportedConfigKind", "the kind must be ConfigMap, got 'Secret'"),
        "invalid": (broker_manifest("invalid", config="bad-partitions"), "InvalidConfig",
                    "default.topic.partitions must be a whole number, got 'many'"),
        "auth": (broker_manifest("auth", config="per-broker-auth"), "UnsupportedConfig",
                 "auth.secret.ref.name is not supported"),
    }  # fmt: skip
    for manifest, _, _ in cases.values():
        await cluster.create(manifest, namespace)
    for name, (_, reason, message) in cases.items():
        parsed = await wait_condition(
            cluster, "Broker", namespace, name, "ConfigParsed", "False", reason
        )
        assert message in parsed["message"], parsed
        ready = await wait_condition(cluster, "Broker", namespace, name, "Ready", "False")
        assert ready["reason"] == reason
        broker = await cluster.get(EVENTING, "Broker", namespace, name) or {}
        assert "address" not in broker["status"]
        assert broker_entry(await contract(cluster, contract_namespace), namespace, name) is None
    # Fixed, it becomes Ready (the ConfigMap is read again on the next pass).
    await cluster.merge_patch(
        "v1", "ConfigMap", namespace, "bad-partitions",
        {"data": {"default.topic.partitions": "1", "default.topic.replication.factor": "1"}},
    )  # fmt: skip
    await nudge(cluster, namespace, "invalid", "fixed")
    await wait_condition(cluster, "Broker", namespace, "invalid", "Ready", "True")


async def test_an_external_topic_is_used_and_never_deleted(
    cluster: Cluster, namespace: str, contract_namespace: str, brokers: Controller, kafka: Any
) -> None:
    annotation = "kafka.eventing.knative.dev/external.topic"
    external = f"existing-{namespace}"
    kafka.create_topic(external)
    await cluster.create(broker_manifest("ext", **{annotation: external}), namespace)
    await wait_condition(cluster, "Broker", namespace, "ext", "Ready", "True")
    broker = await cluster.get(EVENTING, "Broker", namespace, "ext") or {}
    assert broker["status"]["annotations"] == {"default.topic": external}
    entry = broker_entry(await contract(cluster, contract_namespace), namespace, "ext")
    assert entry is not None
    assert entry["topic"] == external
    admin = KafkaAdmin({"bootstrap_servers": kafka.bootstrap})
    assert f"knative-broker-{namespace}-ext" not in await admin.topics()

    await cluster.create(broker_manifest("nope", **{annotation: f"absent-{namespace}"}), namespace)
    missing = await wait_condition(
        cluster, "Broker", namespace, "nope", "TopicReady", "False", "TopicNotPresentOrInvalid"
    )
    assert f"'absent-{namespace}' does not exist" in missing["message"]
    assert f"absent-{namespace}" not in await admin.topics()

    for name in ("ext", "nope"):
        await cluster.delete(EVENTING, "Broker", namespace, name)

    async def gone() -> bool:
        return all(
            [await cluster.get(EVENTING, "Broker", namespace, n) is None for n in ("ext", "nope")]
        )

    await cluster.eventually(gone, "both Brokers released and gone")
    assert external in await admin.topics()


async def test_a_class_change_is_refused_and_the_broker_left_as_it_was(
    cluster: Cluster, namespace: str, contract_namespace: str, brokers: Controller, kafka: Any
) -> None:
    """Knative makes broker.class immutable (its webhook refuses the change; Springhead has no
    webhook): a Broker whose class changed is not reconciled any more, keeps being served as it
    was, and says why; changed back, it is reconciled again."""
    await cluster.create(broker_manifest("b", **{CLASS: "Springhead"}), namespace)
    await service(cluster, namespace, "display")
    subscriber = {"ref": {"apiVersion": "v1", "kind": "Service", "name": "display"}}
    for name in ("t1", "t2"):
        await cluster.create(
            {
                "apiVersion": EVENTING,
                "kind": "Trigger",
                "metadata": {"name": name},
                "spec": {"broker": "b", "subscriber": subscriber},
            },
            namespace,
        )
        await wait_condition(cluster, "Trigger", namespace, name, "Ready", "True")
    await wait_condition(cluster, "Broker", namespace, "b", "Ready", "True")
    before = broker_entry(await contract(cluster, contract_namespace), namespace, "b")
    assert before is not None and len(before["triggers"]) == 2

    patch = {"metadata": {"annotations": {CLASS: "MTChannelBasedBroker"}}}
    await cluster.merge_patch(EVENTING, "Broker", namespace, "b", patch)
    refused = await wait_condition(
        cluster, "Broker", namespace, "b", "ConfigParsed", "False", "BrokerClassImmutable"
    )
    assert "changed from 'Springhead' to 'MTChannelBasedBroker'" in refused["message"]
    ready = await wait_condition(cluster, "Broker", namespace, "b", "Ready", "False")
    assert ready["reason"] == "BrokerClassImmutable"
    broker = await cluster.get(EVENTING, "Broker", namespace, "b") or {}
    assert broker["status"]["address"]["url"].endswith(f"/{namespace}/b")
    assert broker_entry(await contract(cluster, contract_namespace), namespace, "b") == before
    topic = f"knative-broker-{namespace}-b"
    assert topic in await KafkaAdmin({"bootstrap_servers": kafka.bootstrap}).topics()

    # A Trigger of it can still be deleted: out of the entry, released.
    await cluster.delete(EVENTING, "Trigger", namespace, "t2")

    async def released() -> bool:
        return await cluster.get(EVENTING, "Trigger", namespace, "t2") is None

    await cluster.eventually(released, "Trigger t2 released and gone")
    entry = broker_entry(await contract(cluster, contract_namespace), namespace, "b")
    assert entry is not None
    assert [t["name"] for t in entry["triggers"]] == ["t1"]

    patch = {"metadata": {"annotations": {CLASS: "Springhead"}}}
    await cluster.merge_patch(EVENTING, "Broker", namespace, "b", patch)
    await wait_condition(cluster, "Broker", namespace, "b", "Ready", "True")


async def test_a_changed_subscriber_address_starts_a_pass_at_once(
    cluster: Cluster,
    namespace: str,
    contract_namespace: str,
    start_controller: StartController,
    kafka: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The subscriber and dead-letter sink objects a pass resolved are watched: with the
    periodic pass pushed out of reach (an hour), a new address still reaches the Trigger's
    status and the contract."""
    from springhead_controller import brokers as reconciler

    monkeypatch.setattr(reconciler, "REFRESH", 3600.0)
    await cluster.ensure_crd(custom_resource_definition("serving.knative.dev", "Service"))
    serving = "serving.knative.dev/v1"
    for name in ("display", "dead-letters"):
        await cluster.create(
            {"apiVersion": serving, "kind": "Service", "metadata": {"name": name}}, namespace
        )
        await cluster.publish_address(serving, "Service", namespace, name, f"http://{name}-1")
    ref = {"apiVersion": serving, "kind": "Service"}
    async with start_controller(
        CONTROLLER_ROLES="core,broker",
        BROKER_CONTRACT_CONFIGMAP=f"{contract_namespace}/{CONTRACT}",
        BROKER_PROBE="false",
        BROKER_DEFAULT_CLASS="true",
        BROKER_TOPIC_PARTITIONS="1",
        BROKER_TOPIC_REPLICATION="1",
        KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap,
    ):
        await cluster.create(broker_manifest("default"), namespace)
        await cluster.create(
            {
                "apiVersion": EVENTING,
                "kind": "Trigger",
                "metadata": {"name": "all"},
                "spec": {
                    "broker": "default",
                    "subscriber": {"ref": {**ref, "name": "display"}},
                    "delivery": {"deadLetterSink": {"ref": {**ref, "name": "dead-letters"}}},
                },
            },
            namespace,
        )
        await wait_condition(cluster, "Trigger", namespace, "all", "Ready", "True")
        for name in ("display", "dead-letters"):
            await cluster.publish_address(serving, "Service", namespace, name, f"http://{name}-2")

        async def moved() -> bool:
            trigger = await cluster.get(EVENTING, "Trigger", namespace, "all") or {}
            status = trigger.get("status", {})
            entry = broker_entry(await contract(cluster, contract_namespace), namespace, "default")
            return (
                status.get("subscriberUri") == "http://display-2"
                and status.get("deadLetterSinkUri") == "http://dead-letters-2"
                and entry is not None
                and entry["triggers"][0]["subscriber"] == "http://display-2"
                and entry["triggers"][0]["delivery"]["deadLetterSink"] == "http://dead-letters-2"
            )

        await cluster.eventually(moved, "the new addresses in the Trigger's status and contract")
