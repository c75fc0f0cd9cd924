"""(b) Ping tick lateness (sink receipt minus scheduled tick) and (c) idle RSS of a running ping
source vs bare Python and vs its third-party dependencies imported alone; one run measures both."""

from __future__ import annotations

import statistics
import subprocess
import sys

from harness import PING_AS_SHIPPED, bare_python_rss, idle_rss, log, rss_mib, verdict
from springhead_testing import RecordingSink, SourceProcess, adapter_env

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
