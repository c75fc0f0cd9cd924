"""The two hosts a Springhead process runs in.

The *process host* (:func:`process_main`, :func:`serve_process`) owns what every process has:
settings (:class:`~springhead.config.ProcessSettings`), the metrics registry, JSON logs, the one
HTTP port (health, readiness, metrics and any routes the service adds), signals and draining.
The controller and a source's side commands run in it and never mention a sink.

The *source host* (:func:`main`, :func:`serve`) adds what a source needs to send events: its
:class:`~springhead.config.SourceSettings` and a :class:`~springhead.sender.Sender` to the sink,
drained before the process exits. A source's ``__main__`` is one call::

    main(PingSettings, PingAdapter.from_settings)

A factory gets the settings and the host (:class:`ProcessHost` or :class:`SourceHost`): metrics
are reached through the host, events sent through ``host.sender``.

Shutdown: the first SIGTERM (or SIGINT) turns readiness and liveness false and, in the same
moment, has the service's routes answer new requests 503 with Retry-After. Then the service is
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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn, Protocol, TypeVar, runtime_checkable

from springhead.asgi import TEXT_PLAIN, AsgiApp, Server, ServerLimits, read_only_route
from springhead.config import (
    ConfigError,
    EventLoop,
    ProcessSettings,
    SourceSettings,
    load_settings,
    source_variables_in,
)
from springhead.logs import configure_logging
from springhead.metrics import CONTENT_TYPE_LATEST, Metrics

if TYPE_CHECKING:
    # The sender (and aiohttp's client under it) is imported when a source host starts: a
    # process that sends nothing (the event display, the controller) starts listening without it.
    from springhead.sender import Sender

__all__ = [
    "HasReadiness",
    "HasRoutes",
    "ProcessHost",
    "ProcessServer",
    "Service",
    "ServiceFactory",
    "SourceFactory",
    "SourceHost",
    "build_of",
    "loop_factory",
    "main",
    "process_main",
    "serve",
    "serve_process",
]

log = logging.getLogger("springhead.runtime")

#: Exit status for bad configuration.
EXIT_CONFIG = 2
#: Exit status when a second signal cut shutdown short, or the adapter crashed.
EXIT_ABORTED = 1
#: Seconds in the Retry-After of a request refused while draining, unless the adapter says.
RETRY_AFTER = 5


class Service(Protocol):
    """What a host runs: a source's adapter, or the controller. It may also be
    :class:`HasReadiness` and :class:`HasRoutes`."""

    async def run(self) -> None:
        """Work until :meth:`stop` is called (or the work is done)."""

    async def stop(self) -> None:
        """Stop taking new work; :meth:`run` should return soon after."""


@runtime_checkable
class HasReadiness(Protocol):
    """A service whose own state joins the readiness check (/readyz)."""

    def is_ready(self) -> bool:
        """True while the service can do its work (a watch is synced, a consumer joined...)."""
        ...


@runtime_checkable
class HasRoutes(Protocol):
    """A service that answers HTTP requests (webhooks) on the process's port.

    From the moment a signal is handled the routes are refused: 503 with
    ``Retry-After: <retry_after>`` seconds, so the caller redelivers to another replica.
    """

    @property
    def retry_after(self) -> int:
        """Seconds in the Retry-After of a request refused while draining."""
        ...

    def routes(self) -> Mapping[str, AsgiApp]:
        """Exact path -> ASGI app; read per request, so the service may change it as it runs."""
        ...


@dataclass(frozen=True, slots=True)
class ProcessHost:
    """What the process host gives a service: the process's metrics registry."""

    metrics: Metrics


@dataclass(frozen=True, slots=True)
class SourceHost(ProcessHost):
    """What the source host gives an adapter: the metrics registry and the sender to the sink."""

    sender: Sender


SettingsT = TypeVar("SettingsT", bound=ProcessSettings)
SettingsT_contra = TypeVar("SettingsT_contra", bound=ProcessSettings, contravariant=True)
SourceSettingsT = TypeVar("SourceSettingsT", bound=SourceSettings)
SourceSettingsT_contra = TypeVar("SourceSettingsT_contra", bound=SourceSettings, contravariant=True)


