"""Shared pieces of the image tests: the services, their offline builds, a process runner.

Every service's Dockerfile is built by :func:`springhead_testinfra.dockerfiles.build_offline`
(no Docker engine here): the build context is selected through the repository's
``.dockerignore``, the builder stage's ``uv sync`` steps run for real with a fresh venv, and the
runtime stage is assembled from what its ``COPY`` s take. Stand-ins, and nothing else: the host's
Python 3.11 (outside any venv) for ``python:3.11-slim-bookworm``, the uv on PATH for the
``ghcr.io/astral-sh/uv`` image (its version must match the pin), and uv's cache (offline) for the
cache mount.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from springhead_testinfra.dockerfiles import (
    BuiltImage,
    DockerIgnore,
    ExternalCopy,
    build_offline,
    parse_dockerfile,
)
from springhead_testing import SourceProcess

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Service:
    """One service with a Dockerfile."""

    #: Its folder in the repository (holds ``Dockerfile`` and ``pyproject.toml``).
    directory: str
    #: Its distribution (``uv sync --package``).
    package: str
    #: Its import name (``python -m``).
    module: str
    #: The heavy clients it needs (every other heavy client must be absent).
    clients: frozenset[str] = frozenset()
    #: The testinfra component its process needs to run (``kafka``, ``kube``), if any.
    needs: str | None = None

    @property
    def dockerfile(self) -> Path:
        """The service's Dockerfile."""
        return REPO / self.directory / "Dockerfile"

    def __str__(self) -> str:
        return self.package


SERVICES = (
    Service("sources/ping", "springhead-ping", "springhead_ping", frozenset({"apscheduler"})),
    Service("sources/http", "springhead-http", "springhead_http"),
    Service("sources/github", "springhead-github", "springhead_github", frozenset({"pygithub"})),
    Service(
        "sources/kafka", "springhead-kafka", "springhead_kafka", frozenset({"aiokafka"}), "kafka"
    ),
    Service(
        "sources/apiserver",
        "springhead-apiserver",
        "springhead_apiserver",
        frozenset({"kubernetes"}),
        "kube",
    ),
    Service(
        "controller",
        "springhead-controller",
        "springhead_controller",
        frozenset({"kubernetes"}),
        "kube",
    ),
    Service("examples/feed", "feed-source", "feed_source"),
)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every test that takes ``service`` once per service.

    A test that runs images (uses ``run_image``) gets the marker of the component the service
    needs, as a test using the ``kafka``/``kube`` fixture directly would.
    """
    if "service" in metafunc.fixturenames:
        runs = "run_image" in metafunc.fixturenames
        metafunc.parametrize(
            "service",
            [
                pytest.param(
                    service,
                    id=service.package,
                    marks=[getattr(pytest.mark, service.needs)] if runs and service.needs else [],
                )
                for service in SERVICES
            ],
        )


@pytest.fixture(scope="session")
def all_services() -> tuple[Service, ...]:
    """Every service with a Dockerfile."""
    return SERVICES


def _host_uv() -> str:
    """The uv running this session (``uv run`` exports it as UV), else the one on PATH."""
    found = os.environ.get("UV") or shutil.which("uv")
    if not found:
        pytest.fail("uv is not on PATH; `make` bootstraps it (see UV_VERSION in the Makefile)")
    return found


def _base_python() -> Path:
    """The host's Python outside any venv: the stand-in for python:3.11-slim-bookworm."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return Path(sys.base_prefix) / "bin" / version


class ImageBuilds:
    """Builds each service's image once per session, offline, into a temporary folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.context = root / "context"
        DockerIgnore.for_context(REPO).copy_context(REPO, self.context)
        self.tools = root / "tools"
        self.tools.mkdir()
        #: The uv that runs the Dockerfiles' uv commands (and reads the lock for the tests).
        self.uv = _host_uv()
        (self.tools / "uv").symlink_to(self.uv)
        self.uv_version = subprocess.run(
            [self.uv, "--version"], capture_output=True, text=True, check=True
        ).stdout.split()[1]
        self.images: dict[str, BuiltImage] = {}

    def base_env(self) -> dict[str, str]:
        """What a python:3.11-slim image (plus the uv image's binary) starts with."""
        path = [str(self.tools), str(_base_python().parent)]
        path += ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        return {"PATH": ":".join(path), "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8"}

    def run_env(self) -> dict[str, str]:
        """What RUN steps get on top of the image's ENV: the host Python, uv's cache, offline."""
        env = {"UV_PYTHON": str(_base_python()), "UV_OFFLINE": "1", "UV_NO_PROGRESS": "1"}
        if "UV_CACHE_DIR" in os.environ:
            env["UV_CACHE_DIR"] = os.environ["UV_CACHE_DIR"]
        return env

    def external_image(self, copy: ExternalCopy) -> None:
        """Stand in for ``COPY --from=ghcr.io/astral-sh/uv:<v>`` with the host's uv."""
        name, _, tag = copy.image.rpartition(":")
        assert name == "ghcr.io/astral-sh/uv", f"unexpected image {copy.image} in a COPY --from"
        assert tag == self.uv_version, (
            f"the Dockerfile pins uv {tag} but the uv here is {self.uv_version}; the install "
            "steps must run with the pinned uv (the Makefile bootstraps it)"
        )

    def build(self, service: Service) -> BuiltImage:
        """The service's image (built on first use); the builder stages are removed after."""
        if service.package not in self.images:
            workspace = self.root / service.package
            image = build_offline(
                parse_dockerfile(service.dockerfile),
                context=self.context,
                workspace=workspace,
                base_env=self.base_env(),
                run_env=self.run_env(),
                external_images=self.external_image,
            )
            # Only the final stage is the image: nothing of the builder may be needed at run time.
            for stage_root in workspace.iterdir():
                if stage_root.is_dir() and stage_root != image.root:
                    shutil.rmtree(stage_root)
            self.images[service.package] = image
        return self.images[service.package]


@pytest.fixture(scope="session")
def image_builds(tmp_path_factory: pytest.TempPathFactory) -> ImageBuilds:
    """The session's offline image builds (each service built once, on first use)."""
    if sys.version_info[:2] != (3, 11):
        pytest.fail("the images run python:3.11; the stand-in must be Python 3.11 too")
    return ImageBuilds(tmp_path_factory.mktemp("images"))


def image_process(image: BuiltImage, env: Mapping[str, str]) -> SourceProcess:
    """A process started from an image's ENTRYPOINT/CMD, with its working dir and exactly its
    ENV plus ``env`` (nothing from the test's environment)."""
    return SourceProcess(
        str(image.dockerfile.path),
        image.host_env(env),
        command=image.command(env),
        cwd=image.host_workdir(),
        inherit=(),
    )


@pytest.fixture
async def run_image() -> AsyncIterator[Callable[[BuiltImage, Mapping[str, str]], Any]]:
    """Start images' entry points; every process still running is stopped after the test."""
    started: list[SourceProcess] = []

    async def start(image: BuiltImage, env: Mapping[str, str]) -> SourceProcess:
        process = image_process(image, env)
        started.append(process)
        return await process.start()

    yield start
    for process in started:
        await process.stop()
