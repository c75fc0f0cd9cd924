"""Lint and render every chart with each ci/ values file; validate the manifests offline; check
what the templates make of the values (env, probes, security context, SinkBinding, hooks)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from springhead.config import load_settings
from springhead_display.config import DisplaySettings
from springhead_http.config import HttpSettings
from springhead_testinfra.charts import CHARTS, builtin_manifests, ci_values_files
from springhead_testinfra.helm import validate_manifests

CI_FILES = [
    pytest.param(chart, path, id=f"{chart}-{path.name}") for chart, path in ci_values_files()
]
Doc = dict[str, Any]


def pod_spec(doc: Doc) -> Doc:
    spec: Doc = doc["spec"]["template"]["spec"]
    return spec


def test_library_chart_lints(charts: Any) -> None:
    assert "1 chart(s) linted, 0 chart(s) failed" in charts.helm.lint(charts.path("common"))


def test_library_chart_cannot_be_installed(charts: Any) -> None:
    completed = charts.helm.run("template", "x", charts.path("common"), check=False)
    assert completed.returncode != 0
    assert "library charts are not installable" in completed.stderr


@pytest.mark.parametrize(("chart", "values"), CI_FILES)
def test_ci_values_lint_render_and_validate(charts: Any, chart: str, values: Path) -> None:
    assert "0 chart(s) failed" in charts.helm.lint(charts.path(chart), "--values", str(values))
    docs = charts.render(chart, "--values", str(values))
    validate_manifests(builtin_manifests(docs))
    for doc in docs:
        if doc["kind"] in ("Deployment", "Job", "ContainerSource"):
            check_pod(doc)


def check_pod(doc: Doc) -> None:
    """Every pod the charts make is locked down the same way."""
    spec = pod_spec(doc)
    assert spec["securityContext"] == {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    [container] = spec["containers"]
    assert container["securityContext"] == {
        "runAsNonRoot": True,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]  # noqa: S108
    assert {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}} in spec["volumes"]
    env = {e["name"]: e for e in container["env"]}
    assert env["NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert env["NAME"]["value"] == doc["metadata"]["name"].removesuffix(
        "-register-hook"
    ).removesuffix("-unregister-hook")
    assert env["K_COMPONENT"]["value"].startswith("springhead-")


def test_controller_renders_with_defaults(charts: Any) -> None:
    docs = charts.render("controller")
    validate_manifests(builtin_manifests(docs))
    deployment = charts.find(docs, "Deployment", "demo")
    assert deployment["spec"]["replicas"] == 2
    [container] = pod_spec(deployment)["containers"]
    assert container["name"] == "controller"
    assert container["command"] == ["python", "-m", "springhead_controller"]
    env = charts.container_env(deployment)
    assert env["CONTROLLER_INSTALL_CRDS"] == "false"
    assert env["CONTROLLER_LEADER_ELECTION"] == "true"
    assert env["CONTROLLER_LEASE_NAME"] == "demo"
    assert "K_SINK" not in env
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert pod_spec(deployment)["automountServiceAccountToken"] is True


def test_uri_sink_becomes_the_contract_env(charts: Any) -> None:
    docs = charts.render(
        "ping", "--values", str(CHARTS / "ping/ci/uri-values.yaml"),
        "--set-json", 'ceOverrides.extensions={"origin":"ci","n":3,"flag":true}',
        "--set", "delivery.retry=7", "--set", "delivery.backoffDelay=PT1S",
        "--set", "delivery.deadLetterSink.uri=http://dls/", "--set", "sink.caCerts=PEM",
    )  # fmt: skip
    assert "SinkBinding" not in charts.kinds(docs)
    deployment = charts.find(docs, "Deployment", "demo")
    env = charts.container_env(deployment)
    assert env["K_SINK"] == "http://event-display.default.svc.cluster.local/"
    assert json.loads(env["K_CE_OVERRIDES"]) == {
        "extensions": {"origin": "ci", "n": 3, "flag": True}
    }
    assert env["K_CA_CERTS"] == "PEM"
    assert env["SPRINGHEAD_DELIVERY_RETRY"] == "7"
    assert env["SPRINGHEAD_DELIVERY_BACKOFF_DELAY"] == "PT1S"
    assert env["SPRINGHEAD_DELIVERY_DEAD_LETTER_SINK"] == "http://dls/"
    assert "SPRINGHEAD_DELIVERY_TIMEOUT" not in env  # unset fields keep the source's default
    assert env["PING_SCHEDULE"] == "@hourly"
    assert env["PING_DATA_BASE64"] == "aGVsbG8="
    assert pod_spec(deployment)["automountServiceAccountToken"] is False
    assert "Role" not in charts.kinds(docs)


def test_multi_tenant_ping_watches_pingsources_with_leader_election(charts: Any) -> None:
    docs = charts.render("ping", "--values", str(CHARTS / "ping/ci/multitenant-values.yaml"))
    validate_manifests(builtin_manifests(docs))
    deployment = charts.find(docs, "Deployment", "demo")
    assert deployment["spec"]["replicas"] == 2
    env = charts.container_env(deployment)
    assert env["PING_MULTI_TENANT"] == "true"
    assert env["PING_LEADER_ELECTION"] == "true"
    assert env["PING_CATCHUP_WINDOW"] == "PT5M"
    assert "PING_SCHEDULE" not in env
    assert pod_spec(deployment)["automountServiceAccountToken"] is True
    role = charts.find(docs, "ClusterRole", "demo")
    assert role["rules"] == [
        {
            "apiGroups": ["sources.knative.dev"],
            "resources": ["pingsources"],
            "verbs": ["list", "watch"],
        }
    ]
    assert {"Role", "RoleBinding", "ClusterRoleBinding"} <= set(charts.kinds(docs))


#: The rules the multi-tenant ping needs on PingSources (wherever it watches them).
PINGSOURCE_RULE = {
    "apiGroups": ["sources.knative.dev"],
    "resources": ["pingsources"],
    "verbs": ["list", "watch"],
}
NAMESPACE_RULE = {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]}


def test_a_multi_tenant_ping_limited_to_namespaces_gets_a_role_in_each_and_no_cluster_role(
    charts: Any,
) -> None:
    docs = charts.render(
        "ping", "--values", str(CHARTS / "ping/ci/multitenant-values.yaml"),
        "--set", "ping.namespaces={team-a,springhead}",
    )  # fmt: skip
    validate_manifests(builtin_manifests(docs))
    env = charts.container_env(charts.find(docs, "Deployment", "demo"))
    assert env["PING_NAMESPACES"] == "team-a,springhead"
    assert "PING_NAMESPACE_SELECTOR" not in env
    assert not {"ClusterRole", "ClusterRoleBinding"} & set(charts.kinds(docs))
    roles = {
        (d["metadata"]["namespace"], d["metadata"]["name"]): d for d in docs if d["kind"] == "Role"
    }
    assert set(roles) == {
        ("team-a", "demo-pingsources"),
        ("springhead", "demo-pingsources"),
        ("springhead", "demo"),  # the Lease's
    }
    for namespace in ("team-a", "springhead"):
        assert roles[(namespace, "demo-pingsources")]["rules"] == [PINGSOURCE_RULE]
        binding = charts.find(
            [d for d in docs if d["metadata"].get("namespace") == namespace],
            "RoleBinding",
            "demo-pingsources",
        )
        assert binding["roleRef"]["name"] == "demo-pingsources"
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "demo", "namespace": "springhead"}
        ]


@pytest.mark.parametrize(
    ("selector", "variable", "rules"),
    [
        ("{matchLabels: {pings: 'on'}}", '{"matchLabels":{"pings":"on"}}', "namespaces"),
        ("env in (prod)", "env in (prod)", "namespaces"),
        ("{}", "{}", "pingsources only"),
    ],
)
def test_a_multi_tenant_ping_with_a_namespace_selector_watches_namespaces_when_it_filters(
    charts: Any, tmp_path: Path, selector: str, variable: str, rules: str
) -> None:
    values = tmp_path / "selector.yaml"
    values.write_text(f"ping:\n  namespaceSelector: {selector}\n")
    docs = charts.render(
        "ping", "--values", str(CHARTS / "ping/ci/multitenant-values.yaml"),
        "--values", str(values),
    )  # fmt: skip
    validate_manifests(builtin_manifests(docs))
    env = charts.container_env(charts.find(docs, "Deployment", "demo"))
    assert env["PING_NAMESPACE_SELECTOR"] == variable
    expected = [PINGSOURCE_RULE, NAMESPACE_RULE] if rules == "namespaces" else [PINGSOURCE_RULE]
    assert charts.find(docs, "ClusterRole", "demo")["rules"] == expected


def test_a_ping_namespace_selection_is_one_or_the_other(charts: Any) -> None:
    error = charts.failure(
        "ping", "--values", str(CHARTS / "ping/ci/multitenant-values.yaml"),
        "--set", "ping.namespaces={a}", "--set", "ping.namespaceSelector=env=prod",
    )  # fmt: skip
    assert "values don't meet the specifications of the schema" in error


def test_a_single_ping_still_needs_a_schedule_and_a_sink(charts: Any) -> None:
    completed = charts.helm.run("template", "x", charts.path("ping"), check=False)
    assert completed.returncode != 0
    assert "schedule" in completed.stderr


def test_empty_overrides_are_still_injected(charts: Any) -> None:
    docs = charts.render("ping", "--values", str(CHARTS / "ping/ci/uri-values.yaml"))
    assert charts.container_env(charts.find(docs, "Deployment"))["K_CE_OVERRIDES"] == ""


def test_sink_binding_replaces_k_sink(charts: Any) -> None:
    docs = charts.render("ping", "--values", str(CHARTS / "ping/ci/binding-values.yaml"))
    deployment = charts.find(docs, "Deployment", "demo")
    env = charts.container_env(deployment)
    assert not {"K_SINK", "K_CE_OVERRIDES", "K_CA_CERTS"} & set(env)
    assert env["SPRINGHEAD_DELIVERY_BACKOFF_POLICY"] == "linear"
    assert env["PING_LEADER_ELECTION"] == "true"
    assert env["PING_LEASE_NAME"] == "pingsource-demo"
    assert env["SPRINGHEAD_OIDC_TOKEN_FILE"] == {
        "secretKeyRef": {"name": "ping-extra", "key": "token-file", "optional": True}
    }
    binding = charts.find(docs, "SinkBinding", "demo")
    assert binding["apiVersion"] == "sources.knative.dev/v1"
    assert binding["spec"] == {
        "subject": {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "namespace": "springhead",
            "name": "demo",
        },
        "sink": {
            "ref": {
                "apiVersion": "v1",
                "kind": "Service",
                "name": "event-display",
                "namespace": "springhead",
            }
        },
        "ceOverrides": {"extensions": {"origin": "springhead-ci", "attempt": "3"}},
    }
    role = charts.find(docs, "Role", "demo")
    assert role["rules"] == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": ["pingsource-demo"],
            "verbs": ["get", "update"],
        },
    ]
    assert pod_spec(deployment)["automountServiceAccountToken"] is True
    monitor = charts.find(docs, "ServiceMonitor", "demo")
    assert monitor["spec"]["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "30s"}]
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    service = charts.find(docs, "Service", "demo")
    assert service["spec"]["ports"][0]["targetPort"] == "http"


def test_http_secrets_come_from_existing_secrets(charts: Any) -> None:
    docs = charts.render("http", "--values", str(CHARTS / "http/ci/auth-values.yaml"))
    env = charts.container_env(charts.find(docs, "Deployment", "demo"))
    assert env["WEBHOOK_BEARER_TOKEN"] == {
        "secretKeyRef": {"name": "http-credentials", "key": "bearer-token"}
    }
    assert env["HTTP_HMAC_SECRET"] == {"secretKeyRef": {"name": "http-hmac", "key": "hmac-secret"}}
    assert env["WEBHOOK_MAX_BODY_BYTES"] == "2097152"  # not 2.097152e+06
    assert env["WEBHOOK_RATE_LIMIT"] == "50.5"
    assert env["WEBHOOK_MAX_IN_FLIGHT"] == "64"
    # the slow-client limits, and the source takes them as its settings
    limits = {
        "SPRINGHEAD_HEAD_TIMEOUT": "PT5S",
        "SPRINGHEAD_BODY_TIMEOUT": "PT20S",
        "SPRINGHEAD_IDLE_TIMEOUT": "PT60S",
        "SPRINGHEAD_MAX_INBOUND_CONNECTIONS": "512",
    }
    assert {name: env[name] for name in limits} == limits
    settings = load_settings(HttpSettings, {"K_SINK": "http://sink/", **limits})
    assert (settings.head_timeout.total_seconds(), settings.body_timeout.total_seconds()) == (5, 20)
    assert (settings.idle_timeout.total_seconds(), settings.max_inbound_connections) == (60, 512)
    assert env["HTTP_HEADER_EXTENSIONS"] == "X-Request-Id=requestid"
    assert env["WEBHOOK_PATH"] == "/events"
    service = charts.find(docs, "Service", "demo")
    assert service["spec"]["type"] == "NodePort"
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}
    ]


def test_github_hook_jobs(charts: Any) -> None:
    docs = charts.render("github", "--values", str(CHARTS / "github/ci/token-values.yaml"))
    deployment = charts.find(docs, "Deployment", "demo")
    env = charts.container_env(deployment)
    assert env["GITHUB_WEBHOOK_SECRET"] == {
        "secretKeyRef": {"name": "github-webhook", "key": "secret"}
    }
    assert "GITHUB_TOKEN" not in env  # only the hooks command needs it
    [receiver] = pod_spec(deployment)["containers"]
    assert receiver["image"] == "ghcr.io/springhead/springhead-github:0.1.0"
    register = charts.find(docs, "Job", "demo-register-hook")
    unregister = charts.find(docs, "Job", "demo-unregister-hook")
    for job, action, hook in (
        (register, "register", "post-install,post-upgrade"),
        (unregister, "unregister", "pre-delete"),
    ):
        assert job["metadata"]["annotations"] == {
            "helm.sh/hook": hook,
            "helm.sh/hook-weight": "0",
            "helm.sh/hook-delete-policy": "before-hook-creation,hook-succeeded",
        }
        spec = pod_spec(job)
        assert spec["restartPolicy"] == "Never"
        [container] = spec["containers"]
        # The hooks image holds PyGithub; the receiver's (the Deployment's) does not.
        assert container["image"] == "ghcr.io/springhead/springhead-github-hooks:0.1.0"
        assert container["command"] + container["args"] == [
            "python", "-m", "springhead_github", "hooks", action,
        ]  # fmt: skip
        job_env = charts.container_env(job)
        assert job_env["GITHUB_TOKEN"] == {"secretKeyRef": {"name": "github-token", "key": "token"}}
        assert job_env["GITHUB_WEBHOOK_URL"] == "https://hooks.example.com/github"
        assert job_env["GITHUB_OWNER_AND_REPOSITORY"] == "octo-org/octo-repo"
        assert job_env["GITHUB_EVENT_TYPES"] == "push,pull_request"
        assert "K_SINK" not in job_env


def test_github_hooks_image_is_its_own_value(charts: Any) -> None:
    digest = "sha256:" + "ab" * 32
    docs = charts.render(
        "github", "--values", str(CHARTS / "github/ci/token-values.yaml"),
        "--set", "hooks.image.repository=registry.example/github-hooks",
        "--set", f"hooks.image.digest={digest}",
        "--set", "image.tag=9.9.9",
    )  # fmt: skip
    job = charts.find(docs, "Job", "demo-register-hook")
    cron_job = charts.find(docs, "CronJob", "demo-redeliver")["spec"]["jobTemplate"]
    for found in (job, cron_job):
        [container] = pod_spec(found)["containers"]
        assert container["image"] == f"registry.example/github-hooks@{digest}"
    [receiver] = pod_spec(charts.find(docs, "Deployment", "demo"))["containers"]
    assert receiver["image"] == "ghcr.io/springhead/springhead-github:9.9.9"


def test_github_redeliver_cronjob(charts: Any) -> None:
    values = str(CHARTS / "github/ci/token-values.yaml")
    docs = charts.render("github", "--values", values, "--set", "hooks.redeliver.window=PT6H")
    cron = charts.find(docs, "CronJob", "demo-redeliver")
    assert cron["spec"]["schedule"] == "*/10 * * * *"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    job = cron["spec"]["jobTemplate"]
    assert job["spec"]["backoffLimit"] == 3
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] + container["args"] == [
        "python", "-m", "springhead_github", "hooks", "redeliver",
    ]  # fmt: skip
    env = {item["name"]: item.get("value", item.get("valueFrom")) for item in container["env"]}
    assert env["GITHUB_REDELIVER_WINDOW"] == "PT6H"
    assert env["GITHUB_TOKEN"] == {"secretKeyRef": {"name": "github-token", "key": "token"}}
    assert env["GITHUB_WEBHOOK_URL"] == "https://hooks.example.com/github"
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    off = charts.render("github", "--values", values, "--set", "hooks.redeliver.schedule=")
    assert "CronJob" not in charts.kinds(off)


def test_github_app_on_enterprise(charts: Any) -> None:
    docs = charts.render("github", "--values", str(CHARTS / "github/ci/app-values.yaml"))
    job_env = charts.container_env(charts.find(docs, "Job", "demo-register-hook"))
    assert job_env["GITHUB_APP_ID"] == "123456"
    assert job_env["GITHUB_APP_INSTALLATION_ID"] == "42"
    assert job_env["GITHUB_APP_PRIVATE_KEY"] == {
        "secretKeyRef": {"name": "github-app", "key": "private-key.pem"}
    }
    assert job_env["GITHUB_API_URL"] == "https://ghe.example.com/api/v3"
    assert job_env["GITHUB_HOOK_INSECURE_SSL"] == "true"
    assert "GITHUB_TOKEN" not in job_env


def test_github_without_hooks_has_no_jobs(charts: Any) -> None:
    docs = charts.render(
        "github", "--values", str(CHARTS / "github/ci/token-values.yaml"),
        "--set", "hooks.enabled=false",
    )  # fmt: skip
    assert "Job" not in charts.kinds(docs)
    assert charts.kinds(docs).count("Service") == 1


def test_kafka_sasl_and_tls_from_secrets(charts: Any) -> None:
    docs = charts.render("kafka", "--values", str(CHARTS / "kafka/ci/secure-values.yaml"))
    env = charts.container_env(charts.find(docs, "Deployment", "demo"))
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka-0.kafka:9093,kafka-1.kafka:9093"
    assert env["KAFKA_TOPICS"] == "orders,payments"
    assert env["KAFKA_ORDERING"] == "unordered"
    assert env["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert env["KAFKA_SASL_USER"] == {"secretKeyRef": {"name": "kafka-user", "key": "user"}}
    assert env["KAFKA_SASL_PASSWORD"] == {"secretKeyRef": {"name": "kafka-user", "key": "password"}}
    assert env["KAFKA_TLS_ENABLE"] == "true"
    assert env["KAFKA_TLS_CA_CERT"] == {"secretKeyRef": {"name": "kafka-tls", "key": "ca.crt"}}
    assert env["KAFKA_TLS_CERT"] == {"secretKeyRef": {"name": "kafka-tls", "key": "tls.crt"}}
    assert env["KAFKA_TLS_KEY"] == {"secretKeyRef": {"name": "kafka-tls", "key": "tls.key"}}
    assert env["KAFKA_MAX_PARTITION_FETCH_BYTES"] == "2097152"
    assert "Service" not in charts.kinds(docs)


def test_apiserver_state_configmap_and_env(charts: Any) -> None:
    docs = charts.render(
        "apiserver", "--values", str(CHARTS / "apiserver/ci/namespaced-values.yaml")
    )
    configmap = charts.find(docs, "ConfigMap", "demo-state")
    assert configmap["metadata"]["namespace"] == "springhead"
    env = charts.container_env(charts.find(docs, "Deployment", "demo"))
    assert env["APISERVER_STATE_CONFIGMAP"] == "demo-state"
    assert env["APISERVER_NAMESPACES"] == "team-a,team-b"
    assert json.loads(env["APISERVER_RESOURCES"]) == [
        {"apiVersion": "v1", "kind": "ConfigMap", "selector": {"matchLabels": {"app": "web"}}},
        {"apiVersion": "apps/v1", "kind": "Deployment"},
        {"apiVersion": "example.com/v1", "kind": "Policy", "resource": "policies"},
    ]
    assert env["APISERVER_MODE"] == "Resource"
    assert env["APISERVER_EMIT_EXISTING"] == "true"


def test_containersource_modes(charts: Any) -> None:
    docs = charts.render(
        "containersource", "--values", str(CHARTS / "containersource/ci/sinkbinding-values.yaml")
    )
    assert sorted(charts.kinds(docs)) == ["Deployment", "ServiceAccount", "SinkBinding"]
    deployment = charts.find(docs, "Deployment", "demo")
    [container] = pod_spec(deployment)["containers"]
    assert container["name"] == "source"
    assert "command" not in container  # the image's entry point
    env = charts.container_env(deployment)
    assert env["FEED_URL"] == "https://example.com/feed.xml"
    assert env["SPRINGHEAD_DELIVERY_RETRY"] == "2"
    assert "K_SINK" not in env
    binding = charts.find(docs, "SinkBinding", "demo")
    assert binding["spec"]["sink"] == {"uri": "http://event-display.default.svc.cluster.local/"}
    assert binding["spec"]["subject"]["name"] == "demo"

    docs = charts.render(
        "containersource",
        "--values",
        str(CHARTS / "containersource/ci/containersource-values.yaml"),
    )
    assert sorted(charts.kinds(docs)) == ["ContainerSource", "ServiceAccount"]
    source = charts.find(docs, "ContainerSource", "demo")
    [container] = source["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["--verbose"]
    assert "livenessProbe" not in container and "readinessProbe" not in container
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
    assert env["FEED_TOKEN"] == {"secretKeyRef": {"name": "feed-token", "key": "token"}}
    assert source["spec"]["sink"]["ref"]["name"] == "event-display"
    assert source["spec"]["ceOverrides"] == {"extensions": {"origin": "feed"}}


def test_examples_feed_values(charts: Any) -> None:
    """The example custom source's values file deploys through this chart as it is."""
    values = CHARTS.parent / "examples" / "feed" / "values.yaml"
    assert values.is_file(), f"{values} is missing"
    docs = charts.render("containersource", "--values", str(values))
    validate_manifests(builtin_manifests(docs))
    example = yaml.safe_load(values.read_text())
    deployment = charts.find(docs, "Deployment", "demo")
    [container] = pod_spec(deployment)["containers"]
    image = example["image"]
    assert container["image"] == f"{image['repository']}:{image.get('tag') or '0.1.0'}"
    env = charts.container_env(deployment)
    for variable in example.get("env") or []:
        assert env[variable["name"]] == variable.get("value", variable.get("valueFrom"))
    binding = charts.find(docs, "SinkBinding", "demo")
    assert binding["spec"]["sink"].get("uri") == example["sink"]["uri"]


