"""Each service's image, built by podman and run as a container as a hardened pod would run it:
read-only root file system, every capability dropped, no new privileges, the image's own user.

A running container is checked from outside (``/healthz`` from the host, ``podman
healthcheck run``, an event reaching the loopback sink on the host, ``podman stop`` draining to
exit 0) and from inside (its uid and gid, the read-only root). The components a service talks to
are the real ones from testinfra: Kafka's broker, the kube-apiserver.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import shutil
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from springhead_testinfra.images import Container, Podman
from springhead_testinfra.process import free_ports
from springhead_testinfra.services import DOCKERFILE, ImageBuilds, Service
from springhead_testing import RecordingSink, adapter_env

Exercise = Callable[[RecordingSink, int], Awaitable[None]]


@dataclass
class Setup:
    """What a service's container needs (as its pod spec would give it) and how to see it work."""

    env: dict[str, str]
    exercise: Exercise
    #: Files of the host the container reads, mounted read-only at the same path.
    mounts: list[Path] = field(default_factory=list)


# --- how each service is shown to work ----------------------------------------------------------


async def _a_ping_arrives(sink: RecordingSink, port: int) -> None:
    # Every second: more may have arrived by the time the first is read.
    request, *_ = await sink.wait_for(1)
    assert request.event.get_type() == "dev.knative.sources.ping"
    assert request.body == b"from the image"


async def _a_post_is_forwarded(sink: RecordingSink, port: int) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"http://127.0.0.1:{port}/", json={"hello": "image"}, headers={"Idempotency-Key": "k1"}
        ) as response:
            assert response.status in (200, 202), await response.text()
    [request] = await sink.wait_for(1)
    assert request.event.get_id() == "k1"
    assert json.loads(request.body) == {"hello": "image"}


async def _a_signed_ping_is_forwarded(sink: RecordingSink, port: int) -> None:
    body = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 42}).encode()
    signature = hmac.new(b"image-secret", body, hashlib.sha256).hexdigest()
    headers = {
        "X-GitHub-Event": "ping",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": f"sha256={signature}",
        "Content-Type": "application/json",
    }
    async with aiohttp.ClientSession() as session:
        async with session.post(f"http://127.0.0.1:{port}/", data=body, headers=headers) as answer:
            assert answer.status == 202, await answer.text()
    [request] = await sink.wait_for(1)
    assert request.event.get_type() == "dev.knative.source.github.ping"
    assert request.body == body


async def _a_feed_item_arrives(sink: RecordingSink, port: int) -> None:
    [request] = await sink.wait_for(1)
    assert request.event.get_id()


async def _an_event_is_displayed(sink: RecordingSink, port: int) -> None:
    # The display is a sink itself: an event POSTed to it is kept and listed by its API.
    headers = {
        "ce-specversion": "1.0",
        "ce-id": "image-1",
        "ce-type": "dev.example.image",
        "ce-source": "/tests/images",
        "Content-Type": "application/json",
    }
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"http://127.0.0.1:{port}/", json={"hello": "display"}, headers=headers
        ) as response:
            assert response.status == 202, await response.text()
        async with session.get(f"http://127.0.0.1:{port}/api/events") as response:
            assert response.status == 200, await response.text()
            assert "image-1" in await response.text()


