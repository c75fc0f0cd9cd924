"""The multi-tenant ping against Knative's mtping, measured in one run on one machine.

    uv run python bench/mtping.py [--counts 1,100,1000] [--seconds 120] [--output FILE]
                                  [--only springhead,mtping,floor] [--knative-binary PATH]
                                  [--separate-sink]

Knative's mtping is built from the Go module proxy (``knative.dev/eventing``'s ``cmd/mtping`` at
:data:`KNATIVE_VERSION`) into the test-stack cache; its code is never part of this repository.
Both run against one real kube-apiserver + etcd (testinfra) holding the PingSource CRD (the
controller's, Knative's schema) and N PingSources with the schedule :data:`SCHEDULE`, each
Ready with ``status.sinkUri`` pointing at one loopback sink (the bench writes the status a
controller would). Each implementation runs alone, leader election on (one replica), for
``--seconds``; then:

- RSS of the process at the end (and its peak, VmHWM);
- CPU time of the process (user + system) per tick over the window: what one burst of N costs
  it, idle work between ticks included. Unlike lateness it hardly depends on what else runs on
  the machine;
- lateness: sink receipt minus the scheduled tick, p50 / p99 / max, for every tick in the
  measured window (after the first full round, before the last second);
- missed and duplicated ticks: per PingSource, every tick of the window must arrive once. mtping
  sends a random id per event and no ``time``, so a tick is told by its source and the schedule
  period the receipt falls in (lateness stays far below the period).

The floor (``floor``): the same sink receiving, at the same instants, N POSTs fired together from
a bare aiohttp client in a process of its own (``bench/burst_sender.py``; no Kubernetes, no
schedule, requests built before the tick): the least any Python sender on this stack costs for a
burst of N. The table's last column is the implementation's lateness p99 divided by the floor's
at the same N.

Prints a Markdown table; ``--output`` also writes it to a file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from harness import knative_binary
from springhead.kube import KubeApiError, KubeClient
from springhead_controller.crds import install_crds
from springhead_testinfra.kube import KubeCluster, start_kube
from springhead_testing import RecordingSink, SourceProcess

KNATIVE_VERSION = "v0.47.0"
PACKAGE = "knative.dev/eventing/cmd/mtping"
#: Every 10 seconds, as the issue's first measurement.
SCHEDULE = "*/10 * * * * *"
PERIOD = 10
SYSTEM_NAMESPACE = "knative-eventing"
_SOURCES = "/apis/sources.knative.dev/v1/namespaces/{namespace}/pingsources"


def log(message: str) -> None:
    sys.stderr.write(f"[bench mtping] {message}\n")
    sys.stderr.flush()


#: ``--knative-binary``: an mtping built already (from the same module proxy).
PREBUILT: list[Path] = []


def knative_mtping() -> Path:
    """Knative's mtping binary, built once into the cache."""
    return PREBUILT[0] if PREBUILT else knative_binary(PACKAGE, KNATIVE_VERSION, "mtping")


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ensure(client: KubeClient, path: str, body: dict[str, Any]) -> None:
    try:
        client.request("POST", path, body=body)
    except KubeApiError as exc:
        if exc.status != 409:
            raise


def prepare(client: KubeClient) -> None:
    """The CRD, the system namespace and the ConfigMaps mtping reads there."""
    install_crds(client)
    ensure(client, "/api/v1/namespaces", {"metadata": {"name": SYSTEM_NAMESPACE}})
    for name in ("config-logging", "config-observability", "config-tracing", "config-features"):
        ensure(
            client,
            f"/api/v1/namespaces/{SYSTEM_NAMESPACE}/configmaps",
            {"metadata": {"name": name}, "data": {}},
        )


def create_ping_sources(client: KubeClient, namespace: str, count: int, sink: str) -> None:
    """``count`` Ready PingSources firing :data:`SCHEDULE` into ``sink``."""
    ensure(client, "/api/v1/namespaces", {"metadata": {"name": namespace}})
    path = _SOURCES.format(namespace=namespace)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for index in range(count):
        name = f"ping-{index:05d}"
        created = client.request(
            "POST",
            path,
            body={
                "apiVersion": "sources.knative.dev/v1",
                "kind": "PingSource",
                "metadata": {"name": name},
                "spec": {
                    "schedule": SCHEDULE,
                    "contentType": "application/json",
                    "data": json.dumps({"n": index}),
                    "sink": {"uri": sink},
                },
            },
        )
        ready = {"type": "Ready", "status": "True", "lastTransitionTime": now}
        created["status"] = {
            "observedGeneration": created["metadata"].get("generation", 1),
            "sinkUri": sink,
            "conditions": [
                ready,
                {**ready, "type": "Deployed"},
                {**ready, "type": "SinkProvided"},
                {**ready, "type": "OIDCIdentityCreated"},
            ],
        }
        client.request("PUT", f"{path}/{name}/status", body=created)