def test_names_follow_the_release_or_fullname_override(charts: Any) -> None:
    docs = charts.render(
        "http", "--set", "sink.uri=http://x/", "--set", "fullnameOverride=hooks-in", release="r1"
    )
    assert {d["metadata"]["name"] for d in docs} == {"hooks-in"}
    deployment = charts.find(docs, "Deployment")
    assert pod_spec(deployment)["containers"][0]["name"] == "http"
    assert deployment["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "springhead-http",
        "app.kubernetes.io/instance": "r1",
    }


def test_display_renders_with_defaults_as_an_addressable_sink(charts: Any) -> None:
    """The display needs no setting: a locked-down Deployment running springhead_display with
    probes and resources, and always a Service on port 80 that a source's sink.ref names."""
    docs = charts.render("display")
    validate_manifests(builtin_manifests(docs))
    assert sorted(charts.kinds(docs)) == ["Deployment", "Service", "ServiceAccount"]
    deployment = charts.find(docs, "Deployment", "demo")
    check_pod(deployment)
    [container] = pod_spec(deployment)["containers"]
    assert container["command"] == ["python", "-m", "springhead_display"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["resources"]["limits"]["memory"] == "256Mi"
    assert pod_spec(deployment)["automountServiceAccountToken"] is False
    env = charts.container_env(deployment)
    assert env["K_COMPONENT"] == "springhead-display"
    assert (env["DISPLAY_TERMINAL"], env["DISPLAY_WEB"]) == ("true", "true")
    assert not {"K_SINK", "DISPLAY_MAX_EVENTS", "DISPLAY_MAX_BYTES"} & set(env)
    service = charts.find(docs, "Service", "demo")
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}
    ]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


