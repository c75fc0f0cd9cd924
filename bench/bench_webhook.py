"""(e) Webhook sources end to end (client -> source -> sink acknowledged) vs the same client
posting straight to the sink: throughput at increasing concurrency, added p99 latency at half the
source's peak rate, RSS under load; a bare Python forwarder as the floor."""

from __future__ import annotations

import asyncio
import gc
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import aiohttp
from harness import (
    HERE,
    PAYLOAD,
    FastSink,
    cpu_seconds,
    cpu_times,
    log,
    p99,
    rss_mib,
    run_concurrently,
    stolen_since,
    verdict,
)
from springhead.webhook import sign
from springhead_testing import SourceProcess, adapter_env

WebhookRequestFactory = Callable[[int], tuple[bytes, dict[str, str]]]


def http_request(n: int) -> tuple[bytes, dict[str, str]]:
    return PAYLOAD, {"Content-Type": "application/json", "Idempotency-Key": f"req-{n}"}


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
