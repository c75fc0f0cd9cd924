"""pytest fixtures for source tests, loaded through the ``pytest11`` entry point.

``sink``: a started :class:`~springhead_testing.RecordingSink` on loopback (needs pytest-asyncio).
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator

if importlib.util.find_spec("pytest_asyncio") is not None:
    import pytest_asyncio

    from springhead_testing.sink import RecordingSink

    @pytest_asyncio.fixture
    async def sink() -> AsyncIterator[RecordingSink]:
        """A real HTTP sink on 127.0.0.1 recording every request; answers 202 by default."""
        async with RecordingSink() as recording_sink:
            yield recording_sink
