"""Each image's install steps, executed: the Dockerfile's own ``uv sync`` commands run in a fresh
venv over a build context selected by ``.dockerignore``, the runtime stage is assembled from
what it copies, and the image's entry point then runs from it against the loopback sink (and the
real Kafka broker / kube-apiserver where the service needs one).

See conftest.py for what stands in for the base images. Builds are shared per session.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from springhead_testinfra.dockerfiles import (
    BuiltImage,
    DockerfileError,
    build_offline,
    parse_dockerfile,
)
from springhead_testinfra.process import free_ports
from springhead_testing import RecordingSink, SourceProcess, adapter_env

if TYPE_CHECKING:
    from conftest import ImageBuilds, Service

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
#: Clients heavy enough that a service must not carry them unless it uses them.
HEAVY_CLIENTS = frozenset({"kubernetes", "aiokafka", "pygithub", "apscheduler"})
#: Development tools and test infrastructure: never in an image.
DEV_ONLY = frozenset(
    {"pytest", "pytest-asyncio", "mypy", "ruff", "hypothesis", "import-linter"}
    | {"springhead-testing", "springhead-testinfra", "fastapi"}
    # uvicorn serves every source, but without [standard]'s reloader and websockets
    | {"watchfiles", "websockets"}
)
SITE_PACKAGES = "/app/.venv/lib/python3.11/site-packages"
#: Variables that tell uv how this host reaches PyPI, for the one build that goes online.
NETWORK_SETTINGS = ("SSL_CERT_FILE", "SSL_CERT_DIR", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY")


def locked_closure(uv: str, package: str) -> set[str]:
    """The distributions uv.lock installs for ``package`` on this platform (members included)."""
    exported = subprocess.run(
        [uv, "export", "--frozen", "--no-dev", "--package", package, "--no-hashes"]
        + ["--no-header", "--no-annotate", "--no-emit-workspace", "--format", "requirements-txt"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env={**os.environ, "UV_OFFLINE": "1"},
    ).stdout
    names: set[str] = {canonicalize_name(package), "springhead"}
    for line in exported.splitlines():
        if line.strip() and not line.startswith(("#", "-")):
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate():
                names.add(canonicalize_name(requirement.name))
    return names


def installed(image: BuiltImage) -> set[str]:
    """The distributions in the image's venv."""
    names: set[str] = set()
    for metadata in image.host_path(SITE_PACKAGES).glob("*.dist-info/METADATA"):
        for line in metadata.read_text(errors="replace").splitlines():
            if line.startswith("Name:"):
                names.add(canonicalize_name(line.split(":", 1)[1].strip()))
                break
    return names


def test_the_image_holds_exactly_the_services_locked_closure(
    service: Service, image_builds: ImageBuilds
) -> None:
    image = image_builds.build(service)
    found = installed(image)
    assert found == locked_closure(image_builds.uv, service.package)
    assert service.clients <= found
    assert not (HEAVY_CLIENTS - service.clients) & found
    assert not DEV_ONLY & found
    # The image is the venv and nothing else (the workdir itself aside).
    outside = [
        path.relative_to(image.root).as_posix()
        for path in image.root.rglob("*")
        if not path.is_relative_to(image.host_path("/app/.venv"))
        and path != image.host_path("/app")
    ]
    assert outside == []


def test_the_code_is_installed_into_the_venv_not_linked(
    service: Service, image_builds: ImageBuilds
) -> None:
    image = image_builds.build(service)
    site = image.host_path(SITE_PACKAGES)
    for pth in site.glob("*.pth"):
        paths = [line for line in pth.read_text().splitlines() if line and line[0] in "/."]
        assert paths == [], f"{pth.name} points outside the venv: {paths}"
    probe = (
        f"import json, springhead, {service.module}; "
        f"print(json.dumps([springhead.__file__, {service.module}.__file__]))"
    )
    shown = subprocess.run(
        [*image.command()[:1], "-c", probe],
        env=image.host_env(),
        cwd=image.host_workdir(),
        capture_output=True,
        text=True,
        check=True,
    )
    for module_file in json.loads(shown.stdout):
        assert Path(module_file).is_relative_to(site)
    # Byte-compiled at build time: a read-only root file system costs no start-up time.
    assert list((site / service.module).glob("__pycache__/__main__.*.pyc"))


