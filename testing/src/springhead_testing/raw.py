"""Raw HTTP for tests that send what a well-behaved client would not: bytes as they are."""

from __future__ import annotations

import socket

__all__ = ["exchange", "is_text"]


def exchange(port: int, request: bytes, *, timeout: float = 30.0) -> bytes:
    """Send ``request`` (ask for ``Connection: close``) to 127.0.0.1:``port``; return everything
    the server sent until it closed."""
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as client:
        client.sendall(request)
        while chunk := client.recv(65536):
            answer += chunk
    return answer


def is_text(value: str) -> bool:
    """Whether ``value`` can be sent as UTF-8 (no lone surrogate standing for a byte that was not
    UTF-8)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
