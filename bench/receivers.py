"""Receiver framework candidates for the webhook sources, each run as its own process:
``python bench/receivers.py aiohttp|fastapi|asgi`` prints its port, then serves POST / -> 202 after
reading the body, until killed. The webhook sources use the winner (see bench/RESULTS.md).

``python bench/receivers.py forward SINK_URL`` is the floor of scenario (e): the least a webhook
source written in Python on Springhead's stack does per request (see :func:`serve_forward`).
``python bench/receivers.py kafka-forward BOOTSTRAP TOPIC`` is the floor of scenario (k): the
least an HTTP -> Kafka ingress on the broker's stack does per request
(see :func:`serve_kafka_forward`)."""

# No ``from __future__ import annotations`` here: FastAPI resolves the handler's annotations at
# definition time, and the names are imported inside the function.
import asyncio
import socket
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from springhead.asgi import AsgiApp


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
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="asyncio",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


async def serve_routes(port: int, routes: "Mapping[str, AsgiApp]") -> None:
    """springhead.asgi's server with ``routes``: prints the port once listening, serves forever."""
    from springhead.asgi import Server

    server = Server("127.0.0.1", port, routes)
    await server.start()
    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()
    await asyncio.Event().wait()


def serve_asgi(port: int) -> None:
    """What the sources run: springhead.asgi's server (uvicorn, httptools) with a plain ASGI app."""
    from springhead.asgi import Receive, Scope, Send, read_body, respond

    async def accept(scope: Scope, receive: Receive, send: Send) -> None:
        await read_body(receive, 1024 * 1024)
        await respond(send, 202)

    asyncio.run(serve_routes(port, {"/": accept}))


def serve_forward(port: int, sink: str) -> None:
    """A bare forwarder: the sources' server (springhead.asgi on uvloop) and a pooled aiohttp
    session like the Sender's; each request's body is POSTed to ``sink`` with its Content-Type,
    and the caller gets 202 once the sink answered 2xx (502 otherwise). No CloudEvent, no checks,
    no metrics, no retries: what any Python webhook forwarder on this stack cannot avoid."""
    import aiohttp
    import uvloop
    from springhead.asgi import Receive, Scope, Send, read_body, request_headers, respond

    async def main() -> None:
        connector = aiohttp.TCPConnector(limit=100, keepalive_timeout=30)
        async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:

            async def forward(scope: Scope, receive: Receive, send: Send) -> None:
                body = await read_body(receive, 1024 * 1024)
                content_type = request_headers(scope).get("Content-Type", "")
                async with session.post(
                    sink, data=body, headers={"Content-Type": content_type}
                ) as response:
                    await response.read()
                    status = 202 if 200 <= response.status < 300 else 502
                await respond(send, status)

            await serve_routes(port, {"/": forward})

    uvloop.run(main())


def serve_kafka_forward(port: int, bootstrap: str, topic: str) -> None:
    """A bare HTTP -> Kafka forwarder: the broker ingress's server (springhead.asgi on asyncio's
    loop, as the ingress runs) and an aiokafka producer with the ingress's guarantees (``acks=all``,
    idempotent). Each request's ``ce-*`` headers become ``ce_*`` record headers as they came,
    Content-Type the ``content-type`` header, the body the value; 202 once Kafka acknowledged
    the record, 503 if it failed. No CloudEvent parsing or validation, no arrival time or TTL, no
    metrics, no per-send timeout: what any ingress on this stack cannot avoid."""
    from aiokafka import AIOKafkaProducer
    from springhead.asgi import Receive, Scope, Send, read_body, respond

    async def main() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", enable_idempotence=True
        )
        await producer.start()

        async def forward(scope: Scope, receive: Receive, send: Send) -> None:
            body = await read_body(receive, 1024 * 1024)
            headers = [
                ("ce_" + name[3:].decode("latin-1") if name != b"content-type" else "content-type",
                 value)
                for name, value in scope["headers"]
                if name.startswith(b"ce-") or name == b"content-type"
            ]  # fmt: skip
            try:
                await producer.send_and_wait(topic, body, headers=headers)
            except Exception:  # noqa: BLE001 - any failure is a 503 for the client
                await respond(send, 503)
                return
            await respond(send, 202)

        await serve_routes(port, {"/": forward})

    asyncio.run(main())


if __name__ == "__main__":
    if sys.argv[1] == "forward":
        serve_forward(free_port(), sys.argv[2])
    elif sys.argv[1] == "kafka-forward":
        serve_kafka_forward(free_port(), sys.argv[2], sys.argv[3])
    else:
        serve = {"aiohttp": serve_aiohttp, "fastapi": serve_fastapi, "asgi": serve_asgi}
        serve[sys.argv[1]](free_port())
