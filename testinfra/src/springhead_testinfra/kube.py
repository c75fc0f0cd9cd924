"""A real Kubernetes control plane without nodes: etcd + kube-apiserver on 127.0.0.1.

Both are built from the Go module proxy (see :mod:`springhead_testinfra.gobuild`). The apiserver's
flags follow controller-runtime's envtest: TLS with a certificate made for the run, a static admin
token in ``system:masters``, RBAC, service-account signing keys, no ServiceAccount admission.
No controller-manager or scheduler runs: Deployments get no Pods, namespaces never finish
terminating, nothing is garbage-collected. Watches, CRDs, RBAC, patches, server-side apply and
dry-run, and admission are all real.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import versions
from .cache import new_run_dir
from .certs import issue, make_ca, rsa_key_pair
from .gobuild import ETCD, KUBE_APISERVER, build
from .kafka import KEEP_RUNS_ENV
from .process import ComponentError, ManagedProcess, free_ports, progress, wait_until

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

#: Seconds etcd and the apiserver may each take to become ready.
START_TIMEOUT_S = 180.0


def fetch_kube(*, force: bool = False) -> tuple[Path, Path]:
    """Build (once) and return the paths of ``kube-apiserver`` and ``etcd``."""
    return build(KUBE_APISERVER, force=force), build(ETCD, force=force)


class KubeCluster:
    """etcd and kube-apiserver for one test session.

    Attributes:
        api_url: ``https://127.0.0.1:<port>`` of the apiserver.
        kubeconfig: a kubeconfig file (cluster CA, admin token) for clients, kubectl and Helm.
        token: the admin's bearer token (user ``admin`` in group ``system:masters``).
        ca_file: the CA that signed the apiserver's serving certificate (PEM).
        etcd_url: ``http://127.0.0.1:<port>`` of etcd's client endpoint.
        run_dir: folder with certificates, etcd's data and both logs.
        version: the Kubernetes version the apiserver reports.
    """

    def __init__(self, run_dir: Path | None = None) -> None:
        self.apiserver_bin, self.etcd_bin = fetch_kube()
        self.version = versions.KUBERNETES_VERSION
        self.run_dir = run_dir if run_dir is not None else new_run_dir("kube")
        etcd_port, peer_port, api_port = free_ports(3)
        self.etcd_url = f"http://127.0.0.1:{etcd_port}"
        self.api_url = f"https://127.0.0.1:{api_port}"
        self.apiserver_log = self.run_dir / "kube-apiserver.log"
        self.etcd_log = self.run_dir / "etcd.log"

        certs = self.run_dir / "certs"
        ca = make_ca(certs, common_name="springhead-testinfra kube CA")
        serving = issue(
            certs, "apiserver", ca, common_name="kube-apiserver",
            ips=["127.0.0.1", "10.0.0.1"],
            dns=["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"],
        )  # fmt: skip
        sa_key, sa_pub = rsa_key_pair(certs, "service-account")
        self.ca_file = ca.cert
        self.token = secrets.token_hex(24)
        tokens = certs / "tokens.csv"
        tokens.write_text(f'{self.token},admin,springhead-testinfra-admin,"system:masters"\n')
        tokens.chmod(0o600)
        self.kubeconfig = self.run_dir / "kubeconfig"
        self._write_kubeconfig()

        peer_url = f"http://127.0.0.1:{peer_port}"
        self._etcd = ManagedProcess(
            f"etcd {versions.ETCD_VERSION}",
            [
                self.etcd_bin, "--name", "springhead", "--data-dir", self.run_dir / "etcd-data",
                "--listen-client-urls", self.etcd_url, "--advertise-client-urls", self.etcd_url,
                "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
                "--initial-cluster", f"springhead={peer_url}", "--initial-cluster-state", "new",
                "--unsafe-no-fsync", "--log-level", "warn", "--log-outputs", "stderr",
            ],
            log_path=self.etcd_log,
            cwd=self.run_dir,
        )  # fmt: skip
        self._apiserver = ManagedProcess(
            f"kube-apiserver {versions.KUBERNETES_VERSION}",
            [
                self.apiserver_bin,
                f"--etcd-servers={self.etcd_url}",
                "--bind-address=127.0.0.1",
                f"--secure-port={api_port}",
                f"--cert-dir={certs}",
                f"--tls-cert-file={serving.cert}",
                f"--tls-private-key-file={serving.key}",
                f"--client-ca-file={ca.cert}",
                f"--token-auth-file={tokens}",
                "--authorization-mode=RBAC",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--allow-privileged=true",
                f"--service-account-issuer={self.api_url}",
                f"--service-account-key-file={sa_pub}",
                f"--service-account-signing-key-file={sa_key}",
                "--disable-admission-plugins=ServiceAccount",
                "--profiling=false",
                *_advertise_flags(),
            ],
            log_path=self.apiserver_log,
            cwd=self.run_dir,
        )

    def __repr__(self) -> str:
        return f"<KubeCluster {self.api_url} etcd={self.etcd_url} run_dir={self.run_dir}>"

    def _write_kubeconfig(self) -> None:
        # JSON is YAML: every kubeconfig reader (client-go, Helm, the Python client) accepts it.
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "springhead-testinfra",
                    "cluster": {"server": self.api_url, "certificate-authority": str(self.ca_file)},
                }
            ],
            "users": [{"name": "admin", "user": {"token": self.token}}],
            "contexts": [
                {
                    "name": "springhead-testinfra",
                    "context": {
                        "cluster": "springhead-testinfra",
                        "user": "admin",
                        "namespace": "default",
                    },
                }
            ],
            "current-context": "springhead-testinfra",
        }
        self.kubeconfig.write_text(json.dumps(config, indent=2) + "\n")
        self.kubeconfig.chmod(0o600)

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Start etcd and the apiserver (whichever is not running) and wait until both are ready."""
        self.start_etcd()
        self.start_apiserver()

    def stop(self) -> None:
        """Stop the apiserver, then etcd (data is kept: :meth:`start` resumes)."""
        self.stop_apiserver()
        self._etcd.stop()

    def close(self) -> None:
        """Stop both and remove the run folder (kept if $SPRINGHEAD_TESTINFRA_KEEP_RUNS)."""
        self.stop()
        if not os.environ.get(KEEP_RUNS_ENV):
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def start_etcd(self, timeout: float = START_TIMEOUT_S) -> None:
        """Start etcd and wait until its /health says true."""
        if self._etcd.running:
            return
        progress(f"kube: starting etcd {versions.ETCD_VERSION} on {self.etcd_url}")
        self._etcd.start()
        wait_until(
            self._etcd_healthy,
            timeout=timeout,
            what=f"etcd at {self.etcd_url}/health",
            process=self._etcd,
        )

    def start_apiserver(self, timeout: float = START_TIMEOUT_S) -> None:
        """Start the apiserver (same port, certs and token) and wait for /readyz and "default"."""
        if self._apiserver.running:
            return
        if not self._etcd.running:
            raise ComponentError("start etcd before the apiserver (KubeCluster.start does both)")
        progress(f"kube: starting kube-apiserver {self.version} on {self.api_url}")
        self._apiserver.start()
        wait_until(
            lambda: self._get("/readyz")[0] == 200,
            timeout=timeout,
            what=f"kube-apiserver {self.api_url}/readyz",
            process=self._apiserver,
        )
        wait_until(
            lambda: self._get("/api/v1/namespaces/default")[0] == 200,
            timeout=timeout,
            what="the apiserver to create namespace 'default'",
            process=self._apiserver,
        )

    def stop_apiserver(self, timeout: float = 60.0) -> None:
        """Stop the apiserver (SIGTERM, then SIGKILL after ``timeout``); etcd keeps running."""
        self._apiserver.stop(timeout)

    def kill_apiserver(self) -> None:
        """Kill the apiserver at once (SIGKILL), as a crash would."""
        self._apiserver.kill()

    def restart_apiserver(self, timeout: float = START_TIMEOUT_S) -> None:
        """Stop and start the apiserver; clients keep the same URL, CA and token."""
        self.stop_apiserver()
        self.start_apiserver(timeout)

    @property
    def apiserver_running(self) -> bool:
        """Whether the apiserver process runs."""
        return self._apiserver.running

    @property
    def etcd_running(self) -> bool:
        """Whether the etcd process runs."""
        return self._etcd.running

    def log_tail(self, lines: int = 60) -> str:
        """Return the last lines of the apiserver's and etcd's logs."""
        return (
            f"--- {self.apiserver_log} ---\n{self._apiserver.log_tail(lines)}\n"
            f"--- {self.etcd_log} ---\n{self._etcd.log_tail(lines)}"
        )

    # -- etcd --------------------------------------------------------------------------------

    def etcd_revision(self) -> int:
        """Return etcd's current revision (the newest resourceVersion of any object)."""
        reply = self._etcd_call("/v3/kv/range", {"key": _b64("/"), "limit": 1, "keys_only": True})
        return int(reply["header"]["revision"])

    def compact(self, *, restart_apiserver: bool = True) -> int:
        """Compact etcd at its current revision and return that revision.

        Afterwards a watch (or an exact list) from any older resourceVersion gets 410 Gone.
        The apiserver's watch cache serves watches from memory and keeps events regardless of
        etcd's compaction, so by default the apiserver is restarted too: its cache starts again
        at the compacted revision and answers older resourceVersions with 410 as etcd does.
        """
        revision = self.etcd_revision()
        self._etcd_call("/v3/kv/compaction", {"revision": revision, "physical": True})
        if restart_apiserver and self._apiserver.running:
            self.restart_apiserver()
        return revision

    def _etcd_healthy(self) -> bool:
        with urllib.request.urlopen(f"{self.etcd_url}/health", timeout=5) as reply:  # noqa: S310
            return bool(json.loads(reply.read()).get("health") == "true")

    def _etcd_call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(  # noqa: S310 - http to the run's own etcd
            self.etcd_url + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:  # noqa: S310 - loopback
                result: dict[str, Any] = json.loads(reply.read())
        except urllib.error.HTTPError as exc:
            raise ComponentError(f"etcd {path} failed: {exc.code} {exc.read()!r}") from exc
        return result

    # -- apiserver ---------------------------------------------------------------------------

    def ssl_context(self) -> ssl.SSLContext:
        """Return a TLS context that trusts the apiserver's CA."""
        return ssl.create_default_context(cafile=str(self.ca_file))

    def _get(self, path: str) -> tuple[int, bytes]:
        request = urllib.request.Request(  # noqa: S310 - https to the run's own apiserver
            self.api_url + path, headers={"Authorization": f"Bearer {self.token}"}
        )
        try:
            with urllib.request.urlopen(  # noqa: S310 - https to the run's own apiserver
                request, timeout=10, context=self.ssl_context()
            ) as reply:
                return int(reply.status), reply.read()
        except urllib.error.HTTPError as exc:
            return int(exc.code), exc.read()

    def api_client(self) -> ApiClient:
        """Return a ``kubernetes.client.ApiClient`` for the admin (imports ``kubernetes``)."""
        from kubernetes import config

        client: ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call, unused-ignore]
            config_file=str(self.kubeconfig)
        )
        return client


