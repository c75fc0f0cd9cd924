"""End to end: ping source -> Broker -> Trigger -> event display, every part installed with Helm
into the real kube-apiserver and run from its image, on the real Kafka.

The broker chart (ingress, dispatcher, the contract ConfigMap), the controller chart pointed at
that ConfigMap and at Kafka, and the display chart are installed; a Broker (its topic configured
by Knative's ``kafka-broker-config`` ConfigMap) and two Triggers are applied: one whose filter
passes the ping source's type, with the display's Service as subscriber, and one that must not
match a ping event, with a recording sink on loopback as subscriber. The ping chart's SinkBinding
points at the Broker (``sink.ref``), and the controller injects the Broker's address.

As in test_display.py no kubelet runs: each Deployment's container runs as a podman container of
its image from its pod spec (conftest's ``pods``), the contract ConfigMap mounted as files with
the content the controller wrote. The data-plane pods start once the contract holds both
Triggers (what the kubelet would mount then; the dispatcher reads the file as it is). No cluster
DNS runs here: the cluster-local addresses of the display's Service (in the contract) and of the
ingress Service (the ping source's sink) are mapped to where those pods serve on the node.

The Broker is Ready once the broker role's probe of the ingress succeeds (ProbeSucceeded): the
ingress pod's endpoint is published as the EndpointSlice controller would, on this machine's
address (EndpointSlices refuse loopback), where the ingress container listens on the host's
network.

The ping event on the display's stream carries ``knativearrivaltime``: it went through the
ingress. The other Trigger's filter passes only a marker event the test posts to the ingress
after the ping event was shown; the Broker's topic has one partition and that Trigger delivers in
order, so when its sink receives the marker, the dispatcher has already decided on the ping events
before it: the sink got the marker alone, and the dispatcher counted ping events filtered out.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import TYPE_CHECKING, Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from springhead_testing import RecordingSink
from springhead_testing.display import first_streamed_event
from springhead_testing.kube import Cluster, endpoint_slice, node_address

if TYPE_CHECKING:
    from conftest import Deployer, Pods
    from springhead_testinfra.kafka import KafkaBroker

EVENTING = "eventing.knative.dev/v1"
BROKER = "default"
PING_TYPE = "dev.knative.sources.ping"
MARKER_TYPE = "dev.springhead.e2e.marker"


async def ready(
    cluster: Cluster, kind: str, namespace: str, name: str, condition: str = "Ready"
) -> dict[str, Any]:
    """Wait until the object's ``condition`` is True; the object then."""

    async def check() -> dict[str, Any] | None:
        found = await cluster.get(EVENTING, kind, namespace, name)
        conditions = ((found or {}).get("status") or {}).get("conditions") or []
        if any(c["type"] == condition and c["status"] == "True" for c in conditions):
            return found
        return None

    return await cluster.eventually(check, f"{kind} {namespace}/{name} {condition}")


