"""Kubernetes label selectors and the ``bindings.knative.dev`` include/exclude labels."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

__all__ = [
    "EXCLUDE_LABEL",
    "INCLUDE_LABEL",
    "LabelMatcher",
    "SelectionMode",
    "SelectorError",
    "considered",
    "label_matcher",
]

#: Label on objects and namespaces keeping them out of bindings (exclusion mode).
EXCLUDE_LABEL = "bindings.knative.dev/exclude"
#: Label on objects and namespaces letting bindings in (inclusion mode).
INCLUDE_LABEL = "bindings.knative.dev/include"

LabelMatcher = Callable[[Mapping[str, str]], bool]


class SelectorError(ValueError):
    """A label selector that is not valid."""


class SelectionMode(StrEnum):
    """Which objects SinkBindings may touch (Knative's ``SINK_BINDING_SELECTION_MODE``)."""

    EXCLUSION = "exclusion"
    """Everything, except objects or namespaces labelled ``bindings.knative.dev/exclude: true``."""
    INCLUSION = "inclusion"
    """Only objects labelled ``bindings.knative.dev/include: true`` in namespaces labelled so."""


def considered(
    mode: SelectionMode, object_labels: Mapping[str, str], namespace_labels: Mapping[str, str]
) -> bool:
    """Whether a binding may patch an object with these labels in a namespace with these.

    As Knative's webhook selects: the namespace and the object must both pass.
    """
    if mode is SelectionMode.INCLUSION:
        return (
            object_labels.get(INCLUDE_LABEL) == "true"
            and namespace_labels.get(INCLUDE_LABEL) == "true"
        )
    return (
        object_labels.get(EXCLUDE_LABEL) != "true" and namespace_labels.get(EXCLUDE_LABEL) != "true"
    )


def label_matcher(selector: Mapping[str, Any]) -> LabelMatcher:
    """A function telling whether labels match a ``LabelSelector`` (``matchLabels`` and
    ``matchExpressions``, ANDed). An empty selector matches everything, as in Kubernetes.

    Raises :class:`SelectorError` for unknown operators or values that do not fit them.
    """
    if not isinstance(selector, Mapping):
        raise SelectorError("selector must be an object with matchLabels and/or matchExpressions")
    tests: list[LabelMatcher] = []
    match_labels = selector.get("matchLabels") or {}
    if not isinstance(match_labels, Mapping):
        raise SelectorError("matchLabels must be a map of label -> value")
    for key, value in match_labels.items():
        tests.append(_equals(str(key), str(value)))
    expressions = selector.get("matchExpressions") or []
    if not isinstance(expressions, list):
        raise SelectorError("matchExpressions must be a list")
    for expression in expressions:
        tests.append(_expression(expression))
    return lambda labels: all(test(labels) for test in tests)


def _equals(key: str, value: str) -> LabelMatcher:
    return lambda labels: labels.get(key) == value


def _expression(expression: Any) -> LabelMatcher:
    if not isinstance(expression, Mapping) or not expression.get("key"):
        raise SelectorError("every matchExpressions entry needs a key")
    key = str(expression["key"])
    operator = str(expression.get("operator", ""))
    values = frozenset(str(v) for v in expression.get("values") or ())
    if operator in ("In", "NotIn"):
        if not values:
            raise SelectorError(f"operator {operator} on {key!r} needs values")
        if operator == "In":
            return lambda labels: key in labels and labels[key] in values
        return lambda labels: key not in labels or labels[key] not in values
    if operator in ("Exists", "DoesNotExist"):
        if values:
            raise SelectorError(f"operator {operator} on {key!r} takes no values")
        if operator == "Exists":
            return lambda labels: key in labels
        return lambda labels: key not in labels
    raise SelectorError(
        f"unknown operator {operator!r} on {key!r} (In, NotIn, Exists or DoesNotExist)"
    )
