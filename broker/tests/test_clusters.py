"""A broker whose contract entry names another Kafka cluster (a Broker's ``spec.config``
``bootstrap.servers``): its events are written to and consumed from that cluster, while the
process's own ``KAFKA_BOOTSTRAP_SERVERS`` serve the other brokers. Two real Kafka brokers:
testinfra's plain one (the process's default) and the secure profile's PLAINTEXT listener."""

from __future__ import annotations

from typing import Any

from springhead.kafka.admin import KafkaAdmin
from springhead_testing import RecordingSink


async def test_a_broker_on_another_cluster(kafka_tools: Any, kafka: Any, kafka_secure: Any) -> None:
    here, there = kafka_tools.unique("here"), kafka_tools.unique("there")
    kafka.create_topic(f"knative-broker-testns-{here}")
    kafka_secure.create_topic(f"knative-broker-testns-{there}")
    async with RecordingSink() as sink:
        trigger = {"name": "all", "subscriber": sink.url}
        kafka_tools.write_contract(
            [
                {"namespace": "testns", "name": here, "triggers": [{**trigger, "name": "h"}]},
                {
                    "namespace": "testns",
                    "name": there,
                    "bootstrapServers": [kafka_secure.bootstrap],
                    "triggers": [{**trigger, "name": "t"}],
                },
            ]
        )
        async with kafka_tools.process() as process:
            await kafka_tools.ready(process, triggers=2)
            for name in (here, there):
                for n in range(3):
                    status = await kafka_tools.send(process, f"/testns/{name}", f"{name}-{n}", "t")
                    assert status == 202
            await sink.wait_for(6)
    assert sorted(kafka_tools.ids(sink)) == sorted(
        f"{name}-{n}" for name in (here, there) for n in range(3)
    )
    # Each broker's topic is on its own cluster only (no topic auto-created on the other).
    default_topics = await KafkaAdmin({"bootstrap_servers": kafka.bootstrap}).topics()
    other_topics = await KafkaAdmin({"bootstrap_servers": kafka_secure.bootstrap}).topics()
    assert f"knative-broker-testns-{there}" not in default_topics
    assert f"knative-broker-testns-{here}" not in other_topics