class ServiceFactory(Protocol[SettingsT_contra]):
    """Builds a service that sends nothing from its settings and the process host."""

    def __call__(self, settings: SettingsT_contra, host: ProcessHost, /) -> Service: ...


class SourceFactory(Protocol[SourceSettingsT_contra]):
    """Builds a source's adapter from its settings and the source host."""

    def __call__(self, settings: SourceSettingsT_contra, host: SourceHost, /) -> Service: ...


class ProcessServer:
    """The process's one HTTP port: /healthz, /readyz and /metrics (plus Knative's /health and
    /readiness), and whatever routes the service adds (:meth:`drain` refuses new requests to
    those)."""

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
        self.extra_routes: Mapping[str, AsgiApp] = {}
        self.retry_after = RETRY_AFTER
        self._server: Server | None = None
        self._draining = False
        metrics.report_readiness(self._is_ready)

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


async def serve_process(
    settings: SettingsT, factory: ServiceFactory[SettingsT], *, freeze_startup: bool = False
) -> int:
    """Run ``factory``'s service in the process host until it finishes or a signal stops it.

    ``freeze_startup``: see :func:`serve`. Returns the process exit status.
    """
    metrics = Metrics()
    return await _host(
        settings, factory(settings, ProcessHost(metrics)), metrics, freeze_startup=freeze_startup
    )


async def serve(
    settings: SourceSettingsT,
    factory: SourceFactory[SourceSettingsT],
    *,
    freeze_startup: bool = False,
) -> int:
    """Run ``factory``'s adapter in the source host until it finishes or a signal stops it; the
    sender drains (within the grace period) before the process exits.

    ``freeze_startup`` (what :func:`main` asks for): once serving, move every object alive after
    start-up (modules, settings, the app) into the collector's permanent generation, so that a
    full collection no longer walks them: a full collection stalls every request in flight for as
    long as it walks, and start-up objects never become garbage. Not for a process that runs other
    things (a test), whose objects would be frozen too.

    Returns the process exit status.
    """
    from springhead.sender import Sender

    metrics = Metrics()
    async with Sender.from_settings(settings, metrics) as sender:
        adapter = factory(settings, SourceHost(metrics, sender))
        return await _host(settings, adapter, metrics, sender=sender, freeze_startup=freeze_startup)


