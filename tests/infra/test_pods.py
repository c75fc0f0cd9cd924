"""springhead_testinfra.pods: a pod spec translated into ``podman run`` flags, and every field it
cannot honour refused by name. The charts' own pod specs (every ci values file) must translate;
tests/e2e runs them for real and tests/images/test_pods.py checks the flags inside a container.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from springhead_testinfra.charts import APPLICATION_CHARTS, Charts
from springhead_testinfra.pods import SERVICE_ACCOUNT_DIR, PodContainer, ServiceAccount
from springhead_testinfra.pods import UnsupportedPodSpec as Unsupported

#: The charts' emptyDir (Kubernetes mounts no writable /tmp on a read-only root otherwise).
TMP = "/tmp"  # noqa: S108

#: A pod spec as the charts make it (charts/common/templates/_deployment.tpl), with the fields
#: the API server adds.
POD: dict[str, Any] = {
    "serviceAccountName": "demo",
    "automountServiceAccountToken": False,
    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
    "terminationGracePeriodSeconds": 30,
    "dnsPolicy": "ClusterFirst",
    "restartPolicy": "Always",
    "schedulerName": "default-scheduler",
    "containers": [
        {
            "name": "ping",
            "image": "ghcr.io/springhead/springhead-ping:0.1.0",
            "imagePullPolicy": "IfNotPresent",
            "command": ["python", "-m", "springhead_ping"],
            "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
            "env": [{"name": "K_SINK", "value": "http://sink"}],
            "livenessProbe": {
                "httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP"},
                "periodSeconds": 10,
                "timeoutSeconds": 2,
                "failureThreshold": 3,
                "successThreshold": 1,
            },
            "readinessProbe": {
                "httpGet": {"path": "/readyz", "port": "http", "scheme": "HTTP"},
                "periodSeconds": 5,
                "timeoutSeconds": 2,
                "failureThreshold": 2,
            },
            "securityContext": {
                "runAsNonRoot": True,
                "readOnlyRootFilesystem": True,
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
            },
            "resources": {
                "requests": {"cpu": "10m", "memory": "48Mi"},
                "limits": {"memory": "128Mi", "cpu": "500m"},
            },
            "volumeMounts": [{"name": "tmp", "mountPath": TMP}],
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
        }
    ],
    "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
}


def _pod(**container: Any) -> dict[str, Any]:
    """:data:`POD` with the container's fields replaced (``None``: removed)."""
    pod = copy.deepcopy(POD)
    for key, value in container.items():
        if value is None:
            pod["containers"][0].pop(key, None)
        else:
            pod["containers"][0][key] = value
    return pod


def test_a_charts_pod_spec_becomes_the_podman_flags_a_kubelet_would_apply(tmp_path: Path) -> None:
    spec = PodContainer.from_pod_spec(POD)
    flags, env, command = spec.podman_args(tmp_path, ports={8080: 41234})
    assert flags == [
        "--read-only", "--read-only-tmpfs=false",
        "--cap-drop=all",
        "--security-opt", "no-new-privileges",
        "--memory", str(128 * 2**20),
        "--cpus", "0.5",
        "--cpu-shares", "10",
        "--stop-timeout", "30",
        "--tmpfs", f"{TMP}:rw,mode=1777,size={64 * 2**20}",
        "--entrypoint", '["python", "-m", "springhead_ping"]',
    ]  # fmt: skip
    assert env == {} and command == []
    assert spec.run_as_non_root and spec.image == "ghcr.io/springhead/springhead-ping:0.1.0"
    assert [(p.kind, p.path, p.port, p.timeout) for p in spec.probes] == [
        ("livenessProbe", "/healthz", 8080, 2.0),
        ("readinessProbe", "/readyz", 8080, 2.0),
    ]


def test_the_containers_security_context_overrides_the_pods() -> None:
    pod = _pod(securityContext={"runAsUser": 1000, "capabilities": {"add": ["NET_BIND_SERVICE"]}})
    pod["securityContext"].update(runAsUser=2000, runAsGroup=3000)
    spec = PodContainer.from_pod_spec(pod)
    assert spec.user == "1000:3000"
    assert spec.cap_add == ("NET_BIND_SERVICE",) and spec.cap_drop == ()
    assert not spec.read_only and not spec.no_new_privileges


def test_args_follow_the_image_and_a_working_dir_is_kept(tmp_path: Path) -> None:
    spec = PodContainer.from_pod_spec(
        _pod(command=None, args=["hooks", "register"], workingDir="/w")
    )
    flags, _, command = spec.podman_args(tmp_path, ports={8080: 1})
    assert command == ["hooks", "register"]
    assert "--entrypoint" not in flags and flags[flags.index("--workdir") + 1] == "/w"


