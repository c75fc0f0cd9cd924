"""BuildKit's Dockerfile linter (the rules of ``docker build --check``), without a Docker engine.

Docker's own Dockerfile checks live in ``github.com/moby/buildkit`` (``frontend/dockerfile/linter``
and the conversion in ``dockerfile2llb`` that runs them). :func:`fetch_dockerfile_lint` builds a
small Go program of ours (``dockerfile_lint.go`` beside this module) against the pinned BuildKit
module from the Go module proxy, into the cache like Helm. :func:`lint_dockerfiles` runs it and
returns one :class:`DockerfileLintReport` per Dockerfile; :func:`assert_dockerfiles_clean`
fails with every warning listed.

Base images are not pulled (no registry is reachable): each ``FROM`` resolves to an image of the
build's platform with Docker's default ``PATH``. So ``InvalidBaseImagePlatform`` cannot fire, and
``CopyIgnoredFile`` (which needs a build context) is not checked; every other default rule runs
exactly as in ``docker build --check``, including a ``# check=...`` directive in the file.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import versions
from .cache import component_dir, is_complete, locked
from .gobuild import GoBuild
from .process import ComponentError, progress

__all__ = [
    "DockerfileLintFailed",
    "DockerfileLintReport",
    "DockerfileLintWarning",
    "assert_dockerfiles_clean",
    "dockerfile_lint_binary",
    "fetch_dockerfile_lint",
    "is_built",
    "lint_dockerfiles",
]

#: The Go source of the linter program, shipped beside this module.
SOURCE = Path(__file__).with_name("dockerfile_lint.go")
#: The module whose linter the program runs.
BUILDKIT_MODULE = "github.com/moby/buildkit"
#: A Dockerfile every working build must flag (MaintainerDeprecated), to check a fresh build.
_SELF_CHECK = "FROM scratch\nMAINTAINER nobody\n"


class DockerfileLintFailed(AssertionError):
    """A Dockerfile has lint warnings or does not parse (an AssertionError: a test failure)."""


@dataclass(frozen=True)
class DockerfileLintWarning:
    """One rule violation, as BuildKit reports it."""

    #: The rule's name, e.g. ``MaintainerDeprecated``.
    rule: str
    #: What the rule asks for.
    description: str
    #: The rule's documentation page.
    url: str
    #: What exactly is wrong here.
    detail: str
    #: The 1-based line of the Dockerfile (0 when BuildKit gave no location).
    line: int


@dataclass(frozen=True)
class DockerfileLintReport:
    """The lint result of one Dockerfile."""

    #: The Dockerfile checked.
    path: Path
    #: Every rule violation found.
    warnings: tuple[DockerfileLintWarning, ...]
    #: Why the Dockerfile could not be processed at all (a parse error), else None.
    error: str | None

    @property
    def clean(self) -> bool:
        """True when the Dockerfile parsed and no rule fired."""
        return self.error is None and not self.warnings

    @property
    def rules(self) -> set[str]:
        """The names of the rules that fired."""
        return {warning.rule for warning in self.warnings}

    def describe(self) -> str:
        """Return the findings as lines ``path:line: Rule: detail (url)``."""
        lines = [f"{self.path}: error: {self.error}"] if self.error else []
        lines += [f"{self.path}:{w.line}: {w.rule}: {w.detail} ({w.url})" for w in self.warnings]
        return "\n".join(lines) or f"{self.path}: clean"


def _home() -> Path:
    return component_dir("dockerfile-lint", versions.BUILDKIT_VERSION)


def dockerfile_lint_binary() -> Path:
    """Return where the built linter lives (it may not be built yet)."""
    return _home() / "bin" / "dockerfile-lint"


def _recipe() -> dict[str, Any]:
    return {
        "name": "dockerfile-lint",
        "buildkit": versions.BUILDKIT_VERSION,
        "source_sha256": hashlib.sha256(SOURCE.read_bytes()).hexdigest(),
        "recipe": versions.DOCKERFILE_LINT_RECIPE,
    }


def is_built() -> bool:
    """Tell whether the cache holds a linter built from the current source and pins."""
    return is_complete(_home(), _recipe()) and dockerfile_lint_binary().is_file()


def fetch_dockerfile_lint(*, force: bool = False) -> Path:
    """Build the linter into the cache unless it is there already; return the binary's path."""
    if not force and is_built():
        return dockerfile_lint_binary()
    with locked(_home().name):
        if not force and is_built():
            return dockerfile_lint_binary()
        return _build_locked()


