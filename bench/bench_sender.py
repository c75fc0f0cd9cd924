"""(a) Sender throughput vs raw aiohttp POSTs of the same bytes at the same concurrency, to the
fast sink in its own process."""

from __future__ import annotations

import statistics

import aiohttp
from cloudevents.core.v1.event import CloudEvent
from harness import PAYLOAD, FastSink, log, run_concurrently, verdict
from springhead.config import BackoffPolicy
from springhead.delivery import DeliveryPolicy
from springhead.sender import Sender


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
