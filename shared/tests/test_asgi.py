"""The runtime's HTTP server (springhead.asgi.Server, uvicorn) over real loopback connections:
routing, methods, headers as sent, and a port that is taken."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest
from springhead.asgi import (
    MAX_HEAD_BYTES,
    Receive,
    Scope,
    Send,
    Server,
    ServerLimits,
    read_body,
    request_headers,
    respond,
)
from springhead.metrics import Metrics
from springhead.runtime import ProcessServer


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers with what it saw: a header's raw bytes back, the body's length."""
    headers = request_headers(scope)
    raw = headers.get("X-Raw", "").encode("utf-8", "surrogateescape")
    body = await read_body(receive, 1024)
    await respond(send, 200, body=raw + b"|" + str(len(body)).encode())


async def test_routes_by_exact_path_and_answers_404_elsewhere() -> None:
    server = Server("127.0.0.1", 0, {"/echo": echo})
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{server.port}"
            async with session.post(
                f"{url}/echo", data=b"x" * 700, headers={"X-Raw": "caf\xe9"}
            ) as response:
                assert response.status == 200
                assert await response.read() == "caf\xe9".encode() + b"|700"
            for path in ("/", "/echo/", "/ECHO", "/elsewhere"):
                async with session.get(f"{url}{path}") as response:
                    assert response.status == 404, path
        # bytes that are not UTF-8 come back as they were sent
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nX-Raw: caf\xe9\r\nContent-Length: 3\r\n"
            b"Connection: close\r\n\r\nabc"
        )
        answer = await reader.read()
        writer.close()
        assert answer.startswith(b"HTTP/1.1 200 ")
        assert b"\r\ncontent-length: 6\r\n" in answer  # not chunked
        assert answer.endswith(b"\r\n\r\ncaf\xe9|3")
    finally:
        await server.stop()


async def test_health_endpoints_answer_get_and_head_and_refuse_other_methods() -> None:
    health = ProcessServer(host="127.0.0.1", port=0, metrics=Metrics())
    health.ready = True
    await health.start()
    try:
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{health.port}"
            for path in ("/healthz", "/readyz", "/metrics"):
                async with session.head(f"{url}{path}") as response:
                    assert response.status == 200, path
                async with session.post(f"{url}{path}", data=b"") as response:
                    assert response.status == 405, path
                    assert response.headers["Allow"] == "GET, HEAD"
            health.live = False
            async with session.get(f"{url}/healthz") as response:
                assert (response.status, await response.text()) == (503, "shutting down\n")
            async with session.get(f"{url}/readyz") as response:
                assert (response.status, await response.text()) == (503, "not ready\n")
    finally:
        await health.stop()


async def test_a_taken_port_is_an_error_at_start() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = Server("127.0.0.1", taken.getsockname()[1], {})
        with pytest.raises(OSError, match="cannot listen on 127.0.0.1"):
            await server.start()


