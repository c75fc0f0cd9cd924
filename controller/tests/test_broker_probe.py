"""A Broker's ProbeSucceeded, against the real kube-apiserver, a real Kafka and a real broker
ingress process: Ready waits until every endpoint of the ingress Service answers Knative's
data-plane probe for the Broker, as Knative's Kafka broker's does.

No kubelet or EndpointSlice controller runs here, so the test publishes the ingress's endpoint
itself, as an EndpointSlice of a Service without a selector (how Kubernetes points a Service at
endpoints it does not manage). EndpointSlices refuse loopback addresses, so the ingress listens
on this machine's address on its default route (:func:`springhead_testing.kube.node_address`)."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from springhead_controller.probe import slice_endpoints
from springhead_testing import SourceProcess
from springhead_testing.kube import endpoint_slice, node_address

if TYPE_CHECKING:
    from conftest import Cluster
    from springhead_controller.controller import Controller

EVENTING = "eventing.knative.dev/v1"
CONTRACT = "springhead-broker-contract"
INGRESS = "springhead-broker-ingress"

StartController = Callable[..., contextlib.AbstractAsyncContextManager["Controller"]]


def closed_port(host: str) -> int:
    """A port on ``host`` where nothing listens (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind((host, 0))
        return int(held.getsockname()[1])


async def probe_condition(cluster: Cluster, namespace: str, status: str, message: str) -> None:
    async def check() -> bool:
        broker = await cluster.get(EVENTING, "Broker", namespace, "default") or {}
        conditions = {c["type"]: c for c in (broker.get("status") or {}).get("conditions") or ()}
        found = conditions.get("ProbeSucceeded") or {}
        return found.get("status") == status and found.get("message", "") == message

    await cluster.eventually(check, f"ProbeSucceeded={status} ({message})")


async def ready(cluster: Cluster, kind: str, namespace: str, name: str) -> str:
    obj = await cluster.get(EVENTING, kind, namespace, name) or {}
    conditions = {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or ()}
    return str((conditions.get("Ready") or {}).get("status"))


async def test_ready_waits_until_every_ingress_endpoint_serves_the_broker(
    cluster: Cluster,
    namespace: str,
    start_controller: StartController,
    kafka: Any,
    tmp_path: Path,
) -> None:
    system = await cluster.new_namespace("broker-system")
    await cluster.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": CONTRACT},
            "data": {"contract.json": '{"brokers": []}'},
        },
        system,
    )
    host = node_address()
    async with start_controller(
        CONTROLLER_ROLES="broker",
        BROKER_CONTRACT_CONFIGMAP=f"{system}/{CONTRACT}",
        BROKER_DEFAULT_CLASS="true",
        BROKER_TOPIC_PARTITIONS="1",
        BROKER_TOPIC_REPLICATION="1",
        KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap,
    ):
        await cluster.create(
            {"apiVersion": EVENTING, "kind": "Broker", "metadata": {"name": "default"}}, namespace
        )
        await cluster.create(
            {
                "apiVersion": EVENTING,
                "kind": "Trigger",
                "metadata": {"name": "all"},
                "spec": {"broker": "default", "subscriber": {"uri": "http://sink.example/"}},
            },
            namespace,
        )
        # No ingress endpoint at all: not ready, though the contract is written.
        await probe_condition(cluster, namespace, "False", "status: NotReady")
        assert await ready(cluster, "Broker", namespace, "default") == "False"

        # An endpoint where nothing answers.
        await cluster.create(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": INGRESS},
                "spec": {"ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
            },
            system,
        )
        await cluster.create(endpoint_slice(INGRESS, host, closed_port(host)), system)
        await probe_condition(cluster, namespace, "False", "status: Unknown")

        # A real ingress, its contract file not yet synced from the ConfigMap: it answers the
        # probe with 404.
        contract_file = tmp_path / "contract.json"
        contract_file.write_text('{"brokers": []}')
        env = {
            "NAMESPACE": system,
            "NAME": "springhead-broker",
            "K_COMPONENT": "springhead-broker",
            "SPRINGHEAD_PORT": "0",
            "SPRINGHEAD_HOST": host,
            "BROKER_ROLE": "ingress",
            "BROKER_BACKEND": "kafka",
            "BROKER_CONTRACT_FILE": str(contract_file),
            "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
        }
        async with SourceProcess("springhead_broker", env) as ingress:
            assert ingress.port is not None
            await cluster.merge_patch(
                "discovery.k8s.io/v1", "EndpointSlice", system, f"{INGRESS}-manual",
                {"ports": [{"name": "http", "port": ingress.port, "protocol": "TCP"}]},
            )  # fmt: skip
            await probe_condition(cluster, namespace, "False", "status: NotReady")
            assert await ready(cluster, "Broker", namespace, "default") == "False"

            # The kubelet's sync of the mounted ConfigMap, by hand.
            configmap = await cluster.get("v1", "ConfigMap", system, CONTRACT) or {}
            contract_file.write_text(configmap["data"]["contract.json"])
            await probe_condition(cluster, namespace, "True", "")

            async def all_ready() -> bool:
                return (
                    await ready(cluster, "Broker", namespace, "default") == "True"
                    and await ready(cluster, "Trigger", namespace, "all") == "True"
                )

            await cluster.eventually(all_ready, "Broker and Trigger Ready")


ENDPOINT_SLICES: list[tuple[str, list[dict[str, Any]], list[str]]] = [
    ("none", [], []),
    (
        "the port named http, not-ready endpoints left out, each address once",
        [
            {
                "ports": [{"name": "metrics", "port": 9090}, {"name": "http", "port": 8080}],
                "endpoints": [
                    {"addresses": ["10.0.0.2"], "conditions": {"ready": True}},
                    {"addresses": ["10.0.0.3"], "conditions": {"ready": False}},
                    {"addresses": ["10.0.0.4"]},
                ],
            },
            {
                "ports": [{"name": "http", "port": 8080}],
                "endpoints": [{"addresses": ["10.0.0.2"], "conditions": {"ready": True}}],
            },
        ],
        ["10.0.0.2:8080", "10.0.0.4:8080"],
    ),
    (
        "a single unnamed port; IPv6 in brackets",
        [{"ports": [{"port": 8080}], "endpoints": [{"addresses": ["fd00::5"]}]}],
        ["[fd00::5]:8080"],
    ),
    (
        "several ports, none named http: none to probe",
        [
            {
                "ports": [{"name": "a", "port": 1}, {"name": "b", "port": 2}],
                "endpoints": [{"addresses": ["10.0.0.2"]}],
            }
        ],
        [],
    ),
    ("a slice without ports", [{"endpoints": [{"addresses": ["10.0.0.2"]}]}], []),
]


@pytest.mark.parametrize(
    ("slices", "expected"),
    [pytest.param(s, e, id=case) for case, s, e in ENDPOINT_SLICES],
)
def test_the_endpoints_probed(slices: list[dict[str, Any]], expected: list[str]) -> None:
    assert slice_endpoints(slices) == expected
