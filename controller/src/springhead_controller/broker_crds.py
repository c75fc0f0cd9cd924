"""The ``eventing.knative.dev/v1`` Broker and Trigger CustomResourceDefinitions the controller
installs when Knative Eventing is not (their schemas accept Knative's fields as they are: specs
and statuses keep unknown fields, so Knative's manifests apply unchanged)."""

from __future__ import annotations

from typing import Any

__all__ = ["EVENTING_GROUP", "broker_crd_manifests", "crd_manifest"]

EVENTING_GROUP = "eventing.knative.dev"


def _open(description: str, properties: dict[str, Any] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "description": description,
        "x-kubernetes-preserve-unknown-fields": True,
    }
    if properties:
        schema["properties"] = properties
    return schema


def _string(description: str) -> dict[str, Any]:
    return {"type": "string", "description": description}


def _ready_columns() -> list[dict[str, Any]]:
    return [
        {
            "name": "Ready",
            "type": "string",
            "jsonPath": ".status.conditions[?(@.type=='Ready')].status",
        },
        {
            "name": "Reason",
            "type": "string",
            "jsonPath": ".status.conditions[?(@.type=='Ready')].reason",
        },
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]


def crd_manifest(
    *, group: str, kind: str, plural: str, categories: list[str], labels: dict[str, str],
    description: str, spec: dict[str, Any], status: dict[str, Any],
    columns: list[dict[str, Any]],
) -> dict[str, Any]:  # fmt: skip
    """A namespaced ``v1`` CustomResourceDefinition with a status subresource: the shape every CRD
    the controller installs has."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}", "labels": labels},
        "spec": {
            "group": group,
            "names": {
                "kind": kind,
                "plural": plural,
                "singular": kind.lower(),
                "categories": categories,
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": description,
                            "properties": {"spec": spec, "status": status},
                        }
                    },
                    "additionalPrinterColumns": columns,
                }
            ],
        },
    }


def _crd(
    kind: str, plural: str, description: str, spec: dict[str, Any], columns: list[dict[str, Any]]
) -> dict[str, Any]:
    return crd_manifest(
        group=EVENTING_GROUP,
        kind=kind,
        plural=plural,
        categories=["all", "knative", "eventing"],
        labels={
            "app.kubernetes.io/name": "springhead",
            "knative.dev/crd-install": "true",
            **({"duck.knative.dev/addressable": "true"} if kind == "Broker" else {}),
        },
        description=description,
        spec=spec,
        status=_open("What the controller last observed."),
        columns=columns,
    )


def broker_crd_manifests() -> list[dict[str, Any]]:
    """The Broker and Trigger CRDs as objects ready to create."""
    broker = _crd(
        "Broker",
        "brokers",
        "Broker collects events at its address and hands them to its Triggers.",
        _open(
            "The Broker's spec (Knative's).",
            {
                "config": _open("A reference to the Broker's configuration (KReference)."),
                "delivery": _open("Delivery spec: retry, backoff, timeout, deadLetterSink."),
            },
        ),
        [{"name": "URL", "type": "string", "jsonPath": ".status.address.url"}, *_ready_columns()],
    )
    trigger = _crd(
        "Trigger",
        "triggers",
        "Trigger delivers the events of a Broker that pass its filter to its subscriber.",
        _open(
            "The Trigger's spec (Knative's).",
            {
                "broker": _string("The Broker's name, in the Trigger's namespace."),
                "filter": _open("Exact matches on attributes (filter.attributes)."),
                "filters": {
                    "type": "array",
                    "description": "Filters in Knative's dialects (exact, prefix, suffix, all, "
                    "any, not, cesql), all of which must match.",
                    "items": _open("One filter."),
                },
                "subscriber": _open("Where matching events go (a Destination)."),
                "delivery": _open("Delivery spec; replaces the Broker's."),
            },
        ),
        [
            {"name": "Broker", "type": "string", "jsonPath": ".spec.broker"},
            {"name": "Subscriber_URI", "type": "string", "jsonPath": ".status.subscriberUri"},
            *_ready_columns(),
        ],
    )
    return [broker, trigger]