def test_secret_and_config_map_volumes_become_read_only_files(tmp_path: Path) -> None:
    pod = _pod(
        volumeMounts=[
            {"name": "tmp", "mountPath": TMP},
            {"name": "certs", "mountPath": "/etc/certs", "readOnly": True},
            {"name": "conf", "mountPath": "/etc/conf"},
        ]
    )
    pod["volumes"] += [
        {
            "name": "certs",
            "secret": {"secretName": "tls", "items": [{"key": "ca.crt", "path": "ca/ca.pem"}]},
        },
        {"name": "conf", "configMap": {"name": "settings", "defaultMode": 0o440}},
    ]
    spec = PodContainer.from_pod_spec(pod)
    files = {"certs": {"ca.crt": b"CA", "tls.key": b"KEY"}, "conf": {"a": b"1"}}
    flags, _, _ = spec.podman_args(tmp_path, ports={8080: 1}, files=files)
    volumes = [flags[i + 1] for i, flag in enumerate(flags) if flag == "-v"]
    certs, conf = tmp_path / "volumes/certs", tmp_path / "volumes/conf"
    assert volumes == [f"{certs}:/etc/certs:ro", f"{conf}:/etc/conf:ro"]
    # Only the listed item, at its path; the file mode is the volume's (0644 by default).
    assert sorted(p.relative_to(certs).as_posix() for p in certs.rglob("*") if p.is_file()) == [
        "ca/ca.pem"
    ]
    assert (certs / "ca/ca.pem").stat().st_mode & 0o777 == 0o644
    assert (conf / "a").stat().st_mode & 0o777 == 0o440
    with pytest.raises(Exception, match="secret tls .*volume certs.* is missing"):
        spec.podman_args(tmp_path, ports={8080: 1}, files={"certs": None, "conf": {}})
    with pytest.raises(Unsupported, match="volume conf: the caller gave no data"):
        spec.podman_args(tmp_path, ports={8080: 1}, files={"certs": {"ca.crt": b""}})


def test_the_service_account_token_is_a_kubeconfig_mounted_where_the_kubelet_mounts_it(
    tmp_path: Path,
) -> None:
    ca = tmp_path / "host-ca.crt"
    ca.write_text("CA")
    kubeconfig = tmp_path / "account.kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:6443",
                                                       "certificate-authority": str(ca)}}],
                "users": [{"name": "demo", "user": {"token": "t0ken"}}],
            }
        )
    )  # fmt: skip
    spec = PodContainer.from_pod_spec({**POD, "automountServiceAccountToken": True})
    account = ServiceAccount(kubeconfig, "CONTROLLER_KUBECONFIG", "ns")
    flags, env, _ = spec.podman_args(tmp_path / "run", ports={8080: 1}, service_account=account)
    folder = tmp_path / "run" / "serviceaccount"
    assert flags[flags.index("-v") + 1] == f"{folder}:{SERVICE_ACCOUNT_DIR}:ro"
    assert env == {"CONTROLLER_KUBECONFIG": f"{SERVICE_ACCOUNT_DIR}/kubeconfig"}
    written = json.loads((folder / "kubeconfig").read_text())
    assert written["clusters"][0]["cluster"]["certificate-authority"] == (
        f"{SERVICE_ACCOUNT_DIR}/ca.crt"
    )
    assert (folder / "ca.crt").read_text() == "CA" and (folder / "token").read_text() == "t0ken"
    assert (folder / "namespace").read_text() == "ns"
    # Required exactly when the pod mounts its token.
    with pytest.raises(Unsupported, match="automountServiceAccountToken is true"):
        spec.podman_args(tmp_path / "run", ports={8080: 1})
    with pytest.raises(Unsupported, match="automountServiceAccountToken is false"):
        PodContainer.from_pod_spec(POD).podman_args(
            tmp_path / "run", ports={8080: 1}, service_account=account
        )


def test_a_pod_that_does_not_say_mounts_its_token(tmp_path: Path) -> None:
    pod = {k: v for k, v in POD.items() if k != "automountServiceAccountToken"}
    assert PodContainer.from_pod_spec(pod).service_account_token
    with pytest.raises(Unsupported, match="a ServiceAccount kubeconfig is required"):
        PodContainer.from_pod_spec(pod).podman_args(tmp_path, ports={8080: 1})


def test_every_declared_port_needs_the_port_the_process_listens_on(tmp_path: Path) -> None:
    with pytest.raises(Unsupported, match=r"containerPort \[8080\]: host networking"):
        PodContainer.from_pod_spec(POD).podman_args(tmp_path, ports={})


