"""The dispatcher: per trigger, its broker's events filtered and delivered to the subscriber.

Each trigger has its own subscription (Kafka: consumer group ``knative-trigger-<ns>-<name>``),
filter (:func:`springhead.eventfilter.trigger_filter`) and :class:`~springhead.sender.Sender`
(the trigger's delivery spec, else the broker's: retry, backoff, Retry-After, dead-letter sink
with the ``knativeerror*`` extensions). An event is done, and its offset may be committed, once
it was filtered out, delivered, or dead-lettered; an event nobody accepted is delivered again
and its partition waits (nothing is dropped; a trigger without a dead-letter sink whose
subscriber refuses an event for good blocks only its own group).

A subscriber's 2xx answer that is a CloudEvent (binary or structured) is a reply: it goes back
into the broker (straight to its topic, as Knative's Kafka broker does), with the TTL of the event
it answers put back and decremented (:mod:`springhead_broker.events`), before the answered event
counts as done. Any other non-empty answer is logged and counted, the event is done.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from cloudevents.core.base import BaseCloudEvent
from multidict import CIMultiDict
from prometheus_client import CollectorRegistry, Counter
from springhead.backoff import exponential_backoff
from springhead.eventfilter import Verdict
from springhead.httpbinding import MalformedEvent
from springhead.metrics import DeliveryMetrics
from springhead.sender import DeliveryResult, Reply, Sender

from springhead_broker.backend import Backend, Subscription, Unavailable
from springhead_broker.contract import BrokerSpec, TriggerSpec
from springhead_broker.events import LoopExhausted, admit, decode_event, for_subscriber, with_ttl

__all__ = ["DispatchMetrics", "TriggerDispatch"]

log = logging.getLogger("springhead.broker")

#: Longest pause between attempts to write a reply while the backend is unavailable.
REPLY_BACKOFF_MAX = 10.0


class DispatchMetrics:
    """The dispatcher's counters, registered once on the process's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.delivery = DeliveryMetrics(registry)
        self.events = Counter(
            "springhead_broker_trigger_events",
            "Events a trigger finished with, by trigger (<namespace>/<name>) and outcome "
            "(filtered, delivered, dead_lettered).",
            ["trigger", "outcome"],
            registry=registry,
        )
        self.replies = Counter(
            "springhead_broker_replies",
            "Subscriber answers with a body, by trigger and outcome (routed; invalid: not a "
            "CloudEvent; looped: knativebrokerttl exhausted).",
            ["trigger", "outcome"],
            registry=registry,
        )


class TriggerDispatch:
    """One trigger: its filter, its sender, its subscription; :meth:`run` until :meth:`stop`."""

    def __init__(
        self,
        broker: BrokerSpec,
        trigger: TriggerSpec,
        *,
        backend: Backend,
        metrics: DispatchMetrics,
    ) -> None:
        self.broker = broker
        self.trigger = trigger
        self.name = f"{broker.namespace}/{trigger.name}"
        self._backend = backend
        self._metrics = metrics
        # The events counter's child per outcome, looked up once (labels() per event cost as
        # much as the filter: bench/BROKER.md).
        self._finished: dict[str, Any] = {}
        self._filter = trigger.event_filter()
        self._sender = Sender(
            sink=trigger.subscriber,
            policy=broker.policy_of(trigger),
            namespace=broker.namespace,
            delivery_metrics=metrics.delivery,
        )
        self.subscription: Subscription = backend.subscribe(broker, trigger, self.deliver)

    def is_ready(self) -> bool:
        """True once its subscription receives events."""
        return self.subscription.is_ready()

    async def run(self) -> None:
        """Deliver the trigger's events until :meth:`stop`; then close the sender."""
        try:
            await self.subscription.run()
        finally:
            await self._sender.close()

    async def stop(self) -> None:
        """Stop taking events; :meth:`run` finishes what is in progress."""
        await self.subscription.stop()

    async def deliver(self, event: BaseCloudEvent) -> str:
        """Filter ``event``, deliver it (until the subscriber or the dead-letter sink took it),
        route a reply; returns the outcome."""
        if self._filter(event.get_attributes()) is Verdict.FAIL:
            outcome = "filtered"
        else:
            sent, ttl = for_subscriber(event)
            result = await self._sender.send_until_accepted(sent, on_refused=self._refused)
            if result.reply is not None:
                await self._route_reply(result.reply, ttl)
            outcome = result.outcome.value
        counter = self._finished.get(outcome)
        if counter is None:
            counter = self._finished[outcome] = self._metrics.events.labels(self.name, outcome)
        counter.inc()
        return outcome

    def _refused(self, result: DeliveryResult, rounds: int, pause_s: float) -> None:
        log.warning(
            "event not accepted; delivering it again, the trigger's partition waits",
            extra={"trigger": self.name, "round": rounds, "status": result.status},
        )

    async def _route_reply(self, reply: Reply, ttl: int | None) -> None:
        try:
            event = admit(with_ttl(decode_event(CIMultiDict(reply.headers), reply.body), ttl))
        except MalformedEvent as exc:
            self._metrics.replies.labels(self.name, "invalid").inc()
            log.warning(
                "subscriber answered with a body that is not a CloudEvent; ignored",
                extra={"trigger": self.name, "reason": exc.reason},
            )
            return
        except LoopExhausted as exc:
            self._metrics.replies.labels(self.name, "looped").inc()
            log.warning("reply dropped", extra={"trigger": self.name, "reason": str(exc)})
            return
        failures = 0
        while True:
            try:
                await self._backend.append(self.broker, event)
            except Unavailable as exc:
                failures += 1
                delay = exponential_backoff(failures, base=0.2, maximum=REPLY_BACKOFF_MAX)
                log.warning(
                    "cannot store a reply yet; trying again",
                    extra={"trigger": self.name, "error": str(exc), "retry_in_s": delay},
                )
                await asyncio.sleep(delay)
            else:
                self._metrics.replies.labels(self.name, "routed").inc()
                return