def _build_locked() -> Path:
    build = GoBuild(_home(), f"dockerfile-lint (buildkit {versions.BUILDKIT_VERSION})")
    progress(f"{build.label}: building from the Go module proxy")
    (build.src / "main.go").write_bytes(SOURCE.read_bytes())
    build.step("mod", "init", "springhead-testinfra.local/dockerfile-lint", what="go mod init")
    build.step("get", f"{BUILDKIT_MODULE}@{versions.BUILDKIT_VERSION}", what="downloading modules")
    build.step("mod", "tidy", what="go mod tidy")
    output = build.staging / "bin" / "dockerfile-lint"
    build.step("build", "-trimpath", "-ldflags", "-s -w", "-o", str(output), ".", what="go build")
    probe = build.staging / "self-check.Dockerfile"
    probe.write_text(_SELF_CHECK)
    build.check(
        [str(output), str(probe)],
        "MaintainerDeprecated",
        "it did not flag MAINTAINER in its self-check",
    )
    build.install(_recipe())
    return dockerfile_lint_binary()


def _report(raw: dict[str, Any]) -> DockerfileLintReport:
    warnings = tuple(
        DockerfileLintWarning(
            rule=str(item["rule"]),
            description=str(item.get("description", "")),
            url=str(item.get("url", "")),
            detail=str(item.get("detail", "")),
            line=int(item.get("line", 0)),
        )
        for item in raw.get("warnings") or ()
    )
    return DockerfileLintReport(
        path=Path(raw["file"]), warnings=warnings, error=raw.get("error") or None
    )


def lint_dockerfiles(
    paths: Iterable[str | Path], *, experimental: bool = False
) -> list[DockerfileLintReport]:
    """Lint ``paths`` with BuildKit's rules (``experimental`` adds its experimental rules).

    Builds the linter first if the cache does not hold it. Raises :class:`ComponentError` when
    the linter itself fails; rule violations are in the returned reports.
    """
    files = [str(path) for path in paths]
    if not files:
        return []
    argv = [str(fetch_dockerfile_lint())]
    if experimental:
        argv.append("-experimental")
    ran = subprocess.run([*argv, *files], capture_output=True, text=True, check=False, timeout=120)
    if ran.returncode != 0:
        raise ComponentError(f"dockerfile-lint exited {ran.returncode}: {ran.stderr.strip()}")
    try:
        reports = [_report(json.loads(line)) for line in ran.stdout.splitlines() if line.strip()]
    except (ValueError, KeyError, TypeError) as exc:
        raise ComponentError(f"dockerfile-lint printed what it should not: {ran.stdout!r}") from exc
    if len(reports) != len(files):
        raise ComponentError(f"dockerfile-lint reported {len(reports)} of {len(files)} files")
    return reports


def assert_dockerfiles_clean(
    paths: Sequence[str | Path], *, experimental: bool = False
) -> list[DockerfileLintReport]:
    """Lint ``paths``; raise :class:`DockerfileLintFailed` listing every finding, if any."""
    reports = lint_dockerfiles(paths, experimental=experimental)
    dirty = [report for report in reports if not report.clean]
    if dirty:
        raise DockerfileLintFailed(
            "BuildKit's Dockerfile checks failed:\n" + "\n".join(r.describe() for r in dirty)
        )
    return reports
