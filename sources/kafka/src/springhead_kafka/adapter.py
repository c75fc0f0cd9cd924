"""Kafka source adapter: consume topics with aiokafka, deliver every record as a CloudEvent, commit
only what is done.

- Fetching: one loop polls the consumer; records queue per partition. A partition whose queue
  holds ``KAFKA_PREFETCH`` records is left out of the polls until its queue is down to half
  (aiokafka then keeps at most one fetched batch of it), so a backlog of any size costs bounded
  memory.
- Delivery: one worker per assigned partition. Ordered mode delivers one event at a time per
  partition (partitions in parallel); unordered mode starts deliveries without waiting. Either
  way at most ``KAFKA_MAX_IN_FLIGHT`` are in progress at once, and at most
  ``KAFKA_MAX_UNCOMMITTED`` records per partition are handed to delivery ahead of the committed
  offset (which bounds what a crash re-delivers).
- An event nobody accepted (sink, then dead-letter sink) is delivered again, blocking its partition
  (``KAFKA_ON_EXHAUSTED=block``, the default), or logged as lost and committed (``commit``).
- Commits (auto-commit is off): the offset after the unbroken run of done records, per partition;
  every ``KAFKA_COMMIT_INTERVAL``, when half the uncommitted window is done, when partitions are
  revoked (after their in-flight deliveries finished or ``KAFKA_REVOKE_TIMEOUT`` passed) and at
  shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Iterable
from typing import Any

from aiokafka import (
    AIOKafkaConsumer,
    ConsumerRebalanceListener,
)
from aiokafka.errors import KafkaError
from springhead.backoff import exponential_backoff, stopped_within
from springhead.delivery import backoff_delay
from springhead.metrics import Metrics
from springhead.runtime import SourceHost
from springhead.sender import Sender

from springhead_kafka.config import KafkaSettings, OnExhausted, Ordering
from springhead_kafka.mapping import KafkaRecord, record_to_event
from springhead_kafka.metrics import KafkaMetrics
from springhead_kafka.offsets import PartitionOffsets

__all__ = ["KafkaAdapter"]

log = logging.getLogger("springhead.kafka")

#: How long one poll waits for records (the loop is also woken when a partition resumes).
POLL_TIMEOUT_MS = 1000
#: How long one offset commit may take before it counts as failed.
COMMIT_TIMEOUT = 10.0
#: Longest stopped_within between two delivery rounds of an event nobody accepted.
REDELIVERY_PAUSE_MAX = 30.0
#: Longest stopped_within between attempts to reach the brokers at start-up.
START_BACKOFF_MAX = 30.0
#: Share of SPRINGHEAD_SHUTDOWN_GRACE for finishing deliveries, then for the final commit and
#: for leaving the group (the rest is the runtime's).
_DRAIN_SHARE, _COMMIT_SHARE, _CLOSE_SHARE = 0.5, 0.2, 0.2


def _name(tp: Any) -> str:
    return f"{tp.topic}-{tp.partition}"


def _where(record: KafkaRecord) -> dict[str, Any]:
    return {"topic": record.topic, "partition": record.partition, "offset": record.offset}


class _Partition:
    """One assigned partition: its queue, offsets and worker."""

    __slots__ = (
        "closed",
        "done_counters",
        "fetched_next",
        "in_flight",
        "offsets",
        "full",
        "queue",
        "topic",
        "tp",
        "wake",
        "worker",
    )

    def __init__(self, tp: Any) -> None:
        self.tp = tp
        self.topic: str = tp.topic
        self.queue: deque[KafkaRecord] = deque()
        self.offsets = PartitionOffsets()
        self.wake = asyncio.Event()
        """Set when records arrive, the uncommitted window opens, or the partition closes."""
        self.in_flight: set[asyncio.Task[None]] = set()
        self.worker: asyncio.Task[None] | None = None
        self.full = False
        """The queue reached KAFKA_PREFETCH: not polled until it is down to half."""
        self.closed = False
        self.fetched_next: int | None = None
        self.done_counters: dict[str, Any] = {}
        """records_done children by outcome (labels() per event costs a lock and a lookup)."""

    @property
    def next_offset(self) -> int | None:
        """The first offset not delivered yet (None before the first record)."""
        offset = self.offsets.next_offset
        if offset is not None and self.offsets.in_delivery:
            return offset
        if self.queue:
            return self.queue[0].offset
        return offset if offset is not None else self.fetched_next


class _Slots:
    """At most ``limit`` deliveries at once across all partitions, handed out first come, first
    served, so no partition starves the others.

    Not ``asyncio.Semaphore``: with several waiters woken at once it reports itself locked until
    they all ran, so a worker acquiring again waits despite free slots and concurrency collapses
    to about one per partition.
    """

    __slots__ = ("_free", "_waiters")

    def __init__(self, limit: int) -> None:
        self._free = limit
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self) -> None:
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # a slot was handed over just as the wait was cancelled
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot goes straight to the longest waiter
                return
        self._free += 1

    @property
    def free(self) -> int:
        """Slots nobody holds."""
        return self._free


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
        self._commit_threshold = max(1, settings.max_uncommitted // 2)
        self._resume_at = settings.prefetch // 2
        self._slots = _Slots(settings.max_in_flight)
        self._partitions: dict[Any, _Partition] = {}
        self._consumer: Any = None
        self._stopping = asyncio.Event()
        self._wakeup = asyncio.Event()
        self._commit_requested = asyncio.Event()
        self._commit_lock = asyncio.Lock()
        self._committer: asyncio.Task[None] | None = None
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
        self._wakeup.set()

    async def run(self) -> None:
        """Consume and deliver until :meth:`stop`."""
        try:
            self._consumer = await self._start_consumer()
            if self._consumer is None:
                return
            self._committer = asyncio.create_task(self._commit_loop(), name="kafka commits")
            await self._fetch_loop()
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

    async def _fetch_loop(self) -> None:
        consumer = self._consumer
        prefetch = self.settings.prefetch
        while not self._stopping.is_set():
            self._wakeup.clear()
            parts = [part for part in self._partitions.values() if not part.closed]
            room = [part.tp for part in parts if not part.full]
            if parts and not room:
                # Every queue is full: wait until a worker made room (or stop, or a rebalance).
                await self._wakeup.wait()
                continue
            # Only partitions with room; the consumer keeps what it fetched for the others.
            polled = room if len(room) < len(parts) else ()
            fetch = asyncio.ensure_future(
                consumer.getmany(*polled, timeout_ms=POLL_TIMEOUT_MS, max_records=prefetch)
            )
            woken = asyncio.ensure_future(self._wakeup.wait())
            try:
                await asyncio.wait({fetch, woken}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                woken.cancel()
                if not fetch.done():
                    # Room made, stop, or a rebalance: poll again. Records leave the consumer's
                    # buffer only when getmany returns, so none are lost.
                    fetch.cancel()
                    await asyncio.wait({fetch})
            if fetch.cancelled():
                continue
            error = fetch.exception()
            if isinstance(error, KafkaError):
                log.warning("fetching failed", extra={"error": f"{type(error).__name__}: {error}"})
                await stopped_within(self._stopping, 1.0)
                continue
            if error is not None:
                raise error
            self._distribute(fetch.result())

    def _distribute(self, batches: dict[Any, list[KafkaRecord]]) -> None:
        for tp, records in batches.items():
            part = self._partitions.get(tp)
            if part is None or part.closed or not records:
                continue  # revoked meanwhile: its next owner fetches from the committed offset
            part.queue.extend(records)
            part.fetched_next = records[-1].offset + 1
            self.metrics.records_received.labels(part.topic).inc(len(records))
            if len(part.queue) >= self.settings.prefetch:
                part.full = True
            part.wake.set()

    # --- rebalance -----------------------------------------------------------------------------

    async def partitions_assigned(self, assigned: Iterable[Any]) -> None:
        """Start a worker for every newly assigned partition (rebalance listener)."""
        if self._stopping.is_set():
            return  # shutting down: the group hands these to another member
        for tp in assigned:
            if tp in self._partitions:
                continue
            part = _Partition(tp)
            self._partitions[tp] = part
            part.worker = asyncio.create_task(self._work(part), name=f"kafka {_name(tp)}")
            part.worker.add_done_callback(self._worker_finished)
        self._joined = True
        self._wakeup.set()  # poll the new partitions
        log.info(
            "partitions assigned",
            extra={"partitions": sorted(_name(tp) for tp in self._partitions)},
        )

    async def partitions_revoked(self, revoked: Iterable[Any]) -> None:
        """Finish (or abandon, after ``KAFKA_REVOKE_TIMEOUT``) the revoked partitions' deliveries
        and commit what is done, before the group hands them over (rebalance listener)."""
        parts = [self._partitions.pop(tp) for tp in revoked if tp in self._partitions]
        if not parts:
            return
        names = sorted(_name(part.tp) for part in parts)
        log.info("revoking partitions", extra={"partitions": names})
        abandoned = await self._retire(parts, self.settings.revoke_timeout.total_seconds())
        committed = await self._commit(parts)
        for part in parts:
            with contextlib.suppress(KeyError):
                self.metrics.lag.remove(part.topic, str(part.tp.partition))
        log.info(
            "partitions revoked",
            extra={"partitions": names, "abandoned": abandoned, "committed": committed},
        )

    async def _retire(self, parts: list[_Partition], timeout: float) -> int:
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
                extra={"abandoned": abandoned, "partitions": sorted(_name(p.tp) for p in parts)},
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
        self._wakeup.set()

    # --- delivery ------------------------------------------------------------------------------

    async def _work(self, part: _Partition) -> None:
        limit = self.settings.max_uncommitted
        while not part.closed:
            if not part.queue or part.offsets.uncommitted >= limit:
                if part.queue:
                    self._commit_requested.set()
                part.wake.clear()
                await part.wake.wait()
                continue
            record = part.queue.popleft()
            if part.full and len(part.queue) <= self._resume_at:
                part.full = False
                self._wakeup.set()
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

    async def _deliver_then_release(self, part: _Partition, record: KafkaRecord) -> None:
        # Its own bookkeeping rather than done callbacks: two callbacks per record were a
        # measurable share of the per-event cost.
        try:
            await self._deliver(part, record)
        except Exception as exc:  # noqa: BLE001 - a bug: reported, and the source stops
            self._failed(exc)
        finally:
            self._slots.release()
            part.in_flight.discard(asyncio.current_task())

    async def _deliver(self, part: _Partition, record: KafkaRecord) -> None:
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
        rounds = 0
        while True:
            result = await self.sender.send(mapped.event)
            if result.accepted:
                outcome = result.outcome.value
                break
            if settings.on_exhausted is OnExhausted.COMMIT:
                outcome = "lost"
                log.error(
                    "event lost: no sink accepted it; committing past it",
                    extra={
                        **_where(record),
                        "event_id": mapped.event.get_id(),
                        "status": result.status,
                    },
                )
                break
            rounds += 1
            self.metrics.redeliveries.labels(part.topic).inc()
            wait = min(backoff_delay(self.sender.policy, min(rounds, 16)), REDELIVERY_PAUSE_MAX)
            log.warning(
                "event not accepted; delivering it again, its partition waits",
                extra={
                    **_where(record),
                    "round": rounds,
                    "status": result.status,
                    "pause_s": wait,
                },
            )
            await asyncio.sleep(wait)
        part.offsets.done(record.offset)
        counter = part.done_counters.get(outcome)
        if counter is None:
            counter = part.done_counters[outcome] = self.metrics.records_done.labels(
                part.topic, outcome
            )
        counter.inc()
        if part.offsets.ready >= self._commit_threshold:
            self._commit_requested.set()

    # --- commits -------------------------------------------------------------------------------

    async def _commit_loop(self) -> None:
        interval = self.settings.commit_interval.total_seconds()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._commit_requested.wait(), interval)
            self._commit_requested.clear()
            await self._commit()
            self._update_lag()

    async def _commit(
        self, parts: list[_Partition] | None = None, *, timeout: float = COMMIT_TIMEOUT
    ) -> dict[str, int]:
        """Commit every done run of ``parts`` (default: the assigned partitions); returns what
        was committed. A failed commit is logged and retried at the next one."""
        async with self._commit_lock:
            if parts is None:
                parts = [part for part in self._partitions.values() if not part.closed]
            tickets = [(part, ticket) for part in parts if (ticket := part.offsets.begin_commit())]
            if not tickets:
                return {}
            offsets = {part.tp: ticket.offset for part, ticket in tickets}
            started = time.perf_counter()
            try:
                await asyncio.wait_for(self._consumer.commit(offsets), timeout)
            except (KafkaError, TimeoutError) as exc:
                self.metrics.commit_failures.inc()
                log.warning(
                    "offset commit failed; retried at the next commit",
                    extra={
                        "error": f"{type(exc).__name__}: {exc}",
                        "offsets": {_name(tp): offset for tp, offset in offsets.items()},
                    },
                )
                return {}
            self.metrics.commit_latency.observe(time.perf_counter() - started)
            for part, ticket in tickets:
                part.offsets.committed(ticket)
                part.wake.set()
            return {_name(tp): offset for tp, offset in offsets.items()}

    def _update_lag(self) -> None:
        for part in self._partitions.values():
            highwater = self._consumer.highwater(part.tp)
            position = part.next_offset
            if highwater is None or position is None:
                continue
            self.metrics.lag.labels(part.topic, str(part.tp.partition)).set(
                max(0, highwater - position)
            )

    # --- shutdown ------------------------------------------------------------------------------

    async def _shutdown(self) -> None:
        self._stopping.set()
        grace = self.settings.shutdown_grace.total_seconds()
        parts = list(self._partitions.values())
        abandoned = await self._retire(parts, grace * _DRAIN_SHARE)
        if self._committer is not None:
            self._committer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._committer
        consumer = self._consumer
        committed: dict[str, int] = {}
        if consumer is not None:
            committed = await self._commit(parts, timeout=max(1.0, grace * _COMMIT_SHARE))
            try:
                await asyncio.wait_for(consumer.stop(), max(1.0, grace * _CLOSE_SHARE))
            except (KafkaError, TimeoutError) as exc:
                log.warning("consumer did not close cleanly", extra={"error": repr(exc)})
        self._consumer = None
        self._partitions.clear()
        log.info("consumer closed", extra={"committed": committed, "abandoned": abandoned})