def test_display_settings_become_its_variables(charts: Any) -> None:
    docs = charts.render("display", "--values", str(CHARTS / "display/ci/limits-values.yaml"))
    env = charts.container_env(charts.find(docs, "Deployment", "demo"))
    assert {k: v for k, v in env.items() if k.startswith("DISPLAY_")} == {
        "DISPLAY_MAX_EVENTS": "200",
        "DISPLAY_MAX_BYTES": "8388608",
        "DISPLAY_MAX_BODY_BYTES": "1048576",
        "DISPLAY_TERMINAL": "false",
        "DISPLAY_WEB": "true",
    }
    # What the process makes of them: the chart's text is valid for the settings class.
    settings = load_settings(DisplaySettings, {**env, "NAMESPACE": "ns"})
    assert (settings.max_events, settings.max_bytes, settings.terminal) == (200, 8388608, False)
    assert charts.find(docs, "ServiceMonitor", "demo")["spec"]["endpoints"][0]["interval"] == "30s"


def test_broker_runs_one_deployment_per_role_on_the_contract(charts: Any) -> None:
    docs = charts.render(
        "broker", "--values", str(CHARTS / "broker/ci/kafka-values.yaml"), release="b1"
    )
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    assert sorted(deployments) == ["b1-dispatcher", "b1-ingress"]
    assert deployments["b1-ingress"]["spec"]["replicas"] == 3
    assert deployments["b1-dispatcher"]["spec"]["replicas"] == 2
    for role, deployment in [(n.removeprefix("b1-"), d) for n, d in deployments.items()]:
        spec = pod_spec(deployment)
        assert spec["automountServiceAccountToken"] is False
        assert spec["serviceAccountName"] == "b1"
        [container] = spec["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["BROKER_ROLE"] == role
        assert env["BROKER_BACKEND"] == "kafka"
        assert env["BROKER_CONTRACT_FILE"] == "/etc/springhead/contract/contract.json"
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka-0.kafka:9092,kafka-1.kafka:9092"
        assert {"name": "contract", "configMap": {"name": "b1-contract"}} in spec["volumes"]
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector["app.kubernetes.io/name"] == f"springhead-broker-{role}"
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    assert services["b1-ingress"]["spec"]["ports"][0]["port"] == 80
    assert services["b1-ingress"]["spec"]["selector"]["app.kubernetes.io/name"] == (
        "springhead-broker-ingress"
    )
    [contract] = [d for d in docs if d["kind"] == "ConfigMap"]
    assert contract["metadata"]["name"] == "b1-contract"
    assert json.loads(contract["data"]["contract.json"]) == {"brokers": []}
    assert not [d for d in docs if d["kind"] in ("Role", "ClusterRole", "RoleBinding")]


#: What every chart that talks to Kafka renders from ``kafka.sasl``/``kafka.tls`` set to
#: SCRAM-SHA-512 with Secret kafka-user and mutual TLS with Secret kafka-tls (secretKeyRef only).
KAFKA_SECURE_ENV = {
    "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "KAFKA_SASL_USER": {"secretKeyRef": {"name": "kafka-user", "key": "user"}},
    "KAFKA_SASL_PASSWORD": {"secretKeyRef": {"name": "kafka-user", "key": "password"}},
    "KAFKA_TLS_ENABLE": "true",
    "KAFKA_TLS_CA_CERT": {"secretKeyRef": {"name": "kafka-tls", "key": "ca.crt"}},
    "KAFKA_TLS_CERT": {"secretKeyRef": {"name": "kafka-tls", "key": "tls.crt"}},
    "KAFKA_TLS_KEY": {"secretKeyRef": {"name": "kafka-tls", "key": "tls.key"}},
}


def test_broker_sasl_and_tls_from_secrets(charts: Any) -> None:
    docs = charts.render("broker", "--values", str(CHARTS / "broker/ci/secure-values.yaml"))
    for role in ("ingress", "dispatcher"):
        env = charts.container_env(charts.find(docs, "Deployment", f"demo-{role}"))
        assert {name: env.get(name) for name in KAFKA_SECURE_ENV} == KAFKA_SECURE_ENV, role
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka-0.kafka:9093,kafka-1.kafka:9093"


def test_controller_kafka_sasl_and_tls_from_secrets(charts: Any) -> None:
    docs = charts.render(
        "controller", "--values", str(CHARTS / "controller/ci/broker-values.yaml"),
        "--set", "kafka.sasl.mechanism=SCRAM-SHA-512",
        "--set", "kafka.sasl.existingSecret=kafka-user",
        "--set", "kafka.tls.enabled=true", "--set", "kafka.tls.existingSecret=kafka-tls",
        "--set", "kafka.tls.caCertKey=ca.crt", "--set", "kafka.tls.certKey=tls.crt",
        "--set", "kafka.tls.keyKey=tls.key",
    )  # fmt: skip
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    assert set(deployments) == {"demo", "demo-broker"}
    # Only the broker role talks to Kafka: the credentials go to its Deployment alone.
    env = charts.container_env(deployments["demo-broker"])
    assert {name: env.get(name) for name in KAFKA_SECURE_ENV} == KAFKA_SECURE_ENV
    core = charts.container_env(deployments["demo"])
    assert not [name for name in core if name.startswith("KAFKA_")]
    plain = charts.container_env(
        next(d for d in charts.render("controller") if d["kind"] == "Deployment")
    )
    assert not [name for name in plain if name.startswith("KAFKA_")]


def test_broker_requires_bootstrap_servers(charts: Any) -> None:
    completed = charts.helm.run("template", "b", charts.path("broker"), check=False)
    assert completed.returncode != 0
    assert "bootstrapServers" in completed.stderr


def test_controller_broker_values_run_the_broker_role_apart(charts: Any) -> None:
    # Values from before the roles (broker.contractConfigMap set) keep working: the broker role
    # is its own Deployment, image, ServiceAccount, Lease and least RBAC; the core keeps its own.
    docs = charts.render(
        "controller", "--values", str(CHARTS / "controller/ci/broker-values.yaml"), release="c1"
    )
    validate_manifests(builtin_manifests(docs))
    roles = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ClusterRole" and d["rules"]}
    assert set(roles) == {"c1", "c1-broker"}

    def resources(role: dict[str, Any]) -> set[tuple[str, str]]:
        return {
            (g, r) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]
        }

    assert ("eventing.knative.dev", "triggers") not in resources(roles["c1"])
    assert {
        ("", "namespaces"), ("sources.knative.dev", "sinkbindings"), ("apps", "deployments"),
    }.isdisjoint(resources(roles["c1-broker"]))  # fmt: skip
    eventing = [
        r for r in roles["c1-broker"]["rules"] if r["apiGroups"] == ["eventing.knative.dev"]
    ]
    assert {"resources": ["brokers", "triggers"], "verbs": ["list", "watch", "patch"]} in [
        {k: r[k] for k in ("resources", "verbs")} for r in eventing
    ]
    assert any(r["resources"] == ["brokers/status", "triggers/status"] for r in eventing)
    # A Broker's spec.config ConfigMap, in its namespace: read only.
    assert {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]} in roles["c1-broker"][
        "rules"
    ]
    [role] = [
        d for d in docs if d["kind"] == "Role" and d["metadata"]["name"].endswith("-contract")
    ]
    assert role["metadata"]["name"] == "c1-broker-contract"
    assert role["metadata"]["namespace"] == "default"
    contract_rule = {
        "apiGroups": [""],
        "resources": ["configmaps"],
        "resourceNames": ["springhead-broker-contract"],
        "verbs": ["get", "update"],
    }
    # The ingress Service's endpoints, probed for each Broker's ProbeSucceeded (broker.probe).
    probe_rule = {
        "apiGroups": ["discovery.k8s.io"],
        "resources": ["endpointslices"],
        "verbs": ["list"],
    }
    assert role["rules"] == [contract_rule, probe_rule]
    [binding] = [
        d
        for d in docs
        if d["kind"] == "RoleBinding" and d["metadata"]["name"] == role["metadata"]["name"]
    ]
    assert binding["subjects"][0]["name"] == "c1-broker"
    leases = {
        d["metadata"]["name"]: d["rules"][1]["resourceNames"]
        for d in docs
        if d["kind"] == "Role" and d["rules"][0]["resources"] == ["leases"]
    }
    assert leases == {"c1": ["c1"], "c1-broker": ["c1-broker"]}
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    assert set(deployments) == {"c1", "c1-broker"}
    core, broker = deployments["c1"], deployments["c1-broker"]
    core_env = charts.container_env(core)
    assert core_env["CONTROLLER_ROLES"] == "core"
    assert not [name for name in core_env if name.startswith(("BROKER_", "KAFKA_"))]
    env = charts.container_env(broker)
    assert env["CONTROLLER_ROLES"] == "broker"
    assert env["CONTROLLER_LEASE_NAME"] == "c1"  # the process leads on c1-broker
    assert env["BROKER_CONTRACT_CONFIGMAP"] == "default/springhead-broker-contract"
    assert env["BROKER_DEFAULT_CLASS"] == "true"
    assert env["BROKER_PROBE"] == "true"
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka-0.kafka:9092,kafka-1.kafka:9092"
    assert pod_spec(broker)["serviceAccountName"] == "c1-broker"
    assert pod_spec(core)["serviceAccountName"] == "c1"
    [container] = pod_spec(broker)["containers"]
    assert container["image"] == "ghcr.io/springhead/springhead-controller-broker:0.1.0"
    [container] = pod_spec(core)["containers"]
    assert container["image"] == "ghcr.io/springhead/springhead-controller:0.1.0"
    # Two Deployments of one release: their selectors must not overlap.
    selectors = [d["spec"]["selector"]["matchLabels"] for d in deployments.values()]
    assert selectors[0] != selectors[1]
    assert core["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "springhead-controller",
        "app.kubernetes.io/instance": "c1",
    }


