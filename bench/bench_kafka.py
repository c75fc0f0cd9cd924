"""Kafka source benchmark: delivered events/s and RSS under a backlog, against same-run baselines.
Scenario (j) of bench/run.py (``python bench/run.py --only j``), or on its own:

    uv run --no-sync python bench/bench_kafka.py [--quick]

(j1) Throughput: a real Apache Kafka broker (testinfra) holds ``total`` records in a 1-partition and
a 4-partition topic; the Kafka source (its own process) delivers them to bench/fast_sink.py (its own
process), ordered and unordered. Measured from 10 % to 100 % delivered (start-up and group join
excluded), from the sink's own count. Baseline, same run, same sink: the shared Sender alone posting
the same events from memory at the same concurrency (ordered: one per partition; unordered:
KAFKA_MAX_IN_FLIGHT). Targets: unordered >= 0.8 of the baseline, ordered with 4 partitions
>= 0.5 (one partition ordered is one event at a time: shown, no target).
(j2) Memory: RSS of the source while it works through a backlog of ``backlog`` records (4
partitions), sampled every 100 ms; beside it the bare-Python baseline (bench/harness.py).
Target: peak <= 150 MiB.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from typing import Any

from harness import (
    PAYLOAD,
    FastSink,
    bare_python_rss,
    cpu_seconds,
    log,
    machine,
    rss_mib,
    run_concurrently,
    verdict,
)
from springhead.config import BackoffPolicy
from springhead.delivery import DeliveryPolicy
from springhead.sender import Sender
from springhead_testing import SourceProcess, adapter_env

# --- (j) Kafka source -----------------------------------------------------------------------------


KAFKA_MAX_IN_FLIGHT = 50  # the source's default
#: (records per throughput run, backlog records, seconds of RSS sampling, rounds)
KAFKA_FULL = (20_000, 1_000_000, 20.0, 3)
KAFKA_QUICK = (4000, 100_000, 5.0, 1)
#: Lowest acceptable source / Sender-alone ratio by ordering and partitions (None: no target).
KAFKA_TARGETS: dict[tuple[str, int], float | None] = {
    ("unordered", 1): 0.8,
    ("unordered", 4): 0.8,
    ("ordered", 1): None,
    ("ordered", 4): 0.5,
}
KAFKA_RSS_TARGET_MIB = 150.0


async def kafka_produce(bootstrap: str, topic: str, count: int, partitions: int) -> None:
    """``count`` records of PAYLOAD spread over ``partitions`` partitions (created here)."""
    from aiokafka import AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks=1, linger_ms=20, max_batch_size=512 * 1024
    )
    await producer.start()
    try:
        pending = []
        for n in range(count):
            pending.append(await producer.send(topic, PAYLOAD, partition=n % partitions))
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def fast_sink_count(url: str) -> int:
    import aiohttp

    async with aiohttp.ClientSession() as session, session.get(url + "count") as response:
        return int(await response.text())


async def wait_for_count(url: str, target: int, timeout: float) -> tuple[float, int]:
    """Poll the sink's count (every 20 ms) until it reaches ``target``; (time, count) then."""
    deadline = time.perf_counter() + timeout
    while True:
        count = await fast_sink_count(url)
        now = time.perf_counter()
        if count >= target:
            return now, count
        if now > deadline:
            raise RuntimeError(f"sink counted {count} of {target} within {timeout}s")
        await asyncio.sleep(0.02)  # polling the sink's counter, as a benchmark harness


def kafka_source_env(sink_url: str, bootstrap: str, topic: str, **env: str) -> dict[str, str]:
    return adapter_env(
        sink_url,
        KAFKA_BOOTSTRAP_SERVERS=bootstrap,
        KAFKA_TOPICS=topic,
        KAFKA_INITIAL_OFFSET="earliest",
        KAFKA_CONSUMER_GROUP=f"bench-{uuid.uuid4().hex[:8]}",
        SPRINGHEAD_DELIVERY_RETRY="0",
        # As its image runs (no uvloop installed there; the workspace has it), and on the same
        # loop as the baseline's Sender in this process.
        SPRINGHEAD_EVENT_LOOP="asyncio",
        **env,
    )