def _readable_copy(path: Path, folder: Path) -> Path:
    """A world-readable copy of ``path`` (the container's user is not the host's owner)."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)
    copy = folder / path.name
    shutil.copyfile(path, copy)
    copy.chmod(0o644)
    return copy


def _kubeconfig_for_the_container(kube: Any, folder: Path) -> tuple[Path, list[Path]]:
    """The cluster's kubeconfig and CA, readable by the container's user."""
    ca = _readable_copy(Path(kube.ca_file), folder)
    config = json.loads(Path(kube.kubeconfig).read_text())
    for cluster in config["clusters"]:
        cluster["cluster"]["certificate-authority"] = str(ca)
    kubeconfig = folder / "kubeconfig"
    kubeconfig.write_text(json.dumps(config))
    kubeconfig.chmod(0o644)
    return kubeconfig, [ca, kubeconfig]


def _kafka(request: pytest.FixtureRequest, tmp_path: Path) -> Setup:
    from springhead_testinfra.kafka_clients import produce

    kafka = request.getfixturevalue("kafka")
    topic = f"image-{uuid.uuid4().hex[:10]}"
    kafka.create_topic(topic)

    async def a_record_arrives(sink: RecordingSink, port: int) -> None:
        await produce(kafka.client_kwargs(), topic, [b"from the image"])
        [received] = await sink.wait_for(1)
        assert received.event.get_type() == "dev.knative.kafka.event"
        assert received.body == b"from the image"

    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
        "KAFKA_TOPICS": topic,
        "KAFKA_CONSUMER_GROUP": f"image-{uuid.uuid4().hex[:10]}",
        "KAFKA_INITIAL_OFFSET": "earliest",
    }
    return Setup(env, a_record_arrives)


def _apiserver(request: pytest.FixtureRequest, tmp_path: Path) -> Setup:
    kube = request.getfixturevalue("kube")
    kubeconfig, mounts = _kubeconfig_for_the_container(kube, tmp_path / "kube")
    name = f"image-{uuid.uuid4().hex[:10]}"

    async def a_configmap_is_announced(sink: RecordingSink, port: int) -> None:
        from kubernetes import client

        with kube.api_client() as api:
            core = client.CoreV1Api(api)
            await asyncio.to_thread(
                core.create_namespaced_config_map,
                "default",
                {"metadata": {"name": name}, "data": {"from": "the image"}},
            )
        # Other ConfigMaps may be announced too (the watch lists the namespace first).
        subjects = [str(r.event.get_attributes().get("subject")) for r in await sink.wait_for(1)]
        while not any(subject.endswith(f"/{name}") for subject in subjects):
            subjects = [
                str(r.event.get_attributes().get("subject"))
                for r in await sink.wait_for(len(subjects) + 1)
            ]

    env = {
        "APISERVER_RESOURCES": '[{"apiVersion": "v1", "kind": "ConfigMap"}]',
        "APISERVER_KUBECONFIG": str(kubeconfig),
        "NAMESPACE": "default",
    }
    return Setup(env, a_configmap_is_announced, mounts)


def _controller(request: pytest.FixtureRequest, tmp_path: Path) -> Setup:
    from springhead.kube import KubeClient
    from springhead_controller.binding import bound_injection, pod_spec_of, subject_kind
    from springhead_controller.crds import install_crds
    from springhead_testing.kube import Cluster, deployment_manifest

    kube = request.getfixturevalue("kube")
    kubeconfig, mounts = _kubeconfig_for_the_container(kube, tmp_path / "kube")
    name = f"image-{uuid.uuid4().hex[:10]}"

    async def a_sink_binding_is_reconciled(sink: RecordingSink, port: int) -> None:
        client = KubeClient(kube.api_client())
        try:
            await asyncio.to_thread(install_crds, client)
            cluster = Cluster(client)
            namespace = await cluster.new_namespace()
            await cluster.create(deployment_manifest(name), namespace)
            binding = {
                "apiVersion": "sources.knative.dev/v1",
                "kind": "SinkBinding",
                "metadata": {"name": name},
                "spec": {
                    "subject": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                    "sink": {"uri": sink.url},
                },
            }
            await cluster.create(binding, namespace)
            kind = subject_kind("apps/v1", "Deployment")
            assert kind is not None

            async def bound() -> bool:
                found = await cluster.get("apps/v1", "Deployment", namespace, name)
                injected = bound_injection(pod_spec_of(found or {}, kind) or {})
                return injected.get("app", {}).get("K_SINK") == sink.url

            await cluster.eventually(bound, f"{name} to be bound by the controller's image")
        finally:
            client.close()

    env = {
        "CONTROLLER_KUBECONFIG": str(kubeconfig),
        "CONTROLLER_LEADER_ELECTION": "false",
        "NAMESPACE": "default",
    }
    return Setup(env, a_sink_binding_is_reconciled, mounts)


def _controller_broker(request: pytest.FixtureRequest, tmp_path: Path) -> Setup:
    # The broker role alone, as its own Deployment runs it: a Broker reconciled against the real
    # apiserver and the real Kafka (its topic made, its address and the contract written).
    from springhead.kafka.admin import KafkaAdmin
    from springhead.kube import KubeClient
    from springhead_controller.brokers import broker_topic
    from springhead_controller.crds import install_crds
    from springhead_testing.kube import Cluster

    kube = request.getfixturevalue("kube")
    kafka = request.getfixturevalue("kafka")
    kubeconfig, mounts = _kubeconfig_for_the_container(kube, tmp_path / "kube")
    contract_namespace = f"broker-image-{uuid.uuid4().hex[:8]}"
    # A class of the test's own: the session's apiserver holds other tests' Brokers (of the
    # default class, or none), which this controller must leave alone.
    broker_class = f"image-{uuid.uuid4().hex[:6]}"
    client = KubeClient(kube.api_client())
    try:
        install_crds(client)
        client.request(
            "POST", "/api/v1/namespaces", body={"metadata": {"name": contract_namespace}}
        )
        client.request(
            "POST",
            f"/api/v1/namespaces/{contract_namespace}/configmaps",
            body={"metadata": {"name": "contract"}, "data": {"contract.json": '{"brokers": []}'}},
        )
    finally:
        client.close()

    async def a_broker_is_reconciled(sink: RecordingSink, port: int) -> None:
        client = KubeClient(kube.api_client())
        try:
            cluster = Cluster(client)
            namespace = await cluster.new_namespace()
            broker = {
                "apiVersion": "eventing.knative.dev/v1",
                "kind": "Broker",
                "metadata": {
                    "name": "default",
                    "annotations": {"eventing.knative.dev/broker.class": broker_class},
                },
            }
            await cluster.create(broker, namespace)

            async def ready() -> dict[str, Any] | None:
                found = await cluster.get("eventing.knative.dev/v1", "Broker", namespace, "default")
                status = (found or {}).get("status") or {}
                conditions = {c["type"]: c["status"] for c in status.get("conditions") or ()}
                return status if conditions.get("Ready") == "True" else None

            status = await cluster.eventually(ready, "the Broker to be Ready by the image")
            assert status["address"]["url"].endswith(f"/{namespace}/default")
            topics = await KafkaAdmin(kafka.client_kwargs()).topics()
            assert broker_topic(namespace, "default") in topics
            configmap = await cluster.get("v1", "ConfigMap", contract_namespace, "contract")
            brokers = json.loads((configmap or {})["data"]["contract.json"])["brokers"]
            assert [(b["namespace"], b["name"]) for b in brokers] == [(namespace, "default")]
        finally:
            client.close()

    env = {
        "CONTROLLER_KUBECONFIG": str(kubeconfig),
        "CONTROLLER_LEADER_ELECTION": "false",
        "CONTROLLER_ROLES": "broker",
        "BROKER_CONTRACT_CONFIGMAP": f"{contract_namespace}/contract",
        "BROKER_CLASS": broker_class,
        # No ingress runs beside it here (controller/tests/test_broker_probe.py has the probe).
        "BROKER_PROBE": "false",
        "BROKER_TOPIC_PARTITIONS": "1",
        "BROKER_TOPIC_REPLICATION": "1",
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
        "NAMESPACE": "default",
    }
    return Setup(env, a_broker_is_reconciled, mounts)


async def _an_event_goes_through_the_broker(sink: RecordingSink, port: int) -> None:
    headers = {
        "ce-specversion": "1.0",
        "ce-id": "image-1",
        "ce-type": "dev.example.image",
        "ce-source": "/image",
        "content-type": "application/json",
    }
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"http://127.0.0.1:{port}/testns/default", data=b'{"via": "broker"}', headers=headers
        ) as answer:
            assert answer.status == 202, await answer.text()
    [request] = await sink.wait_for(1)
    assert request.event.get_id() == "image-1"
    assert request.header("ce-knativearrivaltime")
    assert json.loads(request.body) == {"via": "broker"}


def _broker(request: pytest.FixtureRequest, tmp_path: Path) -> Setup:
    # The in-memory backend (one process, no Kafka): the image's ingress and dispatcher
    # together, one broker whose one trigger delivers to the test's sink.
    sink: RecordingSink = request.getfixturevalue("sink")
    contract = tmp_path / "broker" / "contract.json"
    contract.parent.mkdir()
    contract.parent.chmod(0o755)
    trigger = {"name": "all", "subscriber": sink.url}
    contract.write_text(
        json.dumps({"brokers": [{"namespace": "testns", "name": "default", "triggers": [trigger]}]})
    )
    contract.chmod(0o644)
    env = {
        "BROKER_ROLE": "all",
        "BROKER_BACKEND": "memory",
        "BROKER_CONTRACT_FILE": str(contract),
    }
    return Setup(env, _an_event_goes_through_the_broker, [contract])


def _feed(request: pytest.FixtureRequest, tmp_path: Path) -> Setup:
    feed = tmp_path / "feed" / "feed.xml"
    feed.parent.mkdir()
    feed.parent.chmod(0o755)
    feed.write_text(
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>T</title>"
        "<link>https://example.org/</link><description>d</description><item>"
        "<guid isPermaLink='false'>urn:item:1</guid><title>One</title>"
        "<link>https://example.org/1</link><pubDate>Sun, 22 Nov 2026 05:00:00 GMT</pubDate>"
        "</item></channel></rss>"
    )
    feed.chmod(0o644)
    env = {"FEED_URL": feed.as_uri(), "FEED_EMIT_EXISTING": "true"}
    return Setup(env, _a_feed_item_arrives, [feed])


def _setup(service: Service, request: pytest.FixtureRequest, tmp_path: Path) -> Setup:
    """What the service needs to start and how to see it work."""
    if service.package == "springhead-ping":
        return Setup(
            {"PING_SCHEDULE": "* * * * * *", "PING_DATA": "from the image"}, _a_ping_arrives
        )
    if service.package == "springhead-http":
        return Setup({}, _a_post_is_forwarded)
    if service.package == "springhead-github":
        env = {
            "GITHUB_OWNER_AND_REPOSITORY": "octo-org/hello",
            "GITHUB_EVENT_TYPES": "push",
            "GITHUB_WEBHOOK_SECRET": "image-secret",
        }
        return Setup(env, _a_signed_ping_is_forwarded)
    if service.package == "springhead-kafka":
        return _kafka(request, tmp_path)
    if service.package == "springhead-apiserver":
        return _apiserver(request, tmp_path)
    if service.package == "springhead-controller" and service.extra == "broker":
        return _controller_broker(request, tmp_path)
    if service.package == "springhead-controller":
        # The github image runs the core role too: its own role's reconciler is not written yet.
        return _controller(request, tmp_path)
    if service.package == "feed-source":
        return _feed(request, tmp_path)
    if service.package == "springhead-display":
        return Setup({}, _an_event_is_displayed)
    if service.package == "springhead-broker":
        return _broker(request, tmp_path)
    raise AssertionError(f"no settings for {service}: add how its image is shown to work")


#: The images that install uvloop (``springhead[uvloop]``), so that the default
#: SPRINGHEAD_EVENT_LOOP=auto runs them on it; every other image runs on asyncio's loop.
THROUGHPUT_LOOP = {
    "springhead-http": "uvloop",
    "springhead-github": "uvloop",
    "springhead-github-hooks": "uvloop",
    "springhead-display": "uvloop",
    # springhead-github[hooks] brings it (through springhead[uvloop]).
    "springhead-controller-github": "uvloop",
}
#: The services that send no events run in the process host, which logs "process started".
PROCESS_HOSTED = frozenset({"springhead-controller", "springhead-display", "springhead-broker"})


def _dockerfile_user() -> tuple[int, int]:
    """The numeric ``USER uid:gid`` of the Dockerfile's final stage."""
    final = re.split(r"^FROM\s", DOCKERFILE.read_text(), flags=re.M)[-1]
    [user] = re.findall(r"^USER\s+(\d+):(\d+)\s*$", final, flags=re.M)
    return int(user[0]), int(user[1])