def delete_ping_sources(client: KubeClient, namespace: str) -> None:
    client.request("DELETE", _SOURCES.format(namespace=namespace))


def springhead_process(kube: KubeCluster, lease: str) -> SourceProcess:
    env = {
        "NAMESPACE": "default",
        "NAME": "pingsource-mt-adapter",
        "K_COMPONENT": "pingsource-mt-adapter",
        "SPRINGHEAD_PORT": "0",
        "SPRINGHEAD_HOST": "127.0.0.1",
        "SPRINGHEAD_EVENT_LOOP": "asyncio",
        "PING_MULTI_TENANT": "true",
        "PING_LEADER_ELECTION": "true",
        "PING_LEASE_NAME": lease,
        "PING_KUBECONFIG": str(kube.kubeconfig),
    }
    return SourceProcess("springhead_ping", env)


def mtping_command(kube: KubeCluster) -> tuple[list[str], dict[str, str]]:
    env = {
        "KUBECONFIG": str(kube.kubeconfig),
        "SYSTEM_NAMESPACE": SYSTEM_NAMESPACE,
        "NAMESPACE": SYSTEM_NAMESPACE,
        "POD_NAME": "pingsource-mt-adapter-bench",
        "CONTAINER_NAME": "dispatcher",
        "K_COMPONENT": "pingsource-mt-adapter",
        "K_LOGGING_CONFIG": "",
        "K_LEADER_ELECTION_CONFIG": "",
        "K_NO_SHUTDOWN_AFTER": "0",
        "K_SINK_TIMEOUT": "-1",
        "METRICS_DOMAIN": "knative.dev/eventing",
        "HOME": str(Path.home()),
    }
    return [str(knative_mtping())], env


class Arrivals:
    """The sink's record: ``(ce-source, arrival wall clock)`` per event, in arrival order.

    In the bench's process (a :class:`RecordingSink`), or with ``--separate-sink`` in a process of
    its own (``bench/fast_sink.py --record-sources``), so that the sink's CPU is not the bench's.
    """

    def __init__(self, sink: RecordingSink | None, url: str) -> None:
        self.sink = sink
        self.url = url

    async def all(self) -> list[tuple[str, float]]:
        if self.sink is not None:
            return [(r.event.get_source(), r.received_wall) for r in self.sink.accepted]
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{self.url}arrivals") as response:
                return [(str(s), float(t)) for s, t in await response.json()]

    async def count(self) -> int:
        if self.sink is not None:
            return len(self.sink.accepted)
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{self.url}count") as response:
                return int(await response.text())

    async def wait_for(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while await self.count() < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"fewer than {count} events arrived in {timeout}s")
            await asyncio.sleep(0.2)


