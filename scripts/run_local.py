"""Run Springhead locally with no cluster and no broker: the event display
(``springhead_display``: its terminal view on this terminal, its live page in a browser), a ping
source and an HTTP source in front of it.

Every process is real and the sources get the Knative adapter contract's environment (K_SINK
pointing at the display), exactly as they would under a SinkBinding.

    uv run python scripts/run_local.py            # until Ctrl-C; the page: http://127.0.0.1:8080/
    uv run python scripts/run_local.py --count 3  # stop after three events
    curl -X POST http://127.0.0.1:8090/ -H 'Content-Type: application/json' -d '{"hello": "world"}'
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

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
    # stdout=None: the display's terminal view (Knative event_display's format) is this one.
    async with SourceProcess("springhead_display", display_env, stdout=None) as display:
        url = f"http://127.0.0.1:{display.port}/"
        sys.stdout.write(f"event display on {url} - open it in a browser for the live page\n")
        sys.stdout.flush()
        counted: asyncio.Task[object] | None = None
        if count is not None:
            # Subscribed before the sources start, so it sees their first event.
            counted = asyncio.create_task(count_events(f"{url}api/stream", count))
        env = adapter_env(
            url,
            NAMESPACE="demo",
            NAME="every-few-seconds",
            K_CE_OVERRIDES='{"extensions": {"origin": "springhead-local"}}',
            PING_SCHEDULE=schedule,
            PING_CONTENT_TYPE="application/json",
            PING_DATA='{"message": "Hello from Springhead"}',
        )
        http_env = adapter_env(
            url, NAMESPACE="demo", NAME="webhook", SPRINGHEAD_PORT=str(http_port)
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
    sys.stdout.write("stopped\n")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Run the event display with a ping and an HTTP source in front of it."
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
