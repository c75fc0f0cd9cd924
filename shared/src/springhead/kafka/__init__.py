"""The Kafka layer of the runtime: consuming with offsets committed only after delivery, and the
CloudEvents <-> Kafka record mapping. Installed with the ``springhead[kafka]`` extra (aiokafka).

It sits above the core, which never imports it, beside :mod:`springhead.kube` (import-linter holds
both lines); only this layer imports ``aiokafka``. Its modules:

- :mod:`springhead.kafka.mapping`: Kafka record <-> CloudEvent, as Knative maps them (pure);
- :mod:`springhead.kafka.offsets`: which offset of a partition may be committed (pure);
- :mod:`springhead.kafka.semaphore`: the fair delivery slots every partition shares;
- :mod:`springhead.kafka.partition`: one assigned partition's queue, offsets and worker;
- :mod:`springhead.kafka.fetcher`: one poll loop queueing records per partition;
- :mod:`springhead.kafka.committer`: commits of the done offsets, and the lag gauge;
- :mod:`springhead.kafka.metrics`: the consumer's Prometheus metrics.

The package itself imports nothing, so a process that only maps records never loads aiokafka.
"""

from __future__ import annotations

__all__: list[str] = []
