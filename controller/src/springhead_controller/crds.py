"""The CustomResourceDefinitions the controller serves: ``sources.knative.dev`` SinkBinding,
ContainerSource, PingSource, ApiServerSource and KafkaSource, with the same schemas as Knative's
(so Knative's manifests apply unchanged), and their installation when absent."""

from __future__ import annotations

import logging
import time
from typing import Any

from springhead.kube import KubeApiError, KubeClient

from springhead_controller.broker_crds import broker_crd_manifests, crd_manifest

__all__ = [
    "API_SERVER_SOURCE_CRD",
    "CONTAINER_SOURCE_CRD",
    "GROUP",
    "KAFKA_SOURCE_CRD",
    "PING_SOURCE_CRD",
    "SINK_BINDING_CRD",
    "crd_manifests",
    "install_crds",
]

log = logging.getLogger("springhead.controller")

#: The API group of both resources.
GROUP = "sources.knative.dev"
SINK_BINDING_CRD = f"sinkbindings.{GROUP}"
CONTAINER_SOURCE_CRD = f"containersources.{GROUP}"
PING_SOURCE_CRD = f"pingsources.{GROUP}"
API_SERVER_SOURCE_CRD = f"apiserversources.{GROUP}"
KAFKA_SOURCE_CRD = f"kafkasources.{GROUP}"
_CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


def _string(description: str) -> dict[str, Any]:
    return {"type": "string", "description": description}


def _free_map(description: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "x-kubernetes-preserve-unknown-fields": True,
    }


def _ce_overrides() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "Changes applied to every event the source sends.",
        "properties": {
            "extensions": _free_map("Extension attributes set on every event (name: value).")
        },
    }


def _destination() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "Where events go: a reference to an Addressable, a URI, or both "
        "(a relative URI is resolved against the reference's address).",
        "properties": {
            "ref": {
                "type": "object",
                "description": "The Addressable (or core v1 Service) receiving events.",
                "properties": {
                    "apiVersion": _string("API version of the referenced object."),
                    "kind": _string("Kind of the referenced object."),
                    "name": _string("Name of the referenced object."),
                    "namespace": _string(
                        "Namespace of the referenced object (default: the source's)."
                    ),
                },
            },
            "uri": _string("Absolute URL, or a path relative to the ref's address."),
            "CACerts": _string("PEM certificates trusted for the sink's TLS."),
            "audience": _string("OIDC audience of the sink."),
        },
    }


