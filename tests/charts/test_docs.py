"""The charts' schemas, settings templates, values tables and the READMEs' variables tables are
what scripts/chart_docs.py generates, every values.yaml key is documented, and nothing derived
is committed."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from springhead_testinfra.charts import APPLICATION_CHARTS, CHARTS

GENERATOR = Path(__file__).resolve().parents[2] / "scripts" / "chart_docs.py"
REGENERATE = "run uv run --no-sync python scripts/chart_docs.py"


def _load_chart_docs() -> ModuleType:
    """scripts/chart_docs.py as a module (registered, as dataclasses need, under a private name;
    loaded once for every test module)."""
    name = "_springhead_chart_docs"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, GENERATOR)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


chart_docs = _load_chart_docs()


def _value_paths(values: Any, schema: dict[str, Any], prefix: str = "") -> Iterator[str]:
    """Dotted keys of values.yaml, descending as far as the schema declares properties."""
    for key, value in values.items():
        node = (schema.get("properties") or {}).get(key, {})
        path = f"{prefix}{key}"
        if isinstance(value, dict) and node.get("additionalProperties") is False:
            yield from _value_paths(value, node, f"{path}.")
        else:
            yield path


GENERATED = chart_docs.generated_files()


@pytest.mark.parametrize(
    "path", sorted(GENERATED), ids=lambda path: str(path.relative_to(CHARTS.parent))
)
def test_generated_file_is_fresh(path: Path) -> None:
    """Every schema, settings template and the README are what the generator makes now."""
    assert path.is_file(), f"{path.relative_to(CHARTS.parent)} is missing: {REGENERATE}"
    assert path.read_text() == GENERATED[path], (
        f"{path.relative_to(CHARTS.parent)} is stale: {REGENERATE}"
    )


def test_every_chart_has_its_schema_and_table_generated() -> None:
    for chart in ["common", *APPLICATION_CHARTS]:
        assert CHARTS / chart / "values.schema.json" in GENERATED, chart
    assert CHARTS / "README.md" in GENERATED


@pytest.mark.parametrize("chart", APPLICATION_CHARTS)
def test_every_values_key_is_in_the_chart_table(chart: str) -> None:
    values = yaml.safe_load((CHARTS / chart / "values.yaml").read_text())
    readme = (CHARTS / "README.md").read_text()
    start = readme.index(f"<!-- values-table: {chart} -->")
    table = readme[start : readme.index("<!-- /values-table -->", start)]
    documented = {line.split("`")[1] for line in table.splitlines() if line.startswith("| `")}
    keys = set(_value_paths(values, chart_docs.chart_schema(chart)))
    assert keys, chart
    assert keys <= documented, f"undocumented in charts/README.md: {sorted(keys - documented)}"


@pytest.mark.parametrize("chart", APPLICATION_CHARTS)
def test_every_chart_has_ci_values_and_depends_on_the_library(chart: str) -> None:
    assert sorted((CHARTS / chart / "ci").glob("*-values.yaml")), f"{chart} has no ci values"
    meta = yaml.safe_load((CHARTS / chart / "Chart.yaml").read_text())
    assert meta["apiVersion"] == "v2"
    assert meta["dependencies"] == [
        {"name": "springhead-common", "version": "0.1.0", "repository": "file://../common"}
    ]


def test_library_chart_is_a_library() -> None:
    meta = yaml.safe_load((CHARTS / "common" / "Chart.yaml").read_text())
    assert (meta["name"], meta["type"], meta["apiVersion"]) == (
        "springhead-common",
        "library",
        "v2",
    )


def test_no_derived_dependency_files_in_the_charts() -> None:
    # helm dependency build makes charts/<chart>/charts/*.tgz (and update a Chart.lock): derived.
    derived = [p for p in CHARTS.glob("*/charts/*")] + list(CHARTS.glob("*/Chart.lock"))
    assert not derived, f"derived files in charts/: {derived}"
