"""Broker benchmark: the ingress and the dispatcher on a real Apache Kafka broker (testinfra),
each against a same-run baseline. Scenario (k) of bench/run.py (``python bench/run.py --only k``),
or on its own:

    uv run --no-sync python bench/bench_broker.py [--quick]

(k1) Ingress: binary-mode CloudEvents POSTed by ``concurrency`` keep-alive clients, one event per
request, each answered 202 once Kafka acknowledged it (``acks=all``, idempotent). Baseline: a bare
``AIOKafkaProducer(acks="all", enable_idempotence=True)`` in this process, ``send_and_wait`` of the
record the ingress writes, at the same concurrency (no HTTP at all). Floor: the least any HTTP ->
Kafka ingress on this stack does (``bench/receivers.py kafka-forward``: the same server and loop,
the same producer guarantees, no CloudEvent parsing). Target: ingress / bare producer >= 0.7.
(k2) Dispatcher, one trigger: a topic holding ``total`` records as the ingress writes them; the
dispatcher (its own process, fresh consumer group from the earliest offset) delivers them to
bench/fast_sink.py with no filter, an exact filter and a CESQL filter (all matching every event);
baseline: the Kafka source (unordered, same in-flight limit) on the same topic and sink. Rates
from 10 % to 100 % delivered, medians of interleaved rounds. Targets: dispatcher / source >= 0.9;
CESQL's CPU per event <= 1.1 x exact's.
(k3) Fan-out: one dispatcher with 10 triggers (exact filters) joins on an empty topic, then
``fanout_total`` records arrive; total delivered/s against 10 x the one-trigger rate of (k2).
(k4) End to end: POST to the ingress -> Kafka -> dispatcher -> sink. The path's peak (``total``
events from 64 clients, first POST to last arrival), then an open loop at half that rate; latency
from when each request was due to the sink's receipt. Target: p99 <= 50 ms.
(k5) Memory: RSS of the dispatcher draining a backlog of ``backlog`` records and of the ingress
under load writing more to the same topic, sampled every 100 ms. Target: peak <= 150 MiB each.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from bench_kafka import fast_sink_count, kafka_source_rate, wait_for_count
from harness import (
    HERE,
    PAYLOAD,
    FastSink,
    bare_python_rss,
    cpu_seconds,
    log,
    machine,
    p99,
    rss_mib,
    run_concurrently,
    verdict,
)
from springhead.events import validated_event
from springhead.kafka.mapping import event_to_record
from springhead_broker.events import admit
from springhead_testing import SourceProcess


@dataclass(frozen=True)
class Sizes:
    """How much each part of the scenario does."""

    total: int  # events per throughput run
    levels: tuple[int, ...]  # ingress concurrency levels
    rounds: int  # interleaved rounds of each throughput comparison
    fanout_total: int  # events per trigger in the fan-out run
    latency_seconds: float  # open-loop traffic of the latency run
    backlog: int  # records in the backlog of the RSS run
    rss_seconds: float  # RSS sampling time


FULL = Sizes(20_000, (1, 16, 64), 3, 10_000, 20.0, 1_000_000, 20.0)
QUICK = Sizes(2_000, (1, 16), 1, 1_000, 4.0, 100_000, 5.0)

PARTITIONS = 4
FANOUT = 10
EVENT_TYPE = "dev.springhead.bench"
#: The trigger filters of (k2), each matching every bench event.
FILTERS: dict[str, dict[str, Any]] = {
    "none": {},
    "exact": {"filter": {"attributes": {"type": EVENT_TYPE}}},
    "cesql": {"filters": [{"cesql": f"type = '{EVENT_TYPE}'"}]},
}
INGRESS_TARGET = 0.7
DISPATCH_TARGET = 0.9
CESQL_OVER_EXACT = 1.1
LATENCY_TARGET_MS = 50.0
RSS_TARGET_MIB = 150.0
LATENCY_CONNECTIONS = 64


def _headers(n: int) -> dict[str, str]:
    return {
        "ce-specversion": "1.0",
        "ce-id": f"bench-{n}",
        "ce-source": "/bench",
        "ce-type": EVENT_TYPE,
        "content-type": "application/json",
    }


def _record(n: int) -> Any:
    """The record the ingress writes for event ``n``: with its arrival time and TTL."""
    attributes = {k[3:]: v for k, v in _headers(n).items() if k.startswith("ce-")}
    attributes["datacontenttype"] = "application/json"
    return event_to_record(admit(validated_event(attributes, PAYLOAD)))


# --- processes ------------------------------------------------------------------------------------


class Stack:
    """The Kafka broker's address and a folder for contract files: what every part shares."""

    def __init__(self, bootstrap: str, folder: Path) -> None:
        self.bootstrap = bootstrap
        self.folder = folder

    def broker(self, role: str, brokers: list[dict[str, Any]], **env: str) -> SourceProcess:
        """A broker data-plane process (``role``) serving ``brokers`` (a fresh contract file)."""
        contract = self.folder / f"contract-{uuid.uuid4().hex[:8]}.json"
        contract.write_text(json.dumps({"brokers": brokers}))
        return SourceProcess(
            "springhead_broker",
            {
                "SPRINGHEAD_PORT": "0",
                "SPRINGHEAD_HOST": "127.0.0.1",
                # As its image runs (no uvloop there), and as the baselines' loop in this process.
                "SPRINGHEAD_EVENT_LOOP": "asyncio",
                "BROKER_ROLE": role,
                "BROKER_BACKEND": "kafka",
                "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
                "BROKER_CONTRACT_FILE": str(contract),
                "BROKER_INITIAL_OFFSET": "earliest",
                **env,
            },
        )