def _source_status(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    condition = {
        "type": "object",
        "required": ["type", "status"],
        "properties": {
            "lastTransitionTime": _string("When the condition last changed status."),
            "message": _string("Human-readable details."),
            "reason": _string("Machine-readable cause of the last transition."),
            "severity": _string("Error (default), Warning or Info."),
            "status": _string("True, False or Unknown."),
            "type": _string("Condition type."),
        },
    }
    properties: dict[str, Any] = {
        "annotations": _free_map("Additional status information."),
        "auth": {
            "type": "object",
            "description": "OIDC identity used towards the sink.",
            "properties": {
                "serviceAccountName": _string("Service account of the OIDC identity."),
                "serviceAccountNames": {"type": "array", "items": {"type": "string"}},
            },
        },
        "ceAttributes": {
            "type": "array",
            "description": "The type and source attributes of the events sent.",
            "items": {
                "type": "object",
                "properties": {"source": _string("Event source."), "type": _string("Event type.")},
            },
        },
        "conditions": {
            "type": "array",
            "description": "What the controller last observed.",
            "items": condition,
        },
        "observedGeneration": {
            "type": "integer",
            "format": "int64",
            "description": "The generation of the spec the status describes.",
        },
        "sinkUri": _string("The resolved sink URL."),
        "sinkCACerts": _string("PEM certificates trusted for the sink."),
        "sinkAudience": _string("OIDC audience of the sink."),
    }
    properties.update(extra or {})
    return {"type": "object", "properties": properties}


def _printer_columns() -> list[dict[str, Any]]:
    return [
        {"name": "Sink", "type": "string", "jsonPath": ".status.sinkUri"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
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
    ]


def _crd(
    kind: str, plural: str, categories: list[str], description: str, spec: dict[str, Any],
    status: dict[str, Any], labels: dict[str, str],
) -> dict[str, Any]:  # fmt: skip
    return crd_manifest(
        group=GROUP,
        kind=kind,
        plural=plural,
        categories=categories,
        labels={
            "eventing.knative.dev/source": "true",
            "duck.knative.dev/source": "true",
            "app.kubernetes.io/name": "springhead",
            **labels,
        },
        description=description,
        spec=spec,
        status=status,
        columns=_printer_columns(),
    )


def _label_selector(description: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "properties": {
            "matchExpressions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "key": _string("Label key."),
                        "operator": _string("In, NotIn, Exists or DoesNotExist."),
                        "values": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
            "matchLabels": _free_map("Labels to match (key: value)."),
        },
    }


def _sink_binding_crd() -> dict[str, Any]:
    selector = _label_selector("Labels selecting the subjects (exclusive with name).")
    spec = {
        "type": "object",
        "properties": {
            "ceOverrides": _ce_overrides(),
            "sink": _destination(),
            "subject": {
                "type": "object",
                "description": "The workloads whose containers receive K_SINK: one by name, or "
                "all matching a selector, in the binding's namespace.",
                "properties": {
                    "apiVersion": _string("API version of the subjects."),
                    "kind": _string("Kind of the subjects."),
                    "name": _string("Name of the subject (exclusive with selector)."),
                    "namespace": _string("Namespace of the subjects (the binding's)."),
                    "selector": selector,
                },
            },
        },
    }
    status = _source_status({"oidcTokenSecretName": _string("Secret holding the OIDC token.")})
    return _crd(
        "SinkBinding",
        "sinkbindings",
        ["all", "knative", "sources", "bindings"],
        "SinkBinding resolves a sink to a URL and injects it (K_SINK, K_CE_OVERRIDES, "
        "K_CA_CERTS) into the containers of its subjects.",
        spec,
        status,
        {"duck.knative.dev/binding": "true"},
    )


def _container_source_crd() -> dict[str, Any]:
    spec = {
        "type": "object",
        "properties": {
            "ceOverrides": _ce_overrides(),
            "sink": _destination(),
            "template": _free_map("Pod template (as a Deployment's) of the source's containers."),
        },
    }
    return _crd(
        "ContainerSource",
        "containersources",
        ["all", "knative", "sources"],
        "ContainerSource runs its pod template as a Deployment whose containers receive the "
        "sink through a SinkBinding.",
        spec,
        _source_status(),
        {},
    )


def _ping_source_crd() -> dict[str, Any]:
    spec = {
        "type": "object",
        "properties": {
            "ceOverrides": _ce_overrides(),
            "contentType": _string("Media type of data or dataBase64 (datacontenttype)."),
            "data": _string("Data of every event, as text (exclusive with dataBase64)."),
            "dataBase64": _string(
                "Data of every event, base64-encoded, for binary data (exclusive with data)."
            ),
            "schedule": _string(
                "Cron schedule: 5 fields, or 6 with seconds first, or a descriptor such as "
                "@hourly (default: every minute)."
            ),
            "sink": _destination(),
            "timezone": _string("IANA time zone of the schedule (Springhead's default: UTC)."),
        },
    }
    return _crd(
        "PingSource",
        "pingsources",
        ["all", "knative", "sources"],
        "PingSource sends an event with fixed data on a cron schedule; the multi-tenant ping "
        "fires every PingSource.",
        spec,
        _source_status(),
        {},
    )


def _api_server_source_crd() -> dict[str, Any]:
    spec = {
        "type": "object",
        # Knative's schema keeps unknown spec fields (filters, behind a feature flag, and more).
        "x-kubernetes-preserve-unknown-fields": True,
        "required": ["resources"],
        "properties": {
            "ceOverrides": _ce_overrides(),
            "mode": _string(
                "Reference (default: data names the object) or Resource (data is the whole object)."
            ),
            "namespaceSelector": _label_selector(
                "Watch the namespaces whose labels match ({}: all); unset: the source's own."
            ),
            "owner": {
                "type": "object",
                "description": "Only objects whose controller owner has this apiVersion and kind.",
                "properties": {
                    "apiVersion": _string("API version of the owner."),
                    "kind": _string("Kind of the owner."),
                },
            },
            "resources": {
                "type": "array",
                "description": "The kinds watched (at least one).",
                "items": {
                    "type": "object",
                    "properties": {
                        "apiVersion": _string("API version of the kind watched."),
                        "kind": _string("Kind watched."),
                        "selector": _label_selector("Only objects with these labels."),
                    },
                },
            },
            "serviceAccountName": _string(
                "Service account the source runs as (it must hold the permissions); unset: "
                "the controller creates one with the least permissions the spec needs."
            ),
            "sink": _destination(),
        },
    }
    status = _source_status(
        {"namespaces": {"type": "array", "items": {"type": "string"},
                        "description": "The namespaces watched."}}
    )  # fmt: skip
    return _crd(
        "ApiServerSource",
        "apiserversources",
        ["all", "knative", "sources"],
        "ApiServerSource sends an event for every change of the watched Kubernetes objects.",
        spec,
        status,
        {},
    )


def _secret_value(description: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "properties": {
            "secretKeyRef": {
                "type": "object",
                "description": "The key of a Secret in the source's namespace.",
                "required": ["key"],
                "properties": {
                    "key": _string("Key in the Secret."),
                    "name": _string("Name of the Secret."),
                    "optional": {"type": "boolean", "description": "Whether it may be missing."},
                },
                "x-kubernetes-map-type": "atomic",
            }
        },
    }


def _delivery() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "Delivery spec: retries, backoff, timeout, dead-letter sink.",
        "properties": {
            "backoffDelay": _string("ISO-8601 duration, e.g. PT0.3S."),
            "backoffPolicy": _string("linear or exponential."),
            "deadLetterSink": _destination(),
            "retry": {"type": "integer", "format": "int32", "description": "Retries."},
            "retryAfterMax": _string("Longest Retry-After honoured (ISO-8601)."),
            "timeout": _string("Time per attempt (ISO-8601)."),
        },
    }


def _kafka_source_crd() -> dict[str, Any]:
    strings = {"type": "array", "items": {"type": "string"}}
    spec = {
        "type": "object",
        "required": ["bootstrapServers", "topics"],
        "properties": {
            "bootstrapServers": {**strings, "description": "host:port of Kafka brokers."},
            "ceOverrides": _ce_overrides(),
            "consumerGroup": _string("Kafka consumer group (default: knative-kafka-source-<uid>)."),
            "consumers": {
                "type": "integer",
                "format": "int32",
                "description": "Consumers (replicas) in the group (default 1).",
            },
            "delivery": _delivery(),
            "initialOffset": _string("earliest or latest (default)."),
            "net": {
                "type": "object",
                "description": "How to connect: SASL and TLS, credentials from Secrets.",
                "properties": {
                    "sasl": {
                        "type": "object",
                        "properties": {
                            "enable": {"type": "boolean", "description": "Use SASL."},
                            "password": _secret_value("The SASL password."),
                            "roleARN": _string("AWS role (MSK IAM; not supported)."),
                            "tokenProvider": _string("Token provider (MSK IAM; not supported)."),
                            "type": _secret_value(
                                "The mechanism: PLAIN (default), SCRAM-SHA-256, SCRAM-SHA-512."
                            ),
                            "user": _secret_value("The SASL user."),
                        },
                    },
                    "tls": {
                        "type": "object",
                        "properties": {
                            "caCert": _secret_value("CA certificates (PEM) of the brokers."),
                            "cert": _secret_value("Client certificate (PEM)."),
                            "enable": {"type": "boolean", "description": "Use TLS."},
                            "key": _secret_value("Client key (PEM)."),
                        },
                    },
                },
            },
            "ordering": _string("ordered (default) or unordered."),
            "sink": _destination(),
            "topics": {**strings, "description": "Topics to consume."},
        },
    }
    status = _source_status(
        {
            "claims": _string("The partitions claimed."),
            "consumers": {"type": "integer", "format": "int32", "description": "Consumers."},
            "maxAllowedVReplicas": {"type": "integer", "format": "int32"},
            "placements": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "podName": _string("Pod."),
                        "vreplicas": {"type": "integer", "format": "int32"},
                    },
                },
            },
            "selector": _string("Label selector of the consumers' pods (scale subresource)."),
        }
    )
    crd = _crd(
        "KafkaSource",
        "kafkasources",
        ["all", "knative", "eventing", "sources"],
        "KafkaSource sends the records of Kafka topics as events.",
        spec,
        status,
        {},
    )
    [version] = crd["spec"]["versions"]
    version["subresources"]["scale"] = {
        "specReplicasPath": ".spec.consumers",
        "statusReplicasPath": ".status.consumers",
        "labelSelectorPath": ".status.selector",
    }
    version["additionalPrinterColumns"] = [
        {"name": "Topics", "type": "string", "jsonPath": ".spec.topics"},
        {"name": "BootstrapServers", "type": "string", "jsonPath": ".spec.bootstrapServers"},
        *[c for c in version["additionalPrinterColumns"] if c["name"] != "Sink"],
    ]
    # As eventing-kafka-broker: v1beta1 stored, v1 served. The schemas are the same, so the
    # API server converts by changing apiVersion alone (no conversion webhook).
    crd["spec"]["versions"] = [
        {**version, "name": "v1beta1", "storage": True},
        {**version, "name": "v1", "storage": False},
    ]
    return crd


