"""Broker ingress benchmark: events/s accepted (202 after acks=all) by the broker's ingress,
against the same-run baseline of a bare aiokafka producer writing the same records with the same
acks, at the same concurrency, to a real Apache Kafka broker (testinfra). On its own:

    uv run --no-sync python bench/bench_broker.py [--quick]

(k1) The ingress (its own process, ``BROKER_ROLE=ingress``) gets binary-mode CloudEvents POSTed
by ``concurrency`` clients over keep-alive connections; each request is one event, answered once
Kafka acknowledged it (``acks=all``, idempotent). Baseline: ``AIOKafkaProducer(acks="all",
enable_idempotence=True)`` in this process, ``send_and_wait`` of the record the ingress writes
(``event_to_record`` of the same event), at the same concurrency. Reported: both rates and their
ratio; no target yet (first measurement).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import uuid
from pathlib import Path

import aiohttp
from harness import PAYLOAD, log, machine, run_concurrently
from springhead.events import validated_event
from springhead.kafka.mapping import event_to_record
from springhead_testing import SourceProcess

#: (events per run, concurrency levels)
FULL = (20_000, (1, 16, 64))
QUICK = (2_000, (1, 16))


def _headers(n: int) -> dict[str, str]:
    return {
        "ce-specversion": "1.0",
        "ce-id": f"bench-{n}",
        "ce-source": "/bench",
        "ce-type": "dev.springhead.bench",
        "content-type": "application/json",
    }


async def ingress_rate(port: int, path: str, total: int, concurrency: int) -> float:
    """Events/s the ingress accepts (202) from ``concurrency`` keep-alive clients."""
    counter = iter(range(10**9))
    url = f"http://127.0.0.1:{port}{path}"
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> None:
            async with session.post(url, data=PAYLOAD, headers=_headers(next(counter))) as answer:
                if answer.status != 202:
                    raise RuntimeError(f"ingress answered {answer.status}: {await answer.text()}")

        await run_concurrently(min(500, total), concurrency, one)  # warm-up
        return await run_concurrently(total, concurrency, one)


async def producer_rate(bootstrap: str, topic: str, total: int, concurrency: int) -> float:
    """Events/s a bare aiokafka producer writes (acks=all, idempotent), one send_and_wait per
    event from ``concurrency`` workers: the same record the ingress writes."""
    from aiokafka import AIOKafkaProducer

    counter = iter(range(10**9))
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:

        async def one() -> None:
            n = next(counter)
            attributes = {k[3:]: v for k, v in _headers(n).items() if k.startswith("ce-")}
            attributes["datacontenttype"] = "application/json"
            record = event_to_record(validated_event(attributes, PAYLOAD))
            await producer.send_and_wait(
                topic, record.value, key=record.key, headers=record.headers
            )

        await run_concurrently(min(500, total), concurrency, one)  # warm-up
        return await run_concurrently(total, concurrency, one)
    finally:
        await producer.stop()


async def bench_broker(total: int, levels: tuple[int, ...]) -> list[tuple[int, float, float]]:
    """(concurrency, ingress events/s, bare producer events/s) per level."""
    from springhead_testinfra.kafka import start_kafka

    log("kafka: starting the broker (testinfra)")
    kafka = await asyncio.to_thread(start_kafka)
    try:
        name = f"bench-{uuid.uuid4().hex[:8]}"
        topic = f"knative-broker-bench-{name}"
        await asyncio.to_thread(kafka.create_topic, topic, 4)
        baseline_topic = f"bench-baseline-{name}"
        await asyncio.to_thread(kafka.create_topic, baseline_topic, 4)
        with tempfile.TemporaryDirectory() as folder:
            contract = Path(folder) / "contract.json"
            contract.write_text(json.dumps({"brokers": [{"namespace": "bench", "name": name}]}))
            env = {
                "SPRINGHEAD_PORT": "0",
                "SPRINGHEAD_HOST": "127.0.0.1",
                "SPRINGHEAD_EVENT_LOOP": "asyncio",  # as the baseline's loop in this process
                "BROKER_ROLE": "ingress",
                "BROKER_BACKEND": "kafka",
                "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
                "BROKER_CONTRACT_FILE": str(contract),
            }
            results = []
            async with SourceProcess("springhead_broker", env) as ingress:
                await ingress.wait_for_log("contract applied")
                assert ingress.port is not None
                for concurrency in levels:
                    log(f"ingress at concurrency {concurrency}")
                    served = await ingress_rate(ingress.port, f"/bench/{name}", total, concurrency)
                    log(f"bare producer at concurrency {concurrency}")
                    bare = await producer_rate(kafka.bootstrap, baseline_topic, total, concurrency)
                    results.append((concurrency, served, bare))
            return results
    finally:
        await asyncio.to_thread(kafka.close)


def broker_lines(results: list[tuple[int, float, float]], total: int) -> list[str]:
    lines = [
        "## (k) Broker ingress (real Apache Kafka broker from testinfra)",
        "",
        f"{total} binary-mode events per run, 4 partitions, acks=all (idempotent) on both sides.",
        "",
        "| concurrency | ingress events/s | bare aiokafka producer events/s | ingress / bare |",
        "|---:|---:|---:|---:|",
    ]
    for concurrency, served, bare in results:
        lines.append(f"| {concurrency} | {served:,.0f} | {bare:,.0f} | {served / bare:.2f} |")
    return [*lines, ""]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer events (a smoke run)")
    args = parser.parse_args()
    total, levels = QUICK if args.quick else FULL
    results = await bench_broker(total, levels)
    sys.stdout.write(f"Machine: {machine()}\n\n" + "\n".join(broker_lines(results, total)) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
