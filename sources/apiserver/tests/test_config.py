"""ApiServer source settings: parsing, defaults, errors naming the variable."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from springhead.config import ConfigError, load_settings
from springhead_apiserver.config import (
    ApiServerSettings,
    EventMode,
    OwnerSpec,
    ResourceSpec,
    label_selector_text,
)

BASE = {
    "K_SINK": "http://sink.example/",
    "NAMESPACE": "team",
    "APISERVER_RESOURCES": '[{"apiVersion": "v1", "kind": "ConfigMap"}]',
}


def settings(**env: str) -> ApiServerSettings:
    return load_settings(ApiServerSettings, {**BASE, **env})


def test_defaults_follow_knative() -> None:
    s = settings()
    assert s.resources == [ResourceSpec(apiVersion="v1", kind="ConfigMap")]
    assert s.mode is EventMode.REFERENCE
    assert s.owner is None
    assert s.emit_existing is False
    assert s.ignore_status_updates is False
    assert s.kubeconfig is None
    assert s.state_configmap is None
    assert s.state_interval == timedelta(seconds=5)
    # Own namespace by default.
    assert s.watched_namespaces == ["team"]
    assert not s.all_namespaces
    assert not s.filters_namespaces


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            '[{"apiVersion": "apps/v1", "kind": "Deployment", "labelSelector": "app=web",'
            ' "fieldSelector": "metadata.name=x"}]',
            [
                ResourceSpec(
                    apiVersion="apps/v1",
                    kind="Deployment",
                    labelSelector="app=web",
                    fieldSelector="metadata.name=x",
                )
            ],
        ),
        (
            '{"apiVersion": "v1", "kind": "Pod"}',
            [ResourceSpec(apiVersion="v1", kind="Pod")],
        ),
        (
            '[{"apiVersion": "v1", "kind": "Pod", "selector": {"matchLabels": {"app": "web"}}}]',
            [ResourceSpec(apiVersion="v1", kind="Pod", labelSelector="app=web")],
        ),
        (
            '[{"apiVersion": "example.com/v1", "kind": "Widget", "resource": "widgetses",'
            ' "namespaced": false}]',
            [
                ResourceSpec(
                    apiVersion="example.com/v1",
                    kind="Widget",
                    resource="widgetses",
                    namespaced=False,
                )
            ],
        ),
    ],
)
def test_resources(value: str, expected: list[ResourceSpec]) -> None:
    assert settings(APISERVER_RESOURCES=value).resources == expected


@pytest.mark.parametrize(
    ("env", "variable", "fragment"),
    [
        ({"APISERVER_RESOURCES": ""}, "APISERVER_RESOURCES", "required"),
        ({"APISERVER_RESOURCES": "[]"}, "APISERVER_RESOURCES", "non-empty"),
        ({"APISERVER_RESOURCES": "[{"}, "APISERVER_RESOURCES", "not valid JSON"),
        ({"APISERVER_RESOURCES": '[{"kind": "Pod"}]'}, "APISERVER_RESOURCES", ""),
        (
            {"APISERVER_RESOURCES": '[{"apiVersion": "v1", "kind": "Pod", "x": 1}]'},
            "APISERVER_RESOURCES",
            "",
        ),
        (
            {"APISERVER_RESOURCES": '[{"apiVersion": "a/b/c", "kind": "Pod"}]'},
            "APISERVER_RESOURCES",
            "group/version",
        ),
        (
            {
                "APISERVER_RESOURCES": '[{"apiVersion": "v1", "kind": "Pod", "selector": "a=b",'
                ' "labelSelector": "c=d"}]'
            },
            "APISERVER_RESOURCES",
            "not both",
        ),
        ({"APISERVER_MODE": "Ref"}, "APISERVER_MODE", ""),
        ({"APISERVER_NAMESPACES": "a,B_c"}, "APISERVER_NAMESPACES", "not a valid namespace"),
        ({"APISERVER_NAMESPACES": "*,a"}, "APISERVER_NAMESPACES", "stands alone"),
        (
            {"APISERVER_NAMESPACES": "a", "APISERVER_NAMESPACE_SELECTOR": "env=prod"},
            "APISERVER_NAMESPACE_SELECTOR",
            "cannot be combined",
        ),
        (
            {
                "APISERVER_NAMESPACE_SELECTOR": '{"matchExpressions":'
                ' [{"key": "a", "operator": "Gt"}]}'
            },
            "APISERVER_NAMESPACE_SELECTOR",
            "expected In",
        ),
        ({"APISERVER_OWNER": "[1]"}, "APISERVER_OWNER", ""),
        (
            {"APISERVER_STATE_CONFIGMAP": "Bad_Name"},
            "APISERVER_STATE_CONFIGMAP",
            "not a valid name",
        ),
        ({"APISERVER_STATE_INTERVAL": "5s"}, "APISERVER_STATE_INTERVAL", "ISO-8601"),
        ({"APISERVER_STATE_INTERVAL": "PT0S"}, "APISERVER_STATE_INTERVAL", "longer than zero"),
        ({"APISERVER_EMIT_EXISTING": "perhaps"}, "APISERVER_EMIT_EXISTING", ""),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], variable: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as error:
        settings(**env)
    assert error.value.variable == variable
    assert fragment in error.value.reason


@pytest.mark.parametrize(
    ("env", "watched", "all_namespaces", "filters"),
    [
        ({}, ["team"], False, False),
        ({"APISERVER_NAMESPACES": "a, b"}, ["a", "b"], False, False),
        ({"APISERVER_NAMESPACES": '["a", "b"]'}, ["a", "b"], False, False),
        ({"APISERVER_NAMESPACES": "*"}, [], True, False),
        ({"APISERVER_NAMESPACE_SELECTOR": "env=prod"}, [], True, True),
        ({"APISERVER_NAMESPACE_SELECTOR": '{"matchLabels": {"env": "prod"}}'}, [], True, True),
        ({"APISERVER_NAMESPACE_SELECTOR": "{}"}, [], True, False),
    ],
)
def test_namespace_scope(
    env: dict[str, str], watched: list[str], all_namespaces: bool, filters: bool
) -> None:
    s = settings(**env)
    assert (s.watched_namespaces, s.all_namespaces, s.filters_namespaces) == (
        watched,
        all_namespaces,
        filters,
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ""),
        (" app=web ", "app=web"),
        ({}, ""),
        ({"matchLabels": {"b": "2", "a": "1"}}, "a=1,b=2"),
        (
            {
                "matchLabels": {"app": "web"},
                "matchExpressions": [
                    {"key": "tier", "operator": "In", "values": ["a", "b"]},
                    {"key": "env", "operator": "NotIn", "values": ["dev"]},
                    {"key": "team", "operator": "Exists"},
                    {"key": "legacy", "operator": "DoesNotExist"},
                ],
            },
            "app=web,tier in (a,b),env notin (dev),team,!legacy",
        ),
    ],
)
def test_label_selector_objects_become_text(value: Any, expected: str) -> None:
    assert label_selector_text(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        {"matchLabels": {}, "other": 1},
        {"matchExpressions": [{"key": "a", "operator": "In"}]},
        {"matchExpressions": [{"operator": "Exists"}]},
        ["a=b"],
    ],
)
def test_bad_label_selectors(value: Any) -> None:
    with pytest.raises(ValueError):
        label_selector_text(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            '{"apiVersion": "apps/v1", "kind": "ReplicaSet"}',
            OwnerSpec(apiVersion="apps/v1", kind="ReplicaSet"),
        ),
        ('{"kind": "Job"}', OwnerSpec(kind="Job")),
        ("{}", None),
        ("", None),
    ],
)
def test_owner(value: str, expected: OwnerSpec | None) -> None:
    assert settings(APISERVER_OWNER=value).owner == expected


def test_everything_set(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text("apiVersion: v1\n")
    s = settings(
        APISERVER_MODE="Resource",
        APISERVER_EMIT_EXISTING="true",
        APISERVER_IGNORE_STATUS_UPDATES="true",
        APISERVER_KUBECONFIG=str(kubeconfig),
        APISERVER_STATE_CONFIGMAP="watcher-state",
        APISERVER_STATE_INTERVAL="PT30S",
    )
    assert s.mode is EventMode.RESOURCE
    assert s.emit_existing and s.ignore_status_updates
    assert s.kubeconfig == str(kubeconfig)
    assert s.state_configmap == "watcher-state"
    assert s.state_interval == timedelta(seconds=30)


def test_every_field_has_a_docstring_and_an_alias() -> None:
    own = set(ApiServerSettings.model_fields) - set(ApiServerSettings.__mro__[1].model_fields)
    assert own
    for name in own:
        field = ApiServerSettings.model_fields[name]
        assert isinstance(field.validation_alias, str)
        assert field.validation_alias.startswith("APISERVER_")
    source = json.dumps(ApiServerSettings.__doc__)
    assert source
