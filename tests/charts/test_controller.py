"""The controller chart: its CRDs are what the controller prints, it installs them, and its RBAC
is enough for the real controller process running as the chart's ServiceAccount to bind a
Deployment, run a ContainerSource and undo a binding."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]
from springhead.kube import KubeApiError, KubeClient
from springhead_testinfra.charts import Charts
from springhead_testinfra.kube import KubeCluster
from springhead_testing import SourceProcess
from springhead_testing.github import SECRET, TOKEN, FakeGitHub
from springhead_testing.kube import (
    Cluster,
    deployment_manifest,
    endpoint_slice,
    node_address,
    resource_path,
    token_kubeconfig,
)

CHARTS = Path(__file__).resolve().parents[2] / "charts"
SOURCES = "sources.knative.dev/v1"


class KnativeCluster(Cluster):
    """The raw-JSON cluster helper, knowing the plurals of the Knative kinds."""

    plurals = {
        "SinkBinding": "sinkbindings",
        "ContainerSource": "containersources",
        "PingSource": "pingsources",
        "ApiServerSource": "apiserversources",
        "KafkaSource": "kafkasources",
        "GitHubSource": "githubsources",
    }


def test_chart_crds_equal_what_the_controller_prints() -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "springhead_controller", "crds"],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout  # fmt: skip
    chart = (CHARTS / "controller" / "crds" / "crds.yaml").read_text()
    assert list(yaml.safe_load_all(chart)) == list(yaml.safe_load_all(printed)), (
        "charts/controller/crds/crds.yaml is stale: uv run --no-sync python -m "
        "springhead_controller crds > charts/controller/crds/crds.yaml (keep its header)"
    )


def test_the_chart_installs_the_crds_and_least_rbac(
    controller_release: Any, kube: KubeCluster
) -> None:
    namespace = controller_release.namespace
    api = KubeClient.from_kubeconfig(str(kube.kubeconfig))
    crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    for name in (
        "sinkbindings.sources.knative.dev",
        "containersources.sources.knative.dev",
        "pingsources.sources.knative.dev",
    ):
        conditions = api.get(f"{crds}/{name}")["status"]["conditions"]
        assert {"type": "Established", "status": "True"}.items() <= next(
            c for c in conditions if c["type"] == "Established"
        ).items()
    deployment = api.get(resource_path("apps/v1", "Deployment", namespace, "springhead"))
    assert deployment["spec"]["replicas"] == 2
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["CONTROLLER_INSTALL_CRDS"] == "false"
    assert env["CONTROLLER_LEADER_ELECTION"] == "true"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    role = api.get(f"{rbac}/clusterroles/springhead")
    # What the ClusterRole allows per resource: the union of its rules' verbs.
    verbs: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                verbs.setdefault((group, resource), set()).update(rule["verbs"])
    assert verbs[("sources.knative.dev", "sinkbindings")] == {
        "list", "watch", "create", "update", "patch", "delete",
    }  # fmt: skip
    assert verbs[("sources.knative.dev", "containersources/finalizers")] == {"update"}
    assert verbs[("sources.knative.dev", "pingsources")] == {"list", "watch"}
    assert verbs[("sources.knative.dev", "pingsources/status")] == {"update"}
    assert verbs[("apps", "statefulsets")] == {"get", "list", "watch", "patch"}
    assert not any("customresourcedefinitions" in resource for _, resource in verbs)
    # Events: only read, for ApiServerSources it may grant that watch (the controller posts none).
    assert all(verbs[key] == {"get", "list", "watch"} for key in verbs if key[1] == "events")
    assert not any(resource == "secrets" for _, resource in verbs)
    assert not any({"bind", "escalate", "*"} & v for v in verbs.values())
    resolver = api.get(f"{rbac}/clusterroles/springhead-addressable-resolver")
    assert resolver["aggregationRule"]["clusterRoleSelectors"] == [
        {"matchLabels": {"duck.knative.dev/addressable": "true"}}
    ]
    lease_role = api.get(f"{rbac}/namespaces/{namespace}/roles/springhead")
    assert [r.get("resourceNames") for r in lease_role["rules"]] == [None, ["springhead"]]
    api.close()


def _env(obj: dict[str, Any] | None) -> dict[str, str]:
    containers = (((obj or {}).get("spec") or {}).get("template") or {}).get("spec", {})
    return {
        e["name"]: e.get("value", "")
        for container in containers.get("containers") or ()
        for e in container.get("env") or ()
    }


#: API groups the chart's own roles must cover (v1 is the core group).
CHART_GROUPS = {"v1", "apps", "batch", "sources.knative.dev", "coordination.k8s.io"}


def denied_within_the_charts_scope(entry: dict[str, Any]) -> bool:
    """Whether a log line reports a denial the chart's roles should have prevented.

    Other tests leave SinkBindings whose sinks are custom Addressables (e.g. a Knative Service
    CRD) in the shared cluster; by Knative's convention such a kind brings its own ClusterRole
    labelled ``duck.knative.dev/addressable=true`` for the chart's aggregated resolver role, and
    those test CRDs bring none, so denials naming their groups are not the chart's concern.
    """
    text = json.dumps(entry)
    if "forbidden" not in text.lower() and "permission denied" not in text.lower():
        return False
    found = re.search(r"\(([^)]+)\)", str(entry.get("msg", "")))
    group = found.group(1).split("/")[0] if found and "/" in found.group(1) else "v1"
    return group in CHART_GROUPS


async def test_the_controller_works_with_just_the_chart_rbac(
    controller_release: Any, kube: KubeCluster, tmp_path: Path
) -> None:
    system = controller_release.namespace
    admin = KubeClient.from_kubeconfig(str(kube.kubeconfig))
    cluster = KnativeCluster(admin)
    deployment = await cluster.get("apps/v1", "Deployment", system, "springhead")
    assert deployment is not None
    # The process gets the chart's environment; only the pod-provided parts are filled in.
    env = {
        e["name"]: e["value"]
        for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        if "value" in e
    }
    account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    env.update(
        NAMESPACE=system,
        SPRINGHEAD_PORT="0",
        SPRINGHEAD_HOST="127.0.0.1",
        CONTROLLER_KUBECONFIG=str(
            await cluster.call(token_kubeconfig, admin, system, account, tmp_path)
        ),
    )
    namespace = await cluster.new_namespace("rbac")
    await cluster.create(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "display"},
            "spec": {"ports": [{"port": 80}], "selector": {"app": "display"}},
        },
        namespace,
    )
    await cluster.create(deployment_manifest("subject"), namespace)
    sink = f"http://display.{namespace}.svc.cluster.local"
    async with SourceProcess("springhead_controller", env) as controller:
        await cluster.create(
            {
                "apiVersion": SOURCES,
                "kind": "SinkBinding",
                "metadata": {"name": "subject"},
                "spec": {
                    "subject": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "subject"},
                    "sink": {"ref": {"apiVersion": "v1", "kind": "Service", "name": "display"}},
                    "ceOverrides": {"extensions": {"origin": "rbac"}},
                },
            },
            namespace,
        )

        async def bound() -> bool:
            subject = await cluster.get("apps/v1", "Deployment", namespace, "subject")
            return _env(subject).get("K_SINK") == sink

        await cluster.eventually(bound, "the subject to be bound")

        name = f"feed-{uuid.uuid4().hex[:6]}"
        await cluster.create(
            {
                "apiVersion": SOURCES,
                "kind": "ContainerSource",
                "metadata": {"name": name},
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [{"name": "feed", "image": "registry.example/feed:1"}]
                        }
                    },
                    "sink": {"uri": "http://elsewhere.example/"},
                },
            },
            namespace,
        )

        async def running() -> bool:
            child = await cluster.get("apps/v1", "Deployment", namespace, f"{name}-deployment")
            source = await cluster.get(SOURCES, "ContainerSource", namespace, name)
            conditions = ((source or {}).get("status") or {}).get("conditions") or []
            return _env(child).get("K_SINK") == "http://elsewhere.example/" and bool(conditions)

        await cluster.eventually(running, "the ContainerSource's Deployment to be bound")

        await cluster.delete(SOURCES, "SinkBinding", namespace, "subject")

        async def unbound() -> bool:
            subject = await cluster.get("apps/v1", "Deployment", namespace, "subject")
            binding = await cluster.get(SOURCES, "SinkBinding", namespace, "subject")
            return binding is None and "K_SINK" not in _env(subject)

        await cluster.eventually(unbound, "the binding to be undone and gone")
        await _source_objects_with_the_chart_rbac(cluster, namespace, env)
        lease = await cluster.get("coordination.k8s.io/v1", "Lease", system, "springhead")
        assert lease is not None  # leader election ran on the chart's Lease
    denied = [e for e in controller.logs if denied_within_the_charts_scope(e)]
    assert not denied, denied
    admin.close()


def _condition(obj: dict[str, Any] | None, kind: str) -> dict[str, Any]:
    for condition in ((obj or {}).get("status") or {}).get("conditions") or ():
        if condition.get("type") == kind:
            return dict(condition)
    return {}


async def _source_objects_with_the_chart_rbac(
    cluster: KnativeCluster, namespace: str, env: dict[str, str]
) -> None:
    """ApiServerSource and KafkaSource with the chart's RBAC: the release's images; the least
    RBAC granted for a watch within apiServerSources.grantableRules, refused (not escalated)
    beyond it; every child removed with the source."""
    version = env["CONTROLLER_APISERVER_IMAGE"].rsplit(":", 1)[1]
    assert env["CONTROLLER_APISERVER_IMAGE"] == (
        f"ghcr.io/springhead/springhead-apiserver:{version}"
    )
    assert env["CONTROLLER_KAFKA_IMAGE"] == f"ghcr.io/springhead/springhead-kafka:{version}"

    def api_server_source(name: str, kind: str) -> dict[str, Any]:
        return {
            "apiVersion": SOURCES,
            "kind": "ApiServerSource",
            "metadata": {"name": name},
            "spec": {
                "resources": [{"apiVersion": "v1", "kind": kind}],
                "sink": {"uri": "http://elsewhere.example/"},
            },
        }

    granted = await cluster.create(api_server_source("pods", "Pod"), namespace)
    refused = await cluster.create(api_server_source("secrets", "Secret"), namespace)
    kafka = await cluster.create(
        {
            "apiVersion": SOURCES,
            "kind": "KafkaSource",
            "metadata": {"name": "orders"},
            "spec": {
                "bootstrapServers": ["kafka.example:9092"],
                "topics": ["orders"],
                "sink": {"uri": "http://elsewhere.example/"},
            },
        },
        namespace,
    )
    granted_name = f"apiserversource-pods-{granted['metadata']['uid']}"

    async def deployed() -> bool:
        source = await cluster.get(SOURCES, "ApiServerSource", namespace, "pods")
        child = await cluster.get("apps/v1", "Deployment", namespace, granted_name)
        role = await cluster.get("rbac.authorization.k8s.io/v1", "Role", namespace, granted_name)
        return (
            _condition(source, "SufficientPermissions").get("status") == "True"
            and child is not None
            and role is not None
        )

    await cluster.eventually(deployed, "the ApiServerSource's Role and Deployment")

    async def refused_rbac() -> bool:
        source = await cluster.get(SOURCES, "ApiServerSource", namespace, "secrets")
        return _condition(source, "SufficientPermissions").get("reason") == "RBACNotGranted"

    await cluster.eventually(refused_rbac, "the Secret watch to be refused its RBAC")
    refused_name = f"apiserversource-secrets-{refused['metadata']['uid']}"
    assert await cluster.get("apps/v1", "Deployment", namespace, refused_name) is None
    kafka_name = f"kafkasource-orders-{kafka['metadata']['uid']}"

    async def consuming() -> bool:
        child = await cluster.get("apps/v1", "Deployment", namespace, kafka_name)
        return child is not None

    await cluster.eventually(consuming, "the KafkaSource's Deployment")
    for kind, name in (("ApiServerSource", "pods"), ("ApiServerSource", "secrets"),
                       ("KafkaSource", "orders")):  # fmt: skip
        await cluster.delete(SOURCES, kind, namespace, name)

    async def all_gone() -> bool:
        left = [
            await cluster.get(SOURCES, "ApiServerSource", namespace, "pods"),
            await cluster.get(SOURCES, "ApiServerSource", namespace, "secrets"),
            await cluster.get("apps/v1", "Deployment", namespace, granted_name),
            await cluster.get("rbac.authorization.k8s.io/v1", "Role", namespace, granted_name),
            await cluster.get("v1", "ServiceAccount", namespace, granted_name),
            await cluster.get("apps/v1", "Deployment", namespace, kafka_name),
        ]
        return all(obj is None for obj in left)

    await cluster.eventually(all_gone, "the sources and their children to be gone")


async def test_the_github_role_works_with_just_the_chart_rbac(
    controller_release: Any, kube: KubeCluster, charts: Charts, tmp_path: Path
) -> None:
    """The controller with ci/github-values.yaml's environment, as that release's
    ServiceAccount: a GitHubSource gets its receiver and its hook (on a fake of GitHub's
    documented REST API), and deleting it removes both, with no permission denied."""
    helm = controller_release.helm
    system = f"springhead-github-{uuid.uuid4().hex[:6]}"
    values = CHARTS / "controller" / "ci" / "github-values.yaml"
    helm.run(
        "install", "gh", charts.path("controller"), "--namespace", system, "--create-namespace",
        "--values", values,
    )  # fmt: skip
    admin = KubeClient.from_kubeconfig(str(kube.kubeconfig))
    cluster = KnativeCluster(admin)
    github = await FakeGitHub().start()
    try:
        # The core keeps its Deployment <release>; the github role runs as <release>-github on
        # the springhead-controller-github image, with an account of its own.
        core = await cluster.get("apps/v1", "Deployment", system, "gh")
        assert core is not None
        assert "CONTROLLER_GITHUB_IMAGE" not in _env(core)
        deployment = await cluster.get("apps/v1", "Deployment", system, "gh-github")
        assert deployment is not None
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        assert container["image"].split(":")[0] == (
            "ghcr.io/springhead/springhead-controller-github"
        )
        assert _env(deployment)["CONTROLLER_ROLES"] == "github"
        assert deployment is not None
        env = {
            e["name"]: e["value"]
            for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
            if "value" in e
        }
        assert env["CONTROLLER_GITHUB_IMAGE"] == "ghcr.io/springhead/springhead-github:1.2.3"
        assert env["CONTROLLER_GITHUB_API_URL"] == "https://ghe.example.com/api/v3"
        account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
        env.update(
            NAMESPACE=system,
            SPRINGHEAD_PORT="0",
            SPRINGHEAD_HOST="127.0.0.1",
            # ghe.example.com cannot be reached from here: the fake stands in for it.
            CONTROLLER_GITHUB_API_URL=github.api_url,
            CONTROLLER_KUBECONFIG=str(
                await cluster.call(token_kubeconfig, admin, system, account, tmp_path)
            ),
        )
        namespace = await cluster.new_namespace("ghrbac")
        await cluster.create(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "gh"},
                "stringData": {"token": TOKEN, "secret": SECRET},
            },
            namespace,
        )
        source = {
            "apiVersion": "sources.knative.dev/v1alpha1",
            "kind": "GitHubSource",
            "metadata": {"name": "repo"},
            "spec": {
                "ownerAndRepository": "octo-org/octo-repo",
                "eventTypes": ["push"],
                "accessToken": {"secretKeyRef": {"name": "gh", "key": "token"}},
                "secretToken": {"secretKeyRef": {"name": "gh", "key": "secret"}},
                "sink": {"uri": "http://sink.example/"},
            },
        }
        async with SourceProcess("springhead_controller", env) as controller:
            await cluster.create(source, namespace)

            async def ready() -> bool:
                found = await cluster.get(
                    "sources.knative.dev/v1alpha1", "GitHubSource", namespace, "repo"
                )
                conditions = ((found or {}).get("status") or {}).get("conditions") or []
                return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

            await cluster.eventually(ready, "the GitHubSource to be Ready")
            assert len(github.hooks["repos/octo-org/octo-repo"]) == 1
            assert await cluster.get("v1", "Service", namespace, "repo-github") is not None
            await cluster.delete("sources.knative.dev/v1alpha1", "GitHubSource", namespace, "repo")

            async def gone() -> bool:
                found = await cluster.get(
                    "sources.knative.dev/v1alpha1", "GitHubSource", namespace, "repo"
                )
                receiver = await cluster.get("apps/v1", "Deployment", namespace, "repo-github")
                return found is None and receiver is None

            await cluster.eventually(gone, "the GitHubSource and its receiver to be gone")
            assert github.hooks["repos/octo-org/octo-repo"] == {}
        denied = [e for e in controller.logs if denied_within_the_charts_scope(e)]
        assert not denied, denied
    finally:
        await github.stop()
        admin.close()
        helm.run("uninstall", "gh", "--namespace", system, check=False)


async def test_the_broker_role_works_with_just_its_chart_rbac(
    controller_release: Any, charts: Any, kube: KubeCluster, kafka: Any, tmp_path: Path
) -> None:
    """The broker role's Deployment of a release with only that role on, run as the real process
    with exactly its env and its own ServiceAccount: a Broker and a Trigger become Ready (topic,
    contract ConfigMap, status, finalizers, the ingress probed) with no denial, and its account
    can do nothing of the core's."""
    admin = KubeClient.from_kubeconfig(str(kube.kubeconfig))
    cluster = KnativeCluster(admin)
    system = await cluster.new_namespace("broker-role")
    await cluster.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "springhead-broker-contract"},
            "data": {"contract.json": '{"brokers": []}'},
        },
        system,
    )
    helm = controller_release.helm
    release = "roles"
    broker_class = f"roles-{uuid.uuid4().hex[:6]}"
    helm.run(
        "install", release, charts.path("controller"), "--namespace", system,
        "--set", "roles.core.enabled=false",
        "--set", f"broker.contractConfigMap={system}/springhead-broker-contract",
        # A class of this test's own: the session's apiserver holds other tests' Brokers and
        # Triggers (their subscribers of kinds this role may not read), which it must not touch.
        "--set", f"broker.class={broker_class}",
        "--set", "broker.topicPartitions=1", "--set", "broker.topicReplication=1",
        "--set", f"kafka.bootstrapServers[0]={kafka.bootstrap}",
        "--set", "rbac.aggregateAddressables=false",
    )  # fmt: skip
    try:
        assert await cluster.get("apps/v1", "Deployment", system, release) is None
        deployment = await cluster.get("apps/v1", "Deployment", system, f"{release}-broker")
        assert deployment is not None
        env = {
            e["name"]: e["value"]
            for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
            if "value" in e
        }
        account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
        assert account == f"{release}-broker"
        kubeconfig = await cluster.call(token_kubeconfig, admin, system, account, tmp_path)
        env.update(
            NAMESPACE=system,
            SPRINGHEAD_PORT="0",
            SPRINGHEAD_HOST="127.0.0.1",
            CONTROLLER_KUBECONFIG=str(kubeconfig),
        )
        namespace = await cluster.new_namespace("rbac-broker")
        await cluster.create(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "display"},
                "spec": {"ports": [{"port": 80}], "selector": {"app": "display"}},
            },
            namespace,
        )
        eventing = "eventing.knative.dev/v1"
        async with SourceProcess("springhead_controller", env) as controller:
            await cluster.create(
                {
                    "apiVersion": eventing,
                    "kind": "Broker",
                    "metadata": {
                        "name": "default",
                        "annotations": {"eventing.knative.dev/broker.class": broker_class},
                    },
                },
                namespace,
            )
            trigger = {
                "apiVersion": eventing,
                "kind": "Trigger",
                "metadata": {"name": "all"},
                "spec": {
                    "broker": "default",
                    "subscriber": {
                        "ref": {"apiVersion": "v1", "kind": "Service", "name": "display"}
                    },
                },
            }
            await cluster.create(trigger, namespace)

            async def ready(kind: str, name: str) -> bool:
                found = await cluster.get(eventing, kind, namespace, name)
                conditions = ((found or {}).get("status") or {}).get("conditions") or []
                return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

            await cluster.eventually(lambda: ready("Trigger", "all"), "the Trigger Ready")
            # The Broker is Ready once the ingress serves it (ProbeSucceeded, probed through the
            # ingress Service's EndpointSlices, which the role may list in the contract's
            # namespace): a real ingress with the contract the role wrote, published by hand.
            configmap = await cluster.get("v1", "ConfigMap", system, "springhead-broker-contract")
            contract_file = tmp_path / "contract.json"
            contract_file.write_text((configmap or {})["data"]["contract.json"])
            host = node_address()
            ingress_env = {
                "NAMESPACE": system,
                "SPRINGHEAD_PORT": "0",
                "SPRINGHEAD_HOST": host,
                "NAME": "springhead-broker",
                "K_COMPONENT": "springhead-broker",
                "BROKER_ROLE": "ingress",
                "BROKER_BACKEND": "kafka",
                "BROKER_CONTRACT_FILE": str(contract_file),
                "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
            }
            async with SourceProcess("springhead_broker", ingress_env) as ingress:
                assert ingress.port is not None
                service = "springhead-broker-ingress"
                await cluster.create(
                    {
                        "apiVersion": "v1",
                        "kind": "Service",
                        "metadata": {"name": service},
                        "spec": {"ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
                    },
                    system,
                )
                await cluster.create(endpoint_slice(service, host, ingress.port), system)
                await cluster.eventually(lambda: ready("Broker", "default"), "the Broker Ready")
            lease = await cluster.get(
                "coordination.k8s.io/v1", "Lease", system, f"{release}-broker"
            )
            assert lease is not None  # leader election ran on the broker role's own Lease
        denied = [e for e in controller.logs if "forbidden" in json.dumps(e).lower()]
        assert not denied, denied
        # Least RBAC: the broker role's account has none of the core's rights.
        as_broker = KubeClient.from_kubeconfig(str(kubeconfig))
        try:
            for path in (
                f"/apis/{SOURCES}/sinkbindings",
                "/apis/apps/v1/deployments",
                "/api/v1/namespaces",
            ):
                try:
                    as_broker.get(path)
                except KubeApiError as exc:
                    assert exc.status == 403, exc
                else:
                    raise AssertionError(f"the broker role's account may list {path}")
        finally:
            as_broker.close()
    finally:
        helm.run("uninstall", release, "--namespace", system, check=False)
        admin.close()
