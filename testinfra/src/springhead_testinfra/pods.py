"""A Deployment's pod spec run as one podman container: as close to a kubelet as this machine
allows (no kubelet, no container network, a real image and a real runtime).

:meth:`PodContainer.from_pod_spec` reads the pod spec (a Deployment's ``spec.template.spec``, as
the API server returns it) and refuses every field it cannot honour with
:class:`UnsupportedPodSpec`: nothing is dropped silently. What it honours becomes ``podman run``
flags (:meth:`PodContainer.podman_args`):

* ``command`` / ``args`` -> ``--entrypoint`` / the arguments after the image; ``workingDir``;
* the effective ``securityContext`` (the container's over the pod's): ``runAsUser`` /
  ``runAsGroup`` -> ``--user``; ``readOnlyRootFilesystem`` -> ``--read-only`` (no writable
  /tmp, /run either, as in Kubernetes); ``capabilities`` -> ``--cap-drop`` / ``--cap-add``;
  ``allowPrivilegeEscalation: false`` -> ``--security-opt no-new-privileges``;
  ``seccompProfile: RuntimeDefault`` is podman's default profile; ``runAsNonRoot`` is checked
  against the image's user before the start (:class:`PodmanPod`), as the kubelet does;
* ``resources``: ``limits.memory`` -> ``--memory``, ``limits.cpu`` -> ``--cpus``,
  ``requests.cpu`` -> ``--cpu-shares`` (the kubelet's cgroup v1 shares); ``requests.memory``
  only steers the scheduler;
* ``terminationGracePeriodSeconds`` -> ``--stop-timeout`` (``podman stop`` waits that long);
* volumes: ``emptyDir`` -> ``--tmpfs`` (capped at ``sizeLimit``); ``secret`` and ``configMap``
  -> their keys written as files to a folder (the caller reads the objects) and bind-mounted
  read-only;
* ``automountServiceAccountToken: true`` -> a kubeconfig acting as the pod's ServiceAccount
  (:class:`ServiceAccount`), mounted read-only with its CA and token where the kubelet mounts the
  token, and named by the variable the process reads it from;
* ``ports``: host networking (the sink is on the host's loopback) cannot remap ports, so every
  ``containerPort`` needs the port the caller told the process to listen on;
* probes (``httpGet`` only): asked from the host, as the kubelet asks from the node
  (:meth:`PodmanPod.probe`, :meth:`PodmanPod.wait_ready`).

The environment is the caller's: resolving ``env`` / ``envFrom`` needs the cluster (Secrets,
ConfigMaps, the downward API).
"""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from kubernetes.utils.quantity import parse_quantity

from .images import MACHINE_FLAGS, Container, Podman
from .process import ComponentError, wait_until

__all__ = [
    "SERVICE_ACCOUNT_DIR",
    "FileVolume",
    "HttpProbe",
    "PodContainer",
    "PodmanPod",
    "ServiceAccount",
    "UnsupportedPodSpec",
]

#: Where the kubelet mounts a pod's ServiceAccount token (here: the kubeconfig, CA and token).
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"

#: Pod fields only the scheduler, the API server or the node's other parts act on: nothing to do
#: for one container on one machine.
POD_ELSEWHERE = frozenset(
    {
        "affinity", "dnsPolicy", "enableServiceLinks", "imagePullSecrets", "nodeSelector",
        "preemptionPolicy", "priority", "priorityClassName", "restartPolicy", "schedulerName",
        "serviceAccount", "serviceAccountName", "tolerations", "topologySpreadConstraints",
    }
)  # fmt: skip
POD_TRANSLATED = frozenset(
    {"automountServiceAccountToken", "containers", "securityContext",
     "terminationGracePeriodSeconds", "volumes"}
)  # fmt: skip
#: Container fields with no effect here: the image is the caller's local build.
CONTAINER_ELSEWHERE = frozenset(
    {"image", "imagePullPolicy", "name", "terminationMessagePath", "terminationMessagePolicy"}
)
CONTAINER_TRANSLATED = frozenset(
    {"args", "command", "env", "envFrom", "livenessProbe", "ports", "readinessProbe",
     "resources", "securityContext", "startupProbe", "volumeMounts", "workingDir"}
)  # fmt: skip
POD_SECURITY = frozenset({"runAsGroup", "runAsNonRoot", "runAsUser", "seccompProfile"})
CONTAINER_SECURITY = POD_SECURITY | {
    "allowPrivilegeEscalation", "capabilities", "privileged", "readOnlyRootFilesystem",
}  # fmt: skip
PROBE_FIELDS = frozenset(
    {"failureThreshold", "httpGet", "initialDelaySeconds", "periodSeconds", "successThreshold",
     "timeoutSeconds"}
)  # fmt: skip
PROBE_KINDS = ("startupProbe", "livenessProbe", "readinessProbe")


