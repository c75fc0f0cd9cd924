"""A private copy of a charts/ tree with each chart's library dependency built, and Helm to
render and lint it (the repository's own tree is left untouched: the built dependency is derived,
so it is never committed)."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from springhead_testinfra.helm import Helm

__all__ = [
    "APPLICATION_CHARTS",
    "CHARTS",
    "CUSTOM_KINDS",
    "Charts",
    "builtin_manifests",
    "ci_values_files",
]

#: The repository's charts/ folder (this package lives in testinfra/src/springhead_testinfra).
CHARTS = Path(__file__).resolve().parents[3] / "charts"
#: Every application chart (the library chart is charts/common).
APPLICATION_CHARTS = (
    "ping", "http", "github", "kafka", "apiserver", "controller", "containersource", "display",
)  # fmt: skip
#: Kinds kubernetes-validate has no schema for; the real apiserver validates them.
CUSTOM_KINDS = frozenset({"SinkBinding", "ContainerSource", "ServiceMonitor", "PrometheusRule"})


def ci_values_files(root: Path = CHARTS) -> list[tuple[str, Path]]:
    """(chart, values file) for every ci/*-values.yaml (Helm's chart-testing convention)."""
    return [
        (chart, path)
        for chart in APPLICATION_CHARTS
        for path in sorted((root / chart / "ci").glob("*-values.yaml"))
    ]


def builtin_manifests(rendered: str | Iterable[dict[str, Any]]) -> str:
    """The rendered documents kubernetes-validate has schemas for (custom resources left out),
    as one YAML stream."""
    docs = yaml.safe_load_all(rendered) if isinstance(rendered, str) else rendered
    return str(yaml.safe_dump_all([d for d in docs if d and d.get("kind") not in CUSTOM_KINDS]))


class Charts:
    """A built copy of charts/ and a Helm to render and lint it."""

    def __init__(self, helm: Helm, root: Path) -> None:
        self.helm = helm
        self.root = root

    def ci_values(self, chart: str) -> list[Path]:
        """The chart's ci/*-values.yaml files (Helm's chart-testing convention)."""
        return sorted((self.root / chart / "ci").glob("*-values.yaml"))

    @staticmethod
    def documents(rendered: str) -> list[dict[str, Any]]:
        """The non-empty YAML documents of a rendered chart."""
        return [doc for doc in yaml.safe_load_all(rendered) if doc]

    @staticmethod
    def find(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
        """The one document of ``kind`` (and ``name``); fails the test when absent or ambiguous."""
        found = [
            d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
        ]
        assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"  # noqa: S101
        return found[0]

    @staticmethod
    def kinds(docs: list[dict[str, Any]]) -> list[str]:
        """The kinds of the documents, in order."""
        return [d["kind"] for d in docs]

    @staticmethod
    def container_env(deployment: dict[str, Any]) -> dict[str, Any]:
        """name -> value (or the valueFrom mapping) of the first container's env."""
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}

    def path(self, chart: str) -> Path:
        """The chart's directory in the copy."""
        return self.root / chart

    def render(self, chart: str, *args: str, release: str = "demo") -> list[dict[str, Any]]:
        """``helm template`` (in namespace ``springhead``) as parsed documents."""
        text = self.helm.template(self.path(chart), release, "--namespace", "springhead", *args)
        return self.documents(text)

    def render_text(self, chart: str, *args: str, release: str = "demo") -> str:
        """``helm template`` output as text."""
        return self.helm.template(self.path(chart), release, "--namespace", "springhead", *args)

    def failure(self, chart: str, *args: str) -> str:
        """Helm's error output for a render that must fail (fails the test if it succeeds)."""
        completed = self.helm.run(
            "template", "demo", self.path(chart), "--namespace", "springhead", *args, check=False
        )
        assert completed.returncode != 0, f"rendering {chart} with {args} should fail"  # noqa: S101
        return completed.stderr

    @classmethod
    def build(cls, helm: Helm, source: Path, target: Path, charts: Iterable[str]) -> Charts:
        """Copy ``source`` (a charts/ folder) to ``target`` without derived files, and build the
        file:// dependencies of each of ``charts`` there (``helm dependency build``)."""
        shutil.copytree(
            source, target, ignore=shutil.ignore_patterns("charts", "Chart.lock", "*.tgz")
        )
        for chart in charts:
            helm.run("dependency", "build", target / chart)
        return cls(helm, target)
