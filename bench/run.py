"""Springhead benchmarks: one command runs them all and rewrites bench/RESULTS.md.

    make bench        (or: uv run python bench/run.py [--quick] [--only LETTERS] [--output FILE])

Each scenario is compared with a baseline measured in the same run on the same machine:
(a) sender throughput vs raw aiohttp POSTs of the same bytes at the same concurrency;
(b) ping tick lateness (sink receipt minus scheduled tick) over at least 60 ticks;
(c) idle RSS of a running ping source vs a bare ``python -c 'import asyncio'`` process and vs its
    third-party dependencies imported alone;
(d) process start to /readyz ready vs the start of a bare Python interpreter;
(e) webhook sources end to end (client -> source -> sink acknowledged) vs the same client posting
    straight to the sink: throughput at increasing concurrency, added p99 latency at half the
    source's peak rate, RSS under load;
(f) receiver frameworks for the webhook sources (plain ASGI on uvicorn as the runtime serves,
    aiohttp.web, FastAPI on uvicorn): rate and server CPU per request;
(g) SinkBinding fan-out: binding creation to every selected Deployment patched (200 of 1,000),
    vs the same patches sent directly;
(h) controller RSS watching 1,000 Deployments vs a bare ``import kubernetes``;
(i) the ApiServer source on a real kube-apiserver: RSS watching 10,000 ConfigMaps vs a bare
    kubernetes-client watcher; write-to-sink latency at 100 changes/s and a 5,000-change burst vs
    a bare watch of the same writes;
(j) the Kafka source on a real Apache Kafka broker: delivered events/s for 1 and 4 partitions,
    ordered and unordered, vs the Sender alone posting the same events from memory to the same
    sink; RSS while draining a 1,000,000-record backlog.

``--only e,j`` runs some scenarios and keeps the other sections of the results file;
``--output FILE`` writes elsewhere than bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from cloudevents.core.v1.event import CloudEvent
from springhead.config import BackoffPolicy
from springhead.delivery import DeliveryPolicy
from springhead.sender import Sender
from springhead.webhook import sign
from springhead_testing import RecordingSink, SourceProcess, adapter_env

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "controller"))
from bench_controller import bench_controller, controller_lines  # noqa: E402

sys.path.insert(0, str(ROOT / "sources" / "apiserver"))
from bench_apiserver import apiserver_lines, bench_apiserver  # noqa: E402

RESULTS = HERE / "RESULTS.md"
PAYLOAD = b'{"message": "Hello from Springhead", "n": 12345, "tags": ["a", "b", "c"]}'


def log(message: str) -> None:
    sys.stderr.write(f"[bench] {message}\n")
    sys.stderr.flush()


# --- (a) sender throughput -------------------------------------------------------------------


class FastSink:
    """bench/fast_sink.py as a child process."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[str] | None = None
        self.url = ""

    def __enter__(self) -> FastSink:
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "fast_sink.py")], stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        port = int(self.process.stdout.readline())
        self.url = f"http://127.0.0.1:{port}/"
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self.process is not None
        self.process.terminate()
        self.process.wait()


async def run_concurrently(
    total: int, concurrency: int, one: Callable[[], Awaitable[None]]
) -> float:
    """Events per second doing ``one()`` ``total`` times with ``concurrency`` workers."""
    remaining = total

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await one()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total / (time.perf_counter() - started)


def make_event(n: int) -> CloudEvent:
    return CloudEvent(
        {
            "type": "dev.springhead.bench",
            "source": "/bench",
            "id": f"bench-{n}",
            "datacontenttype": "application/json",
        },
        PAYLOAD,
    )


async def sender_rate(url: str, total: int, concurrency: int) -> float:
    policy = DeliveryPolicy(retry=0, backoff_policy=BackoffPolicy.LINEAR, backoff_delay=0.01)
    async with Sender(sink=url, policy=policy, namespace="bench", max_connections=concurrency) as s:
        counter = iter(range(10**9))

        async def one() -> None:
            result = await s.send(make_event(next(counter)))
            if not result.accepted:
                raise RuntimeError(f"delivery failed: {result}")

        await run_concurrently(min(1000, total), concurrency, one)  # warm-up
        return await run_concurrently(total, concurrency, one)