class UnsupportedPodSpec(ValueError):
    """A pod-spec field (named by its path) that the podman translation cannot honour."""


def _empty(value: Any) -> bool:
    return value is None or value is False or value in ("", [], {})


def _only(found: Mapping[str, Any] | None, allowed: frozenset[str], where: str) -> None:
    """Raise for each field of ``found`` that is set and not ``allowed``."""
    unknown = sorted(k for k, v in (found or {}).items() if k not in allowed and not _empty(v))
    if unknown:
        raise UnsupportedPodSpec(
            f"{where}: {', '.join(unknown)} cannot be run by podman here "
            f"(supported: {', '.join(sorted(allowed))})"
        )


@dataclass(frozen=True)
class HttpProbe:
    """An ``httpGet`` probe: ``GET http://<host>:<port><path>``; 200-399 passes."""

    #: ``startupProbe``, ``livenessProbe`` or ``readinessProbe``.
    kind: str
    path: str
    #: The container port it asks (a named port resolved).
    port: int
    timeout: float
    period: float
    failure_threshold: int


@dataclass(frozen=True)
class FileVolume:
    """A ``secret`` or ``configMap`` volume mounted at ``path``: the object's keys as files."""

    volume: str
    #: ``secret`` or ``configMap``.
    kind: str
    #: The object's name.
    name: str
    path: str
    #: key -> relative path (``items``); empty: every key at its own name.
    items: Mapping[str, str]
    mode: int
    optional: bool


@dataclass(frozen=True)
class ServiceAccount:
    """Where the kubelet would mount the ServiceAccount token, the process gets ``kubeconfig``
    (JSON, acting as the account; its CA and token are mounted beside it) through the
    environment variable ``variable``; ``namespace`` is written beside it as the kubelet does."""

    kubeconfig: Path
    variable: str
    namespace: str


