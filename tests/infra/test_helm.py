"""Helm from testinfra: render, lint and validate a throwaway chart, then install it for real."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from springhead_testinfra.helm import Helm, ManifestInvalid, validate_manifests
from springhead_testinfra.kube import KubeCluster

CHART_YAML = """\
apiVersion: v2
name: smoke
description: A throwaway chart made by the testinfra smoke test
type: application
version: 0.1.0
appVersion: "1.0.0"
"""

VALUES_YAML = """\
replicas: 1
image: registry.invalid/smoke:1.0.0
message: hello
"""

HELPERS_TPL = """\
{{- define "smoke.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}
"""

CONFIGMAP_YAML = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-config
  labels:
    {{- include "smoke.labels" . | nindent 4 }}
data:
  message: {{ .Values.message | quote }}
"""

DEPLOYMENT_YAML = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-web
  labels:
    {{- include "smoke.labels" . | nindent 4 }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels:
      {{- include "smoke.labels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "smoke.labels" . | nindent 8 }}
    spec:
      containers:
        - name: web
          image: {{ .Values.image | quote }}
          resources:
            limits:
              memory: 64Mi
"""


@pytest.fixture
def chart(tmp_path: Path) -> Path:
    root = tmp_path / "smoke"
    (root / "templates").mkdir(parents=True)
    (root / "Chart.yaml").write_text(CHART_YAML)
    (root / "values.yaml").write_text(VALUES_YAML)
    (root / "templates" / "_helpers.tpl").write_text(HELPERS_TPL)
    (root / "templates" / "configmap.yaml").write_text(CONFIGMAP_YAML)
    (root / "templates" / "deployment.yaml").write_text(DEPLOYMENT_YAML)
    return root


def test_helm_is_the_pinned_version(helm: Helm) -> None:
    assert helm.run("version", "--short").stdout.strip().startswith(helm.version)


def test_render_lint_and_validate_strictly(helm: Helm, chart: Path) -> None:
    assert "1 chart(s) linted, 0 chart(s) failed" in helm.lint(chart)
    rendered = helm.template(chart, "smoke", "--set", "replicas=2")
    assert "kind: Deployment" in rendered and "replicas: 2" in rendered
    validate_manifests(rendered)

    # --strict catches what the apiserver would prune: an unknown field.
    broken = rendered.replace("replicas: 2", "replicas: 2\n  replicaz: 2")
    with pytest.raises(ManifestInvalid, match="replicaz"):
        validate_manifests(broken)


def test_install_into_the_apiserver(helm: Helm, kube: KubeCluster, chart: Path) -> None:
    namespace = f"helm-{uuid.uuid4().hex[:8]}"
    cluster_helm = helm.for_cluster(kube)
    cluster_helm.run("install", "smoke", chart, "--namespace", namespace, "--create-namespace")

    releases = json.loads(cluster_helm.run("list", "--namespace", namespace, "-o", "json").stdout)
    assert [(r["name"], r["status"]) for r in releases] == [("smoke", "deployed")]
    with kube.api_client() as api:
        core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
        assert core.read_namespaced_config_map("smoke-config", namespace).data == {
            "message": "hello"
        }
        assert apps.read_namespaced_deployment("smoke-web", namespace).spec.replicas == 1

        cluster_helm.run("uninstall", "smoke", "--namespace", namespace)
        with pytest.raises(ApiException) as gone:
            core.read_namespaced_config_map("smoke-config", namespace)
        assert gone.value.status == 404