async def deployment_named(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    found = await cluster.get("apps/v1", "Deployment", namespace, name)
    assert found is not None, f"no Deployment {namespace}/{name}"
    return found


def trigger_events(metrics: str, trigger: str) -> dict[str, float]:
    """The dispatcher's ``springhead_broker_trigger_events`` of ``trigger``, by outcome."""
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(metrics):
        if family.name == "springhead_broker_trigger_events":
            for sample in family.samples:
                if sample.name.endswith("_total") and sample.labels["trigger"] == trigger:
                    counts[sample.labels["outcome"]] = sample.value
    return counts


async def test_ping_events_reach_the_display_through_a_broker_and_its_trigger(
    deployer: Deployer, cluster: Cluster, pods: Pods, kafka: KafkaBroker, sink: RecordingSink
) -> None:
    system = await cluster.new_namespace("springhead-system")
    namespace = await cluster.new_namespace("broker-e2e")
    suffix = uuid.uuid4().hex[:6]
    broker_release, controller_release = f"broker-{suffix}", f"ctl-{suffix}"
    display_release, ping_release = f"display-{suffix}", f"ping-{suffix}"
    kafka_values = {"bootstrapServers": [kafka.bootstrap]}

    # The data plane's chart first: the controller's Role is on its contract ConfigMap.
    # `earliest`: the Triggers see the topic from its start, whenever their groups join.
    deployer.install(
        "broker",
        broker_release,
        system,
        {"kafka": kafka_values, "broker": {"initialOffset": "earliest"}},
    )
    contract = f"{broker_release}-contract"
    # The controller as little configured as the broker part allows: the contract and Kafka.
    deployer.install(
        "controller",
        controller_release,
        system,
        {"broker": {"contractConfigMap": f"{system}/{contract}"}, "kafka": kafka_values},
    )
    # Two Deployments: the core role (the ping's SinkBinding) and the broker role (Brokers and
    # Triggers, on the springhead-controller-broker image), each with its own account.
    core_deployment = await deployment_named(cluster, system, controller_release)
    broker_role_deployment = await deployment_named(cluster, system, f"{controller_release}-broker")
    core_env = await deployer.container_env(core_deployment)
    broker_role_env = await deployer.container_env(broker_role_deployment)
    assert "BROKER_CONTRACT_CONFIGMAP" not in core_env
    assert broker_role_env["CONTROLLER_ROLES"] == "broker"
    assert broker_role_env["BROKER_CONTRACT_CONFIGMAP"] == f"{system}/{contract}"
    controller = await pods.start(
        core_deployment, core_env, kubeconfig_variable="CONTROLLER_KUBECONFIG"
    )
    broker_role = await pods.start(
        broker_role_deployment, broker_role_env, kubeconfig_variable="CONTROLLER_KUBECONFIG"
    )

    deployer.install("display", display_release, namespace, {})
    display_deployment = await deployer.deployment(namespace, display_release)

    # Knative's Broker, its topic configured as Knative's Kafka broker reads it (one partition:
    # the order the marker argument needs; one replica: this Kafka has one node).
    await cluster.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "kafka-broker-config"},
            "data": {
                "default.topic.partitions": "1",
                "default.topic.replication.factor": "1",
            },
        },
        namespace,
    )
    await cluster.create(
        {
            "apiVersion": EVENTING,
            "kind": "Broker",
            "metadata": {
                "name": BROKER,
                "annotations": {"eventing.knative.dev/broker.class": "Springhead"},
            },
            "spec": {
                "config": {"apiVersion": "v1", "kind": "ConfigMap", "name": "kafka-broker-config"}
            },
        },
        namespace,
    )
    await cluster.create(
        {
            "apiVersion": EVENTING,
            "kind": "Trigger",
            "metadata": {"name": "to-display"},
            "spec": {
                "broker": BROKER,
                "filter": {"attributes": {"type": PING_TYPE}},
                "subscriber": {
                    "ref": {"apiVersion": "v1", "kind": "Service", "name": display_release}
                },
            },
        },
        namespace,
    )
    await cluster.create(
        {
            "apiVersion": EVENTING,
            "kind": "Trigger",
            "metadata": {
                "name": "markers",
                "annotations": {"kafka.eventing.knative.dev/delivery.order": "ordered"},
            },
            "spec": {
                "broker": BROKER,
                "filters": [{"exact": {"type": MARKER_TYPE}}],
                "subscriber": {"uri": sink.url},
            },
        },
        namespace,
    )
    # Addressable (and in the contract), but not Ready before an ingress serves it.
    broker = await ready(cluster, "Broker", namespace, BROKER, "Addressable")
    ingress_service = f"http://{broker_release}-ingress.{system}.svc.cluster.local"
    broker_url = f"{ingress_service}/{namespace}/{BROKER}"
    assert broker["status"]["address"]["url"] == broker_url
    display_service = f"http://{display_release}.{namespace}.svc.cluster.local"
    to_display = await ready(cluster, "Trigger", namespace, "to-display")
    assert to_display["status"]["subscriberUri"] == display_service
    await ready(cluster, "Trigger", namespace, "markers")

    async def contract_with_both_triggers() -> dict[str, Any] | None:
        found = await cluster.get("v1", "ConfigMap", system, contract)
        document = json.loads(((found or {}).get("data") or {}).get("contract.json") or "{}")
        for entry in document.get("brokers") or ():
            if (entry["namespace"], entry["name"]) == (namespace, BROKER):
                triggers = {t["name"]: t for t in entry.get("triggers") or ()}
                if triggers.keys() == {"to-display", "markers"}:
                    return triggers
        return None

    triggers = await cluster.eventually(contract_with_both_triggers, "both Triggers in contract")
    assert triggers["to-display"]["subscriber"] == display_service
    assert triggers["markers"]["subscriber"] == sink.url

    display = await pods.start(display_deployment, await deployer.container_env(display_deployment))
    display_on_node = f"http://127.0.0.1:{display.port}"
    dispatcher_deployment = await deployment_named(cluster, system, f"{broker_release}-dispatcher")
    dispatcher = await pods.start(
        dispatcher_deployment,
        await deployer.container_env(dispatcher_deployment),
        addresses={display_service: display_on_node},
    )
    ingress_deployment = await deployment_named(cluster, system, f"{broker_release}-ingress")
    ingress = await pods.start(
        ingress_deployment, await deployer.container_env(ingress_deployment), all_addresses=True
    )
    ingress_on_node = f"http://127.0.0.1:{ingress.port}"
    # The ingress pod's endpoint, as the EndpointSlice controller would publish it (on this
    # machine's address: EndpointSlices refuse loopback). The broker role probes it: the Broker
    # becomes Ready once the ingress serves it (ProbeSucceeded).
    await cluster.create(
        endpoint_slice(f"{broker_release}-ingress", node_address(), ingress.port), system
    )
    await ready(cluster, "Broker", namespace, BROKER)

    # The ping source's SinkBinding names the Broker; the controller resolves its address.
    deployer.install(
        "ping",
        ping_release,
        namespace,
        {
            "sink": {"ref": {"apiVersion": EVENTING, "kind": "Broker", "name": BROKER}},
            "sinkBinding": {"enabled": True},
            "ping": {
                "schedule": "* * * * * *",
                "contentType": "application/json",
                "data": '{"n": 1}',
            },
        },
    )

    async def bound() -> dict[str, Any] | None:
        found = await deployer.deployment(namespace, ping_release)
        [container] = found["spec"]["template"]["spec"]["containers"]
        return found if any(e["name"] == "K_SINK" for e in container.get("env") or ()) else None

    ping_deployment = await cluster.eventually(bound, "K_SINK injected into the ping source")
    ping_env = await deployer.container_env(ping_deployment)
    assert ping_env["K_SINK"] == broker_url

    stream = asyncio.create_task(first_streamed_event(f"{display_on_node}/api/stream"))
    try:
        ping = await pods.start(
            ping_deployment, ping_env, addresses={ingress_service: ingress_on_node}
        )
        async with asyncio.timeout(60):
            shown = await stream
    finally:
        stream.cancel()
    attributes = shown["attributes"]
    assert attributes["type"] == PING_TYPE
    assert attributes["source"].startswith(f"/apis/v1/namespaces/{namespace}/pingsources/")
    assert "knativearrivaltime" in attributes, attributes
    assert (shown["data_kind"], shown["data"]) == ("json", {"n": 1})

    marker = {
        "ce-specversion": "1.0",
        "ce-id": f"marker-{suffix}",
        "ce-source": "/e2e/test_broker",
        "ce-type": MARKER_TYPE,
        "Content-Type": "text/plain",
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{ingress_on_node}/{namespace}/{BROKER}", data=b"m", headers=marker) as sent,
    ):
        assert sent.status == 202, await sent.text()

    async def marker_delivered() -> list[str] | None:
        ids = [r.event.get_id() for r in sink.accepted if r.event.get_type() == MARKER_TYPE]
        return ids or None

    ids = await cluster.eventually(marker_delivered, "the marker at the other Trigger's sink")
    assert ids == [f"marker-{suffix}"]
    # Everything before the marker in the partition was decided first: nothing else arrived,
    # and the ping events were filtered out (at least the one the display showed).
    got = [(r.event.get_type(), r.event.get_id()) for r in sink.requests]
    assert got == [(MARKER_TYPE, f"marker-{suffix}")], f"the non-matching Trigger got {got}"

    async def counted() -> dict[str, float] | None:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{dispatcher.port}/metrics") as answer,
        ):
            counts = trigger_events(await answer.text(), f"{namespace}/markers")
        # The delivery is counted once the sink's answer is back.
        return counts if counts.get("delivered") else None

    counts = await cluster.eventually(counted, "the marker's delivery counted")
    assert counts.get("filtered", 0) >= 1, counts
    assert counts["delivered"] == 1, counts

    for pod in (ping, ingress, dispatcher, display, broker_role, controller):
        await pods.stop(pod)
    for release, where in (
        (ping_release, namespace), (display_release, namespace),
        (controller_release, system), (broker_release, system),
    ):  # fmt: skip
        deployer.helm.run("uninstall", release, "--namespace", where)
