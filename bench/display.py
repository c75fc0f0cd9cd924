"""The event display against Knative's event_display, measured in one run on one machine.

    uv run python bench/display.py [--events N] [--rss-events N] [--output FILE]
                                   [--knative-binary PATH]

Knative's event_display is built from the Go module proxy (``knative.dev/eventing``'s
``cmd/event_display`` at :data:`KNATIVE_VERSION`) into the test-stack cache; its code is never
part of this repository. Both displays print every event to stdout (here /dev/null), and get the
same binary-mode events (a 7.3 KB JSON body) from the same aiohttp client, closed loop:

- events/s at concurrency 1 and 8 (after a warm-up), rounds alternating between the two;
- RSS after 10k and after ``--rss-events`` events;
- start to listening: process start to the first accepted TCP connection (median of 7).

Also the display's own CPU time per event (user + system, from /proc), which the load of other
processes on the machine moves less than the rates. Prints a Markdown table; ``--output`` also
writes it to a file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
from harness import knative_binary

KNATIVE_VERSION = "v0.47.0"
PACKAGE = "knative.dev/eventing/cmd/event_display"
#: The data of every event: about 7.3 KB of JSON, the size the display was first measured with.
DATA = json.dumps({"items": [{"n": n, "text": "x" * 60} for n in range(90)]}).encode()


def log(message: str) -> None:
    sys.stderr.write(f"[bench display] {message}\n")
    sys.stderr.flush()


#: ``--knative-binary``: an event_display built already (from the same module proxy).
PREBUILT: list[Path] = []


def knative_event_display() -> Path:
    """Knative's event_display binary, built once into the cache."""
    return PREBUILT[0] if PREBUILT else knative_binary(PACKAGE, KNATIVE_VERSION, "event_display")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


#: The port Knative's event_display listens on: its CloudEvents client's default, not settable.
KNATIVE_PORT = 8080


def port_for(which: str) -> int:
    return KNATIVE_PORT if which == "knative" else free_port()


def command(which: str, port: int) -> tuple[list[str], dict[str, str]]:
    base = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "")}
    if which == "knative":
        return [str(knative_event_display())], base
    env = {**base, "SPRINGHEAD_PORT": str(port), "SPRINGHEAD_HOST": "127.0.0.1"}
    return [sys.executable, "-m", "springhead_display"], env


def wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the display exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.002)  # polling the port, as a probe would


@contextmanager
def running(which: str) -> Iterator[tuple[str, int]]:
    port = port_for(which)
    argv, env = command(which, port)
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_listening(port, process)
        yield f"http://127.0.0.1:{port}/", process.pid
    finally:
        process.terminate()
        process.wait(30)


