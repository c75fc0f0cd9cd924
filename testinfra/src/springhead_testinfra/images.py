"""Container images built and run with podman: no Docker daemon, no registry.

:func:`ensure_tools` installs podman, mmdebstrap and runc (Debian packages, with ``apt-get``) when
they are missing, as the other components obtain what they need. No registry is reachable, so the
two images the Dockerfile starts ``FROM`` are made here and cached, keyed by their inputs:

* the Python base (:data:`versions.PYTHON_IMAGE`): a Debian root file system made by mmdebstrap
  from the machine's own apt sources (python3, ca-certificates), imported with ``podman import``;
* the uv image (:data:`versions.UV_IMAGE`): ``FROM scratch`` plus the ``uv`` binary of the pinned
  version (the one the Makefile installs from PyPI's wheel).

:class:`Podman` keeps its images in its own storage under the cache folder (``podman/``), so the
stand-ins never shadow a real image in the machine's storage, and layers built once stay for the
next session. :meth:`Podman.build` builds a service with the host's CA bundle mounted read-only
for uv (a TLS-inspecting proxy's root must be trusted; nothing of it reaches the image).
:class:`Container` runs an image with the flags a restricted kubelet would use: read-only root,
every capability dropped, no new privileges, host networking (the tests' sink is on loopback).

Flags these machines need (cgroup v1 with a hybrid cgroup2 mount, no systemd): builds use
``--isolation chroot`` (crun refuses hybrid cgroups), containers ``--runtime runc``, explicit
rlimits (the defaults are refused without CAP_SYS_RESOURCE) and ``--health-interval disable``
(no systemd timer; ``podman healthcheck run`` is called explicitly).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import versions
from .cache import cache_root, is_complete, locked, mark_complete
from .debian import ensure_packages
from .process import ComponentError, progress, run_step, wait_until, with_tail

__all__ = [
    "BUILD_FLAGS",
    "BuiltImage",
    "Container",
    "HARDENED_FLAGS",
    "HOST_CA_BUNDLE",
    "MACHINE_FLAGS",
    "Podman",
    "RUN_FLAGS",
    "base_recipe",
    "dockerfile_args",
    "ensure_base_images",
    "ensure_tools",
    "fetch_images",
    "is_ready",
]

#: The Debian packages that provide the tools (crun, buildah, conmon come as dependencies).
PACKAGES = ("podman", "mmdebstrap", "runc")
#: What the Python base holds on top of Debian's ``apt`` variant: as the official
#: python:3.11-slim-bookworm, also Debian's time zone data (/usr/share/zoneinfo), which the
#: images use instead of PyPI's tzdata.
BASE_PACKAGES = ("python3", "python3-venv", "python-is-python3", "ca-certificates", "tzdata")
#: Documentation and translations are left out of the base, as the official slim images do.
BASE_DPKG_OPTIONS = (
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/locale/*",
)
#: The label that records which inputs a stand-in image was made from.
KEY_LABEL = "org.springhead.testinfra.key"
#: Where Debian keeps the CA bundle (the host's, mounted over the builder's for uv).
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
#: ``podman build`` flags: Docker's format keeps HEALTHCHECK; nothing is pulled.
BUILD_FLAGS = ("--format", "docker", "--pull=never", "--network", "host", "--isolation", "chroot")
#: ``podman run`` flags every container needs on these machines: runc (crun refuses hybrid
#: cgroups), host networking (the tests' sink is on loopback), explicit rlimits (the defaults are
#: refused without CAP_SYS_RESOURCE), no health-check timer (no systemd; tests run the check).
MACHINE_FLAGS = (
    "--runtime",
    "runc",
    "--network",
    "host",
    "--ulimit",
    "nofile=16384:16384",
    "--ulimit",
    "nproc=16384:16384",
    "--health-interval",
    "disable",
)
#: ``podman run`` flags of a hardened pod: read-only root, every capability dropped, no new
#: privileges.
HARDENED_FLAGS = (
    "--read-only",
    # Kubernetes' readOnlyRootFilesystem mounts no writable /tmp, /var/tmp or /run either.
    "--read-only-tmpfs=false",
    "--cap-drop=all",
    "--security-opt",
    "no-new-privileges",
)
#: ``podman run`` flags: the restrictions of a hardened pod, and what these machines need.
RUN_FLAGS = MACHINE_FLAGS + HARDENED_FLAGS
_APT_SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))


def _images_dir() -> Path:
    folder = cache_root() / "images"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _key(recipe: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


# --- tools ------------------------------------------------------------------------------------


def ensure_tools() -> None:
    """Install podman, mmdebstrap and runc with apt-get when any is missing (needs root)."""
    ensure_packages(PACKAGES)


# --- the Python base and the uv image ---------------------------------------------------------


def _apt_sources() -> list[Path]:
    """The machine's apt source files (one-line ``.list`` and deb822 ``.sources``)."""
    found: list[Path] = []
    for path in _APT_SOURCES:
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            found += sorted(p for p in path.iterdir() if p.suffix in (".list", ".sources"))
    return [path for path in found if path.read_text().strip()]


