"""Controller benchmark against a real kube-apiserver (from springhead-testinfra).

    uv run --no-sync python bench/bench_controller.py [--subjects 200] [--watched 1000]

(g) SinkBinding fan-out: ``--watched`` Deployments exist, ``--subjects`` of them match a label
    selector; from the POST of a SinkBinding selecting them, how long until each one's pod
    template carries K_SINK (seen through a watch of our own), p50 / p99 / all. Baseline: the same
    number of JSON patches sent directly, at the controller's patch concurrency.
(h) RSS of the controller process: after its caches synced with ``--watched`` Deployments, and
    after binding the subjects. Baseline: a bare Python process that imported ``kubernetes``.

``bench/run.py`` can import :func:`bench_controller` and :func:`controller_lines`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from harness import log, rss_mib
from springhead.kube import KubeApiError, KubeClient
from springhead_testing import SourceProcess

SELECTED_LABEL = {"bench.springhead.dev/role": "emitter"}
PATCH_CONCURRENCY = 16


def kubernetes_import_rss() -> float:
    """RSS of a bare Python process after ``import kubernetes`` (the floor of any kube client)."""
    code = (
        "import asyncio, sys, kubernetes.client, kubernetes.config; "
        "sys.stdout.write('ready\\n'); sys.stdout.flush(); sys.stdin.read()"
    )
    process = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed code
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    if process.stdout is None or process.stdin is None:  # pragma: no cover - PIPE given
        raise RuntimeError("no pipes to the baseline process")
    process.stdout.readline()
    rss = rss_mib(process.pid)
    process.stdin.close()
    process.wait()
    return rss


def deployment(name: str, labels: dict[str, str]) -> dict[str, Any]:
    """A typical small Deployment: one container with a few variables, ports and resources."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name, **labels}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name, **labels}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": f"registry.example/{name}:1.0",
                            "env": [
                                {"name": "LOG_LEVEL", "value": "info"},
                                {"name": "REGION", "value": "eu-west-1"},
                                {"name": "FEATURES", "value": "a,b,c"},
                            ],
                            "ports": [{"containerPort": 8080, "name": "http"}],
                            "resources": {
                                "requests": {"cpu": "50m", "memory": "64Mi"},
                                "limits": {"memory": "128Mi"},
                            },
                        }
                    ]
                },
            },
        },
    }


def in_parallel(function: Callable[[Any], Any], items: list[Any], workers: int) -> None:
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(function, items))


class BoundWatch:
    """Watches the namespace's Deployments; records when each first carries K_SINK."""

    def __init__(self, client: KubeClient, namespace: str, resource_version: str) -> None:
        self.seen: dict[str, float] = {}
        self._path = f"/apis/apps/v1/namespaces/{namespace}/deployments"
        self._params = {"resourceVersion": resource_version, "timeoutSeconds": "600"}
        self._client = client
        self._stream: Any = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self._stream = self._client.watch(self._path, self._params, read_timeout=660)
        try:
            for event in self._stream:
                obj = event.get("object") or {}
                name = (obj.get("metadata") or {}).get("name")
                containers = (
                    obj.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
                )
                bound = any(
                    v.get("name") == "K_SINK" for c in containers for v in c.get("env") or ()
                )
                if bound and name not in self.seen:
                    self.seen[name] = time.time()
        except KubeApiError:
            pass

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()


