"""Lint and render every chart with every ``ci/*-values.yaml`` file (``make charts``).

``uv run --no-sync python tests/charts/lint_charts.py`` copies charts/ to a temporary folder,
builds each chart's library dependency there (the repository's tree is left untouched), runs
``helm lint --strict`` and ``helm template`` per values file with the pinned Helm from testinfra,
and validates the rendered manifests with ``kubernetes-validate --strict`` (custom resources,
which it has no schema for, are left to the apiserver tests). Exits 1 on the first failure.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from springhead_testinfra.charts import (
    APPLICATION_CHARTS,
    CHARTS,
    Charts,
    builtin_manifests,
    ci_values_files,
)
from springhead_testinfra.helm import Helm, HelmError, ManifestInvalid, validate_manifests


def lint_all(charts: Charts) -> int:
    """Lint, render and validate each chart; return the number of values files checked."""
    charts.helm.lint(charts.path("common"))
    checked = 0
    for chart, values in ci_values_files(charts.root):
        path = charts.path(chart)
        charts.helm.lint(path, "--values", str(values))
        rendered = charts.helm.template(path, "ci", "--namespace", "ci", "--values", str(values))
        validate_manifests(builtin_manifests(rendered))
        sys.stdout.write(f"ok  {chart} {values.name}\n")
        checked += 1
    return checked


def main() -> int:
    """Run the checks; 0 when every chart passed."""
    helm = Helm()
    try:
        with tempfile.TemporaryDirectory(prefix="springhead-charts-") as tmp:
            built = Charts.build(helm, CHARTS, Path(tmp) / "charts", APPLICATION_CHARTS)
            checked = lint_all(built)
    except (HelmError, ManifestInvalid) as exc:
        sys.stderr.write(f"charts: FAILED\n{exc}\n")
        return 1
    finally:
        helm.close()
    sys.stdout.write(f"charts: {checked} values files linted, rendered and validated\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
