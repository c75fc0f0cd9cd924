"""The real Apache Kafka broker from testinfra: groups, committed offsets, restart, logging."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from springhead_testinfra.kafka import KafkaBroker
from springhead_testinfra.kafka_clients import consume_and_commit, produce


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def test_produce_and_consume_through_a_group_with_committed_offsets(
    kafka: KafkaBroker,
) -> None:
    topic, group = _name("smoke"), _name("group")
    kafka.create_topic(topic, partitions=3)
    first = [f"record-{i}".encode() for i in range(12)]
    await produce(kafka.client_kwargs(), topic, first)

    got, committed = await consume_and_commit(kafka.client_kwargs(), topic, group, len(first))
    assert sorted(got) == sorted(first)
    assert sum(committed.values()) == len(first)

    # A new member of the same group resumes after the committed offsets: only new records.
    await produce(kafka.client_kwargs(), topic, [b"late"])
    got_again, committed_again = await consume_and_commit(kafka.client_kwargs(), topic, group, 1)
    assert got_again == [b"late"]
    assert sum(committed_again.values()) == len(first) + 1


async def test_broker_restart_keeps_data_and_bootstrap(kafka: KafkaBroker) -> None:
    topic, group = _name("restart"), _name("group")
    await produce(kafka.client_kwargs(), topic, [b"before"])
    bootstrap = kafka.bootstrap

    await asyncio.to_thread(kafka.stop)
    assert not kafka.running
    await asyncio.to_thread(kafka.start)
    assert kafka.running and kafka.bootstrap == bootstrap

    await produce(kafka.client_kwargs(), topic, [b"after"])
    got, _ = await consume_and_commit(kafka.client_kwargs(), topic, group, 2)
    assert got == [b"before", b"after"]


def test_broker_logs_through_log4j2_without_slf4j_warnings(kafka: KafkaBroker) -> None:
    log = kafka.log_path.read_text()
    assert "Kafka Server started" in log
    assert "SLF4J" not in log, kafka.log_tail()
    assert "StatusLogger" not in log, kafka.log_tail()


def test_storage_formats_with_a_cluster_id_that_starts_with_a_dash(tmp_path: Path) -> None:
    # A random id is URL-safe base64, so one run in 64 starts with "-"; the storage tool
    # once read that as an option and every Kafka test of that run failed at setup.
    cluster_id = "-" + uuid.uuid4().hex[:21]
    broker = KafkaBroker(tmp_path, cluster_id=cluster_id)
    try:
        meta = (broker.data_dir / "meta.properties").read_text()
        assert f"cluster.id={cluster_id}" in meta.splitlines()
    finally:
        broker.close()
