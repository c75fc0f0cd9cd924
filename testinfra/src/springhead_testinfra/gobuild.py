"""Build Go programs from the Go module proxy into the cache.

Each program is built in a throwaway *wrapper module* that requires it as a tool
(``go get -tool <package>@<version>``). For kube-apiserver the wrapper also redirects every
``k8s.io/<module>`` that Kubernetes' own go.mod points at ``./staging/...`` to the published
``k8s.io/<module>@v0.<minor>.<patch>``: that is what makes ``go install`` of kube-apiserver
impossible and the wrapper necessary.

The build uses the installed Go (``GOTOOLCHAIN=local``), ``CGO_ENABLED=0``, version ldflags so the
programs report their real version, and keeps GOMODCACHE and GOCACHE inside the cache folder.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import versions
from .cache import cache_root, component_dir, is_complete, locked, mark_complete, remove_tree
from .process import ComponentError, progress, require_tool, run_step, with_tail
from .versions import KUBERNETES_VERSION


@dataclass(frozen=True)
class GoProgram:
    """One Go program to build from the module proxy."""

    #: Name of the binary and of its cache folder.
    name: str
    #: Version that names the cache folder (and that the binary reports).
    version: str
    #: The main package, e.g. ``k8s.io/kubernetes/cmd/kube-apiserver``.
    package: str
    #: The version of the module that holds ``package``.
    package_version: str
    #: ``-X`` assignments (``importpath.name=value``) for the linker.
    x_flags: tuple[str, ...]
    #: Bumped when the recipe changes without a version change.
    recipe: int
    #: Arguments that print the version, and a text the output must contain.
    version_check: tuple[tuple[str, ...], str]
    #: Computes ``module=module@version`` replacements for the wrapper's go.mod.
    replacements: Callable[[], list[str]] = field(default=list)
    #: Computes ``-X`` assignments known only at build time (e.g. the release's date).
    build_x_flags: Callable[[], list[str]] = field(default=list)

    @property
    def home(self) -> Path:
        """The cache folder of this program at this version."""
        return component_dir(self.name, self.version)

    @property
    def binary(self) -> Path:
        """Where the finished binary lives."""
        return self.home / "bin" / self.name


def go_env() -> dict[str, str]:
    """Return the environment for every ``go`` command: local toolchain, caches in the cache."""
    root = cache_root() / "go"
    env = dict(os.environ)
    env.update(
        GOPATH=str(root),
        GOMODCACHE=str(root / "mod"),
        GOCACHE=str(root / "build"),
        GOTOOLCHAIN="local",
        CGO_ENABLED="0",
        GO111MODULE="on",
        GOWORK="off",
        GOFLAGS="-mod=mod -buildvcs=false",
    )
    # The compiler spends a fifth of its CPU time collecting garbage at the default GOGC=100;
    # 400 cuts that (measured: -18% CPU building etcd) for a few hundred MB more per compile.
    env.setdefault("GOGC", "400")
    return env


def check_go() -> str:
    """Return the ``go`` executable after checking it is new enough for the pinned programs."""
    need = ".".join(map(str, versions.GO_MINIMUM))
    go = require_tool("go", f"install Go {need} or newer")
    out = subprocess.run(
        [go, "env", "GOVERSION"], capture_output=True, text=True, check=False, env=go_env()
    ).stdout.strip()
    match = re.match(r"go(\d+)\.(\d+)(?:\.(\d+))?", out)
    if match is None:
        raise ComponentError(f"cannot tell the version of {go} (go env GOVERSION said {out!r})")
    found = tuple(int(part or 0) for part in match.groups())
    if found < versions.GO_MINIMUM:
        raise ComponentError(f"{go} is {out}; the pinned Go components need go{need}+")
    return go


class GoBuild:
    """One build in a fresh staging folder beside the cache folder it will replace.

    The steps run ``go`` in ``src`` with :func:`go_env`, logging to ``build.log``; :meth:`install`
    marks the staging folder complete and renames it into place, so an interrupted or failed
    build never leaves a half-built folder where a complete one is looked for.
    """

    def __init__(self, home: Path, label: str) -> None:
        self.go = check_go()
        self.env = go_env()
        self.home = home
        self.label = label
        self.started = time.monotonic()
        self.staging = Path(tempfile.mkdtemp(prefix=f"{home.name}.", dir=cache_root()))
        self.src = self.staging / "src"
        self.src.mkdir()
        self.log = self.staging / "build.log"

    def step(self, *args: str, what: str, status: Callable[[], str] | None = None) -> None:
        """Run ``go <args>`` in ``src``; ``what`` names it in progress lines and errors."""
        run_step(
            [self.go, *args],
            what=f"{self.label}: {what}",
            log_path=self.log,
            env=self.env,
            cwd=self.src,
            status=status,
        )

    def check(self, argv: list[str], expected: str, failure: str) -> None:
        """Run the built program; :class:`ComponentError` (``failure``, its output and the build
        log's tail) unless its output contains ``expected``."""
        checked = subprocess.run(
            argv, capture_output=True, text=True, env=self.env, check=False, timeout=60
        )
        if expected not in checked.stdout + checked.stderr:
            raise ComponentError(
                with_tail(
                    f"{self.label}: built, but {failure}: {checked.stdout}{checked.stderr}",
                    self.log,
                )
            )

    def install(self, recipe: dict[str, Any]) -> None:
        """Mark the build complete with ``recipe`` and move it to its cache folder."""
        mark_complete(self.staging, recipe)
        remove_tree(self.home)
        self.staging.rename(self.home)
        progress(f"{self.label}: built in {time.monotonic() - self.started:.0f}s")


def _recipe(program: GoProgram) -> dict[str, Any]:
    return {
        "name": program.name,
        "version": program.version,
        "package": f"{program.package}@{program.package_version}",
        "x": list(program.x_flags),
        "recipe": program.recipe,
    }


def is_built(program: GoProgram) -> bool:
    """Tell whether the cache holds a finished build of ``program``."""
    return is_complete(program.home, _recipe(program)) and program.binary.is_file()


def build(program: GoProgram, *, force: bool = False) -> Path:
    """Build ``program`` into the cache unless it is there already; return the binary's path."""
    if not force and is_built(program):
        return program.binary
    with locked(program.home.name):
        if not force and is_built(program):
            return program.binary
        return _build_locked(program)


def _build_locked(program: GoProgram) -> Path:
    build = GoBuild(program.home, f"{program.name} {program.version}")
    progress(f"{build.label}: building from the Go module proxy (a cold build takes minutes)")
    build.step("mod", "init", f"springhead-testinfra.local/{program.name}", what="go mod init")
    replacements = program.replacements()
    if replacements:
        build.step(
            "mod", "edit", *[f"-replace={item}" for item in replacements], what="go mod edit"
        )
    modcache = Path(build.env["GOMODCACHE"]) / "cache" / "download"
    build.step(
        "get", "-tool", f"{program.package}@{program.package_version}",
        what="downloading modules",
        status=lambda: f"{sum(1 for _ in modcache.rglob('*.zip'))} module zips in the cache",
    )  # fmt: skip
    listed = subprocess.run(
        [build.go, "list", "-deps", program.package],
        capture_output=True, text=True, env=build.env, cwd=build.src, check=False,
    )  # fmt: skip
    total = len(listed.stdout.split()) if listed.returncode == 0 else 0
    mark = build.log.stat().st_size

    def compiled() -> str:
        with open(build.log, "rb") as handle:
            handle.seek(mark)
            count = sum(1 for line in handle if not line.startswith((b"$", b"\n")))
        return f"{count}/{total or '?'} packages compiled"

    output = build.staging / "bin" / program.name
    x_flags = [*program.x_flags, *program.build_x_flags()]
    ldflags = " ".join(["-s", "-w", *[f"-X {flag}" for flag in x_flags]])
    build.step(
        "build", "-v", "-trimpath", "-ldflags", ldflags, "-o", str(output), program.package,
        what="go build",
        status=compiled,
    )  # fmt: skip
    args, expected = program.version_check
    build.check(
        [str(output), *args],
        expected,
        f"`{program.name} {' '.join(args)}` did not report {expected!r}",
    )
    build.install(_recipe(program))
    return program.binary


# --- the programs -----------------------------------------------------------------------------


@functools.cache
def _kubernetes_module() -> tuple[str, str]:
    """Download Kubernetes' module; return (its go.mod text, its release time)."""
    env = go_env()
    found = subprocess.run(
        [check_go(), "mod", "download", "-json", f"k8s.io/kubernetes@{KUBERNETES_VERSION}"],
        capture_output=True, text=True, env=env, cwd=cache_root(), check=False,
    )  # fmt: skip
    try:
        info = json.loads(found.stdout)
        gomod = Path(info["GoMod"]).read_text()
        released = str(json.loads(Path(info["Info"]).read_text())["Time"])
    except (ValueError, KeyError, OSError) as exc:
        raise ComponentError(
            f"cannot read the go.mod of k8s.io/kubernetes@{versions.KUBERNETES_VERSION}: "
            f"{found.stdout}{found.stderr}"
        ) from exc
    return gomod, released


def _kubernetes_staging_replacements() -> list[str]:
    """Map each module Kubernetes takes from ./staging to its published release."""
    gomod, _released = _kubernetes_module()
    modules = re.findall(r"^\s*(k8s\.io/[\w.-]+)\s+=>\s+\./staging/", gomod, flags=re.MULTILINE)
    if not modules:
        raise ComponentError("found no ./staging replace directives in Kubernetes' go.mod")
    staging = versions.staging_version()
    return [f"{module}={module}@{staging}" for module in sorted(set(modules))]


_KUBE_VERSION_PACKAGES = ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")


def _kube_x_flags() -> tuple[str, ...]:
    values = {
        "gitVersion": versions.KUBERNETES_VERSION,
        "gitMajor": "1",
        "gitMinor": versions.kubernetes_minor(),
        "gitTreeState": "clean",
    }
    return tuple(
        f"{package}.{name}={value}"
        for package in _KUBE_VERSION_PACKAGES
        for name, value in values.items()
    )


def _kube_build_date() -> list[str]:
    """Report the release's own date (from the module proxy) as the build date."""
    _gomod, released = _kubernetes_module()
    return [f"{package}.buildDate={released}" for package in _KUBE_VERSION_PACKAGES]


KUBE_APISERVER = GoProgram(
    name="kube-apiserver",
    version=versions.KUBERNETES_VERSION,
    package="k8s.io/kubernetes/cmd/kube-apiserver",
    package_version=versions.KUBERNETES_VERSION,
    x_flags=_kube_x_flags(),
    recipe=versions.KUBE_RECIPE,
    version_check=(("--version",), f"Kubernetes {versions.KUBERNETES_VERSION}"),
    replacements=_kubernetes_staging_replacements,
    build_x_flags=_kube_build_date,
)

ETCD = GoProgram(
    name="etcd",
    version=versions.ETCD_VERSION,
    package="go.etcd.io/etcd/server/v3",
    package_version=versions.ETCD_VERSION,
    x_flags=(f"go.etcd.io/etcd/api/v3/version.GitSHA={versions.ETCD_VERSION}",),
    recipe=versions.KUBE_RECIPE,
    version_check=(("--version",), f"etcd Version: {versions.ETCD_VERSION.lstrip('v')}"),
)

HELM = GoProgram(
    name="helm",
    version=versions.HELM_VERSION,
    package="helm.sh/helm/v4/cmd/helm",
    package_version=versions.HELM_VERSION,
    x_flags=(
        f"helm.sh/helm/v4/internal/version.version={versions.HELM_VERSION}",
        "helm.sh/helm/v4/internal/version.metadata=",
        "helm.sh/helm/v4/internal/version.gitTreeState=clean",
    ),
    recipe=versions.HELM_RECIPE,
    version_check=(("version", "--short"), versions.HELM_VERSION),
)

PROMTOOL = GoProgram(
    name="promtool",
    version=versions.PROMETHEUS_VERSION,
    package="github.com/prometheus/prometheus/cmd/promtool",
    package_version=versions.PROMETHEUS_MODULE_VERSION,
    x_flags=(
        f"github.com/prometheus/common/version.Version={versions.PROMETHEUS_VERSION}",
        "github.com/prometheus/common/version.Branch=HEAD",
        f"github.com/prometheus/common/version.Revision={versions.PROMETHEUS_MODULE_VERSION}",
    ),
    recipe=versions.PROMTOOL_RECIPE,
    version_check=(("--version",), f"promtool, version {versions.PROMETHEUS_VERSION}"),
)

PROGRAMS = (ETCD, KUBE_APISERVER, HELM, PROMTOOL)
