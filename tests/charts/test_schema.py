"""Bad values fail `helm template`, `helm lint` and `helm install` with Helm's schema message
naming the bad value: a wrong type, an unknown enum, a typo, a missing required setting, a
secret given inline, a sink.ref without a SinkBinding."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from springhead_testinfra.helm import Helm
from springhead_testinfra.kube import KubeCluster

CHARTS = Path(__file__).resolve().parents[2] / "charts"
PING_OK = ["--set", "ping.schedule=@hourly", "--set", "sink.uri=http://sink/"]
HTTP_OK = ["--set", "sink.uri=http://sink/"]
GITHUB_OK = [
    "--values", str(CHARTS / "github/ci/token-values.yaml"),
]  # fmt: skip
KAFKA_OK = ["--values", str(CHARTS / "kafka/ci/secure-values.yaml")]
BROKER_SECURE = ["--values", str(CHARTS / "broker/ci/secure-values.yaml")]
APISERVER_OK = ["--values", str(CHARTS / "apiserver/ci/namespaced-values.yaml")]
FEED_OK = ["--values", str(CHARTS / "containersource/ci/sinkbinding-values.yaml")]
REF = [
    "--set", "sink.ref.apiVersion=v1", "--set", "sink.ref.kind=Service",
    "--set", "sink.ref.name=display",
]  # fmt: skip

REJECTIONS = [
    # chart, extra args, text Helm's message must contain
    (
        "display",
        ["--set", "display.maxEvents=0"],
        "at '/display/maxEvents': minimum: got 0, want 1",
    ),
    (
        "display",
        ["--set", "display.terminal=maybe"],
        "at '/display/terminal': got string, want boolean",
    ),
    (
        "display",
        ["--set", "display.maxBytes=10"],
        "at '/display/maxBytes': minimum: got 10, want 1,024",
    ),
    ("ping", ["--set", "sink.uri=http://sink/"], "at '/ping/schedule': minLength: got 0, want 1"),
    (
        "ping",
        [*PING_OK, "--set", "replicaCount=two"],
        "at '/replicaCount': got string, want integer",
    ),
    (
        "ping",
        [*PING_OK, "--set", "replicaCont=2"],
        "additional properties 'replicaCont' not allowed",
    ),
    (
        "ping",
        [*PING_OK, "--set", "replicaCount=2"],
        "at '/ping/leaderElection/enabled': value must be true",
    ),
    (
        "ping",
        [*PING_OK, "--set", "ping.data=x", "--set", "ping.dataBase64=eA=="],
        "at '/ping/dataBase64': value must be ''",
    ),
    (
        "ping",
        ["--set", "ping.schedule=@hourly", *REF],
        "at '/sink/ref': value must be 'only with sinkBinding.enabled=true",
    ),
    ("ping", ["--set", "ping.schedule=@hourly"], "at '/sink/uri': minLength: got 0, want 1"),
    (
        "ping",
        ["--set", "ping.schedule=@hourly", "--set", "sink.uri=sink:80"],
        "at '/sink/uri': 'sink:80' does not match pattern",
    ),
    (
        "ping",
        [*PING_OK, "--set", "delivery.backoffDelay=200ms"],
        "at '/delivery/backoffDelay': '200ms' does not match pattern",
    ),
    (
        "ping",
        [*PING_OK, "--set", "delivery.backoffPolicy=random"],
        "at '/delivery/backoffPolicy': value must be one of",
    ),
    (
        "ping",
        [*PING_OK, "--set", "ceOverrides.extensions.type=x"],
        "at '/ceOverrides/extensions/type': value must be 'not an extension",
    ),
    (
        "ping",
        [*PING_OK, "--set", "ceOverrides.extensions.Bad_Name=x"],
        "invalid propertyName 'Bad_Name'",
    ),
    (
        "ping",
        [*PING_OK, "--set", "sinkBinding.enable=true"],
        "at '/sinkBinding': additional properties 'enable' not allowed",
    ),
    (
        "http",
        [*HTTP_OK, "--set", "webhook.auth.bearerToken=s3cret"],
        "at '/webhook/auth/bearerToken': value must be 'never inline",
    ),
    (
        "http",
        [*HTTP_OK, "--set", "webhook.auth.bearerTokenKey=token"],
        "at '/webhook/auth/existingSecret': minLength: got 0, want 1",
    ),
    (
        "http",
        [*HTTP_OK, "--set", "http.hmac.secret=s3cret"],
        "at '/http/hmac/secret': value must be 'never inline",
    ),
    (
        "http",
        [*HTTP_OK, "--set", "service.type=Ingress"],
        "at '/service/type': value must be one of",
    ),
    (
        "github",
        [*HTTP_OK, "--set", "github.ownerAndRepository=o/r"],
        "at '/github/eventTypes': minItems: got 0, want 1",
    ),
    (
        "github",
        [*GITHUB_OK, "--set", "github.webhookSecret.existingSecret="],
        "at '/github/webhookSecret/existingSecret': minLength: got 0, want 1",
    ),
    (
        "github",
        [*GITHUB_OK, "--set", "github.webhookSecret.value=s3cret"],
        "at '/github/webhookSecret/value': value must be 'never inline",
    ),
    (
        "github",
        [*GITHUB_OK, "--set", "hooks.webhookURL="],
        "at '/hooks/webhookURL': minLength: got 0, want 1",
    ),
    (
        "github",
        [*GITHUB_OK, "--set", "hooks.token.existingSecret="],
        "at '/hooks': 'oneOf' failed, none matched",
    ),
    (
        "github",
        [*GITHUB_OK, "--set", "github.eventTypes={Push}"],
        "at '/github/eventTypes/0': 'Push' does not match pattern",
    ),
    (
        "kafka",
        [*KAFKA_OK, "--set", "kafka.ordering=sideways"],
        "at '/kafka/ordering': value must be one of 'ordered', 'unordered'",
    ),
    (
        "kafka",
        [*HTTP_OK, "--set", "kafka.topics={t}"],
        "at '/kafka/bootstrapServers': minItems: got 0, want 1",
    ),
    (
        "kafka",
        [*HTTP_OK, "--set", "kafka.bootstrapServers={b:9092}"],
        "at '/kafka/topics': minItems: got 0, want 1",
    ),
    (
        "kafka",
        [*KAFKA_OK, "--set", "kafka.sasl.password=s3cret"],
        "at '/kafka/sasl/password': value must be 'never inline",
    ),
    (
        "kafka",
        [*KAFKA_OK, "--set", "kafka.sasl.existingSecret="],
        "at '/kafka/sasl/existingSecret': minLength: got 0, want 1",
    ),
    (
        "kafka",
        [*KAFKA_OK, "--set", "kafka.tls.key=PEM"],
        "at '/kafka/tls/key': value must be 'never inline",
    ),
    (
        "broker",
        [*BROKER_SECURE, "--set", "kafka.sasl.password=s3cret"],
        "at '/kafka/sasl/password': value must be 'never inline",
    ),
    (
        "broker",
        [*BROKER_SECURE, "--set", "kafka.sasl.existingSecret="],
        "at '/kafka/sasl/existingSecret': minLength: got 0, want 1",
    ),
    (
        "controller",
        ["--set", "kafka.tls.keyKey=tls.key"],
        "at '/kafka/tls/existingSecret': minLength: got 0, want 1",
    ),
    (
        "kafka",
        [*KAFKA_OK, "--set", "kafka.maxInFlight=0"],
        "at '/kafka/maxInFlight': minimum: got 0, want 1",
    ),
    ("apiserver", HTTP_OK, "at '/apiserver/resources': minItems: got 0, want 1"),
    (
        "apiserver",
        [*APISERVER_OK, "--set", "apiserver.mode=Full"],
        "at '/apiserver/mode': value must be one of 'Reference', 'Resource'",
    ),
    (
        "apiserver",
        [*APISERVER_OK, "--set", "apiserver.namespaceSelector=env=prod"],
        "at '/apiserver': 'not' failed",
    ),
    (
        "apiserver",
        [*APISERVER_OK, "--set", "apiserver.resources[0].plurals=x"],
        "at '/apiserver/resources/0': additional properties 'plurals' not allowed",
    ),
    (
        "controller",
        ["--set", "leaderElection.enabled=false"],
        "at '/leaderElection/enabled': value must be true",
    ),
    (
        "controller",
        ["--set", "selectionMode=all"],
        "at '/selectionMode': value must be one of 'exclusion', 'inclusion'",
    ),
    ("controller", ["--set", "sink.uri=http://x/"], "additional properties 'sink' not allowed"),
    (
        "containersource",
        ["--set", "sink.uri=http://x/"],
        "at '/image/repository': minLength: got 0, want 1",
    ),
    (
        "containersource",
        [*FEED_OK, "--set", "mode=deployment"],
        "at '/mode': value must be one of 'sinkbinding', 'containersource'",
    ),
    (
        "containersource",
        [*FEED_OK, "--set", "mode=containersource", "--set", "replicaCount=2"],
        "at '/replicaCount': value must be 1",
    ),
    (
        "containersource",
        [*FEED_OK, "--set-json", 'env=[{"value": "x"}]'],
        "at '/env/0': missing property 'name'",
    ),
    (
        "containersource",
        [*FEED_OK, "--set", "sink.uri=/relative"],
        "at '/sink/uri': '/relative' does not match pattern",
    ),
]


@pytest.mark.parametrize(
    ("chart", "args", "message"),
    [pytest.param(*case, id=f"{case[0]}-{i}") for i, case in enumerate(REJECTIONS)],
)
def test_template_rejects(charts: Any, chart: str, args: list[str], message: str) -> None:
    error = charts.failure(chart, *args)
    assert "values don't meet the specifications of the schema" in error
    assert message in error, error


@pytest.mark.parametrize(
    ("chart", "args", "message"),
    [
        ("kafka", [*KAFKA_OK, "--set", "kafka.ordering=sideways"], "at '/kafka/ordering'"),
        ("ping", ["--set", "ping.schedule=@hourly", *REF], "at '/sink/ref'"),
    ],
)
def test_lint_rejects(charts: Any, chart: str, args: list[str], message: str) -> None:
    completed = charts.helm.run("lint", "--strict", charts.path(chart), *args, check=False)
    assert completed.returncode != 0
    assert message in completed.stdout + completed.stderr


def test_install_rejects_before_touching_the_cluster(
    charts: Any, helm: Helm, kube: KubeCluster, namespace: str
) -> None:
    completed = helm.for_cluster(kube).run(
        "install", "bad", charts.path("kafka"), *KAFKA_OK, "--set", "kafka.ordering=sideways",
        "--namespace", namespace, "--create-namespace", check=False,
    )  # fmt: skip
    assert completed.returncode != 0
    assert "at '/kafka/ordering': value must be one of 'ordered', 'unordered'" in completed.stderr
    status = helm.for_cluster(kube).run("status", "bad", "--namespace", namespace, check=False)
    assert status.returncode != 0 and "not found" in status.stderr


def test_library_chart_schema_checks_its_own_key(charts: Any) -> None:
    # Helm validates the library's schema against the values under `springhead-common:` only.
    error = charts.failure("ping", *PING_OK, "--set", "springhead-common.anything=1")
    assert "springhead-common:" in error
    assert "additional properties 'anything' not allowed" in error


@pytest.mark.parametrize(
    ("chart", "messages"),
    [
        ("ping", ["at '/ping/schedule': minLength: got 0, want 1", "at '/sink/uri'"]),
        ("http", ["at '/sink/uri': minLength: got 0, want 1"]),
        (
            "github",
            ["at '/github/eventTypes': minItems: got 0, want 1", "'/github/ownerAndRepository'"],
        ),
        ("kafka", ["at '/kafka/bootstrapServers': minItems: got 0, want 1", "at '/kafka/topics'"]),
        ("apiserver", ["at '/apiserver/resources': minItems: got 0, want 1"]),
        ("containersource", ["at '/image/repository': minLength: got 0, want 1"]),
    ],
)
def test_defaults_name_the_required_settings(charts: Any, chart: str, messages: list[str]) -> None:
    # Only the controller renders without settings; the others say which ones they need.
    error = charts.failure(chart)
    for message in messages:
        assert message in error, error
