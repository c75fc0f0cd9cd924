"""What a SinkBinding does to its subjects' pod templates, as pure functions.

:func:`bind` strips the binding's variables from every container and init container, then (unless
undoing) appends ``K_SINK``, ``K_CA_CERTS`` (when there are certificates) and ``K_CE_OVERRIDES``
(always, "" when the binding has no overrides) - in that order, as Knative does. Applying twice
gives the same result as applying once, and undo removes exactly those variables.

:func:`subject_patch` turns the difference into a JSON patch (RFC 6902) that replaces only the
``env`` lists that change, guarded by ``test`` operations on the object's resourceVersion and the
container names, so a patch computed from a stale copy fails instead of landing on the wrong
container.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BINDING_ENV",
    "Injection",
    "SUBJECT_KINDS",
    "SubjectKind",
    "bind",
    "bound_injection",
    "ce_overrides_env",
    "pod_spec_of",
    "subject_kind",
    "subject_patch",
]

#: The variables a SinkBinding injects (and undo removes).
BINDING_ENV = ("K_SINK", "K_CE_OVERRIDES", "K_CA_CERTS")


@dataclass(frozen=True, slots=True)
class SubjectKind:
    """A workload kind a SinkBinding can bind: where its pod template lives."""

    group: str
    """API group (``apps``, ``batch``)."""
    version: str
    """The version the controller reads and patches."""
    kind: str
    plural: str
    pod_spec_path: tuple[str, ...]
    """Keys leading from the object to the pod template's ``spec``."""

    @property
    def api_version(self) -> str:
        """``apps/v1``."""
        return f"{self.group}/{self.version}" if self.group else self.version


_TEMPLATE = ("spec", "template", "spec")

#: Every kind with ``spec.template.spec`` (and CronJob with its job template), by (group, kind).
SUBJECT_KINDS: Mapping[tuple[str, str], SubjectKind] = {
    (k.group, k.kind): k
    for k in (
        SubjectKind("apps", "v1", "Deployment", "deployments", _TEMPLATE),
        SubjectKind("apps", "v1", "StatefulSet", "statefulsets", _TEMPLATE),
        SubjectKind("apps", "v1", "DaemonSet", "daemonsets", _TEMPLATE),
        SubjectKind("apps", "v1", "ReplicaSet", "replicasets", _TEMPLATE),
        SubjectKind("batch", "v1", "Job", "jobs", _TEMPLATE),
        SubjectKind("batch", "v1", "CronJob", "cronjobs", ("spec", "jobTemplate", *_TEMPLATE)),
    )
}


def subject_kind(api_version: str, kind: str) -> SubjectKind | None:
    """The :class:`SubjectKind` of ``api_version``/``kind`` (any version of the group), or None
    when the controller cannot bind that kind."""
    group = api_version.rpartition("/")[0]
    return SUBJECT_KINDS.get((group, kind))


@dataclass(frozen=True, slots=True)
class Injection:
    """The values a binding injects."""

    sink: str
    """``K_SINK``: the resolved sink URL."""
    ce_overrides: str = ""
    """``K_CE_OVERRIDES``: JSON, or "" when the binding has none."""
    ca_certs: str | None = None
    """``K_CA_CERTS``: PEM, only when the sink has certificates."""

    def env(self) -> list[dict[str, str]]:
        """The variables, in Knative's order, as the API server stores them (an empty value is
        left out: ``K_CE_OVERRIDES`` without overrides is ``{"name": "K_CE_OVERRIDES"}``)."""
        variables = [_variable("K_SINK", self.sink)]
        if self.ca_certs:
            variables.append(_variable("K_CA_CERTS", self.ca_certs))
        variables.append(_variable("K_CE_OVERRIDES", self.ce_overrides))
        return variables


def _variable(name: str, value: str) -> dict[str, str]:
    return {"name": name, "value": value} if value else {"name": name}


def _stored(variable: Mapping[str, Any]) -> dict[str, Any]:
    """A variable as the API server keeps it: ``value: ""`` is the same as no value."""
    return {k: v for k, v in variable.items() if not (k == "value" and v == "")}


def ce_overrides_env(ce_overrides: Mapping[str, Any] | None) -> str:
    """``K_CE_OVERRIDES`` for a spec's ``ceOverrides``: "" when absent, else compact JSON with
    sorted keys and string values (``additional: 42`` becomes ``"42"``, as Knative documents)."""
    if ce_overrides is None:
        return ""
    extensions = ce_overrides.get("extensions") or {}
    document: dict[str, Any] = {}
    if extensions:
        document["extensions"] = {
            str(name): _text(value) for name, value in sorted(extensions.items())
        }
    return json.dumps(document, separators=(",", ":"), sort_keys=True)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def pod_spec_of(obj: Mapping[str, Any], kind: SubjectKind) -> Mapping[str, Any] | None:
    """The pod template's spec inside ``obj`` (None when the object has none)."""
    current: Any = obj
    for key in kind.pod_spec_path:
        if not isinstance(current, Mapping):
            return None
        current = current.get(key)
    return current if isinstance(current, Mapping) else None


def _bound_env(env: Sequence[Mapping[str, Any]] | None, injection: Injection | None) -> list[Any]:
    kept = [_stored(var) for var in env or () if var.get("name") not in BINDING_ENV]
    return kept + injection.env() if injection is not None else kept


def bind(pod_spec: Mapping[str, Any], injection: Injection | None) -> dict[str, Any]:
    """``pod_spec`` with the binding applied (``injection``) or undone (None).

    Only the ``env`` of containers and init containers changes; other fields are kept as they are.
    """
    result = dict(pod_spec)
    for field in ("initContainers", "containers"):
        containers = pod_spec.get(field)
        if not containers:
            continue
        updated = []
        for container in containers:
            copy = dict(container)
            env = _bound_env(container.get("env"), injection)
            if env:
                copy["env"] = env
            else:
                copy.pop("env", None)
            updated.append(copy)
        result[field] = updated
    return result


def bound_injection(pod_spec: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """container name -> the binding variables it carries now (name -> value), for inspection."""
    found: dict[str, dict[str, str]] = {}
    for field in ("initContainers", "containers"):
        for container in pod_spec.get(field) or ():
            values = {
                str(var.get("name")): str(var.get("value", ""))
                for var in container.get("env") or ()
                if var.get("name") in BINDING_ENV
            }
            found[str(container.get("name"))] = values
    return found


def subject_patch(
    obj: Mapping[str, Any], kind: SubjectKind, injection: Injection | None
) -> list[dict[str, Any]] | None:
    """The JSON patch that applies (or, for None, undoes) the binding on ``obj``; None when
    nothing would change."""
    pod_spec = pod_spec_of(obj, kind)
    if pod_spec is None:
        return None
    base = "/" + "/".join(kind.pod_spec_path)
    operations: list[dict[str, Any]] = []
    for field in ("initContainers", "containers"):
        for index, container in enumerate(pod_spec.get(field) or ()):
            current = [_stored(var) for var in container.get("env") or ()]
            desired = _bound_env(current, injection)
            if desired == current:
                continue
            path = f"{base}/{field}/{index}"
            operations.append({"op": "test", "path": f"{path}/name", "value": container["name"]})
            if desired:
                operations.append({"op": "add", "path": f"{path}/env", "value": desired})
            else:
                operations.append({"op": "remove", "path": f"{path}/env"})
    if not operations:
        return None
    resource_version = (obj.get("metadata") or {}).get("resourceVersion")
    if resource_version:
        operations.insert(
            0, {"op": "test", "path": "/metadata/resourceVersion", "value": resource_version}
        )
    return operations
