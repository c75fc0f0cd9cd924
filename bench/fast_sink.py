"""A minimal sink for benchmarks: answers 202 to every POST, counts, records nothing else.

Run as its own process so the sink does not share a core or an event loop with the client:
``python bench/fast_sink.py`` prints the port it listens on, then serves until killed.
"""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web


async def main() -> None:
    count = 0

    async def accept(request: web.Request) -> web.Response:
        nonlocal count
        await request.read()
        count += 1
        return web.Response(status=202)

    async def counted(_: web.Request) -> web.Response:
        return web.Response(text=str(count))

    app = web.Application()
    app.router.add_post("/", accept)
    app.router.add_get("/count", counted)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    sys.stdout.write(f"{runner.addresses[0][1]}\n")
    sys.stdout.flush()
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
