"""The process runtime, exercised through a real source process (the ping source) and a real
sink: health, readiness, metrics, JSON logs, draining on SIGTERM, a second signal."""

from __future__ import annotations

import asyncio
import gc
import importlib.metadata
import json
import os
import signal
import subprocess
import sys

import aiohttp
import pytest
from springhead.config import ProcessSettings, SourceSettings, load_settings
from springhead.runtime import SourceHost, build_of, serve
from springhead_testing import RecordingSink, SourceProcess, adapter_env

EVERY_SECOND = "* * * * * *"


def ping_env(sink: RecordingSink, **extra: str) -> dict[str, str]:
    return adapter_env(sink.url, PING_SCHEDULE=EVERY_SECOND, **extra)


async def get(port: int | None, path: str) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}{path}") as response,
    ):
        return response.status, await response.text()


async def test_health_readiness_and_metrics(sink: RecordingSink) -> None:
    async with SourceProcess("springhead_ping", ping_env(sink)) as source:
        await sink.wait_for(1)
        for path in ("/healthz", "/readyz", "/health", "/readiness"):
            assert (await get(source.port, path))[0] == 200
        status, text = await get(source.port, "/metrics")
        assert status == 200
        assert (
            'springhead_events_sent_total{outcome="delivered",type="dev.knative.sources.ping"}'
            in text
        )
        assert "springhead_delivery_latency_seconds_bucket" in text
        assert "springhead_delivery_retries_total" in text
        assert "springhead_events_dead_lettered_total" in text
    assert source.process is not None and source.process.returncode == 0


async def test_logs_are_json_lines(sink: RecordingSink) -> None:
    async with SourceProcess("springhead_ping", ping_env(sink)) as source:
        await sink.wait_for(1)
    started = await source.wait_for_log("source started")
    assert started["level"] == "info" and started["component"] == "test-source"
    assert started["sink"] == sink.url
    assert all(json.loads(line) for line in source.stderr_lines)


async def test_sigterm_drains_in_flight_delivery_then_exits_zero(sink: RecordingSink) -> None:
    gate = asyncio.Event()
    sink.respond_with(status=202, gate=gate)
    async with SourceProcess("springhead_ping", ping_env(sink)) as source:
        await sink.wait_held(1)
        source.signal(signal.SIGTERM)
        await source.wait_for_log("signal received: draining")
        # Draining: not ready, not live, still delivering.
        assert (await get(source.port, "/readyz"))[0] == 503
        assert (await get(source.port, "/healthz"))[0] == 503
        gate.set()
        assert await source.wait() == 0
    assert len(sink.accepted) >= 1
    assert {r.event.get_id() for r in sink.requests} == {r.event.get_id() for r in sink.accepted}


async def test_second_signal_exits_one_at_once(sink: RecordingSink) -> None:
    gate = asyncio.Event()
    sink.respond_with(status=202, gate=gate)
    async with SourceProcess("springhead_ping", ping_env(sink)) as source:
        await sink.wait_held(1)
        source.signal(signal.SIGTERM)
        await source.wait_for_log("signal received: draining")
        source.signal(signal.SIGINT)
        assert await source.wait() == 1
    gate.set()
    assert await_log(source, "second signal: exiting without waiting")


async def test_grace_period_bounds_draining(sink: RecordingSink) -> None:
    gate = asyncio.Event()
    sink.respond_with(status=202, gate=gate)
    env = ping_env(sink, SPRINGHEAD_SHUTDOWN_GRACE="PT0.2S")
    async with SourceProcess("springhead_ping", env) as source:
        await sink.wait_held(1)
        source.signal(signal.SIGTERM)
        assert await source.wait() == 1
    gate.set()
    over = await source.wait_for_log("grace period over with deliveries in flight")
    assert over["in_flight"] >= 1


def await_log(source: SourceProcess, message: str) -> bool:
    return any(entry.get("msg") == message for entry in source.logs)


@pytest.mark.parametrize(
    ("choice", "loop"),
    # The workspace installs uvloop (the webhook sources depend on springhead[uvloop]),
    # so auto picks it here.
    [("asyncio", "asyncio"), ("uvloop", "uvloop"), ("auto", "uvloop")],
)
async def test_event_loop_follows_the_setting(sink: RecordingSink, choice: str, loop: str) -> None:
    env = ping_env(sink, SPRINGHEAD_EVENT_LOOP=choice)
    async with SourceProcess("springhead_ping", env) as source:
        await sink.wait_for(1)
    assert (await source.wait_for_log("source started"))["event_loop"] == loop
    assert source.process is not None and source.process.returncode == 0


#: The ping source started in an interpreter where uvloop cannot be imported (as in its image);
#: SPRINGHEAD_EVENT_LOOP=uvloop there is a configuration error (tests/test_config.py).
WITHOUT_UVLOOP = (
    "import sys; sys.modules['uvloop'] = None; from springhead_ping.__main__ import run; run()"
)


async def test_auto_falls_back_to_asyncio_without_uvloop(sink: RecordingSink) -> None:
    command = [sys.executable, "-c", WITHOUT_UVLOOP]
    async with SourceProcess("springhead_ping", ping_env(sink), command=command) as source:
        await sink.wait_for(1)
    assert (await source.wait_for_log("source started"))["event_loop"] == "asyncio"


