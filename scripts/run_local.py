"""Run Springhead locally with no cluster and no Kafka: a ping source and an HTTP source send to
a Broker (springhead-broker on its in-memory backend: one process, not durable), whose two
Triggers filter their events into the event display (``springhead_display``: its terminal view
on this terminal, its live page in a browser): one with ``filter.attributes`` (the ping events),
one with a CESQL ``filters`` expression (everything else).

Every piece runs as a real process with the Knative adapter contract's environment (the sources'
K_SINK is the broker's ingress URL), exactly as they would under a SinkBinding to a Broker.

    uv run python scripts/run_local.py            # until Ctrl-C; the page: http://127.0.0.1:8080/
    uv run python scripts/run_local.py --count 3  # stop after three events
    curl -X POST http://127.0.0.1:8090/ -H 'Content-Type: application/json' -d '{"hello": "world"}'
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import tempfile
from pathlib import Path

import aiohttp
from springhead_testing import SourceProcess, adapter_env


async def count_events(stream_url: str, count: int) -> None:
    """Return once the display's event stream (Server-Sent Events) has shown ``count`` events."""
    seen = 0
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    async with aiohttp.ClientSession(timeout=timeout) as session, session.get(stream_url) as reply:
        async for line in reply.content:
            if line.startswith(b"event: cloudevent"):
                seen += 1
                if seen >= count:
                    return


def _contract(folder: Path, display: str) -> Path:
    """The broker's contract file: broker demo/default, a trigger per source kind."""
    triggers = [
        {
            "name": "pings",
            "subscriber": display,
            "filter": {"attributes": {"type": "dev.knative.sources.ping"}},
        },
        {
            "name": "everything-else",
            "subscriber": display,
            "filters": [{"cesql": "type <> 'dev.knative.sources.ping'"}],
        },
    ]
    path = folder / "contract.json"
    path.write_text(
        json.dumps({"brokers": [{"namespace": "demo", "name": "default", "triggers": triggers}]})
    )
    return path


async def run(schedule: str, count: int | None, port: int, http_port: int) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    display_env = {
        "NAMESPACE": "demo",
        "NAME": "event-display",
        "K_COMPONENT": "springhead-display",
        "SPRINGHEAD_PORT": str(port),
        "SPRINGHEAD_HOST": "127.0.0.1",
    }
    with tempfile.TemporaryDirectory(prefix="springhead-run-") as workdir:
        # stdout=None: the display's terminal view (Knative event_display's format) is this one.
        async with SourceProcess("springhead_display", display_env, stdout=None) as display:
            url = f"http://127.0.0.1:{display.port}/"
            sys.stdout.write(f"event display on {url} - open it in a browser for the live page\n")
            sys.stdout.flush()
            counted: asyncio.Task[object] | None = None
            if count is not None:
                # Subscribed before the sources start, so it sees their first event.
                counted = asyncio.create_task(count_events(f"{url}api/stream", count))
            broker_env = {
                "NAMESPACE": "demo",
                "NAME": "default",
                "K_COMPONENT": "broker",
                "SPRINGHEAD_PORT": "0",
                "SPRINGHEAD_HOST": "127.0.0.1",
                "BROKER_ROLE": "all",
                "BROKER_BACKEND": "memory",
                "BROKER_CONTRACT_FILE": str(_contract(Path(workdir), url)),
            }
            async with SourceProcess("springhead_broker", broker_env) as broker:
                await broker.wait_for_log("contract applied")
                ingress = f"http://127.0.0.1:{broker.port}/demo/default"
                sys.stdout.write(f"broker ingress on {ingress} (in memory), triggers into {url}\n")
                await _sources(schedule, ingress, http_port, stop, counted)
    sys.stdout.write("stopped\n")
    return 0


async def _sources(
    schedule: str,
    ingress: str,
    http_port: int,
    stop: asyncio.Event,
    counted: asyncio.Task[object] | None,
) -> None:
    """The ping and HTTP sources, sending to ``ingress``, until ``stop`` or ``counted``."""
    env = adapter_env(
        ingress,
        NAMESPACE="demo",
        NAME="every-few-seconds",
        K_CE_OVERRIDES='{"extensions": {"origin": "springhead-local"}}',
        PING_SCHEDULE=schedule,
        PING_CONTENT_TYPE="application/json",
        PING_DATA='{"message": "Hello from Springhead"}',
    )
    http_env = adapter_env(
        ingress, NAMESPACE="demo", NAME="webhook", SPRINGHEAD_PORT=str(http_port)
    )
    async with (
        SourceProcess("springhead_ping", env) as source,
        SourceProcess("springhead_http", http_env) as http_source,
    ):
        sys.stdout.write(
            f"ping source ready ({schedule!r}; health and metrics on port {source.port})\n"
            f"http source ready on http://127.0.0.1:{http_source.port}/ - try:\n"
            f"  curl -X POST http://127.0.0.1:{http_source.port}/ "
            "-H 'Content-Type: application/json' -d '{\"hello\": \"world\"}'\n"
            "events follow. Ctrl-C stops.\n\n"
        )
        sys.stdout.flush()
        waiters: set[asyncio.Task[object]] = {asyncio.create_task(stop.wait())}
        if counted is not None:
            waiters.add(counted)
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Run a ping and an HTTP source through an in-memory broker into the display."
    )
    parser.add_argument(
        "--schedule",
        default="*/3 * * * * *",
        help="cron schedule, 6 fields with seconds first (default: every 3 s)",
    )
    parser.add_argument("--count", type=int, default=None, help="stop after this many events")
    parser.add_argument(
        "--port", type=int, default=8080, help="event display port (default 8080; 0: any)"
    )
    parser.add_argument(
        "--http-port", type=int, default=8090, help="HTTP source port (default 8090; 0: any)"
    )
    args = parser.parse_args()
    raise SystemExit(asyncio.run(run(args.schedule, args.count, args.port, args.http_port)))


if __name__ == "__main__":
    main()
