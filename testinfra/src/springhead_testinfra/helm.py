"""Helm v4 built from the Go module proxy, and offline manifest validation.

:class:`Helm` runs the pinned binary with its own config, cache and data folders (nothing is read
from or written to the user's ``~/.config/helm``). Bound to a cluster it passes the cluster's
kubeconfig. :func:`validate_manifests` checks rendered YAML with ``kubernetes-validate`` against
the schemas of the pinned Kubernetes minor version.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from . import versions
from .cache import new_run_dir
from .gobuild import HELM, build
from .kafka import KEEP_RUNS_ENV


class ManifestInvalid(AssertionError):
    """Rendered manifests failed validation (an AssertionError, so tests report it as a failure)."""


def fetch_helm(*, force: bool = False) -> Path:
    """Build (once) and return the path of the pinned ``helm``."""
    return build(HELM, force=force)


class Helm:
    """The pinned Helm binary with private HELM_* folders, optionally bound to a kubeconfig.

    Attributes:
        binary: path of the ``helm`` executable.
        home: folder holding this instance's HELM_CONFIG_HOME, HELM_CACHE_HOME, HELM_DATA_HOME.
        kubeconfig: the kubeconfig passed to every command, or None (render/lint only).
        version: the Helm version.
    """

    def __init__(self, home: Path | None = None, *, kubeconfig: Path | None = None) -> None:
        self.binary = fetch_helm()
        self.version = versions.HELM_VERSION
        self.home = home if home is not None else new_run_dir("helm")
        self.kubeconfig = kubeconfig

    def __repr__(self) -> str:
        return f"<Helm {self.version} {self.binary} kubeconfig={self.kubeconfig}>"

    def for_cluster(self, cluster: object) -> Helm:
        """Return a Helm sharing this one's folders, bound to ``cluster`` (a KubeCluster) or a path.

        ``cluster`` may be anything with a ``kubeconfig`` attribute, or a kubeconfig path.
        """
        kubeconfig = getattr(cluster, "kubeconfig", cluster)
        if not isinstance(kubeconfig, str | os.PathLike):
            raise TypeError(f"expected a KubeCluster or a kubeconfig path, got {cluster!r}")
        return Helm(self.home, kubeconfig=Path(kubeconfig))

    def env(self) -> dict[str, str]:
        """Return the environment every helm command runs with."""
        env = dict(os.environ)
        env.update(
            HELM_CONFIG_HOME=str(self.home / "config"),
            HELM_CACHE_HOME=str(self.home / "cache"),
            HELM_DATA_HOME=str(self.home / "data"),
        )
        if self.kubeconfig is not None:
            env["KUBECONFIG"] = str(self.kubeconfig)
        else:
            env.pop("KUBECONFIG", None)
        return env

    def run(
        self,
        *args: str | os.PathLike[str],
        check: bool = True,
        timeout: float = 300.0,
        input: str | None = None,  # noqa: A002 - mirrors subprocess.run
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``helm <args>`` and return the completed process (text output captured).

        With ``check`` (default) a non-zero exit raises ``subprocess.CalledProcessError`` whose
        message includes helm's stderr.
        """
        merged = self.env()
        if env:
            merged.update(env)
        completed = subprocess.run(
            [str(self.binary), *map(str, args)],
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            env=merged,
            check=False,
        )
        if check and completed.returncode != 0:
            raise HelmError(completed)
        return completed

    def template(self, chart: str | os.PathLike[str], release: str = "release", *args: str) -> str:
        """Render ``chart`` (``helm template``) and return the manifests."""
        return self.run("template", release, chart, *args).stdout

    def lint(self, chart: str | os.PathLike[str], *args: str) -> str:
        """Lint ``chart`` strictly (``helm lint --strict``) and return helm's output."""
        return self.run("lint", "--strict", chart, *args).stdout

    def close(self) -> None:
        """Remove this instance's folders (kept if $SPRINGHEAD_TESTINFRA_KEEP_RUNS)."""
        if not os.environ.get(KEEP_RUNS_ENV):
            shutil.rmtree(self.home, ignore_errors=True)


class HelmError(subprocess.CalledProcessError):
    """``helm`` exited non-zero; ``str()`` shows the command and helm's stderr."""

    def __init__(self, completed: subprocess.CompletedProcess[str]) -> None:
        super().__init__(completed.returncode, completed.args, completed.stdout, completed.stderr)

    def __str__(self) -> str:
        return f"{super().__str__()}\nstderr:\n{self.stderr}\nstdout:\n{self.stdout}"


def validate_manifests(
    manifests: str | os.PathLike[str],
    *,
    strict: bool = True,
    kubernetes_version: str = versions.KUBERNETES_VALIDATE_SCHEMA,
) -> str:
    """Validate YAML manifests offline with kubernetes-validate; return its report.

    ``manifests`` is YAML text (a ``str``; several documents allowed) or a ``Path`` to a file.
    Raises :class:`ManifestInvalid` with the report when any resource is invalid.
    """
    with tempfile.TemporaryDirectory(prefix="springhead-validate-") as tmp:
        if isinstance(manifests, str):
            path = Path(tmp) / "manifests.yaml"
            path.write_text(manifests)
        else:
            path = Path(manifests)
        argv = [sys.executable, "-m", "kubernetes_validate", "-k", kubernetes_version]
        if strict:
            argv.append("--strict")
        completed = subprocess.run(
            [*argv, str(path)], capture_output=True, text=True, check=False, timeout=300
        )
    report = completed.stdout + completed.stderr
    if completed.returncode != 0:
        raise ManifestInvalid(f"kubernetes-validate {' '.join(argv[3:])} failed:\n{report}")
    return report
