"""The README's run command: the event display (springhead_display), a broker in memory with two
triggers into it, a ping source and an HTTP source; no cluster, no Kafka. Runs the script as a
user would, reads what it prints (the display's terminal view among it) and opens the page it
names."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[2]


async def test_run_local_shows_ping_and_http_events_flowing() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "scripts" / "run_local.py"),
        "--schedule",
        "* * * * * *",
        "--http-port",
        "0",
        "--port",
        "0",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    seen: list[str] = []

    async def read_until(pattern: str) -> re.Match[str]:
        while True:
            async with asyncio.timeout(60):
                line = (await process.stdout.readline()).decode()  # type: ignore[union-attr]
            assert line, "run_local.py ended early:\n" + "".join(seen)
            seen.append(line)
            found = re.search(pattern, line)
            if found:
                return found

    try:
        page = (await read_until(r"event display on (http://127\.0\.0\.1:\d+/)")).group(1)
        await read_until(r"broker ingress on http://127\.0\.0\.1:\d+/demo/default \(in memory\)")
        port = (await read_until(r"http source ready on http://127\.0\.0\.1:(\d+)/")).group(1)
        await read_until(r"type: dev\.knative\.sources\.ping")
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"http://127.0.0.1:{port}/", json={"hello": "world"}) as response,
        ):
            assert response.status == 202
        await read_until(r"type: dev\.springhead\.sources\.http")
        await read_until(r'"hello": "world"')
        async with aiohttp.ClientSession() as session:
            async with session.get(page) as response:
                assert response.status == 200
                assert response.content_type == "text/html"
            async with session.get(f"{page}api/events") as response:
                shown = await response.json()
        types = {event["attributes"]["type"] for event in shown["events"]}
        assert {"dev.knative.sources.ping", "dev.springhead.sources.http"} <= types
    finally:
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(60):
            await process.communicate()
    assert process.returncode == 0
    text = "".join(seen)
    assert "origin: springhead-local" in text
    assert "knativearrivaltime:" in text  # the events came through the broker
    assert '"message": "Hello from Springhead"' in text