@dataclass(frozen=True)
class PodContainer:
    """The one container of a pod spec, as ``podman run`` runs it (see the module)."""

    name: str
    image: str
    command: tuple[str, ...]
    args: tuple[str, ...]
    working_dir: str
    #: ``uid``, ``uid:gid``, or empty (the image's user).
    user: str
    run_as_non_root: bool
    read_only: bool
    cap_drop: tuple[str, ...]
    cap_add: tuple[str, ...]
    no_new_privileges: bool
    memory_limit: int | None
    cpu_limit: Decimal | None
    cpu_shares: int | None
    stop_timeout: int | None
    #: The declared container ports (``name`` -> port; unnamed ones under their number).
    ports: Mapping[str, int]
    probes: tuple[HttpProbe, ...]
    #: (mount path, size limit in bytes or None)
    tmpfs: tuple[tuple[str, int | None], ...]
    files: tuple[FileVolume, ...]
    service_account_token: bool

    @classmethod
    def from_pod_spec(cls, pod: Mapping[str, Any]) -> PodContainer:
        """Read ``pod`` (a pod spec, e.g. a Deployment's ``spec.template.spec``); raise
        :class:`UnsupportedPodSpec` for anything podman cannot honour here."""
        _only(pod, POD_ELSEWHERE | POD_TRANSLATED, "spec")
        containers = pod.get("containers") or []
        if len(containers) != 1:
            raise UnsupportedPodSpec(
                f"spec.containers: {len(containers)} containers; podman runs one"
            )
        [container] = containers
        where = f"spec.containers[{container.get('name')}]"
        _only(container, CONTAINER_ELSEWHERE | CONTAINER_TRANSLATED, where)

        pod_security = pod.get("securityContext") or {}
        _only(pod_security, POD_SECURITY, "spec.securityContext")
        security = container.get("securityContext") or {}
        _only(security, CONTAINER_SECURITY, f"{where}.securityContext")
        effective = {**pod_security, **security}
        if security.get("privileged"):
            raise UnsupportedPodSpec(f"{where}.securityContext.privileged: not run privileged")
        seccomp = (effective.get("seccompProfile") or {}).get("type", "RuntimeDefault")
        if seccomp != "RuntimeDefault":
            raise UnsupportedPodSpec(
                f"seccompProfile {seccomp}: only RuntimeDefault (podman's default profile)"
            )
        user = ""
        if effective.get("runAsUser") is not None:
            user = str(effective["runAsUser"])
            if effective.get("runAsGroup") is not None:
                user += f":{effective['runAsGroup']}"
        elif effective.get("runAsGroup") is not None:
            raise UnsupportedPodSpec("runAsGroup without runAsUser: podman --user needs the uid")
        capabilities = security.get("capabilities") or {}
        _only(capabilities, frozenset({"add", "drop"}), f"{where}.securityContext.capabilities")

        ports = _ports(container, where)
        return cls(
            name=str(container.get("name", "")),
            image=str(container.get("image", "")),
            command=tuple(container.get("command") or ()),
            args=tuple(container.get("args") or ()),
            working_dir=str(container.get("workingDir") or ""),
            user=user,
            run_as_non_root=bool(effective.get("runAsNonRoot")),
            read_only=bool(security.get("readOnlyRootFilesystem")),
            cap_drop=tuple(str(c) for c in capabilities.get("drop") or ()),
            cap_add=tuple(str(c) for c in capabilities.get("add") or ()),
            no_new_privileges=security.get("allowPrivilegeEscalation") is False,
            **_resources(container.get("resources") or {}, f"{where}.resources"),
            stop_timeout=pod.get("terminationGracePeriodSeconds"),
            ports=ports,
            probes=tuple(
                _probe(kind, container[kind], ports, f"{where}.{kind}")
                for kind in PROBE_KINDS
                if container.get(kind)
            ),
            **_volumes(pod, container, where),
            # Kubernetes mounts the token unless told not to (the ServiceAccount's own setting is
            # not in the pod spec: the charts always say it in the pod).
            service_account_token=pod.get("automountServiceAccountToken") is not False,
        )

    def podman_args(
        self,
        folder: Path,
        *,
        ports: Mapping[int, int],
        service_account: ServiceAccount | None = None,
        files: Mapping[str, Mapping[str, bytes] | None] | None = None,
    ) -> tuple[list[str], dict[str, str], list[str]]:
        """The ``podman run`` flags, the extra environment (the service account's variable) and
        the arguments after the image.

        ``ports`` maps each declared container port to the one the process listens on (host
        networking cannot remap). ``files`` holds each file volume's object data by volume name
        (``None``: the object does not exist); they are written under ``folder`` (world-readable:
        the container's user is not the host's). ``service_account`` is required exactly when the
        pod mounts its token.
        """
        missing = sorted(set(self.ports.values()) - set(ports))
        if missing:
            raise UnsupportedPodSpec(
                f"containerPort {missing}: host networking needs the port the process listens on"
            )
        flags: list[str] = []
        if self.read_only:
            # Kubernetes' readOnlyRootFilesystem mounts no writable /tmp, /var/tmp or /run either.
            flags += ["--read-only", "--read-only-tmpfs=false"]
        flags += [f"--cap-drop={c.lower()}" for c in self.cap_drop]
        flags += [f"--cap-add={c.lower()}" for c in self.cap_add]
        if self.no_new_privileges:
            flags += ["--security-opt", "no-new-privileges"]
        if self.user:
            flags += ["--user", self.user]
        if self.memory_limit is not None:
            flags += ["--memory", str(self.memory_limit)]
        if self.cpu_limit is not None:
            flags += ["--cpus", str(self.cpu_limit)]
        if self.cpu_shares is not None:
            flags += ["--cpu-shares", str(self.cpu_shares)]
        if self.stop_timeout is not None:
            flags += ["--stop-timeout", str(self.stop_timeout)]
        if self.working_dir:
            flags += ["--workdir", self.working_dir]
        for path, size in self.tmpfs:
            options = "rw,mode=1777" + (f",size={size}" if size is not None else "")
            flags += ["--tmpfs", f"{path}:{options}"]
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o755)
        given = dict(files or {})
        for volume in self.files:
            if volume.volume not in given:
                raise UnsupportedPodSpec(f"volume {volume.volume}: the caller gave no data")
            data = given[volume.volume]
            if data is None and not volume.optional:
                raise ComponentError(
                    f"{volume.kind} {volume.name} (volume {volume.volume}) is missing"
                )
            target = _write_files(folder / "volumes" / volume.volume, volume, data or {})
            flags += ["-v", f"{target}:{volume.path}:ro"]
        env: dict[str, str] = {}
        if self.service_account_token != (service_account is not None):
            raise UnsupportedPodSpec(
                "automountServiceAccountToken is "
                f"{str(self.service_account_token).lower()}: a ServiceAccount kubeconfig is "
                + ("required" if self.service_account_token else "not mounted")
            )
        if service_account is not None:
            token = _write_service_account(folder / "serviceaccount", service_account)
            flags += ["-v", f"{token}:{SERVICE_ACCOUNT_DIR}:ro"]
            env[service_account.variable] = f"{SERVICE_ACCOUNT_DIR}/kubeconfig"
        command: list[str] = list(self.args)
        if self.command:
            flags += ["--entrypoint", json.dumps(list(self.command))]
        return flags, env, command


