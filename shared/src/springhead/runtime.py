"""The process around an adapter: settings, sender, health/metrics server, signals, draining.

A source's ``__main__`` is one call::

    main(PingSettings, PingAdapter.from_settings)

Shutdown: the first SIGTERM (or SIGINT) turns readiness and liveness false and, in the same
moment, has the adapter's routes answer new requests 503 with Retry-After. Then the adapter is
asked to stop taking new work; requests already accepted and deliveries in flight finish within
``SPRINGHEAD_SHUTDOWN_GRACE``, and the process exits 0 (1 when the grace ran out first). A second
signal exits 1 at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import NoReturn, Protocol, TypeVar

from springhead.asgi import TEXT_PLAIN, AsgiApp, Server, ServerLimits, read_only_route
from springhead.config import AdapterSettings, ConfigError, EventLoop, load_settings
from springhead.logs import configure_logging
from springhead.metrics import CONTENT_TYPE_LATEST, Metrics
from springhead.sender import Sender

__all__ = ["Adapter", "AdapterFactory", "HealthServer", "loop_factory", "main", "serve"]

log = logging.getLogger("springhead.runtime")

#: Exit status for bad configuration.
EXIT_CONFIG = 2
#: Exit status when a second signal cut shutdown short, or the adapter crashed.
EXIT_ABORTED = 1
#: Seconds in the Retry-After of a request refused while draining, unless the adapter says.
RETRY_AFTER = 5


class Adapter(Protocol):
    """What a source implements: produce events with the sender until asked to stop.

    Optional: ``is_ready() -> bool`` joins the readiness check; ``routes() -> Mapping[str,
    AsgiApp]`` adds HTTP routes (exact path -> ASGI app; webhooks) to the runtime's server, which
    refuses them from the moment a signal is handled (503 with ``Retry-After: <retry_after>``;
    an adapter's ``retry_after`` attribute, seconds, else :data:`RETRY_AFTER`).
    """

    async def run(self) -> None:
        """Produce events until :meth:`stop` is called (or the work is done)."""

    async def stop(self) -> None:
        """Stop taking new work; :meth:`run` should return soon after."""


SettingsT = TypeVar("SettingsT", bound=AdapterSettings)
SettingsT_contra = TypeVar("SettingsT_contra", bound=AdapterSettings, contravariant=True)


class AdapterFactory(Protocol[SettingsT_contra]):
    """Builds a source's adapter from its settings and the process's sender."""

    def __call__(self, settings: SettingsT_contra, sender: Sender, /) -> Adapter: ...


class HealthServer:
    """/healthz, /readyz and /metrics on one port (plus Knative's /health and /readiness, and
    whatever routes the adapter adds: :meth:`drain` refuses new requests to those)."""

    def __init__(
        self, *, host: str, port: int, metrics: Metrics, limits: ServerLimits | None = None
    ) -> None:
        self.host = host
        self.port = port
        self.metrics = metrics
        self.limits = limits or ServerLimits()
        self.live = True
        self.ready = False
        self.ready_check: Callable[[], bool] | None = None
        self.extra_routes: dict[str, AsgiApp] = {}
        self.retry_after = RETRY_AFTER
        self._server: Server | None = None
        self._draining = False

    def _is_ready(self) -> bool:
        if not (self.live and self.ready):
            return False
        return self.ready_check() if self.ready_check is not None else True

    def _health(self) -> tuple[int, bytes]:
        return (200, b"ok\n") if self.live else (503, b"shutting down\n")

    def _readiness(self) -> tuple[int, bytes]:
        return (200, b"ready\n") if self._is_ready() else (503, b"not ready\n")

    def _metrics(self) -> tuple[int, bytes]:
        return 200, self.metrics.render()

    async def start(self) -> None:
        """Bind and serve; ``port`` is updated with the bound port when 0 was asked for."""
        health = read_only_route(self._health, TEXT_PLAIN)
        readiness = read_only_route(self._readiness, TEXT_PLAIN)
        routes: dict[str, AsgiApp] = {
            "/healthz": health,
            "/health": health,
            "/readyz": readiness,
            "/readiness": readiness,
            "/metrics": read_only_route(self._metrics, CONTENT_TYPE_LATEST),
        }
        self._server = Server(
            self.host, self.port, routes, work=self.extra_routes, limits=self.limits
        )
        if self._draining:
            self._server.refuse_work(self.retry_after)
        await self._server.start()
        self.port = self._server.port

    def drain(self) -> None:
        """Not live, not ready, and the adapter's routes refuse new requests (503, Retry-After);
        those under way go on."""
        self.live = False
        self.ready = False
        self._draining = True
        if self._server is not None:
            self._server.refuse_work(self.retry_after)

    async def requests_done(self, timeout: float) -> bool:
        """Wait until no request to the adapter's routes is under way; False if ``timeout``
        passed first."""
        return self._server is None or await self._server.work_done(timeout)

    @property
    def requests_in_flight(self) -> int:
        """Requests to the adapter's routes being handled now."""
        return 0 if self._server is None else self._server.work_in_progress

    async def stop(self, timeout: float | None = 5.0) -> None:
        """Stop serving; answers in progress get ``timeout`` seconds to finish."""
        if self._server is not None:
            await self._server.stop(timeout)
            self._server = None


async def serve(
    settings: SettingsT, factory: AdapterFactory[SettingsT], *, freeze_startup: bool = False
) -> int:
    """Run ``factory``'s adapter under the runtime until it finishes or a signal stops it.

    ``freeze_startup`` (what :func:`main` asks for): once serving, move every object alive after
    start-up (modules, settings, the app) into the collector's permanent generation, so that a
    full collection no longer walks them: in the HTTP source under load a full collection took
    ~25 ms, a stall every in-flight request waits out; after the freeze ~2 ms. Not for a process
    that runs other things (a test), whose objects would be frozen too.

    Returns the process exit status.
    """
    loop = asyncio.get_running_loop()
    metrics = Metrics()
    health = HealthServer(
        host=settings.host,
        port=settings.port,
        metrics=metrics,
        limits=ServerLimits(
            head_timeout=settings.head_timeout.total_seconds(),
            body_timeout=settings.body_timeout.total_seconds(),
            idle_timeout=settings.idle_timeout.total_seconds(),
            max_connections=settings.max_inbound_connections,
        ),
    )
    stopping = asyncio.Event()
    signals_seen = 0

    def on_signal(signum: int) -> None:
        nonlocal signals_seen
        signals_seen += 1
        if signals_seen > 1:
            log.error("second signal: exiting without waiting", extra={"signal": signum})
            logging.shutdown()
            os._exit(EXIT_ABORTED)
        health.drain()  # before anything else runs: no request is accepted after the signal
        log.info("signal received: draining", extra={"signal": signum})
        stopping.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)

    async with Sender.from_settings(settings, metrics) as sender:
        adapter = factory(settings, sender)
        health.ready_check = getattr(adapter, "is_ready", None)
        health.retry_after = getattr(adapter, "retry_after", RETRY_AFTER)
        routes = getattr(adapter, "routes", None)
        if routes is not None:
            health.extra_routes = dict(routes())
        await health.start()
        run_task = asyncio.create_task(adapter.run(), name="adapter")
        if freeze_startup:
            gc.collect()
            gc.freeze()
        health.ready = True
        log.info(
            "source started",
            extra={
                "source": settings.source_name,
                "sink": settings.sink,
                "port": health.port,
                "event_loop": type(loop).__module__.partition(".")[0],
            },
        )
        stop_task = asyncio.create_task(stopping.wait())
        await asyncio.wait({run_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        health.drain()
        status = 0
        deadline = time.monotonic() + settings.shutdown_grace.total_seconds()
        if not run_task.done():
            await adapter.stop()
            done, _ = await asyncio.wait({run_task}, timeout=_remaining(deadline))
            if not done:
                log.warning("adapter did not stop within the grace period; cancelling it")
                run_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await run_task
        stop_task.cancel()
        if not run_task.cancelled() and run_task.exception() is not None:
            log.error("adapter failed", exc_info=run_task.exception())
            status = EXIT_ABORTED
        # Accepted requests deliver their own events: wait for them before the sender drains.
        answered = await health.requests_done(_remaining(deadline))
        drained = await sender.drain(_remaining(deadline))
        if not (answered and drained):
            log.error(
                "grace period over with deliveries in flight",
                extra={"in_flight": sender.in_flight, "requests": health.requests_in_flight},
            )
            status = EXIT_ABORTED
        await health.stop(max(1.0, _remaining(deadline)))
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.remove_signal_handler(signum)
    log.info("source stopped", extra={"exit_status": status})
    return status


def _remaining(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


def loop_factory(choice: EventLoop) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop ``choice`` asks for: None for asyncio's own.

    uvloop (libuv's loop, in C) costs the HTTP source ~11 % fewer instructions per request than
    asyncio's loop (callgrind: 723k against 817k); it adds ~2 MiB of resident library.
    """
    if choice is EventLoop.ASYNCIO:
        return None
    try:
        import uvloop  # optional (springhead[uvloop]): imported only when chosen
    except ImportError:
        if choice is EventLoop.UVLOOP:
            raise ConfigError(
                "SPRINGHEAD_EVENT_LOOP",
                "uvloop is not installed (install springhead[uvloop]) or choose auto or asyncio",
            ) from None
        return None
    return uvloop.new_event_loop


def main(settings_cls: type[SettingsT], factory: AdapterFactory[SettingsT]) -> NoReturn:
    """Entry point of a source process: load settings (one line and exit 2 when bad), serve."""
    try:
        settings = load_settings(settings_cls)
        new_loop = loop_factory(settings.event_loop)
    except ConfigError as exc:
        sys.stderr.write(f"configuration error: {exc}\n")
        raise SystemExit(EXIT_CONFIG) from None
    configure_logging(settings.log_level, settings.component)
    with asyncio.Runner(loop_factory=new_loop) as runner:
        status = runner.run(serve(settings, factory, freeze_startup=True))
    raise SystemExit(status)
