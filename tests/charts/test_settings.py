"""Every variable a settings class reads has its place in its chart: a values key mapped to it in
the chart's templates, that key in the committed values.schema.json and a row in the chart's
table in charts/README.md, and a description on the field; or it is named as set by the chart
itself or as not a chart value, with the reason. The committed files are what is checked, so a
new field fails here until the generator has been run (and, for a special case, _env.tpl
written)."""

from __future__ import annotations

import dataclasses
import enum
import importlib
import importlib.util
import inspect
import json
import re
import sys
import typing
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings
from springhead.config import FromFile, ProcessSettings
from springhead_ping.config import PingSettings
from springhead_testinfra.charts import CHARTS

GENERATOR = Path(__file__).resolve().parents[2] / "scripts" / "chart_docs.py"
ROOT = CHARTS.parent

#: Every module that defines settings classes (each source's, the controller's and the
#: display's config, and the shared runtime's).
SETTINGS_MODULES = [
    "springhead.config",
    "springhead.webhook",
    *sorted(
        f"{path.parents[0].name}.config"
        for path in [
            *ROOT.glob("sources/*/src/springhead_*/config.py"),
            *ROOT.glob("controller/src/springhead_*/config.py"),
            *ROOT.glob("display/src/springhead_*/config.py"),
        ]
    ),
]


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


def _templates(chart: str) -> str:
    """The text of every template the chart renders with (its own and the library's)."""
    folders = [CHARTS / chart / "templates", CHARTS / "common" / "templates"]
    return "\n".join(path.read_text() for folder in folders for path in sorted(folder.iterdir()))


def _table(chart: str) -> set[str]:
    readme = (CHARTS / "README.md").read_text()
    start = readme.index(f"<!-- values-table: {chart} -->")
    table = readme[start : readme.index("<!-- /values-table -->", start)]
    return {line.split("`")[1] for line in table.splitlines() if line.startswith("| `")}


def _schema_node(schema: dict[str, Any], path: str) -> dict[str, Any] | None:
    node: Any = schema
    for part in path.split("."):
        node = (node.get("properties") or {}).get(part)
        if not isinstance(node, dict):
            return None
    return dict(node)


def problems(chart: str) -> list[str]:
    """What is missing for ``chart``'s settings, one line each (empty: nothing)."""
    found = [f"{env}: {why}" for env, why in chart_docs.unplaced(chart).items()]
    schema = json.loads((CHARTS / chart / "values.schema.json").read_text())
    table, templates = _table(chart), _templates(chart)
    for bound in chart_docs.bound_settings(chart):
        env, path = bound.setting.env, bound.path
        if not bound.setting.description.strip():
            found.append(f"{env}: no description (docstring) on {bound.setting.owner.__name__}")
        if not re.search(rf"\b{env}\b", templates):
            found.append(f"{env}: not mapped from values.{path} in charts/{chart}/templates")
        node = _schema_node(schema, path)
        if node is None or env not in str(node.get("description", "")):
            found.append(f"{env}: no entry {path} in charts/{chart}/values.schema.json")
        if path not in table:
            found.append(f"{env}: no row {path} in the {chart} table of charts/README.md")
    return found


@pytest.mark.parametrize("chart", list(chart_docs.CHARTED))
def test_every_setting_has_its_place_in_the_chart(chart: str) -> None:
    assert problems(chart) == []


@pytest.mark.parametrize("chart", list(chart_docs.CHARTED))
def test_what_the_chart_sets_itself_is_in_its_templates(chart: str) -> None:
    charted, templates = chart_docs.CHARTED[chart], _templates(chart)
    reads = chart_docs.chart_settings(chart)
    fixed = {**chart_docs.SHARED.fixed, **charted.fixed}
    for env in fixed:
        if env in reads and env not in charted.absent:
            assert env in templates, f"{env} is fixed by the {chart} chart but not in it"


