"""Kafka source adapter: consume topics with aiokafka, deliver every record as a CloudEvent, commit
only what is done.

- Fetching (:mod:`springhead.kafka.fetcher`): one loop polls the consumer; records queue per
  partition (:mod:`springhead.kafka.partition`), and a partition whose queue is full is left out of
  the polls until it is down to half, so a backlog of any size costs bounded memory.
- Delivery (here): one worker per assigned partition. Ordered mode delivers one event at a time per
  partition (partitions in parallel); unordered mode starts deliveries without waiting. Either
  way at most ``KAFKA_MAX_IN_FLIGHT`` are in progress at once (a
  :class:`~springhead.kafka.semaphore.FairSemaphore` shared by all partitions), and at most
  ``KAFKA_MAX_UNCOMMITTED`` records per partition are handed to delivery ahead of the committed
  offset (which bounds what a crash re-delivers).
- An event nobody accepted (sink, then dead-letter sink) is delivered again, blocking its partition
  (``KAFKA_ON_EXHAUSTED=block``, the default), or logged as lost and committed (``commit``).
- Commits (:mod:`springhead.kafka.committer`; auto-commit is off): the offset after the unbroken
  run of done records, per partition; every ``KAFKA_COMMIT_INTERVAL``, when half the uncommitted
  window is done, when partitions are revoked (after their in-flight deliveries finished or
  ``KAFKA_REVOKE_TIMEOUT`` passed) and at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

from aiokafka import (
    AIOKafkaConsumer,
    ConsumerRebalanceListener,
)
from aiokafka.errors import KafkaError
from springhead.backoff import exponential_backoff, stopped_within
from springhead.kafka.committer import Committer
from springhead.kafka.fetcher import Fetcher
from springhead.kafka.mapping import KafkaRecord, record_to_event
from springhead.kafka.metrics import KafkaMetrics
from springhead.kafka.partition import Partition
from springhead.kafka.semaphore import FairSemaphore
from springhead.metrics import Metrics
from springhead.runtime import SourceHost
from springhead.sender import DeliveryResult, Sender

from springhead_kafka.config import KafkaSettings, OnExhausted, Ordering

__all__ = ["KafkaAdapter"]

log = logging.getLogger("springhead.kafka")

#: Longest pause between attempts to reach the brokers at start-up.
START_BACKOFF_MAX = 30.0
#: Share of SPRINGHEAD_SHUTDOWN_GRACE for finishing deliveries, then for the final commit and
#: for leaving the group (the rest is the runtime's).
_DRAIN_SHARE, _COMMIT_SHARE, _CLOSE_SHARE = 0.5, 0.2, 0.2


def _where(record: KafkaRecord) -> dict[str, Any]:
    return {"topic": record.topic, "partition": record.partition, "offset": record.offset}


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    def __init__(self, adapter: KafkaAdapter) -> None:
        self._adapter = adapter

    async def on_partitions_revoked(self, revoked: Iterable[Any]) -> None:
        await self._adapter.partitions_revoked(revoked)

    async def on_partitions_assigned(self, assigned: Iterable[Any]) -> None:
        await self._adapter.partitions_assigned(assigned)


class KafkaAdapter:
    """Consumes the configured topics as one member of the consumer group until stopped."""

    def __init__(self, *, settings: KafkaSettings, sender: Sender, metrics: Metrics) -> None:
        self.settings = settings
        self.sender = sender
        self.metrics = KafkaMetrics(metrics.registry)
        self._ordered = settings.ordering is Ordering.ORDERED
        self._slots = FairSemaphore(settings.max_in_flight)
        self._partitions: dict[Any, Partition] = {}
        self._consumer: Any = None
        self._stopping = asyncio.Event()
        self._fetcher = Fetcher(
            self._partitions,
            prefetch=settings.prefetch,
            metrics=self.metrics,
            stopping=self._stopping,
        )
        self._committer = Committer(
            self._partitions,
            interval=settings.commit_interval.total_seconds(),
            max_uncommitted=settings.max_uncommitted,
            metrics=self.metrics,
        )
        self._commit_loop: asyncio.Task[None] | None = None
        self._joined = False
        self._failure: BaseException | None = None

    @classmethod
    def from_settings(cls, settings: KafkaSettings, host: SourceHost) -> KafkaAdapter:
        """The adapter a :class:`KafkaSettings` describes (the runtime's factory)."""
        return cls(settings=settings, sender=host.sender, metrics=host.metrics)

    def is_ready(self) -> bool:
        """True once the consumer joined its group (with or without partitions), until stop."""
        return self._joined and not self._stopping.is_set()

    async def stop(self) -> None:
        """Stop fetching; :meth:`run` then finishes deliveries, commits and leaves the group."""
        self._stopping.set()
        self._fetcher.wake()

    async def run(self) -> None:
        """Consume and deliver until :meth:`stop`."""
        try:
            self._consumer = await self._start_consumer()
            if self._consumer is None:
                return
            self._commit_loop = asyncio.create_task(
                self._committer.run(self._consumer), name="kafka commits"
            )
            await self._fetcher.run(self._consumer)
        finally:
            await self._shutdown()
        if self._failure is not None:
            raise self._failure

    # --- consumer ------------------------------------------------------------------------------

    def _consumer_options(self) -> dict[str, Any]:
        settings = self.settings
        options: dict[str, Any] = {
            "bootstrap_servers": settings.bootstrap_servers,
            "client_id": f"springhead-{settings.namespace}-{settings.name}",
            "group_id": settings.group_id,
            "enable_auto_commit": False,
            "auto_offset_reset": settings.initial_offset.value,
            "isolation_level": "read_committed",
            "max_partition_fetch_bytes": settings.max_partition_fetch_bytes,
            "fetch_max_bytes": settings.fetch_max_bytes,
            # A rebalance waits for the revoke callback: let it take the revoke timeout.
            "rebalance_timeout_ms": int(settings.revoke_timeout.total_seconds() * 1000) + 10_000,
            # Not polling while every queue is full (a slow or failing sink) is back-pressure, not
            # a stuck consumer: never leave the group for it. Heartbeats still prove liveness.
            "max_poll_interval_ms": 24 * 3600 * 1000,
            "security_protocol": settings.security_protocol,
        }
        if settings.sasl_mechanism is not None:
            options.update(
                sasl_mechanism=settings.sasl_mechanism.value,
                sasl_plain_username=settings.sasl_user,
                sasl_plain_password=(
                    settings.sasl_password.get_secret_value() if settings.sasl_password else None
                ),
            )
        return options

    async def _start_consumer(self) -> Any:
        """A started consumer, retrying while the brokers cannot be reached; None if stopped."""
        settings = self.settings
        options = self._consumer_options()
        if settings.tls:
            options["ssl_context"] = await asyncio.to_thread(settings.ssl_context)
        failures = 0
        while not self._stopping.is_set():
            consumer = AIOKafkaConsumer(**options)
            if settings.topic_pattern:
                # Java consumers match the whole topic name; aiokafka matches a prefix.
                consumer.subscribe(
                    pattern=f"(?:{settings.topic_pattern})\\Z", listener=_Rebalance(self)
                )
            else:
                consumer.subscribe(topics=settings.topics, listener=_Rebalance(self))
            try:
                await consumer.start()
            except KafkaError as exc:
                failures += 1
                delay = exponential_backoff(failures, base=1.0, maximum=START_BACKOFF_MAX)
                log.error(
                    "cannot reach Kafka; retrying",
                    extra={
                        "bootstrap_servers": settings.bootstrap_servers,
                        "error": f"{type(exc).__name__}: {exc}",
                        "retry_in_s": round(delay, 3),
                    },
                )
                await consumer.stop()
            else:
                log.info(
                    "consumer started",
                    extra={
                        "group": settings.group_id,
                        "topics": settings.topics or settings.topic_pattern,
                        "ordering": settings.ordering.value,
                    },
                )
                return consumer
            await stopped_within(self._stopping, delay)
        return None

    # --- rebalance -----------------------------------------------------------------------------

    async def partitions_assigned(self, assigned: Iterable[Any]) -> None:
        """Start a worker for every newly assigned partition (rebalance listener)."""
        if self._stopping.is_set():
            return  # shutting down: the group hands these to another member
        for tp in assigned:
            if tp in self._partitions:
                continue
            part = Partition(tp)
            self._partitions[tp] = part
            part.worker = asyncio.create_task(self._work(part), name=f"kafka {part.name}")
            part.worker.add_done_callback(self._worker_finished)
        self._joined = True
        self._fetcher.wake()  # poll the new partitions
        log.info(
            "partitions assigned",
            extra={"partitions": sorted(part.name for part in self._partitions.values())},
        )

    async def partitions_revoked(self, revoked: Iterable[Any]) -> None:
        """Finish (or abandon, after ``KAFKA_REVOKE_TIMEOUT``) the revoked partitions' deliveries
        and commit what is done, before the group hands them over (rebalance listener)."""
        parts = [self._partitions.pop(tp) for tp in revoked if tp in self._partitions]
        if not parts:
            return
        names = sorted(part.name for part in parts)
        log.info("revoking partitions", extra={"partitions": names})
        abandoned = await self._retire(parts, self.settings.revoke_timeout.total_seconds())
        committed = await self._committer.commit(self._consumer, parts)
        self._committer.forget(parts)
        log.info(
            "partitions revoked",
            extra={"partitions": names, "abandoned": abandoned, "committed": committed},
        )

    async def _retire(self, parts: list[Partition], timeout: float) -> int:
        """Stop the partitions' workers; let deliveries in progress finish within ``timeout``,
        then abandon them. Returns how many were abandoned."""
        for part in parts:
            part.closed = True
            part.queue.clear()
            part.wake.set()
        tasks = {
            task
            for part in parts
            for task in (part.worker, *part.in_flight)
            if task is not None and not task.done()
        }
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=max(0.0, timeout))
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        abandoned = 0
        for part in parts:
            count = part.offsets.in_delivery
            if count:
                abandoned += count
                self.metrics.abandoned.labels(part.topic).inc(count)
        if abandoned:
            log.warning(
                "deliveries abandoned; their records will be delivered again",
                extra={"abandoned": abandoned, "partitions": sorted(p.name for p in parts)},
            )
        return abandoned

    def _worker_finished(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self._failed(task.exception())

    def _failed(self, error: BaseException | None) -> None:
        """A worker or delivery that failed (a bug) stops the source loudly: its partition would
        otherwise stall unnoticed."""
        self._failure = error
        log.error("partition delivery failed", exc_info=error)
        self._stopping.set()
        self._fetcher.wake()

    # --- delivery ------------------------------------------------------------------------------

    async def _work(self, part: Partition) -> None:
        limit = self.settings.max_uncommitted
        fetcher = self._fetcher
        while not part.closed:
            if not part.queue or part.offsets.uncommitted >= limit:
                if part.queue:
                    self._committer.request()
                part.wake.clear()
                await part.wake.wait()
                continue
            record = fetcher.take(part)
            await self._slots.acquire()
            if part.closed:
                self._slots.release()
                return
            part.offsets.dispatched(record.offset)
            if self._ordered:
                try:
                    await self._deliver(part, record)
                finally:
                    self._slots.release()
            else:
                part.in_flight.add(asyncio.create_task(self._deliver_then_release(part, record)))

    async def _deliver_then_release(self, part: Partition, record: KafkaRecord) -> None:
        # Its own bookkeeping rather than done callbacks: two callbacks per record were a
        # measurable share of the per-event cost.
        try:
            await self._deliver(part, record)
        except Exception as exc:  # noqa: BLE001 - a bug: reported, and the source stops
            self._failed(exc)
        finally:
            self._slots.release()
            part.in_flight.discard(asyncio.current_task())

    async def _deliver(self, part: Partition, record: KafkaRecord) -> None:
        settings = self.settings
        mapped = record_to_event(
            record, namespace=settings.namespace, name=settings.name, key_type=settings.key_type
        )
        if mapped.invalid is not None:
            self.metrics.invalid_cloudevents.labels(part.topic).inc()
            log.warning(
                "record delivered as a plain event",
                extra={**_where(record), "reason": mapped.invalid},
            )
        if settings.on_exhausted is OnExhausted.COMMIT:
            result = await self.sender.send(mapped.event)
        else:
            # No stop event: a revoke or shutdown ends this by cancelling the delivery once its
            # drain time ran out, so an event refused meanwhile still gets that time.
            result = await self.sender.send_until_accepted(
                mapped.event, on_refused=self._redelivering(part, record)
            )
        if result.accepted:
            outcome = result.outcome.value
        else:
            outcome = "lost"
            log.error(
                "event lost: no sink accepted it; committing past it",
                extra={
                    **_where(record),
                    "event_id": mapped.event.get_id(),
                    "status": result.status,
                },
            )
        self._committer.done(part, record.offset)
        counter = part.done_counters.get(outcome)
        if counter is None:
            counter = part.done_counters[outcome] = self.metrics.records_done.labels(
                part.topic, outcome
            )
        counter.inc()

    def _redelivering(
        self, part: Partition, record: KafkaRecord
    ) -> Callable[[DeliveryResult, int, float], None]:
        """What a round nobody accepted adds to the sender's own report: the redelivery count
        and a warning naming the record."""

        def on_refused(result: DeliveryResult, rounds: int, pause_s: float) -> None:
            self.metrics.redeliveries.labels(part.topic).inc()
            log.warning(
                "event not accepted; delivering it again, its partition waits",
                extra={
                    **_where(record),
                    "round": rounds,
                    "status": result.status,
                    "pause_s": pause_s,
                },
            )

        return on_refused

    # --- shutdown ------------------------------------------------------------------------------

    async def _shutdown(self) -> None:
        self._stopping.set()
        grace = self.settings.shutdown_grace.total_seconds()
        parts = list(self._partitions.values())
        abandoned = await self._retire(parts, grace * _DRAIN_SHARE)
        if self._commit_loop is not None:
            self._commit_loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._commit_loop
        consumer = self._consumer
        committed: dict[str, int] = {}
        if consumer is not None:
            committed = await self._committer.commit(
                consumer, parts, timeout=max(1.0, grace * _COMMIT_SHARE)
            )
            try:
                await asyncio.wait_for(consumer.stop(), max(1.0, grace * _CLOSE_SHARE))
            except (KafkaError, TimeoutError) as exc:
                log.warning("consumer did not close cleanly", extra={"error": repr(exc)})
        self._consumer = None
        self._partitions.clear()
        log.info("consumer closed", extra={"committed": committed, "abandoned": abandoned})