def start_to_listening(which: str, runs: int = 7) -> float:
    times = []
    for _ in range(runs):
        port = port_for(which)
        argv, env = command(which, port)
        started = time.perf_counter()
        process = subprocess.Popen(
            argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_listening(port, process)
        times.append(time.perf_counter() - started)
        process.terminate()
        process.wait(30)
    return statistics.median(times)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def post_events(url: str, total: int, concurrency: int, first: int = 0) -> float:
    """Events per second posting ``total`` binary-mode events with ``concurrency`` workers."""
    counter = iter(range(first, first + total))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            for n in counter:
                headers = {
                    "ce-specversion": "1.0",
                    "ce-type": "dev.springhead.bench",
                    "ce-source": "/bench",
                    "ce-id": f"bench-{n}",
                    "Content-Type": "application/json",
                }
                async with session.post(url, data=DATA, headers=headers) as response:
                    await response.read()
                    if response.status >= 300:
                        raise RuntimeError(f"display answered {response.status}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return total / (time.perf_counter() - started)


async def measure(events: int, rss_events: int, rounds: int) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    rates: dict[tuple[str, int], list[float]] = {}
    cpus: dict[str, list[float]] = {}
    for round_ in range(rounds):
        for which in ("knative", "springhead"):
            with running(which) as (url, pid):
                await post_events(url, 500, 8)  # warm-up
                for concurrency in (1, 8):
                    cpu = cpu_seconds(pid)
                    rate = await post_events(url, events, concurrency)
                    cpu_us = (cpu_seconds(pid) - cpu) / events * 1e6
                    rates.setdefault((which, concurrency), []).append(rate)
                    cpus.setdefault(which, []).append(cpu_us)
                    log(
                        f"round {round_ + 1}: {which} c={concurrency}: {rate:,.0f} events/s, "
                        f"{cpu_us:.0f} CPU µs/event"
                    )
    for which in ("knative", "springhead"):
        with running(which) as (url, pid):
            await post_events(url, 10_000, 8)
            at_10k = rss_mib(pid)
            await post_events(url, rss_events - 10_000, 8, first=10_000)
            at_n = rss_mib(pid)
        log(f"{which}: RSS {at_10k:.1f} MiB at 10k, {at_n:.1f} MiB at {rss_events:,}")
        results[which] = {
            "c1": statistics.median(rates[(which, 1)]),
            "c8": statistics.median(rates[(which, 8)]),
            "cpu": statistics.median(cpus[which]),
            "rss_10k": at_10k,
            "rss_n": at_n,
            "start": start_to_listening(which),
        }
    return results


def table(results: dict[str, dict[str, float]], rss_events: int) -> str:
    kn, sh = results["knative"], results["springhead"]
    rows = [
        ("events/s, concurrency 1", f"{kn['c1']:,.0f}", f"{sh['c1']:,.0f}", sh["c1"] / kn["c1"]),
        ("events/s, concurrency 8", f"{kn['c8']:,.0f}", f"{sh['c8']:,.0f}", sh["c8"] / kn["c8"]),
        ("display CPU µs per event", f"{kn['cpu']:.0f}", f"{sh['cpu']:.0f}", kn["cpu"] / sh["cpu"]),
        ("RSS after 10k events (MiB)", f"{kn['rss_10k']:.1f}", f"{sh['rss_10k']:.1f}", None),
        (
            f"RSS after {rss_events // 1000}k events (MiB)",
            f"{kn['rss_n']:.1f}",
            f"{sh['rss_n']:.1f}",
            None,
        ),
        ("start to listening (s)", f"{kn['start']:.3f}", f"{sh['start']:.3f}", None),
    ]
    lines = [
        f"| | Knative event_display {KNATIVE_VERSION} | springhead-display | ratio |",
        "|---|---|---|---|",
    ]
    for name, knative, springhead, ratio in rows:
        lines.append(
            f"| {name} | {knative} | {springhead} | {'' if ratio is None else f'{ratio:.2f}×'} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=5000, help="events per rate measurement")
    parser.add_argument("--rss-events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", type=Path)
    parser.add_argument("--knative-binary", type=Path, help="use this event_display build")
    parser.add_argument(
        "--start-only",
        type=int,
        metavar="RUNS",
        help="measure only start to listening: RUNS starts of each, alternating (medians)",
    )
    args = parser.parse_args()
    if args.knative_binary:
        PREBUILT.append(args.knative_binary)
    knative_event_display()
    if args.start_only:
        starts: dict[str, list[float]] = {"knative": [], "springhead": []}
        for _ in range(args.start_only):
            for which, runs in starts.items():
                runs.append(start_to_listening(which, runs=1))
        sys.stdout.write(
            "| start to listening (s), median / fastest | "
            + " | ".join(f"{statistics.median(v):.3f} / {min(v):.3f}" for v in starts.values())
            + f" | {args.start_only} starts each |\n"
        )
        return
    results = asyncio.run(measure(args.events, args.rss_events, args.rounds))
    text = table(results, args.rss_events)
    sys.stdout.write(text)
    if args.output:
        args.output.write_text(text)


if __name__ == "__main__":
    main()