def base_recipe() -> dict[str, Any]:
    """What the Python base is made from: its cache key (a change makes a new base)."""
    return {
        "suite": versions.DEBIAN_SUITE,
        "variant": "apt",
        "packages": list(BASE_PACKAGES),
        "dpkg_options": list(BASE_DPKG_OPTIONS),
        "sources": {str(path): path.read_text() for path in _apt_sources()},
        "recipe": versions.IMAGES_RECIPE,
    }


def _base_tar(recipe: dict[str, Any]) -> Path:
    """The base's root file system as a tar, made by mmdebstrap once per recipe."""
    folder = _images_dir() / f"base-{_key(recipe)}"
    tar = folder / "base.tar"
    with locked(f"images-{folder.name}"):
        if is_complete(folder, recipe) and tar.is_file():
            return tar
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        sources = _apt_sources()
        if not sources:
            raise ComponentError("no apt sources on this machine for mmdebstrap to read")
        argv: list[str | Path] = [
            "mmdebstrap",
            "--variant=apt",
            f"--include={','.join(BASE_PACKAGES)}",
            *(f"--dpkgopt={option}" for option in BASE_DPKG_OPTIONS),
            versions.DEBIAN_SUITE,
            tar,
            *sources,
        ]
        progress(f"making the Python base with mmdebstrap (minutes; log: {folder / 'build.log'})")
        run_step(argv, what="mmdebstrap", log_path=folder / "build.log", timeout=1800)
        mark_complete(folder, recipe)
    return tar


def _host_uv() -> Path:
    """The uv running this session (``uv run`` exports it as ``UV``), else the one on PATH."""
    found = os.environ.get("UV") or shutil.which("uv")
    if not found:
        raise ComponentError("uv is not on PATH; `make` installs it (UV_VERSION in the Makefile)")
    return Path(found).resolve()


def _uv_binary() -> Path:
    """The pinned uv's binary (the one from PyPI's wheel that the Makefile installs)."""
    uv = _host_uv()
    shown = subprocess.run([uv, "--version"], capture_output=True, text=True, check=False)
    words = shown.stdout.split()
    if shown.returncode != 0 or len(words) < 2 or words[1] != versions.UV_VERSION:
        raise ComponentError(
            f"{uv} is not uv {versions.UV_VERSION} (it says {shown.stdout.strip()!r}); the uv "
            "image must hold the pinned uv: run through `make` or `uv run` with that uv"
        )
    return uv


@dataclass(frozen=True)
class BuiltImage:
    """An image in a :class:`Podman`'s storage."""

    #: Its name (``localhost/springhead-ping:test``).
    tag: str
    #: Its id.
    id: str
    #: Seconds the build took (0 when it was already there).
    seconds: float
    #: The build's log.
    log: Path