# --- running the image --------------------------------------------------------------------------

Exercise = Callable[[RecordingSink, int], Awaitable[None]]


async def _no_events(sink: RecordingSink, port: int) -> None:
    """Services whose events need more of a setup than their image deserves: health only."""


async def _a_ping_arrives(sink: RecordingSink, port: int) -> None:
    [request] = await sink.wait_for(1)
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


def _kafka_settings(request: pytest.FixtureRequest) -> tuple[dict[str, str], Exercise]:
    from springhead_testinfra.kafka_clients import produce

    kafka = request.getfixturevalue("kafka")
    topic = f"image-{uuid.uuid4().hex[:10]}"
    kafka.create_topic(topic)
    settings = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
        "KAFKA_TOPICS": topic,
        "KAFKA_CONSUMER_GROUP": f"image-{uuid.uuid4().hex[:10]}",
        "KAFKA_INITIAL_OFFSET": "earliest",
    }

    async def a_record_arrives(sink: RecordingSink, port: int) -> None:
        await produce(kafka.client_kwargs(), topic, [b"from the image"])
        [received] = await sink.wait_for(1)
        assert received.event.get_type() == "dev.knative.kafka.event"
        assert received.body == b"from the image"

    return settings, a_record_arrives


def _settings(
    service: Service, request: pytest.FixtureRequest, tmp_path: Path
) -> tuple[dict[str, str], Exercise]:
    """What the service needs to start (as a pod spec would set it) and how to see it work."""
    if service.package == "springhead-ping":
        return {"PING_SCHEDULE": "* * * * * *", "PING_DATA": "from the image"}, _a_ping_arrives
    if service.package == "springhead-http":
        return {}, _a_post_is_forwarded
    if service.package == "springhead-github":
        return {
            "GITHUB_OWNER_AND_REPOSITORY": "octo-org/hello",
            "GITHUB_EVENT_TYPES": "push",
            "GITHUB_WEBHOOK_SECRET": "image-secret",
        }, _a_signed_ping_is_forwarded
    if service.package == "springhead-kafka":
        return _kafka_settings(request)
    if service.package in ("springhead-apiserver", "springhead-controller"):
        kube = request.getfixturevalue("kube")
        if service.package == "springhead-apiserver":
            return {
                "APISERVER_RESOURCES": '[{"apiVersion": "v1", "kind": "ConfigMap"}]',
                "APISERVER_KUBECONFIG": str(kube.kubeconfig),
                "NAMESPACE": "default",
            }, _no_events
        return {
            "CONTROLLER_KUBECONFIG": str(kube.kubeconfig),
            "CONTROLLER_LEADER_ELECTION": "false",
            "NAMESPACE": "default",
        }, _no_events
    if service.package == "feed-source":
        feed = tmp_path / "feed.xml"
        feed.write_text(
            "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>T</title>"
            "<link>https://example.org/</link><description>d</description><item>"
            "<guid isPermaLink='false'>urn:item:1</guid><title>One</title>"
            "<link>https://example.org/1</link><pubDate>Sun, 22 Nov 2026 05:00:00 GMT</pubDate>"
            "</item></channel></rss>"
        )
        return {"FEED_URL": feed.as_uri(), "FEED_EMIT_EXISTING": "true"}, _a_feed_item_arrives
    raise AssertionError(f"no settings for {service}")


#: The services whose images install uvloop (``springhead[uvloop]``), so that the default
#: SPRINGHEAD_EVENT_LOOP=auto runs them on it; every other image runs on asyncio's loop.
THROUGHPUT_LOOP = {
    "springhead-http": "uvloop",
    "springhead-github": "uvloop",
}


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {
        path.relative_to(root).as_posix(): (path.lstat().st_size, path.lstat().st_mtime_ns)
        for path in root.rglob("*")
    }