def crd_manifests() -> list[dict[str, Any]]:
    """Every CRD (SinkBinding, ContainerSource, PingSource, ApiServerSource, KafkaSource; Broker
    and Trigger) as objects ready to create."""
    return [
        _sink_binding_crd(),
        _container_source_crd(),
        _ping_source_crd(),
        _api_server_source_crd(),
        _kafka_source_crd(),
        *broker_crd_manifests(),
    ]


def install_crds(client: KubeClient, *, timeout: float = 60.0) -> list[str]:
    """Create whichever CRD is absent and wait until it is established (blocking).

    Existing CRDs are left as they are (they may be Knative's own). Returns the names created.
    """
    created = []
    for manifest in crd_manifests():
        name = manifest["metadata"]["name"]
        try:
            client.get(f"{_CRD_PATH}/{name}")
            continue
        except KubeApiError as exc:
            if exc.status != 404:
                raise
        try:
            client.request("POST", _CRD_PATH, body=manifest)
            created.append(name)
            log.info("installed a CustomResourceDefinition", extra={"crd": name})
        except KubeApiError as exc:
            if exc.status != 409:  # another replica created it meanwhile
                raise
    deadline = time.monotonic() + timeout
    for manifest in crd_manifests():
        name = manifest["metadata"]["name"]
        while not _established(client.get(f"{_CRD_PATH}/{name}")):
            if time.monotonic() > deadline:
                raise TimeoutError(f"CustomResourceDefinition {name} not established")
            time.sleep(0.1)
    return created


def _established(crd: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Established" and c.get("status") == "True"
        for c in (crd.get("status") or {}).get("conditions") or ()
    )
