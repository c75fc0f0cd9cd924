"""ApiServer source benchmarks on the real kube-apiserver, each with a baseline of the same run.

    uv run --no-sync python bench/bench_apiserver.py [--quick] [--objects N]

Scenarios (the target in brackets):

(i1) RSS of the source watching N (10,000) ConfigMaps, after the first list and at its peak
     under load, Reference and Resource mode [Reference <= 120 MiB]. Baselines: a bare Python
     process that imported the kubernetes client, and a bare kubernetes-client watcher that
     keeps the same objects as the client's typed models (what a hand-written informer does).
(i2) End-to-end latency from an API write to the sink acknowledging the event, p50/p99, at a
     steady 100 changes/s after a 2 s warm-up [p99 <= 100 ms]. Baseline: the same writes seen by
     the bare kubernetes-client watch (write -> watch event), measured at the same time.
(i3) A burst of 5,000 changes written as fast as the API server takes them: time from the first
     write to the last event acknowledged by the sink, against the time until the bare watch saw
     the last of them.

Every process - etcd, kube-apiserver, the source, the sink, the bare watcher and the writer - runs
on the same machine. Times are wall-clock (``time.time()``) taken in each process; the sink and
the watcher record arrival times, the writer the moment before each request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from harness import HERE, p99, rss_mib, verdict

UPDATE = "dev.knative.apiserver.ref.update"


def log(message: str) -> None:
    sys.stderr.write(f"[bench apiserver] {message}\n")
    sys.stderr.flush()


# --- helper processes ----------------------------------------------------------------------


def run_bare_watch(kubeconfig: str, namespace: str) -> None:
    """``bench_apiserver.py _watch``: the baseline - list into typed models, watch, print
    ``uid rv type time`` per event."""
    from kubernetes import client, config, watch

    api = config.new_client_from_config(config_file=kubeconfig)
    core = client.CoreV1Api(api)
    listing = core.list_namespaced_config_map(namespace)
    cache = {o.metadata.uid: o for o in listing.items}
    resource_version = listing.metadata.resource_version
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    stream = watch.Watch()
    while True:
        for event in stream.stream(
            core.list_namespaced_config_map,
            namespace,
            resource_version=resource_version,
            timeout_seconds=300,
        ):
            now = time.time()
            obj = event["object"]
            uid, resource_version = obj.metadata.uid, obj.metadata.resource_version
            if event["type"] == "DELETED":
                cache.pop(uid, None)
            else:
                cache[uid] = obj
            sys.stdout.write(f"{uid} {resource_version} {event['type']} {now}\n")
            sys.stdout.flush()


class BareWatcher:
    """The baseline watcher as a child process; its observations land in :attr:`seen`."""

    def __init__(self, kubeconfig: str, namespace: str) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - this interpreter, this script
            [sys.executable, __file__, "_watch", kubeconfig, namespace],
            stdout=subprocess.PIPE,
            text=True,
        )
        if self.process.stdout is None or self.process.stdout.readline().strip() != "ready":
            raise RuntimeError("the bare watcher did not start")
        self.seen: dict[tuple[str, str], float] = {}
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout or ():
            uid, version, _, at = line.split()
            self.seen[(uid, version)] = float(at)

    def close(self) -> None:
        self.process.terminate()
        self.process.wait()


class TimingSink:
    """bench/fast_sink.py as a child process, recording each event's arrival time."""

    def __init__(self) -> None:
        fast_sink = HERE / "fast_sink.py"
        self.process = subprocess.Popen(  # noqa: S603 - this interpreter, our script
            [sys.executable, str(fast_sink), "--record-arrivals"], stdout=subprocess.PIPE, text=True
        )
        port = self.process.stdout.readline() if self.process.stdout else ""
        self.url = f"http://127.0.0.1:{int(port)}/"

    async def received(self) -> dict[str, float]:
        import aiohttp

        async with aiohttp.ClientSession() as session, session.get(self.url + "received") as r:
            data: dict[str, float] = await r.json()
            return data

    async def wait_for(self, ids: set[str], timeout: float) -> dict[str, float]:
        deadline = time.monotonic() + timeout
        while True:
            received = await self.received()
            if ids <= received.keys():
                return received
            if time.monotonic() > deadline:
                missing = len(ids - received.keys())
                raise RuntimeError(f"{missing} of {len(ids)} events never reached the sink")
            await asyncio.sleep(0.2)  # polling a child process's counter in a benchmark

    def close(self) -> None:
        self.process.terminate()
        self.process.wait()


