"""Event display: print received CloudEvents readably, like Knative's event-display.

``python -m springhead_testing.display --port 8099`` runs a sink that prints every event.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys

from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.exceptions import BaseCloudEventException

from springhead_testing.sink import ReceivedRequest, RecordingSink

__all__ = ["format_event", "format_request", "main"]

_CONTEXT = (
    "specversion",
    "type",
    "source",
    "subject",
    "id",
    "time",
    "dataschema",
    "datacontenttype",
)


def format_event(event: BaseCloudEvent) -> str:
    """A multi-line, human-readable rendering of ``event``."""
    attributes = event.get_attributes()
    lines = ["☁️  cloudevents.Event", "Context Attributes,"]
    for name in _CONTEXT:
        value = attributes.get(name)
        if value is not None:
            text = value.isoformat() if hasattr(value, "isoformat") else str(value)
            lines.append(f"  {name}: {text}")
    extensions = sorted((k, v) for k, v in attributes.items() if k not in _CONTEXT)
    if extensions:
        lines.append("Extensions,")
        lines.extend(f"  {name}: {value}" for name, value in extensions)
    data = event.get_data()
    if data is not None:
        lines.append("Data,")
        lines.append("  " + _format_data(data).replace("\n", "\n  "))
    return "\n".join(lines)


def _format_data(data: object) -> str:
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            return f"<{len(data)} bytes of binary data>"
    if isinstance(data, str):
        try:
            return json.dumps(json.loads(data), indent=2, ensure_ascii=False)
        except ValueError:
            return data
    return json.dumps(data, indent=2, ensure_ascii=False, default=str)


def format_request(request: ReceivedRequest) -> str:
    """The event in ``request``, or a note saying why it is not a CloudEvent."""
    try:
        return format_event(request.event)
    except (BaseCloudEventException, ValueError, KeyError) as exc:
        return f"(not a CloudEvent: {exc}) {request.method} {request.path} {request.body[:200]!r}"


def _print(request: ReceivedRequest) -> None:
    sys.stdout.write(format_request(request) + "\n\n")
    sys.stdout.flush()


async def _serve(host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with RecordingSink(host=host, port=port, on_request=_print) as sink:
        sys.stdout.write(f"event display listening on {sink.url}\n")
        sys.stdout.flush()
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    """Run the event display until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.host, args.port))


if __name__ == "__main__":
    main()
