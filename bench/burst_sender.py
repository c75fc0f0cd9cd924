"""The floor of a burst: N POSTs fired at the same instant from a bare aiohttp client.

``python bench/burst_sender.py N URL`` prints ``ready`` once its session is open, then at every
:data:`PERIOD`-second boundary of the wall clock POSTs N binary-mode CloudEvents to URL, all started
at that instant, until killed. Event ``i`` carries the source
``/apis/v1/namespaces/bench/pingsources/ping-<i>`` and ``{"n": i}`` as data, as the PingSources
of ``bench/mtping.py`` do. The requests of a tick are built before it; nothing else runs in the
process: what a burst costs here is the least any Python sender on this stack (asyncio, aiohttp's
client with its default 100 connections, the same as Springhead's sender) pays for it.
"""

from __future__ import annotations

import asyncio
import sys
import time

import aiohttp

PERIOD = 10


def requests_of(count: int, tick: int) -> list[tuple[dict[str, str], bytes]]:
    """The headers and body of each of the ``count`` events of ``tick``."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(tick))
    return [
        (
            {
                "ce-specversion": "1.0",
                "ce-type": "dev.knative.sources.ping",
                "ce-source": f"/apis/v1/namespaces/bench/pingsources/ping-{index:05d}",
                "ce-id": f"{index}-{tick}",
                "ce-time": stamp,
                "content-type": "application/json",
                "Kn-Namespace": "bench",
            },
            f'{{"n": {index}}}'.encode(),
        )
        for index in range(count)
    ]


async def post(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str], body: bytes
) -> None:
    async with session.post(url, data=body, headers=headers) as response:
        await response.read()


async def main(count: int, url: str) -> None:
    async with aiohttp.ClientSession() as session:
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        while True:
            tick = (int(time.time()) // PERIOD + 1) * PERIOD
            burst = requests_of(count, tick)
            await asyncio.sleep(tick - time.time())
            await asyncio.gather(*(post(session, url, h, b) for h, b in burst))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
