"""Run Springhead locally with no cluster and no Kafka: a ping source and an HTTP source send to
a Broker (springhead-broker on its in-memory backend: one process, not durable), whose two
Triggers filter their events into an event display: one with ``filter.attributes`` (the ping
events), one with a CESQL ``filters`` expression (everything else).

Every piece runs as a real process with the Knative adapter contract's environment (the sources'
K_SINK is the broker's ingress URL), exactly as they would under a SinkBinding to a Broker.

    uv run python scripts/run_local.py            # until Ctrl-C
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

from springhead_testing import ReceivedRequest, RecordingSink, SourceProcess, adapter_env
from springhead_testing.display import format_request


def _show(request: ReceivedRequest) -> None:
    sys.stdout.write(format_request(request) + "\n\n")
    sys.stdout.flush()


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
    async with (
        RecordingSink(port=port, on_request=_show) as display,
        SourceProcess(
            "springhead_broker",
            {
                "NAMESPACE": "demo",
                "NAME": "default",
                "K_COMPONENT": "broker",
                "SPRINGHEAD_PORT": "0",
                "SPRINGHEAD_HOST": "127.0.0.1",
                "BROKER_ROLE": "all",
                "BROKER_BACKEND": "memory",
                "BROKER_CONTRACT_FILE": str(_contract(Path(_workdir()), display.url)),
            },
        ) as broker,
    ):
        await broker.wait_for_log("contract applied")
        ingress = f"http://127.0.0.1:{broker.port}/demo/default"
        sys.stdout.write(f"broker ingress on {ingress} (in memory), triggers into {display.url}\n")
        env = adapter_env(
            ingress,
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
            ingress, NAMESPACE="demo", NAME="webhook", SPRINGHEAD_PORT=str(http_port)
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


def _workdir() -> str:
    # Removed at exit; the broker reads the contract only while this script runs.
    folder = tempfile.TemporaryDirectory(prefix="springhead-run-")
    _KEEP.append(folder)
    return folder.name


_KEEP: list[tempfile.TemporaryDirectory[str]] = []


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
