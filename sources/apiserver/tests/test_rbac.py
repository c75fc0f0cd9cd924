"""RBAC derived from the settings: table-driven, plus the ``rbac`` command's output."""

from __future__ import annotations

import json

import pytest
from springhead.config import load_settings, source_variables_in
from springhead_apiserver.config import ApiServerSettings
from springhead_apiserver.rbac import PolicyRule, RbacRules, derive_rbac, rbac_manifests, to_yaml
from springhead_apiserver.rbac_command import RbacSettings, rbac_command

READ = ("get", "list", "watch")
CONFIGMAPS = '[{"apiVersion": "v1", "kind": "ConfigMap"}]'


def settings(resources: str = CONFIGMAPS, **env: str) -> ApiServerSettings:
    return load_settings(
        ApiServerSettings,
        {"K_SINK": "http://sink/", "NAMESPACE": "team", "APISERVER_RESOURCES": resources, **env},
    )


CASES = [
    (
        "own namespace",
        settings(),
        RbacRules((), {"team": (PolicyRule(("",), ("configmaps",), READ),)}),
    ),
    (
        "listed namespaces, two resources of one group merged",
        settings(
            '[{"apiVersion": "apps/v1", "kind": "Deployment"},'
            ' {"apiVersion": "apps/v1", "kind": "ReplicaSet", "labelSelector": "a=b"}]',
            APISERVER_NAMESPACES="a,b",
        ),
        RbacRules(
            (),
            {
                "a": (PolicyRule(("apps",), ("deployments", "replicasets"), READ),),
                "b": (PolicyRule(("apps",), ("deployments", "replicasets"), READ),),
            },
        ),
    ),
    (
        "all namespaces",
        settings(APISERVER_NAMESPACES="*"),
        RbacRules((PolicyRule(("",), ("configmaps",), READ),), {}),
    ),
    (
        "namespace selector: cluster-wide, plus namespaces",
        settings(APISERVER_NAMESPACE_SELECTOR="env=prod"),
        RbacRules(
            (
                PolicyRule(("",), ("configmaps",), READ),
                PolicyRule(("",), ("namespaces",), ("list", "watch")),
            ),
            {},
        ),
    ),
    (
        "cluster-scoped kinds need a ClusterRole even for one namespace",
        settings(
            '[{"apiVersion": "v1", "kind": "Namespace"},'
            ' {"apiVersion": "example.com/v1", "kind": "Gadget", "namespaced": false},'
            ' {"apiVersion": "example.com/v1", "kind": "Widget", "resource": "widgetz"}]'
        ),
        RbacRules(
            (
                PolicyRule(("",), ("namespaces",), READ),
                PolicyRule(("example.com",), ("gadgets",), READ),
            ),
            {"team": (PolicyRule(("example.com",), ("widgetz",), READ),)},
        ),
    ),
    (
        "state ConfigMap: get and patch by name in the source's namespace",
        settings(APISERVER_NAMESPACES="a", APISERVER_STATE_CONFIGMAP="w-state"),
        RbacRules(
            (),
            {
                "a": (PolicyRule(("",), ("configmaps",), READ),),
                "team": (PolicyRule(("",), ("configmaps",), ("get", "patch"), ("w-state",)),),
            },
        ),
    ),
]


@pytest.mark.parametrize(("s", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_derived_rules(s: ApiServerSettings, expected: RbacRules) -> None:
    assert derive_rbac(s) == expected


def test_manifests_bind_the_service_account() -> None:
    s = settings(APISERVER_NAMESPACE_SELECTOR="env=prod", APISERVER_STATE_CONFIGMAP="st")
    manifests = rbac_manifests(s, name="watcher", service_account="watcher-sa")
    kinds = [(m["kind"], m["metadata"].get("namespace")) for m in manifests]
    assert kinds == [
        ("ClusterRole", None),
        ("ClusterRoleBinding", None),
        ("Role", "team"),
        ("RoleBinding", "team"),
    ]
    for binding in (manifests[1], manifests[3]):
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "watcher-sa", "namespace": "team"}
        ]
    assert manifests[2]["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": ["st"],
            "verbs": ["get", "patch"],
        }
    ]


def test_yaml_rendering() -> None:
    text = to_yaml(
        [
            {
                "kind": "Role",
                "metadata": {"name": "w", "labels": {}},
                "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}],
                "flag": True,
                "odd": "yes",
            }
        ]
    )
    assert text == (
        "---\n"
        "kind: Role\n"
        "metadata:\n"
        "  name: w\n"
        "  labels: {}\n"
        "rules:\n"
        "  - apiGroups:\n"
        '      - ""\n'
        "    resources:\n"
        "      - configmaps\n"
        "    verbs:\n"
        "      - get\n"
        "flag: true\n"
        'odd: "yes"\n'
    )


def test_rbac_command_prints_yaml_and_json(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("K_SINK", raising=False)
    monkeypatch.setenv("NAMESPACE", "team")
    monkeypatch.setenv("NAME", "watcher")
    monkeypatch.setenv("APISERVER_RESOURCES", CONFIGMAPS)
    assert rbac_command([]) == 0
    yaml_text = capsys.readouterr().out
    assert yaml_text.startswith("---\napiVersion: rbac.authorization.k8s.io/v1\nkind: Role\n")
    assert "      - configmaps\n" in yaml_text
    assert rbac_command(["--format", "json", "--service-account", "sa"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["kind"] == "List"
    assert [i["kind"] for i in document["items"]] == ["Role", "RoleBinding"]
    assert document["items"][1]["subjects"][0]["name"] == "sa"


def test_rbac_command_reports_bad_configuration(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("APISERVER_RESOURCES", "[]")
    assert rbac_command([]) == 2
    assert "APISERVER_RESOURCES" in capsys.readouterr().err


def test_the_rbac_command_reads_no_sink_or_delivery_settings() -> None:
    # Sending nothing, it does not mention a sink; the process host warns when one is set.
    variables = {str(field.validation_alias): "" for field in RbacSettings.model_fields.values()}
    assert source_variables_in(variables) == []
