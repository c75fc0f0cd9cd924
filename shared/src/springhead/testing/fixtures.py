"""pytest fixtures for source tests, loaded through the ``pytest11`` entry point.

``sink``: a started :class:`~springhead.testing.RecordingSink` on loopback (needs pytest-asyncio).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - the fixtures need pytest-asyncio
    pytest_asyncio = None

if pytest_asyncio is not None:

    @pytest_asyncio.fixture
    async def sink() -> AsyncIterator[object]:
        """A real HTTP sink on 127.0.0.1 recording every request; answers 202 by default."""
        from springhead.testing.sink import RecordingSink

        async with RecordingSink() as recording_sink:
            yield recording_sink
