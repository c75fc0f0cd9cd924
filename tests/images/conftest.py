"""Shared pieces of the image tests: the services, their real builds, their containers.

Every image is built by podman from the repository's one ``Dockerfile`` (the service is its
``SERVICE`` build argument) over the repository as the build context, on top of the Python base
and the uv image testinfra makes (no registry is reachable; see springhead_testinfra.images).
Each service is built once per session; podman's layer cache keeps unchanged layers between
sessions.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from springhead_testinfra.images import RUN_FLAGS, BuiltImage, Container, Podman

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"


@dataclass(frozen=True)
class Service:
    """One service: a workspace member with a console script that runs on the shared runtime."""

    #: Its folder in the repository (the ``SERVICE`` build argument).
    directory: str
    #: Its distribution.
    package: str
    #: Its import name.
    module: str

    @property
    def tag(self) -> str:
        """The name its test image gets."""
        return f"localhost/springhead-test-{self.package}:latest"

    def __str__(self) -> str:
        return self.package


def discover_services() -> tuple[Service, ...]:
    """The workspace members that are services: a console script, and ``springhead`` (the
    shared runtime) among their dependencies. Nothing lists them by hand."""
    root = tomllib.loads((REPO / "pyproject.toml").read_text())
    found = []
    for pattern in root["tool"]["uv"]["workspace"]["members"]:
        for pyproject in sorted(REPO.glob(f"{pattern}/pyproject.toml")):
            project = tomllib.loads(pyproject.read_text())["project"]
            requires = {
                re.split(r"[\s\[<>=!~;]", d, maxsplit=1)[0] for d in project["dependencies"]
            }
            scripts = project.get("scripts", {})
            if "springhead" in requires and len(scripts) == 1:
                [target] = scripts.values()
                found.append(
                    Service(
                        pyproject.parent.relative_to(REPO).as_posix(),
                        project["name"],
                        target.split(":")[0].split(".")[0],
                    )
                )
    return tuple(sorted(found, key=lambda service: service.directory))


SERVICES = discover_services()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every test that takes ``service`` once per service."""
    if "service" in metafunc.fixturenames:
        metafunc.parametrize("service", SERVICES, ids=[s.package for s in SERVICES])


@pytest.fixture(scope="session")
def all_services() -> tuple[Service, ...]:
    """Every service."""
    return SERVICES


class ImageBuilds:
    """Each service's image, built on first use (once per session)."""

    def __init__(self, podman: Podman) -> None:
        self.podman = podman
        self.images: dict[str, BuiltImage] = {}
        #: The commit the images are built from (as `make images` gives it), if in a checkout.
        self.revision = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=REPO, check=False
        ).stdout.strip()
        #: The packages' version (the workspace's, from the git tags), as `make images` gives it.
        self.version = importlib.metadata.version("springhead")

    def build(self, service: Service) -> BuiltImage:
        """The service's image."""
        if service.package not in self.images:
            self.images[service.package] = self.podman.build(
                DOCKERFILE,
                REPO,
                service.tag,
                build_args={
                    "SERVICE": service.directory,
                    "REVISION": self.revision,
                    "VERSION": self.version,
                },
                # as `make images` does: podman's layer cache keeps LABEL and ENV values of an
                # earlier build of the same code (it does not compare build arguments there)
                flags=(
                    *("--label", f"org.opencontainers.image.revision={self.revision}"),
                    *("--label", f"org.opencontainers.image.version={self.version}"),
                    *("--env", f"SPRINGHEAD_REVISION={self.revision}"),
                ),
            )
        return self.images[service.package]

    def config(self, service: Service) -> dict[str, Any]:
        """The image's configuration (``podman image inspect``'s ``Config``, with the
        ``Healthcheck`` podman keeps beside it)."""
        found = self.podman.inspect(self.build(service).tag)
        assert found is not None
        return {**found["Config"], "Healthcheck": found.get("Healthcheck")}

    def python(self, service: Service, code: str) -> Any:
        """Run ``code`` with the image's Python in a throw-away container (the image's user,
        env, read-only root); return what it printed, read as JSON."""
        done = self.podman.run(
            "run", "--rm", *RUN_FLAGS, "--entrypoint", "python", self.build(service).tag, "-c", code
        )
        return json.loads(done.stdout)


@pytest.fixture(scope="session")
def image_builds(podman: Podman) -> ImageBuilds:
    """The session's image builds."""
    return ImageBuilds(podman)


@pytest.fixture
def containers(podman: Podman) -> Iterator[list[Container]]:
    """Containers a test starts (append them); each is removed after the test."""
    started: list[Container] = []
    yield started
    for container in started:
        container.remove()