async def test_a_request_head_over_the_bound_gets_431_and_never_reaches_the_route() -> None:
    seen: list[str] = []

    async def route(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["path"])
        await respond(send, 202)

    server = Server("127.0.0.1", 0, {"/": route})
    await server.start()
    try:
        # 1 MiB of one header: more reads than one (a read is at most 256 KiB), so the bound
        # applies whatever way the bytes arrive
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nX-Endless: ")
        for _ in range(64):
            writer.write(b"a" * 16 * 1024)
        writer.write(b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")  # unbounded: 202
        answer = await reader.read()  # until the server closes the connection
        writer.close()
        assert answer.startswith(b"HTTP/1.1 431 ")
        assert answer.endswith(b"request head larger than %d bytes\n" % MAX_HEAD_BYTES)
        assert seen == []

        # a large head under the bound, sent in small pieces, is served
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n")
        for n in range(48):
            writer.write(b"X-Filler-%d: %s\r\n" % (n, b"b" * 1000))
            await writer.drain()
        writer.write(b"\r\n")
        answer = await reader.read()
        writer.close()
        assert answer.startswith(b"HTTP/1.1 202 ")
        assert seen == ["/"]
    finally:
        await server.stop()


async def test_work_routes_refuse_new_requests_once_refusing_and_those_under_way_finish() -> None:
    entered, release = asyncio.Event(), asyncio.Event()

    async def slow(scope: Scope, receive: Receive, send: Send) -> None:
        await read_body(receive, 1024)
        entered.set()
        await release.wait()
        await respond(send, 202)

    server = Server("127.0.0.1", 0, {"/healthz": echo}, work={"/hook": slow})
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{server.port}"
            under_way = asyncio.create_task(session.post(f"{url}/hook", data=b"a"))
            await entered.wait()
            assert server.work_in_progress == 1
            server.refuse_work(9)
            async with session.post(f"{url}/hook", data=b"b") as response:
                assert (response.status, await response.text()) == (503, "shutting down\n")
                assert response.headers["Retry-After"] == "9"
            async with session.post(f"{url}/healthz", data=b"") as response:
                assert response.status == 200  # not a work route: served as before
            assert not await server.work_done(0)
            release.set()
            async with await under_way as response:
                assert response.status == 202
            assert await server.work_done(0)
            assert server.work_in_progress == 0
    finally:
        await server.stop()


async def test_a_work_request_cut_short_by_the_stop_timeout_gets_503_and_no_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    entered = asyncio.Event()

    async def forever(scope: Scope, receive: Receive, send: Send) -> None:
        await read_body(receive, 1024)
        entered.set()
        await asyncio.Event().wait()

    server = Server("127.0.0.1", 0, {}, work={"/hook": forever})
    await server.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx")
    await writer.drain()
    await entered.wait()
    server.refuse_work(3)
    await server.stop(0.1)
    answer = await reader.read()
    writer.close()
    assert answer.startswith(b"HTTP/1.1 503 ")
    assert b"\r\nretry-after: 3\r\n" in answer.lower()
    assert await server.work_done(0)
    assert not [r for r in caplog.records if r.exc_info is not None]


async def test_connections_over_the_bound_are_refused_and_the_others_still_served() -> None:
    server = Server("127.0.0.1", 0, {"/echo": echo}, limits=ServerLimits(max_connections=2))
    await server.start()
    try:
        held = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(2)]
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        async with asyncio.timeout(30):
            answer = await reader.read()  # the server closes it at once
        writer.close()
        assert answer.startswith(b"HTTP/1.1 503 ")
        assert answer.endswith(b"too many connections\n")
        # the two held connections are served as usual
        for held_reader, held_writer in held:
            held_writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            assert (await held_reader.readline()).startswith(b"HTTP/1.1 200 ")
            held_writer.close()
    finally:
        await server.stop()


async def test_an_answer_before_the_body_arrived_ends_the_connection() -> None:
    async def refuse(scope: Scope, receive: Receive, send: Send) -> None:
        await respond(send, 401, "no\n")  # the body is never read

    server = Server("127.0.0.1", 0, {}, work={"/hook": refuse})
    await server.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10)
        # ends: the server closed its side, not waiting for the 990 bytes
        async with asyncio.timeout(30):
            answer = await reader.read()
        writer.close()
        assert answer.startswith(b"HTTP/1.1 401 ")
        assert answer.endswith(b"no\n")
    finally:
        await server.stop()


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"X-Bad: a\x00b", b"header X-Bad holds byte 0x00, which no header may"),
        (b"X-Bad: a\x01b", b"header X-Bad holds byte 0x01, which no header may"),
        (b"ce-id: a\x7fb", b"header ce-id holds byte 0x7F, which no header may"),
        (b"no colon here", b"malformed header line 'no colon here'"),
        (b"Bad Name: x", b"malformed header line 'Bad Name: x'"),
    ],
)
async def test_a_head_the_parser_refuses_gets_400_naming_the_header(
    line: bytes, reason: bytes
) -> None:
    server = Server("127.0.0.1", 0, {"/echo": echo})
    await server.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(
            b"POST /echo HTTP/1.1\r\nHost: x\r\n" + line + b"\r\nContent-Length: 0\r\n\r\n"
        )
        async with asyncio.timeout(30):
            answer = await reader.read()
        writer.close()
        assert answer.startswith(b"HTTP/1.1 400 ")
        assert answer.endswith(b"\r\n\r\n" + reason)
    finally:
        await server.stop()