class _RecordsFreeze:
    """An adapter whose run() notes how many objects the collector holds frozen, then ends."""

    def __init__(self) -> None:
        self.frozen: int | None = None

    async def run(self) -> None:
        self.frozen = gc.get_freeze_count()

    async def stop(self) -> None:
        """Nothing to stop: run() ends by itself."""


async def test_start_up_objects_are_frozen_once_serving(sink: RecordingSink) -> None:
    settings = load_settings(SourceSettings, adapter_env(sink.url))
    adapter = _RecordsFreeze()
    assert gc.get_freeze_count() == 0
    try:
        status = await serve(settings, lambda _s, _host: adapter, freeze_startup=True)
    finally:
        gc.unfreeze()
    assert status == 0
    assert adapter.frozen is not None and adapter.frozen > 1000


# --- the process host: a service that sends nothing ------------------------------------------

#: A process-host service that reports ready, answers one route, then waits to be stopped;
#: run as ``python -c`` so the host's signals, logs and exit status are the real ones.
PROCESS_SERVICE = """
import asyncio
from springhead.config import ProcessSettings
from springhead.runtime import process_main

class Service:
    def __init__(self, settings, host):
        self.stopped = asyncio.Event()
        self.requests = host.metrics.registry

    def is_ready(self):
        return True

    async def run(self):
        await self.stopped.wait()

    async def stop(self):
        self.stopped.set()

process_main(ProcessSettings, Service)
"""


def process_env(**extra: str) -> dict[str, str]:
    env = {"SPRINGHEAD_PORT": "0", "SPRINGHEAD_HOST": "127.0.0.1", "K_COMPONENT": "a-process"}
    return {**env, **extra}


async def test_the_process_host_serves_health_and_metrics_without_a_sink() -> None:
    command = [sys.executable, "-c", PROCESS_SERVICE]
    async with SourceProcess("a-process", process_env(), command=command) as process:
        started = await process.wait_for_log("process started")
        assert "sink" not in started
        for path in ("/healthz", "/readyz", "/metrics"):
            assert (await get(process.port, path))[0] == 200
        _, metrics = await get(process.port, "/metrics")
        assert "springhead_build_info{" in metrics
        assert "springhead_events_sent" not in metrics  # it sends nothing: no delivery series
        process.signal(signal.SIGTERM)
        assert await process.wait() == 0
    assert not any(entry.get("level") == "warning" for entry in process.logs)


async def test_the_process_host_warns_about_source_variables_it_ignores() -> None:
    command = [sys.executable, "-c", PROCESS_SERVICE]
    env = process_env(K_SINK="http://sink.example/", SPRINGHEAD_DELIVERY_RETRY="3")
    async with SourceProcess("a-process", env, command=command) as process:
        warning = await process.wait_for_log(
            "variables for a source are set, but this process sends no events: ignored"
        )
        assert warning["level"] == "warning"
        assert warning["variables"] == ["K_SINK", "SPRINGHEAD_DELIVERY_RETRY"]
        process.signal(signal.SIGTERM)
        assert await process.wait() == 0


async def test_the_source_host_gives_the_adapter_the_sender_and_the_metrics(
    sink: RecordingSink,
) -> None:
    settings = load_settings(SourceSettings, adapter_env(sink.url))
    seen: list[SourceHost] = []

    def factory(_settings: SourceSettings, host: SourceHost) -> _RecordsFreeze:
        seen.append(host)
        return _RecordsFreeze()

    assert await serve(settings, factory) == 0
    (host,) = seen
    assert host.sender.sink == sink.url
    # The sender reports into the host's registry.
    assert host.sender.metrics.registry is host.metrics.registry


# --- the build: --version and springhead_build_info -------------------------------------------


@pytest.mark.parametrize(
    ("module", "distribution"),
    [("springhead_ping", "springhead-ping"), ("springhead_controller", "springhead-controller")],
)
def test_version_names_the_service_the_version_and_the_revision(
    module: str, distribution: str
) -> None:
    version = importlib.metadata.version("springhead")
    env = {"PATH": os.environ.get("PATH", ""), "SPRINGHEAD_REVISION": "0123abc"}
    done = subprocess.run(
        [sys.executable, "-m", module, "--version"], env=env, capture_output=True, text=True
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == f"{distribution} {version} (revision 0123abc)\n"


def test_build_info_names_the_version_and_the_revision() -> None:
    settings = load_settings(ProcessSettings, {"SPRINGHEAD_REVISION": "0123abc"})
    version = importlib.metadata.version("springhead")
    assert build_of(settings) == (version, "0123abc")
    development = load_settings(ProcessSettings, {})
    assert build_of(development)[1] == (
        version.partition("+g")[2].partition(".")[0] if "+g" in version else "unknown"
    )


async def test_the_build_is_a_metric_of_every_process(sink: RecordingSink) -> None:
    env = ping_env(sink, SPRINGHEAD_REVISION="0123abc")
    async with SourceProcess("springhead_ping", env) as source:
        _, text = await get(source.port, "/metrics")
    version = importlib.metadata.version("springhead")
    line = f'springhead_build_info{{revision="0123abc",version="{version}"}} 1.0'
    assert line in text.splitlines()
