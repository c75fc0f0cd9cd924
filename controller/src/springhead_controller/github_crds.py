"""The ``sources.knative.dev/v1alpha1`` GitHubSource CustomResourceDefinition, with the schema of
Knative's eventing-github (the same fields, constraints and event-type names), so its manifests
apply unchanged. Its status also keeps the fields every Knative source status has
(``observedGeneration``, ``ceAttributes``, ``annotations``)."""

from __future__ import annotations

from typing import Any

from springhead_controller.broker_crds import crd_manifest

__all__ = ["GITHUB_EVENT_TYPES", "GITHUB_SOURCE_CRD", "GITHUB_SOURCE_VERSION", "github_source_crd"]

GITHUB_SOURCE_CRD = "githubsources.sources.knative.dev"
#: The one version Knative serves.
GITHUB_SOURCE_VERSION = "v1alpha1"
#: The event names ``spec.eventTypes`` accepts (eventing-github's list).
GITHUB_EVENT_TYPES = (
    "check_suite", "commit_comment", "create", "delete", "deployment", "deployment_status",
    "fork", "gollum", "installation", "integration_installation", "issue_comment", "issues",
    "label", "member", "membership", "milestone", "organization", "org_block", "page_build",
    "ping", "project_card", "project_column", "project", "public", "pull_request",
    "pull_request_review", "pull_request_review_comment", "push", "release", "repository",
    "status", "team", "team_add", "watch",
)  # fmt: skip


def _string(description: str, **more: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **more}


def _secret_ref(what: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": f"Where the {what} is.",
        "properties": {
            "secretKeyRef": {
                "type": "object",
                "description": f"A key of a Secret in the source's namespace holding the {what}.",
                "required": ["name", "key"],
                "properties": {
                    "name": _string("Name of the Secret."),
                    "key": _string(f"Key of the {what} in the Secret."),
                },
            }
        },
    }


def _spec() -> dict[str, Any]:
    ref = {
        "type": "object",
        "description": "An Addressable (or core v1 Service) receiving the events.",
        "required": ["apiVersion", "kind", "name"],
        "properties": {
            "apiVersion": _string("API version of the referenced object.", minLength=1),
            "kind": _string("Kind of the referenced object.", minLength=1),
            "namespace": _string("Namespace (default: the source's).", minLength=1),
            "name": _string("Name of the referenced object.", minLength=1),
        },
    }
    return {
        "type": "object",
        "required": ["ownerAndRepository", "eventTypes", "accessToken", "secretToken"],
        "properties": {
            "githubAPIURL": _string(
                "REST API base of GitHub Enterprise Server (https://<host>/api/v3); "
                "default: https://api.github.com."
            ),
            "ownerAndRepository": _string(
                "owner/repository for a repository's webhook, or an organization's name.",
                minLength=1,
            ),
            "eventTypes": {
                "type": "array",
                "description": "GitHub events the webhook delivers.",
                "minItems": 1,
                "items": {"type": "string", "enum": list(GITHUB_EVENT_TYPES)},
            },
            "accessToken": _secret_ref("GitHub access token managing the webhook"),
            "secretToken": _secret_ref("webhook secret signing every delivery"),
            "ceOverrides": {
                "type": "object",
                "description": "Changes applied to every event sent.",
                "required": ["extensions"],
                "properties": {
                    "extensions": {
                        "type": "object",
                        "description": "Extension attributes set on every event.",
                        "additionalProperties": {"type": "string", "minLength": 1},
                    }
                },
            },
            "serviceAccountName": _string("Service account of the receiver's pods."),
            "sink": {
                "type": "object",
                "description": "Where the events go: a reference or a URI.",
                "properties": {
                    "ref": ref,
                    "uri": _string("URI of the destination.", format="uri"),
                },
                "oneOf": [{"required": ["ref"]}, {"required": ["uri"]}],
            },
            "secure": {
                "type": "boolean",
                "description": "Register the webhook with https (true) or http (false); unset: "
                "the scheme of the receiver's URL.",
            },
        },
    }


def _status() -> dict[str, Any]:
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
    return {
        "type": "object",
        "properties": {
            "annotations": {
                "type": "object",
                "description": "Additional status information.",
                "additionalProperties": {"type": "string"},
            },
            "ceAttributes": {
                "type": "array",
                "description": "The type and source attributes of the events sent.",
                "items": {
                    "type": "object",
                    "properties": {"source": _string("Event source."), "type": _string("Type.")},
                },
            },
            "conditions": {"type": "array", "items": condition},
            "observedGeneration": {"type": "integer", "format": "int64"},
            "sinkUri": _string("The resolved sink URL."),
            "webhookIDKey": _string("ID of the webhook registered on GitHub."),
        },
    }


def github_source_crd() -> dict[str, Any]:
    """The GitHubSource CRD (``sources.knative.dev``, served and stored as ``v1alpha1``)."""
    manifest = crd_manifest(
        group="sources.knative.dev",
        kind="GitHubSource",
        plural="githubsources",
        categories=["all", "knative", "eventing", "sources"],
        labels={
            "eventing.knative.dev/source": "true",
            "duck.knative.dev/source": "true",
            "app.kubernetes.io/name": "springhead",
        },
        description="GitHubSource registers a webhook on a GitHub repository or organization "
        "and turns its deliveries into CloudEvents sent to the sink.",
        spec=_spec(),
        status=_status(),
        columns=[
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
            {"name": "Sink", "type": "string", "jsonPath": ".status.sinkUri"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
    )
    [version] = manifest["spec"]["versions"]
    version["name"] = GITHUB_SOURCE_VERSION
    manifest["metadata"]["annotations"] = {
        "registry.knative.dev/eventTypes": "["
        + ", ".join(
            f'{{"type": "dev.knative.source.github.{name}"}}' for name in GITHUB_EVENT_TYPES
        )
        + "]"
    }
    return manifest