def _has_default_route() -> bool:
    """Tell whether the host has a default route (IPv4 or IPv6), per /proc/net."""
    try:
        ipv4 = Path("/proc/net/route").read_text().splitlines()[1:]
        ipv6 = Path("/proc/net/ipv6_route").read_text().splitlines()
    except OSError:
        return True  # cannot tell: let the apiserver decide
    for fields in map(str.split, ipv4):  # Iface Destination Gateway ...
        if len(fields) > 1 and fields[1] == "00000000" and fields[0] != "lo":
            return True
    for fields in map(str.split, ipv6):  # destination prefix-length ... interface
        if len(fields) > 2 and fields[0] == "0" * 32 and fields[1] == "00" and fields[-1] != "lo":
            return True
    return False


def _advertise_flags() -> list[str]:
    """Flags for hosts without a default route.

    The apiserver advertises the address of the default route's interface; a loopback
    ``--advertise-address`` is refused ("may not be in the loopback range"). Without a default
    route, advertise a documentation address (TEST-NET-1, never contacted) and do not publish
    it as the endpoints of the ``kubernetes`` Service.
    """
    if _has_default_route():
        return []
    return ["--advertise-address=192.0.2.10", "--endpoint-reconciler-type=none"]


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def start_kube() -> KubeCluster:
    """Obtain the binaries if needed, then make and start a cluster."""
    cluster = KubeCluster()
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    return cluster
