"""(f) Receiver frameworks for the webhook sources (plain ASGI on uvicorn as the runtime serves,
aiohttp.web, FastAPI on uvicorn), each bench/receivers.py in its own process: rate and server CPU
per request."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import aiohttp
from bench_webhook import closed_loop, http_request
from harness import HERE, cpu_seconds, log, rss_mib


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