def analyse(
    arrivals: list[tuple[str, float]], count: int, start: float, end: float
) -> dict[str, float]:
    """Lateness and missed/duplicated ticks of the events received for ticks in
    [start, end] (epoch seconds, on the schedule's boundaries)."""
    seen: Counter[tuple[str, int]] = Counter()
    lateness: list[float] = []
    for source, wall in arrivals:
        tick = int(wall // PERIOD) * PERIOD
        if not start <= tick <= end:
            continue
        seen[(source, tick)] += 1
        lateness.append((wall - tick) * 1000)
    ticks = list(range(int(start), int(end) + 1, PERIOD))
    expected = count * len(ticks)
    missed = expected - len(seen)
    duplicated = sum(n - 1 for n in seen.values())
    quantiles = (
        statistics.quantiles(lateness, n=100, method="inclusive")
        if len(lateness) > 1
        else [0.0] * 99
    )
    return {
        "ticks": float(len(lateness)),
        "expected": float(expected),
        "missed": float(missed),
        "duplicated": float(duplicated),
        "p50": statistics.median(lateness) if lateness else 0.0,
        "p99": quantiles[98],
        "max": max(lateness) if lateness else 0.0,
    }


async def measure(
    which: str, kube: KubeCluster, sink: Arrivals, count: int, seconds: int
) -> dict[str, float]:
    already = await sink.count()
    lease = f"bench-{which}-{count}-{int(time.time())}"
    if which == "springhead":
        process = springhead_process(kube, lease)
    elif which == "floor":
        command = [sys.executable, str(Path(__file__).parent / "burst_sender.py"), str(count)]
        process = SourceProcess("floor", {}, command=[*command, sink.url], inherit=())
    else:
        command, env = mtping_command(kube)
        process = SourceProcess("mtping", env, command=command, inherit=())
    started = time.time()
    if which == "springhead":
        await process.start(timeout=120)
    else:
        await mtping_start(process)  # (the floor too: neither logs Springhead's JSON)
    try:
        # The first full round: every PingSource fired once.
        await sink.wait_for(already + count, timeout=120)
        first_round = (await sink.all())[already : already + count]
        window_start = (int(max(wall for _, wall in first_round) // PERIOD) + 1) * PERIOD
        log(f"{which} N={count}: loaded {time.time() - started:.1f}s after start; measuring")
        assert process.process is not None
        pid = process.process.pid
        # CPU between ticks: half a period before the window's first, after its last.
        await asyncio.sleep(max(0.0, window_start - PERIOD / 2 - time.time()))
        cpu_before = cpu_seconds(pid)
        await asyncio.sleep(max(0.0, window_start + seconds - time.time()))  # the measured run
        rss, peak = rss_mib(pid), rss_mib(pid, "VmHWM")
        window_end = int(time.time() // PERIOD) * PERIOD - PERIOD
        await asyncio.sleep(max(0.0, window_end + PERIOD / 2 - time.time()))
        cpu = (cpu_seconds(pid) - cpu_before) / ((window_end - window_start) // PERIOD + 1)
        await asyncio.sleep(max(0.0, window_end + PERIOD + 1 - time.time()))  # its last ticks in
    finally:
        await process.stop()
    result = analyse((await sink.all())[already:], count, window_start, window_end)
    result.update(rss=rss, peak=peak, n=float(count), cpu=cpu * 1000)
    log(f"{which} N={count}: {result}")
    return result


async def mtping_start(process: SourceProcess) -> None:
    """mtping logs in its own format: start it and wait until it is running (or exits)."""
    env = dict(process.env)
    process.process = await asyncio.create_subprocess_exec(
        *process.command,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    process._reader = asyncio.create_task(process._read_stderr())  # noqa: SLF001


def table(results: dict[str, list[dict[str, float]]]) -> str:
    lines = [
        "| N PingSources | implementation | RSS MiB (peak) | lateness p50 / p99 / max ms | "
        "ticks in window | missed | duplicated | p99 ÷ floor's | CPU ms per tick |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    floor = {row["n"]: row["p99"] for row in results.get("floor", [])}
    for which, rows in results.items():
        for row in rows:
            base = floor.get(row["n"])
            ratio = f"{row['p99'] / base:.2f}" if base and which != "floor" else "-"
            lines.append(
                f"| {row['n']:,.0f} | {which} | {row['rss']:.1f} ({row['peak']:.1f}) | "
                f"{row['p50']:.1f} / {row['p99']:.1f} / {row['max']:.1f} | "
                f"{row['ticks']:,.0f} of {row['expected']:,.0f} | {row['missed']:.0f} | "
                f"{row['duplicated']:.0f} | {ratio} | {row['cpu']:.0f} |"
            )
    return "\n".join(lines)


@contextlib.asynccontextmanager
async def arrivals_sink(separate: bool) -> AsyncIterator[Arrivals]:
    if not separate:
        async with RecordingSink() as sink:
            yield Arrivals(sink, sink.url)
        return
    process, port = await asyncio.to_thread(start_fast_sink)
    try:
        yield Arrivals(None, f"http://127.0.0.1:{port}/")
    finally:
        process.terminate()
        await asyncio.to_thread(process.wait, 30)


def start_fast_sink() -> tuple[subprocess.Popen[str], int]:
    """bench/fast_sink.py as a child process recording (source, arrival) pairs; its port."""
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).parent / "fast_sink.py"), "--record-sources"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    return process, int(process.stdout.readline())


async def main_async(counts: list[int], seconds: int, only: list[str], separate: bool) -> str:
    log("starting etcd + kube-apiserver")
    kube = await asyncio.to_thread(start_kube)
    client = KubeClient(kube.api_client())
    results: dict[str, list[dict[str, float]]] = {which: [] for which in only}
    try:
        await asyncio.to_thread(prepare, client)
        async with arrivals_sink(separate) as sink:
            for count in counts:
                namespace = f"bench-{count}"
                log(f"creating {count} PingSources")
                await asyncio.to_thread(create_ping_sources, client, namespace, count, sink.url)
                for which in only:
                    results[which].append(await measure(which, kube, sink, count, seconds))
                await asyncio.to_thread(delete_ping_sources, client, namespace)
    finally:
        client.close()
        await asyncio.to_thread(kube.close)
    return table(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="1,100,1000")
    parser.add_argument("--seconds", type=int, default=120)
    parser.add_argument("--only", default="springhead,mtping,floor")
    parser.add_argument("--output", type=Path)
    parser.add_argument("--knative-binary", type=Path)
    parser.add_argument(
        "--separate-sink", action="store_true", help="the sink in a process of its own"
    )
    args = parser.parse_args()
    if args.knative_binary:
        PREBUILT.append(args.knative_binary)
    counts = [int(c) for c in args.counts.split(",")]
    only = args.only.split(",")
    if "mtping" in only:
        knative_mtping()
    text = asyncio.run(main_async(counts, args.seconds, only, args.separate_sink))
    print(text)
    if args.output:
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()