def _ports(container: Mapping[str, Any], where: str) -> dict[str, int]:
    found: dict[str, int] = {}
    for port in container.get("ports") or ():
        _only(port, frozenset({"containerPort", "name", "protocol"}), f"{where}.ports")
        if port.get("protocol", "TCP") != "TCP":
            raise UnsupportedPodSpec(f"{where}.ports: {port['protocol']} (TCP only)")
        found[str(port.get("name") or port["containerPort"])] = int(port["containerPort"])
    return found


def _probe(kind: str, probe: Mapping[str, Any], ports: Mapping[str, int], where: str) -> HttpProbe:
    _only(probe, PROBE_FIELDS, where)
    get = probe.get("httpGet")
    if not get:
        raise UnsupportedPodSpec(f"{where}: only httpGet probes are asked from the host")
    _only(get, frozenset({"path", "port", "scheme"}), f"{where}.httpGet")
    if get.get("scheme", "HTTP") != "HTTP":
        raise UnsupportedPodSpec(f"{where}.httpGet.scheme: {get['scheme']} (HTTP only)")
    port = get["port"]
    if isinstance(port, str) and not port.isdigit():
        if port not in ports:
            raise UnsupportedPodSpec(f"{where}.httpGet.port: no container port named {port!r}")
        port = ports[port]
    return HttpProbe(
        kind=kind,
        path=str(get.get("path") or "/"),
        port=int(port),
        timeout=float(probe.get("timeoutSeconds", 1)),
        period=float(probe.get("periodSeconds", 10)),
        failure_threshold=int(probe.get("failureThreshold", 3)),
    )


def _quantity(value: str | int) -> Decimal:
    """A Kubernetes quantity (``128Mi``, ``500m``) as a number."""
    found: Decimal = parse_quantity(value)  # type: ignore[no-untyped-call]
    return found


def _resources(resources: Mapping[str, Any], where: str) -> dict[str, Any]:
    _only(resources, frozenset({"limits", "requests"}), where)
    limits = resources.get("limits") or {}
    requests = resources.get("requests") or {}
    _only(limits, frozenset({"cpu", "memory"}), f"{where}.limits")
    _only(requests, frozenset({"cpu", "memory"}), f"{where}.requests")
    found: dict[str, Any] = {"memory_limit": None, "cpu_limit": None, "cpu_shares": None}
    if "memory" in limits:
        found["memory_limit"] = int(_quantity(limits["memory"]))
    if "cpu" in limits:
        found["cpu_limit"] = _quantity(limits["cpu"]).normalize()
    if "cpu" in requests:
        # The kubelet's cgroup v1 cpu.shares: 1024 per CPU requested, at least 2.
        found["cpu_shares"] = max(2, int(_quantity(requests["cpu"]) * 1024))
    return found


