"""Knative's documented SinkBinding and ContainerSource examples (``data/knative-docs``), applied
unchanged to the real apiserver with the controller running.

Knative Serving and Eventing are not installed: the test defines a minimal CRD for Serving's
``Service``, uses the controller's own ``Broker`` and ``Trigger`` CRDs (Broker reconciling is off
here) and plays their controllers' part by writing the Addressable ``status.address.url`` they
would publish.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from springhead_controller.broker_crds import broker_crd_manifests
from springhead_testing.kube import custom_resource_definition

if TYPE_CHECKING:
    from conftest import Cluster

pytestmark = pytest.mark.usefixtures("controller")

DATA = Path(__file__).parent / "data" / "knative-docs"
SOURCES = "sources.knative.dev/v1"
SERVING = "serving.knative.dev/v1"


def documents(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((DATA / name).read_text()) if doc]


@pytest.fixture
async def knative_kinds(cluster: Cluster) -> None:
    """A minimal CRD standing in for Knative Serving's Service (any spec and status: an
    Addressable's fits), and the controller's own Broker and Trigger CRDs."""
    await cluster.ensure_crd(custom_resource_definition("serving.knative.dev", "Service"))
    for crd in broker_crd_manifests():
        await cluster.ensure_crd(crd)


async def apply(cluster: Cluster, name: str, namespace: str) -> list[dict[str, Any]]:
    return [
        await cluster.create(doc, doc["metadata"].get("namespace") or namespace)
        for doc in documents(name)
    ]


def container_env(workload: dict[str, Any] | None, *path: str) -> list[dict[str, str]]:
    """The ``K_*`` variables of each container at ``path`` (a missing value reads as "")."""
    spec: Any = workload or {}
    for key in path:
        spec = spec.get(key) or {}
    return [
        {e["name"]: e.get("value", "") for e in c.get("env") or () if e["name"].startswith("K_")}
        for c in spec.get("containers") or ()
    ]


TEMPLATE = ("spec", "template", "spec")


@pytest.mark.usefixtures("knative_kinds")
async def test_sinkbinding_of_writing_an_event_source_the_easy_way(
    cluster: Cluster, namespace: str
) -> None:
    await apply(cluster, "easy-way-event-display-service.yaml", namespace)
    url = f"http://event-display.{namespace}.example.com"
    await cluster.publish_address(
        "serving.knative.dev/v1", "Service", namespace, "event-display", url
    )
    await apply(cluster, "easy-way-deployment.yaml", namespace)
    await apply(cluster, "easy-way-sinkbinding.yaml", namespace)

    async def bound() -> bool:
        deployment = await cluster.get(
            "apps/v1", "Deployment", namespace, "node-heartbeats-deployment"
        )
        env = container_env(deployment or {}, "spec", "template", "spec")
        return env == [{"K_SINK": url, "K_CE_OVERRIDES": ""}]

    await cluster.eventually(bound, "the example's Deployment to receive K_SINK")
    await cluster.wait_condition("SinkBinding", namespace, "bind-node-heartbeat", "Ready", "True")


@pytest.mark.usefixtures("knative_kinds")
@pytest.mark.parametrize(
    "example", ["easy-way-containersource.yaml", "containersource-heartbeat-source.yaml"]
)
async def test_documented_container_sources(cluster: Cluster, namespace: str, example: str) -> None:
    await apply(cluster, "easy-way-event-display-service.yaml", namespace)
    url = f"http://event-display.{namespace}.example.com"
    await apply(cluster, example, namespace)
    source = "heartbeat-source"
    await cluster.wait_condition(
        "ContainerSource", namespace, source, "SinkBindingReady", "False", "NoAddressable"
    )
    await cluster.publish_address(SERVING, "Service", namespace, "event-display", url)

    async def running() -> bool:
        name = "heartbeat-source-deployment"
        deployment = await cluster.get("apps/v1", "Deployment", namespace, name)
        return container_env(deployment, *TEMPLATE) == [{"K_SINK": url, "K_CE_OVERRIDES": ""}]

    await cluster.eventually(running, "the source's Deployment with K_SINK")
    await cluster.wait_condition("ContainerSource", namespace, source, "SinkBindingReady", "True")
    source = await cluster.get(SOURCES, "ContainerSource", namespace, "heartbeat-source")
    assert source is not None and source["status"]["sinkUri"] == url


async def test_cronjob_subject_of_create_a_sinkbinding(cluster: Cluster, namespace: str) -> None:
    await apply(cluster, "create-a-sinkbinding-cronjob.yaml", namespace)
    # The page's SinkBinding YAML is a template with placeholders; this is its kn example
    #   kn source binding create bind-heartbeat --subject "Job:batch/v1:app=heartbeat-cron"
    #     --sink http://event-display.svc.cluster.local --ce-override "sink=bound"
    # as a manifest. Jobs cannot change once created, so the CronJob's job template is bound.
    binding = {
        "apiVersion": SOURCES,
        "kind": "SinkBinding",
        "metadata": {"name": "bind-heartbeat"},
        "spec": {
            "subject": {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "selector": {"matchLabels": {"app": "heartbeat-cron"}},
            },
            "sink": {"uri": "http://event-display.svc.cluster.local"},
            "ceOverrides": {"extensions": {"sink": "bound"}},
        },
    }
    await cluster.create(binding, namespace)

    async def bound() -> bool:
        cronjob = await cluster.get("batch/v1", "CronJob", namespace, "heartbeat-cron")
        env = container_env(cronjob, "spec", "jobTemplate", *TEMPLATE)
        return env == [
            {
                "K_SINK": "http://event-display.svc.cluster.local",
                "K_CE_OVERRIDES": '{"extensions":{"sink":"bound"}}',
            }
        ]

    await cluster.eventually(bound, "the CronJob's job template to receive K_SINK")


@pytest.mark.usefixtures("knative_kinds")
async def test_bookstore_sample_binds_its_node_server_to_the_broker(cluster: Cluster) -> None:
    namespace = "default"  # the sample's SinkBinding names it
    await apply(cluster, "bookstore-100-deployment.yaml", namespace)
    await apply(cluster, "bookstore-200-broker.yaml", namespace)
    await apply(cluster, "bookstore-300-sinkbinding.yaml", namespace)
    binding = "node-sinkbinding"
    await cluster.wait_condition("SinkBinding", namespace, binding, "SinkProvided", "False")
    url = "http://broker-ingress.knative-eventing.svc.cluster.local/default/bookstore-broker"
    broker = ("eventing.knative.dev/v1", "Broker", namespace, "bookstore-broker")
    await cluster.publish_address(*broker, url)

    async def bound() -> bool:
        deployment = await cluster.get("apps/v1", "Deployment", namespace, "node-server")
        return container_env(deployment, *TEMPLATE) == [{"K_SINK": url, "K_CE_OVERRIDES": ""}]

    await cluster.eventually(bound, "node-server to receive the Broker's address")
    await cluster.wait_condition("SinkBinding", namespace, binding, "Ready", "True")
