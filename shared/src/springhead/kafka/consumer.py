"""The consume loop: one member of a consumer group, delivering every record through a caller's
function and committing only what is done.

- Fetching (:mod:`springhead.kafka.fetcher`): one loop polls the consumer; records queue per
  partition (:mod:`springhead.kafka.partition`), and a partition whose queue is full is left out of
  the polls until it is down to half, so a backlog of any size costs bounded memory.
- Delivery (here): one worker per assigned partition. Ordered mode delivers one record at a time
  per partition (partitions in parallel); unordered mode starts deliveries without waiting. Either
  way at most ``max_in_flight`` are in progress at once (a
  :class:`~springhead.kafka.semaphore.FairSemaphore` shared by all partitions), and at most
  ``max_uncommitted`` records per partition are handed to delivery ahead of the committed offset
  (which bounds what a crash re-delivers).
- Commits (:mod:`springhead.kafka.committer`; auto-commit is off): the offset after the unbroken
  run of done records, per partition; every ``commit_interval``, when half the uncommitted window
  is done, when partitions are revoked (after their in-flight deliveries finished or
  ``revoke_timeout`` passed) and at shutdown.

A record is done when the caller's ``deliver`` returns (with an outcome label for the
``records_done`` counter); a ``deliver`` that raises is a bug: it stops the loop loudly, and its
record is never committed past.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka.errors import KafkaError

from springhead.backoff import exponential_backoff, stopped_within
from springhead.kafka.committer import Committer
from springhead.kafka.fetcher import Fetcher
from springhead.kafka.mapping import KafkaRecord
from springhead.kafka.metrics import KafkaMetrics
from springhead.kafka.partition import Partition
from springhead.kafka.semaphore import FairSemaphore

__all__ = ["ConsumeLimits", "Deliver", "PartitionedConsumer", "START_BACKOFF_MAX"]

log = logging.getLogger("springhead.kafka")

#: Longest pause between attempts to reach the brokers at start-up.
START_BACKOFF_MAX = 30.0
#: Share of the shutdown grace for finishing deliveries, then for the final commit and for
#: leaving the group (the rest is the runtime's).
_DRAIN_SHARE, _COMMIT_SHARE, _CLOSE_SHARE = 0.5, 0.2, 0.2

#: Delivers one record of a partition; returns the outcome label it is counted under.
Deliver = Callable[[Partition, KafkaRecord], Awaitable[str]]


@dataclass(frozen=True, kw_only=True, slots=True)
class ConsumeLimits:
    """How a :class:`PartitionedConsumer` paces delivery and commits (seconds for durations)."""

    ordered: bool
    """One delivery at a time per partition (else up to ``max_in_flight`` per partition too)."""
    max_in_flight: int
    """Deliveries in progress at once, across all partitions."""
    max_uncommitted: int
    """Records of one partition handed to delivery ahead of the committed offset, at most."""
    prefetch: int
    """Records queued ahead of delivery per partition."""
    commit_interval: float
    """Seconds between periodic commits."""
    revoke_timeout: float
    """Seconds a revoked partition's deliveries may take before they are abandoned."""
    shutdown_grace: float
    """Seconds the shutdown has for draining, the final commit and leaving the group."""


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    def __init__(self, consumer: PartitionedConsumer) -> None:
        self._consumer = consumer

    async def on_partitions_revoked(self, revoked: Iterable[Any]) -> None:
        await self._consumer.partitions_revoked(revoked)

    async def on_partitions_assigned(self, assigned: Iterable[Any]) -> None:
        await self._consumer.partitions_assigned(assigned)