# --- the writer ------------------------------------------------------------------------------


class Writer:
    """Patches ConfigMaps through the raw-JSON client from a thread pool, recording for each
    change the wall time just before its request and the id its event must carry."""

    def __init__(self, client: Any, namespace: str, names: list[str], threads: int = 32) -> None:
        self.client = client
        self.namespace = namespace
        self.names = names
        self.pool = ThreadPoolExecutor(threads)
        self.started: dict[str, float] = {}
        self.versions: dict[str, tuple[str, str]] = {}

    def _patch(self, n: int) -> None:
        from springhead_apiserver.mapping import event_id

        name = self.names[n % len(self.names)]
        path = f"/api/v1/namespaces/{self.namespace}/configmaps/{name}"
        started = time.time()
        obj = self.client.request(
            "PATCH",
            path,
            body={"data": {"n": str(n)}},
            content_type="application/merge-patch+json",
        )
        uid, version = obj["metadata"]["uid"], obj["metadata"]["resourceVersion"]
        id_ = event_id(uid, version, UPDATE)
        self.started[id_] = started
        self.versions[id_] = (uid, version)

    async def paced(self, rate: float, count: int, offset: int) -> list[str]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        before = set(self.started)
        futures = []
        for i in range(count):
            delay = start + i / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)  # pacing the load generator
            futures.append(loop.run_in_executor(self.pool, self._patch, offset + i))
        await asyncio.gather(*futures)
        return [i for i in self.started if i not in before]

    async def burst(self, count: int, offset: int) -> tuple[list[str], float]:
        loop = asyncio.get_running_loop()
        before = set(self.started)
        started = time.time()
        await asyncio.gather(
            *(loop.run_in_executor(self.pool, self._patch, offset + i) for i in range(count))
        )
        return [i for i in self.started if i not in before], time.time() - started


def create_configmaps(client: Any, namespace: str, count: int) -> list[str]:
    names = [f"cm-{i:05d}" for i in range(count)]
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    payload = "x" * 200

    def create(name: str) -> None:
        client.request(
            "POST",
            path,
            body={"metadata": {"name": name, "labels": {"app": "bench"}}, "data": {"p": payload}},
        )

    with ThreadPoolExecutor(32) as pool:
        list(pool.map(create, names))
    return names