@pytest.mark.parametrize("charted", ["SHARED", *chart_docs.CHARTED])
def test_exceptions_name_variables_that_exist(charted: str) -> None:
    """No stale entry: every variable named in a chart's mapping is read by its classes."""
    entry = chart_docs.SHARED if charted == "SHARED" else chart_docs.CHARTED[charted]
    reads = {s.env for cls in entry.classes for s in chart_docs.settings_of(cls)}
    if charted != "SHARED":
        reads |= {s.env for cls in chart_docs.SHARED.classes for s in chart_docs.settings_of(cls)}
    named = [*entry.paths, *entry.by_hand, *entry.flags, *entry.fixed, *entry.absent]
    assert sorted(set(named) - reads) == []


def _sample(bound: Any) -> tuple[Any, str]:
    """A value for ``bound``'s key that is not its default, and the variable's text for it."""
    kind = chart_docs.value_kind(bound.setting)
    if kind == "flag":
        return True, "true"
    if kind == "list":
        return ["a", "b"], "a,b"
    annotation = bound.setting.info.annotation
    text = str(annotation)
    if "timedelta" in text:
        return "PT7S", "PT7S"
    if "int" in text:
        return 7, "7"
    if "float" in text:
        return 2.5, "2.5"
    members = [m for a in [annotation, *typing.get_args(annotation)] if isinstance(a, type)
               and issubclass(a, enum.Enum) for m in a]  # fmt: skip
    if members:
        return members[-1].value, members[-1].value
    return f"sample-{bound.setting.env.lower()}", f"sample-{bound.setting.env.lower()}"


#: What a chart needs besides the settings to render every workload that reads them.
_BASE_VALUES: dict[str, dict[str, Any]] = {
    "github": {"hooks": {"enabled": True}},
}


@pytest.mark.parametrize("chart", list(chart_docs.CHARTED))
def test_generated_mapping_renders_every_variable(charts: Any, chart: str, tmp_path: Path) -> None:
    """Helm renders each one-to-one setting's value as its variable, in a workload that runs
    the class reading it (schema checks off: the values are samples, not a coherent spec)."""
    values: dict[str, Any] = json.loads(json.dumps(_BASE_VALUES.get(chart, {})))
    expected: dict[str, str] = {}
    for bound in chart_docs.bound_settings(chart):
        if bound.by_hand:
            continue
        value, text = _sample(bound)
        *parents, last = bound.path.split(".")
        node = values
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
        expected[bound.setting.env] = text
    assert expected, chart
    file = tmp_path / "values.yaml"
    file.write_text(json.dumps(values))
    docs = charts.render(chart, "--values", str(file), "--skip-schema-validation")
    rendered: dict[str, str] = {}
    for doc in docs:
        spec = doc.get("spec") or {}
        template = spec.get("template") or (spec.get("jobTemplate") or {}).get("spec", {}).get(
            "template"
        )
        for container in ((template or {}).get("spec") or {}).get("containers") or []:
            for entry in container.get("env") or []:
                if "value" in entry:
                    rendered[entry["name"]] = entry["value"]
    assert {env: rendered.get(env) for env in expected} == expected


def _covered() -> set[type]:
    """The settings classes the charts account for, with their bases and nested groups."""
    classes: list[type] = [*chart_docs.SHARED.classes]
    for entry in chart_docs.CHARTED.values():
        classes += entry.classes
    covered: set[type] = set()
    while classes:
        cls = classes.pop()
        if cls in covered:
            continue
        covered.update(cls.__mro__)
        if issubclass(cls, BaseModel):
            for info in cls.model_fields.values():
                group = chart_docs.settings_group(info.annotation)
                if group is not None:
                    classes.append(group)
    return covered


@pytest.mark.parametrize("module", SETTINGS_MODULES)
def test_every_settings_class_is_charted(module: str) -> None:
    """A new settings class in a config module is given to a chart (or is a group of one)."""
    loaded = importlib.import_module(module)
    defined = [
        cls
        for _, cls in inspect.getmembers(loaded, inspect.isclass)
        if issubclass(cls, BaseSettings) and cls.__module__ == module
    ]
    assert [cls.__name__ for cls in defined if cls not in _covered()] == []


