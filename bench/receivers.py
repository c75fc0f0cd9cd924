"""Receiver framework candidates for the webhook sources, each run as its own process:
``python bench/receivers.py aiohttp|fastapi|asgi`` prints its port, then serves POST / -> 202 after
reading the body, until killed. The webhook sources use the winner (see bench/RESULTS.md)."""

# No ``from __future__ import annotations`` here: FastAPI resolves the handler's annotations at
# definition time, and the names are imported inside the function.
import asyncio
import socket
import sys


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve_aiohttp(port: int) -> None:
    from aiohttp import web

    async def accept(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=202)

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/", accept)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        sys.stdout.write(f"{port}\n")
        sys.stdout.flush()
        await asyncio.Event().wait()

    asyncio.run(main())


def serve_fastapi(port: int) -> None:
    import uvicorn
    from fastapi import FastAPI, Request, Response

    app = FastAPI()

    @app.post("/")
    async def accept(request: Request) -> Response:
        await request.body()
        return Response(status_code=202)

    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def serve_asgi(port: int) -> None:
    """What the sources run: springhead.asgi's server (uvicorn, httptools) with a plain ASGI app."""
    from springhead.asgi import Receive, Scope, Send, Server, read_body, respond

    async def accept(scope: Scope, receive: Receive, send: Send) -> None:
        await read_body(receive, 1024 * 1024)
        await respond(send, 202)

    async def main() -> None:
        server = Server("127.0.0.1", port, {"/": accept})
        await server.start()
        sys.stdout.write(f"{port}\n")
        sys.stdout.flush()
        await asyncio.Event().wait()

    asyncio.run(main())


if __name__ == "__main__":
    serve = {"aiohttp": serve_aiohttp, "fastapi": serve_fastapi, "asgi": serve_asgi}
    serve[sys.argv[1]](free_port())