async def _healthcheck(image: BuiltImage, env: Mapping[str, str]) -> int:
    """Run the image's HEALTHCHECK command as Docker would (in the container's env); its exit."""
    process = await asyncio.create_subprocess_exec(
        *image.healthcheck_command(env),
        env=image.host_env(env),
        cwd=image.host_workdir(),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    return await asyncio.wait_for(process.wait(), 30)


async def test_the_image_runs_reports_healthy_and_writes_nothing(
    service: Service,
    image_builds: ImageBuilds,
    sink: RecordingSink,
    run_image: Callable[[BuiltImage, Mapping[str, str]], Awaitable[SourceProcess]],
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    image = image_builds.build(service)
    settings, exercise = _settings(service, request, tmp_path)
    [port] = free_ports(1)
    env = adapter_env(sink.url, SPRINGHEAD_PORT=str(port), SPRINGHEAD_HOST="127.0.0.1", **settings)
    before = _snapshot(image.root)

    process = await run_image(image, env)
    # The controller sends no events: it runs in the process host, which logs "process started".
    kind = "process" if service.package == "springhead-controller" else "source"
    started = await process.wait_for_log(f"{kind} started")
    assert started["event_loop"] == THROUGHPUT_LOOP.get(service.package, "asyncio")
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
            assert response.status == 200
    assert await _healthcheck(image, env) == 0
    await exercise(sink, port)
    assert await process.stop() == 0, process.stderr_text()

    assert await _healthcheck(image, env) != 0  # the check fails once the service is gone
    assert _snapshot(image.root) == before, "the service wrote into the image's file system"


def test_bad_settings_stop_the_image_with_one_clear_line(
    image_builds: ImageBuilds, tmp_path: Path, all_services: tuple[Service, ...]
) -> None:
    [ping] = [service for service in all_services if service.package == "springhead-ping"]
    image = image_builds.build(ping)
    env = adapter_env("http://127.0.0.1:9/", PING_SCHEDULE="not a schedule")
    ran = subprocess.run(
        image.command(env),
        env=image.host_env(env),
        cwd=image.host_workdir(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode != 0
    assert "PING_SCHEDULE" in ran.stderr


def test_a_builder_that_misses_a_workspace_member_fails_clearly(
    image_builds: ImageBuilds, tmp_path: Path
) -> None:
    # uv reads the lock against the whole workspace: a member left out of the build (here by
    # dropping its COPY) stops the build with uv's reason instead of resolving something else.
    text = (REPO / "sources/ping/Dockerfile").read_text()
    line = "COPY examples/feed/pyproject.toml examples/feed/\n"
    assert line in text
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(text.replace(line, ""))
    with pytest.raises(
        DockerfileError, match=r"RUN exited 1[\s\S]*`feed-source`[\s\S]*not a workspace member"
    ):
        build_offline(
            parse_dockerfile(dockerfile),
            context=image_builds.context,
            workspace=tmp_path / "build",
            base_env=image_builds.base_env(),
            run_env=image_builds.run_env(),
            external_images=image_builds.external_image,
        )


def test_a_dependency_missing_from_the_lock_stops_the_build(
    image_builds: ImageBuilds, tmp_path: Path
) -> None:
    # --locked: a pyproject that asks for more than uv.lock holds (pyyaml is in the lock, for the
    # controller) fails, never re-locks. To tell that the lock is out of date uv must resolve,
    # which reads the index: this one build may reach PyPI, as a real `docker build` can, so the
    # outcome does not depend on what uv's cache holds (offline, a fresh cache fails the resolve
    # before the lock check). Without --locked the same build would re-lock and succeed.
    run_env = {k: v for k, v in image_builds.run_env().items() if k != "UV_OFFLINE"}
    run_env.update(
        (name, os.environ[name]) for name in NETWORK_SETTINGS if name in os.environ
    )  # the host's way to PyPI: its CA bundle (a TLS-inspecting proxy) and proxies
    context = tmp_path / "context"
    shutil.copytree(image_builds.context, context)
    pyproject = context / "sources/ping/pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace('"tzdata>=2024.1",', '"tzdata>=2024.1", "pyyaml>=6",')
    )
    with pytest.raises(
        DockerfileError, match=r"RUN exited[\s\S]*lockfile[\s\S]*needs to be updated"
    ):
        build_offline(
            parse_dockerfile(REPO / "sources/ping/Dockerfile"),
            context=context,
            workspace=tmp_path / "build",
            base_env=image_builds.base_env(),
            run_env=run_env,
            external_images=image_builds.external_image,
        )
