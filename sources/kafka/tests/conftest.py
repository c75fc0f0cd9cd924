"""Helpers for the Kafka source's tests against the real broker (handed to tests as the
``kafka_tools`` fixture, since test modules cannot import a conftest): produce records, start
sources, watch what the sink received and what the group committed."""

from __future__ import annotations

import asyncio
import json
import re
import textwrap
import time
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from springhead_testing import RecordingSink, SourceProcess, adapter_env


@dataclass(frozen=True)
class Out:
    """A record to produce."""

    value: bytes | None = b"x"
    key: bytes | None = None
    headers: Sequence[tuple[str, bytes]] = field(default_factory=tuple)
    partition: int | None = None
    timestamp_ms: int | None = None


@dataclass(frozen=True)
class Produced:
    """Where a produced record landed."""

    topic: str
    partition: int
    offset: int
    timestamp: int

    @property
    def id(self) -> str:
        """The ``id`` of the plain event this record becomes."""
        return f"partition:{self.partition}/offset:{self.offset}"


class KafkaTools:
    """Test-side Kafka clients for one broker listener, and checks on what a sink received."""

    Out = Out

    def __init__(self, client: Mapping[str, Any], source_env: Mapping[str, str]) -> None:
        self.client = dict(client)
        self.source_env = dict(source_env)

    # --- Kafka ----------------------------------------------------------------------------------

    @staticmethod
    def unique(prefix: str) -> str:
        """A fresh topic or group name."""
        return f"{prefix}-{uuid.uuid4().hex[:10]}"

    async def create_topic(self, name: str, partitions: int = 1) -> str:
        """Create ``name`` with ``partitions`` partitions."""
        from aiokafka.admin import AIOKafkaAdminClient, NewTopic

        admin = AIOKafkaAdminClient(**self.client)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(name, partitions, 1)])
        finally:
            await admin.close()
        return name

    async def produce(self, topic: str, records: Sequence[Out]) -> list[Produced]:
        """Produce ``records`` (acknowledged by the broker) and say where each landed."""
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(**self.client, acks="all", enable_idempotence=True)
        await producer.start()
        try:
            futures = [
                await producer.send(
                    topic,
                    r.value,
                    key=r.key,
                    headers=list(r.headers) or None,
                    partition=r.partition,
                    timestamp_ms=r.timestamp_ms,
                )
                for r in records
            ]
            metadata = await asyncio.gather(*futures)
        finally:
            await producer.stop()
        return [Produced(m.topic, m.partition, m.offset, m.timestamp) for m in metadata]

    async def produce_spread(
        self, topic: str, per_partition: int, partitions: int
    ) -> list[Produced]:
        """``per_partition`` records into each of ``partitions`` partitions."""
        records = [
            Out(value=f"p{p}-{n}".encode(), partition=p)
            for n in range(per_partition)
            for p in range(partitions)
        ]
        return await self.produce(topic, records)

    async def committed(self, group: str) -> dict[int, int]:
        """The group's committed offset of every partition it committed."""
        from aiokafka.admin import AIOKafkaAdminClient

        admin = AIOKafkaAdminClient(**self.client)
        await admin.start()
        try:
            offsets = await admin.list_consumer_group_offsets(group)
        finally:
            await admin.close()
        return {tp.partition: meta.offset for tp, meta in offsets.items()}

    def source(self, sink: RecordingSink, topic: str, **env: str) -> SourceProcess:
        """A Kafka source process for ``topic``: from the start, fast retries, its own group."""
        settings = {
            **self.source_env,
            "KAFKA_TOPICS": topic,
            "KAFKA_INITIAL_OFFSET": "earliest",
            "KAFKA_CONSUMER_GROUP": self.unique("group"),
            "SPRINGHEAD_DELIVERY_BACKOFF_DELAY": "PT0.01S",
            "SPRINGHEAD_SHUTDOWN_GRACE": "PT10S",
            **env,
        }
        return SourceProcess("springhead_kafka", adapter_env(sink.url, **settings))

    # --- what the sink received -------------------------------------------------------------------

    @staticmethod
    def accepted_ids(sink: RecordingSink) -> list[str]:
        """``ce-id`` of every request the sink accepted, in arrival order."""
        return [r.header("ce-id") or "" for r in sink.accepted]

    @staticmethod
    async def wait_for_ids(sink: RecordingSink, expected: set[str], timeout: float = 90) -> None:
        """Wait until the sink accepted every id in ``expected`` (at least once each)."""
        deadline = time.monotonic() + timeout
        seen: set[str] = set()
        index = 0
        while True:
            requests = sink.requests
            for request in requests[index:]:
                if request.accepted:
                    seen.add(request.header("ce-id") or "")
            index = len(requests)
            missing = expected - seen
            if not missing:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{len(missing)} of {len(expected)} ids never accepted")
            await sink.wait_for_requests(index + 1, timeout=remaining)

    @classmethod
    def duplicates(cls, sink: RecordingSink) -> int:
        """Accepted requests beyond the first of each id."""
        return sum(count - 1 for count in Counter(cls.accepted_ids(sink)).values())

    @staticmethod
    def offsets_by_partition(sink: RecordingSink) -> dict[int, list[int]]:
        """Offsets of the accepted events, per partition, in arrival order."""
        result: dict[int, list[int]] = {}
        for request in sink.accepted:
            partition = int(request.header("ce-knativekafkapartition") or -1)
            offset = int(request.header("ce-knativekafkaoffset") or -1)
            result.setdefault(partition, []).append(offset)
        return result

    @staticmethod
    async def metrics(source: SourceProcess, name: str) -> dict[str, float]:
        """Samples of metric ``name`` from the source's /metrics: label text -> value."""
        import aiohttp

        url = f"http://127.0.0.1:{source.port}/metrics"
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            text = await response.text()
        samples: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith((name + "{", name + " ")):
                labels, _, value = line[len(name) :].rpartition(" ")
                samples[labels] = float(value)
        return samples

    @staticmethod
    def logs(source: SourceProcess, message: str) -> list[dict[str, Any]]:
        """The source's JSON log entries whose message is ``message``."""
        return [entry for entry in source.logs if entry.get("msg") == message]