async def _host(
    settings: ProcessSettings,
    service: Service,
    metrics: Metrics,
    *,
    sender: Sender | None = None,
    freeze_startup: bool,
) -> int:
    """The lifecycle both hosts share: serve the port, run, drain on a signal, exit status."""
    loop = asyncio.get_running_loop()
    server = ProcessServer(
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
    if isinstance(service, HasReadiness):
        server.ready_check = service.is_ready
    if isinstance(service, HasRoutes):
        server.retry_after = service.retry_after
        server.extra_routes = service.routes()
    stopping = asyncio.Event()
    signals_seen = 0

    def on_signal(signum: int) -> None:
        nonlocal signals_seen
        signals_seen += 1
        if signals_seen > 1:
            log.error("second signal: exiting without waiting", extra={"signal": signum})
            logging.shutdown()
            os._exit(EXIT_ABORTED)
        server.drain()  # before anything else runs: no request is accepted after the signal
        log.info("signal received: draining", extra={"signal": signum})
        stopping.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    kind = "process" if sender is None else "source"
    try:
        await server.start()
        # After the port listens: reading the distribution's metadata imports a good deal.
        metrics.set_build(*build_of(settings))
        run_task = asyncio.create_task(service.run(), name="service")
        if freeze_startup:
            gc.collect()
            gc.freeze()
        server.ready = True
        started = {
            "source": settings.source_name,
            "port": server.port,
            "event_loop": type(loop).__module__.partition(".")[0],
        }
        if sender is not None:
            started["sink"] = sender.sink
        log.info(f"{kind} started", extra=started)
        stop_task = asyncio.create_task(stopping.wait())
        await asyncio.wait({run_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        server.drain()
        status = 0
        deadline = time.monotonic() + settings.shutdown_grace.total_seconds()
        if not run_task.done():
            await service.stop()
            done, _ = await asyncio.wait({run_task}, timeout=_remaining(deadline))
            if not done:
                log.warning("service did not stop within the grace period; cancelling it")
                run_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await run_task
        stop_task.cancel()
        if not run_task.cancelled() and run_task.exception() is not None:
            log.error(f"{'adapter' if sender else 'service'} failed", exc_info=run_task.exception())
            status = EXIT_ABORTED
        # Accepted requests deliver their own events: wait for them before the sender drains.
        answered = await server.requests_done(_remaining(deadline))
        drained = sender is None or await sender.drain(_remaining(deadline))
        if not (answered and drained):
            log.error(
                "grace period over with deliveries in flight",
                extra={
                    "in_flight": 0 if sender is None else sender.in_flight,
                    "requests": server.requests_in_flight,
                },
            )
            status = EXIT_ABORTED
        await server.stop(max(1.0, _remaining(deadline)))
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    log.info(f"{kind} stopped", extra={"exit_status": status})
    return status


def _remaining(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


def loop_factory(choice: EventLoop) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop ``choice`` asks for: None for asyncio's own.

    uvloop (libuv's loop, in C) spends fewer instructions per request than asyncio's loop, for a
    little more resident memory (bench/RESULTS.md (z)): a choice between CPU and footprint.
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


def main(settings_cls: type[SourceSettingsT], factory: SourceFactory[SourceSettingsT]) -> NoReturn:
    """Entry point of a source process: load settings (one line and exit 2 when bad), serve."""
    settings, new_loop = _load(settings_cls)
    with asyncio.Runner(loop_factory=new_loop) as runner:
        status = runner.run(serve(settings, factory, freeze_startup=True))
    raise SystemExit(status)


def process_main(settings_cls: type[SettingsT], factory: ServiceFactory[SettingsT]) -> NoReturn:
    """Entry point of a process that sends no events (the controller): as :func:`main`, without
    a sink. Variables only a source reads (``K_SINK``, ``SPRINGHEAD_DELIVERY_*`` ...) are
    reported as a warning, not silently ignored."""
    settings, new_loop = _load(settings_cls)
    stray = source_variables_in(os.environ)
    if stray:
        log.warning(
            "variables for a source are set, but this process sends no events: ignored",
            extra={"variables": stray},
        )
    with asyncio.Runner(loop_factory=new_loop) as runner:
        status = runner.run(serve_process(settings, factory, freeze_startup=True))
    raise SystemExit(status)


def build_of(settings: ProcessSettings) -> tuple[str, str]:
    """``(version, revision)`` of the running build: Springhead's version (one for every package)
    and the revision ``SPRINGHEAD_REVISION`` names, else the commit a development version carries
    (``0.2.1.dev3+g1a2b3c4`` -> ``1a2b3c4``), else ``unknown``."""
    import importlib.metadata  # zipfile, email, csv...: not before the port listens

    try:
        version = importlib.metadata.version("springhead")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    revision = settings.revision
    if not revision:
        local = version.partition("+")[2]
        commits = [part[1:] for part in local.split(".") if part.startswith("g") and len(part) > 1]
        revision = commits[0] if commits else "unknown"
    return version, revision


def _print_version(settings_cls: type[ProcessSettings]) -> None:
    """``--version``: the service's distribution, the version and the revision, on stdout."""
    import importlib.metadata

    package = settings_cls.__module__.partition(".")[0]
    try:
        name = importlib.metadata.distribution(package).metadata["Name"]
    except importlib.metadata.PackageNotFoundError:
        name = package
    try:
        settings = load_settings(ProcessSettings)
    except ConfigError as exc:
        sys.stderr.write(f"configuration error: {exc}\n")
        raise SystemExit(EXIT_CONFIG) from None
    version, revision = build_of(settings)
    sys.stdout.write(f"{name} {version} (revision {revision})\n")
    raise SystemExit(0)


def _load(
    settings_cls: type[SettingsT],
) -> tuple[SettingsT, Callable[[], asyncio.AbstractEventLoop] | None]:
    if sys.argv[1:] == ["--version"]:
        _print_version(settings_cls)
    try:
        settings = load_settings(settings_cls)
        new_loop = loop_factory(settings.event_loop)
    except ConfigError as exc:
        sys.stderr.write(f"configuration error: {exc}\n")
        raise SystemExit(EXIT_CONFIG) from None
    configure_logging(settings.log_level, settings.component)
    return settings, new_loop