class PartitionedConsumer:
    """One member of a consumer group: ``options`` are aiokafka consumer options (``group_id``
    among them; auto-commit is forced off), ``topics`` or ``pattern`` what it subscribes to (a
    pattern must match a whole topic name), ``deliver`` what it does with each record.
    ``describe`` is added to the "consumer started" log line."""

    def __init__(
        self,
        *,
        options: Mapping[str, Any],
        topics: list[str] | None = None,
        pattern: str | None = None,
        limits: ConsumeLimits,
        deliver: Deliver,
        metrics: KafkaMetrics,
        describe: Mapping[str, Any] | None = None,
    ) -> None:
        self.limits = limits
        self.metrics = metrics
        self._options = {**options, "enable_auto_commit": False}
        self._topics = topics
        self._pattern = pattern
        self._deliver_record = deliver
        self._describe = dict(describe or {})
        self._slots = FairSemaphore(limits.max_in_flight)
        self._partitions: dict[Any, Partition] = {}
        self._consumer: Any = None
        self._stopping = asyncio.Event()
        self._fetcher = Fetcher(
            self._partitions, prefetch=limits.prefetch, metrics=metrics, stopping=self._stopping
        )
        self._committer = Committer(
            self._partitions,
            interval=limits.commit_interval,
            max_uncommitted=limits.max_uncommitted,
            metrics=metrics,
            group=str(options.get("group_id") or ""),
        )
        self._commit_loop: asyncio.Task[None] | None = None
        self._joined = False
        self._positioning: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None

    def is_ready(self) -> bool:
        """True once the consumer joined its group (with or without partitions), until stop."""
        return self._joined and not self._stopping.is_set()

    async def stop(self) -> None:
        """Stop fetching; :meth:`run` then finishes deliveries, commits and leaves the group."""
        self._stopping.set()
        self._fetcher.wake()

    async def run(self, **options: Any) -> None:
        """Consume and deliver until :meth:`stop`; a failed delivery (a bug) is raised.
        ``options`` are added to the consumer's (e.g. an ``ssl_context`` built off the loop)."""
        self._options.update(options)
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

    async def _start_consumer(self) -> Any:
        """A started consumer, retrying while the brokers cannot be reached; None if stopped."""
        failures = 0
        while not self._stopping.is_set():
            consumer = AIOKafkaConsumer(**self._options)
            if self._pattern:
                # Java consumers match the whole topic name; aiokafka matches a prefix.
                consumer.subscribe(pattern=f"(?:{self._pattern})\\Z", listener=_Rebalance(self))
            else:
                consumer.subscribe(topics=self._topics, listener=_Rebalance(self))
            self._consumer = consumer  # the rebalance listener may run before start() returns
            try:
                await consumer.start()
            except KafkaError as exc:
                self._consumer = None
                failures += 1
                delay = exponential_backoff(failures, base=1.0, maximum=START_BACKOFF_MAX)
                log.error(
                    "cannot reach Kafka; retrying",
                    extra={
                        "bootstrap_servers": self._options.get("bootstrap_servers"),
                        "error": f"{type(exc).__name__}: {exc}",
                        "retry_in_s": round(delay, 3),
                    },
                )
                await consumer.stop()
            else:
                log.info(
                    "consumer started",
                    extra={
                        "group": self._options.get("group_id"),
                        "topics": self._topics or self._pattern,
                        **self._describe,
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
        fresh = []
        for tp in assigned:
            if tp in self._partitions:
                continue
            part = Partition(tp)
            self._partitions[tp] = part
            part.worker = asyncio.create_task(self._work(part), name=f"kafka {part.name}")
            part.worker.add_done_callback(self._worker_finished)
            fresh.append(tp)
        self._fetcher.wake()  # poll the new partitions
        log.info(
            "partitions assigned",
            extra={"partitions": sorted(part.name for part in self._partitions.values())},
        )
        if self._joined or not fresh:
            self._joined = True
        else:
            # Ready only once each partition's starting offset is known: with
            # auto_offset_reset=latest, a record written after readiness is then consumed.
            self._positioning = asyncio.create_task(self._positioned(fresh))

    async def _positioned(self, partitions: list[Any]) -> None:
        """Resolve the starting offset of ``partitions``, then count as joined (ready)."""
        positions: dict[str, int] = {}
        for tp in partitions:
            try:
                positions[f"{tp.topic}-{tp.partition}"] = await self._consumer.position(tp)
            except (KafkaError, TimeoutError) as exc:
                # Revoked meanwhile, or Kafka away: the next assignment positions again.
                log.warning("partition position unknown", extra={"error": repr(exc)})
        self._joined = True
        log.info("partitions positioned", extra={"positions": positions})

    async def partitions_revoked(self, revoked: Iterable[Any]) -> None:
        """Finish (or abandon, after ``revoke_timeout``) the revoked partitions' deliveries and
        commit what is done, before the group hands them over (rebalance listener)."""
        parts = [self._partitions.pop(tp) for tp in revoked if tp in self._partitions]
        if not parts:
            return
        names = sorted(part.name for part in parts)
        log.info("revoking partitions", extra={"partitions": names})
        abandoned = await self._retire(parts, self.limits.revoke_timeout)
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
        """A worker or delivery that failed (a bug) stops the loop loudly: its partition would
        otherwise stall unnoticed."""
        self._failure = error
        log.error("partition delivery failed", exc_info=error)
        self._stopping.set()
        self._fetcher.wake()

    # --- delivery ------------------------------------------------------------------------------

    async def _work(self, part: Partition) -> None:
        limit = self.limits.max_uncommitted
        fetcher = self._fetcher
        ordered = self.limits.ordered
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
            if ordered:
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
        except Exception as exc:  # noqa: BLE001 - a bug: reported, and the loop stops
            self._failed(exc)
        finally:
            self._slots.release()
            part.in_flight.discard(asyncio.current_task())

    async def _deliver(self, part: Partition, record: KafkaRecord) -> None:
        outcome = await self._deliver_record(part, record)
        self._committer.done(part, record.offset)
        counter = part.done_counters.get(outcome)
        if counter is None:
            counter = part.done_counters[outcome] = self.metrics.records_done.labels(
                part.topic, outcome
            )
        counter.inc()

    # --- shutdown ------------------------------------------------------------------------------

    async def _shutdown(self) -> None:
        self._stopping.set()
        grace = self.limits.shutdown_grace
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
                async with asyncio.timeout(max(1.0, grace * _CLOSE_SHARE)):
                    await consumer.stop()
            except (KafkaError, TimeoutError) as exc:
                log.warning("consumer did not close cleanly", extra={"error": repr(exc)})
        self._consumer = None
        self._partitions.clear()
        log.info("consumer closed", extra={"committed": committed, "abandoned": abandoned})