def test_settings_modules_are_found() -> None:
    assert "springhead_ping.config" in SETTINGS_MODULES
    assert "springhead_controller.config" in SETTINGS_MODULES
    assert "springhead_display.config" in SETTINGS_MODULES
    assert len(SETTINGS_MODULES) == 2 + 5 + 1 + 1


class _PingWithMore(PingSettings):
    """PingSettings with a field no chart file knows yet."""

    jitter: str = Field(default="", validation_alias="PING_JITTER")
    """Spread each tick over this long."""

    secret_thing: str = Field(default="", validation_alias="PING_SECRET_THING")


def test_a_new_field_fails_until_the_chart_has_it(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = dataclasses.replace(chart_docs.CHARTED["ping"], classes=(_PingWithMore,))
    monkeypatch.setitem(chart_docs.CHARTED, "ping", entry)
    found = problems("ping")
    assert found == [
        "PING_JITTER: not mapped from values.ping.jitter in charts/ping/templates",
        "PING_JITTER: no entry ping.jitter in charts/ping/values.schema.json",
        "PING_JITTER: no row ping.jitter in the ping table of charts/README.md",
        "PING_SECRET_THING: no description (docstring) on _PingWithMore",
        "PING_SECRET_THING: not mapped from values.ping.secretThing in charts/ping/templates",
        "PING_SECRET_THING: no entry ping.secretThing in charts/ping/values.schema.json",
        "PING_SECRET_THING: no row ping.secretThing in the ping table of charts/README.md",
    ]
    # What the generator then makes of it: a schema leaf and a line in the settings template.
    schema = chart_docs.chart_schema("ping")
    assert schema["properties"]["ping"]["properties"]["jitter"] == {
        "type": "string",
        "description": "PING_JITTER: Spread each tick over this long.",
    }
    assert '"PING_JITTER" .Values.ping.jitter' in chart_docs.settings_template("ping")


def test_a_variable_outside_every_rule_must_be_placed(monkeypatch: pytest.MonkeyPatch) -> None:
    class Odd(PingSettings):
        odd: str = Field(default="", validation_alias="ODD_SETTING")
        """Read under a name no chart rule covers."""

    entry = dataclasses.replace(chart_docs.CHARTED["ping"], classes=(Odd,))
    monkeypatch.setitem(chart_docs.CHARTED, "ping", entry)
    assert chart_docs.unplaced("ping") == {
        "ODD_SETTING": "no values path (sections/paths) and not fixed or absent"
    }


def test_a_secret_file_companion_is_known_as_one() -> None:
    """``X_FILE`` (added to every class for a :class:`FromFile` setting) is the file form of
    ``X``, never a chart value of its own."""

    class WithSecret(ProcessSettings):
        token: Annotated[str | None, FromFile()] = Field(default=None, validation_alias="MY_TOKEN")
        """A token."""

    found = {s.env: s.file_for for s in chart_docs.settings_of(WithSecret)}
    assert (found["MY_TOKEN"], found["MY_TOKEN_FILE"]) == ("", "MY_TOKEN")
    assert [env for env, of in found.items() if of] == ["MY_TOKEN_FILE"]


def test_nested_groups_and_prefixes_are_walked() -> None:
    """Variables come from aliases, env prefixes and nested groups alike."""

    class Lease(BaseSettings):
        duration: str = ""
        """How long."""

    class Inner(BaseModel):
        depth: int = 1
        """How deep."""

    class Outer(BaseSettings, env_prefix="OUT_", env_nested_delimiter="__"):
        lease: Lease = Field(default_factory=Lease)
        inner: Inner = Field(default_factory=Inner)
        plain: str = Field(default="", validation_alias="PLAIN_NAME")
        """Named by its alias."""
        named: str = ""
        """Named by the prefix."""

    found = {s.env: (s.field, s.description) for s in chart_docs.settings_of(Outer)}
    assert found == {
        "DURATION": ("lease.duration", "How long."),
        "OUT_INNER__DEPTH": ("inner.depth", "How deep."),
        "PLAIN_NAME": ("plain", "Named by its alias."),
        "OUT_NAMED": ("named", "Named by the prefix."),
    }
