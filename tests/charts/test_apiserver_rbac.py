"""The apiserver chart's RBAC equals what `python -m springhead_apiserver rbac` prints for the
settings the chart gives the source - for namespaced, cluster-wide, namespace-selector and
state-ConfigMap configurations."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

CHARTS = Path(__file__).resolve().parents[2] / "charts"
RBAC_KINDS = ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")

CONFIGURATIONS: dict[str, dict[str, Any]] = {
    "own-namespace": {"resources": [{"apiVersion": "v1", "kind": "ConfigMap"}]},
    "namespaces-and-kinds": {
        "resources": [
            {"apiVersion": "v1", "kind": "ConfigMap", "selector": {"matchLabels": {"a": "b"}}},
            {"apiVersion": "apps/v1", "kind": "Deployment"},
            {"apiVersion": "apps/v1", "kind": "StatefulSet", "labelSelector": "tier=db"},
            {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy"},
            {"apiVersion": "v1", "kind": "Endpoints"},
            {"apiVersion": "example.com/v1", "kind": "Gateway", "plural": "gatewayz"},
        ],
        "namespaces": ["team-a", "team-b"],
    },
    "cluster-wide": {
        "resources": [
            {"apiVersion": "v1", "kind": "Pod", "fieldSelector": "status.phase=Running"},
            {"apiVersion": "batch/v1", "kind": "Job"},
        ],
        "namespaces": ["*"],
    },
    "cluster-scoped-kinds": {
        "resources": [
            {"apiVersion": "v1", "kind": "Node"},
            {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass"},
            {"apiVersion": "example.com/v1", "kind": "Tenant", "namespaced": False},
            {"apiVersion": "v1", "kind": "Secret"},
        ],
    },
    "namespace-selector": {
        "resources": [
            {"apiVersion": "v1", "kind": "Service"},
            {"apiVersion": "v1", "kind": "Node"},
        ],
        "namespaceSelector": {
            "matchLabels": {"env": "prod"},
            "matchExpressions": [{"key": "team", "operator": "Exists"}],
        },
    },
    "selector-text": {
        "resources": [{"apiVersion": "v1", "kind": "Event"}],
        "namespaceSelector": "env in (prod,staging)",
    },
    "selector-all": {
        "resources": [{"apiVersion": "policy/v1", "kind": "PodDisruptionBudget"}],
        "namespaceSelector": {},
    },
    "state-configmap": {
        "resources": [{"apiVersion": "v1", "kind": "ConfigMap"}],
        "namespaces": ["springhead", "other"],
        "stateConfigMap": {"enabled": True},
    },
    "state-configmap-cluster-wide": {
        "resources": [{"apiVersion": "apps/v1", "kind": "ReplicaSet"}],
        "namespaceSelector": {"matchLabels": {"watched": "true"}},
        "stateConfigMap": {"enabled": True, "name": "positions"},
    },
}


def comparable(manifests: list[dict[str, Any]]) -> dict[tuple[str, str, str], Any]:
    """(kind, namespace, name) -> rules, or roleRef and subjects for bindings."""
    result: dict[tuple[str, str, str], Any] = {}
    for doc in manifests:
        if doc["kind"] not in RBAC_KINDS:
            continue
        key = (doc["kind"], doc["metadata"].get("namespace", ""), doc["metadata"]["name"])
        if doc["kind"].endswith("Binding"):
            result[key] = {"roleRef": doc["roleRef"], "subjects": doc["subjects"]}
        else:
            result[key] = doc["rules"]
    return result


def command_manifests(env: dict[str, str], name: str) -> list[dict[str, Any]]:
    """What the source's own derivation prints for ``env``."""
    completed = subprocess.run(
        [sys.executable, "-m", "springhead_apiserver", "rbac", "--format", "json",
         "--name", name, "--service-account", name],
        env={**os.environ, **env}, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    items: list[dict[str, Any]] = json.loads(completed.stdout)["items"]
    return items


@pytest.mark.parametrize("configuration", sorted(CONFIGURATIONS))
def test_chart_rbac_equals_the_source_derivation(
    charts: Any, tmp_path: Path, configuration: str
) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(
        yaml.safe_dump(
            {"sink": {"uri": "http://sink/"}, "apiserver": CONFIGURATIONS[configuration]}
        )
    )
    docs = charts.render("apiserver", "--values", str(values), release="watcher")
    deployment = charts.find(docs, "Deployment", "watcher")
    env = {
        name: value
        for name, value in charts.container_env(deployment).items()
        if name.startswith("APISERVER_") and isinstance(value, str)
    }
    env["NAMESPACE"] = "springhead"  # what the Deployment's fieldRef resolves to
    expected = comparable(command_manifests(env, "watcher"))
    assert expected, "the command printed no RBAC"
    # Order matters too: the chart's rules are sorted as the derivation sorts them.
    assert comparable(docs) == expected


def test_rbac_can_be_left_to_the_user(charts: Any) -> None:
    docs = charts.render(
        "apiserver", "--values", str(CHARTS / "apiserver/ci/cluster-values.yaml"),
        "--set", "rbac.create=false",
    )  # fmt: skip
    assert not {d["kind"] for d in docs} & set(RBAC_KINDS)
