"""Every chart, with each ci/ values file, installed into the real kube-apiserver (server-side
validation of every object, the custom resources included), read back, and uninstalled.

No controller-manager runs: Deployments get no pods and hook Jobs never run, so nothing waits
for them (no `--wait`; the github chart is installed with `--no-hooks` and its stored hooks are
checked instead).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from springhead.kube import KubeApiError, KubeClient
from springhead_testinfra.charts import CHARTS, ci_values_files
from springhead_testinfra.kube import KubeCluster
from springhead_testing.kube import resource_path

CI_FILES = [
    pytest.param(chart, path, id=f"{chart}-{path.name}") for chart, path in ci_values_files()
]
#: Namespaces the apiserver ci files watch (RoleBindings go there, so they must exist).
WATCHED_NAMESPACES = ("team-a", "team-b")


def live_path(doc: dict[str, Any]) -> str:
    metadata = doc["metadata"]
    return resource_path(
        doc["apiVersion"], doc["kind"], metadata.get("namespace"), metadata["name"]
    )


def assert_subset(rendered: Any, live: Any, where: str) -> None:
    """Everything the chart rendered is in the stored object (the server may add defaults)."""
    if isinstance(rendered, dict):
        assert isinstance(live, dict), f"{where}: expected a mapping, got {live!r}"
        for key, value in rendered.items():
            if key not in live and value in ("", None, [], {}):
                continue  # the server leaves out empty fields (omitempty): the same object
            assert key in live, f"{where}.{key} missing from the stored object"
            assert_subset(value, live[key], f"{where}.{key}")
    elif isinstance(rendered, list):
        assert isinstance(live, list) and len(live) == len(rendered), f"{where}: {live!r}"
        for index, (want, have) in enumerate(zip(rendered, live, strict=True)):
            assert_subset(want, have, f"{where}[{index}]")
    else:
        assert rendered == live, f"{where}: rendered {rendered!r}, stored {live!r}"


@pytest.fixture(scope="module")
def admin(kube: KubeCluster) -> Any:
    api = KubeClient.from_kubeconfig(str(kube.kubeconfig))
    for name in WATCHED_NAMESPACES:
        try:
            api.request("POST", "/api/v1/namespaces", body={"metadata": {"name": name}})
        except KubeApiError as exc:
            if exc.status != 409:
                raise
    yield api
    api.close()


@pytest.mark.parametrize(("chart", "values"), CI_FILES)
def test_install_read_back_uninstall(
    charts: Any, cluster_helm: Any, admin: Any, namespace: str, chart: str, values: Path
) -> None:
    release = f"{chart[:4]}-{uuid.uuid4().hex[:6]}"
    hooks = ["--no-hooks"] if chart == "github" else []
    rendered = charts.documents(
        cluster_helm.template(
            charts.path(chart), release, "--namespace", namespace, "--values", str(values)
        )
    )
    cluster_helm.run(
        "install", release, charts.path(chart), "--namespace", namespace, "--create-namespace",
        "--values", str(values), *hooks,
    )  # fmt: skip
    status = yaml.safe_load(
        cluster_helm.run("status", release, "--namespace", namespace, "-o", "yaml").stdout
    )
    assert status["info"]["status"] == "deployed"

    installed = [d for d in rendered if d["kind"] != "Job"]  # hook Jobs are not installed
    for doc in installed:
        live = admin.get(live_path(doc))
        assert_subset(doc, live, f"{doc['kind']}/{doc['metadata']['name']}")

    if chart == "github":
        stored = charts.documents(
            cluster_helm.run("get", "hooks", release, "--namespace", namespace).stdout
        )
        assert {(d["kind"], d["metadata"]["name"]) for d in stored} == {
            ("Job", f"{release}-register-hook"),
            ("Job", f"{release}-unregister-hook"),
        }

    cluster_helm.run("uninstall", release, "--namespace", namespace, *hooks)
    for doc in installed:
        with pytest.raises(KubeApiError) as gone:
            admin.get(live_path(doc))
        assert gone.value.status == 404, f"{doc['kind']}/{doc['metadata']['name']} left behind"


def test_examples_feed_installs(charts: Any, cluster_helm: Any, admin: Any, namespace: str) -> None:
    values = CHARTS.parent / "examples" / "feed" / "values.yaml"
    cluster_helm.run(
        "install", "feed", charts.path("containersource"), "--namespace", namespace,
        "--create-namespace", "--values", str(values),
    )  # fmt: skip
    binding = admin.get(resource_path("sources.knative.dev/v1", "SinkBinding", namespace, "feed"))
    assert binding["spec"]["subject"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "namespace": namespace,
        "name": "feed",
    }
    deployment = admin.get(resource_path("apps/v1", "Deployment", namespace, "feed"))
    assert deployment["spec"]["template"]["spec"]["containers"][0]["name"] == "source"
    cluster_helm.run("uninstall", "feed", "--namespace", namespace)


def test_upgrade_keeps_what_the_controller_injected(
    charts: Any, cluster_helm: Any, admin: Any, namespace: str
) -> None:
    """A SinkBinding's env survives `helm upgrade`: Helm applies server-side and does not own
    K_SINK / K_CE_OVERRIDES, which the controller patches in (with its own patch function)."""
    from springhead_controller.binding import SUBJECT_KINDS, Injection, subject_patch

    values = str(CHARTS / "ping" / "ci" / "binding-values.yaml")
    cluster_helm.run(
        "install", "bound", charts.path("ping"), "--namespace", namespace, "--create-namespace",
        "--values", values,
    )  # fmt: skip
    path = resource_path("apps/v1", "Deployment", namespace, "bound")
    kind = SUBJECT_KINDS[("apps", "Deployment")]
    injection = Injection(sink="http://display.example/", ce_overrides='{"extensions":{"a":"b"}}')
    patch = subject_patch(admin.get(path), kind, injection)
    admin.request("PATCH", path, body=patch, content_type="application/json-patch+json")

    cluster_helm.run(
        "upgrade", "bound", charts.path("ping"), "--namespace", namespace,
        "--values", values, "--set", "ping.schedule=@daily", "--set", "delivery.retry=9",
    )  # fmt: skip
    [container] = admin.get(path)["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value", "") for e in container["env"]}
    assert env["PING_SCHEDULE"] == "@daily"
    assert env["SPRINGHEAD_DELIVERY_RETRY"] == "9"
    assert env["K_SINK"] == "http://display.example/"
    assert env["K_CE_OVERRIDES"] == '{"extensions":{"a":"b"}}'
    cluster_helm.run("uninstall", "bound", "--namespace", namespace)
