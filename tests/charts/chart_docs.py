"""The one source of every chart's ``values.schema.json`` and of the values tables in
``charts/README.md``.

Each setting is declared once here (type, constraints, description); the shared ones (image,
sink, SinkBinding, delivery, pod settings ...) are composed into every chart that has them.
``uv run --no-sync python tests/charts/chart_docs.py`` rewrites the schemas and the tables;
``tests/charts/test_docs.py`` fails when the committed files differ from what this prints, and
when a key of a chart's ``values.yaml`` is missing from its table.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

__all__ = [
    "CHARTS",
    "CHARTS_DIR",
    "README",
    "chart_schema",
    "leaf_paths",
    "readme_text",
    "table_for",
    "write_all",
]

CHARTS_DIR = Path(__file__).resolve().parents[2] / "charts"
README = CHARTS_DIR / "README.md"
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

Schema = dict[str, Any]

# -- building blocks -------------------------------------------------------------------------

ISO_DURATION = r"^$|^P((\d+(\.\d+)?[YMWD])+(T(\d+(\.\d+)?[HMS])+)?|T(\d+(\.\d+)?[HMS])+)$"
NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
EXTENSION_NAME = r"^[a-z0-9]{1,20}$"
EXTENSION_NAME_RE = re.compile(EXTENSION_NAME)
SPEC_ATTRIBUTES = [
    "id", "source", "specversion", "type", "datacontenttype", "dataschema", "subject", "time",
    "data", "data_base64",
]  # fmt: skip


def string(description: str, **constraints: Any) -> Schema:
    """A string setting."""
    return {"type": "string", "description": description, **constraints}


def boolean(description: str) -> Schema:
    """A true/false setting."""
    return {"type": "boolean", "description": description}


def integer(description: str, *, nullable: bool = False, **constraints: Any) -> Schema:
    """A whole-number setting (null = the process's default when ``nullable``)."""
    kind: Any = ["integer", "null"] if nullable else "integer"
    return {"type": kind, "description": description, **constraints}


def duration(description: str) -> Schema:
    """An ISO-8601 duration ("" = the process's default)."""
    return string(f"{description} (ISO-8601, e.g. PT10S; empty: the default)", pattern=ISO_DURATION)


def enum(description: str, values: list[str]) -> Schema:
    """One of ``values``."""
    return {"type": "string", "enum": values, "description": description}


def obj(description: str, properties: Mapping[str, Schema], **extra: Any) -> Schema:
    """An object with exactly these properties (typos fail)."""
    return {
        "type": "object",
        "description": description,
        "additionalProperties": False,
        "properties": dict(properties),
        **extra,
    }


def free_form(description: str, kind: str | list[str] = "object") -> Schema:
    """A Kubernetes structure passed through as it is (documented as a whole)."""
    return {"type": kind, "description": description}


def string_map(description: str) -> Schema:
    """A map of string to string (labels, annotations)."""
    return {
        "type": "object",
        "description": description,
        "additionalProperties": {"type": "string"},
    }


def never_inline(hint: str) -> Schema:
    """A property that must not be given: secrets come from existing Secrets. The constant is
    the message Helm prints ("value must be '<hint>'")."""
    return {"const": hint, "description": "(not a setting)"}


def secret_key(description: str, default_key: str) -> Schema:
    """The key of a value in the existing Secret."""
    return string(f"{description} (key in the Secret; e.g. {default_key})")


# -- shared settings ---------------------------------------------------------------------------


def naming() -> dict[str, Schema]:
    return {
        "nameOverride": string("Replaces the chart's name in the app.kubernetes.io/name label"),
        "fullnameOverride": string(
            "Name of every object of the release (Deployment, Service, SinkBinding, "
            "ServiceAccount ...); default: the release name",
            pattern=r"^$|" + NAME_PATTERN[1:],
            maxLength=63,
        ),
        "commonLabels": string_map("Labels added to every object"),
    }


def image(repository: str, *, required: bool = False) -> Schema:
    repo = string(
        f"Image repository{' (required)' if required else f'; default {repository}'}",
        minLength=1,
    )
    return obj(
        "The container image",
        {
            "repository": repo,
            "tag": string("Image tag; empty: the chart's appVersion"),
            "digest": string(
                "Image digest (sha256:...); wins over the tag", pattern=r"^$|^sha256:[a-f0-9]{64}$"
            ),
            "pullPolicy": enum("imagePullPolicy", ["Always", "IfNotPresent", "Never"]),
        },
        required=["repository"],
    )


def pod_settings(*, memory_note: str = "") -> dict[str, Schema]:
    return {
        "imagePullSecrets": free_form("Secrets for pulling the image ([{name: ...}])", "array"),
        "serviceAccount": obj(
            "The pods' ServiceAccount",
            {
                "create": boolean("Create a ServiceAccount named like the release"),
                "name": string("Its name (create=false: an existing one; empty: default)"),
                "annotations": string_map("Annotations of the created ServiceAccount"),
            },
        ),
        "podAnnotations": string_map("Annotations of the pods"),
        "podLabels": string_map("Extra labels of the pods"),
        "deploymentAnnotations": string_map("Annotations of the Deployment"),
        "podSecurityContext": free_form(
            "The pod's securityContext (default: runAsNonRoot, seccomp RuntimeDefault)"
        ),
        "securityContext": free_form(
            "The container's securityContext (default: runAsNonRoot, readOnlyRootFilesystem, "
            "allowPrivilegeEscalation false, capabilities drop ALL)"
        ),
        "resources": free_form(f"The container's resources{memory_note}"),
        "priorityClassName": string("The pods' priorityClassName"),
        "nodeSelector": string_map("The pods' nodeSelector"),
        "tolerations": free_form("The pods' tolerations", "array"),
        "affinity": free_form("The pods' affinity"),
        "topologySpreadConstraints": free_form("The pods' topologySpreadConstraints", "array"),
        "terminationGracePeriodSeconds": integer(
            "Seconds between SIGTERM and SIGKILL (keep above shutdownGrace)", minimum=0
        ),
        "extraEnv": free_form(
            "More environment variables (Kubernetes EnvVar list, e.g. [{name, value}])", "array"
        ),
        "secretEnv": {
            "type": "array",
            "description": "Environment variables read from existing Secrets "
            "([{name, secretName, key, optional}])",
            "items": obj(
                "One variable from a Secret",
                {
                    "name": string("The variable", minLength=1),
                    "secretName": string("The existing Secret", minLength=1),
                    "key": string("The key in the Secret", minLength=1),
                    "optional": boolean("Start even when the Secret or key is missing"),
                },
                required=["name", "secretName", "key"],
            ),
        },
    }


def runtime_settings() -> dict[str, Schema]:
    return {
        "replicaCount": integer("Replicas of the Deployment", minimum=0),
        "logLevel": enum("SPRINGHEAD_LOG_LEVEL", ["DEBUG", "INFO", "WARNING", "ERROR"]),
        "shutdownGrace": duration(
            "SPRINGHEAD_SHUTDOWN_GRACE: how long in-flight deliveries may finish after SIGTERM"
        ),
    }


def metrics() -> Schema:
    return obj(
        "Prometheus metrics (/metrics on the http port)",
        {
            "serviceMonitor": obj(
                "A monitoring.coreos.com/v1 ServiceMonitor (needs the Prometheus Operator's CRD); "
                "charts without a webhook Service then get a Service for it",
                {
                    "enabled": boolean("Create the ServiceMonitor"),
                    "interval": string("Scrape interval (e.g. 30s); empty: Prometheus' default"),
                    "scrapeTimeout": string("Scrape timeout; empty: Prometheus' default"),
                    "labels": string_map("Labels of the ServiceMonitor (for its selector)"),
                },
            )
        },
    )


SINK_REF_HINT = (
    "only with sinkBinding.enabled=true: a sink.ref is resolved by a SinkBinding, use sink.uri "
    "otherwise"
)


def sink_settings(*, binding_toggle: bool = True) -> dict[str, Schema]:
    ref = obj(
        "Knative Destination ref to an Addressable or Service; needs sinkBinding.enabled",
        {
            "apiVersion": string("The sink's apiVersion (e.g. v1)", minLength=1),
            "kind": string("The sink's kind (e.g. Service)", minLength=1),
            "name": string("The sink's name", minLength=1),
            "namespace": string("The sink's namespace; default: the release's"),
        },
        required=["apiVersion", "kind", "name"],
    )
    ref["type"] = ["object", "null"]
    settings: dict[str, Schema] = {
        "sink": obj(
            "Where events go",
            {
                "uri": string(
                    "K_SINK: absolute http(s) URL; with a ref, a URI relative to it",
                ),
                "ref": ref,
                "caCerts": string("K_CA_CERTS: PEM CA certificates for an https sink"),
            },
        ),
        "ceOverrides": obj(
            "K_CE_OVERRIDES",
            {
                "extensions": {
                    "type": "object",
                    "description": "CloudEvents extensions set on every event "
                    "(name: 1-20 lowercase letters or digits; not a spec attribute)",
                    "propertyNames": {"pattern": EXTENSION_NAME},
                    "properties": {
                        name: never_inline(
                            f"not an extension: {name} is a CloudEvents spec attribute, "
                            "only extensions may be overridden"
                        )
                        for name in SPEC_ATTRIBUTES
                        if EXTENSION_NAME_RE.match(name)
                    },
                    "additionalProperties": {"type": ["string", "number", "boolean"]},
                }
            },
        ),
        "delivery": obj(
            "Knative's delivery spec (SPRINGHEAD_DELIVERY_*); empty fields: the source's default",
            {
                "retry": integer(
                    "Attempts after the first", nullable=True, minimum=0, maximum=1000
                ),
                "backoffPolicy": enum(
                    "linear (delay*n) or exponential (delay*2^n); empty: exponential",
                    ["", "linear", "exponential"],
                ),
                "backoffDelay": duration("Base delay between attempts"),
                "timeout": duration("Timeout of each attempt"),
                "retryAfterMax": duration("Cap on a sink's Retry-After"),
                "deadLetterSink": obj(
                    "Where events go when retries are exhausted",
                    {"uri": string("Dead-letter sink URL", pattern=r"^$|^https?://.+")},
                ),
            },
        ),
        "contentMode": enum(
            "SPRINGHEAD_CONTENT_MODE: CloudEvents HTTP mode; empty: binary",
            ["", "binary", "structured"],
        ),
    }
    if binding_toggle:
        settings["sinkBinding"] = obj(
            "Bind the Deployment with a sources.knative.dev/v1 SinkBinding (named like the "
            "release) instead of setting K_SINK: needs Springhead's controller or Knative",
            {"enabled": boolean("Create the SinkBinding")},
        )
    return settings


def sink_rules(*, binding_toggle: bool = True) -> list[Schema]:
    """Cross-field rules: a sink is required (an absolute sink.uri unless there is a ref, when
    the uri is relative to it); a ref only through a SinkBinding."""
    has_ref = {
        "properties": {"sink": {"required": ["ref"], "properties": {"ref": {"type": "object"}}}}
    }
    rules: list[Schema] = [
        {
            "if": has_ref,
            "then": {"properties": {"sink": {"properties": {"uri": {
                "not": {"pattern": "^[a-zA-Z][a-zA-Z0-9+.-]*:"},
                "description": "with a ref, a relative URI (e.g. /path)",
            }}}}},
            "else": {"properties": {"sink": {"required": ["uri"], "properties": {"uri": {
                "minLength": 1, "pattern": r"^https?://[^/]+",
            }}}}},
        }
    ]  # fmt: skip
    if binding_toggle:
        binding_off = {"properties": {"sinkBinding": {"properties": {"enabled": {"const": False}}}}}
        rules.append(
            {
                "if": binding_off,
                "then": {"properties": {"sink": {"properties": {"ref": {
                    "anyOf": [{"type": "null"}, {"const": SINK_REF_HINT}]
                }}}}},
            }
        )  # fmt: skip
    return rules


def secret_ref(description: str, default_key: str) -> Schema:
    return obj(
        description,
        {
            "existingSecret": string("Name of an existing Secret holding it"),
            "key": secret_key("Its key", default_key),
            "value": never_inline(
                "never inline: put it in a Secret and set existingSecret and key"
            ),
        },
    )


def webhook_settings() -> dict[str, Schema]:
    return {
        "webhook": obj(
            "Webhook receiving (WEBHOOK_*), on the http port behind the Service",
            {
                "path": string("WEBHOOK_PATH: path accepting POSTs; empty: /", pattern=r"^$|^/"),
                "maxBodyBytes": integer(
                    "WEBHOOK_MAX_BODY_BYTES; null: 1 MiB", nullable=True, minimum=1
                ),
                "rateLimit": {
                    "type": ["number", "null"],
                    "exclusiveMinimum": 0,
                    "description": "WEBHOOK_RATE_LIMIT: requests/s accepted; null: unlimited",
                },
                "rateBurst": integer("WEBHOOK_RATE_BURST; null: 100", nullable=True, minimum=1),
                "maxInFlight": integer(
                    "WEBHOOK_MAX_IN_FLIGHT: requests handled at once, more get 503; null: 256",
                    nullable=True,
                    minimum=1,
                ),
                "retryAfter": integer(
                    "WEBHOOK_RETRY_AFTER: seconds in a 503's Retry-After; null: 5",
                    nullable=True,
                    minimum=0,
                ),
                "headTimeout": duration(
                    "SPRINGHEAD_HEAD_TIMEOUT: a request head must arrive within it, else 408; PT10S"
                ),
                "bodyTimeout": duration(
                    "SPRINGHEAD_BODY_TIMEOUT: a body must arrive within it once its head did, "
                    "else 408; PT30S"
                ),
                "idleTimeout": duration(
                    "SPRINGHEAD_IDLE_TIMEOUT: a kept-alive connection may idle this long; PT75S"
                ),
                "maxConnections": integer(
                    "SPRINGHEAD_MAX_INBOUND_CONNECTIONS: connections open at once; null: 1024",
                    nullable=True,
                    minimum=1,
                ),
                "auth": obj(
                    "Require credentials, read from an existing Secret",
                    {
                        "existingSecret": string("The Secret holding the credentials"),
                        "bearerTokenKey": secret_key("WEBHOOK_BEARER_TOKEN", "bearer-token"),
                        "basicUserKey": secret_key("WEBHOOK_BASIC_USER", "username"),
                        "basicPasswordKey": secret_key("WEBHOOK_BASIC_PASSWORD", "password"),
                        "bearerToken": never_inline(
                            "never inline: set webhook.auth.existingSecret and bearerTokenKey"
                        ),
                        "basicPassword": never_inline(
                            "never inline: set webhook.auth.existingSecret and basicPasswordKey"
                        ),
                    },
                ),
            },
        ),
        "service": obj(
            "The Service in front of the webhook",
            {
                "type": enum("Service type", ["ClusterIP", "NodePort", "LoadBalancer"]),
                "port": integer("Service port", minimum=1, maximum=65535),
                "nodePort": integer("nodePort (type NodePort)", nullable=True),
                "annotations": string_map("Annotations of the Service"),
            },
        ),
    }


def secret_needed_rule(path: list[str], keys: list[str]) -> Schema:
    """When any of ``keys`` under ``path`` is set, ``existingSecret`` there must be too."""

    def nest(inner: Schema) -> Schema:
        for name in reversed(path):
            inner = {"properties": {name: inner}}
        return inner

    key_set = {"anyOf": [{"required": [k], "properties": {k: {"minLength": 1}}} for k in keys]}
    need = {"required": ["existingSecret"], "properties": {"existingSecret": {"minLength": 1}}}
    return nest({"if": key_set, "then": need})


def common_source(repository: str, *, memory_note: str = "") -> dict[str, Schema]:
    return {
        **naming(),
        "image": image(repository),
        **runtime_settings(),
        **sink_settings(),
        **pod_settings(memory_note=memory_note),
        "metrics": metrics(),
    }


# -- per chart --------------------------------------------------------------------------------


def ping_schema() -> Schema:
    leader = obj(
        "Several replicas: only the holder of a Lease fires (PING_LEADER_ELECTION); the chart "
        "grants the Lease in a Role",
        {
            "enabled": boolean("PING_LEADER_ELECTION"),
            "leaseName": string("PING_LEASE_NAME; empty: pingsource-<release>"),
            "leaseDuration": duration("PING_LEASE_DURATION"),
            "renewDeadline": duration("PING_LEASE_RENEW_DEADLINE"),
            "retryPeriod": duration("PING_LEASE_RETRY_PERIOD"),
        },
    )
    ping = obj(
        "The PingSource spec (PING_*)",
        {
            "schedule": string(
                "PING_SCHEDULE (required): cron, 5 fields or 6 with seconds, or @hourly etc.",
                minLength=1,
            ),
            "timezone": string("PING_TIMEZONE: IANA zone; empty: UTC"),
            "contentType": string("PING_CONTENT_TYPE: the events' datacontenttype"),
            "data": string("PING_DATA: event data as text"),
            "dataBase64": string(
                "PING_DATA_BASE64: binary event data, base64 (not with data)",
                pattern=r"^[A-Za-z0-9+/]*={0,2}$",
            ),
            "catchupWindow": duration(
                "PING_CATCHUP_WINDOW: fire ticks missed while no replica led, at most this old "
                "(needs leaderElection)"
            ),
            "leaderElection": leader,
        },
        required=["schedule"],
    )
    leading = {"properties": {"ping": {"properties": {"leaderElection": {"properties": {
        "enabled": {"const": True}}}}}}}  # fmt: skip
    rules = [
        *sink_rules(),
        {
            "if": {"properties": {"ping": {"properties": {"data": {"minLength": 1}}}}},
            "then": {"properties": {"ping": {"properties": {"dataBase64": {"const": ""}}}}},
        },
        {"if": {"properties": {"replicaCount": {"minimum": 2}}}, "then": leading},
        {
            "if": {"properties": {"ping": {"properties": {"catchupWindow": {"minLength": 1}}}}},
            "then": leading,
        },
    ]
    return _chart(
        {
            **common_source("ghcr.io/springhead/springhead-ping"),
            "ping": ping,
            "rbac": obj(
                "RBAC for the Lease", {"create": boolean("Create the Role and RoleBinding")}
            ),
        },
        rules,
    )


def http_schema() -> Schema:
    http = obj(
        "How plain requests become CloudEvents (HTTP_*)",
        {
            "eventType": string("HTTP_EVENT_TYPE; empty: dev.springhead.sources.http"),
            "eventSource": string(
                "HTTP_EVENT_SOURCE; empty: /apis/v1/namespaces/<ns>/httpsources/<release>"
            ),
            "idempotencyHeader": string("HTTP_IDEMPOTENCY_HEADER; empty: Idempotency-Key"),
            "headerExtensions": {
                "type": "object",
                "description": "HTTP_HEADER_EXTENSIONS: header name -> extension name",
                "additionalProperties": {"type": "string", "pattern": EXTENSION_NAME},
            },
            "hmac": obj(
                "Require an HMAC-SHA256 signature of the body (HTTP_HMAC_*)",
                {
                    "existingSecret": string("Secret holding the HMAC key"),
                    "key": secret_key("HTTP_HMAC_SECRET", "hmac-secret"),
                    "header": string("HTTP_HMAC_HEADER; empty: X-Signature-256"),
                    "secret": never_inline(
                        "never inline: set http.hmac.existingSecret and http.hmac.key"
                    ),
                },
            ),
        },
    )
    rules = [
        *sink_rules(),
        secret_needed_rule(
            ["webhook", "auth"], ["bearerTokenKey", "basicUserKey", "basicPasswordKey"]
        ),
        secret_needed_rule(["http", "hmac"], ["key"]),
    ]
    return _chart(
        {**common_source("ghcr.io/springhead/springhead-http"), **webhook_settings(), "http": http},
        rules,
    )


def github_schema() -> Schema:
    github = obj(
        "The GitHubSource spec (GITHUB_*)",
        {
            "ownerAndRepository": string(
                "GITHUB_OWNER_AND_REPOSITORY (required): owner/repo or an organization",
                pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}(/[A-Za-z0-9._-]{1,100})?$",
            ),
            "eventTypes": {
                "type": "array",
                "minItems": 1,
                "description": "GITHUB_EVENT_TYPES (required): GitHub event names, or *",
                "items": {"type": "string", "pattern": r"^(\*|[a-z][a-z0-9_]{0,63})$"},
            },
            "apiURL": string(
                "GITHUB_API_URL; GitHub Enterprise Server: https://<host>/api/v3",
                pattern=r"^$|^https?://",
            ),
            "webURL": string(
                "GITHUB_WEB_URL; empty: derived from apiURL", pattern=r"^$|^https?://"
            ),
            "allowSha1": boolean("GITHUB_ALLOW_SHA1: accept the legacy SHA-1 signature"),
            "insecureNoSecret": boolean(
                "GITHUB_INSECURE_NO_SECRET: accept unsigned deliveries (experiments only)"
            ),
            "webhookSecret": secret_ref(
                "GITHUB_WEBHOOK_SECRET from an existing Secret (required unless insecureNoSecret)",
                "webhook-secret",
            ),
        },
        required=["ownerAndRepository", "eventTypes"],
    )
    hooks = obj(
        "Register the webhook on GitHub after install/upgrade and remove it before delete "
        "(Helm hook Jobs running `python -m springhead_github hooks register|unregister`), "
        "and redeliver failed deliveries",
        {
            "enabled": boolean("Create the hook Jobs"),
            "webhookURL": string(
                "GITHUB_WEBHOOK_URL: the public URL GitHub delivers to (required when enabled)",
                pattern=r"^$|^https?://",
            ),
            "active": boolean("GITHUB_HOOK_ACTIVE"),
            "insecureSSL": boolean("GITHUB_HOOK_INSECURE_SSL"),
            "token": secret_ref("GITHUB_TOKEN (a PAT) from an existing Secret", "token"),
            "app": obj(
                "Or a GitHub App",
                {
                    "id": string("GITHUB_APP_ID"),
                    "installationId": integer(
                        "GITHUB_APP_INSTALLATION_ID", nullable=True, minimum=1
                    ),
                    "privateKey": secret_ref(
                        "GITHUB_APP_PRIVATE_KEY (PEM) from an existing Secret", "private-key"
                    ),
                },
            ),
            "redeliver": obj(
                "A CronJob running `hooks redeliver`: GitHub redelivers what failed while the "
                "source or the sink was down",
                {
                    "schedule": string("Cron schedule; empty: no CronJob"),
                    "window": duration(
                        "GITHUB_REDELIVER_WINDOW: how far back, at most P3D; PT24H by default"
                    ),
                },
            ),
            "backoffLimit": integer("The Jobs' backoffLimit", minimum=0),
            "activeDeadlineSeconds": integer("The Jobs' activeDeadlineSeconds", minimum=1),
            "resources": free_form("The Jobs' container resources"),
        },
    )
    secret_set = {
        "properties": {"existingSecret": {"minLength": 1}},
        "required": ["existingSecret"],
    }
    token = {"properties": {"token": secret_set}}
    app = {
        "properties": {
            "app": {
                "required": ["id", "installationId", "privateKey"],
                "properties": {
                    "id": {"minLength": 1},
                    "installationId": {"type": "integer"},
                    "privateKey": secret_set,
                },
            }
        }
    }
    rules = [
        *sink_rules(),
        secret_needed_rule(
            ["webhook", "auth"], ["bearerTokenKey", "basicUserKey", "basicPasswordKey"]
        ),
        {
            "if": {
                "properties": {"github": {"properties": {"insecureNoSecret": {"const": False}}}}
            },
            "then": {"properties": {"github": {"properties": {"webhookSecret": secret_set}}}},
        },
        {
            "if": {"properties": {"hooks": {"properties": {"enabled": {"const": True}}}}},
            "then": {
                "properties": {
                    "hooks": {
                        "required": ["webhookURL"],
                        "properties": {"webhookURL": {"minLength": 1}},
                        "oneOf": [token, app],
                    }
                }
            },
        },
    ]
    return _chart(
        {
            **common_source("ghcr.io/springhead/springhead-github"),
            **webhook_settings(),
            "github": github,
            "hooks": hooks,
        },
        rules,
    )


