"""Slow clients for drills against a source's port: sockets that hold a connection open the way a
slowloris attack does, and what the server finally did with each of them.

Each kind stops partway and then sends nothing more:

- ``idle``: connects and sends nothing;
- ``partial-head``: the request line and part of the headers;
- ``partial-body``: a whole head (``head`` given by the caller: path, credentials) announcing a
  body of 1,000 bytes, then 10 of them;
- ``endless-chunked``: a whole head with ``Transfer-Encoding: chunked``, then one chunk and never
  the last one.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

__all__ = ["KINDS", "SlowClient", "open_slow_clients", "rss_bytes"]

KINDS = ("idle", "partial-head", "partial-body", "endless-chunked")


@dataclass
class SlowClient:
    """One slow socket: its kind and its streams."""

    kind: str
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    async def outcome(self, *, within: float = 60.0) -> tuple[int | None, bytes]:
        """Wait until the server ends the connection; return the status it answered (None for
        no answer) and everything it sent. AssertionError if the connection is still open after
        ``within`` seconds (a guard against a hanging test, far above any server timeout)."""
        try:
            async with asyncio.timeout(within):
                answer = await self.reader.read()
        except ConnectionResetError:
            answer = b""
        except TimeoutError:
            raise AssertionError(f"the server kept a {self.kind} connection open") from None
        self.writer.close()
        status = int(answer.split()[1]) if answer.startswith(b"HTTP/1.1 ") else None
        return status, answer


def _opening(kind: str, path: str, head: bytes) -> bytes:
    start = b"POST %s HTTP/1.1\r\nHost: springhead\r\n" % path.encode()
    if kind == "idle":
        return b""
    if kind == "partial-head":
        return start + b"Content-Type: application/json\r\nX-Slow: "
    if kind == "partial-body":
        return start + head + b"Content-Length: 1000\r\n\r\n" + b"{" * 10
    if kind == "endless-chunked":
        return start + head + b"Transfer-Encoding: chunked\r\n\r\n5\r\n{" + b" " * 4 + b"\r\n"
    raise ValueError(f"unknown kind {kind!r}; choose from {KINDS}")


async def open_slow_clients(
    port: int, *, count: int, path: str = "/", head: bytes = b"", kinds: tuple[str, ...] = KINDS
) -> list[SlowClient]:
    """``count`` sockets of each of ``kinds`` to 127.0.0.1:``port``, each stopped partway.

    ``head`` adds header lines (each ending ``\\r\\n``) to the kinds that send a whole head.
    """
    clients: list[SlowClient] = []
    for kind in kinds:
        for _ in range(count):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(_opening(kind, path, head))
            await writer.drain()
            clients.append(SlowClient(kind, reader, writer))
    return clients


def rss_bytes(pid: int) -> int:
    """The resident set size of process ``pid`` (Linux /proc)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")
