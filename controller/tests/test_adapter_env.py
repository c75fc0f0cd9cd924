"""The pure parts of the ApiServerSource and KafkaSource reconcilers, table-driven: the spec as
the sources' variables, and the reasons a spec is refused."""

from __future__ import annotations

import json
from typing import Any

import pytest
from springhead.config import load_settings
from springhead_apiserver.config import ApiServerSettings
from springhead_controller.adapters import adapter_container, adapter_deployment
from springhead_controller.apiserversources import adapter_env, adapter_name, watch_settings
from springhead_controller.kafkasources import adapter_name as kafka_adapter_name
from springhead_controller.kafkasources import consumer_group, kafka_env
from springhead_controller.spec import InvalidSpec
from springhead_kafka.config import KafkaSettings
from springhead_testinfra.pods import PodContainer

UID = "6f1b1c5e-0d7a-4a8e-9a55-1f2e3d4c5b6a"
SINK = "http://sink.example/"


def source(kind: str, spec: dict[str, Any], **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "sources.knative.dev/v1",
        "kind": kind,
        "metadata": {"name": "src", "namespace": "team", "uid": UID, "labels": labels},
        "spec": spec,
    }


def literal(env: list[dict[str, Any]], **node: str) -> dict[str, str]:
    """The variables as the kubelet gives them: literals, ``metadata.namespace``, and
    ``secret:<name>/<key>`` standing for a Secret's value."""
    values = {}
    for entry in env:
        source = entry.get("valueFrom")
        if source is None:
            values[entry["name"]] = entry["value"]
        elif "fieldRef" in source:
            values[entry["name"]] = "team"
        else:
            ref = source["secretKeyRef"]
            values[entry["name"]] = f"secret:{ref['name']}/{ref['key']}"
    return {**values, **node}


def test_names_follow_knatives_child_names() -> None:
    assert adapter_name(source("ApiServerSource", {})) == f"apiserversource-src-{UID}"
    assert kafka_adapter_name(source("KafkaSource", {})) == f"kafkasource-src-{UID}"
    long = source("KafkaSource", {})
    long["metadata"]["name"] = "n" * 60
    # Knative's kmeta.ChildName for a suffix with no room beside a digest: 31 characters of the
    # parent, the md5 of parent + suffix, the suffix's start.
    name = kafka_adapter_name(long)
    assert len(name) == 63
    assert name.startswith("kafkasource-" + "n" * 19)
    assert name == kafka_adapter_name(long)


def test_an_api_server_source_becomes_settings_the_apiserver_source_accepts() -> None:
    spec = {
        "resources": [
            {"apiVersion": "v1", "kind": "Event"},
            {"apiVersion": "apps/v1", "kind": "Deployment",
             "selector": {"matchLabels": {"app": "web"}}},
        ],
        "owner": {"apiVersion": "apps/v1", "kind": "ReplicaSet"},
        "mode": "Resource",
        "namespaceSelector": {"matchLabels": {"env": "prod"}},
        "ceOverrides": {"extensions": {"team": "blue"}},
    }  # fmt: skip
    env = literal(adapter_env(source("ApiServerSource", spec), SINK))
    assert env["K_CE_OVERRIDES"] == '{"extensions":{"team":"blue"}}'
    assert "K_SOURCE_CONFIG" not in env
    settings = load_settings(ApiServerSettings, env)
    assert settings.sink == SINK
    assert (settings.namespace, settings.name) == ("team", "src")
    assert settings.mode.value == "Resource"
    assert settings.namespace_selector == "env=prod"
    assert settings.owner is not None and settings.owner.kind == "ReplicaSet"
    assert [(r.api_version, r.kind, r.label_selector) for r in settings.resources] == [
        ("v1", "Event", ""),
        ("apps/v1", "Deployment", "app=web"),
    ]
    assert settings.ce_overrides == {"team": "blue"}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({}, "spec.resources: at least one is required"),
        ({"resources": [{"apiVersion": "v1"}]}, "spec.resources[0].kind: required"),
        (
            {"resources": [{"apiVersion": "a/b/c", "kind": "X"}]},
            "spec.resources[0]: apiVersion 'a/b/c' is not group/version or version",
        ),
        (
            {"resources": [{"apiVersion": "v1", "kind": "Pod"}], "filters": [{"exact": {}}]},
            "spec.filters is not supported (a Knative feature flag)",
        ),
    ],
)
def test_an_api_server_spec_the_source_would_refuse_is_named(
    spec: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidSpec) as caught:
        watch_settings(source("ApiServerSource", spec))
    assert caught.value.message == message


