"""springhead_testinfra.pods against the real runtime: the flags a pod spec becomes are what the
process inside the container lives under (user, read-only root, capabilities, no new privileges,
the cgroup's memory and CPU limits, the emptyDir, the Secret files, the ServiceAccount kubeconfig),
and PodmanPod refuses or reports what a kubelet would.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from springhead_testinfra.images import MACHINE_FLAGS, Podman
from springhead_testinfra.pods import SERVICE_ACCOUNT_DIR, PodContainer, PodmanPod, ServiceAccount
from springhead_testinfra.process import ComponentError, free_ports
from springhead_testinfra.services import SERVICES, ImageBuilds

TMP = "/tmp"  # noqa: S108 - the pod's emptyDir

#: What the process sees, printed as JSON (cgroup v1 paths: these machines' hierarchy).
FACTS = """
import json, os
def read(path):
    try:
        return open(path).read().strip()
    except OSError as exc:
        return type(exc).__name__
status = dict(line.split(":\\t", 1) for line in open("/proc/self/status").read().splitlines())
def writable(path):
    try:
        open(path, "w").close()
        return True
    except OSError:
        return False
tmp = os.statvfs("/tmp")
print(json.dumps({
    "ids": [os.getuid(), os.getgid()],
    "root_writable": writable("/probe"),
    "tmp_writable": writable("/tmp/probe"),
    "tmp_bytes": tmp.f_blocks * tmp.f_frsize,
    "cap_eff": status["CapEff"].strip(),
    "no_new_privs": status["NoNewPrivs"].strip(),
    "memory": read("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
    "cfs": [read(f"/sys/fs/cgroup/cpu/cpu.cfs_{name}_us") for name in ("quota", "period")],
    "shares": read("/sys/fs/cgroup/cpu/cpu.shares"),
    "secret": read("/etc/certs/ca.crt"),
    "kubeconfig": json.loads(read(os.environ["APP_KUBECONFIG"])),
    "ca": read("SERVICE_ACCOUNT_DIR/ca.crt"),
}))
""".replace("SERVICE_ACCOUNT_DIR", SERVICE_ACCOUNT_DIR)


def _pod(**container: Any) -> dict[str, Any]:
    """A pod spec as the charts make it, with a Secret volume, the token mounted, and the
    container's fields replaced."""
    return {
        "automountServiceAccountToken": True,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "terminationGracePeriodSeconds": 30,
        "containers": [
            {
                "name": "app",
                "image": "ghcr.io/springhead/springhead-ping:0.1.0",
                "command": ["python", "-c", FACTS],
                "ports": [{"name": "http", "containerPort": 8080}],
                "securityContext": {
                    "runAsUser": 4321,
                    "runAsGroup": 1234,
                    "readOnlyRootFilesystem": True,
                    "allowPrivilegeEscalation": False,
                    "capabilities": {"drop": ["ALL"]},
                },
                "resources": {
                    "requests": {"cpu": "250m"},
                    "limits": {"memory": "96Mi", "cpu": "500m"},
                },
                "volumeMounts": [
                    {"name": "tmp", "mountPath": TMP},
                    {"name": "certs", "mountPath": "/etc/certs", "readOnly": True},
                ],
                **container,
            }
        ],
        "volumes": [
            {"name": "tmp", "emptyDir": {"sizeLimit": "8Mi"}},
            {"name": "certs", "secret": {"secretName": "tls"}},
        ],
    }


def _account(folder: Path) -> ServiceAccount:
    folder.mkdir(parents=True, exist_ok=True)
    ca = folder / "host-ca.crt"
    ca.write_text("THE CA")
    kubeconfig = folder / "account.kubeconfig"
    cluster = {"server": "https://127.0.0.1:6443", "certificate-authority": str(ca)}
    kubeconfig.write_text(
        json.dumps(
            {
                "clusters": [{"name": "k", "cluster": cluster}],
                "users": [{"name": "app", "user": {"token": "t"}}],
            }
        )
    )
    return ServiceAccount(kubeconfig, "APP_KUBECONFIG", "default")


@pytest.fixture
def ping_image(image_builds: ImageBuilds) -> str:
    [ping] = [s for s in SERVICES if s.name == "springhead-ping"]
    return image_builds.build(ping).tag


def test_the_process_lives_under_what_the_pod_spec_says(
    podman: Podman, ping_image: str, tmp_path: Path
) -> None:
    spec = PodContainer.from_pod_spec(_pod())
    flags, env, command = spec.podman_args(
        tmp_path / "run",
        ports={8080: 1},
        service_account=_account(tmp_path / "account"),
        files={"certs": {"ca.crt": b"SECRET CA"}},
    )
    env_flags = [arg for key, value in env.items() for arg in ("--env", f"{key}={value}")]
    done = podman.run("run", "--rm", *MACHINE_FLAGS, *flags, *env_flags, ping_image, *command)
    facts = json.loads(done.stdout)
    assert facts["ids"] == [4321, 1234]
    assert facts["root_writable"] is False and facts["tmp_writable"] is True
    assert facts["tmp_bytes"] == 8 * 2**20
    assert int(facts["cap_eff"], 16) == 0 and facts["no_new_privs"] == "1"
    assert int(facts["memory"]) == 96 * 2**20
    quota, period = map(int, facts["cfs"])
    assert quota / period == 0.5
    assert int(facts["shares"]) == 256
    assert facts["secret"] == "SECRET CA"
    assert facts["kubeconfig"]["clusters"][0]["cluster"]["certificate-authority"] == (
        f"{SERVICE_ACCOUNT_DIR}/ca.crt"
    )
    assert facts["ca"] == "THE CA"


def test_a_root_user_is_refused_when_the_spec_says_run_as_non_root(
    podman: Podman, ping_image: str, tmp_path: Path
) -> None:
    pod = _pod()
    pod["containers"][0]["securityContext"]["runAsUser"] = 0
    running = PodmanPod(
        podman,
        pod,
        ping_image,
        {},
        tmp_path,
        ports={8080: 1},
        service_account=_account(tmp_path / "account"),
        files={"certs": {}},
    )
    with pytest.raises(ComponentError, match="runAsNonRoot: .* runs as '0:1234'"):
        running.start()


def test_a_container_that_fails_to_start_fails_with_its_log(
    podman: Podman, ping_image: str, tmp_path: Path
) -> None:
    pod = copy.deepcopy(_pod(command=["python", "-m", "springhead_ping"]))
    pod["containers"][0]["readinessProbe"] = {"httpGet": {"path": "/readyz", "port": "http"}}
    [port] = free_ports(1)
    running = PodmanPod(
        podman,
        pod,
        ping_image,
        {"K_SINK": "http://127.0.0.1:9/", "PING_SCHEDULE": "not a schedule"},
        tmp_path,
        ports={8080: port},
        service_account=_account(tmp_path / "account"),
        files={"certs": {}},
    )
    try:
        running.start()
        with pytest.raises(ComponentError, match=r"(?s)app exited \(\d+\).*PING_SCHEDULE"):
            running.wait_ready(timeout=60)
    finally:
        running.remove()