def _with(path: str, value: Any) -> dict[str, Any]:
    """:data:`POD` with the field at ``path`` (dotted; ``c`` is the container) set."""
    pod = copy.deepcopy(POD)
    *parents, last = path.split(".")
    target: Any = pod
    for key in parents:
        target = target["containers"][0] if key == "c" else target.setdefault(key, {})
    target[last] = value
    return pod


@pytest.mark.parametrize(
    ("path", "value", "error"),
    [
        ("initContainers", [{"name": "init"}], r"spec: initContainers cannot be run"),
        ("hostNetwork", True, r"spec: hostNetwork cannot be run"),
        ("securityContext.fsGroup", 2000, r"spec.securityContext: fsGroup"),
        ("c.lifecycle", {"preStop": {}}, r"spec.containers\[ping\]: lifecycle"),
        ("c.securityContext.privileged", True, r"privileged"),
        ("c.securityContext.procMount", "Unmasked", r"securityContext: procMount"),
        ("c.securityContext.seccompProfile", {"type": "Unconfined"}, r"seccompProfile Unconfined"),
        ("c.livenessProbe", {"exec": {"command": ["true"]}}, r"livenessProbe: exec"),
        ("c.readinessProbe", {"tcpSocket": {"port": 8080}}, r"readinessProbe: tcpSocket"),
        ("c.startupProbe", {"periodSeconds": 1}, r"startupProbe: only httpGet"),
        (
            "c.livenessProbe",
            {"httpGet": {"path": "/", "port": "http", "scheme": "HTTPS"}},
            r"scheme: HTTPS",
        ),
        (
            "c.livenessProbe",
            {"httpGet": {"path": "/", "port": "admin"}},
            r"no container port named",
        ),
        (
            "c.livenessProbe",
            {"httpGet": {"path": "/", "port": 8080, "httpHeaders": [{"name": "a", "value": "b"}]}},
            r"httpGet: httpHeaders",
        ),
        ("c.ports", [{"containerPort": 8080, "hostPort": 80}], r"ports: hostPort"),
        ("c.ports", [{"containerPort": 53, "protocol": "UDP"}], r"UDP \(TCP only\)"),
        ("c.resources", {"limits": {"ephemeral-storage": "1Gi"}}, r"limits: ephemeral-storage"),
        ("c.resources", {"claims": [{"name": "gpu"}]}, r"resources: claims"),
        ("c.volumeMounts", [{"name": "tmp", "mountPath": TMP, "subPath": "x"}], r"subPath"),
        ("c.volumeMounts", [{"name": "data", "mountPath": "/data"}], r"no volume 'data'"),
        ("c.volumeMounts", [], r"spec.volumes: \['tmp'\] are mounted by no container"),
        ("volumes", [{"name": "tmp", "projected": {"sources": []}}], r"\['projected'\]"),
        ("securityContext.runAsGroup", 10, r"runAsGroup without runAsUser"),
    ],
)
def test_what_podman_cannot_honour_fails_loudly_with_its_path(
    path: str, value: Any, error: str
) -> None:
    with pytest.raises(Unsupported, match=error):
        PodContainer.from_pod_spec(_with(path, value))


def test_a_pod_of_two_containers_is_refused() -> None:
    pod = copy.deepcopy(POD)
    pod["containers"].append({**pod["containers"][0], "name": "sidecar"})
    with pytest.raises(Unsupported, match="2 containers; podman runs one"):
        PodContainer.from_pod_spec(pod)


def _pod_specs(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """Every pod spec of a rendered chart: Deployments', Jobs' and CronJobs'."""
    found = []
    for doc in docs:
        spec = doc.get("spec") or {}
        if doc["kind"] == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        if doc["kind"] in ("Deployment", "Job", "CronJob"):
            found.append((f"{doc['kind']}/{doc['metadata']['name']}", spec["template"]["spec"]))
    return found


@pytest.mark.parametrize("chart", APPLICATION_CHARTS)
def test_every_pod_spec_the_charts_make_translates(charts: Charts, chart: str) -> None:
    translated = []
    # The ci values files: the defaults alone do not render (a sink, or an image, is required).
    for values in charts.ci_values(chart):
        for name, pod in _pod_specs(charts.render(chart, "-f", str(values))):
            spec = PodContainer.from_pod_spec(pod)
            assert spec.read_only and spec.no_new_privileges and spec.cap_drop == ("ALL",), name
            assert dict(spec.tmpfs) == {TMP: 64 * 2**20}, name
            translated.append(name)
    assert translated
    if chart == "github":
        assert any(name.startswith("Job/") for name in translated), translated