def quantile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def bench_controller(subjects: int = 200, watched: int = 1000) -> dict[str, float]:
    """Run scenarios (g) and (h) on a fresh kube-apiserver; return the figures."""
    from springhead_testinfra.kube import start_kube

    log("controller: starting etcd + kube-apiserver")
    kube = await asyncio.to_thread(start_kube)
    client = KubeClient(kube.api_client())
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    try:
        client.request(
            "POST",
            "/api/v1/namespaces",
            body={"metadata": {"name": namespace}, "kind": "Namespace"},
        )
        path = f"/apis/apps/v1/namespaces/{namespace}/deployments"
        log(f"controller: creating {watched} Deployments ({subjects} selected)")
        objects = [
            deployment(f"d{i:04d}", SELECTED_LABEL if i < subjects else {"bench": "other"})
            for i in range(watched)
        ]
        await asyncio.to_thread(
            in_parallel, lambda obj: client.request("POST", path, body=obj), objects, 16
        )
        env = {
            "CONTROLLER_KUBECONFIG": str(kube.kubeconfig),
            "CONTROLLER_PATCH_CONCURRENCY": str(PATCH_CONCURRENCY),
            "NAMESPACE": "default",
            "SPRINGHEAD_PORT": "0",
            "SPRINGHEAD_HOST": "127.0.0.1",
        }
        async with SourceProcess("springhead_controller", env) as controller:
            await controller.wait_for_log("caches synced", timeout=120)
            if controller.process is None:  # pragma: no cover - started above
                raise RuntimeError("the controller process is not running")
            await asyncio.sleep(2)  # let the process settle after the initial lists
            rss_synced = rss_mib(controller.process.pid)
            listed = client.get(path, {"limit": "1"})
            watch = BoundWatch(client, namespace, listed["metadata"]["resourceVersion"])
            await asyncio.sleep(0.5)  # the watch is open before the binding exists
            binding = {
                "apiVersion": "sources.knative.dev/v1",
                "kind": "SinkBinding",
                "metadata": {"name": "fan-out"},
                "spec": {
                    "subject": {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "selector": {"matchLabels": SELECTED_LABEL},
                    },
                    "sink": {"uri": "http://display.example.com/"},
                },
            }
            log(f"controller: binding {subjects} Deployments")
            started = time.time()
            client.request(
                "POST", f"/apis/sources.knative.dev/v1/namespaces/{namespace}/sinkbindings",
                body=binding,
            )  # fmt: skip
            deadline = time.monotonic() + 300
            while len(watch.seen) < subjects:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"only {len(watch.seen)} of {subjects} bound in 300 s")
                await asyncio.sleep(0.01)
            watch.close()
            rss_bound = rss_mib(controller.process.pid)
        latencies = sorted((t - started) * 1000 for t in watch.seen.values())
        baseline = await asyncio.to_thread(direct_patches, client, path, subjects)
        return {
            "subjects": subjects,
            "watched": watched,
            "p50_ms": statistics.median(latencies),
            "p99_ms": quantile(latencies, 99),
            "all_ms": latencies[-1],
            "baseline_all_ms": baseline,
            "rss_synced": rss_synced,
            "rss_bound": rss_bound,
            "rss_kubernetes_import": kubernetes_import_rss(),
        }
    finally:
        client.close()
        await asyncio.to_thread(kube.close)


def direct_patches(client: KubeClient, path: str, count: int) -> float:
    """Milliseconds to send ``count`` env JSON patches directly (the API server's own cost)."""
    operations = [
        {
            "op": "add",
            "path": "/spec/template/spec/containers/0/env/-",
            "value": {"name": "BASELINE", "value": "1"},
        }
    ]
    names = [f"d{i:04d}" for i in range(count)]
    started = time.perf_counter()
    in_parallel(
        lambda name: client.request(
            "PATCH", f"{path}/{name}", body=operations, content_type="application/json-patch+json"
        ),
        names,
        PATCH_CONCURRENCY,
    )
    return (time.perf_counter() - started) * 1000


def controller_lines(result: dict[str, float]) -> list[str]:
    """The RESULTS.md section of scenarios (g) and (h)."""
    ok = "meets target"
    rss_ok = ok if result["rss_bound"] <= 100 else "**misses target**"
    return [
        "## (g) SinkBinding fan-out: binding creation to every selected Deployment patched",
        "",
        f"{result['subjects']:.0f} of {result['watched']:.0f} Deployments match the binding's "
        "selector; times from the POST of the SinkBinding until a watch sees K_SINK in each "
        "Deployment's template. Baseline: the same number of JSON patches sent directly at the "
        f"controller's patch concurrency ({PATCH_CONCURRENCY}).",
        "",
        "| subjects | p50 ms | p99 ms | all patched ms | direct patches ms |",
        "|---:|---:|---:|---:|---:|",
        f"| {result['subjects']:.0f} | {result['p50_ms']:.0f} | {result['p99_ms']:.0f} | "
        f"{result['all_ms']:.0f} | {result['baseline_all_ms']:.0f} |",
        "",
        f"## (h) Controller RSS watching {result['watched']:.0f} Deployments",
        "",
        "Target: <= 100 MiB. Baseline: bare Python after `import kubernetes`.",
        "",
        "| synced MiB | after binding MiB | `import kubernetes` MiB | |",
        "|---:|---:|---:|---|",
        f"| {result['rss_synced']:.1f} | {result['rss_bound']:.1f} | "
        f"{result['rss_kubernetes_import']:.1f} | {rss_ok} |",
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--subjects", type=int, default=200)
    parser.add_argument("--watched", type=int, default=1000)
    args = parser.parse_args()
    result = asyncio.run(bench_controller(args.subjects, args.watched))
    sys.stdout.write("\n".join(controller_lines(result)) + "\n")


if __name__ == "__main__":
    main()
