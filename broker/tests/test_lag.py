"""Consumer lag per trigger, read from the dispatcher's /metrics on real Kafka: each trigger is
its own consumer group on the broker's topic (``knative-trigger-<ns>-<name>``), so a trigger
whose subscriber refuses shows its backlog while another trigger on the same topic shows none."""

from __future__ import annotations

import asyncio
from typing import Any

from springhead_testing import RecordingSink

LAG = "springhead_kafka_consumer_lag"
EVENTS = 5


async def wait_lag(
    tools: Any, process: Any, group: str, expected: float, *, timeout: float = 60.0
) -> None:
    """Wait until ``group``'s lag gauge (summed over its partitions) reads ``expected``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        lag = await tools.metric(process, LAG, group=group)
        if lag == expected:
            return
        if loop.time() > deadline:
            raise AssertionError(f"{group}: lag {lag}, expected {expected}")
        # Polling an observable with a deadline, not a sleep standing in for an event.
        await asyncio.sleep(0.1)


async def test_each_trigger_reports_its_own_lag(kafka_tools: Any, kafka_admin: Any) -> None:
    name = kafka_tools.unique("lag")
    kafka_admin(f"knative-broker-testns-{name}", 1)
    stuck_name, fine_name = kafka_tools.unique("stuck"), kafka_tools.unique("fine")
    stuck_group = f"knative-trigger-testns-{stuck_name}"
    fine_group = f"knative-trigger-testns-{fine_name}"
    async with RecordingSink() as stuck, RecordingSink() as fine:
        stuck.respond_with(status=500)
        triggers = [
            {
                "name": stuck_name,
                "subscriber": stuck.url,
                "delivery": {"retry": 0, "backoffDelay": "PT0.05S"},
                "annotations": {"kafka.eventing.knative.dev/delivery.order": "ordered"},
            },
            {"name": fine_name, "subscriber": fine.url},
        ]
        kafka_tools.write_contract([{"namespace": "testns", "name": name, "triggers": triggers}])
        async with kafka_tools.process(BROKER_ROLE="dispatcher") as dispatcher:
            await kafka_tools.ready(dispatcher, triggers=2)
            async with kafka_tools.process(BROKER_ROLE="ingress") as ingress:
                await ingress.wait_for_log("contract applied")
                for n in range(EVENTS):
                    status = await kafka_tools.send(ingress, f"/testns/{name}", f"e{n}", "t")
                    assert status == 202
            await fine.wait_for(EVENTS)
            # The refused first event holds the ordered trigger: all five are still owed.
            await wait_lag(kafka_tools, dispatcher, stuck_group, EVENTS)
            await wait_lag(kafka_tools, dispatcher, fine_group, 0)
            stuck.respond_with(status=202)
            await stuck.wait_for(EVENTS)
            await wait_lag(kafka_tools, dispatcher, stuck_group, 0)
            topic = f"knative-broker-testns-{name}"
            assert await kafka_tools.metric(dispatcher, LAG, group=stuck_group, topic=topic) == 0
    assert sorted(kafka_tools.ids(stuck)) == [f"e{n}" for n in range(EVENTS)]