def bare_kubernetes_rss() -> float:
    code = (
        "import asyncio, sys, kubernetes.client, kubernetes.config, kubernetes.watch;"
        "sys.stdout.write('ready\\n'); sys.stdout.flush(); sys.stdin.read()"
    )
    process = subprocess.Popen(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    stdout, stdin = process.stdout, process.stdin
    if stdout is None or stdin is None:
        raise RuntimeError("no pipes to the bare Python process")
    stdout.readline()
    rss = rss_mib(process.pid)
    stdin.close()
    process.wait()
    return rss


# --- the scenarios ---------------------------------------------------------------------------


async def start_source(
    kube: Any, sink: TimingSink, namespace: str, mode: str, *, state: bool = True
) -> Any:
    from springhead_testing import SourceProcess, adapter_env

    env = adapter_env(
        sink.url,
        # The source lives (and keeps its state ConfigMap) beside the watched namespace.
        NAMESPACE=f"{namespace}-home",
        APISERVER_NAMESPACES=namespace,
        NAME="bench",
        APISERVER_KUBECONFIG=str(kube.kubeconfig),
        APISERVER_RESOURCES=json.dumps([{"apiVersion": "v1", "kind": "ConfigMap"}]),
        APISERVER_MODE=mode,
        **({"APISERVER_STATE_CONFIGMAP": f"bench-state-{mode.lower()}"} if state else {}),
        SPRINGHEAD_DELIVERY_RETRY="0",
    )
    source = SourceProcess("springhead_apiserver", env)
    await source.start(timeout=60)
    await source.wait_for_log("all watches in sync", timeout=300)
    return source


def dump(path: str, started: list[float], source: list[float], bare: list[float]) -> None:
    """Write (start, source ms, bare ms) per change, for a closer look at the tail."""
    Path(path).write_text(json.dumps(list(zip(started, source, bare, strict=True))))


def latencies_ms(ids: list[str], started: dict[str, float], seen: dict[str, float]) -> list[float]:
    return [(seen[i] - started[i]) * 1000 for i in ids]


async def bench_apiserver(
    *, objects: int = 10_000, quick: bool = False, state: bool = True, dump_to: str = ""
) -> dict[str, Any]:
    """Run (i1)-(i3); returns the figures. ``state``: the source persists its position (as in
    production); ``dump_to``: a file for every change's latencies."""
    from springhead.kube import KubeClient
    from springhead_testinfra.kube import start_kube

    steady_seconds, burst = (5, 1000) if quick else (30, 5000)
    log("starting etcd + kube-apiserver (springhead-testinfra)")
    kube = await asyncio.to_thread(start_kube)
    client = KubeClient.from_kubeconfig(str(kube.kubeconfig))
    sink = TimingSink()
    result: dict[str, Any] = {"objects": objects, "version": kube.version}
    try:
        namespace = f"bench-{uuid.uuid4().hex[:6]}"
        for name in (namespace, f"{namespace}-home"):
            client.request("POST", "/api/v1/namespaces", body={"metadata": {"name": name}})
        log(f"creating {objects} ConfigMaps")
        began = time.perf_counter()
        names = await asyncio.to_thread(create_configmaps, client, namespace, objects)
        log(f"created in {time.perf_counter() - began:.1f}s")

        result["bare_import_rss"] = bare_kubernetes_rss()
        watcher = await asyncio.to_thread(BareWatcher, str(kube.kubeconfig), namespace)
        result["bare_watch_rss"] = rss_mib(watcher.process.pid)

        source = await start_source(kube, sink, namespace, "Reference", state=state)
        pid = source.process.pid
        result["rss_synced"] = rss_mib(pid)
        log(f"source in sync: {result['rss_synced']:.1f} MiB")

        writer = Writer(client, namespace, names)
        rate = 100.0
        log("warm-up: 2 s of changes, not measured")
        warm_up = await writer.paced(rate, int(rate * 2), 0)
        await sink.wait_for(set(warm_up), timeout=120)
        log(f"(i2) steady {rate:.0f} changes/s for {steady_seconds}s")
        steady = await writer.paced(rate, int(rate * steady_seconds), len(warm_up))
        received = await sink.wait_for(set(steady), timeout=120)
        steady_source = latencies_ms(steady, writer.started, received)
        seen = {i: watcher.seen[writer.versions[i]] for i in steady}
        steady_bare = latencies_ms(steady, writer.started, seen)
        if dump_to:
            dump(dump_to, [writer.started[i] for i in steady], steady_source, steady_bare)
        result.update(
            rate=rate,
            steady_count=len(steady),
            source_p50=statistics.median(steady_source),
            source_p99=p99(steady_source),
            bare_p50=statistics.median(steady_bare),
            bare_p99=p99(steady_bare),
        )
        log(
            f"latency p50/p99: source {result['source_p50']:.1f}/{result['source_p99']:.1f} ms,"
            f" bare watch {result['bare_p50']:.1f}/{result['bare_p99']:.1f} ms"
        )

        log(f"(i3) burst of {burst} changes")
        burst_ids, write_seconds = await writer.burst(burst, len(warm_up) + len(steady))
        first = min(writer.started[i] for i in burst_ids)
        received = await sink.wait_for(set(burst_ids), timeout=600)
        while not all(writer.versions[i] in watcher.seen for i in burst_ids):  # noqa: ASYNC110
            await asyncio.sleep(0.1)  # the reader thread is still catching up
        result.update(
            burst=len(burst_ids),
            burst_writes=write_seconds,
            burst_source=max(received[i] for i in burst_ids) - first,
            burst_bare=max(watcher.seen[writer.versions[i]] for i in burst_ids) - first,
            rss_peak=rss_mib(pid, "VmHWM"),
            rss_after=rss_mib(pid),
        )
        log(
            f"burst: writes {write_seconds:.1f}s, sink has all after "
            f"{result['burst_source']:.1f}s, bare watch after {result['burst_bare']:.1f}s"
        )
        await source.stop()
        watcher.close()

        resource = await start_source(kube, sink, namespace, "Resource", state=state)
        result["rss_resource_synced"] = rss_mib(resource.process.pid)
        await resource.stop()
        log(f"Resource mode in sync: {result['rss_resource_synced']:.1f} MiB")
    finally:
        sink.close()
        client.close()
        await asyncio.to_thread(kube.close)
    return result


def apiserver_lines(r: dict[str, Any]) -> list[str]:
    """The results as Markdown, in bench/RESULTS.md's style."""
    return [
        "## (i) ApiServer source (real kube-apiserver " + str(r["version"]) + ")",
        "",
        f"### (i1) RSS watching {r['objects']:,} ConfigMaps",
        "",
        "Target: Reference mode <= 120 MiB. Baselines: a bare Python importing the kubernetes "
        "client; a bare kubernetes-client watcher keeping the same objects as typed models.",
        "",
        "| process | RSS MiB | |",
        "|---|---:|---|",
        f"| source, Reference mode, after the first list | {r['rss_synced']:.1f} | "
        f"{verdict(r['rss_synced'] <= 120)} |",
        f"| source, Reference mode, peak under load (VmHWM) | {r['rss_peak']:.1f} | "
        f"{verdict(r['rss_peak'] <= 120)} |",
        f"| source, Resource mode (whole objects kept), after the first list | "
        f"{r['rss_resource_synced']:.1f} | |",
        f"| bare kubernetes-client watcher, typed models | {r['bare_watch_rss']:.1f} | |",
        f"| bare Python + `import kubernetes` | {r['bare_import_rss']:.1f} | |",
        "",
        f"### (i2) Latency, API write -> sink acknowledged, {r['rate']:.0f} changes/s",
        "",
        f"Target: p99 <= 100 ms. {r['steady_count']:,} changes to random ConfigMaps among "
        f"{r['objects']:,}; baseline: the same writes as seen by the bare watch (write -> event).",
        "",
        "| path | p50 ms | p99 ms | |",
        "|---|---:|---:|---|",
        f"| write -> source -> sink acknowledged | {r['source_p50']:.1f} | {r['source_p99']:.1f}"
        f" | {verdict(r['source_p99'] <= 100)} |",
        f"| write -> bare watch event | {r['bare_p50']:.1f} | {r['bare_p99']:.1f} | |",
        "",
        f"### (i3) Burst of {r['burst']:,} changes",
        "",
        "Times from the first write; the writer uses 32 threads.",
        "",
        "| | seconds |",
        "|---|---:|",
        f"| all writes answered by the API server | {r['burst_writes']:.2f} |",
        f"| bare watch has seen the last change | {r['burst_bare']:.2f} |",
        f"| sink has acknowledged the last event | {r['burst_source']:.2f} |",
        "",
    ]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer objects and changes")
    parser.add_argument("--objects", type=int, default=None, help="ConfigMaps watched")
    parser.add_argument("--no-state", action="store_true", help="run without a state ConfigMap")
    parser.add_argument("--dump", help="write (start, source ms, bare ms) per change to this file")
    args = parser.parse_args()
    objects = args.objects or (1000 if args.quick else 10_000)
    random.seed(1)
    result = await bench_apiserver(
        objects=objects, quick=args.quick, state=not args.no_state, dump_to=args.dump or ""
    )
    sys.stdout.write("\n".join(apiserver_lines(result)) + "\n")
    sys.stdout.write(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    if sys.argv[1:2] == ["_watch"]:
        run_bare_watch(sys.argv[2], sys.argv[3])
    else:
        asyncio.run(main())
