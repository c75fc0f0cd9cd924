"""The charts' schemas and README tables are what tests/charts/chart_docs.py generates, every
values.yaml key is documented, and nothing derived is committed."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from springhead_testinfra.charts import APPLICATION_CHARTS, CHARTS

HERE = Path(__file__).resolve().parent


def _load_chart_docs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("chart_docs", HERE / "chart_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


@pytest.mark.parametrize("chart", ["common", *APPLICATION_CHARTS])
def test_schema_is_generated(chart: str) -> None:
    committed = (CHARTS / chart / "values.schema.json").read_text()
    assert committed == chart_docs.schema_text(chart), (
        f"charts/{chart}/values.schema.json is stale: run "
        "uv run --no-sync python tests/charts/chart_docs.py"
    )


def test_readme_tables_are_generated() -> None:
    assert (CHARTS / "README.md").read_text() == chart_docs.readme_text(), (
        "charts/README.md tables are stale: run uv run --no-sync python tests/charts/chart_docs.py"
    )


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
