"""Run Springhead locally with no cluster and no broker: an event display, a ping source and an
HTTP source in front of the display.

Both sources run as real processes with the Knative adapter contract's environment (K_SINK
pointing at the display), exactly as they would under a SinkBinding.

    uv run python scripts/run_local.py            # until Ctrl-C
    uv run python scripts/run_local.py --count 3  # stop after three events
    curl -X POST http://127.0.0.1:8090/ -H 'Content-Type: application/json' -d '{"hello": "world"}'
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from springhead_testing import ReceivedRequest, RecordingSink, SourceProcess, adapter_env
from springhead_testing.display import format_request


def _show(request: ReceivedRequest) -> None:
    sys.stdout.write(format_request(request) + "\n\n")
    sys.stdout.flush()


async def run(schedule: str, count: int | None, port: int, http_port: int) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with RecordingSink(port=port, on_request=_show) as display:
        env = adapter_env(
            display.url,
            NAMESPACE="demo",
            NAME="every-few-seconds",
            K_CE_OVERRIDES='{"extensions": {"origin": "springhead-local"}}',
            PING_SCHEDULE=schedule,
            PING_CONTENT_TYPE="application/json",
            PING_DATA='{"message": "Hello from Springhead"}',
        )
        sys.stdout.write(f"event display on {display.url}; starting ping source ({schedule!r})\n")
        sys.stdout.flush()
        http_env = adapter_env(
            display.url, NAMESPACE="demo", NAME="webhook", SPRINGHEAD_PORT=str(http_port)
        )
        async with (
            SourceProcess("springhead_ping", env) as source,
            SourceProcess("springhead_http", http_env) as http_source,
        ):
            sys.stdout.write(
                f"ping source ready (health and metrics on port {source.port})\n"
                f"http source ready on http://127.0.0.1:{http_source.port}/ - try:\n"
                f"  curl -X POST http://127.0.0.1:{http_source.port}/ "
                "-H 'Content-Type: application/json' -d '{\"hello\": \"world\"}'\n"
                "events follow. Ctrl-C stops.\n\n"
            )
            sys.stdout.flush()
            waiters = {asyncio.create_task(stop.wait())}
            if count is not None:
                waiters.add(asyncio.create_task(display.wait_for(count, timeout=3600)))
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
        sys.stdout.write(f"stopped; {len(display.accepted)} events received\n")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description="Run a ping source into an event display.")
    parser.add_argument(
        "--schedule",
        default="*/3 * * * * *",
        help="cron schedule, 6 fields with seconds first (default: every 3 s)",
    )
    parser.add_argument("--count", type=int, default=None, help="stop after this many events")
    parser.add_argument("--port", type=int, default=0, help="event display port (default: any)")
    parser.add_argument(
        "--http-port", type=int, default=8090, help="HTTP source port (default 8090; 0: any)"
    )
    args = parser.parse_args()
    raise SystemExit(asyncio.run(run(args.schedule, args.count, args.port, args.http_port)))


if __name__ == "__main__":
    main()