async def raw_rate(url: str, total: int, concurrency: int) -> float:
    """The baseline: aiohttp POSTing the sender's exact bytes, prepared ahead of time."""
    async with Sender(sink=url) as encoder:
        message = encoder.encode(make_event(0))
    headers = {**message.headers, "Kn-Namespace": "bench"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> None:
            async with session.post(url, data=message.body, headers=headers) as response:
                await response.read()
                if response.status != 202:
                    raise RuntimeError(f"sink answered {response.status}")

        await run_concurrently(min(1000, total), concurrency, one)
        return await run_concurrently(total, concurrency, one)


async def bench_sender(total: int, rounds: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    with FastSink() as sink:
        for concurrency in (1, 16, 64):
            raw: list[float] = []
            ours: list[float] = []
            for _ in range(rounds):  # interleaved so drift hits both alike
                raw.append(await raw_rate(sink.url, total, concurrency))
                ours.append(await sender_rate(sink.url, total, concurrency))
            raw_median, ours_median = statistics.median(raw), statistics.median(ours)
            log(f"sender c={concurrency}: raw {raw_median:.0f}/s, sender {ours_median:.0f}/s")
            rows.append(
                {
                    "concurrency": concurrency,
                    "raw": raw_median,
                    "sender": ours_median,
                    "ratio": ours_median / raw_median,
                }
            )
    return rows


# --- (b) ping lateness, (c) idle RSS ----------------------------------------------------------


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


#: Says ready, then idles on asyncio's loop (no thread) until its stdin closes; argv[1:] are
#: modules to import first.
_IMPORT_AND_IDLE = """
import asyncio, importlib, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
async def idle():
    loop = asyncio.get_running_loop()
    closed = loop.create_future()
    loop.add_reader(sys.stdin.fileno(), lambda: closed.done() or closed.set_result(None))
    sys.stdout.write("ready\\n")
    sys.stdout.flush()
    await closed
asyncio.run(idle())
"""


def idle_rss(*modules: str) -> float:
    """RSS of an idle Python process on asyncio's loop that imported ``modules``."""
    process = subprocess.Popen(
        [sys.executable, "-c", _IMPORT_AND_IDLE, *modules],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdin is not None
    if process.stdout.readline() != "ready\n":
        raise RuntimeError(f"importing {len(modules)} modules failed")
    rss = rss_mib(process.pid)
    process.stdin.close()
    process.wait()
    return rss


def bare_python_rss() -> float:
    return idle_rss()


#: Prints every module importing argv[1] loads from outside the standard library and Springhead.
_LIST_IMPORTS = """
import importlib, sys
importlib.import_module(sys.argv[1])
stdlib = set(sys.stdlib_module_names)
for name in sorted(sys.modules):
    top = name.partition(".")[0]
    if top not in stdlib and not top.startswith(("_", "springhead", "cython_runtime")):
        print(name)
"""


def dependencies_rss(module: str) -> float:
    """RSS of an idle process that imported every third-party module ``module`` imports
    (submodules included) and no Springhead code: what the dependencies alone cost."""
    listed = subprocess.run(
        [sys.executable, "-c", _LIST_IMPORTS, module], capture_output=True, text=True, check=True
    )
    return idle_rss(*listed.stdout.split())


#: The ping image does not install uvloop, so it runs on asyncio's loop; the workspace has uvloop
#: (for the webhook and Kafka sources) and SPRINGHEAD_EVENT_LOOP=auto would pick it.
PING_AS_SHIPPED = {"SPRINGHEAD_EVENT_LOOP": "asyncio"}


async def bench_ping(ticks: int) -> dict[str, float]:
    async with RecordingSink() as sink:
        env = adapter_env(
            sink.url, PING_SCHEDULE="* * * * * *", PING_DATA="tick", **PING_AS_SHIPPED
        )
        async with SourceProcess("springhead_ping", env) as source:
            log(f"ping: collecting {ticks} ticks (one per second)")
            await sink.wait_for(ticks + 1, timeout=ticks * 2 + 30)
            assert source.process is not None
            rss = rss_mib(source.process.pid)
        lateness_ms = []
        for request in sink.accepted[1:]:  # the first tick may be the start-up's partial second
            scheduled = request.event.get_time()
            assert scheduled is not None
            lateness_ms.append((request.received_wall - scheduled.timestamp()) * 1000)
    quantiles = statistics.quantiles(lateness_ms, n=100, method="inclusive")
    return {
        "ticks": len(lateness_ms),
        "p50": statistics.median(lateness_ms),
        "p99": quantiles[98],
        "max": max(lateness_ms),
        "rss": rss,
        "bare_rss": bare_python_rss(),
        "deps_rss": dependencies_rss("springhead_ping.__main__"),
    }


# --- (d) start to ready ------------------------------------------------------------------------


async def start_to_ready(env: dict[str, str]) -> float:
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "springhead_ping",
        env={**env, "PATH": os.environ.get("PATH", "")},
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with aiohttp.ClientSession() as session:
            while True:
                try:
                    async with session.get(
                        f"http://127.0.0.1:{env['SPRINGHEAD_PORT']}/readyz"
                    ) as r:
                        if r.status == 200:
                            return time.perf_counter() - started
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.005)  # polling the probe, as a kubelet would
    finally:
        process.terminate()
        await process.wait()


def bare_start() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import asyncio"], check=True)
    return time.perf_counter() - started


async def bench_startup(runs: int) -> dict[str, float]:
    async with RecordingSink() as sink:
        times = []
        for i in range(runs):
            env = adapter_env(
                sink.url,
                PING_SCHEDULE="0 0 1 1 *",
                SPRINGHEAD_PORT=str(18580 + i),
                **PING_AS_SHIPPED,
            )
            times.append(await start_to_ready(env))
    return {
        "median": statistics.median(times),
        "max": max(times),
        "bare": statistics.median(bare_start() for _ in range(runs)),
    }


# --- (e) webhook sources --------------------------------------------------------------------


WebhookRequestFactory = Callable[[int], tuple[bytes, dict[str, str]]]


def http_request(n: int) -> tuple[bytes, dict[str, str]]:
    return PAYLOAD, {"Content-Type": "application/json", "Idempotency-Key": f"req-{n}"}


GITHUB_SECRET = "bench-secret"  # noqa: S105 - a throwaway secret for the benchmark
GITHUB_ENV = {
    "GITHUB_OWNER_AND_REPOSITORY": "octo-org/octo-repo",
    "GITHUB_EVENT_TYPES": "push",
    "GITHUB_WEBHOOK_SECRET": GITHUB_SECRET,
}


def github_request(n: int) -> tuple[bytes, dict[str, str]]:
    body = PAYLOAD
    return body, {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": f"72d3162e-cc78-11e3-81ab-{n:012d}",
        "X-Hub-Signature-256": sign(GITHUB_SECRET, body),
        "User-Agent": "GitHub-Hookshot/bench",
    }


async def closed_loop(url: str, make: WebhookRequestFactory, total: int, concurrency: int) -> float:
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        counter = iter(range(10**9))

        async def one() -> None:
            body, headers = make(next(counter))
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                if response.status not in (200, 202):
                    raise RuntimeError(f"{url} answered {response.status}")

        await run_concurrently(min(500, total), concurrency, one)
        return await run_concurrently(total, concurrency, one)


#: Connections of the open-loop client: kept alive and bounded, like a webhook sender's pool.
OPEN_LOOP_CONNECTIONS = 64
#: Open-loop runs alternate direct and via-source rounds so that load from other processes on the
#: machine falls on both alike.
OPEN_LOOP_ROUNDS = 7
#: Seconds of traffic per round: at ~1,500 requests/s a p99 of one second's requests moves with a
#: single 10 ms stall of the machine (15 requests); two seconds' halve that.
OPEN_LOOP_ROUND_SECONDS = 2


class OpenLoop:
    """A steady-rate client: request ``n`` is due at ``n / rate`` seconds after the start.

    Latency runs from the moment a request was due, not from when the client got round to it: a
    generator that fell behind or a request waiting for a pooled connection counts as latency
    (no coordinated omission). ``in_flight_max`` shows whether the target kept up with the rate.
    """

    def __init__(self, session: aiohttp.ClientSession, make: WebhookRequestFactory) -> None:
        self.session = session
        self.make = make
        self.numbered = 0

    async def run(self, url: str, rate: float, count: int) -> dict[str, object]:
        latencies: list[float] = []
        in_flight = in_flight_max = 0

        async def one(due: float) -> None:
            nonlocal in_flight, in_flight_max
            self.numbered += 1
            body, headers = self.make(self.numbered)
            in_flight += 1
            in_flight_max = max(in_flight, in_flight_max)
            async with self.session.post(url, data=body, headers=headers) as response:
                await response.read()
                if response.status not in (200, 202):
                    raise RuntimeError(f"{url} answered {response.status}")
            in_flight -= 1
            latencies.append((time.perf_counter() - due) * 1000)

        # The client's own garbage collections would stall every request in flight (a full one
        # takes ~30 ms in this process, which holds the kubernetes client's modules): they are not
        # the target's latency. Collected before each round, off during it.
        gc.collect()
        gc.disable()
        try:
            started = time.perf_counter()
            tasks = []
            for n in range(count):
                due = started + n / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)  # pacing the load generator, not synchronising
                tasks.append(asyncio.create_task(one(due)))
            await asyncio.gather(*tasks)
            elapsed = time.perf_counter() - started
        finally:
            gc.enable()
        return {
            "latencies": latencies,
            "achieved": count / elapsed,
            "in_flight_max": in_flight_max,
        }


async def open_loop_pair(
    direct_url: str, source_url: str, make: WebhookRequestFactory, rate: float, count: int
) -> tuple[dict[str, object], dict[str, object]]:
    """Open-loop runs at ``rate`` straight to the sink and through the source, interleaved in
    rounds; the latencies pooled, the lowest achieved rate and the highest in-flight count."""
    connector = aiohttp.TCPConnector(limit=OPEN_LOOP_CONNECTIONS)
    results: dict[str, dict[str, object]] = {}
    async with aiohttp.ClientSession(connector=connector) as session:
        client = OpenLoop(session, make)
        for url in (direct_url, source_url):  # warm the pool to each target
            await client.run(url, rate, min(200, count))
        per_round = max(100, count // OPEN_LOOP_ROUNDS)
        steals: list[float] = []
        for _ in range(OPEN_LOOP_ROUNDS):
            start = cpu_times()
            for name, url in (("direct", direct_url), ("source", source_url)):
                round_result = await client.run(url, rate, per_round)
                pooled = results.setdefault(
                    name, {"latencies": [], "achieved": rate, "in_flight_max": 0, "p99s": []}
                )
                pooled["latencies"] += round_result["latencies"]  # type: ignore[operator]
                pooled["p99s"].append(p99(round_result["latencies"]))  # type: ignore[arg-type, attr-defined]
                pooled["achieved"] = min(pooled["achieved"], round_result["achieved"])  # type: ignore[type-var]
                pooled["in_flight_max"] = max(
                    pooled["in_flight_max"],  # type: ignore[type-var]
                    round_result["in_flight_max"],  # type: ignore[type-var]
                )
            steals.append(stolen_since(start))
        results["source"]["steals"] = steals
    return results["direct"], results["source"]


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


#: Name of the floor's rows in (e): a bare Python forwarder, not a source.
FLOOR = "bare forwarder"
#: Starts what the client posts to, given the sink's URL; yields its process id and its URL.
Forwarder = Callable[[str], AbstractAsyncContextManager[tuple[int, str]]]


def webhook_source(module: str, env: dict[str, str]) -> Forwarder:
    """A Springhead webhook source as its image runs it (uvloop, springhead[uvloop])."""

    @asynccontextmanager
    async def started(sink_url: str) -> AsyncIterator[tuple[int, str]]:
        source_env = adapter_env(
            sink_url, SPRINGHEAD_DELIVERY_RETRY="0", SPRINGHEAD_EVENT_LOOP="uvloop", **env
        )
        async with SourceProcess(module, source_env) as source:
            assert source.process is not None
            yield source.process.pid, f"http://127.0.0.1:{source.port}/"

    return started


@asynccontextmanager
async def bare_forwarder(sink_url: str) -> AsyncIterator[tuple[int, str]]:
    """The floor: ``bench/receivers.py forward`` (the same server, client and loop as the
    sources; no CloudEvent, no checks, no metrics)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(HERE / "receivers.py"), "forward", sink_url, stdout=subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        port = int(await process.stdout.readline())
        yield process.pid, f"http://127.0.0.1:{port}/"
    finally:
        process.terminate()
        await process.wait()


async def bench_webhook(
    name: str, forwarder: Forwarder, make: WebhookRequestFactory, total: int
) -> dict[str, object]:
    rows = []
    with FastSink() as sink:
        async with forwarder(sink.url) as (source_pid, source_url):
            peak_rss = rss_mib(source_pid)
            assert sink.process is not None
            # Warm-up included: closed_loop sends min(500, total) requests before timing.
            sent = total + min(500, total)
            pids = {"source": source_pid, "sink": sink.process.pid}

            def cpu_now() -> dict[str, float]:
                return {"client": time.process_time()} | {
                    name: cpu_seconds(pid) for name, pid in pids.items()
                }

            def per_request(before: dict[str, float]) -> dict[str, float]:
                after = cpu_now()
                return {name: (after[name] - before[name]) / sent * 1e6 for name in before}

            for concurrency in (1, 8, 32, 128):
                before = cpu_now()
                direct = await closed_loop(sink.url, make, total, concurrency)
                direct_cpu = per_request(before)
                before = cpu_now()
                through = await closed_loop(source_url, make, total, concurrency)
                via_cpu = per_request(before)
                peak_rss = max(peak_rss, rss_mib(source_pid))
                log(f"{name} c={concurrency}: direct {direct:.0f}/s, via source {through:.0f}/s")
                rows.append(
                    {
                        "concurrency": concurrency,
                        "direct": direct,
                        "source": through,
                        "ratio": through / direct,
                        "cpu": via_cpu["source"],
                        "client_cpu": via_cpu["client"],
                        "sink_cpu": via_cpu["sink"],
                        # With a core per process, each path runs as fast as its busiest process.
                        "core_each": max(direct_cpu["client"], direct_cpu["sink"])
                        / max(via_cpu.values()),
                    }
                )
            peak = max(float(r["source"]) for r in rows)  # type: ignore[arg-type]
            rate = peak / 2
            count = int(max(rate * OPEN_LOOP_ROUND_SECONDS, 100) * OPEN_LOOP_ROUNDS)
            direct_run, source_run = await open_loop_pair(sink.url, source_url, make, rate, count)
            peak_rss = max(peak_rss, rss_mib(source_pid))
    direct_lat: list[float] = direct_run["latencies"]  # type: ignore[assignment]
    source_lat: list[float] = source_run["latencies"]  # type: ignore[assignment]
    # Added latency per round (via p99 minus the p99 of the direct round just before it), median
    # over the rounds: a stall of the machine during one round moves one difference, not all.
    paired = [
        via - direct
        for direct, via in zip(direct_run["p99s"], source_run["p99s"], strict=True)  # type: ignore[call-overload]
    ]
    return {
        "name": name,
        "rows": rows,
        "rate": rate,
        "added_p99": statistics.median(paired),
        "added_p99_rounds": paired,
        "added_p99_steals": source_run["steals"],
        "direct_p50": statistics.median(direct_lat),
        "direct_p99": p99(direct_lat),
        "source_p50": statistics.median(source_lat),
        "source_p99": p99(source_lat),
        "source_achieved": source_run["achieved"],
        "source_in_flight": source_run["in_flight_max"],
        "rss": peak_rss,
    }


def webhook_lines(results: list[dict[str, object]]) -> list[str]:
    lines = [
        "## (e) Webhook sources end to end (client -> source -> sink acknowledged)",
        "",
        "Targets: throughput ratio >= 0.5 of the client posting straight to the sink; added p99 "
        "latency <= 5 ms at half the source's peak rate; RSS under load <= 80 MiB. The client, "
        "the source and the sink are three processes on the same 2 cores; the source runs on "
        "uvloop, as its image does, the client and the sink on asyncio's loop. CPU: each process's "
        "user + system time per request of the via-source run (less sensitive to the machine's "
        "load than the rates). Last column, not the verdict: the ratio if each process had a "
        "core of its own, where a path runs at the pace of its busiest process: the direct "
        "run's max(client, sink) CPU over the via run's max(client, source, sink).",
        "",
        f"The *{FLOOR}* rows are the floor, not a source: `bench/receivers.py forward`, the "
        "least a webhook forwarder in Python on the sources' stack does (the same server, "
        "uvloop, a pooled aiohttp session; it POSTs each body to the sink and answers 202 after "
        "the sink's 2xx; no CloudEvent, no checks, no metrics), measured the same way. Its ratio "
        "shows what the machine and the stack leave for any source; *of the floor's rate*: a "
        "source's rate over the floor's at the same concurrency, the share Springhead's own work "
        "leaves.",
        "",
        "| source | concurrency | direct to sink req/s | via source req/s | ratio | | "
        "CPU µs/request client / source / sink | ratio, a core each | of the floor's rate |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    floor = {
        row["concurrency"]: float(row["source"])  # type: ignore[arg-type]
        for result in results
        if result["name"] == FLOOR
        for row in result["rows"]  # type: ignore[attr-defined]
    }
    for result in results:
        is_floor = result["name"] == FLOOR
        for row in result["rows"]:  # type: ignore[attr-defined]
            judged = "floor, not judged" if is_floor else verdict(row["ratio"] >= 0.5)
            of_floor = (
                ""
                if is_floor or row["concurrency"] not in floor
                else f"{row['source'] / floor[row['concurrency']]:.2f}"
            )
            lines.append(
                f"| {result['name']} | {row['concurrency']} | {row['direct']:,.0f} | "
                f"{row['source']:,.0f} | {row['ratio']:.2f} | {judged} | "
                f"{row['client_cpu']:.0f} / {row['cpu']:.0f} / {row['sink_cpu']:.0f} | "
                f"{row['core_each']:.2f} | {of_floor} |"
            )
    lines += [
        "",
        f"Latency: open loop at half the source's peak rate, {OPEN_LOOP_ROUNDS} rounds of "
        f"{OPEN_LOOP_ROUND_SECONDS} s alternating direct and via source (load from other "
        "processes falls on both alike), "
        f"{OPEN_LOOP_CONNECTIONS} kept-alive connections, timed from when each request was due "
        "(a late generator or a wait for a connection counts); the client's garbage collector is "
        "off during a round (it collects between rounds), the sources' run as usual. Lowest "
        "achieved rate and most "
        "requests in flight of the via-source rounds show whether the source kept up; if it "
        "did not, the machine was too loaded for the rate and the latency is queueing. Added p99: "
        "per round, the via-source p99 minus the p99 of the direct round just before it; the "
        "median of the rounds is judged (each round's difference in brackets), so one stall of "
        "the machine moves one round, not the verdict; [steal x %]: the hypervisor took that "
        "share of the cores' time during the round's direct and via runs (/proc/stat). "
        "p50 / p99 columns: all rounds pooled.",
        "",
        "| source | rate req/s | direct p50 / p99 ms | via source p50 / p99 ms | added p99 ms "
        "(rounds) | via source: achieved req/s, most in flight | peak RSS MiB | |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        added = float(r["added_p99"])  # type: ignore[arg-type]
        rounds = ", ".join(
            f"{d:.1f}" + (f" [steal {st:.1%}]" if st > 0 else "")
            for d, st in zip(r["added_p99_rounds"], r["added_p99_steals"], strict=True)  # type: ignore[call-overload]
        )
        rss = float(r["rss"])  # type: ignore[arg-type]
        lines.append(
            f"| {r['name']} | {r['rate']:,.0f} | {r['direct_p50']:.2f} / {r['direct_p99']:.2f} | "
            f"{r['source_p50']:.2f} / {r['source_p99']:.2f} | {added:.2f} ({rounds}) | "
            f"{float(r['source_achieved']):,.0f}, {r['source_in_flight']} | {rss:.1f} | "  # type: ignore[arg-type]
            f"{'floor, not judged' if r['name'] == FLOOR else verdict(added <= 5 and rss <= 80)} |"
        )
    return [*lines, ""]


# --- (f) receiver framework ------------------------------------------------------------------


def start_receiver(framework: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(HERE / "receivers.py"), framework], stdout=subprocess.PIPE, text=True
    )


async def bench_receivers(total: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for framework in ("asgi", "aiohttp", "fastapi"):
        process = start_receiver(framework)
        try:
            assert process.stdout is not None
            url = f"http://127.0.0.1:{int(process.stdout.readline())}/"
            async with aiohttp.ClientSession() as session:
                while True:  # uvicorn prints the port before it listens: wait for the socket
                    try:
                        async with session.post(url, data=b"x") as response:
                            await response.read()
                            break
                    except aiohttp.ClientConnectionError:
                        await asyncio.sleep(0.01)
            cpu_before = cpu_seconds(process.pid)
            rates = [await closed_loop(url, http_request, total, 32) for _ in range(2)]
            cpu = (cpu_seconds(process.pid) - cpu_before) / (2 * total)
            rss = rss_mib(process.pid)
        finally:
            process.terminate()
            process.wait()
        log(f"receiver {framework}: {max(rates):.0f}/s, {cpu * 1e6:.0f} µs CPU, {rss:.1f} MiB")
        rows.append({"framework": framework, "rate": max(rates), "cpu": cpu, "rss": rss})
    return rows


def receiver_lines(rows: list[dict[str, object]]) -> list[str]:
    lines = [
        "## (f) Receiver framework for the webhook sources",
        "",
        "The same handler (read the body, answer 202) on each framework, one process each, "
        "32 concurrent clients, all on asyncio's loop; the server process's CPU (user + system) "
        "per request, the figure that decides how much of the machine a source leaves to others; "
        "RSS after the load. The sources serve with the first row's.",
        "",
        "| framework | requests/s | server CPU µs/request | RSS MiB |",
        "|---|---:|---:|---:|",
    ]
    names = {
        "asgi": "plain ASGI on uvicorn + httptools (springhead.asgi.Server)",
        "aiohttp": "aiohttp.web",
        "fastapi": "FastAPI on uvicorn",
    }
    for row in rows:
        lines.append(
            f"| {names[str(row['framework'])]} | {float(row['rate']):,.0f} | "  # type: ignore[arg-type]
            f"{float(row['cpu']) * 1e6:,.0f} | {float(row['rss']):.1f} |"  # type: ignore[arg-type]
        )
    return [*lines, ""]


# --- (j) Kafka source -----------------------------------------------------------------------


async def kafka_section(*, quick: bool) -> list[str]:
    """Scenario (j), sources/kafka/bench_kafka.py on a broker from testinfra: throughput for 1 and
    4 partitions, ordered and unordered, against the Sender alone; RSS draining a backlog."""
    sys.path.insert(0, str(ROOT / "sources" / "kafka"))
    # Imported here: bench_kafka loads this file for its helpers, which is only possible once
    # this module is complete.
    from bench_kafka import KAFKA_FULL, KAFKA_QUICK, bench_kafka, kafka_lines

    total, backlog, seconds, rounds = KAFKA_QUICK if quick else KAFKA_FULL
    try:
        return kafka_lines(await bench_kafka(total, backlog, seconds, rounds))
    except Exception as exc:  # noqa: BLE001 - report the failure in the table, keep the rest
        return ["## (j) Kafka source", "", f"Did not complete: {exc!r}", ""]


# --- report -----------------------------------------------------------------------------------


def machine() -> str:
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(meminfo.read_text().split()[1])
        mem = f", {kib / 1024 / 1024:.0f} GiB RAM"
    return (
        f"{os.cpu_count()} cores ({cpu}){mem}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def cpu_times() -> tuple[int, int]:
    """The machine's (stolen, total) CPU time in clock ticks since boot, from /proc/stat: steal is
    time the hypervisor ran something else while this machine's CPUs wanted to run."""
    stat = Path("/proc/stat")
    if not stat.exists():
        return 0, 0
    fields = [int(value) for value in stat.read_text().split("\n", 1)[0].split()[1:]]
    # user nice system idle iowait irq softirq steal (guest time is already in user)
    return (fields[7] if len(fields) > 7 else 0), sum(fields[:8])


def stolen_since(start: tuple[int, int]) -> float:
    """Share of the cores' time the hypervisor took since ``start`` (a :func:`cpu_times`)."""
    stolen, total = cpu_times()
    return (stolen - start[0]) / max(1, total - start[1])


class Steal:
    """Share of the machine's CPU time stolen by the hypervisor, per scenario measured."""

    def __init__(self) -> None:
        self.shares: dict[str, float] = {}

    @contextmanager
    def during(self, letters: str) -> Iterator[None]:
        start = cpu_times()
        yield
        share = stolen_since(start)
        for letter in letters:
            self.shares[letter] = share

    def annotate(self, measured: dict[str, list[str]]) -> None:
        """Add each measured section's steal as its last line: the figure stays with the
        section when a later ``--only`` run keeps it."""
        for letter, share in self.shares.items():
            lines = measured.get(letter)
            if lines:
                at = len(lines) - 1 if lines[-1] == "" else len(lines)
                lines[at:at] = [
                    "",
                    f"Host CPU steal while this was measured: {share:.1%} of the cores' time "
                    "(/proc/stat; time the hypervisor gave to other machines, falling on every "
                    "process alike).",
                ]


def verdict(ok: bool) -> str:
    return "meets target" if ok else "**misses target**"


#: Every scenario, in the order of RESULTS.md. b and c are measured by one run, so are g and h.
SCENARIOS = "abcdefghij"
_TOGETHER = {"b": "bc", "c": "bc", "g": "gh", "h": "gh"}


def scenario_letters(text: str) -> str:
    """``--only``'s value (``e,j`` or ``ej``) as the scenario letters in report order."""
    asked = {letter for letter in text.replace(",", "").replace(" ", "").lower()}
    unknown = sorted(asked - set(SCENARIOS))
    if not asked or unknown:
        raise argparse.ArgumentTypeError(
            f"scenarios are letters among {SCENARIOS!r}, e.g. e,j (got {text!r})"
        )
    asked |= {partner for letter in asked for partner in _TOGETHER.get(letter, letter)}
    return "".join(letter for letter in SCENARIOS if letter in asked)


def sections_of(text: str) -> dict[str, list[str]]:
    """A results file's ``## (x) ...`` sections (heading to the next level-2 heading) by letter."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("## "):
            current = None
            if line.startswith("## (") and ")" in line:
                current = sections.setdefault(line[4 : line.index(")")], [])
        if current is not None:
            current.append(line)
    return sections


def sender_lines(sender: list[dict[str, object]]) -> list[str]:
    lines = [
        "## (a) Sender throughput vs raw aiohttp (same bytes, same concurrency, same sink)",
        "",
        "Target: sender / raw >= 0.8. Medians of interleaved rounds.",
        "",
        "| concurrency | raw aiohttp POST/s | Sender events/s | ratio | |",
        "|---:|---:|---:|---:|---|",
    ]
    for row in sender:
        ratio = float(row["ratio"])  # type: ignore[arg-type]
        lines.append(
            f"| {row['concurrency']} | {float(row['raw']):,.0f} | "  # type: ignore[arg-type]
            f"{float(row['sender']):,.0f} | {ratio:.2f} | {verdict(ratio >= 0.8)} |"  # type: ignore[arg-type]
        )
    return [*lines, ""]


def ping_lines(ping: dict[str, float]) -> list[str]:
    return [
        "## (b) Ping tick lateness (sink receipt time minus scheduled tick)",
        "",
        "Target: p99 < 50 ms. Receipt at the sink bounds the send time from above.",
        "",
        "| ticks | p50 ms | p99 ms | max ms | |",
        "|---:|---:|---:|---:|---|",
        f"| {ping['ticks']:.0f} | {ping['p50']:.1f} | {ping['p99']:.1f} | {ping['max']:.1f} | "
        f"{verdict(ping['p99'] < 50)} |",
        "",
        "## (c) Idle RSS of a running ping source",
        "",
        "Target: <= 50 MiB. Baseline: bare `python -c 'import asyncio'`. Floor: a process that "
        "imported every third-party module the ping source imports (aiohttp, pydantic-settings, "
        "cloudevents, prometheus-client, APScheduler, uvicorn ... with their submodules) and "
        "idles on asyncio's loop, without Springhead's code.",
        "",
        "| ping source MiB | its dependencies alone MiB | bare Python MiB | |",
        "|---:|---:|---:|---|",
        f"| {ping['rss']:.1f} | {ping['deps_rss']:.1f} | {ping['bare_rss']:.1f} | "
        f"{verdict(ping['rss'] <= 50)} |",
        "",
    ]


def startup_lines(startup: dict[str, float]) -> list[str]:
    return [
        "## (d) Process start to /readyz answering 200",
        "",
        "Target: <= 1 s. Baseline: start and exit of a bare Python interpreter importing asyncio.",
        "",
        "| median s | max s | bare Python s | |",
        "|---:|---:|---:|---|",
        f"| {startup['median']:.3f} | {startup['max']:.3f} | {startup['bare']:.3f} | "
        f"{verdict(startup['median'] <= 1.0)} |",
        "",
    ]


def write_results(measured: dict[str, list[str]], args: str, output: Path) -> str:
    """Write ``output``: the sections measured now, and for the scenarios not run this time
    (``--only``) the sections the file already held. Returns the text."""
    previous = sections_of(output.read_text()) if output.exists() else {}
    sections = {**previous, **measured}
    kept = [letter for letter in sorted(sections) if letter not in measured]
    lines = [
        "# Benchmark results",
        "",
        f"Written by `make bench` (`python bench/run.py{args}`) on "
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}.",
        f"Machine: {machine()}. Sink: bench/fast_sink.py in its own process over loopback "
        "(scenarios a, e, j), the springhead_testing RecordingSink (b, c, d).",
    ]
    if kept:
        lines.append(
            "Measured in this run: "
            + ", ".join(f"({letter})" for letter in sorted(measured))
            + "; kept from the file's previous run: "
            + ", ".join(f"({letter})" for letter in kept)
            + "."
        )
    lines.append("")
    for letter in sorted(sections):
        body = sections[letter]
        lines += body if body and body[-1] == "" else [*body, ""]
    text = "\n".join(lines)
    output.write_text(text)
    return text


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer events and ticks (a smoke run)")
    parser.add_argument(
        "--only",
        type=scenario_letters,
        default=SCENARIOS,
        metavar="LETTERS",
        help="run only these scenarios, e.g. --only e,j (b with c, g with h); the output's "
        "other sections are kept as they were",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=RESULTS,
        help=f"the results file to (re)write (default {RESULTS.relative_to(ROOT)})",
    )
    args = parser.parse_args()
    only: str = args.only
    total, rounds, ticks, runs = (2000, 1, 10, 3) if args.quick else (20000, 3, 61, 7)
    measured: dict[str, list[str]] = {}
    steal = Steal()
    if "a" in only:
        with steal.during("a"):
            log("(a) sender throughput")
            measured["a"] = sender_lines(await bench_sender(total, rounds))
    if "d" in only:
        with steal.during("d"):
            log("(d) start to ready")
            measured["d"] = startup_lines(await bench_startup(runs))
    if "b" in only:
        with steal.during("bc"):
            log("(b, c) ping lateness and RSS")
            measured.update(sections_of("\n".join(ping_lines(await bench_ping(ticks)))))
    if "e" in only:
        with steal.during("e"):
            log("(e) webhook sources")
            webhooks = [
                await bench_webhook(
                    "http", webhook_source("springhead_http", {}), http_request, total
                ),
                await bench_webhook(
                    "github", webhook_source("springhead_github", GITHUB_ENV), github_request, total
                ),
                await bench_webhook(FLOOR, bare_forwarder, http_request, total),
            ]
            measured["e"] = webhook_lines(webhooks)
    if "f" in only:
        with steal.during("f"):
            log("(f) receiver frameworks")
            measured["f"] = receiver_lines(await bench_receivers(total))
    if "g" in only:
        with steal.during("gh"):
            log("(g, h) controller")
            controller = await bench_controller(*((50, 200) if args.quick else (200, 1000)))
            measured.update(sections_of("\n".join(controller_lines(controller))))
    if "i" in only:
        with steal.during("i"):
            log("(i) apiserver source (real kube-apiserver)")
            try:
                apiserver = await bench_apiserver(
                    objects=1000 if args.quick else 10_000, quick=args.quick
                )
                measured["i"] = apiserver_lines(apiserver)
            except Exception as exc:  # noqa: BLE001 - report the failure in the table, keep the rest
                measured["i"] = ["## (i) ApiServer source", "", f"Did not complete: {exc!r}", ""]
    if "j" in only:
        with steal.during("j"):
            log("(j) Kafka source (real Apache Kafka broker)")
            measured["j"] = await kafka_section(quick=args.quick)
    steal.annotate(measured)
    flags = " --quick" if args.quick else ""
    if only != SCENARIOS:
        flags += f" --only {','.join(only)}"
    sys.stdout.write(write_results(measured, flags, args.output))


if __name__ == "__main__":
    asyncio.run(main())
