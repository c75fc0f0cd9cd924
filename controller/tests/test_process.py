"""The controller as real processes: two replicas under leader election (one acts, the other takes
over when it stops), the ``crds`` command, installing the CRDs, and its settings."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from typing import TYPE_CHECKING

import pytest
import yaml
from springhead.config import ConfigError, load_settings, source_variables_in
from springhead_controller.config import ControllerSettings
from springhead_controller.crds import crd_manifests, install_crds
from springhead_controller.selectors import SelectionMode
from springhead_testinfra.kube import KubeCluster
from springhead_testing import SourceProcess
from springhead_testing.kube import deployment_manifest

if TYPE_CHECKING:
    from conftest import Cluster

SOURCES = "sources.knative.dev/v1"


def replica_env(kube: KubeCluster, lease: str) -> dict[str, str]:
    return {
        "CONTROLLER_KUBECONFIG": str(kube.kubeconfig),
        "CONTROLLER_LEASE_NAME": lease,
        "CONTROLLER_LEASE_DURATION": "PT2S",
        "CONTROLLER_LEASE_RENEW_DEADLINE": "PT1.5S",
        "CONTROLLER_LEASE_RETRY_PERIOD": "PT0.3S",
        "NAMESPACE": "default",
        "SPRINGHEAD_PORT": "0",
        "SPRINGHEAD_HOST": "127.0.0.1",
    }


async def bind_and_wait(cluster: Cluster, namespace: str, name: str, sink: str) -> None:
    await cluster.create(deployment_manifest(name), namespace)
    binding = {
        "apiVersion": SOURCES,
        "kind": "SinkBinding",
        "metadata": {"name": name},
        "spec": {
            "subject": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "sink": {"uri": sink},
        },
    }
    await cluster.create(binding, namespace)

    async def bound() -> bool:
        injected = await cluster.injected("apps/v1", "Deployment", namespace, name)
        return (injected or {}).get("app", {}).get("K_SINK") == sink

    await cluster.eventually(bound, f"{name} to be bound")


def acted(process: SourceProcess) -> bool:
    return any(entry.get("msg") == "reconciling" for entry in process.logs)


async def test_two_replicas_one_acts_and_the_other_takes_over(
    cluster: Cluster, namespace: str, kube: KubeCluster
) -> None:
    env = replica_env(kube, f"controller-{uuid.uuid4().hex[:8]}")
    first = SourceProcess("springhead_controller", env)
    second = SourceProcess("springhead_controller", env)
    async with first, second:
        waiters = {
            asyncio.create_task(p.wait_for_log("reconciling", timeout=60)): p
            for p in (first, second)
        }
        done, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        leader = waiters[done.pop()]
        standby = second if leader is first else first
        await bind_and_wait(cluster, namespace, "before", "http://first.example.com/")
        assert not acted(standby), "the standby must not reconcile while the other leads"
        await leader.stop()
        assert leader.process is not None and leader.process.returncode == 0
        await standby.wait_for_log("reconciling", timeout=60)
        await bind_and_wait(cluster, namespace, "after", "http://second.example.com/")


def test_crds_command_prints_every_definition() -> None:
    output = subprocess.run(
        [sys.executable, "-m", "springhead_controller", "crds"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    documents = list(yaml.safe_load_all(output))
    assert [d["metadata"]["name"] for d in documents] == [
        "sinkbindings.sources.knative.dev",
        "containersources.sources.knative.dev",
        "pingsources.sources.knative.dev",
        "apiserversources.sources.knative.dev",
        "kafkasources.sources.knative.dev",
        "githubsources.sources.knative.dev",
        "brokers.eventing.knative.dev",
        "triggers.eventing.knative.dev",
    ]
    assert documents == crd_manifests()


async def test_crds_are_valid_and_installing_them_again_is_harmless(cluster: Cluster) -> None:
    # Whether or not an earlier test's controller installed them, they end up served as written.
    created = await cluster.call(install_crds, cluster.client)
    assert set(created) <= {m["metadata"]["name"] for m in crd_manifests()}
    assert await cluster.call(install_crds, cluster.client) == []
    for manifest in crd_manifests():
        served = await cluster.get(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            None,
            manifest["metadata"]["name"],
        )
        assert served is not None
        assert served["spec"]["versions"][0]["schema"] == manifest["spec"]["versions"][0]["schema"]


def test_settings_defaults() -> None:
    settings = load_settings(ControllerSettings, {})
    assert settings.leader_election is True
    assert settings.install_crds is True
    assert settings.effective_lease_name == "springhead-controller"
    assert settings.effective_lease_namespace == "default"
    assert settings.selection_mode is SelectionMode.EXCLUSION
    assert settings.cluster_domain == "cluster.local"
    assert settings.roles == ["core"]


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"SINK_BINDING_SELECTION_MODE": "everything"}, "SINK_BINDING_SELECTION_MODE"),
        ({"CONTROLLER_KUBECONFIG": "/nonexistent"}, "CONTROLLER_KUBECONFIG"),
        ({"CONTROLLER_LEASE_RENEW_DEADLINE": "PT20S"}, "CONTROLLER_LEASE_RENEW_DEADLINE"),
        ({"CONTROLLER_LEASE_DURATION": "PT0.5S"}, "CONTROLLER_LEASE_DURATION"),
        ({"CONTROLLER_WORKERS": "0"}, "CONTROLLER_WORKERS"),
        (
            {"CONTROLLER_ROLES": "broker", "BROKER_CONTRACT_CONFIGMAP": "ns/contract"},
            "KAFKA_BOOTSTRAP_SERVERS",
        ),
        (
            {
                "CONTROLLER_ROLES": "broker",
                "BROKER_CONTRACT_CONFIGMAP": "no-namespace",
                "KAFKA_BOOTSTRAP_SERVERS": "k:9092",
            },
            "BROKER_CONTRACT_CONFIGMAP",
        ),
        ({"BROKER_TOPIC_PARTITIONS": "0"}, "BROKER_TOPIC_PARTITIONS"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(ControllerSettings, env)
    assert caught.value.variable == variable


def test_the_controller_reads_no_sink_or_delivery_settings() -> None:
    # It sends no events: the process host runs it, and warns when a sink variable is set.
    variables = {
        str(field.validation_alias): "" for field in ControllerSettings.model_fields.values()
    }
    assert source_variables_in(variables) == []