def test_controller_broker_probe_off_needs_no_endpointslices(charts: Any) -> None:
    docs = charts.render(
        "controller", "--values", str(CHARTS / "controller/ci/broker-values.yaml"),
        "--set", "broker.probe=false", release="c1",
    )  # fmt: skip
    [role] = [
        d for d in docs if d["kind"] == "Role" and d["metadata"]["name"] == "c1-broker-contract"
    ]
    assert [r["resources"] for r in role["rules"]] == [["configmaps"]]
    [broker] = [
        d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "c1-broker"
    ]
    assert charts.container_env(broker)["BROKER_PROBE"] == "false"


def test_controller_roles_are_turned_on_and_off_by_values(charts: Any) -> None:
    docs = charts.render(
        "controller", "--values", str(CHARTS / "controller/ci/broker-values.yaml"),
        "--set", "roles.core.enabled=false", release="c1",
    )  # fmt: skip
    assert [d["metadata"]["name"] for d in docs if d["kind"] == "Deployment"] == ["c1-broker"]
    docs = charts.render(
        "controller", "--values", str(CHARTS / "controller/ci/broker-values.yaml"),
        "--set", "roles.broker.enabled=false", release="c1",
    )  # fmt: skip
    assert [d["metadata"]["name"] for d in docs if d["kind"] == "Deployment"] == ["c1"]
    assert not [d for d in docs if d["metadata"]["name"].startswith("c1-broker")]


def test_controller_broker_role_without_its_settings_is_refused(charts: Any) -> None:
    failed = charts.failure("controller", "--set", "roles.broker.enabled=true")
    assert "broker.contractConfigMap is required" in failed
    failed = charts.failure("controller", "--set", "broker.contractConfigMap=ns/contract")
    assert "kafka.bootstrapServers is required" in failed


def test_controller_without_broker_values_writes_no_brokers(charts: Any) -> None:
    docs = charts.render("controller", release="c1")
    assert [d["metadata"]["name"] for d in docs if d["kind"] == "Deployment"] == ["c1"]
    [cluster_role] = [d for d in docs if d["kind"] == "ClusterRole" and "rules" in d and d["rules"]]
    eventing = [r for r in cluster_role["rules"] if r["apiGroups"] == ["eventing.knative.dev"]]
    assert eventing == [
        {
            "apiGroups": ["eventing.knative.dev"],
            "resources": ["brokers"],
            "verbs": ["list", "watch"],
        }
    ]
    assert not [d for d in docs if d["metadata"]["name"].endswith("-broker-contract")]
    broker_config_rule = {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}
    assert broker_config_rule not in cluster_role["rules"]
