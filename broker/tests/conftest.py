"""Helpers for the broker's tests (handed to tests as the ``broker_tools`` fixture, since test
modules cannot import a conftest): write the contract file, start the broker as a real process,
post events to its ingress, and count what sinks received."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from springhead_testing import RecordingSink, SourceProcess


class BrokerTools:
    """Contract, processes and requests for one test (``tmp_path`` holds the contract)."""

    def __init__(self, tmp_path: Path, bootstrap: str | None) -> None:
        self.contract_path = tmp_path / "contract.json"
        self.bootstrap = bootstrap

    @staticmethod
    def unique(prefix: str) -> str:
        """A fresh broker or trigger name."""
        return f"{prefix}-{uuid.uuid4().hex[:8]}"

    def write_contract(self, brokers: Sequence[Mapping[str, Any]]) -> None:
        """Write the contract file the broker processes read (atomically, as a ConfigMap
        update swaps its files)."""
        staging = self.contract_path.with_suffix(".new")
        staging.write_text(json.dumps({"brokers": list(brokers)}))
        staging.replace(self.contract_path)

    def env(self, **settings: str) -> dict[str, str]:
        """The broker process's environment: loopback, port 0, this test's contract."""
        env = {
            "NAMESPACE": "testns",
            "NAME": "broker",
            "K_COMPONENT": "broker",
            "SPRINGHEAD_PORT": "0",
            "SPRINGHEAD_HOST": "127.0.0.1",
            "BROKER_CONTRACT_FILE": str(self.contract_path),
            "BROKER_CONTRACT_POLL": "PT0.2S",
            "BROKER_COMMIT_INTERVAL": "PT0.5S",
            "SPRINGHEAD_SHUTDOWN_GRACE": "PT10S",
        }
        if self.bootstrap is not None:
            env.update(
                BROKER_BACKEND="kafka",
                KAFKA_BOOTSTRAP_SERVERS=self.bootstrap,
                BROKER_INITIAL_OFFSET="earliest",
            )
        else:
            env.update(BROKER_BACKEND="memory")
        env.update(settings)
        return env

    def process(self, **settings: str) -> SourceProcess:
        """A broker process (not started: ``async with tools.process() as process``)."""
        return SourceProcess("springhead_broker", self.env(**settings))

    @staticmethod
    async def post(
        process: SourceProcess,
        path: str,
        *,
        method: str = "POST",
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
    ) -> tuple[int, dict[str, str], bytes]:
        """One request to the process's port; returns status, headers and body."""
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                method, f"http://127.0.0.1:{process.port}{path}", headers=headers, data=body
            ) as response,
        ):
            return response.status, dict(response.headers), await response.read()

    @classmethod
    async def send(
        cls, process: SourceProcess, path: str, event_id: str, type_: str, **extensions: str
    ) -> int:
        """Post one binary-mode event; returns the status."""
        headers = {
            "ce-specversion": "1.0",
            "ce-id": event_id,
            "ce-source": "/test",
            "ce-type": type_,
            "content-type": "application/json",
            **{f"ce-{name}": value for name, value in extensions.items()},
        }
        status, _, _ = await cls.post(process, path, headers=headers, body=b'{"n": 1}')
        return status

    @staticmethod
    async def wait_for_logs(
        process: SourceProcess, message: str, count: int, *, timeout: float = 60.0
    ) -> None:
        """Wait until the process logged ``message`` at least ``count`` times."""

        def seen() -> bool:
            return sum(1 for e in process.logs if e.get("msg") == message) >= count

        async with process._logged:
            try:
                async with asyncio.timeout(timeout):
                    await process._logged.wait_for(seen)
            except TimeoutError:
                raise AssertionError(
                    f"{message!r} not logged {count} times within {timeout}s:\n"
                    + process.stderr_text()
                ) from None

    async def ready(self, process: SourceProcess, triggers: int) -> None:
        """Wait until the contract was applied and (Kafka) each of ``triggers`` consumer groups
        has its partitions and knows where it starts in them."""
        await process.wait_for_log("contract applied", timeout=60)
        if self.bootstrap is not None:
            await self.wait_for_logs(process, "partitions positioned", triggers)

    @staticmethod
    async def metric(process: SourceProcess, name: str, **labels: str) -> float:
        """The sum of the samples of ``name`` whose labels include ``labels``."""
        from prometheus_client.parser import text_string_to_metric_families

        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{process.port}/metrics") as answer,
        ):
            text = await answer.text()
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == name and labels.items() <= sample.labels.items()
        )

    @classmethod
    async def wait_finished(
        cls, process: SourceProcess, trigger: str, count: int, *, timeout: float = 60.0
    ) -> None:
        """Wait until ``trigger`` finished with ``count`` events (any outcome), polling the
        process's metrics (the only way to see a filtered-out event)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            done = await cls.metric(
                process, "springhead_broker_trigger_events_total", trigger=trigger
            )
            if done >= count:
                return
            if loop.time() > deadline:
                raise AssertionError(f"{trigger} finished {done} of {count} events")
            # Polling an observable with a deadline, not a sleep standing in for an event.
            await asyncio.sleep(0.1)

    @staticmethod
    def ids(sink: RecordingSink) -> list[str]:
        """Ids of the events a sink accepted, in arrival order."""
        return [request.event.get_id() for request in sink.accepted]

    @staticmethod
    def duplicates(ids: Sequence[str]) -> int:
        """Ids seen more than once, counted once per extra copy."""
        return sum(count - 1 for count in Counter(ids).values())


@pytest.fixture
def memory_tools(tmp_path: Path) -> BrokerTools:
    """Tools for the in-memory backend."""
    return BrokerTools(tmp_path, None)


@pytest.fixture
def kafka_tools(tmp_path: Path, kafka: Any) -> BrokerTools:
    """Tools for the Kafka backend on testinfra's real broker."""
    return BrokerTools(tmp_path, kafka.bootstrap)


@pytest.fixture
def secure_tools(tmp_path: Path, kafka_secure: Any) -> BrokerTools:
    """Tools for the Kafka backend on testinfra's SASL/TLS broker (each test adds the
    ``KAFKA_*`` settings of the listener it uses)."""
    return BrokerTools(tmp_path, kafka_secure.bootstrap)


@pytest.fixture
def kafka_admin(kafka: Any) -> Any:
    """Create a broker's topic on the real Kafka: ``kafka_admin(topic, partitions)``."""

    def create(topic: str, partitions: int = 1) -> str:
        kafka.create_topic(topic, partitions)
        return topic

    return create