def test_a_kafka_source_becomes_settings_the_kafka_source_accepts() -> None:
    spec = {
        "bootstrapServers": ["a:9092", "b:9092"],
        "topics": ["orders", "refunds"],
        "initialOffset": "earliest",
        "ordering": "unordered",
        "delivery": {"retry": 2, "backoffDelay": "PT1S"},
        "net": {
            "sasl": {
                "enable": True,
                "type": {"secretKeyRef": {"name": "creds", "key": "mechanism"}},
                "user": {"secretKeyRef": {"name": "creds", "key": "user"}},
                "password": {"secretKeyRef": {"name": "creds", "key": "password"}},
            },
            "tls": {"enable": False, "caCert": {"secretKeyRef": {"name": "x", "key": "y"}}},
        },
    }
    kafka = source("KafkaSource", spec, **{"kafkasources.sources.knative.dev/key-type": "int"})
    raw = kafka_env(kafka, SINK, dead_letter_sink="http://dead.example/")
    env = literal(raw)
    assert env["KAFKA_SASL_PASSWORD"] == "secret:creds/password"
    assert env["KAFKA_SASL_MECHANISM"] == "secret:creds/mechanism"
    assert not any(name.startswith("KAFKA_TLS") for name in env)
    settings = load_settings(
        KafkaSettings,
        {**env, "KAFKA_SASL_MECHANISM": "scram-sha-512", "KAFKA_SASL_PASSWORD": "pw"},
    )
    assert settings.bootstrap_servers == ["a:9092", "b:9092"]
    assert settings.topics == ["orders", "refunds"]
    assert settings.group_id == f"knative-kafka-source-{UID}"
    assert (settings.initial_offset.value, settings.ordering.value) == ("earliest", "unordered")
    assert settings.key_type.value == "int"
    assert settings.retry == 2
    assert settings.backoff_delay.total_seconds() == 1
    assert settings.dead_letter_sink == "http://dead.example/"
    assert settings.security_protocol == "SASL_PLAINTEXT"
    assert "pw" not in json.dumps(raw)


def test_the_consumer_group_defaults_as_knatives() -> None:
    assert consumer_group(source("KafkaSource", {})) == f"knative-kafka-source-{UID}"
    assert consumer_group(source("KafkaSource", {"consumerGroup": "mine"})) == "mine"


@pytest.mark.parametrize(
    ("spec", "labels", "message"),
    [
        ({"topics": ["t"]}, {}, "spec.bootstrapServers: at least one is required"),
        ({"bootstrapServers": ["a:1"], "topics": []}, {}, "spec.topics: at least one is required"),
        (
            {"bootstrapServers": ["a:1"], "topics": ["t"], "ordering": "random"},
            {},
            "spec.ordering: 'random' is not one of ordered, unordered",
        ),
        (
            {"bootstrapServers": ["a:1"], "topics": ["t"]},
            {"kafkasources.sources.knative.dev/key-type": "uuid"},
            "label kafkasources.sources.knative.dev/key-type: 'uuid' is not one of string, int, "
            "float, byte-array",
        ),
        (
            {"bootstrapServers": ["a:1"], "topics": ["t"],
             "net": {"tls": {"enable": True, "cert": {"secretKeyRef": {"key": "c"}}}}},
            {},
            "spec.net.tls.cert: needs secretKeyRef with a name and a key",
        ),
        (
            {"bootstrapServers": ["a:1"], "topics": ["t"], "delivery": {"timeout": "soon"}},
            {},
            "spec.delivery.timeout: expected an ISO-8601 duration such as PT0.2S or PT1M, "
            "got 'soon'",
        ),
    ],
)  # fmt: skip
def test_a_kafka_spec_the_source_would_refuse_is_named(
    spec: dict[str, Any], labels: dict[str, str], message: str
) -> None:
    with pytest.raises(InvalidSpec) as caught:
        kafka_env(source("KafkaSource", spec, **labels), SINK)
    assert caught.value.message == message


def test_the_adapter_pod_specs_are_runnable_as_the_e2e_tier_runs_pods() -> None:
    # springhead_testinfra.pods refuses any field it could not honour: the Deployments the
    # controller writes hold nothing a kubelet-less run would silently drop.
    api = source("ApiServerSource", {"resources": [{"apiVersion": "v1", "kind": "Pod"}]})
    kafka = source("KafkaSource", {"bootstrapServers": ["a:1"], "topics": ["t"]})
    pods = [
        adapter_deployment(
            api,
            adapter_name(api),
            {"app": "a"},
            adapter_container("img", adapter_env(api, SINK)),
            service_account="account",
        ),
        adapter_deployment(
            kafka, kafka_adapter_name(kafka), {"app": "k"},
            adapter_container("img", kafka_env(kafka, SINK)),
        ),
    ]  # fmt: skip
    for pod in pods:
        container = PodContainer.from_pod_spec(pod["spec"]["template"]["spec"])
        assert container.ports == {"http": 8080}
        assert container.read_only and container.no_new_privileges
        assert container.cap_drop == ("ALL",)
        assert {probe.kind for probe in container.probes} == {"readinessProbe", "livenessProbe"}
        # Only the apiserver source calls the Kubernetes API: only it gets a token.
        assert container.service_account_token is (pod is not pods[-1])
