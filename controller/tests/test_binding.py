"""Pod-spec patching as pure functions: apply, undo, idempotence, JSON patches (table-driven)."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest
from springhead_controller.binding import (
    SUBJECT_KINDS,
    Injection,
    SubjectKind,
    bind,
    bound_injection,
    ce_overrides_env,
    pod_spec_of,
    subject_kind,
    subject_patch,
)

SINK = Injection(sink="http://display.demo.svc.cluster.local")
WITH_OVERRIDES = Injection(sink="http://x/", ce_overrides='{"extensions":{"team":"blue"}}')
WITH_CERTS = Injection(sink="https://x/", ce_overrides="", ca_certs="-----BEGIN CERTIFICATE-----")


def env(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    """Variables as the API server stores them (an empty value left out)."""
    return [{"name": name, "value": value} if value else {"name": name} for name, value in pairs]


APP_ENV = env(("LOG_LEVEL", "debug"))
FIELD_REF = {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}


@pytest.mark.parametrize(
    ("containers", "injection", "expected"),
    [
        pytest.param(
            [{"name": "app"}],
            SINK,
            [env(("K_SINK", SINK.sink), ("K_CE_OVERRIDES", ""))],
            id="no env: sink and empty overrides",
        ),
        pytest.param(
            [{"name": "app", "env": APP_ENV}],
            SINK,
            [APP_ENV + env(("K_SINK", SINK.sink), ("K_CE_OVERRIDES", ""))],
            id="own variables kept first",
        ),
        pytest.param(
            [{"name": "app", "env": [FIELD_REF]}],
            WITH_OVERRIDES,
            [
                [
                    FIELD_REF,
                    *env(("K_SINK", "http://x/"), ("K_CE_OVERRIDES", WITH_OVERRIDES.ce_overrides)),
                ]
            ],
            id="valueFrom variables kept, overrides injected",
        ),
        pytest.param(
            [{"name": "app"}],
            WITH_CERTS,
            [
                env(
                    ("K_SINK", "https://x/"),
                    ("K_CA_CERTS", WITH_CERTS.ca_certs or ""),
                    ("K_CE_OVERRIDES", ""),
                )
            ],
            id="CA certificates between sink and overrides",
        ),
        pytest.param(
            [
                {
                    "name": "app",
                    "env": env(("K_SINK", "http://old/"), ("A", "1"), ("K_CA_CERTS", "x")),
                }
            ],
            SINK,
            [env(("A", "1"), ("K_SINK", SINK.sink), ("K_CE_OVERRIDES", ""))],
            id="stale injection replaced, certificates dropped",
        ),
        pytest.param(
            [
                {
                    "name": "app",
                    "env": env(("A", "1"), ("K_SINK", "http://old/"), ("K_CE_OVERRIDES", "")),
                }
            ],
            None,
            [env(("A", "1"))],
            id="undo removes exactly the binding's variables",
        ),
        pytest.param(
            [{"name": "app", "env": env(("K_SINK", "http://old/"), ("K_CE_OVERRIDES", ""))}],
            None,
            [None],
            id="undo leaves no empty env",
        ),
        pytest.param(
            [{"name": "a"}, {"name": "b", "env": APP_ENV}],
            SINK,
            [
                env(("K_SINK", SINK.sink), ("K_CE_OVERRIDES", "")),
                APP_ENV + env(("K_SINK", SINK.sink), ("K_CE_OVERRIDES", "")),
            ],
            id="every container",
        ),
    ],
)
def test_bind_containers(
    containers: list[dict[str, Any]], injection: Injection | None, expected: list[Any]
) -> None:
    pod_spec = {"containers": containers, "restartPolicy": "Always"}
    result = bind(pod_spec, injection)
    assert [c.get("env") for c in result["containers"]] == expected
    assert result["restartPolicy"] == "Always"
    assert pod_spec == {"containers": containers, "restartPolicy": "Always"}, "input unchanged"
    assert bind(result, injection) == result, "applying twice changes nothing"


def test_init_containers_are_bound_too() -> None:
    pod_spec = {"initContainers": [{"name": "init"}], "containers": [{"name": "app"}]}
    result = bind(pod_spec, SINK)
    assert bound_injection(result) == {
        "init": {"K_SINK": SINK.sink, "K_CE_OVERRIDES": ""},
        "app": {"K_SINK": SINK.sink, "K_CE_OVERRIDES": ""},
    }
    assert bind(result, None) == pod_spec


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (None, ""),
        ({}, "{}"),
        ({"extensions": {}}, "{}"),
        (
            {"extensions": {"extra": "this is an extra attribute", "additional": 42}},
            '{"extensions":{"additional":"42","extra":"this is an extra attribute"}}',
        ),
        ({"extensions": {"flag": True}}, '{"extensions":{"flag":"true"}}'),
    ],
)
def test_ce_overrides_env(overrides: dict[str, Any] | None, expected: str) -> None:
    assert ce_overrides_env(overrides) == expected


@pytest.mark.parametrize(
    ("api_version", "kind", "found"),
    [
        ("apps/v1", "Deployment", "Deployment"),
        ("apps/v1", "StatefulSet", "StatefulSet"),
        ("apps/v1", "DaemonSet", "DaemonSet"),
        ("apps/v1", "ReplicaSet", "ReplicaSet"),
        ("batch/v1", "Job", "Job"),
        ("batch/v1", "CronJob", "CronJob"),
        ("batch/v1beta1", "CronJob", "CronJob"),
        ("v1", "Pod", None),
        ("serving.knative.dev/v1", "Service", None),
    ],
)
def test_subject_kinds(api_version: str, kind: str, found: str | None) -> None:
    result = subject_kind(api_version, kind)
    assert (result.kind if result else None) == found


def workload(kind: SubjectKind, pod_spec: dict[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = pod_spec
    for key in reversed(kind.pod_spec_path):
        nested = {key: nested}
    return {"metadata": {"name": "w", "resourceVersion": "42"}, **nested}


def apply_patch(obj: dict[str, Any], operations: list[dict[str, Any]]) -> dict[str, Any]:
    """A small RFC 6902 applier (test, add, remove) for the patches the controller makes."""
    result = copy.deepcopy(obj)
    for operation in operations:
        *parents, last = operation["path"].strip("/").split("/")
        target: Any = result
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        key: Any = int(last) if isinstance(target, list) else last
        if operation["op"] == "test":
            assert target[key] == operation["value"], f"test failed at {operation['path']}"
        elif operation["op"] == "add":
            target[key] = operation["value"]
        elif operation["op"] == "remove":
            del target[key]
    return result


@pytest.mark.parametrize("kind", list(SUBJECT_KINDS.values()), ids=lambda k: k.kind)
def test_subject_patch_applies_and_undoes(kind: SubjectKind) -> None:
    obj = workload(
        kind,
        {"initContainers": [{"name": "init"}], "containers": [{"name": "app", "env": APP_ENV}]},
    )
    operations = subject_patch(obj, kind, SINK)
    assert operations is not None
    assert operations[0] == {"op": "test", "path": "/metadata/resourceVersion", "value": "42"}
    bound = apply_patch(obj, operations)
    pod_spec = pod_spec_of(bound, kind)
    assert pod_spec is not None
    assert bound_injection(pod_spec) == {
        "init": {"K_SINK": SINK.sink, "K_CE_OVERRIDES": ""},
        "app": {"K_SINK": SINK.sink, "K_CE_OVERRIDES": ""},
    }
    assert subject_patch(bound, kind, SINK) is None, "nothing to do once bound"
    undo = subject_patch(bound, kind, None)
    assert undo is not None
    assert apply_patch(bound, undo) == obj


def test_patch_touches_only_containers_that_change() -> None:
    kind = SUBJECT_KINDS[("apps", "Deployment")]
    bound_env = env(("K_SINK", SINK.sink), ("K_CE_OVERRIDES", ""))
    obj = workload(kind, {"containers": [{"name": "done", "env": bound_env}, {"name": "new"}]})
    operations = subject_patch(obj, kind, SINK)
    assert operations is not None
    paths = [op["path"] for op in operations]
    assert paths == [
        "/metadata/resourceVersion",
        "/spec/template/spec/containers/1/name",
        "/spec/template/spec/containers/1/env",
    ]


def test_a_patch_from_a_stale_copy_fails_its_tests() -> None:
    kind = SUBJECT_KINDS[("batch", "CronJob")]
    stale = workload(kind, {"containers": [{"name": "a"}, {"name": "b"}]})
    operations = subject_patch(stale, kind, SINK)
    assert operations is not None
    reordered = workload(kind, {"containers": [{"name": "b"}, {"name": "a"}]})
    with pytest.raises(AssertionError, match="test failed"):
        apply_patch(reordered, operations)


@pytest.mark.parametrize(
    "stored_overrides",
    [{"name": "K_CE_OVERRIDES"}, {"name": "K_CE_OVERRIDES", "value": ""}],
    ids=["value left out", "empty value"],
)
def test_an_empty_value_is_the_same_as_none(stored_overrides: dict[str, str]) -> None:
    """The API server drops ``value: ""``: a bound subject must not be patched again forever."""
    kind = SUBJECT_KINDS[("apps", "Deployment")]
    stored = [{"name": "K_SINK", "value": SINK.sink}, stored_overrides]
    obj = workload(kind, {"containers": [{"name": "app", "env": stored}]})
    assert subject_patch(obj, kind, SINK) is None


def test_a_subject_kind_names_its_api_version_and_keys_the_workload_index() -> None:
    """``api_version`` is ``group/version``; kinds are hashable values (the cache keeps each
    kind's workloads in a dictionary keyed by the kind) and cannot be changed."""
    deployment = SUBJECT_KINDS[("apps", "Deployment")]
    assert deployment.api_version == "apps/v1"
    assert SUBJECT_KINDS[("batch", "CronJob")].api_version == "batch/v1"
    workloads = {kind: kind.plural for kind in SUBJECT_KINDS.values()}
    assert workloads[deployment] == "deployments"
    with pytest.raises(dataclasses.FrozenInstanceError):
        deployment.version = "v2"  # type: ignore[misc]


def test_an_injection_cannot_be_changed() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        SINK.sink = "http://elsewhere/"  # type: ignore[misc]
