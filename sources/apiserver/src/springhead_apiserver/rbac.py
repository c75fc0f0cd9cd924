"""The least RBAC a source needs, derived from its settings (pure; the chart renders the same).

- ``get``, ``list``, ``watch`` on exactly the configured resources: in a Role per watched namespace,
  or in a ClusterRole when watching all namespaces (``*``, a namespace selector) or a
  cluster-scoped resource;
- ``list``, ``watch`` on namespaces when a namespace label selector is used;
- ``get``, ``patch`` on the state ConfigMap (by name) in the source's namespace, when configured.
  The ConfigMap must exist (the chart creates it): ``create`` cannot be limited to one name.

``python -m springhead_apiserver rbac`` prints the manifests for the settings in the environment.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from springhead.kube import guess_plural, split_api_version

from springhead_apiserver.config import ResourceSpec, WatchSettings

__all__ = [
    "CLUSTER_SCOPED_KINDS",
    "PolicyRule",
    "RbacRules",
    "derive_rbac",
    "rbac_manifests",
    "to_yaml",
]

#: Built-in kinds that are cluster-scoped, by (group, kind). Other kinds are taken to be
#: namespaced unless their resource entry says ``"namespaced": false``.
CLUSTER_SCOPED_KINDS = frozenset(
    {
        ("", "Namespace"),
        ("", "Node"),
        ("", "PersistentVolume"),
        ("", "ComponentStatus"),
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ("apiregistration.k8s.io", "APIService"),
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
        ("storage.k8s.io", "StorageClass"),
        ("storage.k8s.io", "CSIDriver"),
        ("storage.k8s.io", "CSINode"),
        ("storage.k8s.io", "VolumeAttachment"),
        ("scheduling.k8s.io", "PriorityClass"),
        ("node.k8s.io", "RuntimeClass"),
        ("networking.k8s.io", "IngressClass"),
        ("certificates.k8s.io", "CertificateSigningRequest"),
        ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
        ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
    }
)
_READ = ("get", "list", "watch")


@dataclass(frozen=True, order=True)
class PolicyRule:
    """One RBAC rule."""

    api_groups: tuple[str, ...]
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    resource_names: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The rule as a Kubernetes manifest fragment."""
        rule: dict[str, Any] = {
            "apiGroups": list(self.api_groups),
            "resources": list(self.resources),
        }
        if self.resource_names:
            rule["resourceNames"] = list(self.resource_names)
        rule["verbs"] = list(self.verbs)
        return rule


@dataclass(frozen=True)
class RbacRules:
    """Rules for a ClusterRole and for a Role per namespace."""

    cluster: tuple[PolicyRule, ...] = ()
    namespaced: dict[str, tuple[PolicyRule, ...]] = field(default_factory=dict)


def _namespaced(spec: ResourceSpec) -> bool:
    group, _ = split_api_version(spec.api_version)
    if spec.namespaced is not None:
        return spec.namespaced
    return (group, spec.kind) not in CLUSTER_SCOPED_KINDS


def _merge(rules: Iterable[PolicyRule]) -> tuple[PolicyRule, ...]:
    """Rules sharing groups, verbs and names merged into one; sorted, without duplicates."""
    grouped: dict[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]], set[str]] = {}
    for rule in rules:
        grouped.setdefault((rule.api_groups, rule.verbs, rule.resource_names), set()).update(
            rule.resources
        )
    return tuple(
        sorted(
            PolicyRule(groups, tuple(sorted(resources)), verbs, names)
            for (groups, verbs, names), resources in grouped.items()
        )
    )


def derive_rbac(settings: WatchSettings) -> RbacRules:
    """The minimal rules ``settings`` need."""
    cluster: list[PolicyRule] = []
    namespaced: dict[str, list[PolicyRule]] = {}
    for spec in settings.resources:
        group, _ = split_api_version(spec.api_version)
        rule = PolicyRule((group,), (spec.resource or guess_plural(spec.kind),), _READ)
        if _namespaced(spec) and not settings.all_namespaces:
            for namespace in settings.watched_namespaces:
                namespaced.setdefault(namespace, []).append(rule)
        else:
            cluster.append(rule)
    if settings.filters_namespaces:
        cluster.append(PolicyRule(("",), ("namespaces",), ("list", "watch")))
    if settings.state_configmap:
        namespaced.setdefault(settings.namespace, []).append(
            PolicyRule(("",), ("configmaps",), ("get", "patch"), (settings.state_configmap,))
        )
    return RbacRules(
        _merge(cluster), {ns: _merge(rules) for ns, rules in sorted(namespaced.items())}
    )


def rbac_manifests(
    settings: WatchSettings, *, name: str, service_account: str
) -> list[dict[str, Any]]:
    """ClusterRole/Role and their bindings to ``service_account`` (in ``settings.namespace``)."""
    rules = derive_rbac(settings)
    subject = {"kind": "ServiceAccount", "name": service_account, "namespace": settings.namespace}
    manifests: list[dict[str, Any]] = []
    if rules.cluster:
        manifests.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": name},
                "rules": [r.to_dict() for r in rules.cluster],
            }
        )
        manifests.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": name},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": name,
                },
                "subjects": [subject],
            }
        )
    for namespace, namespace_rules in rules.namespaced.items():
        manifests.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": name, "namespace": namespace},
                "rules": [r.to_dict() for r in namespace_rules],
            }
        )
        manifests.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": name, "namespace": namespace},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
                "subjects": [subject],
            }
        )
    return manifests


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    plain = text and text[0].isalpha() and all(c.isalnum() or c in "-._/" for c in text)
    if plain and text.lower() not in ("true", "false", "null", "yes", "no", "on", "off", "y", "n"):
        return text
    return json.dumps(text)


def _yaml_lines(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    if isinstance(value, dict):
        lines: list[str] = []
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                lines.append(f"{pad}{key}:")
                lines.extend(_yaml_lines(item, indent + 2))
            else:
                lines.append(f"{pad}{key}: {_inline(item)}")
        return lines
    lines = []
    for item in value:
        if isinstance(item, dict) and item:
            nested = _yaml_lines(item, indent + 2)
            lines.append(f"{pad}- {nested[0].lstrip()}")
            lines.extend(nested[1:])
        else:
            lines.append(f"{pad}- {_inline(item)}")
    return lines


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _scalar(value)


def to_yaml(documents: list[dict[str, Any]]) -> str:
    """Plain data (dicts, lists, strings, bools) as a multi-document YAML stream."""
    return "".join("---\n" + "\n".join(_yaml_lines(d, 0)) + "\n" for d in documents)