def _volumes(pod: Mapping[str, Any], container: Mapping[str, Any], where: str) -> dict[str, Any]:
    volumes = {str(v["name"]): v for v in pod.get("volumes") or ()}
    tmpfs: list[tuple[str, int | None]] = []
    files: list[FileVolume] = []
    for mount in container.get("volumeMounts") or ():
        _only(mount, frozenset({"mountPath", "name", "readOnly"}), f"{where}.volumeMounts")
        name = str(mount["name"])
        if name not in volumes:
            raise UnsupportedPodSpec(f"{where}.volumeMounts: no volume {name!r} in the pod")
        volume = volumes.pop(name)
        kinds = sorted(set(volume) - {"name"})
        if kinds == ["emptyDir"]:
            empty = volume["emptyDir"] or {}
            _only(empty, frozenset({"medium", "sizeLimit"}), f"spec.volumes[{name}].emptyDir")
            if mount.get("readOnly"):
                raise UnsupportedPodSpec(f"{where}.volumeMounts[{name}]: a read-only emptyDir")
            size = empty.get("sizeLimit")
            tmpfs.append((str(mount["mountPath"]), int(_quantity(size)) if size else None))
        elif kinds in (["secret"], ["configMap"]):
            [kind] = kinds
            source = volume[kind]
            _only(
                source,
                frozenset({"defaultMode", "items", "name", "optional", "secretName"}),
                f"spec.volumes[{name}].{kind}",
            )
            items = {}
            for item in source.get("items") or ():
                _only(item, frozenset({"key", "path", "mode"}), f"spec.volumes[{name}].items")
                if "mode" in item:
                    raise UnsupportedPodSpec(f"spec.volumes[{name}].items: per-item modes")
                items[str(item["key"])] = str(item["path"])
            files.append(
                FileVolume(
                    volume=name,
                    kind=kind,
                    name=str(source.get("secretName") or source.get("name")),
                    path=str(mount["mountPath"]),
                    items=items,
                    mode=int(source.get("defaultMode", 0o644)),
                    optional=bool(source.get("optional")),
                )
            )
        else:
            raise UnsupportedPodSpec(f"spec.volumes[{name}]: {kinds} (emptyDir, secret, configMap)")
    if volumes:
        raise UnsupportedPodSpec(f"spec.volumes: {sorted(volumes)} are mounted by no container")
    return {"tmpfs": tuple(tmpfs), "files": tuple(files)}