async def kafka_source_rate(
    sink_url: str, bootstrap: str, topic: str, total: int, **env: str
) -> tuple[float, float]:
    """Events/s the Kafka source delivers of ``total`` records, from 10 % to 100 % delivered,
    and the source's CPU microseconds per event over the same stretch."""
    before = await fast_sink_count(sink_url)
    source_env = kafka_source_env(sink_url, bootstrap, topic, **env)
    async with SourceProcess("springhead_kafka", source_env) as source:
        if source.process is None:
            raise RuntimeError("the source did not start")
        start, start_count = await wait_for_count(sink_url, before + total // 10, 120)
        cpu_start = cpu_seconds(source.process.pid)
        end, end_count = await wait_for_count(sink_url, before + total, 600)
        cpu_used = cpu_seconds(source.process.pid) - cpu_start
    events = end_count - start_count
    return events / (end - start), cpu_used / events * 1e6


def kafka_like_event(n: int, partitions: int) -> Any:
    """The event the source makes of record ``n`` (same attributes and size)."""
    from dataclasses import dataclass

    from springhead.kafka.mapping import record_to_event

    @dataclass(frozen=True)
    class Record:
        topic: str
        partition: int
        offset: int
        timestamp: int
        key: bytes | None
        value: bytes | None
        headers: tuple[tuple[str, bytes | None], ...]

    record = Record("bench-topic", n % partitions, n // partitions, 1_700_000_000_000 + n, None,
                    PAYLOAD, ())  # fmt: skip
    return record_to_event(record, namespace="testns", name="test").event


async def kafka_baseline_rate(
    sink_url: str, total: int, concurrency: int, partitions: int
) -> tuple[float, float]:
    """The shared Sender alone posting the source's events from memory at ``concurrency``, with
    the delivery policy the source runs with here (retry 0, KafkaSource defaults otherwise:
    exponential from 0.3 s, 600 s per attempt): events/s and CPU microseconds per event."""
    events = [kafka_like_event(n, partitions) for n in range(total + 1000)]
    policy = DeliveryPolicy(
        retry=0, backoff_policy=BackoffPolicy.EXPONENTIAL, backoff_delay=0.3, timeout=600.0
    )
    async with Sender(sink=sink_url, policy=policy, namespace="testns") as sender:
        counter = iter(events)

        async def one() -> None:
            result = await sender.send(next(counter))
            if not result.accepted:
                raise RuntimeError(f"delivery failed: {result}")

        await run_concurrently(1000, concurrency, one)  # warm-up
        cpu_start = time.process_time()
        rate = await run_concurrently(total, concurrency, one)
        return rate, (time.process_time() - cpu_start) / total * 1e6


async def kafka_backlog_rss(
    sink_url: str, bootstrap: str, topic: str, backlog: int, seconds: float
) -> dict[str, float]:
    """Peak and final RSS of the source working through ``backlog`` records for ``seconds``."""
    before = await fast_sink_count(sink_url)
    source_env = kafka_source_env(sink_url, bootstrap, topic, KAFKA_ORDERING="unordered")
    async with SourceProcess("springhead_kafka", source_env) as source:
        if source.process is None:
            raise RuntimeError("the source did not start")
        await wait_for_count(sink_url, before + 1, 120)
        started = time.perf_counter()
        samples = []
        while time.perf_counter() - started < seconds:
            samples.append(rss_mib(source.process.pid))
            await asyncio.sleep(0.1)  # sampling interval
        delivered = await fast_sink_count(sink_url) - before
    return {
        "backlog": backlog,
        "delivered": delivered,
        "seconds": seconds,
        "peak": max(samples),
        "median": statistics.median(samples),
        "last": samples[-1],
        "bare": bare_python_rss(),
    }


async def bench_kafka(
    total: int, backlog: int, rss_seconds: float, rounds: int = 1
) -> dict[str, Any]:
    """(j1) throughput vs the Sender alone (medians of interleaved rounds), (j2) RSS under a
    backlog; a broker from testinfra."""
    from springhead_testinfra.kafka import start_kafka

    log("kafka: starting the broker (testinfra)")
    broker = await asyncio.to_thread(start_kafka)
    try:
        bootstrap = broker.bootstrap
        topics = {p: f"bench-{p}p-{uuid.uuid4().hex[:6]}" for p in (1, 4)}
        for partitions, topic in topics.items():
            log(f"kafka: producing {total} records into {partitions} partition(s)")
            await kafka_produce(bootstrap, topic, total, partitions)
        rows = []
        with FastSink() as sink:
            for partitions, topic in topics.items():
                for ordering in ("ordered", "unordered"):
                    concurrency = partitions if ordering == "ordered" else KAFKA_MAX_IN_FLIGHT
                    baselines, sources = [], []
                    for _ in range(rounds):  # interleaved so drift hits both alike
                        baselines.append(
                            await kafka_baseline_rate(sink.url, total, concurrency, partitions)
                        )
                        sources.append(
                            await kafka_source_rate(
                                sink.url, bootstrap, topic, total, KAFKA_ORDERING=ordering
                            )
                        )
                    baseline = statistics.median(rate for rate, _ in baselines)
                    source = statistics.median(rate for rate, _ in sources)
                    baseline_cpu = statistics.median(cpu for _, cpu in baselines)
                    source_cpu = statistics.median(cpu for _, cpu in sources)
                    rates = f"sender {baseline:.0f}/s, source {source:.0f}/s"
                    log(f"kafka {partitions}p {ordering}: {rates}")
                    rows.append(
                        {
                            "partitions": partitions,
                            "ordering": ordering,
                            "concurrency": concurrency,
                            "baseline": baseline,
                            "source": source,
                            "ratio": source / baseline,
                            "baseline_cpu": baseline_cpu,
                            "source_cpu": source_cpu,
                        }
                    )
            backlog_topic = f"bench-backlog-{uuid.uuid4().hex[:6]}"
            log(f"kafka: producing a backlog of {backlog} records")
            await kafka_produce(bootstrap, backlog_topic, backlog, 4)
            log(f"kafka: RSS while working through the backlog for {rss_seconds:.0f}s")
            rss = await kafka_backlog_rss(sink.url, bootstrap, backlog_topic, backlog, rss_seconds)
    finally:
        await asyncio.to_thread(broker.close)
    return {"rows": rows, "rss": rss, "total": total, "rounds": rounds}


def kafka_lines(result: dict[str, Any]) -> list[str]:
    """The RESULTS.md section of scenario (j)."""
    lines = [
        "## (j) Kafka source (real Apache Kafka broker from testinfra)",
        "",
        "### (j1) Throughput, broker -> source -> sink, vs the Sender alone",
        "",
        f"Targets: source / Sender >= 0.8 unordered, >= 0.5 ordered with 4 partitions. "
        f"{result['total']:,} records per run, measured from 10 % to 100 % delivered, medians of "
        f"{result['rounds']} interleaved rounds; baseline: the shared Sender posting the same "
        "events from memory at the same concurrency to the same sink (bench/fast_sink.py), with "
        "the same delivery policy. Broker, source and sink share the same 2 cores. CPU µs/event: "
        "user + system time of the delivering process per event over the same stretch.",
        "",
        "| partitions | ordering | concurrency | Sender alone events/s | Kafka source events/s "
        "| ratio | | CPU µs/event: Sender alone | Kafka source |",
        "|---:|---|---:|---:|---:|---:|---|---:|---:|",
    ]
    for row in result["rows"]:
        target = KAFKA_TARGETS.get((row["ordering"], row["partitions"]))
        judged = "no target" if target is None else verdict(row["ratio"] >= target)
        lines.append(
            f"| {row['partitions']} | {row['ordering']} | {row['concurrency']} | "
            f"{row['baseline']:,.0f} | {row['source']:,.0f} | {row['ratio']:.2f} | "
            f"{judged} | {row['baseline_cpu']:.0f} | {row['source_cpu']:.0f} |"
        )
    rss = result["rss"]
    lines += [
        "",
        f"### (j2) RSS draining a backlog of {rss['backlog']:,.0f} records",
        "",
        f"Target: peak <= {KAFKA_RSS_TARGET_MIB:.0f} MiB. Sampled every 100 ms while the source "
        "(unordered, defaults) worked through the backlog (4 partitions); baseline: bare "
        "`python -c 'import asyncio'`.",
        "",
        "| backlog | delivered while sampled | peak MiB | median MiB | last MiB "
        "| bare Python MiB | |",
        "|---:|---:|---:|---:|---:|---:|---|",
        f"| {rss['backlog']:,.0f} | {rss['delivered']:,.0f} in {rss['seconds']:.0f} s | "
        f"{rss['peak']:.1f} | {rss['median']:.1f} | {rss['last']:.1f} | {rss['bare']:.1f} | "
        f"{verdict(rss['peak'] <= KAFKA_RSS_TARGET_MIB)} |",
        "",
    ]
    return lines


async def kafka_section(*, quick: bool) -> list[str]:
    """Scenario (j) as bench/run.py reports it: the section's lines, or a line saying why the run
    did not complete (the other scenarios' results are kept)."""
    total, backlog, seconds, rounds = KAFKA_QUICK if quick else KAFKA_FULL
    try:
        return kafka_lines(await bench_kafka(total, backlog, seconds, rounds))
    except Exception as exc:  # noqa: BLE001 - report the failure in the table, keep the rest
        return ["## (j) Kafka source", "", f"Did not complete: {exc!r}", ""]


# --- standalone ---------------------------------------------------------------------------------


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer records (a smoke run)")
    args = parser.parse_args()
    total, backlog, seconds, rounds = KAFKA_QUICK if args.quick else KAFKA_FULL
    result = await bench_kafka(total, backlog, seconds, rounds)
    sys.stdout.write(f"Machine: {machine()}\n\n" + "\n".join(kafka_lines(result)) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