@pytest.fixture
def kafka_tools(kafka: Any) -> KafkaTools:
    """Clients for the real plain-text broker, and sources connected to it."""
    return KafkaTools(kafka.client_kwargs(), {"KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap})


@pytest.fixture
def secure_tools(kafka_secure: Any) -> Any:
    """``secure_tools(listener, mechanism, **source_env)``: clients for a listener of the
    SASL/TLS broker, and sources connected to it with ``source_env``."""

    def make(listener: str, mechanism: str | None, **source_env: str) -> KafkaTools:
        env = {"KAFKA_BOOTSTRAP_SERVERS": kafka_secure.listeners[listener], **source_env}
        return KafkaTools(kafka_secure.client_kwargs(listener, mechanism), env)

    return make


# --- CloudEvents conformance cases (Kafka protocol binding) ---------------------------------------

FEATURE = Path(__file__).parent / "data" / "kafka-protocol-binding.feature"


@dataclass(frozen=True)
class ConformanceCase:
    """One scenario (or outline example) of the feature file: a Kafka message and what it means."""

    name: str
    headers: tuple[tuple[str, bytes], ...]
    value: bytes
    attributes: dict[str, str]
    data: Any


def _table(block: str) -> dict[str, str]:
    rows = [line.strip().strip("|").split("|") for line in block.strip().splitlines()]
    return {k.strip(): v.strip() for k, v in rows[1:]}


def conformance_cases() -> list[ConformanceCase]:
    """The cases of tests/data/kafka-protocol-binding.feature (Gherkin, parsed here)."""
    cases = []
    for scenario in re.split(r"\n\s*Scenario(?: Outline)?:", FEATURE.read_text())[1:]:
        name = scenario.splitlines()[0].strip()
        blocks = re.findall(r'"""\n(.*?)\n\s*"""', scenario, re.DOTALL)
        payload, data = textwrap.dedent(blocks[0]), json.loads(textwrap.dedent(blocks[1]))
        headers = _table(scenario.split("And Kafka headers:")[1].split("When parsed")[0])
        attributes = _table(scenario.split("Then the attributes are:")[1].split("And the data")[0])
        variants = [("", "")]
        if "Examples:" in scenario:
            rows = scenario.split("Examples:")[1].strip().splitlines()
            placeholder = rows[0].strip().strip("|").strip()
            variants = [(f"<{placeholder}>", row.strip().strip("|").strip()) for row in rows[1:]]
        for marker, value in variants:
            filled = {k: v.replace(marker, value) if marker else v for k, v in headers.items()}
            cases.append(
                ConformanceCase(
                    f"{name} / {value}" if value else name,
                    tuple((k, v.encode()) for k, v in filled.items()),
                    payload.encode(),
                    attributes,
                    data,
                )
            )
    return cases


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests asking for ``conformance_case`` run once per case of the feature file."""
    if "conformance_case" in metafunc.fixturenames:
        cases = conformance_cases()
        metafunc.parametrize("conformance_case", cases, ids=[case.name for case in cases])


@pytest.fixture
def all_conformance_cases() -> list[ConformanceCase]:
    """Every case of the feature file."""
    return conformance_cases()