def kafka_schema() -> Schema:
    count = "null: the source's default"
    kafka = obj(
        "The KafkaSource spec (KAFKA_*)",
        {
            "bootstrapServers": {
                "type": "array",
                "minItems": 1,
                "description": "KAFKA_BOOTSTRAP_SERVERS (required): host:port of brokers",
                "items": {"type": "string", "minLength": 1},
            },
            "topics": {
                "type": "array",
                "description": "KAFKA_TOPICS (this or topicPattern)",
                "items": {"type": "string", "minLength": 1},
            },
            "topicPattern": string("KAFKA_TOPIC_PATTERN: a regular expression of topics"),
            "consumerGroup": string("KAFKA_CONSUMER_GROUP; empty: the source's default"),
            "initialOffset": enum("KAFKA_INITIAL_OFFSET", ["latest", "earliest"]),
            "ordering": enum("KAFKA_ORDERING", ["ordered", "unordered"]),
            "keyType": enum("KAFKA_KEY_TYPE", ["string", "int", "float", "byte-array"]),
            "onExhausted": enum(
                "KAFKA_ON_EXHAUSTED: block the partition or commit past a failed event",
                ["block", "commit"],
            ),
            "maxInFlight": integer(f"KAFKA_MAX_IN_FLIGHT; {count}", nullable=True, minimum=1),
            "maxUncommitted": integer(f"KAFKA_MAX_UNCOMMITTED; {count}", nullable=True, minimum=1),
            "prefetch": integer(f"KAFKA_PREFETCH; {count}", nullable=True, minimum=1),
            "maxPartitionFetchBytes": integer(
                f"KAFKA_MAX_PARTITION_FETCH_BYTES; {count}", nullable=True, minimum=1024
            ),
            "fetchMaxBytes": integer(
                f"KAFKA_FETCH_MAX_BYTES; {count}", nullable=True, minimum=1024
            ),
            "commitInterval": duration("KAFKA_COMMIT_INTERVAL"),
            "revokeTimeout": duration("KAFKA_REVOKE_TIMEOUT"),
            "sasl": obj(
                "SASL authentication (KAFKA_SASL_*), credentials from an existing Secret",
                {
                    "mechanism": enum(
                        "KAFKA_SASL_MECHANISM; empty: no SASL",
                        ["", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"],
                    ),
                    "existingSecret": string("The Secret holding user and password"),
                    "userKey": secret_key("KAFKA_SASL_USER", "user"),
                    "passwordKey": secret_key("KAFKA_SASL_PASSWORD", "password"),
                    "password": never_inline(
                        "never inline: set kafka.sasl.existingSecret and passwordKey"
                    ),
                },
            ),
            "tls": obj(
                "TLS to the brokers (KAFKA_TLS_*), certificates from an existing Secret",
                {
                    "enabled": boolean("KAFKA_TLS_ENABLE"),
                    "existingSecret": string("The Secret holding the PEM certificates"),
                    "caCertKey": secret_key("KAFKA_TLS_CA_CERT", "ca.crt"),
                    "certKey": secret_key("KAFKA_TLS_CERT (client certificate)", "tls.crt"),
                    "keyKey": secret_key("KAFKA_TLS_KEY (client key)", "tls.key"),
                    "key": never_inline("never inline: set kafka.tls.existingSecret and keyKey"),
                },
            ),
        },
        required=["bootstrapServers"],
    )
    topics_given = {
        "properties": {
            "kafka": {
                "anyOf": [
                    {"required": ["topics"], "properties": {"topics": {"minItems": 1}}},
                    {
                        "required": ["topicPattern"],
                        "properties": {"topicPattern": {"minLength": 1}},
                    },
                ]
            }
        }
    }
    sasl_on = {"properties": {"kafka": {"properties": {"sasl": {
        "required": ["mechanism"], "properties": {"mechanism": {"minLength": 1}}}}}}}  # fmt: skip
    sasl_secret = {"properties": {"kafka": {"properties": {"sasl": {
        "required": ["existingSecret", "userKey", "passwordKey"],
        "properties": {"existingSecret": {"minLength": 1}, "userKey": {"minLength": 1},
                       "passwordKey": {"minLength": 1}}}}}}}  # fmt: skip
    rules = [
        *sink_rules(),
        topics_given,
        {"if": sasl_on, "then": sasl_secret},
        secret_needed_rule(["kafka", "tls"], ["caCertKey", "certKey", "keyKey"]),
    ]
    return _chart(
        {
            **common_source(
                "ghcr.io/springhead/springhead-kafka", memory_note=" (grows with prefetch)"
            ),
            "kafka": kafka,
        },
        rules,
    )


def label_selector(description: str) -> Schema:
    return {
        "type": ["object", "string", "null"],
        "description": description,
        "properties": {
            "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}},
            "matchExpressions": {
                "type": "array",
                "items": obj(
                    "A requirement",
                    {
                        "key": string("Label key", minLength=1),
                        "operator": enum("Operator", ["In", "NotIn", "Exists", "DoesNotExist"]),
                        "values": {"type": "array", "items": {"type": "string"}},
                    },
                    required=["key", "operator"],
                ),
            },
        },
        "additionalProperties": False,
    }


def apiserver_schema() -> Schema:
    resource = obj(
        "One kind to watch",
        {
            "apiVersion": string("v1, apps/v1, example.com/v1alpha1", minLength=1),
            "kind": string("The kind, e.g. ConfigMap", minLength=1),
            "plural": string(
                "Its resource name when Kubernetes' guess from the kind is wrong (for RBAC)",
                pattern=r"^$|^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
            ),
            "namespaced": {
                "type": ["boolean", "null"],
                "description": "Whether the kind is namespaced, for kinds the RBAC derivation "
                "does not know (custom resources default to namespaced)",
            },
            "selector": label_selector("Knative's label selector (LabelSelector object)"),
            "labelSelector": string("Label selector in text form (app=web,tier!=db)"),
            "fieldSelector": string("Field selector (metadata.name=x)"),
        },
        required=["apiVersion", "kind"],
    )
    apiserver = obj(
        "The ApiServerSource spec (APISERVER_*)",
        {
            "resources": {
                "type": "array",
                "minItems": 1,
                "description": "APISERVER_RESOURCES (required): what to watch",
                "items": resource,
            },
            "namespaces": {
                "type": "array",
                "description": 'APISERVER_NAMESPACES: namespaces to watch, ["*"] = all; '
                "empty: the release's",
                "items": {"type": "string", "pattern": r"^(\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?)$"},
            },
            "namespaceSelector": label_selector(
                "APISERVER_NAMESPACE_SELECTOR: watch namespaces whose labels match ({} = all); "
                "not with namespaces"
            ),
            "owner": obj(
                "APISERVER_OWNER: only objects whose controller has this apiVersion/kind",
                {"apiVersion": string("Owner apiVersion"), "kind": string("Owner kind")},
            ),
            "mode": enum("APISERVER_MODE", ["Reference", "Resource"]),
            "emitExisting": boolean("APISERVER_EMIT_EXISTING: adds for objects at first start"),
            "ignoreStatusUpdates": boolean("APISERVER_IGNORE_STATUS_UPDATES"),
            "stateConfigMap": obj(
                "Persist the delivered position (APISERVER_STATE_CONFIGMAP); the chart creates "
                "the ConfigMap",
                {
                    "enabled": boolean("Create and use the state ConfigMap"),
                    "name": string(
                        "Its name; empty: <release>-state",
                        pattern=r"^$|^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
                    ),
                },
            ),
            "stateInterval": duration("APISERVER_STATE_INTERVAL"),
        },
        required=["resources"],
    )
    rules = [
        *sink_rules(),
        {
            "properties": {
                "apiserver": {
                    "not": {
                        "required": ["namespaces", "namespaceSelector"],
                        "properties": {
                            "namespaces": {"minItems": 1},
                            "namespaceSelector": {"type": ["object", "string"]},
                        },
                    }
                }
            }
        },
    ]
    return _chart(
        {
            **common_source(
                "ghcr.io/springhead/springhead-apiserver",
                memory_note=" (Resource mode keeps whole objects)",
            ),
            "apiserver": apiserver,
            "rbac": obj(
                "Least RBAC derived from apiserver.resources (what `python -m "
                "springhead_apiserver rbac` prints)",
                {"create": boolean("Create the Role(s)/ClusterRole and bindings")},
            ),
        },
        rules,
    )


def controller_schema() -> Schema:
    leader = obj(
        "Leader election on a Lease (CONTROLLER_LEADER_ELECTION, CONTROLLER_LEASE_*)",
        {
            "enabled": boolean("Reconcile only while holding the Lease (needed with 2+ replicas)"),
            "leaseName": string("CONTROLLER_LEASE_NAME; empty: the release name"),
            "leaseDuration": duration("CONTROLLER_LEASE_DURATION (whole seconds)"),
            "renewDeadline": duration("CONTROLLER_LEASE_RENEW_DEADLINE"),
            "retryPeriod": duration("CONTROLLER_LEASE_RETRY_PERIOD"),
        },
    )
    settings = {
        **naming(),
        "image": image("ghcr.io/springhead/springhead-controller"),
        **runtime_settings(),
        **pod_settings(),
        "metrics": metrics(),
        "leaderElection": leader,
        "selectionMode": enum(
            "SINK_BINDING_SELECTION_MODE: bind all but excluded objects, or only included ones",
            ["exclusion", "inclusion"],
        ),
        "clusterDomain": string("CONTROLLER_CLUSTER_DOMAIN; empty: cluster.local"),
        "workers": integer("CONTROLLER_WORKERS; null: 4", nullable=True, minimum=1, maximum=64),
        "patchConcurrency": integer(
            "CONTROLLER_PATCH_CONCURRENCY; null: 16", nullable=True, minimum=1, maximum=256
        ),
        "resync": duration("CONTROLLER_RESYNC"),
        "rbac": obj(
            "The controller's ClusterRole",
            {
                "create": boolean("Create the ClusterRole, the Lease Role and their bindings"),
                "aggregateAddressables": boolean(
                    "Also read every Addressable kind whose ClusterRole is labelled "
                    "duck.knative.dev/addressable=true (Knative's convention), through an "
                    "aggregated ClusterRole"
                ),
                "extraSinkRules": free_form(
                    "More PolicyRules for sink kinds (get, list, watch on their resources)",
                    "array",
                ),
            },
        ),
    }
    rules = [{
        "if": {"properties": {"replicaCount": {"minimum": 2}}},
        "then": {"properties": {"leaderElection": {"properties": {"enabled": {"const": True}}}}},
    }]  # fmt: skip
    return _chart(settings, rules)


def containersource_schema() -> Schema:
    probes = obj(
        "Liveness /healthz and readiness /readyz on port 8080 (Springhead-built images); "
        "turn off for images without them",
        {"enabled": boolean("Add the probes")},
    )
    settings = {
        **naming(),
        "mode": enum(
            "sinkbinding: a Deployment + a SinkBinding; containersource: a sources.knative.dev/v1 "
            "ContainerSource (the controller makes both)",
            ["sinkbinding", "containersource"],
        ),
        "image": image("", required=True),
        "command": {
            "type": "array",
            "items": {"type": "string"},
            "description": "The container's command; empty: the image's entry point",
        },
        "args": {
            "type": "array",
            "items": {"type": "string"},
            "description": "The container's args",
        },
        "env": free_form(
            "The source's environment (Kubernetes EnvVar list: [{name, value}] or valueFrom)",
            "array",
        ),
        "containerName": string("Name of the container", pattern=NAME_PATTERN),
        "probes": probes,
        **runtime_settings(),
        **sink_settings(binding_toggle=False),
        **pod_settings(),
    }
    del settings["extraEnv"]  # env is this chart's environment
    settings["env"]["items"] = {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string", "minLength": 1}},
    }
    rules = [
        *sink_rules(binding_toggle=False),
        {
            "if": {"properties": {"mode": {"const": "containersource"}}, "required": ["mode"]},
            "then": {"properties": {"replicaCount": {"const": 1}}},
        },
    ]
    return _chart(settings, rules)


def _chart(properties: Mapping[str, Schema], rules: list[Schema]) -> Schema:
    """A chart's schema: its settings, nothing else at the top level (typos fail), plus the
    keys Helm itself adds to the values (the library chart's and ``global``)."""
    props = dict(properties)
    props["springhead-common"] = {
        "type": "object",
        "description": "(added by Helm for the library chart; not a setting)",
    }
    props["global"] = {
        "type": "object",
        "description": "(Helm's global values; not used)",
    }
    return {
        "$schema": SCHEMA_DIALECT,
        "type": "object",
        "additionalProperties": False,
        "properties": props,
        "allOf": rules,
    }


def common_schema() -> Schema:
    """The library chart's schema. Helm validates a dependency's schema only against the values
    under the dependency's own key (``springhead-common``), never against the parent's values,
    so it cannot check the shared settings: each chart's schema does."""
    return {
        "$schema": SCHEMA_DIALECT,
        "type": "object",
        "description": "springhead-common takes no values of its own",
        "additionalProperties": False,
        "properties": {"global": {"type": "object"}},
    }


#: Chart directory -> (chart name, schema builder).
CHARTS: dict[str, Any] = {
    "ping": ping_schema,
    "http": http_schema,
    "github": github_schema,
    "kafka": kafka_schema,
    "apiserver": apiserver_schema,
    "controller": controller_schema,
    "containersource": containersource_schema,
}


def chart_schema(chart: str) -> Schema:
    """The schema of ``chart`` (a directory name under charts/)."""
    if chart == "common":
        return common_schema()
    builder = CHARTS[chart]
    schema: Schema = builder()
    return schema


# -- values tables ----------------------------------------------------------------------------

_HIDDEN = {"springhead-common", "global"}


def leaf_paths(schema: Schema, prefix: str = "") -> Iterator[tuple[str, Schema]]:
    """Every documented setting: dotted path and its schema (objects with declared properties
    are descended into; free-form structures are one setting)."""
    for name, node in (schema.get("properties") or {}).items():
        if name in _HIDDEN or node.get("description") == "(not a setting)":
            continue
        path = f"{prefix}{name}"
        if node.get("type") == "object" and node.get("additionalProperties") is False:
            yield from leaf_paths(node, f"{path}.")
        else:
            yield path, node


def _lookup(values: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(values, dict) or part not in values:
            return None
        values = values[part]
    return values


def _cell(text: str) -> str:
    text = text.replace("|", "\\|").replace("\n", " ")
    return text.replace("<", "&lt;").replace(">", "&gt;")


def _default(value: Any) -> str:
    if value is None:
        return "`null`"
    if value == "":
        return '`""`'
    rendered = json.dumps(value, separators=(", ", ": "))
    if len(rendered) > 60:
        rendered = rendered[:57] + "..."
    return "`" + rendered.replace("|", "\\|") + "`"


def table_for(chart: str) -> str:
    """The values table of ``chart``: key, default (from its values.yaml), description."""
    values = yaml.safe_load((CHARTS_DIR / chart / "values.yaml").read_text()) or {}
    lines = ["| key | default | description |", "|---|---|---|"]
    for path, node in leaf_paths(chart_schema(chart)):
        description = _cell(str(node.get("description", "")))
        if "enum" in node:
            description += " (" + ", ".join(f"`{v}`" if v else '`""`' for v in node["enum"]) + ")"
        lines.append(f"| `{path}` | {_default(_lookup(values, path))} | {description} |")
    return "\n".join(lines) + "\n"


_TABLE = re.compile(
    r"(<!-- values-table: (?P<chart>[a-z]+) -->\n)(?P<body>.*?)(<!-- /values-table -->)", re.S
)


def readme_text() -> str:
    """charts/README.md with every values table regenerated."""
    text = README.read_text()
    return _TABLE.sub(lambda m: m.group(1) + table_for(m.group("chart")) + m.group(4), text)


def schema_text(chart: str) -> str:
    """The file content of ``charts/<chart>/values.schema.json``."""
    return json.dumps(chart_schema(chart), indent=2) + "\n"


def write_all() -> None:
    """Rewrite every schema and the README's tables."""
    for chart in ["common", *CHARTS]:
        (CHARTS_DIR / chart / "values.schema.json").write_text(schema_text(chart))
    README.write_text(readme_text())


if __name__ == "__main__":
    write_all()
    sys.stdout.write(f"wrote {len(CHARTS) + 1} schemas and the tables in {README}\n")