async def _healthz(port: int) -> int:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
            return response.status


def _start(
    podman: Podman,
    image: str,
    env: Mapping[str, str],
    mounts: list[Path],
    containers: list[Container],
    *,
    extra: tuple[str, ...] = (),
    command: tuple[str, ...] = (),
) -> Container:
    volumes = tuple(arg for path in mounts for arg in ("-v", f"{path}:{path}:ro"))
    container = Container(podman, image, env, extra=volumes + extra, command=command)
    containers.append(container)
    return container.start()


async def test_the_container_runs_as_a_hardened_pod_would(
    service: Service,
    image_builds: ImageBuilds,
    podman: Podman,
    sink: RecordingSink,
    containers: list[Container],
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    image = image_builds.build(service)
    setup = _setup(service, request, tmp_path)
    [port] = free_ports(1)
    env = adapter_env(sink.url, SPRINGHEAD_PORT=str(port), SPRINGHEAD_HOST="127.0.0.1", **setup.env)
    container = await asyncio.to_thread(_start, podman, image.tag, env, setup.mounts, containers)

    kind = "process" if service.package in PROCESS_HOSTED else "source"
    started = await asyncio.to_thread(container.wait_for_log, f"{kind} started")
    assert started["event_loop"] == THROUGHPUT_LOOP.get(service.name, "asyncio")
    # Inside: the Dockerfile's user, and a root file system nothing can write to.
    ids = container.exec("python", "-c", "import os; print(os.getuid(), os.getgid())")
    assert ids.returncode == 0, ids.stderr
    assert tuple(map(int, ids.stdout.split())) == _dockerfile_user()
    assert _dockerfile_user()[0] != 0
    # Not even /tmp: Kubernetes mounts nothing writable there unless the pod asks for it.
    for path in ("/probe", "/app/probe", "/app/.venv/probe", "/tmp/probe"):  # noqa: S108
        wrote = container.exec("python", "-c", f"open({path!r}, 'w')")
        assert wrote.returncode != 0 and "Read-only file system" in wrote.stderr, wrote.stderr
    # Outside: /healthz from the host, the image's HEALTHCHECK, an event at the sink.
    assert await _healthz(port) == 200
    assert await asyncio.to_thread(container.healthcheck) == 0
    await setup.exercise(sink, port)
    # podman stop: SIGTERM, the source drains and exits 0 (SIGKILL after 30 s would be 137).
    assert await asyncio.to_thread(container.stop) == 0, container.failure("podman stop")
    assert await asyncio.to_thread(container.wait_for_log, f"{kind} stopped", running=False)


async def test_the_healthcheck_fails_when_nothing_serves(
    service: Service, image_builds: ImageBuilds, podman: Podman, containers: list[Container]
) -> None:
    # The image's own HEALTHCHECK in a container of the image whose process serves nothing
    # (it waits for a signal): the check must fail, so a hung or dead app is reported.
    image = image_builds.build(service)
    [port] = free_ports(1)
    idle = ("python", "-c", "import signal; signal.pause()")
    container = await asyncio.to_thread(
        _start,
        podman,
        image.tag,
        {"SPRINGHEAD_PORT": str(port)},
        [],
        containers,
        extra=("--entrypoint", idle[0]),
        command=idle[1:],
    )
    assert container.running
    assert await asyncio.to_thread(container.healthcheck) != 0
