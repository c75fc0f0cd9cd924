"""Springhead benchmarks: one command runs them all and rewrites bench/RESULTS.md.

    make bench        (or: uv run python bench/run.py [--quick])

Each scenario is compared with a baseline measured in the same run on the same machine:
(a) sender throughput vs raw aiohttp POSTs of the same bytes at the same concurrency;
(b) ping tick lateness (sink receipt minus scheduled tick) over at least 60 ticks;
(c) idle RSS of a running ping source vs a bare ``python -c 'import asyncio'`` process;
(d) process start to /readyz ready vs the start of a bare Python interpreter;
(e) webhook sources end to end (client -> source -> sink acknowledged) vs the same client posting
    straight to the sink: throughput at increasing concurrency, added p99 latency at half the
    source's peak rate, RSS under load;
(f) receiver frameworks for the webhook sources (aiohttp.web vs FastAPI on uvicorn);
(g) SinkBinding fan-out: binding creation to every selected Deployment patched (200 of 1,000),
    vs the same patches sent directly;
(h) controller RSS watching 1,000 Deployments vs a bare ``import kubernetes``;
(i) the ApiServer source on a real kube-apiserver: RSS watching 10,000 ConfigMaps vs a bare
    kubernetes-client watcher; write-to-sink latency at 100 changes/s and a 5,000-change burst vs
    a bare watch of the same writes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from cloudevents.core.v1.event import CloudEvent
from springhead.config import BackoffPolicy
from springhead.delivery import DeliveryPolicy
from springhead.sender import Sender
from springhead.testing import RecordingSink, SourceProcess, adapter_env
from springhead.webhook import sign

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "controller"))
from bench_controller import bench_controller, controller_lines  # noqa: E402

sys.path.insert(0, str(ROOT / "sources" / "apiserver"))
from bench_apiserver import apiserver_lines, bench_apiserver  # noqa: E402

sys.path.insert(0, str(ROOT / "sources" / "apiserver"))

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


def bare_python_rss() -> float:
    code = "import asyncio, sys; sys.stdout.write('ready\\n'); sys.stdout.flush(); sys.stdin.read()"
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stdin is not None
    process.stdout.readline()
    rss = rss_mib(process.pid)
    process.stdin.close()
    process.wait()
    return rss


async def bench_ping(ticks: int) -> dict[str, float]:
    async with RecordingSink() as sink:
        env = adapter_env(sink.url, PING_SCHEDULE="* * * * * *", PING_DATA="tick")
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
            env = adapter_env(sink.url, PING_SCHEDULE="0 0 1 1 *", SPRINGHEAD_PORT=str(18580 + i))
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


async def open_loop_latencies(
    url: str, make: WebhookRequestFactory, rate: float, count: int
) -> list[float]:
    """Latency (ms) of ``count`` requests sent at a steady ``rate`` per second."""
    latencies: list[float] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def one(n: int) -> None:
            body, headers = make(n)
            started = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
            latencies.append((time.perf_counter() - started) * 1000)

        loop = asyncio.get_running_loop()
        start = loop.time()
        tasks = []
        for n in range(count):
            delay = start + n / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)  # pacing the load generator, not synchronising a test
            tasks.append(asyncio.create_task(one(n)))
        await asyncio.gather(*tasks)
    return latencies


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


async def bench_webhook(
    name: str,
    module: str,
    env: dict[str, str],
    make: WebhookRequestFactory,
    total: int,
    path: str = "/",
) -> dict[str, object]:
    rows = []
    with FastSink() as sink:
        source_env = adapter_env(sink.url, SPRINGHEAD_DELIVERY_RETRY="0", **env)
        async with SourceProcess(module, source_env) as source:
            assert source.process is not None
            source_url = f"http://127.0.0.1:{source.port}{path}"
            peak_rss = rss_mib(source.process.pid)
            for concurrency in (1, 8, 32, 128):
                direct = await closed_loop(sink.url, make, total, concurrency)
                through = await closed_loop(source_url, make, total, concurrency)
                peak_rss = max(peak_rss, rss_mib(source.process.pid))
                log(f"{name} c={concurrency}: direct {direct:.0f}/s, via source {through:.0f}/s")
                rows.append(
                    {
                        "concurrency": concurrency,
                        "direct": direct,
                        "source": through,
                        "ratio": through / direct,
                    }
                )
            peak = max(float(r["source"]) for r in rows)  # type: ignore[arg-type]
            rate = peak / 2
            count = int(min(max(rate * 5, 500), 10000))
            direct_lat = await open_loop_latencies(sink.url, make, rate, count)
            source_lat = await open_loop_latencies(source_url, make, rate, count)
            peak_rss = max(peak_rss, rss_mib(source.process.pid))
    return {
        "name": name,
        "rows": rows,
        "rate": rate,
        "direct_p50": statistics.median(direct_lat),
        "direct_p99": p99(direct_lat),
        "source_p50": statistics.median(source_lat),
        "source_p99": p99(source_lat),
        "rss": peak_rss,
    }


def webhook_lines(results: list[dict[str, object]]) -> list[str]:
    lines = [
        "## (e) Webhook sources end to end (client -> source -> sink acknowledged)",
        "",
        "Targets: throughput ratio >= 0.5 of the client posting straight to the sink; added p99 "
        "latency <= 5 ms at half the source's peak rate; RSS under load <= 80 MiB. The client, "
        "the source and the sink are three processes on the same 2 cores.",
        "",
        "| source | concurrency | direct to sink req/s | via source req/s | ratio | |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for result in results:
        for row in result["rows"]:  # type: ignore[attr-defined]
            lines.append(
                f"| {result['name']} | {row['concurrency']} | {row['direct']:,.0f} | "
                f"{row['source']:,.0f} | {row['ratio']:.2f} | {verdict(row['ratio'] >= 0.5)} |"
            )
    lines += [
        "",
        "| source | rate req/s | direct p50 / p99 ms | via source p50 / p99 ms | added p99 ms | "
        "peak RSS MiB | |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        added = float(r["source_p99"]) - float(r["direct_p99"])  # type: ignore[arg-type]
        rss = float(r["rss"])  # type: ignore[arg-type]
        lines.append(
            f"| {r['name']} | {r['rate']:,.0f} | {r['direct_p50']:.2f} / {r['direct_p99']:.2f} | "
            f"{r['source_p50']:.2f} / {r['source_p99']:.2f} | {added:.2f} | {rss:.1f} | "
            f"{verdict(added <= 5 and rss <= 80)} |"
        )
    return [*lines, ""]


# --- (f) receiver framework ------------------------------------------------------------------


def start_receiver(framework: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(HERE / "receivers.py"), framework], stdout=subprocess.PIPE, text=True
    )


async def bench_receivers(total: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for framework in ("aiohttp", "fastapi"):
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
            rates = [await closed_loop(url, http_request, total, 32) for _ in range(2)]
            rss = rss_mib(process.pid)
        finally:
            process.terminate()
            process.wait()
        log(f"receiver {framework}: {max(rates):.0f}/s, {rss:.1f} MiB")
        rows.append({"framework": framework, "rate": max(rates), "rss": rss})
    return rows


def receiver_lines(rows: list[dict[str, object]]) -> list[str]:
    lines = [
        "## (f) Receiver framework for the webhook sources",
        "",
        "The same handler (read the body, answer 202) on each framework, one process each, "
        "32 concurrent clients; RSS after the load. The webhook sources use the first row's.",
        "",
        "| framework | requests/s | RSS MiB |",
        "|---|---:|---:|",
    ]
    names = {"aiohttp": "aiohttp.web (asyncio loop)", "fastapi": "FastAPI on uvicorn"}
    for row in rows:
        lines.append(
            f"| {names[str(row['framework'])]} | {float(row['rate']):,.0f} | "  # type: ignore[arg-type]
            f"{float(row['rss']):.1f} |"  # type: ignore[arg-type]
        )
    return [*lines, ""]


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


def verdict(ok: bool) -> str:
    return "meets target" if ok else "**misses target**"


def write_results(
    sender: list[dict[str, object]],
    ping: dict[str, float],
    startup: dict[str, float],
    webhooks: list[dict[str, object]],
    receivers: list[dict[str, object]],
    controller: dict[str, float],
    extra: list[str],
    args: str,
) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"Written by `make bench` (`python bench/run.py{args}`) on "
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}.",
        f"Machine: {machine()}. Sink: bench/fast_sink.py in its own process over loopback "
        "(scenario a), the springhead.testing RecordingSink (b, c, d).",
        "",
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
    lines += [
        "",
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
        "Target: <= 50 MiB. Baseline: bare `python -c 'import asyncio'`.",
        "",
        "| ping source MiB | bare Python MiB | |",
        "|---:|---:|---|",
        f"| {ping['rss']:.1f} | {ping['bare_rss']:.1f} | {verdict(ping['rss'] <= 50)} |",
        "",
        "## (d) Process start to /readyz answering 200",
        "",
        "Target: <= 1 s. Baseline: start and exit of a bare Python interpreter importing asyncio.",
        "",
        "| median s | max s | bare Python s | |",
        "|---:|---:|---:|---|",
        f"| {startup['median']:.3f} | {startup['max']:.3f} | {startup['bare']:.3f} | "
        f"{verdict(startup['median'] <= 1.0)} |",
        "",
        *webhook_lines(webhooks),
        *receiver_lines(receivers),
        *controller_lines(controller),
        *extra,
    ]
    text = "\n".join(lines)
    RESULTS.write_text(text)
    return text


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer events and ticks (a smoke run)")
    args = parser.parse_args()
    total, rounds, ticks, runs = (2000, 1, 10, 3) if args.quick else (20000, 3, 61, 7)
    log("(a) sender throughput")
    sender = await bench_sender(total, rounds)
    log("(d) start to ready")
    startup = await bench_startup(runs)
    log("(b, c) ping lateness and RSS")
    ping = await bench_ping(ticks)
    log("(e) webhook sources")
    webhooks = [
        await bench_webhook("http", "springhead_http", {}, http_request, total),
        await bench_webhook("github", "springhead_github", GITHUB_ENV, github_request, total),
    ]
    log("(f) receiver frameworks")
    receivers = await bench_receivers(total)
    log("(g, h) controller")
    controller = await bench_controller(*((50, 200) if args.quick else (200, 1000)))
    quick = " --quick" if args.quick else ""
    log("(i) apiserver source (real kube-apiserver)")
    try:
        apiserver = await bench_apiserver(objects=1000 if args.quick else 10_000, quick=args.quick)
        extra = apiserver_lines(apiserver)
    except Exception as exc:  # noqa: BLE001 - report the failure in the table, keep the rest
        extra = ["## (i) ApiServer source", "", f"Did not complete: {exc!r}", ""]
    sys.stdout.write(
        write_results(sender, ping, startup, webhooks, receivers, controller, extra, quick)
    )


if __name__ == "__main__":
    asyncio.run(main())
