"""A minimal sink for benchmarks: answers 202 to every POST and counts.

Run as its own process so the sink does not share a core or an event loop with the client:
``python bench/fast_sink.py`` prints the port it listens on, then serves until killed;
``GET /count`` says how many POSTs arrived. With ``--record-arrivals`` it also keeps each event's
arrival time by ``ce-id`` (wall clock), served as JSON at ``GET /received`` (latency benches);
with ``--record-sources``, each arrival as ``[ce-source, wall clock]`` at ``GET /arrivals`` (for
senders whose ids are random).
"""

from __future__ import annotations

import asyncio
import sys
import time

from aiohttp import web


async def main(*, record_arrivals: bool = False, record_sources: bool = False) -> None:
    count = 0
    received: dict[str, float] = {}
    by_source: list[tuple[str, float]] = []

    async def accept(request: web.Request) -> web.Response:
        nonlocal count
        await request.read()
        count += 1
        if record_arrivals:
            received[request.headers.get("ce-id", "")] = time.time()
        if record_sources:
            by_source.append((request.headers.get("ce-source", ""), time.time()))
        return web.Response(status=202)

    async def counted(_: web.Request) -> web.Response:
        return web.Response(text=str(count))

    async def arrivals(_: web.Request) -> web.Response:
        return web.json_response(received)

    async def source_arrivals(_: web.Request) -> web.Response:
        return web.json_response(by_source)

    app = web.Application()
    app.router.add_post("/", accept)
    app.router.add_get("/count", counted)
    app.router.add_get("/received", arrivals)
    app.router.add_get("/arrivals", source_arrivals)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    sys.stdout.write(f"{runner.addresses[0][1]}\n")
    sys.stdout.flush()
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(
        main(
            record_arrivals="--record-arrivals" in sys.argv[1:],
            record_sources="--record-sources" in sys.argv[1:],
        )
    )