@dataclass
class Podman:
    """podman with its own storage: ``--root`` and ``--runroot`` (``None``: the machine's)."""

    storage: Path | None = None
    runroot: Path | None = None
    binary: str = field(default_factory=lambda: shutil.which("podman") or "podman")

    @classmethod
    def for_tests(cls) -> Podman:
        """podman on the cache's own storage (installed first when missing)."""
        ensure_tools()
        storage = cache_root() / "podman" / "storage"
        storage.mkdir(parents=True, exist_ok=True)
        # The run root holds sockets, whose paths must stay short: /tmp, named after the storage.
        digest = hashlib.sha256(str(storage).encode()).hexdigest()[:12]
        runroot = Path(tempfile.gettempdir()) / f"springhead-podman-{digest}"
        return cls(storage, runroot)

    def argv(self, *args: str | Path) -> list[str]:
        """The command line of ``podman <args>`` on this storage."""
        flags: list[str] = []
        if self.storage is not None:
            flags += ["--root", str(self.storage)]
        if self.runroot is not None:
            flags += ["--runroot", str(self.runroot)]
        return [self.binary, *flags, *(str(arg) for arg in args)]

    def run(
        self, *args: str | Path, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """Run ``podman <args>``, capturing its output; a failure raises with podman's words."""
        done = subprocess.run(
            self.argv(*args),
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            raise ComponentError(
                f"podman {' '.join(map(str, args))} exited {done.returncode}:\n"
                f"{done.stderr.strip()}\n{done.stdout.strip()}"
            )
        return done

    def inspect(self, image: str) -> dict[str, Any] | None:
        """``podman image inspect`` of ``image`` (``None`` when there is no such image)."""
        done = self.run("image", "inspect", image, check=False)
        if done.returncode != 0:
            return None
        found: list[dict[str, Any]] = json.loads(done.stdout)
        return found[0]

    def label(self, image: str, name: str) -> str | None:
        """Label ``name`` of ``image`` (``None`` when the image or the label is absent)."""
        found = self.inspect(image)
        labels = ((found or {}).get("Config") or {}).get("Labels") or {}
        value = labels.get(name)
        return str(value) if value is not None else None

    def size(self, image: str) -> int:
        """The image's size in bytes, as ``podman images`` reports it."""
        found = self.inspect(image)
        if found is None:
            raise ComponentError(f"no image {image}")
        return int(found["Size"])

    def build(
        self,
        dockerfile: Path,
        context: Path,
        tag: str,
        *,
        build_args: Mapping[str, str] | None = None,
        ca_bundle: Path | None = HOST_CA_BUNDLE,
        log: Path | None = None,
        extra: Sequence[str] = (),
    ) -> BuiltImage:
        """``podman build`` ``dockerfile`` over ``context`` as ``tag``; layers are reused.
        ``extra``: more ``podman build`` flags.

        ``ca_bundle`` (when the file exists) is mounted read-only over the builder's CA bundle
        with ``UV_SYSTEM_CERTS=1``, so uv trusts what the host trusts (a TLS-inspecting proxy);
        mounts are not part of any layer. A failure raises with the build log's tail.
        """
        log = log or _images_dir() / "builds" / f"{re.sub(r'[^A-Za-z0-9.-]+', '_', tag)}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("")
        argv: list[str | Path] = ["build", *BUILD_FLAGS, "-f", dockerfile, "-t", tag]
        for name, value in (build_args or {}).items():
            argv += ["--build-arg", f"{name}={value}"]
        if ca_bundle is not None and ca_bundle.is_file():
            argv += ["-v", f"{ca_bundle}:{HOST_CA_BUNDLE}:ro", "--build-arg", "UV_SYSTEM_CERTS=1"]
        argv += extra
        argv.append(context)
        started = time.monotonic()
        run_step(self.argv(*argv), what=f"podman build {tag}", log_path=log, timeout=1800)
        seconds = time.monotonic() - started
        found = self.inspect(tag)
        if found is None:
            raise ComponentError(with_tail(f"podman build left no image {tag}", log))
        return BuiltImage(tag, str(found["Id"]), seconds, log)


def ensure_base_images(podman: Podman) -> None:
    """Put the Python base and the uv image into ``podman``'s storage, unless there already
    (made from the same inputs)."""
    recipe = base_recipe()
    key = _key(recipe)
    with locked("images-base-import"):
        if podman.label(versions.PYTHON_IMAGE, KEY_LABEL) != key:
            tar = _base_tar(recipe)
            progress(f"importing the Python base as {versions.PYTHON_IMAGE}")
            podman.run(
                "import",
                "--change",
                'CMD ["python3"]',
                "--change",
                "ENV LANG=C.UTF-8",
                "--change",
                f"LABEL {KEY_LABEL}={key}",
                tar,
                versions.PYTHON_IMAGE,
                timeout=900,
            )
    uv = _uv_binary()
    uv_key = hashlib.sha256(uv.read_bytes()).hexdigest()[:16]
    with locked("images-uv"):
        if podman.label(versions.UV_IMAGE, KEY_LABEL) == uv_key:
            return
        with tempfile.TemporaryDirectory(prefix="uv-image-") as scratch:
            context = Path(scratch)
            shutil.copy2(uv, context / "uv")
            (context / "Containerfile").write_text(
                f"FROM scratch\nLABEL {KEY_LABEL}={uv_key}\nCOPY uv /uv\n"
            )
            progress(f"building {versions.UV_IMAGE} from {uv}")
            podman.build(
                context / "Containerfile",
                context,
                versions.UV_IMAGE,
                ca_bundle=None,
                log=_images_dir() / "uv-image.log",
            )


def is_ready() -> bool:
    """Tell whether the tools are installed and both base images are in the tests' storage."""
    if any(shutil.which(package) is None for package in PACKAGES):
        return False
    podman = Podman.for_tests()
    try:
        uv_key = hashlib.sha256(_uv_binary().read_bytes()).hexdigest()[:16]
    except ComponentError:
        return False
    return (
        podman.label(versions.PYTHON_IMAGE, KEY_LABEL) == _key(base_recipe())
        and podman.label(versions.UV_IMAGE, KEY_LABEL) == uv_key
    )


def fetch_images(*, force: bool = False) -> Path:
    """Install the tools and make both base images in the tests' storage; return the storage."""
    podman = Podman.for_tests()
    if force:
        shutil.rmtree(_images_dir() / f"base-{_key(base_recipe())}", ignore_errors=True)
        for image in (versions.PYTHON_IMAGE, versions.UV_IMAGE):
            podman.run("rmi", "--force", image, check=False)
    ensure_base_images(podman)
    return cache_root() / "podman" / "storage"


def dockerfile_args(dockerfile: Path) -> dict[str, str]:
    """The ``ARG NAME=default`` lines before the first ``FROM`` (the file's global arguments)."""
    found: dict[str, str] = {}
    for line in dockerfile.read_text().splitlines():
        if re.match(r"^\s*FROM\s", line, re.I):
            break
        match = re.match(r"^\s*ARG\s+([A-Za-z_][A-Za-z0-9_]*)=(\S*)\s*$", line, re.I)
        if match:
            found[match.group(1)] = match.group(2)
    return found


# --- containers -------------------------------------------------------------------------------


class Container:
    """One container of an image, started detached with ``flags`` (:data:`RUN_FLAGS` unless
    given) and ``env`` (``extra``: more ``podman run`` flags; ``command``: arguments after the
    image).

    :meth:`stop` is ``podman stop`` (SIGTERM, then SIGKILL after the timeout) and returns the
    container's exit code; :meth:`remove` removes it whatever its state.
    """

    def __init__(
        self,
        podman: Podman,
        image: str,
        env: Mapping[str, str],
        *,
        extra: Sequence[str] = (),
        command: Sequence[str] = (),
        name: str | None = None,
        flags: Sequence[str] = RUN_FLAGS,
    ) -> None:
        self.podman = podman
        self.flags = tuple(flags)
        self.image = image
        self.env = dict(env)
        self.extra = tuple(extra)
        self.command = tuple(command)
        self.name = name or f"springhead-test-{uuid.uuid4().hex[:12]}"
        self.started = False

    def start(self) -> Container:
        """``podman run --detach``; raises with podman's words when it cannot start."""
        args: list[str] = ["run", "--detach", "--name", self.name, *self.flags, *self.extra]
        for key, value in self.env.items():
            args += ["--env", f"{key}={value}"]
        self.started = True
        self.podman.run(*args, self.image, *self.command)
        return self

    def logs(self) -> str:
        """Everything the container wrote (stdout and stderr, interleaved)."""
        done = self.podman.run("logs", self.name, check=False)
        return done.stdout + done.stderr

    def inspect(self) -> dict[str, Any]:
        """``podman container inspect`` of the container."""
        done = self.podman.run("container", "inspect", self.name)
        found: list[dict[str, Any]] = json.loads(done.stdout)
        return dict(found[0])

    def state(self) -> dict[str, Any]:
        """``podman container inspect``'s State."""
        return dict(self.inspect()["State"])

    @property
    def running(self) -> bool:
        """Whether the container's process is still running."""
        return bool(self.state().get("Running"))

    def wait_for_log(
        self, message: str, *, timeout: float = 60, running: bool = True
    ) -> dict[str, Any]:
        """The first JSON log line whose ``msg`` is ``message``, polled from the container's log.

        Raises :class:`ComponentError` with the log when ``timeout`` passes, or (``running``)
        when the container exits first.
        """

        def logged() -> dict[str, Any] | None:
            for line in self.logs().splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if isinstance(entry, dict) and entry.get("msg") == message:
                    return entry
            if running and not self.running:
                return {"exited": self.state().get("ExitCode")}
            return None

        try:
            found = wait_until(logged, timeout=timeout, what=f"log line {message!r}")
        except ComponentError as exc:
            raise ComponentError(self.failure(str(exc))) from None
        if "exited" in found and found.get("msg") != message:
            raise ComponentError(self.failure(f"exited ({found['exited']}) before {message!r}"))
        return found

    def exec(self, *argv: str) -> subprocess.CompletedProcess[str]:
        """``podman exec`` in the running container (its user, env and working dir)."""
        return self.podman.run("exec", self.name, *argv, check=False, timeout=60)

    def healthcheck(self) -> int:
        """``podman healthcheck run``: 0 healthy, else unhealthy or not running."""
        return self.podman.run("healthcheck", "run", self.name, check=False, timeout=60).returncode

    def stop(self, timeout: int = 30) -> int:
        """``podman stop`` (SIGTERM, SIGKILL after ``timeout`` s); the container's exit code."""
        self.podman.run("stop", "--time", str(timeout), self.name, timeout=timeout + 60)
        return int(self.state()["ExitCode"])

    def remove(self) -> None:
        """Remove the container, stopping it first if it runs."""
        if self.started:
            self.podman.run("rm", "--force", "--time", "5", self.name, check=False)

    def failure(self, message: str) -> str:
        """``message`` with the container's log appended (for assertions that explain)."""
        return f"{message}\n--- podman logs {self.name} ---\n{self.logs()[-6000:]}"
