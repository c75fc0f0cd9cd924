"""(d) Process start to /readyz answering 200 vs the start of a bare Python interpreter."""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time

import aiohttp
from harness import PING_AS_SHIPPED, verdict
from springhead_testing import RecordingSink, adapter_env


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