def broker_spec(
    name: str, topic: str, triggers: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """A broker of namespace ``bench`` on ``topic`` in the contract's form."""
    return {"namespace": "bench", "name": name, "topic": topic, "triggers": triggers or []}


def trigger_spec(sink_url: str, kind: str = "exact") -> dict[str, Any]:
    """A trigger with a fresh name (so a fresh consumer group) and the ``kind`` filter."""
    return {"name": f"t-{uuid.uuid4().hex[:8]}", "subscriber": sink_url, **FILTERS[kind]}


@contextlib.contextmanager
def kafka_forwarder(bootstrap: str, topic: str) -> Any:
    """bench/receivers.py kafka-forward as a child process; yields its port."""
    process = subprocess.Popen(  # noqa: S603 - this interpreter, our script
        [sys.executable, str(HERE / "receivers.py"), "kafka-forward", bootstrap, topic],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        yield process.pid, int(process.stdout.readline())
    finally:
        process.terminate()
        process.wait()


async def create_topic(bootstrap: str, topic: str) -> None:
    """``topic`` with PARTITIONS partitions."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    finally:
        await admin.close()


async def produce_records(bootstrap: str, topic: str, count: int) -> None:
    """``count`` records as the ingress writes them (ids ``bench-0``...) into ``topic``, round
    robin over its PARTITIONS partitions."""
    from aiokafka import AIOKafkaProducer

    template = _record(0)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks=1, linger_ms=20, max_batch_size=512 * 1024
    )
    await producer.start()
    try:
        pending = []
        for n in range(count):
            headers = [
                (key, f"bench-{n}".encode() if key == "ce_id" else value)
                for key, value in template.headers
            ]
            pending.append(
                await producer.send(
                    topic, template.value, headers=headers, partition=n % PARTITIONS
                )
            )
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


# --- (k1) ingress ---------------------------------------------------------------------------------


async def post_rate(url: str, total: int, concurrency: int, *, warm_up: bool = True) -> float:
    """Events/s answered 202 at ``url`` from ``concurrency`` keep-alive clients (after a
    warm-up of 500 unless told not to)."""
    counter = iter(range(10**9))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> None:
            async with session.post(url, data=PAYLOAD, headers=_headers(next(counter))) as answer:
                if answer.status != 202:
                    raise RuntimeError(f"{url} answered {answer.status}: {await answer.text()}")

        if warm_up:
            await run_concurrently(min(500, total), concurrency, one)
        return await run_concurrently(total, concurrency, one)


async def producer_rate(bootstrap: str, topic: str, total: int, concurrency: int) -> float:
    """Events/s a bare aiokafka producer writes (acks=all, idempotent), one send_and_wait per
    event from ``concurrency`` workers: the record the ingress writes."""
    from aiokafka import AIOKafkaProducer

    counter = iter(range(10**9))
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:

        async def one() -> None:
            record = _record(next(counter))
            await producer.send_and_wait(
                topic, record.value, key=record.key, headers=record.headers
            )

        await run_concurrently(min(500, total), concurrency, one)  # warm-up
        return await run_concurrently(total, concurrency, one)
    finally:
        await producer.stop()


def events_at(total: int, concurrency: int) -> int:
    """Events per (k1) run at ``concurrency``: ``total``, fewer for few clients (one client
    does a few hundred a second here), so every run lasts seconds, not minutes."""
    return min(total, 3000 * concurrency)


async def bench_ingress(stack: Stack, sizes: Sizes) -> dict[str, Any]:
    """(k1): per concurrency level, the medians of interleaved rounds of the three paths; the
    ingress's peak RSS (VmHWM) and CPU per event."""
    name = f"k1-{uuid.uuid4().hex[:6]}"
    topic = f"knative-broker-bench-{name}"
    baseline_topic, floor_topic = f"bench-bare-{name}", f"bench-floor-{name}"
    for each in (topic, baseline_topic, floor_topic):
        await create_topic(stack.bootstrap, each)
    rows = []
    async with stack.broker("ingress", [broker_spec(name, topic)]) as ingress:
        await ingress.wait_for_log("contract applied")
        assert ingress.process is not None and ingress.port is not None
        url = f"http://127.0.0.1:{ingress.port}/bench/{name}"
        with kafka_forwarder(stack.bootstrap, floor_topic) as (floor_pid, floor_port):
            floor_url = f"http://127.0.0.1:{floor_port}/"
            for concurrency in sizes.levels:
                total = events_at(sizes.total, concurrency)
                served, bare, floor, cpu, floor_cpu = [], [], [], [], []
                for _ in range(sizes.rounds):  # interleaved so drift hits all alike
                    log(f"(k1) ingress, bare producer, floor at concurrency {concurrency}")
                    before = cpu_seconds(ingress.process.pid)
                    served.append(await post_rate(url, total, concurrency))
                    spent = cpu_seconds(ingress.process.pid) - before
                    cpu.append(spent / (total + min(500, total)) * 1e6)
                    bare.append(
                        await producer_rate(stack.bootstrap, baseline_topic, total, concurrency)
                    )
                    before = cpu_seconds(floor_pid)
                    floor.append(await post_rate(floor_url, total, concurrency))
                    spent = cpu_seconds(floor_pid) - before
                    floor_cpu.append(spent / (total + min(500, total)) * 1e6)
                rows.append(
                    {
                        "concurrency": concurrency,
                        "events": total,
                        "ingress": statistics.median(served),
                        "bare": statistics.median(bare),
                        "floor": statistics.median(floor),
                        "cpu": statistics.median(cpu),
                        "floor_cpu": statistics.median(floor_cpu),
                    }
                )
        hwm = rss_mib(ingress.process.pid, "VmHWM")
    return {"rows": rows, "hwm": hwm}


# --- (k2, k3) dispatcher --------------------------------------------------------------------------


async def dispatcher_rate(
    stack: Stack, sink_url: str, topic: str, triggers: list[dict[str, Any]], total: int
) -> tuple[float, float]:
    """Events/s the sink counts while a dispatcher with ``triggers`` (each owed ``total``
    events) delivers, from 10 % to 100 % of what all owe; its CPU µs per delivered event."""
    owed = total * len(triggers)
    before = await fast_sink_count(sink_url)
    spec = broker_spec(f"k2-{uuid.uuid4().hex[:6]}", topic, triggers)
    async with stack.broker("dispatcher", [spec]) as dispatcher:
        assert dispatcher.process is not None
        start, start_count = await wait_for_count(sink_url, before + owed // 10, 120)
        cpu_start = cpu_seconds(dispatcher.process.pid)
        end, end_count = await wait_for_count(sink_url, before + owed, 900)
        cpu_used = cpu_seconds(dispatcher.process.pid) - cpu_start
    events = end_count - start_count
    return events / (end - start), cpu_used / events * 1e6


async def bench_dispatch(stack: Stack, sink_url: str, sizes: Sizes) -> dict[str, Any]:
    """(k2) and (k3) on one topic of ``sizes.total`` records."""
    topic = f"knative-broker-bench-k2-{uuid.uuid4().hex[:6]}"
    log(f"(k2) producing {sizes.total} records")
    await create_topic(stack.bootstrap, topic)
    await produce_records(stack.bootstrap, topic, sizes.total)
    runs: dict[str, list[tuple[float, float]]] = {kind: [] for kind in ("source", *FILTERS)}
    for number in range(sizes.rounds):  # interleaved so drift hits all alike
        log(f"(k2) round {number + 1}: Kafka source, dispatcher with each filter")
        runs["source"].append(
            await kafka_source_rate(
                sink_url, stack.bootstrap, topic, sizes.total, KAFKA_ORDERING="unordered"
            )
        )
        for kind in FILTERS:
            trigger = trigger_spec(sink_url, kind)
            runs[kind].append(await dispatcher_rate(stack, sink_url, topic, [trigger], sizes.total))
    medians = {
        kind: (statistics.median(r for r, _ in rates), statistics.median(c for _, c in rates))
        for kind, rates in runs.items()
    }
    log(f"(k3) fan-out to {FANOUT} triggers, {sizes.fanout_total} events each")
    fanout = await fanout_rate(stack, sink_url, sizes.fanout_total)
    return {"medians": medians, "fanout": fanout}


async def wait_ready(process: SourceProcess, timeout: float) -> None:
    """Poll the process's /readyz (every 50 ms) until it answers 200: for the dispatcher, every
    trigger's consumer joined its group."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while True:
            async with session.get(f"http://127.0.0.1:{process.port}/readyz") as answer:
                if answer.status == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"not ready within {timeout}s")
            await asyncio.sleep(0.05)  # polling readiness, as a benchmark harness


async def fanout_rate(stack: Stack, sink_url: str, total: int) -> tuple[float, float]:
    """(k3): a dispatcher with FANOUT triggers joins on an empty topic; then ``total`` records
    arrive at once. Deliveries/s from 10 % to 100 % of all owed; CPU µs per delivery."""
    topic = f"knative-broker-bench-k3-{uuid.uuid4().hex[:6]}"
    await create_topic(stack.bootstrap, topic)
    owed = total * FANOUT
    triggers = [trigger_spec(sink_url) for _ in range(FANOUT)]
    spec = broker_spec(f"k3-{uuid.uuid4().hex[:6]}", topic, triggers)
    before = await fast_sink_count(sink_url)
    async with stack.broker("dispatcher", [spec]) as dispatcher:
        assert dispatcher.process is not None
        await wait_ready(dispatcher, 120)
        await produce_records(stack.bootstrap, topic, total)
        start, start_count = await wait_for_count(sink_url, before + owed // 10, 120)
        cpu_start = cpu_seconds(dispatcher.process.pid)
        end, end_count = await wait_for_count(sink_url, before + owed, 900)
        cpu_used = cpu_seconds(dispatcher.process.pid) - cpu_start
    events = end_count - start_count
    return events / (end - start), cpu_used / events * 1e6


# --- (k4) end to end ------------------------------------------------------------------------------


async def sink_arrivals(sink_url: str) -> dict[str, float]:
    async with aiohttp.ClientSession() as session, session.get(sink_url + "received") as answer:
        data: dict[str, float] = await answer.json()
        return data


async def wait_for_ids(sink_url: str, ids: set[str], timeout: float) -> dict[str, float]:
    """Poll the sink (every 50 ms) until every one of ``ids`` arrived; their arrival times."""
    deadline = time.monotonic() + timeout
    while True:
        arrivals = await sink_arrivals(sink_url)
        if ids <= arrivals.keys():
            return {key: arrivals[key] for key in ids}
        if time.monotonic() > deadline:
            missing = len(ids - arrivals.keys())
            raise RuntimeError(f"{missing} of {len(ids)} events did not reach the sink")
        await asyncio.sleep(0.05)  # polling the sink's record, as a benchmark harness


async def open_loop(
    session: aiohttp.ClientSession, url: str, prefix: str, rate: float, count: int
) -> dict[str, Any]:
    """POST event ``n`` when it is due (``n / rate`` s after the start); each event's due time
    (wall clock, as the sink records arrivals), the ingress's answer latencies, achieved rate."""
    due_at: dict[str, float] = {}
    answered: list[float] = []

    async def one(event_id: str, due: float) -> None:
        headers = {**_headers(0), "ce-id": event_id}
        async with session.post(url, data=PAYLOAD, headers=headers) as answer:
            if answer.status != 202:
                raise RuntimeError(f"ingress answered {answer.status}")
        answered.append((time.time() - due) * 1000)

    gc.collect()
    gc.disable()  # the client's own collections are not the broker's latency
    try:
        started, wall = time.perf_counter(), time.time()
        tasks = []
        for n in range(count):
            delay = started + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)  # pacing the load generator, not synchronising
            event_id = f"{prefix}-{n}"
            due_at[event_id] = wall + n / rate
            tasks.append(asyncio.create_task(one(event_id, due_at[event_id])))
        await asyncio.gather(*tasks)
        achieved = count / (time.perf_counter() - started)
    finally:
        gc.enable()
    return {"due": due_at, "answered": answered, "achieved": achieved}


async def bench_latency(stack: Stack, sizes: Sizes) -> dict[str, Any]:
    """(k4): ingress and dispatcher processes, one trigger (exact filter) to a recording sink.
    First the path's peak: ``sizes.total`` events POSTed by 64 clients, from the first POST to
    the last arrival at the sink; then the open loop at half that rate."""
    name = f"k4-{uuid.uuid4().hex[:6]}"
    topic = f"knative-broker-bench-{name}"
    await create_topic(stack.bootstrap, topic)
    with FastSink("--record-arrivals") as sink:
        spec = broker_spec(name, topic, [trigger_spec(sink.url)])
        async with (
            stack.broker("ingress", [spec]) as ingress,
            stack.broker("dispatcher", [spec]) as dispatcher,
        ):
            await ingress.wait_for_log("contract applied")
            await wait_ready(dispatcher, 120)
            url = f"http://127.0.0.1:{ingress.port}/bench/{name}"
            connector = aiohttp.TCPConnector(limit=LATENCY_CONNECTIONS)
            async with aiohttp.ClientSession(connector=connector) as session:
                # Warm-up: the trigger delivers, connections are open.
                warm = await open_loop(session, url, "warm", 200.0, 200)
                await wait_for_ids(sink.url, set(warm["due"]), 120)
                log(f"(k4) the path's peak: {sizes.total} events from 64 clients")
                before = await fast_sink_count(sink.url)
                started = time.perf_counter()
                await post_rate(url, sizes.total, LATENCY_CONNECTIONS, warm_up=False)
                ended, _ = await wait_for_count(sink.url, before + sizes.total, 600)
                peak = sizes.total / (ended - started)
                rate = peak / 2
                log(f"(k4) open loop at {rate:.0f} events/s for {sizes.latency_seconds:.0f} s")
                run = await open_loop(
                    session, url, "timed", rate, int(rate * sizes.latency_seconds)
                )
            arrivals = await wait_for_ids(sink.url, set(run["due"]), 120)
    latencies = sorted((arrivals[key] - due) * 1000 for key, due in run["due"].items())
    return {
        "peak": peak,
        "rate": rate,
        "achieved": run["achieved"],
        "count": len(latencies),
        "p50": statistics.median(latencies),
        "p99": p99(latencies),
        "max": latencies[-1],
        "answer_p99": p99(run["answered"]),
    }


# --- (k5) memory under a backlog ------------------------------------------------------------------


async def bench_backlog_rss(stack: Stack, sink_url: str, sizes: Sizes) -> dict[str, Any]:
    """(k5): a dispatcher (one trigger, exact filter) draining ``sizes.backlog`` records while
    an ingress under load (64 clients) writes more to the same topic; RSS of both."""
    name = f"k5-{uuid.uuid4().hex[:6]}"
    topic = f"knative-broker-bench-{name}"
    log(f"(k5) producing a backlog of {sizes.backlog} records")
    await create_topic(stack.bootstrap, topic)
    await produce_records(stack.bootstrap, topic, sizes.backlog)
    spec = broker_spec(name, topic, [trigger_spec(sink_url)])
    before = await fast_sink_count(sink_url)
    async with (
        stack.broker("ingress", [spec]) as ingress,
        stack.broker("dispatcher", [spec]) as dispatcher,
    ):
        assert ingress.process is not None and dispatcher.process is not None
        await ingress.wait_for_log("contract applied")
        await wait_for_count(sink_url, before + 1, 120)
        log(f"(k5) sampling RSS for {sizes.rss_seconds:.0f} s")
        url = f"http://127.0.0.1:{ingress.port}/bench/{name}"
        accepted = 0
        stop = asyncio.Event()

        async def load() -> None:
            nonlocal accepted
            connector = aiohttp.TCPConnector(limit=64)
            async with aiohttp.ClientSession(connector=connector) as session:

                async def client() -> None:
                    nonlocal accepted
                    while not stop.is_set():
                        headers = _headers(sizes.backlog + accepted)
                        async with session.post(url, data=PAYLOAD, headers=headers) as answer:
                            if answer.status != 202:
                                raise RuntimeError(f"ingress answered {answer.status}")
                        accepted += 1

                await asyncio.gather(*(client() for _ in range(64)))

        loader = asyncio.create_task(load())
        samples: dict[str, list[float]] = {"ingress": [], "dispatcher": []}
        started = time.perf_counter()
        while time.perf_counter() - started < sizes.rss_seconds:
            samples["ingress"].append(rss_mib(ingress.process.pid))
            samples["dispatcher"].append(rss_mib(dispatcher.process.pid))
            await asyncio.sleep(0.1)  # sampling interval
        stop.set()
        await loader
        delivered = await fast_sink_count(sink_url) - before
        hwm = {
            "ingress": rss_mib(ingress.process.pid, "VmHWM"),
            "dispatcher": rss_mib(dispatcher.process.pid, "VmHWM"),
        }
    return {
        "backlog": sizes.backlog,
        "seconds": sizes.rss_seconds,
        "delivered": delivered,
        "accepted": accepted,
        "processes": {
            role: {
                "peak": max(values),
                "median": statistics.median(values),
                "last": values[-1],
                "hwm": hwm[role],
            }
            for role, values in samples.items()
        },
        "bare": bare_python_rss(),
    }


# --- the scenario ---------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def kafka_stack() -> AsyncIterator[Stack]:
    from springhead_testinfra.kafka import start_kafka

    log("kafka: starting the broker (testinfra)")
    kafka = await asyncio.to_thread(start_kafka)
    try:
        with tempfile.TemporaryDirectory() as folder:
            yield Stack(kafka.bootstrap, Path(folder))
    finally:
        await asyncio.to_thread(kafka.close)


async def _part(name: str, measure: Callable[[], Awaitable[Any]]) -> Any:
    """One part's result, or the exception that stopped it (reported, the others go on)."""
    try:
        return await measure()
    except Exception as exc:  # noqa: BLE001 - report the failure in the table, keep the rest
        log(f"{name} did not complete: {exc!r}")
        return exc


async def bench_broker(sizes: Sizes) -> dict[str, Any]:
    """Every part of scenario (k), with the machine's load average before and after."""
    result: dict[str, Any] = {"sizes": sizes, "load_before": os.getloadavg()}
    async with kafka_stack() as stack:
        result["ingress"] = await _part("(k1)", lambda: bench_ingress(stack, sizes))
        with FastSink() as sink:
            result["dispatch"] = await _part(
                "(k2, k3)", lambda: bench_dispatch(stack, sink.url, sizes)
            )
            result["rss"] = await _part("(k5)", lambda: bench_backlog_rss(stack, sink.url, sizes))
        result["latency"] = await _part("(k4)", lambda: bench_latency(stack, sizes))
    result["load_after"] = os.getloadavg()
    return result


def _load(values: tuple[float, float, float]) -> str:
    return " / ".join(f"{value:.2f}" for value in values)


def broker_lines(result: dict[str, Any]) -> list[str]:
    """The RESULTS.md section of scenario (k)."""
    sizes: Sizes = result["sizes"]
    lines = [
        "## (k) Broker on a real Apache Kafka broker (testinfra): ingress, dispatcher, fan-out, "
        "latency, memory",
        "",
        f"Machine load (1 / 5 / 15-minute load average, `uptime`) before: "
        f"{_load(result['load_before'])}, after: {_load(result['load_after'])}. Other work "
        "shares the same 2 cores during the run (Kafka, the broker processes, the sink and the "
        "client too): the ratios of interleaved rounds hold better than the absolute rates. "
        "Broker processes on asyncio's loop, as their image runs.",
        "",
        "### (k1) Ingress: POST -> 202 after acks=all, vs a bare aiokafka producer and the floor",
        "",
        f"Target: ingress / bare producer >= {INGRESS_TARGET}. Binary-mode events (as many per "
        f"run as the events column says, after 500 of warm-up), {PARTITIONS} partitions, "
        "acks=all (idempotent) on every path, medians of "
        f"{sizes.rounds} interleaved rounds. *Bare producer*: `send_and_wait` of the same record "
        "from this process, no HTTP at all. *Floor*: `bench/receivers.py kafka-forward`, the "
        "least any HTTP -> Kafka ingress on this stack does (the same server and loop, ce-* "
        "headers copied to the record as they came, no CloudEvent parsing, no metrics); "
        "*ingress / floor* is the share Springhead's own work leaves. CPU: the serving "
        "process's user + system time per event (warm-up included), less moved by the other "
        "work on the machine than the rates.",
        "",
    ]
    ingress = result["ingress"]
    if isinstance(ingress, Exception):
        lines += [f"Did not complete: {ingress!r}", ""]
    else:
        lines += [
            "| concurrency | events | ingress events/s | bare producer events/s | floor events/s "
            "| ingress / bare | | floor / bare | ingress / floor | CPU µs/event ingress "
            "| floor |",
            "|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|",
        ]
        for row in ingress["rows"]:
            ratio = row["ingress"] / row["bare"]
            lines.append(
                f"| {row['concurrency']} | {row['events']:,} | {row['ingress']:,.0f} | "
                f"{row['bare']:,.0f} | "
                f"{row['floor']:,.0f} | {ratio:.2f} | {verdict(ratio >= INGRESS_TARGET)} | "
                f"{row['floor'] / row['bare']:.2f} | {row['ingress'] / row['floor']:.2f} | "
                f"{row['cpu']:.0f} | {row['floor_cpu']:.0f} |"
            )
        lines += ["", f"Ingress peak RSS over the runs (VmHWM): {ingress['hwm']:.1f} MiB.", ""]
    lines += [
        "### (k2) Dispatcher, one trigger, vs the Kafka source; filter cost",
        "",
        f"Targets: dispatcher / Kafka source >= {DISPATCH_TARGET}; CESQL CPU per event <= "
        f"{CESQL_OVER_EXACT} x exact's. {sizes.total:,} records as the ingress writes them in "
        f"{PARTITIONS} partitions; each run a new process and consumer group from the earliest "
        "offset, unordered, 50 in flight, to bench/fast_sink.py; rates from 10 % to 100 % "
        f"delivered, medians of {sizes.rounds} interleaved rounds. Filters match every event: "
        f"exact `type: {EVENT_TYPE}`, CESQL `type = '{EVENT_TYPE}'`. CPU: the delivering "
        "process's user + system time per event over the same stretch.",
        "",
    ]
    dispatch = result["dispatch"]
    if isinstance(dispatch, Exception):
        lines += [f"Did not complete: {dispatch!r}", ""]
    else:
        medians = dispatch["medians"]
        source_rate, source_cpu = medians["source"]
        lines += [
            "| delivering process | filter | events/s | / Kafka source | | CPU µs/event "
            "| CPU / Kafka source's |",
            "|---|---|---:|---:|---|---:|---:|",
            f"| Kafka source (baseline) | none | {source_rate:,.0f} | 1.00 | | {source_cpu:.0f} "
            "| 1.00 |",
        ]
        for kind in FILTERS:
            rate, cpu = medians[kind]
            ratio = rate / source_rate
            lines.append(
                f"| dispatcher | {kind} | {rate:,.0f} | {ratio:.2f} | "
                f"{verdict(ratio >= DISPATCH_TARGET)} | {cpu:.0f} | {cpu / source_cpu:.2f} |"
            )
        cesql = medians["cesql"][1] / medians["exact"][1]
        cesql_rate = medians["exact"][0] / medians["cesql"][0]
        lines += [
            "",
            f"CESQL over exact: CPU per event x{cesql:.2f} ({verdict(cesql <= CESQL_OVER_EXACT)}); "
            f"time per event (inverse rate) x{cesql_rate:.2f}.",
            "",
            f"### (k3) Fan-out to {FANOUT} triggers",
            "",
            f"One dispatcher, {FANOUT} triggers (exact filter, each its own consumer group) on "
            f"the topic of (k2), {sizes.fanout_total:,} events each, to the same sink; rate of "
            f"all deliveries from 10 % to 100 % of the {FANOUT * sizes.fanout_total:,} owed. No "
            "target: one process on a shared 2-core machine cannot scale with triggers, the "
            "ratio says how much of the one-trigger rate each trigger keeps.",
            "",
            "| triggers | total delivered/s | 1 trigger (k2, exact) x 10 | ratio "
            "| CPU µs/delivery | 1 trigger's (k2, exact) |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        rate, cpu = dispatch["fanout"]
        single = medians["exact"][0] * FANOUT
        lines += [
            f"| {FANOUT} | {rate:,.0f} | {single:,.0f} | {rate / single:.2f} | {cpu:.0f} | "
            f"{medians['exact'][1]:.0f} |",
            "",
        ]
    lines += [
        "### (k4) End to end: POST to the ingress -> Kafka -> dispatcher -> subscriber",
        "",
        f"Target: p99 <= {LATENCY_TARGET_MS:.0f} ms. Ingress and dispatcher in their own "
        "processes, one trigger (exact filter), the sink recording each arrival (wall clock). "
        f"Peak: {sizes.total:,} events POSTed by {LATENCY_CONNECTIONS} clients, from the first "
        "POST to the last arrival at the sink. Then an open loop at half that rate for "
        f"{sizes.latency_seconds:.0f} s over {LATENCY_CONNECTIONS} kept-alive connections; "
        "latency from when each request was due to its arrival at the sink, so a late client "
        "counts too.",
        "",
    ]
    latency = result["latency"]
    if isinstance(latency, Exception):
        lines += [f"Did not complete: {latency!r}", ""]
    else:
        lines += [
            "| peak events/s | rate events/s | achieved | events | p50 ms | p99 ms | max ms | "
            "| ingress 202 p99 ms |",
            "|---:|---:|---:|---:|---:|---:|---:|---|---:|",
            f"| {latency['peak']:,.0f} | {latency['rate']:,.0f} | {latency['achieved']:,.0f} | "
            f"{latency['count']:,} | "
            f"{latency['p50']:.1f} | {latency['p99']:.1f} | {latency['max']:.1f} | "
            f"{verdict(latency['p99'] <= LATENCY_TARGET_MS)} | {latency['answer_p99']:.1f} |",
            "",
        ]
    lines += [
        f"### (k5) RSS under a backlog of {sizes.backlog:,} records",
        "",
        f"Target: peak <= {RSS_TARGET_MIB:.0f} MiB each. The dispatcher (one trigger, exact "
        "filter, defaults) works through the backlog while the ingress, under load from 64 "
        "clients, writes more to the same topic; both sampled every 100 ms; VmHWM: the kernel's "
        "peak over the process's life. Baseline: bare `python -c 'import asyncio'`.",
        "",
    ]
    rss = result["rss"]
    if isinstance(rss, Exception):
        lines += [f"Did not complete: {rss!r}", ""]
    else:
        lines += [
            "| process | peak MiB | median MiB | last MiB | VmHWM MiB | bare Python MiB | |",
            "|---|---:|---:|---:|---:|---:|---|",
        ]
        for role, figures in rss["processes"].items():
            lines.append(
                f"| {role} | {figures['peak']:.1f} | {figures['median']:.1f} | "
                f"{figures['last']:.1f} | {figures['hwm']:.1f} | {rss['bare']:.1f} | "
                f"{verdict(figures['hwm'] <= RSS_TARGET_MIB)} |"
            )
        lines += [
            "",
            f"While sampled ({rss['seconds']:.0f} s): {rss['delivered']:,} events delivered "
            f"from the backlog, {rss['accepted']:,} more accepted by the ingress.",
            "",
        ]
    return lines


async def broker_section(*, quick: bool) -> list[str]:
    """Scenario (k) as bench/run.py reports it: the section's lines (a part that did not
    complete says so in its place; the other scenarios' results are kept)."""
    return broker_lines(await bench_broker(QUICK if quick else FULL))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer events (a smoke run)")
    args = parser.parse_args()
    result = await bench_broker(QUICK if args.quick else FULL)
    sys.stdout.write(f"Machine: {machine()}\n\n" + "\n".join(broker_lines(result)) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
