"""ContainerSource against a real kube-apiserver: its Deployment and SinkBinding are created,
kept in step with the source, reported in its status, and removed with it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from springhead_controller.containersources import child_name, is_derivative

if TYPE_CHECKING:
    from conftest import Cluster

CS = "ContainerSource"
SOURCES = "sources.knative.dev/v1"
SINK_URL = "http://display.example.com/"


def container_source(name: str, **spec: Any) -> dict[str, Any]:
    template = {
        "metadata": {"labels": {"team": "blue"}},
        "spec": {
            "containers": [
                {
                    "name": "heartbeats",
                    "image": "registry.example/heartbeats:1",
                    "args": ["--period=1"],
                    "env": [{"name": "POD_NAME", "value": "mypod"}],
                },
                {"image": "registry.example/helper:1"},
            ]
        },
    }
    return {
        "apiVersion": SOURCES,
        "kind": CS,
        "metadata": {"name": name},
        "spec": {"template": template, "sink": {"uri": SINK_URL}, **spec},
    }


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container.get("env") or ()}


async def deployment_where(
    cluster: Cluster, namespace: str, name: str, check: Any, what: str
) -> dict[str, Any]:
    async def found() -> dict[str, Any] | None:
        obj = await cluster.get("apps/v1", "Deployment", namespace, name)
        return obj if obj is not None and check(obj) else None

    return await cluster.eventually(found, what)


def containers(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    return list(deployment["spec"]["template"]["spec"]["containers"])


@pytest.mark.usefixtures("controller")
async def test_a_container_source_runs_as_a_bound_deployment(
    cluster: Cluster, namespace: str
) -> None:
    overrides = {"extensions": {"origin": "heartbeat"}}
    source = await cluster.create(container_source("beats", ceOverrides=overrides), namespace)
    uid = source["metadata"]["uid"]
    deployment = await deployment_where(
        cluster,
        namespace,
        "beats-deployment",
        lambda d: all("K_SINK" in env_of(c) for c in containers(d)),
        "the source's Deployment with K_SINK in every container",
    )
    owner = deployment["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        CS,
        "beats",
        uid,
        True,
    )
    labels = {
        "team": "blue",
        "sources.knative.dev/source": "container-source-controller",
        "sources.knative.dev/containerSource": "beats",
    }
    assert deployment["spec"]["selector"]["matchLabels"] == labels
    assert deployment["spec"]["template"]["metadata"]["labels"] == labels
    main, helper = containers(deployment)
    assert (main["name"], helper["name"]) == ("heartbeats", "beats-1")
    assert main["args"] == ["--period=1"]
    assert env_of(main) == {
        "POD_NAME": "mypod",
        "K_SINK": SINK_URL,
        "K_CE_OVERRIDES": '{"extensions":{"origin":"heartbeat"}}',
    }
    binding = await cluster.get(SOURCES, "SinkBinding", namespace, "beats-sinkbinding")
    assert binding is not None
    assert binding["metadata"]["ownerReferences"][0]["uid"] == uid
    assert binding["spec"] == {
        "subject": {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "namespace": namespace,
            "name": "beats-deployment",
        },
        "sink": {"uri": SINK_URL},
        "ceOverrides": overrides,
    }
    await cluster.wait_condition(CS, namespace, "beats", "SinkBindingReady", "True")
    # No controller-manager runs in these tests, so the Deployment never becomes available...
    pending = await cluster.wait_condition(
        CS, namespace, "beats", "ReceiveAdapterReady", "Unknown", "DeploymentUnavailable"
    )
    assert "beats-deployment" in pending["message"]
    status = (await cluster.get(SOURCES, CS, namespace, "beats") or {})["status"]
    assert status["sinkUri"] == SINK_URL
    # ... until the test reports it available, as the Deployment controller would.
    await cluster.merge_patch(
        "apps/v1", "Deployment", namespace, "beats-deployment",
        {"status": {"conditions": [{"type": "Available", "status": "True",
                                    "reason": "MinimumReplicasAvailable", "message": "up"}]}},
        subresource="status",
    )  # fmt: skip
    await cluster.wait_condition(CS, namespace, "beats", "ReceiveAdapterReady", "True")
    await cluster.wait_condition(CS, namespace, "beats", "Ready", "True")
    source = await cluster.get(SOURCES, CS, namespace, "beats") or {}
    assert source["status"]["observedGeneration"] == source["metadata"]["generation"]


@pytest.mark.usefixtures("controller")
async def test_changes_to_the_source_reach_its_deployment_and_binding(
    cluster: Cluster, namespace: str
) -> None:
    await cluster.create(container_source("beats"), namespace)
    await deployment_where(
        cluster, namespace, "beats-deployment",
        lambda d: env_of(containers(d)[0]).get("K_SINK") == SINK_URL, "the first binding",
    )  # fmt: skip
    template_patch = {
        "spec": {
            "template": {
                "metadata": {"labels": {"team": "blue"}},
                "spec": {
                    "containers": [
                        {
                            "name": "heartbeats",
                            "image": "registry.example/heartbeats:2",
                            "env": [{"name": "POD_NAME", "value": "renamed"}],
                        }
                    ]
                },
            }
        }
    }
    await cluster.merge_patch(SOURCES, CS, namespace, "beats", template_patch)
    updated = await deployment_where(
        cluster, namespace, "beats-deployment",
        lambda d: len(containers(d)) == 1 and containers(d)[0]["image"].endswith(":2"),
        "the new template",
    )  # fmt: skip
    main = containers(updated)[0]
    assert "args" not in main, "a field removed from the template is removed"
    assert env_of(main) == {"POD_NAME": "renamed", "K_SINK": SINK_URL, "K_CE_OVERRIDES": ""}
    moved = "http://elsewhere.example.com/"
    await cluster.merge_patch(SOURCES, CS, namespace, "beats", {"spec": {"sink": {"uri": moved}}})
    await deployment_where(
        cluster, namespace, "beats-deployment",
        lambda d: env_of(containers(d)[0]).get("K_SINK") == moved, "the moved sink",
    )  # fmt: skip
    binding = await cluster.get(SOURCES, "SinkBinding", namespace, "beats-sinkbinding")
    assert binding is not None and binding["spec"]["sink"] == {"uri": moved}
    # Someone edits the Deployment behind the source's back: it is put back.
    await cluster.json_patch(
        "apps/v1", "Deployment", namespace, "beats-deployment",
        [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "evil:1"}],
    )  # fmt: skip
    await deployment_where(
        cluster, namespace, "beats-deployment",
        lambda d: containers(d)[0]["image"] == "registry.example/heartbeats:2", "the repair",
    )  # fmt: skip
    await cluster.wait_condition(CS, namespace, "beats", "SinkBindingReady", "True")


@pytest.mark.usefixtures("controller")
async def test_deleting_the_source_removes_its_children(cluster: Cluster, namespace: str) -> None:
    await cluster.create(container_source("beats"), namespace)
    await cluster.wait_condition(CS, namespace, "beats", "SinkBindingReady", "True")
    await cluster.delete(SOURCES, CS, namespace, "beats")

    async def children_gone() -> bool:
        deployment = await cluster.get("apps/v1", "Deployment", namespace, "beats-deployment")
        binding = await cluster.get(SOURCES, "SinkBinding", namespace, "beats-sinkbinding")
        return deployment is None and binding is None

    await cluster.eventually(children_gone, "the Deployment and SinkBinding to be removed")


@pytest.mark.usefixtures("controller")
async def test_an_invalid_source_creates_nothing(cluster: Cluster, namespace: str) -> None:
    source = container_source("broken")
    source["spec"]["template"]["spec"]["containers"] = [{"name": "no-image"}]
    await cluster.create(source, namespace)
    failed = await cluster.wait_condition(
        CS, namespace, "broken", "SinkBindingReady", "False", "InvalidSpec"
    )
    assert "needs an image" in failed["message"]
    assert await cluster.get("apps/v1", "Deployment", namespace, "broken-deployment") is None
    assert await cluster.get(SOURCES, "SinkBinding", namespace, "broken-sinkbinding") is None


@pytest.mark.usefixtures("controller")
async def test_a_deployment_it_does_not_own_is_left_alone(cluster: Cluster, namespace: str) -> None:
    theirs = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "beats-deployment"},
        "spec": {
            "selector": {"matchLabels": {"app": "x"}},
            "template": {
                "metadata": {"labels": {"app": "x"}},
                "spec": {"containers": [{"name": "x", "image": "theirs:1"}]},
            },
        },
    }
    await cluster.create(theirs, namespace)
    await cluster.create(container_source("beats"), namespace)
    refused = await cluster.wait_condition(
        CS, namespace, "beats", "ReceiveAdapterReady", "False", "NotOwned"
    )
    assert "beats-deployment" in refused["message"]
    deployment = await cluster.get("apps/v1", "Deployment", namespace, "beats-deployment")
    assert deployment is not None and containers(deployment)[0]["image"] == "theirs:1"


def test_child_names_fit_in_63_characters() -> None:
    assert child_name("beats", "-deployment") == "beats-deployment"
    long = "a" * 60
    name = child_name(long, "-deployment")
    assert len(name) == 63 and name.endswith("-deployment")
    assert child_name(long, "-deployment") == name
    assert child_name("b" + long[1:], "-deployment") != name


@pytest.mark.parametrize(
    ("want", "have", "derivative"),
    [
        ({"a": 1}, {"a": 1, "b": 2}, True),
        ({"a": 1, "b": 2}, {"a": 1}, False),
        ({"a": [1, 2]}, {"a": [1, 2]}, True),
        ({"a": [1]}, {"a": [1, 2]}, False),
        ({"a": [{"x": 1}]}, {"a": [{"x": 1, "y": 2}]}, True),
        ({"a": {"x": 1}}, {"a": "x"}, False),
    ],
)
def test_is_derivative(want: Any, have: Any, derivative: bool) -> None:
    assert is_derivative(want, have) is derivative