def _write_files(target: Path, volume: FileVolume, data: Mapping[str, bytes]) -> Path:
    """The volume's files as the kubelet would project them, readable by any user."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    target.parent.chmod(0o755)
    target.chmod(0o755)
    missing = sorted(set(volume.items) - set(data))
    if missing and not volume.optional:
        raise ComponentError(f"{volume.kind} {volume.name} has no key {missing}")
    for key, content in data.items():
        if volume.items and key not in volume.items:
            continue
        path = target / volume.items.get(key, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        path.chmod(volume.mode)
    return target


def _write_service_account(target: Path, account: ServiceAccount) -> Path:
    """The kubeconfig, its CA and token, and the namespace, with the kubeconfig's paths pointing
    where the folder is mounted in the container."""
    config = json.loads(account.kubeconfig.read_text())
    clusters = config.get("clusters") or []
    users = config.get("users") or []
    if len(clusters) != 1 or len(users) != 1 or "token" not in users[0].get("user", {}):
        raise UnsupportedPodSpec(
            f"{account.kubeconfig}: one cluster and one token user (a ServiceAccount's)"
        )
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    target.chmod(0o755)
    cluster = clusters[0]["cluster"]
    if "certificate-authority" in cluster:
        shutil.copyfile(cluster["certificate-authority"], target / "ca.crt")
        cluster["certificate-authority"] = f"{SERVICE_ACCOUNT_DIR}/ca.crt"
    (target / "token").write_text(users[0]["user"]["token"])
    (target / "namespace").write_text(account.namespace)
    (target / "kubeconfig").write_text(json.dumps(config))
    for path in target.iterdir():
        path.chmod(0o644)
    return target


class PodmanPod:
    """A pod spec's container run by podman from ``image`` (the local build standing in for the
    spec's image) with the resolved ``env``; files it needs are written under ``folder``.

    :meth:`start` refuses, as the kubelet does, an image that would run as root when the spec
    says ``runAsNonRoot``; a container that exits while :meth:`wait_ready` waits fails with its
    log. :meth:`stop` is ``podman stop`` (the spec's grace period) and returns the exit code.
    """

    def __init__(
        self,
        podman: Podman,
        pod: Mapping[str, Any],
        image: str,
        env: Mapping[str, str],
        folder: Path,
        *,
        ports: Mapping[int, int],
        service_account: ServiceAccount | None = None,
        files: Mapping[str, Mapping[str, bytes] | None] | None = None,
    ) -> None:
        self.podman = podman
        self.spec = PodContainer.from_pod_spec(pod)
        self.image = image
        self.ports = dict(ports)
        flags, extra_env, command = self.spec.podman_args(
            folder, ports=ports, service_account=service_account, files=files
        )
        self.container = Container(
            podman,
            image,
            {**env, **extra_env},
            flags=MACHINE_FLAGS,
            extra=flags,
            command=command,
        )

    @property
    def port(self) -> int:
        """Where the container's first declared port is served on the host."""
        return self.ports[next(iter(self.spec.ports.values()))]

    @property
    def argv(self) -> list[str]:
        """The ``podman run`` command line (without the environment's values)."""
        return self.podman.argv(
            "run", *self.container.flags, *self.container.extra, self.image, *self.container.command
        )

    def start(self) -> PodmanPod:
        """Check the user against ``runAsNonRoot``, then ``podman run --detach``."""
        if self.spec.run_as_non_root:
            user = self.spec.user
            if not user:
                found = self.podman.inspect(self.image)
                user = str(((found or {}).get("Config") or {}).get("User") or "")
            uid = user.split(":")[0]
            if not uid.isdigit() or int(uid) == 0:
                raise ComponentError(
                    f"runAsNonRoot: {self.image} runs as {user or 'root'!r}, not a numeric "
                    "non-root uid (the kubelet refuses to start it)"
                )
        try:
            self.container.start()
        except ComponentError as exc:
            raise ComponentError(self.container.failure(str(exc))) from None
        return self

    def probe(self, kind: str) -> int | None:
        """Ask the ``kind`` probe once from the host: the HTTP status, ``None`` for no answer."""
        [probe] = [p for p in self.spec.probes if p.kind == kind]
        url = f"http://127.0.0.1:{self.ports[probe.port]}{probe.path}"
        request = urllib.request.Request(url)  # noqa: S310 - http on loopback
        try:
            with urllib.request.urlopen(request, timeout=probe.timeout) as answer:  # noqa: S310
                return int(answer.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except OSError:
            return None

    def passes(self, kind: str) -> bool:
        """Whether the ``kind`` probe passes now (HTTP 200-399, as the kubelet counts)."""
        status = self.probe(kind)
        return status is not None and 200 <= status < 400

    def wait_ready(self, timeout: float = 60) -> None:
        """Wait until the startup and readiness probes pass (the Pod would be Ready); the
        container's exit or ``timeout`` raises with its log."""
        kinds = [p.kind for p in self.spec.probes if p.kind != "livenessProbe"]

        def ready() -> str | None:
            if not self.container.running:
                return "exited"
            return "ready" if all(self.passes(kind) for kind in kinds) else None

        what = f"{self.spec.name} to be ready"
        try:
            outcome = wait_until(ready, timeout=timeout, what=what)
        except ComponentError as exc:
            raise ComponentError(self.container.failure(str(exc))) from None
        if outcome == "exited":
            code = self.container.state().get("ExitCode")
            raise ComponentError(self.container.failure(f"{self.spec.name} exited ({code})"))

    def logs(self) -> str:
        """What the container wrote."""
        return self.container.logs()

    def stop(self) -> int:
        """``podman stop`` with the spec's grace period; the container's exit code."""
        return self.container.stop(self.spec.stop_timeout if self.spec.stop_timeout else 30)

    def remove(self) -> None:
        """Remove the container whatever its state."""
        self.container.remove()

    def failure(self, message: str) -> str:
        """``message`` with the container's log."""
        return self.container.failure(message)
