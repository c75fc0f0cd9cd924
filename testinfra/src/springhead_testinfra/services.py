"""The repository's services and their images, built with podman from the one ``Dockerfile``.

A service is a workspace member with one console script that runs on the shared runtime
(``springhead``); nothing lists them by hand. Each optional-dependency extra of a service is one
more image of it, built with the extra installed (``EXTRA`` build argument): ``springhead-github``
with ``hooks`` is ``springhead-github-hooks``, the image the chart's hook Jobs run.

:class:`ImageBuilds` builds each image on first use, over the repository as the build context, on
top of the base images :func:`springhead_testinfra.images.ensure_base_images` made; podman's layer
cache keeps unchanged layers between sessions. The images tier and the e2e tier share it.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import re
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .images import RUN_FLAGS, BuiltImage, Podman
from .process import ComponentError

__all__ = [
    "DOCKERFILE", "REPO", "SERVICES", "ImageBuilds", "Service", "discover_services",
    "revision_flags",
]  # fmt: skip

#: The repository (the build context).
REPO = Path(__file__).resolve().parents[3]
#: The one Dockerfile every service's image is built from.
DOCKERFILE = REPO / "Dockerfile"
#: The checkout's tag for its test images (a digest of its path).
CHECKOUT = "c" + hashlib.sha256(str(REPO).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Service:
    """One image of a service: a workspace member with a console script on the shared runtime,
    with one of its optional-dependency extras installed or none."""

    #: Its folder in the repository (the ``SERVICE`` build argument).
    directory: str
    #: Its distribution.
    package: str
    #: Its import name.
    module: str
    #: The extra installed into this image (the ``EXTRA`` build argument); empty: none.
    extra: str = ""

    @property
    def name(self) -> str:
        """The image's name as ``make images`` tags it: the package, then ``-<extra>``."""
        return f"{self.package}-{self.extra}" if self.extra else self.package

    @property
    def tag(self) -> str:
        """The name its test image gets: tagged with the checkout it is built from, so that two
        checkouts (git worktrees) sharing the cache's podman storage never test each other's
        image."""
        return f"localhost/springhead-test-{self.name}:{CHECKOUT}"

    def __str__(self) -> str:
        return self.name


def discover_services(repo: Path = REPO) -> tuple[Service, ...]:
    """The workspace members that are services (a console script, and ``springhead`` among
    their dependencies), each once without extras and once per optional-dependency extra."""
    root = tomllib.loads((repo / "pyproject.toml").read_text())
    found = []
    for pattern in root["tool"]["uv"]["workspace"]["members"]:
        for pyproject in sorted(repo.glob(f"{pattern}/pyproject.toml")):
            project = tomllib.loads(pyproject.read_text())["project"]
            requires = {
                re.split(r"[\s\[<>=!~;]", d, maxsplit=1)[0] for d in project["dependencies"]
            }
            scripts = project.get("scripts", {})
            if "springhead" in requires and len(scripts) == 1:
                [target] = scripts.values()
                directory = pyproject.parent.relative_to(repo).as_posix()
                module = target.split(":")[0].split(".")[0]
                for extra in ("", *sorted(project.get("optional-dependencies", {}))):
                    found.append(Service(directory, project["name"], module, extra))
    return tuple(sorted(found, key=lambda service: (service.directory, service.extra)))


def revision_flags(revision: str) -> tuple[str, ...]:
    """``podman build`` flags that set what the Dockerfile sets from ``REVISION``, again.

    podman's layer cache (buildah 1.28, podman 4.3) keys LABEL and ENV steps by their text, not
    by the build arguments they expand: a new commit that changes no file of the image would get
    the previous build's cached configuration, with the previous revision. ``--label`` and
    ``--env`` apply to the final image whatever the cache holds (``make images`` passes them too).
    """
    return (
        "--label", f"org.opencontainers.image.revision={revision}",
        "--env", f"SPRINGHEAD_REVISION={revision}",
    )  # fmt: skip


#: Every service image of the repository.
SERVICES = discover_services()


class ImageBuilds:
    """Each service's image, built on first use (once per instance)."""

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
        if service.name not in self.images:
            build_args = {
                "SERVICE": service.directory,
                "REVISION": self.revision,
                "VERSION": self.version,
            }
            if service.extra:
                build_args["EXTRA"] = service.extra
            self.images[service.name] = self.podman.build(
                DOCKERFILE,
                REPO,
                service.tag,
                build_args=build_args,
                extra=(
                    *revision_flags(self.revision),
                    *("--label", f"org.opencontainers.image.version={self.version}"),
                ),
            )
        return self.images[service.name]

    def config(self, service: Service) -> dict[str, Any]:
        """The image's configuration (``podman image inspect``'s ``Config``, with the
        ``Healthcheck`` podman keeps beside it)."""
        found = self.podman.inspect(self.build(service).tag)
        if found is None:
            raise ComponentError(f"no image {self.build(service).tag}")
        return {**found["Config"], "Healthcheck": found.get("Healthcheck")}

    def python(self, service: Service, code: str) -> Any:
        """Run ``code`` with the image's Python in a throw-away container (the image's user,
        env, read-only root); return what it printed, read as JSON."""
        done = self.podman.run(
            "run", "--rm", *RUN_FLAGS, "--entrypoint", "python", self.build(service).tag, "-c", code
        )
        return json.loads(done.stdout)
